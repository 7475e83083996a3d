// AT — attention transfer (Zagoruyko & Komodakis, ICLR 2017, arXiv 1612.03928).

#include "losses/at.h"

namespace cwd::losses {

namespace {
constexpr const char* kKey = "at";

// N×(H·W) attention vectors of unit L2 norm.
torch::Tensor attention(const torch::Tensor& map, double p) {
  // p = 2: square() is cheaper than abs().pow(2). (A vector norm over the channel dimension
  // saves the temporary but was 10× slower on CPU libtorch 1.13 at C = 19: a strided reduction.)
  auto v = (p == 2.0 ? map.square().mean(1) : map.abs().pow(p).mean(1)).flatten(1);
  return v / v.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);
}

// The rules of AtOptions.
void check(const AtOptions& options, const OptionRules& rules) {
  rules.positive("weight", options.weight(), /*allow_zero=*/true);
  rules.positive("p", options.p());
}
}  // namespace

AtOptions AtOptions::from_json(const nlohmann::json& options) {
  OptionReader reader(kKey, options);
  AtOptions out;
  out.weight(reader.number("weight", out.weight()));
  out.p(reader.number("p", out.p()));
  check(out, OptionRules(reader));
  reader.finish();
  return out;
}

void AtOptions::validate() const { check(*this, OptionRules(kKey)); }

nlohmann::json AtOptions::to_json() const { return {{"weight", weight()}, {"p", p()}}; }

torch::Tensor at_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                      const AtOptions& options) {
  options.validate();
  check_pair(kKey, student, teacher);
  auto s = resize_to_teacher(student, teacher);
  torch::Tensor a_t;
  {
    torch::NoGradGuard no_grad;
    a_t = attention(teacher, options.p());
  }
  return (attention(s, options.p()) - a_t).square().mean() * options.weight();
}

torch::Tensor AtLoss::forward(const torch::Tensor& student, const torch::Tensor& teacher,
                              const torch::Tensor& /*labels*/) {
  return at_loss(student, teacher, options_);
}

LossInfo AtLoss::info() const {
  return {kKey, "Attention transfer", "Zagoruyko & Komodakis, ICLR 2017, arXiv 1612.03928", "h·w·c",
          false};
}

double AtLoss::flops(const MapShape& shape) const {
  const double pixels = static_cast<double>(shape.n) * shape.h * shape.w;
  // Power and channel mean: 2 per element of each map; normalisation (3) and squared
  // difference and mean (3) per pixel.
  return pixels * (2.0 * (shape.c_student + shape.c_teacher) + 2.0 * 3.0 + 3.0);
}

}  // namespace cwd::losses
