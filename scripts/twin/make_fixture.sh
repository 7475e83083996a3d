#!/usr/bin/env bash
# Rewrites tests/fixtures/twin/ from the plain-PyTorch twin: the smoke preset's scenes are exported
# by cwd-bench, the twin trains on the exported PNGs. Run after a deliberate change to the network,
# the recipe or the data stream, and commit the result with that change.
# Usage: scripts/twin/make_fixture.sh [build-dir]   (needs python3-torch, python3-pil)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR="${1:-build}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$BUILD_DIR/cwd-bench" data export --preset smoke --out "$tmp/scenes"
rm -rf tests/fixtures/twin
/usr/bin/python3 scripts/twin/twin.py fixture --data "$tmp/scenes" --out tests/fixtures/twin \
  --depth 18 --width 0.0625 --init torch --seed 7 --iters 120 --batch 4 --lr 0.02 --threads 1
