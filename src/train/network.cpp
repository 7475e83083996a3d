#include "src/train/network.h"

#include "models/weights.h"
#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/train/checkpoint.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

namespace cwd::train {

namespace fs = std::filesystem;

models::PSPNetOptions pspnet_options(const NetConfig& net, int64_t num_classes) {
  models::ResNetOptions backbone;
  backbone.depth(net.depth)
      .width(net.width)
      .stem(models::parse_stem(net.stem))
      .output_stride(net.output_stride)
      .init(models::parse_init(net.init));
  models::PSPNetOptions options(num_classes);
  options.backbone(backbone);
  return options;
}

models::PSPNet build_network(const NetConfig& net, int64_t num_classes) {
  models::PSPNet model(pspnet_options(net, num_classes));
  if (!net.backbone_weights.empty()) models::load_backbone_weights(model->backbone(), net.backbone_weights);
  if (!net.init_weights.empty()) {
    models::load_named_state(*model, models::load_named_tensors(net.init_weights), net.init_weights);
  }
  return model;
}

std::string teacher_identity(const std::string& path) {
  if (!fs::exists(path)) {
    throw Error(fmt::format("teacher '{}' not found (pass a run record .json or a checkpoint .pt)", path));
  }
  if (fs::path(path).extension() == ".json") {
    const auto record = read_json(path);
    const std::string weights =
        (fs::path(path).parent_path() / record.at("artifacts").value("weights", "")).string();
    return record.value("config_hash", "") + ":" + (fs::exists(weights) ? file_hash(weights) : "");
  }
  return file_hash(path);
}

namespace {

// The architecture alone: the weights are loaded next, so neither the initialisation nor the
// starting weights of the run that trained them matter (and the files may be gone).
NetConfig architecture_of(const NetConfig& trained) {
  NetConfig net = trained;
  net.backbone_weights.clear();
  net.init_weights.clear();
  return net;
}

}  // namespace

LoadedNetwork load_network(const std::string& path, torch::Device device) {
  if (!fs::exists(path)) {
    throw Error(fmt::format("teacher '{}' not found (pass a run record .json or a checkpoint .pt)", path));
  }
  LoadedNetwork out;
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".json") {
    const auto record = read_json(path);
    if (record.value("schema", "") != "cwd-bench/run/1") {
      throw Error(fmt::format("'{}' is not a cwd-bench run record (schema is not cwd-bench/run/1)", path));
    }
    const auto& artifacts = record.at("artifacts");
    const std::string weights_rel = artifacts.value("weights", "");
    if (weights_rel.empty()) throw Error(fmt::format("run record '{}' names no weights file", path));
    const std::string weights = (fs::path(path).parent_path() / weights_rel).string();
    if (!fs::exists(weights)) {
      throw Error(fmt::format("weights '{}' of record '{}' not found; retrain it or copy the weights folder beside the record",
                              weights, path));
    }
    out.config = net_from_json(record.at("model"));
    out.num_classes = record.at("model").at("num_classes").get<int64_t>();
    out.net = build_network(architecture_of(out.config), out.num_classes);
    models::load_named_state(*out.net, models::load_safetensors(weights), fmt::format("teacher '{}'", path));
    out.identity = {{"source", "record"},
                    {"record", path},
                    {"name", record.value("name", "")},
                    {"weights_hash", file_hash(weights)},
                    {"miou", record.at("eval").value("miou", 0.0)},
                    {"config_hash", record.value("config_hash", "")},
                    {"model", record.at("model")}};
  } else if (ext == ".pt") {
    const auto meta = read_checkpoint_meta(path).meta;
    out.config = net_from_json(meta.at("model"));
    out.num_classes = meta.at("num_classes").get<int64_t>();
    out.net = build_network(architecture_of(out.config), out.num_classes);
    load_checkpoint(path, *out.net, nullptr, nullptr);
    out.identity = {{"source", "checkpoint"},
                    {"checkpoint", path},
                    {"weights_hash", file_hash(path)},
                    {"miou", nullptr},
                    {"model", meta.at("model")}};
  } else {
    throw Error(fmt::format("teacher '{}' has extension '{}' (valid: .json run record, .pt checkpoint)", path, ext));
  }
  out.net->to(device);
  out.net->eval();
  for (auto& p : out.net->parameters()) p.set_requires_grad(false);
  return out;
}

}  // namespace cwd::train
