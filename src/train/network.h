#pragma once
// Building PSPNets from a NetConfig and loading trained ones (a teacher) from a run record, a
// checkpoint or an exported weights file.

#include "models/pspnet.h"
#include "src/train/config.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace cwd::train {

models::PSPNetOptions pspnet_options(const NetConfig& net, int64_t num_classes);

/// A fresh PSPNet (backbone weights loaded when net.backbone_weights is set).
models::PSPNet build_network(const NetConfig& net, int64_t num_classes);

/// A trained network and where it came from.
struct LoadedNetwork {
  models::PSPNet net{nullptr};
  NetConfig config;
  int64_t num_classes = 0;
  nlohmann::json identity;  ///< {"source", "record", "weights_hash", "miou", "name", "model"}
};

/// Loads a network from a run record (.json, its exported weights), a checkpoint (.safetensors) or a
/// weights file (.safetensors with a record beside it is not needed: pass the record instead).
LoadedNetwork load_network(const std::string& path, torch::Device device);

/// The data a network was trained on, from its run record or checkpoint.
data::DataConfig trained_data(const std::string& path);

/// Identity of a teacher for configuration hashes: a record's config hash + its weights' hash,
/// or a checkpoint's file hash.
std::string teacher_identity(const std::string& path);

}  // namespace cwd::train
