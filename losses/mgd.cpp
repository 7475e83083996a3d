// MGD — masked generative distillation (Yang et al., ECCV 2022, arXiv 2205.01529).

#include "losses/mgd.h"

#include "models/shard.h"

#include <fmt/format.h>

namespace cwd::losses {

namespace {
constexpr const char* kKey = "mgd";

// The rules of MgdOptions.
void check(const MgdOptions& options, const OptionRules& rules) {
  rules.positive("weight", options.weight(), /*allow_zero=*/true);
  rules.unit_interval("mask_ratio", options.mask_ratio());
  rules.at_least("student_channels", options.student_channels().value_or(1), 1);
  rules.at_least("teacher_channels", options.teacher_channels().value_or(1), 1);
  if (options.student_channels() && !options.teacher_channels()) {
    throw Error(fmt::format("{}: option student_channels needs teacher_channels (the generator's "
                            "width), got only student_channels",
                            kKey));
  }
}

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).padding(kernel / 2).bias(true));
}
}  // namespace

MgdOptions MgdOptions::from_json(const nlohmann::json& options) {
  OptionReader reader(kKey, options);
  MgdOptions out;
  out.weight(reader.number("weight", out.weight()));
  out.mask_ratio(reader.number("mask_ratio", out.mask_ratio()));
  out.student_channels(reader.optional_integer("student_channels"));
  out.teacher_channels(reader.optional_integer("teacher_channels"));
  check(out, OptionRules(reader));
  reader.finish();
  return out;
}

void MgdOptions::validate() const { check(*this, OptionRules(kKey)); }

nlohmann::json MgdOptions::to_json() const {
  nlohmann::json j = {{"weight", weight()}, {"mask_ratio", mask_ratio()}};
  j["student_channels"] = student_channels() ? nlohmann::json(*student_channels()) : nullptr;
  j["teacher_channels"] = teacher_channels() ? nlohmann::json(*teacher_channels()) : nullptr;
  return j;
}

MgdLoss::MgdLoss(const MgdOptions& options) : options_(options) {
  options_.validate();
  if (!options_.teacher_channels()) return;  // listed and validated, but cannot run
  const int64_t ct = *options_.teacher_channels();
  const int64_t cs = options_.student_channels().value_or(ct);
  if (cs != ct) align_ = register_module("align", conv(cs, ct, 1));
  generator_ = register_module(
      "generator", torch::nn::Sequential(conv(ct, ct, 3), torch::nn::ReLU(), conv(ct, ct, 3)));
}

torch::Tensor MgdLoss::forward(const torch::Tensor& student, const torch::Tensor& teacher,
                               const torch::Tensor& /*labels*/) {
  if (generator_.is_empty()) {
    throw Error(fmt::format("{}: the generator's width is unknown, expected option "
                            "teacher_channels (and student_channels when the maps differ)",
                            kKey));
  }
  check_pair(kKey, student, teacher);
  const int64_t ct = *options_.teacher_channels();
  const int64_t cs = options_.student_channels().value_or(ct);
  if (student.size(1) != cs || teacher.size(1) != ct) {
    throw Error(fmt::format("{}: maps have {} (student) and {} (teacher) channels, expected "
                            "student_channels = {} and teacher_channels = {}",
                            kKey, student.size(1), teacher.size(1), cs, ct));
  }
  auto x = resize_to_teacher(align_.is_empty() ? student : align_->forward(student), teacher);
  if (options_.mask_ratio() > 0.0) {
    // Keep a position where u <= 1 − mask_ratio (u uniform in [0, 1)). Drawn for the whole
    // global batch when the batch is spread over processes (models::draw_rows).
    const auto u = models::draw_rows(x.size(0), [&x](int64_t n) {
      return torch::rand({n, 1, x.size(2), x.size(3)},
                         torch::TensorOptions().dtype(x.scalar_type()).device(x.device()));
    });
    x = x * u.le(1.0 - options_.mask_ratio()).to(x.scalar_type());
  }
  const auto rebuilt = generator_->forward(x);
  return (rebuilt - teacher.detach()).square().sum() *
         (options_.weight() / static_cast<double>(teacher.size(0)));
}

LossInfo MgdLoss::info() const {
  return {kKey,
          "Masked generative distillation (MGD)",
          "Yang et al., ECCV 2022, arXiv 2205.01529",
          "h·w·9·c²",
          /*needs_labels=*/false,
          /*adapts_channels=*/false,
          /*needs_channels=*/true};
}

double MgdLoss::flops(const MapShape& shape) const {
  const double outputs = static_cast<double>(shape.n) * shape.c_teacher * shape.h * shape.w;
  double total = 0.0;
  if (!align_.is_empty()) total += outputs * (2.0 * shape.c_student + 1.0);
  // Mask (1); two 3×3 convs with bias (2·9·C_T + 1 each) and the ReLU (1); difference, square
  // and sum (3).
  return total + outputs * (1.0 + 2.0 * (18.0 * shape.c_teacher + 1.0) + 1.0 + 3.0);
}

}  // namespace cwd::losses
