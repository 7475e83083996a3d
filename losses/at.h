#pragma once
// AT — attention transfer.
// Zagoruyko, Komodakis: "Paying More Attention to Attention: Improving the Performance of
// Convolutional Neural Networks via Attention Transfer", ICLR 2017, arXiv 1612.03928.
//
// a(y)_n = v / ‖v‖₂ with v_i = mean_c |y_{n,c,i}|^p over the H·W positions i, and
//   loss = weight · mean over N·H·W of (a(S)_{n,i} − a(T)_{n,i})².
// |y|^p equals the spec's y^p for even p (the default p = 2) and keeps odd or fractional p defined
// on signed maps. Channel counts of S and T may differ.

#include "losses/common.h"
#include "losses/loss.h"

namespace cwd::losses {

struct AtOptions {
  /// Validating parser (missing keys keep the defaults below).
  static AtOptions from_json(const nlohmann::json& options);
  nlohmann::json to_json() const;
  /// Throws cwd::Error naming the first option that breaks its rule (the rules live here only;
  /// from_json, the loss's constructor and at_loss run them).
  void validate() const;

  /// Defaults: CIRKD's scripts (weight), the paper (p).
  TORCH_ARG(double, weight) = 1e4;
  TORCH_ARG(double, p) = 2.0;
};

/// The weighted AT loss (student resized to the teacher's H×W; channel counts may differ).
torch::Tensor at_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                      const AtOptions& options);

class AtLoss : public DistillLoss {
 public:
  explicit AtLoss(const AtOptions& options = {}) : options_(options) { options_.validate(); }
  torch::Tensor forward(const torch::Tensor& student, const torch::Tensor& teacher,
                        const torch::Tensor& labels) override;
  LossInfo info() const override;
  nlohmann::json options() const override { return options_.to_json(); }
  double flops(const MapShape& shape) const override;

 private:
  AtOptions options_;
};

}  // namespace cwd::losses
