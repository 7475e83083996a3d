#pragma once
// The common interface of every distillation loss (see docs/losses.md).

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace cwd::losses {

/// What a loss is: written into every run record and listed by `cwd-bench losses`. Built by
/// position: {key, title, paper, formula, needs_labels, adapts_channels, needs_channels}.
struct LossInfo {
  std::string key;      ///< registry key, e.g. "cwd"
  std::string title;    ///< e.g. "Channel-wise distillation"
  std::string paper;    ///< e.g. "Shu et al., ICCV 2021, arXiv 2011.13256"
  std::string formula;  ///< cost formula as in the paper's table, e.g. "h·w·c"
  bool needs_labels = false;
  /// On feature maps whose channel counts differ, the loss maps the student's channels to the
  /// teacher's with a trained adapter, and then needs the options `student_channels` and
  /// `teacher_channels`.
  bool adapts_channels = false;
  /// The loss holds trained parts sized by the maps' channel counts at every placement (MGD's
  /// generator), so it needs `teacher_channels` (and `student_channels`) on the logit map too.
  bool needs_channels = false;
};

/// Shape of the maps a loss is applied to (for FLOP estimates).
struct MapShape {
  int64_t n = 1;
  int64_t c_student = 1;
  int64_t c_teacher = 1;
  int64_t h = 1;
  int64_t w = 1;
  int64_t num_classes = 0;  ///< classes present in the labels (IFVD); 0 when unknown
};

/// A distillation loss. forward() takes the student map N×Cs×H×W, the teacher map N×Ct×H'×W'
/// (never receives gradients) and labels N×H0×W0 int64 with ignore_index (255), or an undefined
/// tensor for losses that do not use labels. It returns the weighted 0-dim loss.
class DistillLoss : public torch::nn::Module {
 public:
  ~DistillLoss() override = default;

  virtual torch::Tensor forward(const torch::Tensor& student, const torch::Tensor& teacher,
                                const torch::Tensor& labels) = 0;

  /// Key, title, paper, cost formula, whether labels are needed, whether it adapts channels.
  virtual LossInfo info() const = 0;

  /// The resolved options (defaults filled in), as written into run records.
  virtual nlohmann::json options() const = 0;

  /// Forward FLOPs of the loss term at the given map shape (adapter included), estimated
  /// analytically from the formula the implementation actually computes.
  virtual double flops(const MapShape& shape) const = 0;

  /// Number of trainable parameters the loss adds (a channel adapter, MGD's generator), 0 for
  /// most losses.
  int64_t extra_params() const {
    int64_t total = 0;
    for (const auto& p : parameters()) total += p.numel();
    return total;
  }
};

}  // namespace cwd::losses
