#!/usr/bin/env bash
# Fuzzes the readers of files a user may get from elsewhere (weights, checkpoints, run records,
# IDX files, split lists) for FUZZ_SECONDS seconds in all (default 60, split evenly over the 6
# targets), starting from the seed corpus tests/fuzz/corpus. Exits non-zero when a reader let
# anything but cwd::Error escape, crashed or hung; the inputs land in build/fuzz-artifacts.
# Usage: scripts/fuzz.sh [more cwd_bench_fuzz flags, e.g. --seed 7 --save-last]  (docs/fuzzing.md)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${FUZZ_BIN:-build/cwd_bench_fuzz}"
if [[ ! -x "$bin" ]]; then
  echo "fuzz.sh: $bin not found; build it first (cmake --build build --target cwd_bench_fuzz)" >&2
  exit 2
fi
exec "$bin" --target all --corpus tests/fuzz/corpus --seconds "${FUZZ_SECONDS:-60}" \
  --artifacts build/fuzz-artifacts "$@"
