// Checkpoints are safetensors files that cwd-bench reads with its own parser (models/weights.cpp):
// the network under "net.", the distillation loss's modules under "loss.", SGD's momentum
// buffers under "optimizer.<group>.<index>.momentum_buffer" and the run's metadata as JSON in
// the header's "__metadata__" ("cwd-bench" key). No libtorch archive reader is involved, so a
// damaged file can only produce a cwd::Error.

#include "src/train/checkpoint.h"

#include "models/weights.h"
#include "src/core/error.h"

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <type_traits>

namespace cwd::train {

namespace {

constexpr const char* kFormat = "cwd-bench/checkpoint/2";
constexpr const char* kMetaKey = "cwd-bench";
constexpr const char* kNet = "net.";
constexpr const char* kLoss = "loss.";
constexpr const char* kOptimizer = "optimizer.";

std::string momentum_name(size_t group, size_t index) {
  return fmt::format("{}{}.{}.momentum_buffer", kOptimizer, group, index);
}

// SGD keeps its per-parameter state in a map whose key is the parameter's TensorImpl: its
// printed address in libtorch 1.x, the pointer itself in 2.x. Both are made here.
template <typename Key>
Key state_key(const torch::Tensor& param) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << param.unsafeGetTensorImpl();
    return key.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

using StateMap = std::decay_t<decltype(std::declval<torch::optim::SGD&>().state())>;
using StateKey = StateMap::key_type;

void append_prefixed(const models::NamedTensors& state, const std::string& prefix,
                     models::NamedTensors& out) {
  for (const auto& [name, tensor] : state) out.emplace_back(prefix + name, tensor);
}

void append_momentum(torch::optim::SGD& optimizer, models::NamedTensors& out) {
  auto& state = optimizer.state();
  const auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& params = groups[g].params();
    for (size_t i = 0; i < params.size(); ++i) {
      const auto it = state.find(state_key<StateKey>(params[i]));
      if (it == state.end()) continue;
      const auto& buffer = static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer();
      if (buffer.defined()) out.emplace_back(momentum_name(g, i), buffer);
    }
  }
}

// Sets SGD's momentum buffers from `saved` (name -> tensor, as append_momentum wrote them) on
// each parameter's device; a buffer for a parameter the optimizer lacks, or of another shape,
// is an error.
void restore_momentum(torch::optim::SGD& optimizer, std::map<std::string, torch::Tensor> saved,
                      const std::string& path) {
  auto& state = optimizer.state();
  const auto& groups = optimizer.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& params = groups[g].params();
    for (size_t i = 0; i < params.size(); ++i) {
      const auto it = saved.find(momentum_name(g, i));
      if (it == saved.end()) continue;
      if (it->second.sizes() != params[i].sizes()) {
        throw Error(fmt::format("checkpoint '{}': '{}' has shape [{}], its parameter [{}]; use a "
                                "checkpoint of the same architecture",
                                path, it->first, fmt::join(it->second.sizes(), ", "),
                                fmt::join(params[i].sizes(), ", ")));
      }
      auto param_state = std::make_unique<torch::optim::SGDParamState>();
      param_state->momentum_buffer(it->second.to(params[i].device(), params[i].scalar_type()).clone());
      state[state_key<StateKey>(params[i])] = std::move(param_state);
      saved.erase(it);
    }
  }
  if (!saved.empty()) {
    throw Error(fmt::format("checkpoint '{}' holds optimizer state '{}' for a parameter this run "
                            "lacks; use a checkpoint of the same architecture",
                            path, saved.begin()->first));
  }
}

