// IFVD — intra-class feature variation distillation (Wang et al., ECCV 2020).

#include "losses/ifvd.h"

#include "src/core/error.h"

#include <fmt/format.h>

namespace cwd::losses {

namespace {
constexpr const char* kKey = "ifvd";

// v: N×P cosine of each pixel's feature with its class prototype. `slot` (N×P) holds each
// pixel's class id (ignored pixels: an extra slot, masked by the caller); `slots` = ids + 1.
torch::Tensor variation(const torch::Tensor& map, const torch::Tensor& slot,
                        const torch::Tensor& counts, int64_t slots) {
  auto y = map.flatten(2);  // N×C×P
  auto index = slot.unsqueeze(1).expand({y.size(0), y.size(1), y.size(2)});
  auto sums = torch::zeros({y.size(0), y.size(1), slots}, y.options()).scatter_add(2, index, y);
  auto mu = unit_channels(sums / counts.unsqueeze(1));  // N×C×slots unit prototypes
  auto dot = (y * mu.gather(2, index)).sum(1);
  return dot / y.norm(2, {1}).clamp_min(1e-12);
}
}  // namespace

IfvdOptions IfvdOptions::from_json(const nlohmann::json& options) {
  OptionReader reader(kKey, options);
  IfvdOptions out;
  out.weight(reader.positive("weight", out.weight(), /*allow_zero=*/true));
  out.ignore_index(reader.integer("ignore_index", out.ignore_index(), -1));
  reader.finish();
  return out;
}

nlohmann::json IfvdOptions::to_json() const {
  return {{"weight", weight()}, {"ignore_index", ignore_index()}};
}

torch::Tensor ifvd_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                        const torch::Tensor& labels, const IfvdOptions& options) {
  check_pair(kKey, student, teacher);
  check_labels(kKey, labels, student.size(0));
  auto s = resize_to_teacher(student, teacher);
  const int64_t n = teacher.size(0);
  const int64_t p = teacher.size(2) * teacher.size(3);

  torch::Tensor slot;
  torch::Tensor ignored;
  torch::Tensor counts;
  int64_t slots = 0;
  {
    torch::NoGradGuard no_grad;
    auto lab = resize_labels_nearest(labels.to(teacher.device()), teacher.size(2), teacher.size(3))
                   .reshape({n, p});
    ignored = lab == options.ignore_index();
    auto ids = lab.masked_fill(ignored, 0);
    auto range = torch::stack({ids.min(), ids.max()}).cpu();  // the one sync
    const int64_t lo = range[0].item<int64_t>();
    const int64_t hi = range[1].item<int64_t>();
    if (lo < 0 || hi >= kIfvdMaxClasses) {
      throw Error(fmt::format("{}: labels hold class id {}, expected 0..{} or ignore_index {}",
                              kKey, lo < 0 ? lo : hi, kIfvdMaxClasses - 1, options.ignore_index()));
    }
    slots = hi + 2;  // class ids 0..hi, then one slot for the ignored pixels
    slot = ids.masked_fill(ignored, hi + 1);
    counts = torch::zeros({n, slots}, teacher.options())
                 .scatter_add(1, slot, torch::ones({n, p}, teacher.options()))
                 .clamp_min(1.0);
  }
  torch::Tensor v_t;
  {
    torch::NoGradGuard no_grad;
    v_t = variation(teacher, slot, counts, slots);
  }
  auto v_s = variation(s, slot, counts, slots);
  auto diff = (v_s - v_t).masked_fill(ignored, 0.0);
  return diff.square().mean() * options.weight();
}

torch::Tensor IfvdLoss::forward(const torch::Tensor& student, const torch::Tensor& teacher,
                                const torch::Tensor& labels) {
  return ifvd_loss(student, teacher, labels, options_);
}

LossInfo IfvdLoss::info() const {
  return {kKey, "Intra-class feature variation distillation", "Wang et al., ECCV 2020", "h·w·c·n",
          true};
}

double IfvdLoss::flops(const MapShape& shape) const {
  const double pixels = static_cast<double>(shape.n) * shape.h * shape.w;
  const double classes = static_cast<double>(shape.num_classes > 0 ? shape.num_classes : 19);
  double total = 0.0;
  for (double c : {static_cast<double>(shape.c_student), static_cast<double>(shape.c_teacher)}) {
    // Scatter-add (1), gather (1), product and channel sum (2), pixel norms (2) per element;
    // prototype mean and normalisation (4) per class and channel.
    total += pixels * c * 6.0 + shape.n * classes * c * 4.0;
  }
  return total + pixels * 4.0;  // difference, mask, square, mean
}

}  // namespace cwd::losses
