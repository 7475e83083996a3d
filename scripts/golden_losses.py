#!/usr/bin/python3
"""Golden values for the eight distillation losses of cwd-bench.

Computes every loss straight from docs/losses.md, in float64, with plain loops over
samples, channels, pixels, offsets, node pairs and classes (no vectorised tricks, no torch.nn
functional helpers: bilinear resizing, nearest label resizing, max-pooling, softmax and
log-softmax, batch norm, cosines, Pearson correlations and the 1×1 and 3×3 convolutions are
written out), on seeded random inputs, and writes the inputs, options, expected value and expected
gradient w.r.t. the student map (by autograd through the loops) to
tests/fixtures/losses_golden.json, which tests/test_losses.cpp replays.

Cases with trainable modules carry their parameters: "adapter" (CWD, PI, DIST: the channel
adapter, names below `adapter.`) and "params" (MGD: full parameter names, `align.*` only when the
channel counts differ). MGD's random mask is drawn from torch's default CPU generator right after
torch.manual_seed(case["mask_seed"]); the C++ test seeds libtorch the same way before forward.
Each case's inputs come from its own generator seeded with --seed + its index, so new cases go at
the end of CASES and leave the values of the earlier ones unchanged.

Run with Debian's python3-torch (the `python3` on PATH may lack torch):
    /usr/bin/python3 scripts/golden_losses.py [--out tests/fixtures/losses_golden.json]
The committed file was written with Debian's reference BLAS (netlib) behind torch.dot, which IFVD
uses; where the libblas.so.3 alternative points at OpenBLAS, a few IFVD values change in the last
bit. To rewrite the file byte for byte there, put the reference BLAS first:
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas /usr/bin/python3 scripts/golden_losses.py
"""

import argparse
import json
import math
import os
import tempfile

import torch

torch.set_default_dtype(torch.float64)
EPS_NORM = 1e-12  # x / max(‖x‖, 1e-12), as the spec's unit vectors
DIST_EPS = 1e-8   # DIST's Pearson correlation: ⟨a, b⟩ / (‖a‖·‖b‖ + 1e-8) of the centred vectors
MASK_SEED = 1234  # torch.manual_seed before MGD's mask; CPU generator: same in Python and C++
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


def softmax(v):
    """Softmax of a 1-D tensor, written out: exp(v_i − max) / Σ_j exp(v_j − max)."""
    m = max(float(v[i]) for i in range(v.shape[0]))
    e = [torch.exp(v[i] - m) for i in range(v.shape[0])]
    total = sum(e)
    return torch.stack([e[i] / total for i in range(len(e))])


def pearson(a, b):
    """⟨a − ā, b − b̄⟩ / (‖a − ā‖₂ · ‖b − b̄‖₂ + 1e-8) for two 1-D tensors of equal length."""
    k = a.shape[0]
    mean_a = sum(a[i] for i in range(k)) / k
    mean_b = sum(b[i] for i in range(k)) / k
    dot = sum((a[i] - mean_a) * (b[i] - mean_b) for i in range(k))
    norm_a = torch.sqrt(sum((a[i] - mean_a) ** 2 for i in range(k)))
    norm_b = torch.sqrt(sum((b[i] - mean_b) ** 2 for i in range(k)))
    return dot / (norm_a * norm_b + DIST_EPS)


def conv1x1(x, weight, bias):
    """1×1 convolution with bias: out[n, o] = bias[o] + Σ_i weight[o, i] · x[n, i]."""
    n, cin, h, w = x.shape
    cout = weight.shape[0]
    out = [[[[bias[o] + sum(weight[o, i, 0, 0] * x[b, i, y, xx] for i in range(cin))
              for xx in range(w)] for y in range(h)] for o in range(cout)] for b in range(n)]
    return torch.stack([torch.stack([torch.stack([torch.stack(row) for row in plane])
                                     for plane in sample]) for sample in out])


def conv3x3(x, weight, bias):
    """3×3 convolution, stride 1, zero padding 1, with bias (taps outside the map count as 0)."""
    n, cin, h, w = x.shape
    cout = weight.shape[0]
    out = []
    for b in range(n):
        planes = []
        for o in range(cout):
            rows = []
            for y in range(h):
                cols = []
                for xx in range(w):
                    acc = bias[o]
                    for i in range(cin):
                        for ky in range(3):
                            for kx in range(3):
                                sy, sx = y + ky - 1, xx + kx - 1
                                if 0 <= sy < h and 0 <= sx < w:
                                    acc = acc + weight[o, i, ky, kx] * x[b, i, sy, sx]
                    cols.append(acc)
                rows.append(torch.stack(cols))
            planes.append(torch.stack(rows))
        out.append(torch.stack(planes))
    return torch.stack(out)


def relu(x):
    return torch.clamp(x, min=0.0)


# ---- the eight losses, as the spec writes them -------------------------------------------------

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


def loss_dist(S, T, labels, o):
    tau, weight = o.get("tau", 1.0), o.get("weight", 1.0)
    beta, gamma = o.get("beta", 1.0), o.get("gamma", 1.0)
    N, C, H, W = T.shape
    # One row of C class probabilities per pixel, R = N·H·W rows.
    p_s, p_t = [], []
    for n in range(N):
        for y in range(H):
            for x in range(W):
                p_s.append(softmax(S[n, :, y, x] / tau))
                p_t.append(softmax(T[n, :, y, x] / tau))
    R = len(p_s)
    inter = 1.0 - sum(pearson(p_s[r], p_t[r]) for r in range(R)) / R
    intra = 1.0 - sum(pearson(torch.stack([p_s[r][c] for r in range(R)]),
                              torch.stack([p_t[r][c] for r in range(R)]))
                      for c in range(C)) / C
    return weight * tau ** 2 * (beta * inter + gamma * intra)


