#!/usr/bin/env bash
# The unit tests under AddressSanitizer and UndefinedBehaviorSanitizer (cwd-bench's own code is
# instrumented; libtorch is not). Builds a second tree (default build-asan) with
# -DCWD_BENCH_SANITIZE=ON and runs the test binary directly, leaving out the tests that drive the
# cwd-bench binary or train end to end (filter below; they run in the normal build). Any report
# stops the run with a non-zero exit. docs/reliability.md.
# Usage: scripts/sanitize.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build-asan}"
scripts/setup.sh build >/dev/null  # the packages (and the normal build, which CI has anyway)
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCWD_BENCH_SANITIZE=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target cwd_bench_tests
# Leaks: libtorch keeps its registries for the process's life, which LeakSanitizer would list.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
FILTER="${SANITIZE_FILTER:--Cli.*:Twin.*:Pretrain.*:Trainer.*:Cohort.*:StepBench.*}"
( cd "$BUILD_DIR" && ./cwd_bench_tests --gtest_filter="$FILTER" --gtest_brief=1 )
