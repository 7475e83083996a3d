#pragma once
// PA — pair-wise affinity distillation.
// Liu, Chen, Liu, Qin, Luo, Wang: "Structured Knowledge Distillation for Semantic Segmentation",
// CVPR 2019, arXiv 1903.04197.
//
// Optional max-pooling (kernel = stride = pool, ceil mode), then unit vectors x̂ over channels at
// each of the P = H'·W' nodes, affinities A_{n,i,j} = ⟨x̂_i, x̂_j⟩, and
//   loss = weight · mean over N·P·P of (A(S) − A(T))².
// Two exact forms (per sample, F = C×P matrix of unit vectors):
//   direct: build both P×P affinity matrices — O(P²·C) time, O(P²) memory;
//   gram:   ‖F_S F_Sᵀ‖² − 2‖F_S F_Tᵀ‖² + ‖F_T F_Tᵀ‖² — O(P·C²) time, O(C²) memory, computed in
//           float64 (the three norms nearly cancel when S ≈ T) and cast back.
// form = "auto" picks the cheaper one from C_S, C_T and P. Channel counts of S and T may differ.

#include "losses/common.h"
#include "losses/loss.h"

#include <string>

namespace cwd::losses {

struct PaOptions {
  /// Validating parser (missing keys keep the defaults below).
  static PaOptions from_json(const nlohmann::json& options);
  nlohmann::json to_json() const;
  /// Throws cwd::Error naming the first option that breaks its rule (the rules live here only;
  /// from_json, the loss's constructor and pa_loss run them).
  void validate() const;

  /// Defaults: full resolution (the paper's (h·w)²·c cost); weight 1 (see the spec).
  TORCH_ARG(double, weight) = 1.0;
  TORCH_ARG(int64_t, pool) = 1;
  /// "auto", "direct" or "gram".
  TORCH_ARG(std::string, form) = "auto";
};

/// The form "auto" resolves to for a sample of cs×P and ct×P unit vectors ("direct" or "gram"):
/// gram when its float64 products cost less than the direct form's float products.
std::string pa_auto_form(int64_t c_student, int64_t c_teacher, int64_t nodes);

/// The weighted PA loss (student resized to the teacher's H×W, then pooled).
torch::Tensor pa_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                      const PaOptions& options);

class PaLoss : public DistillLoss {
 public:
  explicit PaLoss(const PaOptions& options = {}) : options_(options) { options_.validate(); }
  torch::Tensor forward(const torch::Tensor& student, const torch::Tensor& teacher,
                        const torch::Tensor& labels) override;
  LossInfo info() const override;
  nlohmann::json options() const override { return options_.to_json(); }
  double flops(const MapShape& shape) const override;

 private:
  PaOptions options_;
};

}  // namespace cwd::losses
