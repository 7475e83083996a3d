// Weight files: safetensors (https://github.com/huggingface/safetensors, format facts only) and
// PyTorch's torch.save zip format through torch::pickle_load.

#include "models/weights.h"

#include "models/resnet.h"
#include "src/core/error.h"
#include "src/core/json_io.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace cwd::models {
namespace {

static_assert(sizeof(void*) == 8, "the weight loaders assume a 64-bit host");

bool little_endian_host() {
  const uint16_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

void require_little_endian() {
  if (!little_endian_host()) {
    throw Error("weight files are little-endian and this host is big-endian (not supported)");
  }
}

struct DtypeName {
  const char* name;
  torch::ScalarType type;
};
constexpr DtypeName kDtypes[] = {{"BF16", torch::kBFloat16}, {"BOOL", torch::kBool},
                                 {"F16", torch::kHalf},      {"F32", torch::kFloat},
                                 {"F64", torch::kDouble},    {"I16", torch::kShort},
                                 {"I32", torch::kInt},       {"I64", torch::kLong},
                                 {"I8", torch::kChar},       {"U8", torch::kByte}};

std::string supported_dtypes() {
  std::string out;
  for (const auto& d : kDtypes) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

torch::ScalarType dtype_from_name(const std::string& name, const std::string& tensor,
                                  const std::string& path) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return d.type;
  }
  throw Error(
      fmt::format("unsupported safetensors dtype '{}' for tensor '{}' in '{}' "
                  "(supported: {})",
                  name, tensor, path, supported_dtypes()));
}

const char* dtype_name(torch::ScalarType type, const std::string& tensor) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return d.name;
  }
  throw Error(fmt::format("cannot write tensor '{}' of dtype {} to safetensors (supported: {})",
                          tensor, c10::toString(type), supported_dtypes()));
}

std::vector<char> read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) {
    throw Error(fmt::format("weights file '{}' is not a regular file; give a .safetensors or .pt file", path));
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    throw Error(fmt::format("cannot open weights file '{}': {}", path, std::strerror(errno)));
  }
  const auto size = static_cast<std::streamsize>(in.tellg());
  std::vector<char> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(bytes.data(), size)) {
    throw Error(fmt::format("cannot read weights file '{}'", path));
  }
  return bytes;
}

std::string shape_string(c10::IntArrayRef sizes) {
  return fmt::format("[{}]", fmt::join(sizes.begin(), sizes.end(), ", "));
}

/// "a, b, c, ... and K more" over the first `limit` items.
std::string list_some(const std::vector<std::string>& items, size_t limit = 6) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > limit) out += fmt::format(" ... and {} more", items.size() - limit);
  return out;
}

uint64_t read_u64_le(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

bool looks_like_safetensors(const std::vector<char>& bytes) {
  if (bytes.size() < 10) return false;
  const uint64_t n = read_u64_le(bytes.data());
  return n >= 2 && n <= bytes.size() - 8 && bytes[8] == '{';
}

NamedTensors parse_safetensors(const std::vector<char>& bytes, const std::string& path,
                               Metadata* metadata = nullptr) {
  require_little_endian();
  if (!looks_like_safetensors(bytes)) {
    throw Error(
        fmt::format("'{}' is not a safetensors file (bad header length or no JSON header)", path));
  }
  const uint64_t header_len = read_u64_le(bytes.data());
  nlohmann::json header;
  try {
    header =
        nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(header_len));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("'{}' has a malformed safetensors header: {}", path, e.what()));
  }
  if (!header.is_object()) {
    throw Error(fmt::format("'{}' has a malformed safetensors header (not a JSON object)", path));
  }
  const char* data = bytes.data() + 8 + header_len;
  const uint64_t data_len = bytes.size() - 8 - header_len;
  struct Entry {
    uint64_t begin;
    std::string name;
    torch::Tensor tensor;
  };
  std::vector<Entry> entries;
  if (metadata != nullptr) {
    metadata->clear();
    if (header.contains("__metadata__")) {
      const auto& given = header.at("__metadata__");
      if (!given.is_object()) {
        throw Error(fmt::format("'{}' has a malformed safetensors header (__metadata__ is not an object)", path));
      }
      for (const auto& [key, value] : given.items()) {
        if (!value.is_string()) {
          throw Error(fmt::format("'{}' has a malformed safetensors header (__metadata__ '{}' is not a string)",
                                  path, key));
        }
        (*metadata)[key] = value.get<std::string>();
      }
    }
  }
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    try {
      const auto type = dtype_from_name(info.at("dtype").get<std::string>(), name, path);
      const auto shape = info.at("shape").get<std::vector<int64_t>>();
      const auto offsets = info.at("data_offsets").get<std::vector<uint64_t>>();
      // Sizes from the file are checked before any product can overflow.
      uint64_t numel = 1;
      for (const int64_t d : shape) {
        if (d < 0) throw Error(fmt::format("negative dimension in shape {}", shape_string(shape)));
        if (d > 0 && numel > data_len / static_cast<uint64_t>(d)) {
          throw Error(fmt::format("shape {} needs more bytes than the file holds", shape_string(shape)));
        }
        numel *= static_cast<uint64_t>(d);
      }
      const uint64_t nbytes = numel * c10::elementSize(type);
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_len ||
          offsets[1] - offsets[0] != nbytes) {
        throw Error(fmt::format("data_offsets do not fit shape {} ({} bytes)", shape_string(shape),
                                nbytes));
      }
      auto tensor = torch::empty(shape, torch::TensorOptions().dtype(type));
      if (nbytes > 0) std::memcpy(tensor.data_ptr(), data + offsets[0], nbytes);
      entries.push_back({offsets[0], name, std::move(tensor)});
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("'{}': malformed safetensors entry '{}': {}", path, name, e.what()));
    } catch (const c10::Error& e) {
      throw Error(fmt::format("'{}': malformed safetensors entry '{}': {}", path, name,
                              e.what_without_backtrace()));
    } catch (const Error& e) {
      const std::string what = e.what();
      if (what.rfind("unsupported safetensors dtype", 0) == 0) throw;
      throw Error(fmt::format("'{}': malformed safetensors entry '{}': {}", path, name, what));
    }
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  NamedTensors out;
  out.reserve(entries.size());
  for (auto& e : entries) out.emplace_back(std::move(e.name), std::move(e.tensor));
  return out;
}

