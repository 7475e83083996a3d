#pragma once
// What the six losses share: input checks (one-line cwd::Error messages naming the loss),
// resizing the student map to the teacher's, option parsing and the option rules, unit vectors
// over channels, and the channel adapter of CWD/PI on feature maps. See docs/losses.md.
//
// Value checks (NaN/Inf in the maps, IFVD's class ids out of range) need the values on the host.
// forward() runs them itself only for inputs on the CPU, where that costs no device sync; for
// CUDA inputs it checks shapes, dtypes and devices only, and a trainer calls check_values() at its
// log interval (one sync, the same messages).

#include "models/shard.h"
#include "src/core/error.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace cwd::losses {

/// What the value checks throw for a map holding NaN or Inf: in training, the network that made
/// the map diverged (the trainer records the run as diverged instead of failing).
class NonFiniteError : public Error {
 public:
  using Error::Error;
};

/// Throws cwd::Error "<loss>: <role> is <what was got>, expected ..." unless `map` is a defined
/// floating-point N×C×H×W tensor with no zero-sized dimension.
void check_map(const std::string& loss, const std::string& role, const torch::Tensor& map);

/// Checks both maps (check_map), equal batch size, dtype and device and, when the values are on
/// the host (values_on_host), that all of them are finite.
void check_pair(const std::string& loss, const torch::Tensor& student,
                const torch::Tensor& teacher);

/// Whether `map`'s values can be read without a device sync (it is on the CPU). Only then does a
/// loss's forward() check values (NaN/Inf, class ids): on CUDA reading them would copy to the host
/// and stall every call, so forward() checks shapes, dtypes and devices only, and the trainer calls
/// check_values() at its log interval instead.
bool values_on_host(const torch::Tensor& map);

/// Throws unless every tensor's values are finite (NaN/Inf is an error); one device sync.
void check_finite(const std::string& loss,
                  const std::vector<std::pair<std::string, torch::Tensor>>& named);

/// Class ids in labels must lie in [0, kIfvdMaxClasses) (or be the ignore index).
constexpr int64_t kIfvdMaxClasses = 4096;

/// Throws "<loss>: labels hold class id <lo or hi>, expected 0..4095 or ignore_index <i>" unless
/// 0 <= lo and hi < kIfvdMaxClasses (lo, hi: the range of the ids that are not ignore_index).
void check_class_ids(const std::string& loss, int64_t lo, int64_t hi, int64_t ignore_index);

/// IFVD's view of labels N×H0×W0: resized to the teacher's H×W on its device
/// (resize_labels_nearest) and flattened to N×(H·W); `ignored` marks ignore_index and `ids` holds
/// the class ids with 0 at ignored pixels.
struct LabelIds {
  torch::Tensor ignored;
  torch::Tensor ids;
};
LabelIds label_ids(const torch::Tensor& labels, const torch::Tensor& teacher, int64_t ignore_index);

/// The value checks that forward() skips for inputs on CUDA, with the same messages, in one
/// device sync: NaN or Inf in either map and, where `labels` is defined, class ids outside
/// [0, kIfvdMaxClasses) other than `ignore_index` (labels resized to the teacher's H×W as IFVD
/// uses them). Also runs forward()'s shape checks. Pass the loss's inputs as given to forward()
/// (labels only to a loss whose info().needs_labels, else an undefined tensor; ignore_index is
/// then unused). Meant for a trainer to call at its log interval; on the CPU forward() already
/// runs these checks on every call.
void check_values(const std::string& loss, const torch::Tensor& student,
                  const torch::Tensor& teacher, const torch::Tensor& labels, int64_t ignore_index);

/// Throws unless student and teacher have the same channel count (the channel-wise losses).
/// `adapter_hint` adds how to map channels (CWD/PI).
void check_same_channels(const std::string& loss, const torch::Tensor& student,
                         const torch::Tensor& teacher, bool adapter_hint);

/// The student map resized to the teacher's H×W (bilinear, align_corners=false), or itself when
/// the sizes already match.
torch::Tensor resize_to_teacher(const torch::Tensor& student, const torch::Tensor& teacher);

/// Labels N×H0×W0 int64 checked against batch size `n`; throws when missing (the loss needs
/// them), of the wrong rank, dtype or batch.
void check_labels(const std::string& loss, const torch::Tensor& labels, int64_t n);

/// Labels resized to h×w by nearest neighbour, PyTorch's convention: source index =
/// floor(dst · in / out), computed in integers.
torch::Tensor resize_labels_nearest(const torch::Tensor& labels, int64_t h, int64_t w);

