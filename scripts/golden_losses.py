#!/usr/bin/python3
"""Golden values for the six distillation losses of cwd-bench.

Computes every loss straight from docs/losses.md, in float64, with plain loops over
samples, channels, pixels, offsets, node pairs and classes (no vectorised tricks, no torch.nn
functional helpers: bilinear resizing, nearest label resizing, max-pooling, log-softmax, batch norm
and cosines are written out), on seeded random inputs, and writes the inputs, options, expected
value and expected gradient w.r.t. the student map (by autograd through the loops) to
tests/fixtures/losses_golden.json, which tests/test_losses.cpp replays.

Run with Debian's python3-torch (the `python3` on PATH may lack torch):
    /usr/bin/python3 scripts/golden_losses.py [--out tests/fixtures/losses_golden.json]
"""

import argparse
import json
import math
import os
import tempfile

import torch

torch.set_default_dtype(torch.float64)
EPS_NORM = 1e-12  # x / max(‖x‖, 1e-12), as the spec's unit vectors
BN_EPS = 1e-5     # BatchNorm of the channel adapter


# ---- building blocks, written out --------------------------------------------------------------

def bilinear_resize(x, out_h, out_w):
    """Bilinear, align_corners=False: src = (dst + 0.5) * in / out - 0.5, clamped at 0."""
    n, c, in_h, in_w = x.shape
    if (in_h, in_w) == (out_h, out_w):
        return x

    def taps(dst, in_size, out_size):
        src = (dst + 0.5) * in_size / out_size - 0.5
        src = max(src, 0.0)
        i0 = int(math.floor(src))
        i1 = min(i0 + 1, in_size - 1)
        frac = src - i0
        return i0, i1, frac

    rows = []
    for oy in range(out_h):
        y0, y1, ly = taps(oy, in_h, out_h)
        cols = []
        for ox in range(out_w):
            x0, x1, lx = taps(ox, in_w, out_w)
            v = ((1 - ly) * (1 - lx) * x[:, :, y0, x0] + (1 - ly) * lx * x[:, :, y0, x1]
                 + ly * (1 - lx) * x[:, :, y1, x0] + ly * lx * x[:, :, y1, x1])
            cols.append(v)
        rows.append(torch.stack(cols, dim=-1))
    return torch.stack(rows, dim=-2)


