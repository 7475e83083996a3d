#pragma once
// DIST — distillation from a stronger teacher.
// Huang, You, Wang, Qian, Xu: "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022,
// arXiv 2205.10536.
//
// Each pixel's C scores become a distribution over channels, p(y)_{n,:,i} = softmax_c(y / τ).
// With r(a, b) the Pearson correlation ⟨a − ā, b − b̄⟩ / (‖a − ā‖·‖b − b̄‖ + 1e-8):
//   inter = 1 − mean over the N·H·W pixels of r(p(S)_pixel, p(T)_pixel)   (across classes)
//   intra = 1 − mean over the C channels of r(p(S)_channel, p(T)_channel) (across all pixels)
//   loss  = weight · τ² · (β · inter + γ · intra).
// On feature maps with C_S ≠ C_T, the channel adapter of CWD/PI maps the student's channels first.

#include "losses/common.h"
#include "losses/loss.h"

#include <optional>

namespace cwd::losses {

struct DistOptions {
  /// Validating parser (missing keys keep the defaults below).
  static DistOptions from_json(const nlohmann::json& options);
  nlohmann::json to_json() const;
  /// Throws cwd::Error naming the first option that breaks its rule (the rules live here only;
  /// from_json, the loss's constructor and dist_loss run them).
  void validate() const;

  /// Defaults: the authors' segmentation setting (softmax without temperature, β = γ = 1).
  TORCH_ARG(double, weight) = 1.0;
  TORCH_ARG(double, tau) = 1.0;
  TORCH_ARG(double, beta) = 1.0;
  TORCH_ARG(double, gamma) = 1.0;
  /// Adapter channel counts; both or neither.
  TORCH_ARG(std::optional<int64_t>, student_channels) = std::nullopt;
  TORCH_ARG(std::optional<int64_t>, teacher_channels) = std::nullopt;
};

/// The weighted DIST loss of student N×C×H×W and teacher N×C×H'×W' (same C; the student is
/// resized to H'×W' when they differ). Checks its inputs; the teacher gets no gradient. No adapter.
torch::Tensor dist_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                        const DistOptions& options);

class DistLoss : public DistillLoss {
 public:
  explicit DistLoss(const DistOptions& options = {});
  torch::Tensor forward(const torch::Tensor& student, const torch::Tensor& teacher,
                        const torch::Tensor& labels) override;
  LossInfo info() const override;
  nlohmann::json options() const override { return options_.to_json(); }
  double flops(const MapShape& shape) const override;

 private:
  DistOptions options_;
  ChannelAdapter adapter_{nullptr};
};

}  // namespace cwd::losses
