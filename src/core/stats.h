#pragma once
// Small-sample statistics for the comparison table: Student's t distribution, confidence
// intervals of a mean, and Welch's unequal-variance t-test (docs/statistics.md).

#include <cstdint>
#include <optional>
#include <vector>

namespace cwd::stats {

/// P(|T| >= |t|) for Student's t with df > 0 degrees of freedom (df need not be an integer).
double t_two_sided_p(double t, double df);

/// The q-quantile of Student's t with df > 0 degrees of freedom, 0 < q < 1.
double t_quantile(double q, double df);

/// A closed interval.
struct Interval {
  double low = 0;
  double high = 0;
  bool excludes_zero() const { return low > 0 || high < 0; }
};

/// One sample: mean, sample standard deviation (n − 1) and the t interval of the mean. The
/// spread is unknown (nullopt) for n < 2.
struct Sample {
  double mean = 0;
  int64_t n = 0;
  std::optional<double> std;
  std::optional<Interval> ci;
};

/// Summarises values; `level` is the interval's confidence (0.95 for a 95% interval).
/// Throws cwd::Error for an empty sample or a level outside (0, 1).
Sample describe(const std::vector<double>& values, double level = 0.95);

/// Welch's comparison of two means: a − b with its interval, the Welch–Satterthwaite degrees of
/// freedom, t and the two-sided p-value. Everything but the difference is unknown (nullopt) when
/// either sample has n < 2, or when both have zero spread (the test is undefined there).
struct Difference {
  double diff = 0;
  std::optional<double> df;
  std::optional<double> t;
  std::optional<double> p;
  std::optional<Interval> ci;
};

Difference welch(const std::vector<double>& a, const std::vector<double>& b, double level = 0.95);

/// Kendall's rank correlation τ-b of paired values (ties counted as neither concordant nor
/// discordant, and corrected for, as SciPy's kendalltau). Unknown for fewer than two pairs or when
/// either side is all ties. Throws cwd::Error when the sizes differ.
std::optional<double> kendall_tau(const std::vector<double>& x, const std::vector<double>& y);

/// The fraction of the teacher–student gap a method recovers: (method − student) / (teacher −
/// student). Unknown when the teacher does not lead the student.
std::optional<double> gap_fraction(double method, double student, double teacher);

}  // namespace cwd::stats
