// PI — pixel-wise distillation (Liu et al., SKD, CVPR 2019, arXiv 1903.04197).

#include "losses/pi.h"

namespace cwd::losses {

namespace {
constexpr const char* kKey = "pi";

// The rules of PiOptions.
void check(const PiOptions& options, const OptionRules& rules) {
  rules.positive("weight", options.weight(), /*allow_zero=*/true);
  rules.positive("tau", options.tau());
  rules.adapter(options.student_channels(), options.teacher_channels());
}
}  // namespace

PiOptions PiOptions::from_json(const nlohmann::json& options) {
  OptionReader reader(kKey, options);
  PiOptions out;
  out.weight(reader.number("weight", out.weight()));
  out.tau(reader.number("tau", out.tau()));
  out.student_channels(reader.optional_integer("student_channels"));
  out.teacher_channels(reader.optional_integer("teacher_channels"));
  check(out, OptionRules(reader));
  reader.finish();
  return out;
}

void PiOptions::validate() const { check(*this, OptionRules(kKey)); }

nlohmann::json PiOptions::to_json() const {
  nlohmann::json j = {{"weight", weight()}, {"tau", tau()}};
  j["student_channels"] = student_channels() ? nlohmann::json(*student_channels()) : nullptr;
  j["teacher_channels"] = teacher_channels() ? nlohmann::json(*teacher_channels()) : nullptr;
  return j;
}

torch::Tensor pi_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                      const PiOptions& options) {
  options.validate();
  check_pair(kKey, student, teacher);
  check_same_channels(kKey, student, teacher, /*adapter_hint=*/true);
  auto s = resize_to_teacher(student, teacher);
  const double pixels = static_cast<double>(teacher.size(0) * teacher.size(2) * teacher.size(3));
  auto kl = softmax_kl_sum(s, teacher.detach(), options.tau(), /*dim=*/1);
  const double tau = options.tau();
  return kl * (options.weight() * tau * tau / pixels);
}

PiLoss::PiLoss(const PiOptions& options) : options_(options) {
  options_.validate();
  if (options_.student_channels() && options_.teacher_channels()) {
    adapter_ = register_module(
        "adapter", ChannelAdapter(*options_.student_channels(), *options_.teacher_channels()));
  }
}

torch::Tensor PiLoss::forward(const torch::Tensor& student, const torch::Tensor& teacher,
                              const torch::Tensor& /*labels*/) {
  return pi_loss(adapt_student(kKey, adapter_, student, teacher), teacher, options_);
}

LossInfo PiLoss::info() const {
  return {kKey,
          "Pixel-wise distillation",
          "Liu et al., CVPR 2019, arXiv 1903.04197",
          "h·w·c",
          /*needs_labels=*/false,
          /*adapts_channels=*/true};
}

double PiLoss::flops(const MapShape& shape) const {
  const double elems = static_cast<double>(shape.n) * shape.c_teacher * shape.h * shape.w;
  double total = 0.0;
  if (!adapter_.is_empty()) {
    total += adapter_flops(shape.n, shape.c_student, shape.c_teacher, shape.h, shape.w);
  }
  return total + elems * 16.0;  // as CWD: two log-softmaxes, exp, difference, product, sum
}

}  // namespace cwd::losses
