#!/usr/bin/python3
"""The plain-PyTorch counterpart of `cwd-bench bench-step`: one training step, timed.

Three cases, with twin.py's PSPNet (the same network as models/) at the preset's sizes:
  student  the preset's student trained alone (quick: PSPNet-R18 ×0.25)
  teacher  the preset's teacher trained alone (quick: PSPNet-R18 ×0.5)
  cwd      the student distilled by CWD on the logit map from the frozen teacher: the teacher's
           forward in eval mode under no_grad, the student's forward and backward, the CWD term
           (the straightforward form of scripts/bench_losses_py.py)

Each step is what a plain PyTorch loop does: torch.manual_seed (dropout), set the poly learning
rate, opt.zero_grad() (PyTorch's default; set_to_none=False in 1.13), forward, cross-entropy +
aux_weight · aux (twin.py's training loss), loss.backward(), opt.step(); SGD with momentum 0.9
and weight decay 5e-4, the network in train mode (dropout on). Random images and labels from a
fixed seed. time.perf_counter around each step; the report (same layout as the C++ one) holds
every step's ms, the median and images/s = batch / median.

    /usr/bin/python3 scripts/twin/bench_step.py --out py.json [--what student,teacher,cwd]

Needs Debian's python3-torch (and numpy + PIL, which twin.py imports).
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from twin import PSPNet, iteration_seed, seg_loss, training_loss  # noqa: E402
from bench_losses_py import cwd as cwd_term  # noqa: E402

# The presets' networks and recipe (src/train/config.cpp); classes: fashion-scenes' 11.
PRESETS = {
    "quick": {"teacher": 0.5, "student": 0.25, "classes": 11, "teacher_lr": 0.02, "student_lr": 0.02,
              "cwd": {"tau": 4.0, "weight": 9.0}},
    "smoke": {"teacher": 0.25, "student": 0.125, "classes": 11, "teacher_lr": 0.02, "student_lr": 0.02,
              "cwd": {"tau": 4.0, "weight": 3.0}},
}
DEPTH, MOMENTUM, WEIGHT_DECAY, POLY, AUX_WEIGHT, IGNORE = 18, 0.9, 5e-4, 0.9, 0.4, 255


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return [float(v) for v in f.read().split()[:3]]
    except OSError:
        return []


def loaded_blas():
    """The BLAS library mapped into this process (after a matrix product loaded it)."""
    torch.mm(torch.ones(2, 2), torch.ones(2, 2))
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                name = os.path.basename(path)
                if name.startswith(("libblas.so", "libopenblas", "libmkl_", "libblis")):
                    return {"path": os.path.realpath(path)}
    except OSError:
        pass
    return {"path": ""}


def describe(width):
    return f"PSPNet-R{DEPTH} (standard stem, width {width:g}, OS 8)"


def run_case(name, args, preset, classes, images, labels):
    role = "teacher" if name == "teacher" else "student"
    torch.manual_seed(args.seed)
    net = PSPNet(classes, DEPTH, preset[role])
    description = describe(preset[role])
    teacher = None
    tau, weight = args.tau, args.weight
    if name == "cwd":
        teacher = PSPNet(classes, DEPTH, preset["teacher"])
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        description += (f" + CWD (logit, tau {tau:g}, weight {weight:g}) from frozen "
                        f"{describe(preset['teacher'])}")
    lr0 = preset[f"{role}_lr"]
    opt = torch.optim.SGD(net.parameters(), lr=lr0, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    net.train()
    total = args.warmup + args.steps
    times = []
    loss = None
    for it in range(total):
        t0 = time.perf_counter()
        torch.manual_seed(iteration_seed(args.seed, it))
        for g in opt.param_groups:
            g["lr"] = lr0 * (1.0 - it / total) ** POLY
        opt.zero_grad()
        if teacher is not None:
            with torch.no_grad():
                t_logits = teacher(images)[0]
            logits, _, aux = net(images)
            loss = (seg_loss(logits, labels, IGNORE) + AUX_WEIGHT * seg_loss(aux, labels, IGNORE)
                    + cwd_term(logits, t_logits, labels, tau=tau, weight=weight))
        else:
            loss = training_loss(net, images, labels, IGNORE, AUX_WEIGHT)
        loss.backward()
        opt.step()
        ms = (time.perf_counter() - t0) * 1000.0
        if it >= args.warmup:
            times.append(ms)
    med = statistics.median(times)
    return {"name": name, "description": description,
            "params": sum(p.numel() for p in net.parameters()),
            "threads": torch.get_num_threads(), "steps_ms": times, "median_ms": med,
            "min_ms": min(times), "images_per_s": args.batch * 1000.0 / med,
            "final_loss": float(loss.item())}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--what", "--nets", default="student,teacher,cwd")
    parser.add_argument("--preset", default="quick", choices=sorted(PRESETS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", default="64x128")
    parser.add_argument("--classes", type=int, default=0, help="0 = the preset's dataset")
    parser.add_argument("--threads", type=int, default=2, help="0 = all cores")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tau", type=float, default=None, help="CWD tau (default: the preset's)")
    parser.add_argument("--weight", type=float, default=None, help="CWD weight (default: the preset's)")
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    args.tau = preset["cwd"]["tau"] if args.tau is None else args.tau
    args.weight = preset["cwd"]["weight"] if args.weight is None else args.weight
    cases = [c for c in args.what.split(",") if c]
    for c in cases:
        if c not in ("student", "teacher", "cwd"):
            raise SystemExit(f"bench_step.py: unknown case '{c}' (valid: cwd, student, teacher)")
    crop_h, crop_w = (int(v) for v in args.crop.split("x"))
    classes = args.classes or preset["classes"]
    torch.set_num_threads(args.threads or os.cpu_count())
    load_start = load_average()

    gen = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.batch, 3, crop_h, crop_w, generator=gen)
    labels = torch.randint(0, classes, (args.batch, crop_h, crop_w), generator=gen)
    labels[torch.rand(args.batch, crop_h, crop_w, generator=gen) < 0.05] = IGNORE

    print(f"bench_step.py: preset {args.preset}, cases {','.join(cases)}, batch {args.batch} of "
          f"{crop_h}x{crop_w}, {torch.get_num_threads()} thread(s), {args.warmup} warm-up + "
          f"{args.steps} timed steps", file=sys.stderr)
    rows = []
    for c in cases:
        row = run_case(c, args, preset, classes, images, labels)
        print(f"  {c:<8} median {row['median_ms']:8.2f} ms  min {row['min_ms']:8.2f} ms  "
              f"{row['images_per_s']:7.1f} img/s  ({len(row['steps_ms'])} steps, loss "
              f"{row['final_loss']:.4f})", file=sys.stderr)
        rows.append(row)
    report = {
        "schema": "cwd-bench/bench-step/1",
        "tool": "scripts/twin/bench_step.py",
        "implementation": "pytorch",
        "libtorch": torch.__version__,
        "blas": loaded_blas(),
        "threads": torch.get_num_threads(),
        "hardware_threads": os.cpu_count(),
        "load_average_start": load_start,
        "load_average": load_average(),
        "optimisations": {"channels_last": False, "mkldnn": torch.backends.mkldnn.enabled,
                          "zero_grad": "zero"},
        "timing": "time.perf_counter around one training step (zero_grad, forward, loss, "
                  "backward, SGD step), median of the timed steps",
        "config": {"preset": args.preset, "batch": args.batch, "crop": [crop_h, crop_w],
                   "num_classes": classes, "warmup": args.warmup, "steps": args.steps,
                   "seed": args.seed, "ignore_fraction": 0.05,
                   "cwd": {"tau": args.tau, "weight": args.weight}},
        "cases": rows,
    }
    tmp = args.out + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(tmp, "w") as f:
        json.dump(report, f, indent=2)
    os.replace(tmp, args.out)
    print(f"bench_step.py: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
