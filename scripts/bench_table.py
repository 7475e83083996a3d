#!/usr/bin/env python3
"""Merges a `cwd-bench bench-losses` report and a scripts/bench_losses_py.py report into the
Markdown table of BENCHMARKS.md (median ms, peak MiB, and the Python/C++ ratios).

Usage: scripts/bench_table.py results/bench/losses_cpp.json results/bench/losses_py.json
"""
import json
import sys


def rows(path):
    with open(path) as f:
        report = json.load(f)
    return {(r["key"], r["c"]): r for r in report["results"]}


def main():
    cpp, py = rows(sys.argv[1]), rows(sys.argv[2])
    print("| loss | C | C++ ms | Python ms | speed-up (Py/C++) | C++ peak MiB | Python peak MiB | memory ratio (Py/C++) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for (key, c), r in sorted(cpp.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        mib = r["peak_bytes"] / 2**20
        p = py.get((key, c))
        if p is None:
            print(f"| {key} | {c} | {r['median_ms']:.2f} | – | – | {mib:.2f} | – | – |")
            continue
        pmib = p["peak_bytes"] / 2**20
        print(f"| {key} | {c} | {r['median_ms']:.2f} | {p['median_ms']:.2f} | "
              f"{p['median_ms'] / r['median_ms']:.2f}× | {mib:.2f} | {pmib:.2f} | {pmib / mib:.1f}× |")


if __name__ == "__main__":
    main()
