#include "src/train/network.h"

#include "models/weights.h"
#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/train/checkpoint.h"
#include "src/train/pretrain.h"
#include "src/train/record.h"

#include <fmt/format.h>

#include <filesystem>

namespace cwd::train {

namespace fs = std::filesystem;

models::PSPNetOptions pspnet_options(const NetConfig& net, int64_t num_classes) {
  return models::PSPNetOptions(num_classes).backbone(resnet_options(net));
}

models::PSPNet build_network(const NetConfig& net, int64_t num_classes) {
  models::PSPNet model(pspnet_options(net, num_classes));
  if (!net.pretrained.empty()) {
    const PretrainSpec spec = pretrain_spec(net);
    const auto found = find_pretrained(spec, "");
    if (!found) {
      throw Error(fmt::format("the backbone pretrained with recipe '{}' for {} is not in the cache ({}); run "
                              "`cwd-bench pretrain --depth {} --width {} --stem {} --recipe {}` first (train and "
                              "compare do so themselves)",
                              net.pretrained, models::describe(resnet_options(net)), default_cache_dir(), net.depth,
                              net.width, models::to_string(net.stem), net.pretrained));
    }
    models::load_backbone_weights(model->backbone(), found->weights);
  }
  if (!net.backbone_weights.empty()) models::load_backbone_weights(model->backbone(), net.backbone_weights);
  if (!net.init_weights.empty()) {
    models::load_named_state(*model, models::load_named_tensors(net.init_weights), net.init_weights);
  }
  return model;
}

namespace {

void require_file(const std::string& path) {
  if (!fs::exists(path)) {
    throw Error(fmt::format("teacher '{}' not found (pass a run record .json or a checkpoint .safetensors)", path));
  }
}

std::string weights_beside(const std::string& record_path, const RunRecord& record) {
  if (record.diverged) {
    throw Error(fmt::format("run record '{}' {}; it has no trained network: retrain it with a lower --lr", record_path,
                            record.diverged->text()));
  }
  if (record.weights.empty()) throw Error(fmt::format("run record '{}' names no weights file", record_path));
  return (fs::path(record_path).parent_path() / record.weights).string();
}

}  // namespace

std::string teacher_identity(const std::string& path) {
  require_file(path);
  if (fs::path(path).extension() == ".json") {
    const auto record = read_run_record(path);
    const std::string weights = weights_beside(path, record);
    return record.config_hash + ":" + (fs::exists(weights) ? file_hash(weights) : "");
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
  net.pretrained.clear();
  return net;
}

}  // namespace

namespace {

LoadedNetwork from_record(const std::string& path) {
  const auto record = read_run_record(path);
  const std::string weights = weights_beside(path, record);
  if (!fs::exists(weights)) {
    throw Error(fmt::format("weights '{}' of record '{}' not found; retrain it or copy the weights folder beside the record",
                            weights, path));
  }
  LoadedNetwork out;
  out.config = record.model.net;
  out.num_classes = record.model.num_classes;
  out.net = build_network(architecture_of(out.config), out.num_classes);
  models::load_named_state(*out.net, models::load_safetensors(weights), fmt::format("teacher '{}'", path));
  out.identity = {{"source", "record"},
                  {"record", path},
                  {"name", record.name},
                  {"weights_hash", file_hash(weights)},
                  {"miou", record.eval.miou},
                  {"config_hash", record.config_hash},
                  {"model", record.model}};
  return out;
}

LoadedNetwork from_checkpoint(const std::string& path) {
  const auto meta = read_checkpoint_meta(path).meta;
  LoadedNetwork out;
  try {
    out.config = meta.at("model").get<NetConfig>();
    out.num_classes = meta.at("num_classes").get<int64_t>();
  } catch (const std::exception& e) {
    throw Error(fmt::format("checkpoint '{}' does not describe its network ({})", path, e.what()));
  }
  out.net = build_network(architecture_of(out.config), out.num_classes);
  load_checkpoint(path, *out.net, nullptr, nullptr);
  out.identity = {{"source", "checkpoint"},
                  {"checkpoint", path},
                  {"weights_hash", file_hash(path)},
                  {"miou", nullptr},
                  {"model", meta.at("model")}};
  return out;
}

}  // namespace

LoadedNetwork load_network(const std::string& path, torch::Device device) {
  require_file(path);
  const std::string ext = fs::path(path).extension().string();
  if (ext != ".json" && ext != ".safetensors") {
    throw Error(fmt::format("'{}' has extension '{}' (valid: .json run record, .safetensors checkpoint from <out>/ckpt)",
                            path, ext));
  }
  LoadedNetwork out = ext == ".json" ? from_record(path) : from_checkpoint(path);
  out.net->to(device);
  out.net->eval();
  for (auto& p : out.net->parameters()) p.set_requires_grad(false);
  return out;
}

/// The data a network was trained on, from its record or checkpoint (the defaults for a
/// checkpoint written without its configuration).
data::DataConfig trained_data(const std::string& path) {
  require_file(path);
  if (fs::path(path).extension() == ".json") return read_run_record(path).config.data;
  const auto meta = read_checkpoint_meta(path).meta;
  if (meta.contains("config")) return meta.at("config").at("data").get<data::DataConfig>();
  return data::DataConfig{};
}

}  // namespace cwd::train
