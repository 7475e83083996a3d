// PA — pair-wise affinity distillation (Liu et al., SKD, CVPR 2019, arXiv 1903.04197).

#include "losses/pa.h"

namespace cwd::losses {

namespace {
constexpr const char* kKey = "pa";

int64_t pooled(int64_t size, int64_t pool) { return (size + pool - 1) / pool; }

double direct_products(double cs, double ct, double p) { return 2.0 * p * p * (cs + ct); }
double gram_products(double cs, double ct, double p) {
  return 2.0 * p * (cs * cs + cs * ct + ct * ct);
}

// N×C×P unit vectors over channels of the (pooled) map.
torch::Tensor nodes(const torch::Tensor& map, int64_t pool) {
  auto x = pool > 1 ? torch::max_pool2d(map, {pool, pool}, {pool, pool}, {0, 0}, {1, 1},
                                        /*ceil_mode=*/true)
                    : map;
  return unit_channels(x).flatten(2);
}

torch::Tensor direct_sum(const torch::Tensor& f_s, const torch::Tensor& f_t) {
  torch::Tensor a_t;
  {
    torch::NoGradGuard no_grad;
    a_t = torch::bmm(f_t.transpose(1, 2), f_t);
  }
  auto a_s = torch::bmm(f_s.transpose(1, 2), f_s);
  return (a_s - a_t).square().sum();
}

torch::Tensor gram_sum(const torch::Tensor& f_s, const torch::Tensor& f_t) {
  auto s = f_s.to(torch::kDouble);
  torch::Tensor t;
  torch::Tensor tt;
  {
    torch::NoGradGuard no_grad;
    t = f_t.to(torch::kDouble);
    tt = torch::bmm(t, t.transpose(1, 2)).square().sum();
  }
  auto ss = torch::bmm(s, s.transpose(1, 2)).square().sum();
  auto st = torch::bmm(s, t.transpose(1, 2)).square().sum();
  return (ss - 2.0 * st + tt).clamp_min(0.0).to(f_s.scalar_type());
}

// The rules of PaOptions.
void check(const PaOptions& options, const OptionRules& rules) {
  rules.positive("weight", options.weight(), /*allow_zero=*/true);
  rules.at_least("pool", options.pool(), 1);
  rules.one_of("form", options.form(), {"auto", "direct", "gram"});
}
}  // namespace

std::string pa_auto_form(int64_t c_student, int64_t c_teacher, int64_t nodes) {
  const double cs = static_cast<double>(c_student);
  const double ct = static_cast<double>(c_teacher);
  const double p = static_cast<double>(nodes);
  // float64 matrix products run at about half the float32 rate.
  return 2.0 * gram_products(cs, ct, p) < direct_products(cs, ct, p) ? "gram" : "direct";
}

PaOptions PaOptions::from_json(const nlohmann::json& options) {
  OptionReader reader(kKey, options);
  PaOptions out;
  out.weight(reader.number("weight", out.weight()));
  out.pool(reader.integer("pool", out.pool()));
  out.form(reader.string("form", out.form()));
  check(out, OptionRules(reader));
  reader.finish();
  return out;
}

void PaOptions::validate() const { check(*this, OptionRules(kKey)); }

nlohmann::json PaOptions::to_json() const {
  return {{"weight", weight()}, {"pool", pool()}, {"form", form()}};
}

torch::Tensor pa_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                      const PaOptions& options) {
  options.validate();
  check_pair(kKey, student, teacher);
  auto s = resize_to_teacher(student, teacher);
  auto f_s = nodes(s, options.pool());
  torch::Tensor f_t;
  {
    torch::NoGradGuard no_grad;
    f_t = nodes(teacher.detach(), options.pool());
  }
  const int64_t p = f_t.size(2);
  std::string form = options.form();
  if (form == "auto") form = pa_auto_form(f_s.size(1), f_t.size(1), p);
  auto total = form == "gram" ? gram_sum(f_s, f_t) : direct_sum(f_s, f_t);
  const double pairs = static_cast<double>(teacher.size(0)) * static_cast<double>(p) * p;
  return total * (options.weight() / pairs);
}

torch::Tensor PaLoss::forward(const torch::Tensor& student, const torch::Tensor& teacher,
                              const torch::Tensor& /*labels*/) {
  return pa_loss(student, teacher, options_);
}

LossInfo PaLoss::info() const {
  return {kKey, "Pair-wise affinity distillation", "Liu et al., CVPR 2019, arXiv 1903.04197",
          "(h·w)²·c", false};
}

double PaLoss::flops(const MapShape& shape) const {
  const int64_t pool = options_.pool();
  const double n = static_cast<double>(shape.n);
  const double cs = static_cast<double>(shape.c_student);
  const double ct = static_cast<double>(shape.c_teacher);
  const double p = static_cast<double>(pooled(shape.h, pool) * pooled(shape.w, pool));
  const double pooling = pool > 1 ? (cs + ct) * shape.h * shape.w : 0.0;
  const double unit = 3.0 * (cs + ct) * p;
  std::string form = options_.form();
  if (form == "auto")
    form = pa_auto_form(shape.c_student, shape.c_teacher, static_cast<int64_t>(p));
  const double pairs = form == "gram"
                           ? gram_products(cs, ct, p) + 3.0 * (cs * cs + cs * ct + ct * ct)
                           : direct_products(cs, ct, p) + 3.0 * p * p;
  return n * (pooling + unit + pairs);
}

}  // namespace cwd::losses
