#pragma once
// IFVD — intra-class feature variation distillation.
// Wang, Zhou, Zhang, Wang, Wu: "Intra-class Feature Variation Distillation for Semantic
// Segmentation", ECCV 2020.
//
// Labels are resized to H×W (nearest, source index = floor(dst · in / out)). For each sample n and
// class k present, the prototype μ_{n,k} is the mean of y_{n,:,i} over the pixels labelled k; at a
// non-ignored pixel v_{n,i} = cos(y_{n,:,i}, μ_{n,label(i)}), at an ignored one v = 0, and
//   loss = weight · mean over N·H·W of (v(S) − v(T))²
// (ignored pixels count in the mean, as in the official code). Prototypes come from one scatter-add
// over all classes at once and are gathered back per pixel: O(N·C·H·W + N·n·C), no loop over
// classes. On the CPU the class slots are as many as the labels need; on CUDA they are fixed,
// kIfvdMaxClasses + 1 (losses/common.h), so that no label is read on the host (see
// check_values()). Labels are required. Channel counts of S and T may differ.

#include "losses/common.h"
#include "losses/loss.h"

namespace cwd::losses {

struct IfvdOptions {
  /// Validating parser (missing keys keep the defaults below).
  static IfvdOptions from_json(const nlohmann::json& options);
  nlohmann::json to_json() const;
  /// Throws cwd::Error naming the first option that breaks its rule (the rules live here only;
  /// from_json, the loss's constructor and ifvd_loss run them).
  void validate() const;

  /// Defaults: YukangWang/IFVD's options (CIRKD uses 20).
  TORCH_ARG(double, weight) = 200.0;
  TORCH_ARG(int64_t, ignore_index) = 255;
};

/// The weighted IFVD loss (student resized to the teacher's H×W; labels N×H0×W0 int64).
torch::Tensor ifvd_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                        const torch::Tensor& labels, const IfvdOptions& options);

class IfvdLoss : public DistillLoss {
 public:
  explicit IfvdLoss(const IfvdOptions& options = {}) : options_(options) { options_.validate(); }
  torch::Tensor forward(const torch::Tensor& student, const torch::Tensor& teacher,
                        const torch::Tensor& labels) override;
  LossInfo info() const override;
  nlohmann::json options() const override { return options_.to_json(); }
  double flops(const MapShape& shape) const override;

 private:
  IfvdOptions options_;
};

}  // namespace cwd::losses
