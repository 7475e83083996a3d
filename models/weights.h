#pragma once
// Named tensors on disk: safetensors (read and written) and `torch.save`d dicts (read), plus the
// strict copy into a module that load_backbone_weights (resnet.h) is built on.

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cwd::models {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;
/// A safetensors header's "__metadata__": string keys to string values.
using Metadata = std::map<std::string, std::string>;

/// Parameters and buffers of `module` in PyTorch's state_dict order (each module's own
/// parameters, then its own buffers, then its children's, depth first), keyed like
/// "layer1.0.bn1.running_mean". The tensors are the module's own (not copies).
NamedTensors named_state(const torch::nn::Module& module);

/// Writes `named` as a safetensors file (8-byte little-endian header length, JSON header
/// {name: {dtype, shape, data_offsets}} padded with spaces to 8 bytes, raw little-endian data).
/// Tensors are detached, moved to the CPU and made contiguous; the file is written to a temporary
/// next to `path` and renamed over it. Throws cwd::Error on duplicate names, an unsupported dtype
/// or an I/O failure. A non-empty `metadata` is written as the header's "__metadata__".
void save_safetensors(const NamedTensors& named, const std::string& path,
                      const Metadata& metadata = {});

/// Reads a safetensors file, in file data order. Dtypes: F64, F32, F16, BF16, I64, I32, I16, I8,
/// U8, BOOL; anything else throws cwd::Error naming the dtype and tensor. When `metadata` is
/// given it receives the header's "__metadata__" (empty when there is none; a value that is not
/// a string throws).
NamedTensors load_safetensors(const std::string& path, Metadata* metadata = nullptr);

/// Reads a safetensors file or a `torch.save`d dict of tensors (PyTorch's zip format; a dict
/// holding only a "state_dict" or "model" dict is unwrapped), told apart by content.
NamedTensors load_named_tensors(const std::string& path);

/// Copies `named` into the parameters and buffers of `module` (converting the dtype). Names must
/// match exactly; a missing "num_batches_tracked" is allowed. Nothing is copied unless everything
/// matches: otherwise one cwd::Error line lists the missing, unexpected and wrongly shaped tensors
/// (`source` names where they came from, `fix` ends it).
void load_named_state(torch::nn::Module& module, const NamedTensors& named,
                      const std::string& source,
                      const std::string& fix = "the names and shapes must match the module exactly");

}  // namespace cwd::models
