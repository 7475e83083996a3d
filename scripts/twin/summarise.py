#!/usr/bin/env python3
"""Summarises scripts/twin/evidence.sh: per dataset and implementation, mIoU per seed, mean ± std
(sample std), and pixel accuracy against the background share. Writes OUT/summary.md and
OUT/summary.json. Usage: summarise.py OUT"""

import glob
import json
import os
import re
import statistics
import sys


def load(path):
    r = json.load(open(path))
    if r.get("schema") == "cwd-bench/run/1":
        c = r["config"]
        return {"impl": f"cwd-bench (init {c['model'].get('init', 'kaiming')})", "seed": r["seed"],
                "miou": r["eval"]["miou"], "pixel_acc": r["eval"]["pixel_acc"],
                "iters": r["train"]["iterations"], "images_per_s": r["train"]["images_per_s"],
                "commit": r["tool"]["git_commit"]}
    c = r["config"]
    return {"impl": f"twin (init {c['init']}, {c['stream']} stream)", "seed": c["seed"],
            "miou": r["eval"]["miou"], "pixel_acc": r["eval"]["pixel_acc"], "iters": c["iters"],
            "images_per_s": r["train"]["images_per_s"], "commit": None}


def main():
    out = sys.argv[1]
    summary, lines = {}, ["| dataset | implementation | mIoU per seed | mean ± std | pixel acc (mean) |",
                          "|---|---|---|---|---|"]
    for ds_dir in sorted(d for d in glob.glob(os.path.join(out, "*")) if os.path.isdir(d)):
        ds = os.path.basename(ds_dir)
        if ds == "data":
            continue
        runs = [load(p) for p in sorted(glob.glob(os.path.join(ds_dir, "*.json")))]
        by_impl = {}
        for r in runs:
            by_impl.setdefault(r["impl"], []).append(r)
        for impl, rs in sorted(by_impl.items()):
            rs.sort(key=lambda r: r["seed"])
            m = [r["miou"] for r in rs]
            std = statistics.stdev(m) if len(m) > 1 else None
            mean = statistics.mean(m)
            summary.setdefault(ds, {})[impl] = {"seeds": [r["seed"] for r in rs], "miou": m, "mean": mean,
                                                "std": std, "pixel_acc": [r["pixel_acc"] for r in rs]}
            per_seed = ", ".join(f"s{r['seed']}: {r['miou']:.2f}" for r in rs)
            spread = f"{mean:.2f} ± {std:.2f}" if std is not None else f"{mean:.2f} (n = 1)"
            acc = statistics.mean(r["pixel_acc"] for r in rs)
            lines.append(f"| {ds} | {impl} | {per_seed} | {spread} | {acc:.2f} |")
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
