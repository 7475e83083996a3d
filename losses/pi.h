#pragma once
// PI — pixel-wise distillation.
// Liu, Chen, Liu, Qin, Luo, Wang: "Structured Knowledge Distillation for Semantic Segmentation",
// CVPR 2019, arXiv 1903.04197.
//
// At each pixel a softmax over channels, p(y)_{n,:,i} = softmax_c(y_{n,c,i} / τ), and
//   loss = weight · τ² / (N·H·W) · Σ_{n,i} KL(p(T)_{n,:,i} ‖ p(S)_{n,:,i})
// (mean over all N·H·W pixels, as CIRKD; SKD's code divides by H·W only). On feature maps with
// C_S ≠ C_T an adapter (1×1 conv → BN → ReLU) maps the student's channels to the teacher's.

#include "losses/common.h"
#include "losses/loss.h"

#include <optional>

namespace cwd::losses {

struct PiOptions {
  /// Validating parser (missing keys keep the defaults below).
  static PiOptions from_json(const nlohmann::json& options);
  nlohmann::json to_json() const;
  /// Throws cwd::Error naming the first option that breaks its rule (the rules live here only;
  /// from_json, the loss's constructor and pi_loss run them).
  void validate() const;

  /// Defaults: SKD's run script.
  TORCH_ARG(double, weight) = 10.0;
  TORCH_ARG(double, tau) = 1.0;
  /// Adapter channel counts; both or neither.
  TORCH_ARG(std::optional<int64_t>, student_channels) = std::nullopt;
  TORCH_ARG(std::optional<int64_t>, teacher_channels) = std::nullopt;
};

/// The weighted PI loss (same C; student resized to the teacher's H×W). No adapter.
torch::Tensor pi_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                      const PiOptions& options);

class PiLoss : public DistillLoss {
 public:
  explicit PiLoss(const PiOptions& options = {});
  torch::Tensor forward(const torch::Tensor& student, const torch::Tensor& teacher,
                        const torch::Tensor& labels) override;
  LossInfo info() const override;
  nlohmann::json options() const override { return options_.to_json(); }
  double flops(const MapShape& shape) const override;

 private:
  PiOptions options_;
  ChannelAdapter adapter_{nullptr};
};

}  // namespace cwd::losses
