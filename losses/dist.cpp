// DIST — distillation from a stronger teacher (Huang et al., NeurIPS 2022, arXiv 2205.10536).

#include "losses/dist.h"

namespace cwd::losses {

namespace {
constexpr const char* kKey = "dist";

// The rules of DistOptions.
void check(const DistOptions& options, const OptionRules& rules) {
  rules.positive("weight", options.weight(), /*allow_zero=*/true);
  rules.positive("tau", options.tau());
  rules.positive("beta", options.beta(), /*allow_zero=*/true);
  rules.positive("gamma", options.gamma(), /*allow_zero=*/true);
  rules.adapter(options.student_channels(), options.teacher_channels());
}

// The Pearson correlation of a and b along `dims`, averaged over the other dimensions (which index
// the pairs of vectors correlated).
torch::Tensor mean_correlation(const torch::Tensor& a, const torch::Tensor& b,
                               const std::vector<int64_t>& dims) {
  auto a_c = a - a.mean(dims, /*keepdim=*/true);
  auto b_c = b - b.mean(dims, /*keepdim=*/true);
  auto r = (a_c * b_c).sum(dims) / (a_c.norm(2, dims) * b_c.norm(2, dims) + 1e-8);
  return r.mean();
}
}  // namespace

DistOptions DistOptions::from_json(const nlohmann::json& options) {
  OptionReader reader(kKey, options);
  DistOptions out;
  out.weight(reader.number("weight", out.weight()));
  out.tau(reader.number("tau", out.tau()));
  out.beta(reader.number("beta", out.beta()));
  out.gamma(reader.number("gamma", out.gamma()));
  out.student_channels(reader.optional_integer("student_channels"));
  out.teacher_channels(reader.optional_integer("teacher_channels"));
  check(out, OptionRules(reader));
  reader.finish();
  return out;
}

void DistOptions::validate() const { check(*this, OptionRules(kKey)); }

nlohmann::json DistOptions::to_json() const {
  nlohmann::json j = {{"weight", weight()}, {"tau", tau()}, {"beta", beta()}, {"gamma", gamma()}};
  j["student_channels"] = student_channels() ? nlohmann::json(*student_channels()) : nullptr;
  j["teacher_channels"] = teacher_channels() ? nlohmann::json(*teacher_channels()) : nullptr;
  return j;
}

torch::Tensor dist_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                        const DistOptions& options) {
  options.validate();
  check_pair(kKey, student, teacher);
  check_same_channels(kKey, student, teacher, /*adapter_hint=*/true);
  auto s = resize_to_teacher(student, teacher);
  const double tau = options.tau();
  // Rows are pixels: the probabilities as an (N·H·W)×C matrix, contiguous along C, so that both
  // correlations reduce over plain rows and columns (measured 3× faster at C = 19 than reducing
  // N×C×H×W over channels, and faster than a softmax over the permuted rows).
  const int64_t c = teacher.size(1);
  auto rows = [c, tau](const torch::Tensor& map) {
    return torch::softmax(tau == 1.0 ? map : map / tau, 1).permute({0, 2, 3, 1}).reshape({-1, c});
  };
  torch::Tensor p_t;
  {
    torch::NoGradGuard no_grad;
    p_t = rows(teacher);
  }
  auto p_s = rows(s);
  // Inter: each pixel's C probabilities (a row); intra: each class over all pixels (a column).
  auto inter = 1.0 - mean_correlation(p_s, p_t, {1});
  auto intra = 1.0 - mean_correlation(p_s, p_t, {0});
  return (inter * options.beta() + intra * options.gamma()) * (options.weight() * tau * tau);
}

DistLoss::DistLoss(const DistOptions& options) : options_(options) {
  options_.validate();
  if (options_.student_channels() && options_.teacher_channels()) {
    adapter_ = register_module(
        "adapter", ChannelAdapter(*options_.student_channels(), *options_.teacher_channels()));
  }
}

torch::Tensor DistLoss::forward(const torch::Tensor& student, const torch::Tensor& teacher,
                                const torch::Tensor& /*labels*/) {
  return dist_loss(adapt_student(kKey, adapter_, student, teacher), teacher, options_);
}

LossInfo DistLoss::info() const {
  return {kKey,
          "Distillation from a stronger teacher (DIST)",
          "Huang et al., NeurIPS 2022, arXiv 2205.10536",
          "h·w·c",
          /*needs_labels=*/false,
          /*adapts_channels=*/true};
}

double DistLoss::flops(const MapShape& shape) const {
  const double elems = static_cast<double>(shape.n) * shape.c_teacher * shape.h * shape.w;
  double total = 0.0;
  if (!adapter_.is_empty()) {
    total += adapter_flops(shape.n, shape.c_student, shape.c_teacher, shape.h, shape.w);
  }
  // Per element: two softmaxes (scale, max, sub, exp, sum, div: ~6 each); for each of the two
  // correlations, centring both maps (2 each), the product and the two squares with their sums (6).
  return total + elems * (12.0 + 2.0 * 10.0);
}

}  // namespace cwd::losses
