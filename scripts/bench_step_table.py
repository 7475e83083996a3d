#!/usr/bin/python3
"""Markdown table of bench-step reports: cwd-bench (C++) runs against plain-PyTorch runs.

    python3 scripts/bench_step_table.py --cpp cpp-1.json cpp-2.json --py py-1.json py-2.json

Per case: images/s of every run on each side, and the ratio of the medians of all timed steps
pooled per side (PyTorch median ms / cwd-bench median ms, i.e. cwd-bench's speed-up; > 1 means
cwd-bench is faster).
"""

import argparse
import json
import statistics


def load(paths):
    return [json.load(open(p)) for p in paths]


def cases(reports):
    names = []
    for r in reports:
        for c in r["cases"]:
            if c["name"] not in names:
                names.append(c["name"])
    return names


def case(report, name):
    return next((c for c in report["cases"] if c["name"] == name), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpp", nargs="+", required=True)
    parser.add_argument("--py", nargs="+", required=True)
    args = parser.parse_args()
    cpp, py = load(args.cpp), load(args.py)
    first = cpp[0]
    cfg = first["config"]
    print(f"batch {cfg['batch']} of {cfg['crop'][0]}x{cfg['crop'][1]}, {first['threads']} thread(s), "
          f"{cfg['warmup']} warm-up + {cfg['steps']} timed steps per run; libtorch {first['libtorch']} "
          f"(C++) / {py[0]['libtorch']} (Python); C++ variants {json.dumps(first['optimisations'])}")
    print()
    print("| case | cwd-bench img/s (runs) | PyTorch img/s (runs) | cwd-bench median ms | "
          "PyTorch median ms | ratio (cwd-bench/PyTorch speed) |")
    print("|---|---|---|---:|---:|---:|")
    for name in cases(cpp + py):
        c_rows = [c for c in (case(r, name) for r in cpp) if c]
        p_rows = [c for c in (case(r, name) for r in py) if c]
        if not c_rows or not p_rows:
            continue
        c_med = statistics.median([t for c in c_rows for t in c["steps_ms"]])
        p_med = statistics.median([t for c in p_rows for t in c["steps_ms"]])
        c_ips = ", ".join(f"{c['images_per_s']:.1f}" for c in c_rows)
        p_ips = ", ".join(f"{c['images_per_s']:.1f}" for c in p_rows)
        print(f"| {name} | {c_ips} | {p_ips} | {c_med:.2f} | {p_med:.2f} | {p_med / c_med:.2f}× |")
    loads = [r.get("load_average_start", []) + r.get("load_average", []) for r in cpp + py]
    print()
    print("load average (1 min) at start/end of each run: " +
          "; ".join(f"{l[0]:.2f}/{l[3]:.2f}" for l in loads if len(l) >= 4))


if __name__ == "__main__":
    main()
