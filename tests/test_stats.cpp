// The table's statistics: t distribution, intervals of a mean, Welch's t-test. Golden values come
// from SciPy and mpmath (scripts/stats_reference.py -> tests/fixtures/stats_golden.json); a few have closed
// forms checked by hand.

#include "src/core/json_io.h"
#include "src/core/stats.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>

#include <cmath>

namespace {

using cwd::testing::error_of;
namespace st = cwd::stats;

const nlohmann::json& golden() {
  static const nlohmann::json g = cwd::read_json(std::string(CWD_SOURCE_DIR) + "/tests/fixtures/stats_golden.json");
  return g;
}

std::vector<double> values_of(const nlohmann::json& j) { return j.get<std::vector<double>>(); }

TEST(Stats, ClosedFormsForOneAndTwoDegreesOfFreedom) {
  const double pi = std::acos(-1.0);
  // df = 1 is the Cauchy distribution: quantile tan(pi (q - 1/2)), two-sided p 1 - 2 atan|t| / pi.
  EXPECT_NEAR(st::t_quantile(0.975, 1), std::tan(pi * 0.475), 1e-9);
  EXPECT_NEAR(st::t_two_sided_p(3.0, 1), 1.0 - 2.0 * std::atan(3.0) / pi, 1e-13);
  // df = 2: P(|T| >= t) = 1 - t / sqrt(2 + t^2), and the q-quantile is a sqrt(2 / (1 - a^2)) with
  // a = 2q - 1.
  EXPECT_NEAR(st::t_two_sided_p(1.5, 2), 1.0 - 1.5 / std::sqrt(2.0 + 2.25), 1e-13);
  const double a = 2 * 0.975 - 1;
  EXPECT_NEAR(st::t_quantile(0.975, 2), a * std::sqrt(2.0 / (1.0 - a * a)), 1e-9);
  EXPECT_DOUBLE_EQ(st::t_quantile(0.5, 7), 0.0);
  EXPECT_DOUBLE_EQ(st::t_two_sided_p(0.0, 7), 1.0);
}

TEST(Stats, TQuantilesMatchScipy) {
  for (const auto& c : golden().at("t_quantile")) {
    const double want = c.at("t").get<double>();
    EXPECT_NEAR(st::t_quantile(c.at("q").get<double>(), c.at("df").get<double>()), want, 1e-12 * std::max(1.0, std::fabs(want)))
        << c.dump();
  }
}

TEST(Stats, TwoSidedPValuesMatchScipy) {
  for (const auto& c : golden().at("t_two_sided_p")) {
    const double want = c.at("p").get<double>();
    const double got = st::t_two_sided_p(c.at("t").get<double>(), c.at("df").get<double>());
    EXPECT_NEAR(got, want, 1e-14 + 1e-12 * want) << c.dump();
  }
}

TEST(Stats, MeanIntervalsMatchScipy) {
  for (const auto& c : golden().at("mean_ci95")) {
    const auto s = st::describe(values_of(c.at("values")));
    EXPECT_NEAR(s.mean, c.at("mean").get<double>(), 1e-12);
    ASSERT_TRUE(s.std.has_value());
    EXPECT_NEAR(*s.std, c.at("std").get<double>(), 1e-12);
    ASSERT_TRUE(s.ci.has_value());
    EXPECT_NEAR(s.ci->low, c.at("ci")[0].get<double>(), 1e-9) << c.dump();
    EXPECT_NEAR(s.ci->high, c.at("ci")[1].get<double>(), 1e-9) << c.dump();
  }
}

TEST(Stats, WelchMatchesScipy) {
  for (const auto& c : golden().at("welch95")) {
    const auto d = st::welch(values_of(c.at("a")), values_of(c.at("b")));
    EXPECT_NEAR(d.diff, c.at("diff").get<double>(), 1e-12);
    ASSERT_TRUE(d.t && d.p && d.df && d.ci) << c.dump();
    EXPECT_NEAR(*d.t, c.at("t").get<double>(), 1e-9);
    EXPECT_NEAR(*d.df, c.at("df").get<double>(), 1e-9);
    EXPECT_NEAR(*d.p, c.at("p").get<double>(), 1e-10);
    EXPECT_NEAR(d.ci->low, c.at("ci")[0].get<double>(), 1e-8);
    EXPECT_NEAR(d.ci->high, c.at("ci")[1].get<double>(), 1e-8);
  }
}

TEST(Stats, SpreadIsUnknownWithOneValueOrNoVariance) {
  const auto one = st::describe({14.5});
  EXPECT_DOUBLE_EQ(one.mean, 14.5);
  EXPECT_EQ(one.n, 1);
  EXPECT_FALSE(one.std.has_value());
  EXPECT_FALSE(one.ci.has_value());

  const auto single = st::welch({20.0, 21.0}, {14.0});
  EXPECT_DOUBLE_EQ(single.diff, 6.5);
  EXPECT_FALSE(single.p.has_value());
  EXPECT_FALSE(single.ci.has_value());

  const auto flat = st::welch({2.0, 2.0}, {1.0, 1.0});
  EXPECT_DOUBLE_EQ(flat.diff, 1.0);
  EXPECT_FALSE(flat.p.has_value());
}

TEST(Stats, KendallTauMatchesScipy) {
  for (const auto& c : golden().at("kendall_tau_b")) {
    const auto tau = st::kendall_tau(values_of(c.at("x")), values_of(c.at("y")));
    ASSERT_TRUE(tau.has_value()) << c.dump();
    EXPECT_NEAR(*tau, c.at("tau").get<double>(), 1e-12) << c.dump();
  }
  EXPECT_FALSE(st::kendall_tau({1.0}, {2.0}).has_value());
  EXPECT_FALSE(st::kendall_tau({1.0, 1.0}, {2.0, 3.0}).has_value());
  EXPECT_EQ(error_of([] { st::kendall_tau({1.0, 2.0}, {1.0}); }),
            "Kendall's tau of 2 and 1 values: the two rankings need the same items");
}

TEST(Stats, GapFraction) {
  EXPECT_DOUBLE_EQ(*st::gap_fraction(20.0, 10.0, 30.0), 0.5);
  EXPECT_DOUBLE_EQ(*st::gap_fraction(5.0, 10.0, 30.0), -0.25);
  EXPECT_FALSE(st::gap_fraction(20.0, 30.0, 30.0).has_value());
}

TEST(Stats, ErrorsNameTheProblem) {
  EXPECT_EQ(error_of([] { st::describe({}); }), "statistics of an empty sample: there are no values to summarise");
  EXPECT_EQ(error_of([] { st::describe({1.0, 2.0}, 95.0); }),
            "confidence level 95 out of range (valid: between 0 and 1, e.g. 0.95)");
  EXPECT_EQ(error_of([] { st::t_quantile(0.5, 0.0); }),
            "t distribution: degrees of freedom 0 out of range (valid: > 0)");
  EXPECT_EQ(error_of([] { st::t_quantile(1.0, 3.0); }), "t quantile: probability 1 out of range (valid: 0 < q < 1)");
}

}  // namespace