/// y / max(‖y‖₂, 1e-12) over dim 1 (channels) at each position.
torch::Tensor unit_channels(const torch::Tensor& map);

/// Reads a loss's options from a JSON object. The reader checks JSON types only: each getter
/// returns the value at `key` (the fallback when absent or null) and notes a value of the wrong
/// JSON type, which then breaks its rule in OptionRules; finish() rejects unknown keys.
class OptionReader {
 public:
  OptionReader(std::string loss, const nlohmann::json& options);

  /// A JSON number.
  double number(const std::string& key, double fallback);
  /// A JSON integer (an unsigned one above 2⁶² counts as the wrong type).
  int64_t integer(const std::string& key, int64_t fallback);
  std::optional<int64_t> optional_integer(const std::string& key);
  /// A JSON string.
  std::string string(const std::string& key, const std::string& fallback);
  /// Throws "<loss>: unknown option '<key>' (valid: a, b, c)" for keys that no getter asked for.
  void finish() const;

  const std::string& loss() const { return loss_; }
  /// The value written at `key`, or nullptr when absent or null.
  const nlohmann::json* written(const std::string& key) const;
  /// Whether `key` holds a value of the wrong JSON type.
  bool mistyped(const std::string& key) const { return mistyped_.count(key) > 0; }

 private:
  const nlohmann::json* find(const std::string& key);

  std::string loss_;
  nlohmann::json options_;
  std::set<std::string> known_;
  std::set<std::string> mistyped_;
};

/// The rules option values must follow. Each loss states its rules once, in its options'
/// validate(), which the loss's constructor, its functional form and from_json (through a reader)
/// all run. Throws "<loss>: option '<key>' must be <rule>, got <value>", quoting the value as
/// written in the JSON when the options were read from one (a value of the wrong JSON type breaks
/// its rule), else as JSON would write it (-1, 0.5, "fast").
class OptionRules {
 public:
  /// Rules for options set in code.
  explicit OptionRules(std::string loss);
  /// Rules for options read by `reader` (which must outlive this object).
  explicit OptionRules(const OptionReader& reader);

  /// A finite number > 0 (or >= 0 when `allow_zero`).
  void positive(const std::string& key, double value, bool allow_zero = false) const;
  /// A number in [0, 1].
  void unit_interval(const std::string& key, double value) const;
  /// An integer >= `min`.
  void at_least(const std::string& key, int64_t value, int64_t min) const;
  /// A string from `choices`.
  void one_of(const std::string& key, const std::string& value,
              const std::vector<std::string>& choices) const;
  /// The adapter's channel counts: integers >= 1, both or neither ("<loss>: options
  /// student_channels and teacher_channels must be given together, got only <which>").
  void adapter(const std::optional<int64_t>& student_channels,
               const std::optional<int64_t>& teacher_channels) const;

 private:
  // Throws unless `ok` and the value at `key` had the right JSON type.
  void require(bool ok, const std::string& key, const std::string& rule,
               const std::string& value) const;

  std::string loss_;
  const OptionReader* reader_ = nullptr;
};

/// The channel adapter of CWD/PI on feature maps: 1×1 conv (no bias) → BatchNorm → ReLU, trained
/// with the student. Submodules "conv" and "bn".
class ChannelAdapterImpl : public torch::nn::Module {
 public:
  ChannelAdapterImpl(int64_t in_channels, int64_t out_channels);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv{nullptr};
  models::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(ChannelAdapter);

/// Forward FLOPs of the adapter on an n×cin×h×w map (conv 2·cin·cout, BN 2, ReLU 1 per output).
double adapter_flops(int64_t n, int64_t cin, int64_t cout, int64_t h, int64_t w);

/// Σ over all elements of p_T · (log p_T − log p_S), with p = softmax(x / tau) along `dim`
/// (log-softmax for both logs). The teacher side is computed without gradients.
torch::Tensor softmax_kl_sum(const torch::Tensor& student, const torch::Tensor& teacher, double tau,
                             int64_t dim);

}  // namespace cwd::losses

namespace cwd::losses {

/// Checks the raw maps against the adapter's channel counts (student_channels, teacher_channels)
/// and returns the adapted student map; without an adapter, returns the student map as is.
torch::Tensor adapt_student(const std::string& loss, ChannelAdapter& adapter,
                            const torch::Tensor& student, const torch::Tensor& teacher);

}  // namespace cwd::losses
