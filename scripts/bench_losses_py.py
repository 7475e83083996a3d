#!/usr/bin/python3
"""Straightforward PyTorch forms of the eight distillation losses, timed and memory-profiled.

The counterpart of `cwd-bench bench-losses` (losses/bench.cpp): the same shapes, random maps,
labels, thread count and timing loop, with each loss written the direct way one would in Python
(PA: both P×P affinity matrices; IFVD: a loop over the classes; LOCAL: unfold of the 3×3
neighbourhoods; CWD/PI: softmax and log-softmax of the whole map; DIST: the per-pixel softmax
as an (N·H·W)×C matrix, correlated along rows and along columns; MGD: a random mask drawn with
torch.rand inside the timed step and a generator of two 3×3 convolutions, built once per channel
count outside it, whose parameters receive gradients in backward as the C++ loss's do). Runs on
the same libtorch as the C++ build (Debian's python3-torch 1.13):

    /usr/bin/python3 scripts/bench_losses_py.py --out results/bench/losses_py.json

Time: time.perf_counter around forward + backward, median of the timed runs (after warm-up).
Peak memory: every c10 CPU allocation and free is reported to the autograd profiler when it
records memory (legacy profiler, profile_memory=True; this build has no Kineto). One extra run is
profiled; its allocation events (all threads, ordered by time) are summed and the peak of the
running sum is the peak above the level at the start — the same quantity the C++ side counts with
its wrapping allocator. Inputs are allocated before the measured region on both sides; the
student's .grad is cleared before each run, so it is counted inside.
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

# ---- the straightforward forms (defaults from docs/losses.md) ---------------------------


def cwd(s, t, labels, tau=4.0, weight=3.0):
    n, c, h, w = s.shape
    t = t.detach()
    p_t = F.softmax(t.reshape(n * c, h * w) / tau, dim=1)
    log_p_t = F.log_softmax(t.reshape(n * c, h * w) / tau, dim=1)
    log_p_s = F.log_softmax(s.reshape(n * c, h * w) / tau, dim=1)
    return weight * tau ** 2 * torch.sum(p_t * (log_p_t - log_p_s)) / (n * c)


def at(s, t, labels, p=2.0, weight=1e4):
    def att(x):
        return F.normalize(x.pow(p).mean(1).reshape(x.shape[0], -1), dim=1)
    return weight * (att(s) - att(t.detach())).pow(2).mean()


def pi(s, t, labels, tau=1.0, weight=10.0):
    n, c, h, w = s.shape
    t = t.detach()
    kl = F.kl_div(F.log_softmax(s / tau, dim=1), F.softmax(t / tau, dim=1), reduction="sum")
    return weight * tau ** 2 * kl / (n * h * w)


def local(s, t, labels, weight=1.0):
    def sims(x):
        n, c, h, w = x.shape
        x = F.normalize(x, dim=1)
        patches = F.unfold(x, kernel_size=3).reshape(n, c, 9, (h - 2) * (w - 2))
        center = patches[:, :, 4:5]
        neighbours = torch.cat([patches[:, :, :4], patches[:, :, 5:]], dim=2)
        return (center * neighbours).sum(1)  # n×8×(h−2)(w−2)
    return weight * (sims(s) - sims(t.detach())).pow(2).mean()


def pa(s, t, labels, weight=1.0):
    def affinity(x):
        n, c = x.shape[:2]
        f = F.normalize(x.reshape(n, c, -1), dim=1)
        return torch.bmm(f.transpose(1, 2), f)  # n×P×P
    return weight * (affinity(s) - affinity(t.detach())).pow(2).mean()


def ifvd(s, t, labels, weight=200.0, ignore_index=255):
    n, c, h, w = s.shape
    lab = F.interpolate(labels.unsqueeze(1).float(), size=(h, w), mode="nearest").squeeze(1).long()
    valid = (lab != ignore_index).unsqueeze(1).float()

    def variation(x):
        proto_map = torch.zeros_like(x)
        for k in torch.unique(lab).tolist():  # one pass per class
            if k == ignore_index:
                continue
            mask = (lab == k).unsqueeze(1).float()
            proto = (x * mask).sum(dim=(2, 3)) / mask.sum(dim=(2, 3)).clamp(min=1.0)
            proto_map = proto_map + proto[:, :, None, None] * mask
        return F.cosine_similarity(x, proto_map, dim=1, eps=1e-12) * valid.squeeze(1)

    with torch.no_grad():
        v_t = variation(t)
    return weight * (variation(s) - v_t).pow(2).mean()


def dist(s, t, labels, tau=1.0, beta=1.0, gamma=1.0, weight=1.0):
    c = s.shape[1]
    p_s = F.softmax(s / tau, dim=1).permute(0, 2, 3, 1).reshape(-1, c)  # (N·H·W)×C
    p_t = F.softmax(t.detach() / tau, dim=1).permute(0, 2, 3, 1).reshape(-1, c)

    def pearson(a, b, dim):
        a = a - a.mean(dim, keepdim=True)
        b = b - b.mean(dim, keepdim=True)
        return (a * b).sum(dim) / (a.norm(dim=dim) * b.norm(dim=dim) + 1e-8)

    inter = 1.0 - pearson(p_s, p_t, 1).mean()  # per pixel, across classes
    intra = 1.0 - pearson(p_s, p_t, 0).mean()  # per class, across pixels
    return weight * tau ** 2 * (beta * inter + gamma * intra)


MGD_GENERATORS = {}  # channel count → generator, built once outside the timed step


def mgd_generator(c):
    if c not in MGD_GENERATORS:
        MGD_GENERATORS[c] = torch.nn.Sequential(torch.nn.Conv2d(c, c, 3, padding=1),
                                                torch.nn.ReLU(),
                                                torch.nn.Conv2d(c, c, 3, padding=1))
    return MGD_GENERATORS[c]


def clear_grads(student):
    student.grad = None
    for generator in MGD_GENERATORS.values():
        generator.zero_grad(set_to_none=True)


def mgd(s, t, labels, mask_ratio=0.75, weight=2e-5):
    # Both maps have the same channel count in the bench, so there is no `align` convolution.
    n, c, h, w = s.shape
    generator = mgd_generator(c)
    generator.zero_grad(set_to_none=True)
    u = torch.rand((n, 1, h, w), dtype=s.dtype)
    mask = (u <= 1.0 - mask_ratio).to(s.dtype)  # 0 where u > 1 − mask_ratio
    return weight * (generator(s * mask) - t.detach()).pow(2).sum() / n


LOSSES = {"at": at, "cwd": cwd, "dist": dist, "ifvd": ifvd, "local": local, "mgd": mgd, "pa": pa,
          "pi": pi}

# ---- measuring ---------------------------------------------------------------------------------


def peak_bytes(fn):
    """Peak of the running sum of allocator events recorded by the legacy profiler during fn()."""
    from torch.autograd import ProfilerConfig, ProfilerState
    config = ProfilerConfig(ProfilerState.CPU, False, True, False, False, False,
                            torch._C._profiler._ExperimentalConfig())
    torch.autograd._enable_profiler_legacy(config)
    try:
        fn()
    finally:
        records = torch.autograd._disable_profiler_legacy()
    events = sorted((r.start_us(), r.cpu_memory_usage()) for thread in records for r in thread
                    if r.kind() == "memory_alloc")
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_kind(path):
    """The BLAS library's kind from its resolved path, as src/core/blas.cpp classifies it."""
    def kind_of_name(name):
        if "openblas" in name:
            return "openblas"
        if name.startswith("libmkl") or name == "mkl":
            return "mkl"
        if "blis" in name:
            return "blis"
        if "atlas" in name:
            return "atlas"
        return ""
    kind = kind_of_name(os.path.basename(path))
    if kind:
        return kind
    folder = os.path.basename(os.path.dirname(path))
    return kind_of_name(folder) or ("reference" if folder == "blas" else "unknown")