bool is_libtorch_archive(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

struct CheckpointFile {
  nlohmann::json meta;
  models::NamedTensors tensors;
};

CheckpointFile read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw Error(fmt::format("checkpoint '{}' not found", path));
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(fmt::format("checkpoint '{}' is not a regular file; give a checkpoint .safetensors file", path));
  }
  if (is_libtorch_archive(path)) {
    throw Error(fmt::format("checkpoint '{}' is a libtorch archive, which this cwd-bench no longer "
                            "reads; train the run again, or use its run record (.json)",
                            path));
  }
  CheckpointFile out;
  models::Metadata metadata;
  try {
    out.tensors = models::load_safetensors(path, &metadata);
  } catch (const Error& e) {
    throw Error(fmt::format("cannot read checkpoint '{}' (not a cwd-bench checkpoint, or truncated): {}",
                            path, e.what()));
  }
  const auto it = metadata.find(kMetaKey);
  if (it == metadata.end()) {
    throw Error(fmt::format("'{}' is not a cwd-bench checkpoint (no cwd-bench metadata); give a "
                            "checkpoint from <out>/ckpt or a run record (.json)",
                            path));
  }
  out.meta = nlohmann::json::parse(it->second, nullptr, false);
  const auto& m = out.meta;
  if (m.is_discarded() || !m.is_object() || !m.contains("format") || m.at("format") != kFormat ||
      !m.contains("iteration") || !m.at("iteration").is_number_integer() ||
      m.at("iteration").get<int64_t>() < 0) {
    throw Error(fmt::format("'{}' is not a cwd-bench checkpoint (format is not {})", path, kFormat));
  }
  return out;
}

}  // namespace

void save_checkpoint(const std::string& path, torch::nn::Module& net, torch::nn::Module* loss,
                     torch::optim::SGD* optimizer, const CheckpointMeta& meta) {
  nlohmann::json m = meta.meta;
  m["format"] = kFormat;
  m["iteration"] = meta.iteration;
  m["has_loss"] = loss != nullptr;
  models::NamedTensors tensors;
  append_prefixed(models::named_state(net), kNet, tensors);
  if (loss != nullptr) append_prefixed(models::named_state(*loss), kLoss, tensors);
  if (optimizer != nullptr) append_momentum(*optimizer, tensors);
  models::save_safetensors(tensors, path, {{kMetaKey, m.dump()}});
}

CheckpointMeta read_checkpoint_meta(const std::string& path) {
  CheckpointMeta out;
  out.meta = read_file(path).meta;
  out.iteration = out.meta.at("iteration").get<int64_t>();
  return out;
}

CheckpointMeta load_checkpoint(const std::string& path, torch::nn::Module& net,
                               torch::nn::Module* loss, torch::optim::SGD* optimizer) {
  CheckpointFile file = read_file(path);
  if (loss != nullptr && !file.meta.value("has_loss", false)) {
    throw Error(fmt::format("checkpoint '{}' was written without a distillation loss; this run "
                            "distils — use a fresh --out or --name",
                            path));
  }
  models::NamedTensors net_state, loss_state;
  std::map<std::string, torch::Tensor> momentum;
  for (auto& [name, tensor] : file.tensors) {
    if (name.rfind(kNet, 0) == 0) {
      net_state.emplace_back(name.substr(std::strlen(kNet)), std::move(tensor));
    } else if (name.rfind(kLoss, 0) == 0) {
      loss_state.emplace_back(name.substr(std::strlen(kLoss)), std::move(tensor));
    } else if (name.rfind(kOptimizer, 0) == 0) {
      momentum.emplace(name, std::move(tensor));
    } else {
      throw Error(fmt::format("checkpoint '{}' holds tensor '{}' outside net., loss. and optimizer.; "
                              "it was not written by cwd-bench",
                              path, name));
    }
  }
  const std::string fix = "use a checkpoint of the same architecture";
  models::load_named_state(net, net_state, fmt::format("checkpoint '{}' (network)", path), fix);
  if (loss != nullptr) {
    models::load_named_state(*loss, loss_state, fmt::format("checkpoint '{}' (loss)", path), fix);
  }
  if (optimizer != nullptr) {
    const auto& options = static_cast<const torch::optim::SGDOptions&>(optimizer->defaults());
    if (momentum.empty() && file.meta.at("iteration").get<int64_t>() > 0 && options.momentum() != 0) {
      throw Error(fmt::format("checkpoint '{}' has no optimizer state; it cannot resume training", path));
    }
    restore_momentum(*optimizer, std::move(momentum), path);
  }
  CheckpointMeta out;
  out.meta = std::move(file.meta);
  out.iteration = out.meta.at("iteration").get<int64_t>();
  return out;
}

}  // namespace cwd::train
