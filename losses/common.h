#pragma once
// What the six losses share: input checks (one-line cwd::Error messages naming the loss),
// resizing the student map to the teacher's, option parsing with validation, unit vectors over
// channels, and the channel adapter of CWD/PI on feature maps. See docs/losses.md.

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace cwd::losses {

/// Throws cwd::Error "<loss>: <role> is <what was got>, expected ..." unless `map` is a defined
/// floating-point N×C×H×W tensor with no zero-sized dimension.
void check_map(const std::string& loss, const std::string& role, const torch::Tensor& map);

/// Checks both maps (check_map), equal batch size, dtype and device, and that all values are
/// finite (one device sync for both).
void check_pair(const std::string& loss, const torch::Tensor& student,
                const torch::Tensor& teacher);

/// Throws unless every tensor's values are finite (NaN/Inf is an error); one device sync.
void check_finite(const std::string& loss,
                  const std::vector<std::pair<std::string, torch::Tensor>>& named);

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

/// Reads a loss's options from a JSON object, validating each value and rejecting unknown keys.
/// Messages: "<loss>: option '<key>' must be <rule>, got <value>" and
/// "<loss>: unknown option '<key>' (valid: a, b, c)".
class OptionReader {
 public:
  OptionReader(std::string loss, const nlohmann::json& options);

  /// A finite number > 0 (or >= 0 when `allow_zero`).
  double positive(const std::string& key, double fallback, bool allow_zero = false);
  /// An integer >= `min`.
  int64_t integer(const std::string& key, int64_t fallback, int64_t min);
  /// An integer >= `min`, or absent/null.
  std::optional<int64_t> optional_integer(const std::string& key, int64_t min);
  /// A string from `choices`.
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& choices);
  /// Throws for keys that no getter asked for.
  void finish() const;

 private:
  const nlohmann::json* find(const std::string& key);
  [[noreturn]] void bad(const std::string& key, const std::string& rule,
                        const nlohmann::json& got) const;

  std::string loss_;
  nlohmann::json options_;
  std::set<std::string> known_;
};

/// The channel adapter of CWD/PI on feature maps: 1×1 conv (no bias) → BatchNorm → ReLU, trained
/// with the student. Submodules "conv" and "bn".
class ChannelAdapterImpl : public torch::nn::Module {
 public:
  ChannelAdapterImpl(int64_t in_channels, int64_t out_channels);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
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

/// Reads the adapter options `student_channels` and `teacher_channels` (both or neither).
void read_adapter_options(OptionReader& reader, const std::string& loss,
                          std::optional<int64_t>& student_channels,
                          std::optional<int64_t>& teacher_channels);

/// Checks the raw maps against the adapter's channel counts (student_channels, teacher_channels)
/// and returns the adapted student map; without an adapter, returns the student map as is.
torch::Tensor adapt_student(const std::string& loss, ChannelAdapter& adapter,
                            const torch::Tensor& student, const torch::Tensor& teacher);

}  // namespace cwd::losses