def loss_mgd(S, T, labels, o, params=None, mask=None):
    """S is already aligned (align, if any, and the resize happen before, in run_case)."""
    weight = o.get("weight", 2e-5)
    N = T.shape[0]
    masked = S * mask  # mask is N×1×H×W, broadcast over the channels
    g = conv3x3(masked, params["generator.0.weight"], params["generator.0.bias"])
    g = conv3x3(relu(g), params["generator.2.weight"], params["generator.2.bias"])
    _, C, H, W = g.shape
    total = 0.0
    for n in range(N):
        for c in range(C):
            for y in range(H):
                for x in range(W):
                    total = total + (g[n, c, y, x] - T[n, c, y, x]) ** 2
    return weight * total / N


def mgd_mask(o, shape, mask_seed):
    """M = 0 where u > 1 − mask_ratio, else 1; u = torch.rand(N×1×H×W) after manual_seed."""
    ratio = o.get("mask_ratio", 0.75)
    if mask_seed is None:
        assert ratio == 0.0, "a masked MGD case needs a mask_seed"
        return torch.ones(shape)
    torch.manual_seed(mask_seed)
    u = torch.rand(shape, dtype=torch.float64)
    return torch.where(u > 1.0 - ratio, torch.zeros(()), torch.ones(()))


LOSSES = {"cwd": loss_cwd, "pi": loss_pi, "at": loss_at, "local": loss_local, "pa": loss_pa,
          "ifvd": loss_ifvd, "dist": loss_dist, "mgd": loss_mgd}


# ---- cases -------------------------------------------------------------------------------------

def case(name, key, options, s_shape, t_shape, labels_shape=None, num_classes=0,
         ignore_fraction=0.0, absent=(), adapter_channels=None, mask_seed=None):
    return dict(name=name, key=key, options=options, s_shape=s_shape, t_shape=t_shape,
                labels_shape=labels_shape, num_classes=num_classes,
                ignore_fraction=ignore_fraction, absent=list(absent),
                adapter_channels=adapter_channels, mask_seed=mask_seed)


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
    # New cases go below: each case's seed is --seed + its index.
    case("dist_default", "dist", {}, (2, 4, 4, 5), (2, 4, 4, 5)),
    case("dist_tau_beta_gamma_upsample", "dist",
         {"tau": 2.0, "beta": 0.5, "gamma": 2.0, "weight": 1.5}, (2, 3, 3, 4), (2, 3, 5, 6)),
    case("dist_adapter", "dist", {"student_channels": 4, "teacher_channels": 3}, (2, 4, 4, 5),
         (2, 3, 4, 5), adapter_channels=(4, 3)),
    case("mgd_no_mask", "mgd",
         {"mask_ratio": 0.0, "teacher_channels": 3, "student_channels": 3, "weight": 0.5},
         (2, 3, 4, 5), (2, 3, 4, 5)),
    case("mgd_align_no_mask", "mgd",
         {"mask_ratio": 0.0, "student_channels": 4, "teacher_channels": 3},
         (2, 4, 4, 5), (2, 3, 4, 5)),
    case("mgd_masked", "mgd",
         {"mask_ratio": 0.5, "student_channels": 3, "teacher_channels": 3, "weight": 1.0},
         (2, 3, 4, 5), (2, 3, 4, 5), mask_seed=MASK_SEED),
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
    if c["key"] == "mgd":  # drawn after everything else, so the other keys' draws are unchanged
        cs, ct = c["s_shape"][1], c["t_shape"][1]

        def conv(cout, cin, k):
            w = torch.randn((cout, cin, k, k), generator=gen) / math.sqrt(cin * k * k)
            return w, 0.1 * torch.randn((cout,), generator=gen)
        params = {}
        if cs != ct:
            params["align.weight"], params["align.bias"] = conv(ct, cs, 1)
        params["generator.0.weight"], params["generator.0.bias"] = conv(ct, ct, 3)
        params["generator.2.weight"], params["generator.2.bias"] = conv(ct, ct, 3)
    return student, teacher, labels, params


def tensor_json(t):
    return {"shape": list(t.shape), "data": t.reshape(-1).tolist()}


def run_case(c, seed):
    gen = torch.Generator().manual_seed(seed)
    student, teacher, labels, params = make_inputs(c, gen)
    s = student.clone().requires_grad_(True)
    x = s
    extra = {}
    if c["key"] == "mgd":
        if "align.weight" in params:
            x = conv1x1(x, params["align.weight"], params["align.bias"])
        n, _, h, w = teacher.shape
        extra = {"params": params, "mask": mgd_mask(c["options"], (n, 1, h, w), c["mask_seed"])}
    elif params is not None:
        x = adapter(x, params["conv_weight"], params["bn_weight"], params["bn_bias"])
    x = bilinear_resize(x, teacher.shape[2], teacher.shape[3])
    value = LOSSES[c["key"]](x, teacher, labels, c["options"], **extra)
    value.backward()
    out = {"name": c["name"], "key": c["key"], "options": c["options"],
           "student": tensor_json(student), "teacher": tensor_json(teacher),
           "value": value.item(), "student_grad": tensor_json(s.grad)}
    if labels is not None:
        out["labels"] = tensor_json(labels)
    if c["key"] == "mgd":
        # Loaded into the loss by full parameter name before the forward.
        out["params"] = {name: tensor_json(t) for name, t in params.items()}
        if c["mask_seed"] is not None:
            out["mask_seed"] = c["mask_seed"]
    elif params is not None:
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
