#include "src/train/metrics.h"

#include "src/core/error.h"

#include <fmt/format.h>

namespace cwd::train {

ConfusionMatrix::ConfusionMatrix(int64_t num_classes, int64_t ignore_index)
    : num_classes_(num_classes),
      ignore_index_(ignore_index),
      matrix_(torch::zeros({num_classes, num_classes}, torch::kInt64)) {
  if (num_classes < 1) throw Error(fmt::format("confusion matrix needs >= 1 class, got {}", num_classes));
}

void ConfusionMatrix::add(const torch::Tensor& prediction, const torch::Tensor& labels) {
  if (prediction.sizes() != labels.sizes()) {
    throw Error(fmt::format("confusion matrix: prediction shape {} differs from label shape {}",
                            fmt::join(prediction.sizes(), "x"), fmt::join(labels.sizes(), "x")));
  }
  auto gt = labels.reshape({-1}).to(torch::kInt64);
  auto pred = prediction.reshape({-1}).to(torch::kInt64);
  auto keep = gt != ignore_index_;
  gt = gt.masked_select(keep);
  pred = pred.masked_select(keep);
  if (gt.numel() == 0) return;
  const auto bad = (gt < 0) | (gt >= num_classes_);
  if (bad.any().item<bool>()) {
    const int64_t value = gt.masked_select(bad)[0].item<int64_t>();
    throw Error(fmt::format("label value {} is outside the {} classes (0..{}) and is not the ignore index {}",
                            value, num_classes_, num_classes_ - 1, ignore_index_));
  }
  auto counts = torch::bincount(gt * num_classes_ + pred.clamp(0, num_classes_ - 1), {},
                                num_classes_ * num_classes_);
  matrix_ += counts.to(torch::kCPU, torch::kInt64).reshape({num_classes_, num_classes_});
}

Metrics compute_metrics(const torch::Tensor& confusion) {
  if (confusion.dim() != 2 || confusion.size(0) != confusion.size(1)) {
    throw Error("compute_metrics: expected a square K×K confusion matrix");
  }
  const auto m = confusion.to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t k = m.size(0);
  const auto acc = m.accessor<double, 2>();
  Metrics out;
  double total = 0, correct = 0, iou_sum = 0, acc_sum = 0;
  int64_t iou_n = 0, acc_n = 0;
  out.iou.resize(k);
  for (int64_t c = 0; c < k; ++c) {
    double gt = 0, pred = 0;
    for (int64_t j = 0; j < k; ++j) {
      gt += acc[c][j];
      pred += acc[j][c];
    }
    const double tp = acc[c][c];
    total += gt;
    correct += tp;
    const double uni = gt + pred - tp;
    if (uni > 0) {
      out.iou[c] = 100.0 * tp / uni;
      iou_sum += *out.iou[c];
      ++iou_n;
    }
    if (gt > 0) {
      acc_sum += 100.0 * tp / gt;
      ++acc_n;
    }
  }
  out.pixels = static_cast<int64_t>(total);
  out.pixel_acc = total > 0 ? 100.0 * correct / total : 0.0;
  out.miou = iou_n > 0 ? iou_sum / iou_n : 0.0;
  out.macc = acc_n > 0 ? acc_sum / acc_n : 0.0;
  return out;
}

nlohmann::json per_class_json(const Metrics& metrics, const std::vector<std::string>& class_names) {
  nlohmann::json per_class = nlohmann::json::object();
  for (size_t c = 0; c < metrics.iou.size(); ++c) {
    const std::string name = c < class_names.size() ? class_names[c] : fmt::format("class{}", c);
    per_class[name] = metrics.iou[c] ? nlohmann::json(*metrics.iou[c]) : nlohmann::json(nullptr);
  }
  return per_class;
}

}  // namespace cwd::train
