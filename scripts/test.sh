#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser test (ctest -L browser) opens the report in headless Chromium from Python.
EXTRA_PACKAGES="chromium python3" scripts/setup.sh build
ctest --test-dir build --output-on-failure -j"$(nproc)"
