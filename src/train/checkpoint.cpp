#include "src/train/checkpoint.h"

#include "src/core/error.h"
#include "src/core/json_io.h"

#include <fmt/format.h>

#include <filesystem>
#include <sstream>

namespace cwd::train {

namespace {

constexpr const char* kFormat = "cwd-bench/checkpoint/1";

std::vector<std::pair<std::string, torch::Tensor>> state_of(torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module.named_parameters(true)) out.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers(true)) out.emplace_back(item.key(), item.value());
  return out;
}

// Tensors are stored under index keys ("t0", "t1", ...) with their names in the metadata, so no
// name needs to be a valid archive key.
void write_state(torch::serialize::OutputArchive& archive, torch::nn::Module& module,
                 nlohmann::json& names) {
  names = nlohmann::json::array();
  int64_t i = 0;
  for (const auto& [name, tensor] : state_of(module)) {
    archive.write(fmt::format("t{}", i++), tensor.detach().to(torch::kCPU));
    names.push_back(name);
  }
}

void read_state(torch::serialize::InputArchive& archive, torch::nn::Module& module,
                const nlohmann::json& names, const std::string& path, const std::string& what) {
  auto state = state_of(module);
  std::map<std::string, torch::Tensor> own(state.begin(), state.end());
  if (names.size() != own.size()) {
    throw Error(fmt::format("checkpoint '{}' holds {} {} tensors, this run has {}; use a checkpoint "
                            "of the same architecture",
                            path, names.size(), what, own.size()));
  }
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string name = names[i].get<std::string>();
    auto it = own.find(name);
    if (it == own.end()) {
      throw Error(fmt::format("checkpoint '{}' has {} tensor '{}' that this network lacks; use a "
                              "checkpoint of the same architecture",
                              path, what, name));
    }
    torch::Tensor value;
    archive.read(fmt::format("t{}", i), value);
    if (value.sizes() != it->second.sizes()) {
      throw Error(fmt::format("checkpoint '{}': {} tensor '{}' has shape [{}], this network expects "
                              "[{}]; use a checkpoint of the same architecture",
                              path, what, name, fmt::join(value.sizes(), ", "),
                              fmt::join(it->second.sizes(), ", ")));
    }
    it->second.copy_(value);
  }
}

torch::serialize::InputArchive open_archive(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw Error(fmt::format("checkpoint '{}' not found", path));
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(fmt::format("checkpoint '{}' is not a regular file; give a checkpoint .pt file", path));
  }
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const std::exception&) {
    throw Error(fmt::format("cannot read checkpoint '{}' (not a cwd-bench checkpoint, or truncated)", path));
  }
  return archive;
}

nlohmann::json read_meta_json(torch::serialize::InputArchive& archive, const std::string& path) {
  c10::IValue value;
  if (!archive.try_read("meta", value) || !value.isString()) {
    throw Error(fmt::format("'{}' is not a cwd-bench checkpoint (no metadata)", path));
  }
  auto meta = nlohmann::json::parse(value.toStringRef(), nullptr, false);
  if (meta.is_discarded() || !meta.is_object() || !meta.contains("format") || meta.at("format") != kFormat ||
      !meta.value("iteration", nlohmann::json(0)).is_number_integer()) {
    throw Error(fmt::format("'{}' is not a cwd-bench checkpoint (format is not {})", path, kFormat));
  }
  return meta;
}

}  // namespace

void save_checkpoint(const std::string& path, torch::nn::Module& net, torch::nn::Module* loss,
                     torch::optim::Optimizer* optimizer, const CheckpointMeta& meta) {
  torch::serialize::OutputArchive archive;
  nlohmann::json m = meta.meta;
  m["format"] = kFormat;
  m["iteration"] = meta.iteration;
  torch::serialize::OutputArchive net_archive;
  write_state(net_archive, net, m["net_tensors"]);
  archive.write("net", net_archive);
  if (loss != nullptr) {
    torch::serialize::OutputArchive loss_archive;
    write_state(loss_archive, *loss, m["loss_tensors"]);
    archive.write("loss", loss_archive);
  }
  if (optimizer != nullptr) {
    torch::serialize::OutputArchive opt_archive;
    optimizer->save(opt_archive);
    archive.write("optimizer", opt_archive);
  }
  archive.write("meta", c10::IValue(m.dump()));
  // Serialised in memory first: libtorch's file writer finishes the archive in a destructor,
  // where a full disk would end the process; here every byte goes through write_bytes_atomic.
  std::ostringstream bytes;
  archive.save_to(bytes);
  const std::string data = bytes.str();
  write_bytes_atomic(path, {{data.data(), data.size()}});
}

namespace {

// Runs `read`, turning what libtorch or the JSON library throws about a damaged file into one
// cwd::Error naming it.
template <typename F>
auto guarded_read(const std::string& path, F&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    throw Error(fmt::format("cannot read checkpoint '{}' (damaged or not a cwd-bench checkpoint: {})", path, what));
  }
}

CheckpointMeta read_meta_only(const std::string& path) {
  auto archive = open_archive(path);
  CheckpointMeta out;
  out.meta = read_meta_json(archive, path);
  out.iteration = out.meta.value("iteration", int64_t{0});
  return out;
}

CheckpointMeta load_everything(const std::string& path, torch::nn::Module& net,
                               torch::nn::Module* loss, torch::optim::Optimizer* optimizer) {
  auto archive = open_archive(path);
  CheckpointMeta out;
  out.meta = read_meta_json(archive, path);
  out.iteration = out.meta.value("iteration", int64_t{0});
  torch::serialize::InputArchive net_archive;
  archive.read("net", net_archive);
  read_state(net_archive, net, out.meta.at("net_tensors"), path, "network");
  if (loss != nullptr) {
    if (!out.meta.contains("loss_tensors")) {
      throw Error(fmt::format("checkpoint '{}' was written without a distillation loss; this run "
                              "distils — use a fresh --out or --name", path));
    }
    torch::serialize::InputArchive loss_archive;
    archive.read("loss", loss_archive);
    read_state(loss_archive, *loss, out.meta.at("loss_tensors"), path, "loss");
  }
  if (optimizer != nullptr) {
    torch::serialize::InputArchive opt_archive;
    if (!archive.try_read("optimizer", opt_archive)) {
      throw Error(fmt::format("checkpoint '{}' has no optimizer state; it cannot resume training", path));
    }
    optimizer->load(opt_archive);
  }
  return out;
}

}  // namespace

CheckpointMeta read_checkpoint_meta(const std::string& path) {
  return guarded_read(path, [&] { return read_meta_only(path); });
}

CheckpointMeta load_checkpoint(const std::string& path, torch::nn::Module& net,
                               torch::nn::Module* loss, torch::optim::Optimizer* optimizer) {
  return guarded_read(path, [&] { return load_everything(path, net, loss, optimizer); });
}

}  // namespace cwd::train
