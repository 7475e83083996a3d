// IFVD — intra-class feature variation distillation (Wang et al., ECCV 2020).

#include "losses/ifvd.h"

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

// Each pixel's prototype slot (N×P int64), the pixels that are masked out, and the slot count.
struct Slots {
  torch::Tensor slot;
  torch::Tensor ignored;
  int64_t count = 0;
};

// CPU: as many slots as the labels need (ids 0..hi, then one for the ignored pixels). The id
// range is read from host memory, so checking and sizing cost no device sync.
Slots exact_slots(const LabelIds& labels, int64_t ignore_index) {
  auto range = torch::stack({labels.ids.min(), labels.ids.max()});
  const int64_t lo = range[0].item<int64_t>();
  const int64_t hi = range[1].item<int64_t>();
  check_class_ids(kKey, lo, hi, ignore_index);
  return {labels.ids.masked_fill(labels.ignored, hi + 1), labels.ignored, hi + 2};
}

// CUDA: reading the id range would stall every call, so the slots cover every valid id
// (kIfvdMaxClasses, then the ignored pixels' slot) whatever the labels hold. Ids out of range are
// not reported here (check_values() does that) but masked like ignored pixels, which keeps the
// scatter in bounds.
Slots fixed_slots(const LabelIds& labels) {
  auto out_of_range = labels.ids.lt(0).logical_or_(labels.ids.ge(kIfvdMaxClasses));
  auto ignored = labels.ignored.logical_or(out_of_range);
  return {labels.ids.masked_fill(ignored, kIfvdMaxClasses), ignored, kIfvdMaxClasses + 1};
}

// The rules of IfvdOptions.
void check(const IfvdOptions& options, const OptionRules& rules) {
  rules.positive("weight", options.weight(), /*allow_zero=*/true);
  rules.at_least("ignore_index", options.ignore_index(), -1);
}
}  // namespace

IfvdOptions IfvdOptions::from_json(const nlohmann::json& options) {
  OptionReader reader(kKey, options);
  IfvdOptions out;
  out.weight(reader.number("weight", out.weight()));
  out.ignore_index(reader.integer("ignore_index", out.ignore_index()));
  check(out, OptionRules(reader));
  reader.finish();
  return out;
}

void IfvdOptions::validate() const { check(*this, OptionRules(kKey)); }

nlohmann::json IfvdOptions::to_json() const {
  return {{"weight", weight()}, {"ignore_index", ignore_index()}};
}

torch::Tensor ifvd_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                        const torch::Tensor& labels, const IfvdOptions& options) {
  options.validate();
  check_pair(kKey, student, teacher);
  check_labels(kKey, labels, student.size(0));
  auto s = resize_to_teacher(student, teacher);
  const int64_t n = teacher.size(0);
  const int64_t p = teacher.size(2) * teacher.size(3);

  Slots slots;
  torch::Tensor counts;
  torch::Tensor v_t;
  {
    torch::NoGradGuard no_grad;
    const auto ids = label_ids(labels, teacher, options.ignore_index());
    slots = values_on_host(teacher) ? exact_slots(ids, options.ignore_index()) : fixed_slots(ids);
    counts = torch::zeros({n, slots.count}, teacher.options())
                 .scatter_add(1, slots.slot, torch::ones({n, p}, teacher.options()))
                 .clamp_min(1.0);
    v_t = variation(teacher, slots.slot, counts, slots.count);
  }
  auto v_s = variation(s, slots.slot, counts, slots.count);
  auto diff = (v_s - v_t).masked_fill(slots.ignored, 0.0);
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
