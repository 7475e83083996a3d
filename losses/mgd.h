#pragma once
// MGD — masked generative distillation.
// Yang, Li, Jiang, Li, Yuan: "Masked Generative Distillation", ECCV 2022, arXiv 2205.01529.
//
// The student map (through `align`, a 1×1 conv with bias, when C_S ≠ C_T) is masked at random
// positions — M_{n,i} = 0 where a uniform draw u ∈ [0, 1) exceeds 1 − mask_ratio — and a generator
// G (3×3 conv → ReLU → 3×3 conv, C_T → C_T, with biases) must rebuild the teacher's map from it:
//   loss = weight · (1/N) · Σ_{n,c,i} (G(M ⊙ align(S)) − T)².
// The mask is drawn from libtorch's default generator, which the trainer seeds per iteration from
// the run's seed, so a resumed run draws the same masks; mask_ratio = 0 draws nothing.
// The generator (and align) are the method's trained parameters: about 2·9·C_T² of them.

#include "losses/common.h"
#include "losses/loss.h"

#include <optional>

namespace cwd::losses {

struct MgdOptions {
  /// Validating parser (missing keys keep the defaults below).
  static MgdOptions from_json(const nlohmann::json& options);
  nlohmann::json to_json() const;
  /// Throws cwd::Error naming the first option that breaks its rule (the rules live here only;
  /// from_json and the loss's constructor run them).
  void validate() const;

  /// Defaults: the authors' segmentation configs (α_mgd = 2e-5, λ_mgd = 0.75).
  TORCH_ARG(double, weight) = 2e-5;
  TORCH_ARG(double, mask_ratio) = 0.75;
  /// The maps' channel counts: teacher_channels sizes the generator and is needed for a forward
  /// (cwd-bench's trainer sets both from the networks); student_channels defaults to it, and
  /// adds `align` when it differs.
  TORCH_ARG(std::optional<int64_t>, student_channels) = std::nullopt;
  TORCH_ARG(std::optional<int64_t>, teacher_channels) = std::nullopt;
};

class MgdLoss : public DistillLoss {
 public:
  explicit MgdLoss(const MgdOptions& options = {});
  torch::Tensor forward(const torch::Tensor& student, const torch::Tensor& teacher,
                        const torch::Tensor& labels) override;
  LossInfo info() const override;
  nlohmann::json options() const override { return options_.to_json(); }
  double flops(const MapShape& shape) const override;

 private:
  MgdOptions options_;
  torch::nn::Conv2d align_{nullptr};
  torch::nn::Sequential generator_{nullptr};
};

}  // namespace cwd::losses
