#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser test (ctest -L browser) opens the report in headless Chromium from Python; the
# cluster test (ctest -L cluster) starts a one-node Slurm from slurm-wlm and munge; the Twin tests
# compare with the plain-PyTorch twin (python3-torch) run on this machine.
EXTRA_PACKAGES="chromium python3 python3-torch python3-pil slurm-wlm munge" scripts/setup.sh build
ctest --test-dir build --output-on-failure -j"$(nproc)"
