#!/usr/bin/env bash
# One training run on 1 process against 2 processes (c10d, Gloo over 127.0.0.1) on this machine:
# the quick preset's student (PSPNet-R18 ×0.25, batch 8 of 64×128, from scratch), 40 iterations,
# each configuration run twice, interleaved, so that a noisy machine hits all alike:
#   1p-1t        one process, 1 thread
#   2p-1t        two processes of 1 thread, batch split 4 + 4
#   2p-1t-syncbn the same with --sync-bn
#   1p-2t        one process, 2 threads (the same cores as 2p-1t)
# images/s is the record's train.images_per_s (global batch × iterations / training time; the
# evaluation is not timed). Writes OUT_DIR/<config>-<run>/ (the records), OUT_DIR/c10d.json and
# OUT_DIR/table.md.
#   bash scripts/bench_c10d.sh OUT_DIR [--iters N]
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: bash scripts/bench_c10d.sh OUT_DIR [--iters N]" >&2; exit 2; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$1"
shift
iters=40
if [[ "${1:-}" == "--iters" ]]; then iters="$2"; fi
exe="${CWD_BENCH:-$root/build/cwd-bench}"
mkdir -p "$out"
run=(train --preset quick --pretrained none --iters "$iters" --batch 8 --val-size 16 --checkpoint-every 100000
     --log-every 10 --workers 1 --name run)
declare -A flags=([1p-1t]="--threads 1" [2p-1t]="--threads 1 --nproc 2" [2p-1t-syncbn]="--threads 1 --nproc 2 --sync-bn"
                  [1p-2t]="--threads 2")
: > "$out/loadavg.txt"
for rep in 1 2; do
  for config in 1p-1t 2p-1t 2p-1t-syncbn 1p-2t; do
    dir="$out/$config-$rep"
    rm -rf "$dir"
    echo "$config-$rep start $(cat /proc/loadavg)" >> "$out/loadavg.txt"
    # shellcheck disable=SC2086
    "$exe" "${run[@]}" ${flags[$config]} --out "$dir" 2> "$dir.log" || { cat "$dir.log" >&2; exit 1; }
  done
done
python3 - "$out" << 'PY'
import json, os, statistics, sys
out = sys.argv[1]
configs = ["1p-1t", "2p-1t", "2p-1t-syncbn", "1p-2t"]
rows = {}
for c in configs:
    rates = [json.load(open(os.path.join(out, f"{c}-{r}", "run.json")))["train"]["images_per_s"] for r in (1, 2)]
    rows[c] = {"images_per_s": rates, "mean": statistics.mean(rates)}
base = rows["1p-1t"]["mean"]
for c in configs:
    rows[c]["vs_1p_1t"] = rows[c]["mean"] / base
json.dump({"configs": rows, "machine_cores": os.cpu_count()}, open(os.path.join(out, "c10d.json"), "w"), indent=2)
with open(os.path.join(out, "table.md"), "w") as f:
    f.write("| configuration | images/s (run 1, run 2) | mean | vs 1 process, 1 thread |\n|---|---|---|---|\n")
    for c in configs:
        r = rows[c]
        f.write(f"| {c} | {r['images_per_s'][0]:.1f}, {r['images_per_s'][1]:.1f} | {r['mean']:.1f} | {r['vs_1p_1t']:.2f}x |\n")
print(open(os.path.join(out, "table.md")).read())
PY
