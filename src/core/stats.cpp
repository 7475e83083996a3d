#include "src/core/stats.h"

#include "src/core/error.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace cwd::stats {

namespace {

// The continued fraction of the regularised incomplete beta function, evaluated by the modified
// Lentz method; converges quickly for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEps = 1e-16;
  auto guard = [](double v) { return std::fabs(v) < kTiny ? kTiny : v; };
  double c = 1.0;
  double d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
  double h = d;
  for (int m = 1; m <= 1000; ++m) {
    const double m2 = 2.0 * m;
    // Even step.
    double num = m * (b - m) * x / ((a - 1.0 + m2) * (a + m2));
    d = 1.0 / guard(1.0 + num * d);
    c = guard(1.0 + num / c);
    h *= d * c;
    // Odd step.
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2));
    d = 1.0 / guard(1.0 + num * d);
    c = guard(1.0 + num / c);
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < kEps) break;
  }
  return h;
}

// I_x(a, b), the regularised incomplete beta function, for a, b > 0 and 0 <= x <= 1.
double incomplete_beta(double a, double b, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
  return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

void check_df(double df) {
  if (!(df > 0.0) || !std::isfinite(df)) {
    throw Error(fmt::format("t distribution: degrees of freedom {} out of range (valid: > 0)", df));
  }
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Sample variance (n − 1); only called with n >= 2.
double variance_of(const std::vector<double>& v, double mean) {
  double s = 0;
  for (double x : v) s += (x - mean) * (x - mean);
  return s / static_cast<double>(v.size() - 1);
}

void check_level(double level) {
  if (!(level > 0.0 && level < 1.0)) {
    throw Error(fmt::format("confidence level {} out of range (valid: between 0 and 1, e.g. 0.95)", level));
  }
}

}  // namespace

double t_two_sided_p(double t, double df) {
  check_df(df);
  if (std::isnan(t)) throw Error("t distribution: t is NaN");
  if (std::isinf(t)) return 0.0;
  return incomplete_beta(0.5 * df, 0.5, df / (df + t * t));
}

double t_quantile(double q, double df) {
  check_df(df);
  if (!(q > 0.0 && q < 1.0)) throw Error(fmt::format("t quantile: probability {} out of range (valid: 0 < q < 1)", q));
  if (q == 0.5) return 0.0;
  if (q < 0.5) return -t_quantile(1.0 - q, df);
  // Solve t_two_sided_p(t) = 2 (1 − q) for t > 0; the p-value falls as t grows.
  const double target = 2.0 * (1.0 - q);
  double lo = 0.0;
  double hi = 1.0;
  while (t_two_sided_p(hi, df) > target) {
    lo = hi;
    hi *= 2.0;
    if (hi > 1e300) return std::numeric_limits<double>::infinity();
  }
  for (int i = 0; i < 200 && hi - lo > 1e-15 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (t_two_sided_p(mid, df) > target) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}

Sample describe(const std::vector<double>& values, double level) {
  check_level(level);
  if (values.empty()) throw Error("statistics of an empty sample: there are no values to summarise");
  Sample s;
  s.n = static_cast<int64_t>(values.size());
  s.mean = mean_of(values);
  if (s.n < 2) return s;
  s.std = std::sqrt(variance_of(values, s.mean));
  const double half = t_quantile(0.5 + 0.5 * level, static_cast<double>(s.n - 1)) * *s.std /
                      std::sqrt(static_cast<double>(s.n));
  s.ci = Interval{s.mean - half, s.mean + half};
  return s;
}

Difference welch(const std::vector<double>& a, const std::vector<double>& b, double level) {
  check_level(level);
  if (a.empty() || b.empty()) throw Error("Welch's t-test of an empty sample: both groups need values");
  Difference d;
  const double ma = mean_of(a);
  const double mb = mean_of(b);
  d.diff = ma - mb;
  if (a.size() < 2 || b.size() < 2) return d;
  const double va = variance_of(a, ma) / static_cast<double>(a.size());
  const double vb = variance_of(b, mb) / static_cast<double>(b.size());
  const double se2 = va + vb;
  if (!(se2 > 0.0)) return d;
  const double se = std::sqrt(se2);
  const double df = se2 * se2 / (va * va / static_cast<double>(a.size() - 1) +
                                 vb * vb / static_cast<double>(b.size() - 1));
  d.df = df;
  d.t = d.diff / se;
  d.p = t_two_sided_p(*d.t, df);
  const double half = t_quantile(0.5 + 0.5 * level, df) * se;
  d.ci = Interval{d.diff - half, d.diff + half};
  return d;
}

std::optional<double> kendall_tau(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) {
    throw Error(fmt::format("Kendall's tau of {} and {} values: the two rankings need the same items", x.size(), y.size()));
  }
  double concordant_minus_discordant = 0, untied_x = 0, untied_y = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    for (size_t j = i + 1; j < x.size(); ++j) {
      const double dx = x[i] - x[j];
      const double dy = y[i] - y[j];
      const int sx = (dx > 0) - (dx < 0);
      const int sy = (dy > 0) - (dy < 0);
      concordant_minus_discordant += sx * sy;
      untied_x += sx != 0;
      untied_y += sy != 0;
    }
  }
  if (untied_x == 0 || untied_y == 0) return std::nullopt;
  return concordant_minus_discordant / std::sqrt(untied_x * untied_y);
}

std::optional<double> gap_fraction(double method, double student, double teacher) {
  if (!(teacher > student)) return std::nullopt;
  return (method - student) / (teacher - student);
}

}  // namespace cwd::stats
