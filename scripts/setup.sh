#!/usr/bin/env bash
# Installs what cwd-bench needs from Debian 12 packages (only what is missing) and builds it.
# Usage: scripts/setup.sh [build-dir]   (default: build); EXTRA_PACKAGES="a b" installs more.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"

# libopenblas0-pthread takes over the libblas.so.3 that Debian's libtorch calls (through
# update-alternatives): the reference BLAS it replaces is ~30x slower (docs/blas.md).
PACKAGES=(build-essential cmake ccache libtorch-dev libopenblas0-pthread libcli11-dev
          nlohmann-json3-dev libfmt-dev libopencv-dev zlib1g-dev googletest libgtest-dev
          dataset-fashion-mnist pkg-config libplplot-dev plplot-driver-cairo libgloo-dev ${EXTRA_PACKAGES:-})
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

JOBS="$(nproc)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS"
