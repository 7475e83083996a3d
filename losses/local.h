#pragma once
// LOCAL — local (8-neighbourhood) similarity distillation.
// Described in Shu et al., ICCV 2021 (related work, ref. [34]; most likely Xie, Shen, Wang, Zhang:
// "Improving Fast Segmentation With Teacher-student Learning", BMVC 2018, arXiv 1810.08476).
// No public implementation exists; this is cwd-bench's definition (docs/losses.md):
// x̂ = unit vector over channels at each pixel; for the 8 offsets δ ≠ (0,0) and every interior
// pixel i (rows 1..H−2, cols 1..W−2), s_{n,δ,i} = ⟨x̂_i, x̂_{i+δ}⟩, and
//   loss = weight · mean over N·8·(H−2)·(W−2) of (s(S) − s(T))².
// metric = "euclidean" uses ‖y_i − y_{i+δ}‖₂² of the raw maps instead. Needs H, W ≥ 3.
// Channel counts of S and T may differ.

#include "losses/common.h"
#include "losses/loss.h"

#include <string>

namespace cwd::losses {

struct LocalOptions {
  /// Validating parser (missing keys keep the defaults below).
  static LocalOptions from_json(const nlohmann::json& options);
  nlohmann::json to_json() const;
  /// Throws cwd::Error naming the first option that breaks its rule (the rules live here only;
  /// from_json, the loss's constructor and local_loss run them).
  void validate() const;

  /// No published value for the weight.
  TORCH_ARG(double, weight) = 1.0;
  /// "cosine" or "euclidean".
  TORCH_ARG(std::string, metric) = "cosine";
};

/// The weighted LOCAL loss (student resized to the teacher's H×W; channel counts may differ).
torch::Tensor local_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                         const LocalOptions& options);

class LocalLoss : public DistillLoss {
 public:
  explicit LocalLoss(const LocalOptions& options = {}) : options_(options) { options_.validate(); }
  torch::Tensor forward(const torch::Tensor& student, const torch::Tensor& teacher,
                        const torch::Tensor& labels) override;
  LossInfo info() const override;
  nlohmann::json options() const override { return options_.to_json(); }
  double flops(const MapShape& shape) const override;

 private:
  LocalOptions options_;
};

}  // namespace cwd::losses