NamedTensors dict_to_named(const c10::IValue& value, const std::string& path) {
  if (!value.isGenericDict()) {
    throw Error(
        fmt::format("'{}' holds a {}, not a dict of tensors; save a state_dict with "
                    "torch.save(model.state_dict(), path)",
                    path, value.tagKind()));
  }
  const auto dict = value.toGenericDict();
  if (dict.size() == 1) {
    const auto& only = *dict.begin();
    if (only.key().isString() &&
        (only.key().toStringRef() == "state_dict" || only.key().toStringRef() == "model") &&
        only.value().isGenericDict()) {
      return dict_to_named(only.value(), path);
    }
  }
  NamedTensors out;
  out.reserve(dict.size());
  for (const auto& item : dict) {
    if (!item.key().isString()) {
      throw Error(
          fmt::format("'{}' has a non-string key; expected a dict of name -> tensor", path));
    }
    const std::string& name = item.key().toStringRef();
    if (!item.value().isTensor()) {
      throw Error(fmt::format("'{}': entry '{}' is a {}, not a tensor", path, name,
                              item.value().tagKind()));
    }
    out.emplace_back(name, item.value().toTensor());
  }
  return out;
}

/// Strips `prefix` from every name when all of them carry it.
void strip_common_prefix(NamedTensors& named, const std::string& prefix) {
  if (named.empty()) return;
  for (const auto& [name, tensor] : named) {
    if (name.rfind(prefix, 0) != 0) return;
  }
  for (auto& entry : named) entry.first.erase(0, prefix.size());
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void copy_checked(torch::nn::Module& module, const NamedTensors& named, const std::string& source,
                  const std::string& fix) {
  const NamedTensors target = named_state(module);
  std::map<std::string, const torch::Tensor*> given;
  std::vector<std::string> duplicated;
  for (const auto& [name, tensor] : named) {
    if (!given.emplace(name, &tensor).second) duplicated.push_back(name);
  }
  std::vector<std::string> missing, wrong_shape;
  std::set<std::string> known;
  for (const auto& [name, tensor] : target) {
    known.insert(name);
    const auto it = given.find(name);
    if (it == given.end()) {
      if (!ends_with(name, "num_batches_tracked")) missing.push_back(name);
    } else if (it->second->sizes() != tensor.sizes()) {
      wrong_shape.push_back(fmt::format("{} (file {}, model {})", name,
                                        shape_string(it->second->sizes()),
                                        shape_string(tensor.sizes())));
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, tensor] : named) {
    if (!known.count(name)) unexpected.push_back(name);
  }
  std::vector<std::string> problems;
  if (!missing.empty()) {
    problems.push_back(fmt::format("{} missing: {}", missing.size(), list_some(missing)));
  }
  if (!unexpected.empty()) {
    problems.push_back(fmt::format("{} unexpected: {}", unexpected.size(), list_some(unexpected)));
  }
  if (!wrong_shape.empty()) {
    problems.push_back(
        fmt::format("{} wrongly shaped: {}", wrong_shape.size(), list_some(wrong_shape, 4)));
  }
  if (!duplicated.empty()) {
    problems.push_back(fmt::format("{} duplicated: {}", duplicated.size(), list_some(duplicated)));
  }
  if (!problems.empty()) {
    throw Error(fmt::format("cannot load {}: {}; {}", source, fmt::join(problems, "; "), fix));
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : target) {
    const auto it = given.find(name);
    if (it != given.end()) {
      // `tensor` shares storage with the module's parameter or buffer.
      torch::Tensor dst = tensor;
      dst.copy_(*it->second);
    }
  }
}

void append_state(const torch::nn::Module& module, const std::string& prefix, NamedTensors& out) {
  for (const auto& p : module.named_parameters(/*recurse=*/false)) {
    out.emplace_back(prefix + p.key(), p.value());
  }
  for (const auto& b : module.named_buffers(/*recurse=*/false)) {
    out.emplace_back(prefix + b.key(), b.value());
  }
  for (const auto& child : module.named_children()) {
    append_state(*child.value(), prefix + child.key() + ".", out);
  }
}

}  // namespace

