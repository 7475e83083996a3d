#pragma once
// CWD — channel-wise distillation.
// Shu, Liu, Gao, Yan, Shen: "Channel-wise Knowledge Distillation for Dense Prediction",
// ICCV 2021, arXiv 2011.13256.
//
// Each channel's H·W activations become a distribution over positions,
// φ(y)_{n,c} = softmax_i(y_{n,c,i} / τ), and
//   loss = weight · τ² / (N·C) · Σ_{n,c} KL(φ(T)_{n,c} ‖ φ(S)_{n,c}).
// On feature maps with C_S ≠ C_T, an adapter (1×1 conv → BN → ReLU) maps the student's channels
// to the teacher's first.

#include "losses/common.h"
#include "losses/loss.h"

#include <optional>

namespace cwd::losses {

struct CwdOptions {
  /// Validating parser (missing keys keep the defaults below).
  static CwdOptions from_json(const nlohmann::json& options);
  nlohmann::json to_json() const;
  /// Throws cwd::Error naming the first option that breaks its rule (the rules live here only;
  /// from_json, the loss's constructor and cwd_loss run them).
  void validate() const;

  /// Defaults: the official logit-map command (`exp_cwd.sh channel kl 3 4`).
  TORCH_ARG(double, weight) = 3.0;
  TORCH_ARG(double, tau) = 4.0;
  /// Adapter channel counts; both or neither.
  TORCH_ARG(std::optional<int64_t>, student_channels) = std::nullopt;
  TORCH_ARG(std::optional<int64_t>, teacher_channels) = std::nullopt;
};

/// The weighted CWD loss of student N×C×H×W and teacher N×C×H'×W' (same C; the student is resized
/// to H'×W' when they differ). Checks its inputs; the teacher gets no gradient. No adapter.
torch::Tensor cwd_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                       const CwdOptions& options);

class CwdLoss : public DistillLoss {
 public:
  explicit CwdLoss(const CwdOptions& options = {});
  torch::Tensor forward(const torch::Tensor& student, const torch::Tensor& teacher,
                        const torch::Tensor& labels) override;
  LossInfo info() const override;
  nlohmann::json options() const override { return options_.to_json(); }
  double flops(const MapShape& shape) const override;

 private:
  CwdOptions options_;
  ChannelAdapter adapter_{nullptr};
};

}  // namespace cwd::losses
