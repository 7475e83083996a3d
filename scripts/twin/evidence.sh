#!/usr/bin/env bash
# Does cwd-bench's recipe learn as well as a plain PyTorch loop? Trains the quick preset's student
# network (PSPNet-R18 x0.25, 800 iterations, batch 8, lr 0.02, flips) with cwd-bench and with the
# twin (scripts/twin/twin.py: PyTorch's default init, sampling with replacement), on two folder
# datasets: fashion-scenes exported by cwd-bench, and shape-scenes (scripts/make_shapes.py).
# Then writes OUT/summary.md and OUT/summary.json (scripts/twin/summarise.py).
#
# Usage: scripts/twin/evidence.sh OUT [SEEDS] [INITS]
#   SEEDS default "0 1 2"; INITS (cwd-bench's --init values to run) default "torch".
# Finished runs (their record exists) are skipped, so the script resumes. Two runs at a time,
# one thread each. Needs build/cwd-bench, python3-torch, python3-numpy, python3-pil.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="$1"
SEEDS="${2:-0 1 2}"
INITS="${3:-torch}"
ITERS="${ITERS:-800}"
mkdir -p "$OUT/data"
[ -d "$OUT/data/fashion-scenes" ] || ./build/cwd-bench data export --preset quick --out "$OUT/data/fashion-scenes"
[ -d "$OUT/data/shapes" ] || /usr/bin/python3 scripts/make_shapes.py --out "$OUT/data/shapes"

jobs="$OUT/jobs.txt"
: >"$jobs"
for ds in fashion-scenes shapes; do
  classes=$(/usr/bin/python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['num_classes'])" "$OUT/data/$ds/dataset.json")
  data="--data folder --data-root $OUT/data/$ds --num-classes $classes"
  for seed in $SEEDS; do
    for init in $INITS; do
      [ -f "$OUT/$ds/cwd-$init-s$seed.json" ] || echo "./build/cwd-bench train --preset quick --role student --iters $ITERS --init $init --seed $seed $data --threads 1 --workers 1 --out $OUT/$ds --name cwd-$init-s$seed 2>$OUT/$ds-cwd-$init-s$seed.log" >>"$jobs"
    done
    [ -f "$OUT/$ds/twin-s$seed.json" ] || echo "/usr/bin/python3 scripts/twin/twin.py train --data $OUT/data/$ds --width 0.25 --iters $ITERS --init torch --stream torch --seed $seed --threads 1 --out $OUT/$ds/twin-s$seed.json 2>$OUT/$ds-twin-s$seed.log" >>"$jobs"
  done
  mkdir -p "$OUT/$ds"
done
echo "evidence: $(wc -l <"$jobs") runs to do" >&2
tr '\n' '\0' <"$jobs" | xargs -0 -r -P 2 -I{} bash -c '{}'
/usr/bin/python3 scripts/twin/summarise.py "$OUT"
