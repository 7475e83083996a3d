// CWD — channel-wise distillation (Shu et al., ICCV 2021, arXiv 2011.13256).

#include "losses/cwd.h"

namespace cwd::losses {

namespace {
constexpr const char* kKey = "cwd";

// The rules of CwdOptions.
void check(const CwdOptions& options, const OptionRules& rules) {
  rules.positive("weight", options.weight(), /*allow_zero=*/true);
  rules.positive("tau", options.tau());
  rules.adapter(options.student_channels(), options.teacher_channels());
}
}  // namespace

CwdOptions CwdOptions::from_json(const nlohmann::json& options) {
  OptionReader reader(kKey, options);
  CwdOptions out;
  out.weight(reader.number("weight", out.weight()));
  out.tau(reader.number("tau", out.tau()));
  out.student_channels(reader.optional_integer("student_channels"));
  out.teacher_channels(reader.optional_integer("teacher_channels"));
  check(out, OptionRules(reader));
  reader.finish();
  return out;
}

void CwdOptions::validate() const { check(*this, OptionRules(kKey)); }

nlohmann::json CwdOptions::to_json() const {
  nlohmann::json j = {{"weight", weight()}, {"tau", tau()}};
  j["student_channels"] = student_channels() ? nlohmann::json(*student_channels()) : nullptr;
  j["teacher_channels"] = teacher_channels() ? nlohmann::json(*teacher_channels()) : nullptr;
  return j;
}

torch::Tensor cwd_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                       const CwdOptions& options) {
  options.validate();
  check_pair(kKey, student, teacher);
  check_same_channels(kKey, student, teacher, /*adapter_hint=*/true);
  auto s = resize_to_teacher(student, teacher);
  const int64_t n = teacher.size(0);
  const int64_t c = teacher.size(1);
  // Distributions over the H·W positions of each (n, c).
  auto kl = softmax_kl_sum(s.flatten(2), teacher.detach().flatten(2), options.tau(), /*dim=*/2);
  const double tau = options.tau();
  return kl * (options.weight() * tau * tau / static_cast<double>(n * c));
}

CwdLoss::CwdLoss(const CwdOptions& options) : options_(options) {
  options_.validate();
  if (options_.student_channels() && options_.teacher_channels()) {
    adapter_ = register_module(
        "adapter", ChannelAdapter(*options_.student_channels(), *options_.teacher_channels()));
  }
}

torch::Tensor CwdLoss::forward(const torch::Tensor& student, const torch::Tensor& teacher,
                               const torch::Tensor& /*labels*/) {
  return cwd_loss(adapt_student(kKey, adapter_, student, teacher), teacher, options_);
}

LossInfo CwdLoss::info() const {
  return {kKey,
          "Channel-wise distillation",
          "Shu et al., ICCV 2021, arXiv 2011.13256",
          "h·w·c",
          /*needs_labels=*/false,
          /*adapts_channels=*/true};
}

double CwdLoss::flops(const MapShape& shape) const {
  const double elems = static_cast<double>(shape.n) * shape.c_teacher * shape.h * shape.w;
  double total = 0.0;
  if (!adapter_.is_empty()) {
    total += adapter_flops(shape.n, shape.c_student, shape.c_teacher, shape.h, shape.w);
  }
  // Per element: scale both maps (2), two log-softmaxes (max, sub, exp, sum, log, sub: ~5 each),
  // exp of the teacher's (1), difference, product, sum (3).
  return total + elems * 16.0;
}

}  // namespace cwd::losses
