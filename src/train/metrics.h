#pragma once
// Segmentation metrics from one confusion matrix accumulated over a whole split.

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cwd::train {

/// Accumulates a K×K int64 confusion matrix (rows = ground truth, columns = prediction); pixels
/// whose label is the ignore index are skipped.
class ConfusionMatrix {
 public:
  ConfusionMatrix(int64_t num_classes, int64_t ignore_index);
  /// prediction and labels: int64 tensors of the same shape (any device).
  void add(const torch::Tensor& prediction, const torch::Tensor& labels);
  const torch::Tensor& matrix() const { return matrix_; }
  int64_t num_classes() const { return num_classes_; }

 private:
  int64_t num_classes_;
  int64_t ignore_index_;
  torch::Tensor matrix_;  // CPU int64
};

struct Metrics {
  double miou = 0;       ///< percent, mean over classes present in ground truth or prediction
  double pixel_acc = 0;  ///< percent
  double macc = 0;       ///< percent, mean over classes present in ground truth
  std::vector<std::optional<double>> iou;  ///< percent per class; empty when the class is absent
  int64_t pixels = 0;                      ///< counted (non-ignored) pixels
};

/// Metrics of a confusion matrix (K×K, rows = ground truth). A class absent from both the ground
/// truth and the predictions has no IoU and is excluded from the mean.
Metrics compute_metrics(const torch::Tensor& confusion);

/// {class name: IoU in percent, or null for a class absent from both labels and predictions}.
nlohmann::json per_class_json(const Metrics& metrics, const std::vector<std::string>& class_names);

}  // namespace cwd::train
