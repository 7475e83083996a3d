#!/usr/bin/env bash
# The training step of cwd-bench against plain PyTorch, each side run twice, interleaved
# (C++, Python, C++, Python) so that a noisy machine hits both alike; then a markdown table.
#
#   bash scripts/bench_step.sh OUT_DIR [extra flags for both sides, e.g. --steps 40 --threads 2]
#
# CWD_BENCH: the binary (default build/cwd-bench); PYTHON: the interpreter with Debian's
# python3-torch (default /usr/bin/python3). CPP_FLAGS: flags for the C++ side only (e.g.
# "--zero-grad none" to measure a variant). Writes OUT_DIR/{cpp,py}-{1,2}.json, OUT_DIR/loadavg.txt
# and OUT_DIR/table.md.
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: bash scripts/bench_step.sh OUT_DIR [flags for both sides]" >&2
  exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="$1"
shift
exe="${CWD_BENCH:-$root/build/cwd-bench}"
py="${PYTHON:-/usr/bin/python3}"
read -r -a cpp_flags <<< "${CPP_FLAGS:-}"
mkdir -p "$out"
: > "$out/loadavg.txt"
for run in 1 2; do
  echo "cpp-$run start $(cat /proc/loadavg)" >> "$out/loadavg.txt"
  "$exe" bench-step --out "$out/cpp-$run.json" "$@" "${cpp_flags[@]}"
  echo "py-$run start $(cat /proc/loadavg)" >> "$out/loadavg.txt"
  "$py" "$root/scripts/twin/bench_step.py" --out "$out/py-$run.json" "$@"
done
echo "end $(cat /proc/loadavg)" >> "$out/loadavg.txt"
"$py" "$root/scripts/bench_step_table.py" --cpp "$out/cpp-1.json" "$out/cpp-2.json" \
  --py "$out/py-1.json" "$out/py-2.json" | tee "$out/table.md"