def nearest_labels(labels, out_h, out_w):
    """Nearest, PyTorch's convention: source index = floor(dst * in / out)."""
    n, in_h, in_w = labels.shape
    out = torch.empty((n, out_h, out_w), dtype=torch.int64)
    for b in range(n):
        for y in range(out_h):
            for x in range(out_w):
                out[b, y, x] = labels[b, (y * in_h) // out_h, (x * in_w) // out_w]
    return out


def logsumexp(v):
    m = torch.max(v).detach()
    return m + torch.log(torch.sum(torch.exp(v - m)))


def log_softmax(v):
    return v - logsumexp(v)


def kl_from_logits(t_logits, s_logits):
    """KL(softmax(t) ‖ softmax(s)) with log-softmax for both logs."""
    log_p = log_softmax(t_logits)
    log_q = log_softmax(s_logits)
    return torch.sum(torch.exp(log_p) * (log_p - log_q))


def unit(v):
    return v / max(torch.sqrt(torch.sum(v * v)), torch.tensor(EPS_NORM))


def adapter(x, conv_weight, gamma, beta):
    """1×1 conv (no bias) → BatchNorm (training mode: batch mean, biased variance) → ReLU."""
    n, cin, h, w = x.shape
    cout = conv_weight.shape[0]
    out_channels = []
    for o in range(cout):
        z = sum(conv_weight[o, i] * x[:, i] for i in range(cin))  # n×h×w
        mean = z.sum() / z.numel()
        var = ((z - mean) ** 2).sum() / z.numel()
        y = (z - mean) / torch.sqrt(var + BN_EPS) * gamma[o] + beta[o]
        out_channels.append(torch.clamp(y, min=0.0))
    return torch.stack(out_channels, dim=1)


def max_pool_ceil(x, k):
    """Max-pool, kernel = stride = k, ceil mode (the last window may be partial)."""
    if k == 1:
        return x
    n, c, h, w = x.shape
    oh, ow = -(-h // k), -(-w // k)
    rows = []
    for oy in range(oh):
        cols = []
        for ox in range(ow):
            win = x[:, :, oy * k:min(oy * k + k, h), ox * k:min(ox * k + k, w)]
            cols.append(win.reshape(n, c, -1).max(dim=2).values)
        rows.append(torch.stack(cols, dim=-1))
    return torch.stack(rows, dim=-2)


# ---- the six losses, as the spec writes them ---------------------------------------------------

def loss_cwd(S, T, labels, o):
    tau, weight = o.get("tau", 4.0), o.get("weight", 3.0)
    N, C = T.shape[:2]
    total = 0.0
    for n in range(N):
        for c in range(C):
            total = total + kl_from_logits(T[n, c].reshape(-1) / tau, S[n, c].reshape(-1) / tau)
    return weight * tau ** 2 / (N * C) * total


def loss_pi(S, T, labels, o):
    tau, weight = o.get("tau", 1.0), o.get("weight", 10.0)
    N, C, H, W = T.shape
    total = 0.0
    for n in range(N):
        for y in range(H):
            for x in range(W):
                total = total + kl_from_logits(T[n, :, y, x] / tau, S[n, :, y, x] / tau)
    return weight * tau ** 2 / (N * H * W) * total


def loss_at(S, T, labels, o):
    p, weight = o.get("p", 2.0), o.get("weight", 1e4)
    N, _, H, W = T.shape

    def att(Y, n):
        C = Y.shape[1]
        v = torch.stack([sum(Y[n, c].reshape(-1)[i] ** p for c in range(C)) / C
                         for i in range(H * W)])
        return v / torch.sqrt(torch.sum(v * v))

    total = 0.0
    for n in range(N):
        total = total + torch.sum((att(S, n) - att(T, n)) ** 2)
    return weight * total / (N * H * W)


def loss_local(S, T, labels, o):
    metric, weight = o.get("metric", "cosine"), o.get("weight", 1.0)
    N, _, H, W = T.shape
    offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]

    def sim(Y, n, y, x, dy, dx):
        a, b = Y[n, :, y, x], Y[n, :, y + dy, x + dx]
        if metric == "cosine":
            return torch.sum(unit(a) * unit(b))
        return torch.sum((a - b) ** 2)

    total, count = 0.0, 0
    for n in range(N):
        for dy, dx in offsets:
            for y in range(1, H - 1):
                for x in range(1, W - 1):
                    total = total + (sim(S, n, y, x, dy, dx) - sim(T, n, y, x, dy, dx)) ** 2
                    count += 1
    assert count == N * 8 * (H - 2) * (W - 2)
    return weight * total / count


def loss_pa(S, T, labels, o):
    pool, weight = o.get("pool", 1), o.get("weight", 1.0)
    S, T = max_pool_ceil(S, pool), max_pool_ceil(T, pool)
    N = T.shape[0]
    P = T.shape[2] * T.shape[3]
    total = 0.0
    for n in range(N):
        fs = [unit(v) for v in S[n].reshape(S.shape[1], -1).t()]
        ft = [unit(v) for v in T[n].reshape(T.shape[1], -1).t()]
        for i in range(P):
            for j in range(P):
                total = total + (torch.dot(fs[i], fs[j]) - torch.dot(ft[i], ft[j])) ** 2
    return weight * total / (N * P * P)


def loss_ifvd(S, T, labels, o):
    weight, ignore = o.get("weight", 200.0), o.get("ignore_index", 255)
    N, _, H, W = T.shape
    lab = nearest_labels(labels, H, W)

    def variation(Y, n):
        feats = Y[n].reshape(Y.shape[1], -1)  # C×P
        flat = lab[n].reshape(-1)
        protos = {}
        for k in sorted(set(flat.tolist()) - {ignore}):
            members = [i for i in range(H * W) if flat[i] == k]
            protos[k] = sum(feats[:, i] for i in members) / len(members)
        v = []
        for i in range(H * W):
            k = int(flat[i])
            if k == ignore:
                v.append(torch.zeros(()))
            else:
                y, mu = feats[:, i], protos[k]
                v.append(torch.dot(y, mu) / (torch.sqrt(torch.dot(y, y)) * torch.sqrt(torch.dot(mu, mu))))
        return torch.stack(v)

    total = 0.0
    for n in range(N):
        total = total + torch.sum((variation(S, n) - variation(T, n)) ** 2)
    return weight * total / (N * H * W)


LOSSES = {"cwd": loss_cwd, "pi": loss_pi, "at": loss_at, "local": loss_local, "pa": loss_pa,
          "ifvd": loss_ifvd}


# ---- cases -------------------------------------------------------------------------------------

def case(name, key, options, s_shape, t_shape, labels_shape=None, num_classes=0,
         ignore_fraction=0.0, absent=(), adapter_channels=None):
    return dict(name=name, key=key, options=options, s_shape=s_shape, t_shape=t_shape,
                labels_shape=labels_shape, num_classes=num_classes,
                ignore_fraction=ignore_fraction, absent=list(absent),
                adapter_channels=adapter_channels)


CASES = [
    case("cwd_default", "cwd", {}, (2, 3, 4, 5), (2, 3, 4, 5)),
    case("cwd_tau_upsample", "cwd", {"tau": 1.5, "weight": 2.0}, (2, 3, 3, 4), (2, 3, 5, 6)),
    case("cwd_adapter", "cwd", {"student_channels": 4, "teacher_channels": 3}, (2, 4, 4, 5),
         (2, 3, 4, 5), adapter_channels=(4, 3)),
    case("pi_default", "pi", {}, (2, 4, 3, 5), (2, 4, 3, 5)),
    case("pi_tau_downsample", "pi", {"tau": 2.5}, (2, 4, 6, 7), (2, 4, 4, 5)),
    case("pi_adapter", "pi", {"student_channels": 3, "teacher_channels": 5, "weight": 1.0},
         (2, 3, 4, 4), (2, 5, 4, 4), adapter_channels=(3, 5)),
    case("at_default_cs_ne_ct", "at", {}, (2, 3, 4, 5), (2, 5, 4, 5)),
    case("at_p4_upsample", "at", {"p": 4, "weight": 7.0}, (2, 3, 3, 3), (2, 4, 5, 6)),
    case("local_cosine_cs_ne_ct", "local", {}, (2, 3, 5, 6), (2, 4, 5, 6)),
    case("local_euclidean_upsample", "local", {"metric": "euclidean", "weight": 0.5},
         (2, 3, 4, 4), (2, 3, 5, 6)),
    case("pa_auto", "pa", {}, (2, 3, 4, 5), (2, 4, 4, 5)),
    case("pa_direct", "pa", {"form": "direct"}, (2, 3, 4, 5), (2, 4, 4, 5)),
    case("pa_gram", "pa", {"form": "gram"}, (2, 3, 4, 5), (2, 4, 4, 5)),
    case("pa_pool2_direct_upsample", "pa", {"pool": 2, "form": "direct", "weight": 3.0},
         (2, 3, 4, 6), (2, 4, 5, 7)),
    case("pa_pool2_gram_upsample", "pa", {"pool": 2, "form": "gram", "weight": 3.0},
         (2, 3, 4, 6), (2, 4, 5, 7)),
    case("ifvd_same_size_ignored_absent", "ifvd", {}, (2, 3, 4, 5), (2, 4, 4, 5),
         labels_shape=(2, 4, 5), num_classes=5, ignore_fraction=0.25, absent=(3,)),
    case("ifvd_labels_larger", "ifvd", {"weight": 5.0}, (2, 3, 5, 6), (2, 3, 5, 6),
         labels_shape=(2, 13, 17), num_classes=4, ignore_fraction=0.2, absent=(1,)),
    case("ifvd_upsample_labels_larger", "ifvd", {}, (2, 3, 3, 4), (2, 3, 5, 6),
         labels_shape=(2, 11, 9), num_classes=3, ignore_fraction=0.1),
    case("ifvd_ignore_index_0", "ifvd", {"ignore_index": 0, "weight": 2.0}, (2, 4, 4, 4),
         (2, 4, 4, 4), labels_shape=(2, 8, 8), num_classes=4),
]


def make_inputs(c, gen):
    student = torch.randn(c["s_shape"], generator=gen)
    teacher = torch.randn(c["t_shape"], generator=gen)
    labels = None
    if c["labels_shape"]:
        labels = torch.randint(0, c["num_classes"], c["labels_shape"], generator=gen)
        for k in c["absent"]:
            labels[labels == k] = (k + 1) % c["num_classes"]
        drop = torch.rand(c["labels_shape"], generator=gen) < c["ignore_fraction"]
        labels[drop] = 255
    params = None
    if c["adapter_channels"]:
        cs, ct = c["adapter_channels"]
        params = {"conv_weight": torch.randn((ct, cs, 1, 1), generator=gen) / math.sqrt(cs),
                  "bn_weight": 1.0 + 0.1 * torch.randn((ct,), generator=gen),
                  "bn_bias": 0.5 + 0.1 * torch.randn((ct,), generator=gen)}
    return student, teacher, labels, params


def tensor_json(t):
    return {"shape": list(t.shape), "data": t.reshape(-1).tolist()}


def run_case(c, seed):
    gen = torch.Generator().manual_seed(seed)
    student, teacher, labels, params = make_inputs(c, gen)
    s = student.clone().requires_grad_(True)
    x = s
    if params is not None:
        x = adapter(x, params["conv_weight"], params["bn_weight"], params["bn_bias"])
    x = bilinear_resize(x, teacher.shape[2], teacher.shape[3])
    value = LOSSES[c["key"]](x, teacher, labels, c["options"])
    value.backward()
    out = {"name": c["name"], "key": c["key"], "options": c["options"],
           "student": tensor_json(student), "teacher": tensor_json(teacher),
           "value": value.item(), "student_grad": tensor_json(s.grad)}
    if labels is not None:
        out["labels"] = tensor_json(labels)
    if params is not None:
        # Loaded into the loss's adapter by name before the forward (BatchNorm in training mode).
        out["adapter"] = {"conv.weight": tensor_json(params["conv_weight"]),
                          "bn.weight": tensor_json(params["bn_weight"]),
                          "bn.bias": tensor_json(params["bn_bias"])}
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures",
                                                      "losses_golden.json"))
    parser.add_argument("--seed", type=int, default=20211113)
    args = parser.parse_args()
    cases = [run_case(c, args.seed + i) for i, c in enumerate(CASES)]
    doc = {"generator": "scripts/golden_losses.py", "spec": "docs/losses.md",
           "dtype": "float64", "torch": torch.__version__, "seed": args.seed, "cases": cases}
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out), prefix=".losses_golden.")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, out)
    for c in cases:
        print(f"{c['name']:32s} {c['value']:.12g}")
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
