#!/usr/bin/env bash
# ctest cluster.slurm_smoke: the smoke comparison run as Slurm jobs reproduces the same
# comparison run locally, exactly. It starts a one-node Slurm on this machine
# (scripts/slurm/local_cluster.sh), writes the plan (compare --preset smoke --seeds 2 --plan: the
# teacher, then two cohort units that run at once, sharing the folder), submits it
# (scripts/slurm/submit.sh --wait: the teacher job, the other units as one array job after it,
# the table job last; one CPU and --threads 1 per unit), runs the same preset locally with
# --threads 1, and compares every run record's eval.miou by name. The cluster is stopped at
# the end, whatever happened.
# Usage: tests/cluster/slurm_smoke.sh CWD_BENCH_BINARY WORK_DIR
# Exit status: 0 every mIoU equal; 1 a difference, a missing record or a failed job; 77 Slurm
# cannot start on this machine (no packages, not root, a sandbox without the privileges): the
# reason is printed, and ctest reports the test as skipped.
# CWD_SLURM_TEST_TIMEOUT (seconds, default 1500) bounds the wait for the jobs.
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 CWD_BENCH_BINARY WORK_DIR" >&2; exit 2; }
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
work="$2"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cluster="$repo/scripts/slurm/local_cluster.sh"
state="$work/slurm-state"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

stop_cluster() {
  "$cluster" stop "$state" > /dev/null 2>&1 || true
}

# A cluster left by an earlier run that was killed goes before its state folder does.
[[ -d "$state" ]] && stop_cluster
rm -rf "$work"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
state="$work/slurm-state"
trap stop_cluster EXIT
trap 'exit 143' TERM INT # so that the EXIT trap stops the cluster

start_cluster() {
  local env_line rc=0
  env_line="$("$cluster" start "$state" 2> "$work/cluster-start.log")" || rc=$?
  cat "$work/cluster-start.log" >&2
  if ((rc == 77)); then
    echo "SKIP: $(grep 'cannot start' "$work/cluster-start.log" | tail -n 1)" >&2
    exit 77
  fi
  ((rc == 0)) || fail "local_cluster.sh start exited $rc"
  eval "$env_line" # SLURM_CONF
  export SLURM_CONF
}

# Compares every run record of LOCAL_DIR (a JSON with name and eval.miou) with the record of
# the same name in CLUSTER_DIR; prints a table; exit 1 on any difference or missing record.
compare_records() {
  python3 - "$1" "$2" << 'EOF'
import glob, json, os, sys

def runs(folder):
    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        try:
            rec = json.load(open(path))
        except ValueError:
            continue
        ev = rec.get("eval") if isinstance(rec, dict) else None
        if isinstance(ev, dict) and isinstance(ev.get("miou"), (int, float)) and "name" in rec:
            out[rec["name"]] = ev["miou"]
    return out

local, cluster = runs(sys.argv[1]), runs(sys.argv[2])
if not local:
    print(f"no run records in {sys.argv[1]}")
    sys.exit(1)
bad = 0
width = max(len(n) for n in local)
print(f"{'run':<{width}}  {'local mIoU':>20}  {'cluster mIoU':>20}")
for name, miou in sorted(local.items()):
    other = cluster.get(name)
    same = other is not None and other == miou
    bad += not same
    shown = "missing" if other is None else repr(other)
    print(f"{name:<{width}}  {miou!r:>20}  {shown:>20}  {'' if same else 'DIFFERENT'}")
extra = sorted(set(cluster) - set(local))
if extra:
    print(f"note: runs only on the cluster: {', '.join(extra)}")
print(f"{len(local) - bad} of {len(local)} runs equal")
sys.exit(1 if bad else 0)
EOF
}

start_cluster

"$bin" compare --preset smoke --seeds 2 --out "$work/cluster" --plan "$work/plan.json" > "$work/plan.log" 2>&1 ||
  { cat "$work/plan.log" >&2; fail "cwd-bench could not write the plan"; }

timeout "${CWD_SLURM_TEST_TIMEOUT:-1500}" env CWD_SLURM_POLL=2 "$repo/scripts/slurm/submit.sh" \
  --plan "$work/plan.json" --exe "$bin" --cpus-per-unit 1 --wait ||
  fail "the Slurm jobs did not all succeed (exit $?); logs in $work/cluster/slurm/"
[[ -f "$work/cluster/table.json" ]] || fail "the table job did not write $work/cluster/table.json"

"$bin" compare --preset smoke --seeds 2 --out "$work/local" --threads 1 --no-report > "$work/local.log" 2>&1 ||
  { tail -n 20 "$work/local.log" >&2; fail "the local comparison failed"; }

compare_records "$work/local" "$work/cluster" || fail "the cluster runs differ from the local runs"
echo "PASS: the Slurm run reproduces the local run exactly"
