#pragma once
// Training checkpoints: network, distillation-loss module (adapters), SGD momentum, iteration
// and the run's metadata, written atomically as one safetensors file (docs/reliability.md). Resuming from one reproduces an uninterrupted run
// exactly on CPU (the per-iteration RNG is reseeded from (seed, iteration), the data stream is
// indexed by iteration).

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace cwd::train {

struct CheckpointMeta {
  int64_t iteration = 0;    ///< iterations completed
  nlohmann::json meta;      ///< {"model": NetConfig json, "num_classes", "config_hash", ...}
};

void save_checkpoint(const std::string& path, torch::nn::Module& net, torch::nn::Module* loss,
                     torch::optim::SGD* optimizer, const CheckpointMeta& meta);

/// Reads only the metadata. Throws cwd::Error for an unreadable or foreign file.
CheckpointMeta read_checkpoint_meta(const std::string& path);

/// Restores everything save_checkpoint wrote. Throws cwd::Error if the checkpoint was written
/// for another architecture (naming both) or misses tensors.
CheckpointMeta load_checkpoint(const std::string& path, torch::nn::Module& net,
                               torch::nn::Module* loss, torch::optim::SGD* optimizer);

}  // namespace cwd::train
