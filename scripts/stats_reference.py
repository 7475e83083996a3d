#!/usr/bin/env python3
"""Golden values for cwd-bench's statistics (src/core/stats.cpp), computed with SciPy.

    python3 scripts/stats_reference.py > tests/fixtures/stats_golden.json

Needs Debian's python3-scipy (and python3-mpmath, which it pulls in). The C++ tests
(tests/test_stats.cpp) compare their own results with these: t quantiles and two-sided p-values,
95% intervals of a mean, Welch's t-test and Kendall's tau-b. The quantiles and p-values are computed at 30 digits
with mpmath, because scipy's t.ppf is off by up to ~5e-10 in probability at some points (e.g.
q = 0.9, df = 29); intervals and Welch's test come from scipy.
"""
import json
import math
import sys

import mpmath
import scipy
from scipy import stats

mpmath.mp.dps = 30


def t_two_sided_p(t, df):
    """P(|T| >= |t|) = I_{df/(df+t^2)}(df/2, 1/2), at 30 digits."""
    t, df = mpmath.mpf(t), mpmath.mpf(df)
    return mpmath.betainc(df / 2, mpmath.mpf(1) / 2, 0, df / (df + t * t), regularized=True)


def t_quantile(q, df):
    """The q-quantile of Student's t, by root finding from scipy's value, at 30 digits."""
    q = mpmath.mpf(q)
    cdf = lambda t: (1 - t_two_sided_p(t, df) / 2) if t >= 0 else t_two_sided_p(t, df) / 2  # noqa: E731
    return mpmath.findroot(lambda t: cdf(t) - q, mpmath.mpf(float(stats.t.ppf(float(q), df))))


def mean_ci(values, level=0.95):
    n = len(values)
    mean = sum(values) / n
    sd = stats.tstd(values)  # ddof = 1
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return {"values": values, "mean": mean, "std": sd, "ci": [mean - half, mean + half]}


def welch(a, b, level=0.95):
    res = stats.ttest_ind(a, b, equal_var=False)
    va = stats.tvar(a) / len(a)
    vb = stats.tvar(b) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    diff = sum(a) / len(a) - sum(b) / len(b)
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return {"a": a, "b": b, "diff": diff, "t": float(res.statistic), "p": float(res.pvalue), "df": df,
            "ci": [diff - half, diff + half]}


def main():
    quantiles = [{"q": q, "df": df, "t": float(t_quantile(q, df))}
                 for q in (0.975, 0.995, 0.9, 0.6, 0.025)
                 for df in (1, 2, 3, 4, 5.5, 10, 29, 1000)]
    pvalues = [{"t": t, "df": df, "p": float(t_two_sided_p(t, df))}
               for t in (0.0, 0.1, 1.0, 2.0, -2.5, 4.303, 10.0, 40.0)
               for df in (1, 2, 2.7, 4, 12.3, 100)]
    samples = [mean_ci([14.23, 15.61, 13.99]), mean_ci([21.71, 20.37, 22.51]), mean_ci([1.0, 2.0]),
               mean_ci([60.0, 62.0, 61.0, 65.0, 59.5])]
    tests = [welch([21.71, 20.37, 22.51], [14.23, 15.61, 13.99]),
             welch([15.0, 16.5, 14.2], [14.23, 15.61, 13.99]),
             welch([1.0, 2.0], [1.5, 2.5, 3.5, 4.5]),
             welch([70.0, 72.0], [60.0, 62.0])]
    pairs = [([1, 2, 3, 4], [1, 2, 3, 4]), ([1, 2, 3, 4], [4, 3, 2, 1]),
             ([7.87, 14.67, 15.87, 16.36, 8.20, 21.53], [72.32, 71.74, 69.75, 71.41, 70.66, 74.87]),
             ([1, 1, 2, 3, 5], [2, 1, 1, 4, 4]), ([3.0, 1.0, 2.0], [1.0, 2.0, 3.0])]
    taus = [{"x": x, "y": y, "tau": float(stats.kendalltau(x, y).statistic)} for x, y in pairs]
    json.dump({"source": f"scipy {scipy.__version__}, mpmath {mpmath.__version__} (scripts/stats_reference.py)",
               "t_quantile": quantiles, "t_two_sided_p": pvalues, "mean_ci95": samples,
               "welch95": tests, "kendall_tau_b": taus}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