def loaded_blas():
    """{kind, path} of the BLAS library torch calls, from the files mapped into this process
    (the C++ side walks the same list with dl_iterate_phdr)."""
    paths = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            path = fields[5].strip() if len(fields) == 6 else ""
            name = os.path.basename(path)
            if path.startswith("/") and path not in paths and (
                    "libblas.so" in name or name.startswith(("libopenblas", "libmkl_", "libblis",
                                                             "libsatlas", "libtatlas"))):
                paths.append(path)
    if not paths:  # statically linked into torch (official wheels: MKL), or none at all
        return {"kind": "mkl" if torch.backends.mkl.is_available() else "builtin", "path": ""}
    chosen = next((p for p in paths if "libblas.so" in os.path.basename(p)), paths[0])
    resolved = os.path.realpath(chosen)
    return {"kind": blas_kind(resolved), "path": resolved}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("-n", "--batch", type=int, default=4)
    ap.add_argument("-c", "--channels", type=int, nargs="+", default=[19, 512])
    ap.add_argument("--height", type=int, default=64)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--label-stride", type=int, default=8)
    ap.add_argument("--classes", type=int, default=19)
    ap.add_argument("--ignore-fraction", type=float, default=0.05)
    ap.add_argument("--keys", nargs="+", choices=sorted(LOSSES), default=sorted(LOSSES))
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-seconds", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    rows = []
    for c in args.channels:
        n, h, w = args.batch, args.height, args.width
        student = torch.randn(n, c, h, w).requires_grad_(True)
        teacher = torch.randn(n, c, h, w)
        lh, lw = h * args.label_stride, w * args.label_stride
        labels = torch.randint(0, args.classes, (n, lh, lw))
        labels[torch.rand(n, lh, lw) < args.ignore_fraction] = 255
        if "mgd" in args.keys:  # after the inputs, so they do not depend on the keys chosen
            mgd_generator(c)  # parameters allocated before the measured region; their .grad
            # is cleared in each step, like the student's, so it is counted inside
        for key in args.keys:
            fn = LOSSES[key]
            out = {}

            def step():
                student.grad = None
                value = fn(student, teacher, labels)
                value.backward()
                out["value"] = value.item()

            times, spent = [], 0.0
            for run in range(args.warmup + args.repeats):
                start = time.perf_counter()
                step()
                ms = (time.perf_counter() - start) * 1000.0
                if run < args.warmup:
                    continue
                times.append(ms)
                spent += ms / 1000.0
                if spent > args.max_seconds:
                    break
            clear_grads(student)  # freed outside the profiled run
            peak = peak_bytes(step)
            clear_grads(student)
            row = {"key": key, "n": n, "c": c, "h": h, "w": w, "times_ms": times,
                   "median_ms": statistics.median(times), "min_ms": min(times),
                   "peak_bytes": peak, "value": out["value"]}
            rows.append(row)
            print(f"  {key:>5} C={c:<4} {row['median_ms']:10.2f} ms  peak "
                  f"{peak / 2 ** 20:10.2f} MiB  value {row['value']:.6g}", flush=True)

    report = {"tool": "scripts/bench_losses_py.py", "implementation": "Python (straightforward)",
              "torch": torch.__version__, "blas": loaded_blas(), "device": "cpu",
              "cpu": cpu_model(),
              "hardware_threads": os.cpu_count(), "threads": torch.get_num_threads(),
              "memory_method": "legacy autograd profiler memory events, peak of running sum",
              "timing": "perf_counter around forward + backward, median of timed runs",
              "config": {"n": args.batch, "channels": args.channels, "h": args.height,
                         "w": args.width, "label_stride": args.label_stride,
                         "num_classes": args.classes, "ignore_fraction": args.ignore_fraction,
                         "warmup": args.warmup, "repeats": args.repeats,
                         "max_seconds": args.max_seconds, "seed": args.seed},
              "results": rows}
    path = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".bench_losses_py.")
    with os.fdopen(fd, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
