#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the default comparison (quick preset:
# teacher, baseline student and the six losses on the logit map; ~15-20 min on 2 CPU cores).
# Extra arguments go to `cwd-bench compare`, e.g. scripts/run.sh --preset full
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
./build/cwd-bench compare --preset quick "$@"
