#!/usr/bin/python3
"""Grid speed of a comparison: separate runs against cohorts, and --jobs splits of the cores.

Runs `cwd-bench compare` on the quick preset with a given teacher (the students' part only):

  separate   every student its own run, its own teacher pass (--no-cohorts): what compare did
             before cohorts existed
  cohort     the seed's students as one cohort (the default)
  jobs-J     SPLIT_SEEDS seeds, SPLIT_ITERS student iterations, --jobs J (J = 1, 2): which split
             of the cores trains a multi-seed grid fastest

and writes OUT/grid.json with the command wall times, the training times from the records, and
the grid cost against its floor:

  floor = students x (one baseline student's training time, run alone)
          + iterations x (one teacher pass, from the separate distilled runs' records)

    /usr/bin/python3 scripts/bench_grid.py --out /tmp/grid --teacher results/quick/teacher.json
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import time


def run(exe, args, out_dir, log):
    cmd = [exe, "compare", "--preset", "quick", *args, "--out", out_dir]
    t0 = time.perf_counter()
    with open(log, "w") as f:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=f)
    return time.perf_counter() - t0, " ".join(cmd)


def records(out_dir):
    out = []
    for path in sorted(glob.glob(os.path.join(out_dir, "*.json"))):
        with open(path) as f:
            r = json.load(f)
        if r.get("schema", "").startswith("cwd-bench/run/") and r["role"] == "student":
            out.append(r)
    return out


def training_seconds(recs):
    """Training time of the students: the cohorts' times (each cohort once), or the runs' own."""
    cohorts = {}
    for r in recs:
        c = r["train"].get("cohort")
        if c and len(c["members"]) > 1:
            cohorts[tuple(c["members"])] = c["wall_s"]
        else:
            cohorts[(r["name"],)] = r["train"]["wall_s"]
    return sum(cohorts.values())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", default="build/cwd-bench")
    ap.add_argument("--out", required=True)
    ap.add_argument("--teacher", default="results/quick/teacher.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--split-seeds", type=int, default=2)
    ap.add_argument("--split-iters", type=int, default=100)
    ap.add_argument("--skip", default="", help="comma-separated variants to leave out")
    ap.add_argument("--separate-from", default="",
                    help="grid.json of an earlier run (same session) whose 'separate' variant to reuse")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    skip = set(filter(None, a.skip.split(",")))
    base = ["--teacher", a.teacher, "--threads", str(a.threads)]
    variants = {
        "separate": base + ["--no-cohorts"],
        "cohort": base,
    }
    for jobs in (1, 2):
        variants[f"jobs-{jobs}"] = base + ["--seeds", str(a.split_seeds), "--student-iters",
                                           str(a.split_iters), "--jobs", str(jobs)]
    result = {"threads": a.threads, "teacher": a.teacher, "loadavg_start": open("/proc/loadavg").read().split()[:3],
              "variants": {}}
    for name, args in variants.items():
        if name in skip:
            continue
        out_dir = os.path.join(a.out, name)
        wall, cmd = run(a.exe, args, out_dir, os.path.join(a.out, name + ".log"))
        recs = records(out_dir)
        v = {"command": cmd, "wall_s": wall, "students": len(recs), "training_s": training_seconds(recs),
             "peak_bytes": max((r["train"]["cohort"]["peak_bytes"] for r in recs if r["train"].get("cohort")), default=0),
             "estimated_bytes": max((r["train"]["cohort"].get("estimated_bytes", 0) for r in recs
                                     if r["train"].get("cohort")), default=0),
             "threads_per_unit": sorted({r["threads"] for r in recs})}
        if name == "separate":
            baseline = [r for r in recs if r["config"]["loss"] is None]
            teacher_ms = [r["train"]["teacher_ms_per_iter"] for r in recs if r["train"].get("teacher_ms_per_iter")]
            v["baseline_training_s"] = baseline[0]["train"]["wall_s"]
            v["teacher_ms_per_iter"] = statistics.median(teacher_ms)
            v["iterations"] = baseline[0]["train"]["iterations"]
        result["variants"][name] = v
        print(f"{name}: {wall:.1f} s wall, {v['training_s']:.1f} s training, {len(recs)} students", flush=True)
    vs = result["variants"]
    if a.separate_from and "separate" not in vs:
        with open(a.separate_from) as f:
            vs["separate"] = json.load(f)["variants"]["separate"]
            vs["separate"]["reused_from"] = a.separate_from
    if "separate" in vs and "cohort" in vs:
        s = vs["separate"]
        floor = s["students"] * s["baseline_training_s"] + s["iterations"] * s["teacher_ms_per_iter"] / 1e3
        result["floor_s"] = floor
        result["cost_over_floor"] = {k: vs[k]["training_s"] / floor for k in ("separate", "cohort")}
        result["cohort_over_separate"] = {"wall": vs["cohort"]["wall_s"] / s["wall_s"],
                                          "training": vs["cohort"]["training_s"] / s["training_s"]}
    result["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    with open(os.path.join(a.out, "grid.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != "variants"}, indent=2))


if __name__ == "__main__":
    main()