NamedTensors named_state(const torch::nn::Module& module) {
  NamedTensors out;
  append_state(module, "", out);
  return out;
}

void save_safetensors(const NamedTensors& named, const std::string& path, const Metadata& metadata) {
  require_little_endian();
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> blobs;
  blobs.reserve(named.size());
  uint64_t offset = 0;
  for (const auto& [name, tensor] : named) {
    if (name == "__metadata__") {
      throw Error(fmt::format("cannot write '{}': '__metadata__' is reserved", path));
    }
    if (header.contains(name)) {
      throw Error(fmt::format("cannot write '{}': tensor name '{}' appears twice", path, name));
    }
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", dtype_name(t.scalar_type(), name)},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    blobs.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t header_len = text.size();
  char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>((header_len >> (8 * i)) & 0xff);

  std::vector<std::pair<const char*, size_t>> pieces = {{len_bytes, 8}, {text.data(), text.size()}};
  for (const auto& t : blobs) {
    pieces.emplace_back(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.numel() * t.element_size()));
  }
  write_bytes_atomic(path, pieces);
}

NamedTensors load_safetensors(const std::string& path, Metadata* metadata) {
  return parse_safetensors(read_file(path), path, metadata);
}

NamedTensors load_named_tensors(const std::string& path) {
  const auto bytes = read_file(path);
  if (bytes.size() >= 4 && bytes[0] == 'P' && bytes[1] == 'K' && bytes[2] == 3 && bytes[3] == 4) {
    c10::IValue value;
    try {
      value = torch::pickle_load(bytes);
    } catch (const c10::Error& e) {
      // libtorch's unpickler cannot rebuild a non-empty collections.OrderedDict, which is what
      // Module.state_dict() returns; torch.save stores data.pkl uncompressed, so look for it.
      static const std::string kOrderedDict = "ccollections\nOrderedDict\n";
      if (std::search(bytes.begin(), bytes.end(), kOrderedDict.begin(), kOrderedDict.end()) !=
          bytes.end()) {
        throw Error(fmt::format(
            "cannot read '{}': it holds an OrderedDict (a raw state_dict), which libtorch cannot "
            "unpickle; save a plain dict with torch.save(dict(model.state_dict()), path) or "
            "convert it with scripts/convert_torchvision.py",
            path));
      }
      const std::string what = e.what_without_backtrace();
      throw Error(fmt::format("cannot read torch.save file '{}': {}", path,
                              what.substr(0, what.find('\n'))));
    }
    return dict_to_named(value, path);
  }
  if (looks_like_safetensors(bytes)) return parse_safetensors(bytes, path);
  if (!bytes.empty() && static_cast<unsigned char>(bytes[0]) == 0x80) {
    throw Error(
        fmt::format("'{}' is a legacy (pre-zip) torch.save file; re-save it with "
                    "torch.save(state_dict, path) from PyTorch >= 1.6 or as safetensors",
                    path));
  }
  throw Error(fmt::format("'{}' is neither a safetensors file nor a torch.save zip file", path));
}

void load_named_state(torch::nn::Module& module, const NamedTensors& named,
                      const std::string& source, const std::string& fix) {
  copy_checked(module, named, source, fix);
}

void load_backbone_weights(ResNet& backbone, const std::string& path) {
  NamedTensors named = load_named_tensors(path);
  strip_common_prefix(named, "module.");
  strip_common_prefix(named, "backbone.");
  named.erase(std::remove_if(named.begin(), named.end(),
                             [](const auto& e) { return e.first.rfind("fc.", 0) == 0; }),
              named.end());
  copy_checked(*backbone, named,
               fmt::format("backbone weights '{}' into {}", path, describe(backbone->options())),
               "export them from a torchvision-named ResNet of the same depth, width and stem "
               "(see scripts/convert_torchvision.py)");
}

}  // namespace cwd::models
