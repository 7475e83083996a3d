#!/usr/bin/python3
"""TorchScript loss files for the tests of cwd-bench's script losses (`--loss script:PATH`).

Writes tests/fixtures/script/ (rerunnable; the same files each run):
  cwd.pt            channel-wise distillation exactly as docs/losses.md defines it (τ = 4,
                    weight = 3 as module attributes; title, paper, formula, needs_labels set)
  trainable.pt      a loss with trainable parameters: a 1×1 conv (4 → 4, with bias, initialised
                    after torch.manual_seed(0)) on the student, then the mean squared difference
                    to the teacher; no attributes, so the loader's defaults apply
  labels.pt         uses the labels: the mean over non-ignored pixels (label != 255) of the squared
                    difference summed over channels; needs_labels = True
  bad_signature.pt  forward(student) with one input instead of three
  not_scalar.pt     forward returns the 4-D map (student − teacher)², not a 0-dim value
  not_script.pt     a plain tensor file written by torch.save, not a TorchScript module

and then checks them from Python: every .pt except not_script.pt loads with torch.jit.load, and
cwd.pt's value and gradient equal a loop-free form of the definition on random inputs (and the
golden value of the `cwd_default` case of tests/fixtures/losses_golden.json).

    /usr/bin/python3 scripts/plugin/make_test_fixtures.py [--out tests/fixtures/script]
"""

import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F


def resized(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """The student map resized bilinearly (align_corners false) to the teacher's H×W."""
    if student.shape[2] != teacher.shape[2] or student.shape[3] != teacher.shape[3]:
        # The ATen op F.interpolate(mode="bilinear", align_corners=False) calls; calling it
        # directly keeps the scripted files small (F.interpolate compiles into ~12 kB of code).
        student = torch._C._nn.upsample_bilinear2d(
            student, [teacher.shape[2], teacher.shape[3]], False, None)
    return student


class ChannelWise(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tau = 4.0
        self.weight = 3.0
        self.title = "Channel-wise distillation (TorchScript)"
        self.paper = "Shu et al., ICCV 2021, arXiv 2011.13256"
        self.formula = "h·w·c"
        self.needs_labels = False

    def forward(self, student: torch.Tensor, teacher: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        teacher = teacher.detach()
        student = resized(student, teacher)
        n, c = teacher.shape[0], teacher.shape[1]
        # One distribution over the H·W positions per sample and channel.
        log_p_t = torch.log_softmax(teacher.reshape(n * c, -1) / self.tau, dim=1)
        log_p_s = torch.log_softmax(student.reshape(n * c, -1) / self.tau, dim=1)
        kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum()
        return self.weight * self.tau * self.tau * kl / (n * c)


class Trainable(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Conv2d(4, 4, 1)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        return (self.proj(student) - teacher.detach()).pow(2).mean()


class WithLabels(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.title = "Labelled squared error (test)"
        self.paper = "none (test fixture)"
        self.formula = "h·w·c"
        self.needs_labels = True

    def forward(self, student: torch.Tensor, teacher: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        teacher = teacher.detach()
        student = resized(student, teacher)
        h, w = teacher.shape[2], teacher.shape[3]
        if labels.shape[1] != h or labels.shape[2] != w:  # nearest, to the maps' H×W
            labels = torch._C._nn.upsample_nearest2d(
                labels.unsqueeze(1).to(torch.float32), [h, w], None).squeeze(1).to(torch.int64)
        valid = (labels != 255).to(student.dtype)
        per_pixel = (student - teacher).pow(2).sum(1)  # N×H×W
        return (per_pixel * valid).sum() / valid.sum().clamp(min=1.0)


class BadSignature(torch.nn.Module):
    def forward(self, student: torch.Tensor) -> torch.Tensor:
        return student.sum()


class NotScalar(torch.nn.Module):
    def forward(self, student: torch.Tensor, teacher: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        return (student - teacher).pow(2)


def write(out):
    os.makedirs(out, exist_ok=True)
    modules = {"cwd.pt": ChannelWise, "labels.pt": WithLabels,
               "bad_signature.pt": BadSignature, "not_scalar.pt": NotScalar}
    for name, cls in modules.items():
        torch.jit.script(cls()).save(os.path.join(out, name))
    torch.manual_seed(0)
    torch.jit.script(Trainable()).save(os.path.join(out, "trainable.pt"))
    torch.save(torch.zeros(3), os.path.join(out, "not_script.pt"))


def cwd_reference(s, t, tau=4.0, weight=3.0):
    """KL(φ(T) ‖ φ(S)) per sample and channel, φ = softmax over positions; loop-free."""
    n, c = t.shape[:2]
    p_t = torch.softmax(t.reshape(n, c, -1) / tau, dim=2)
    kl = (p_t * (torch.log(p_t) - torch.log_softmax(s.reshape(n, c, -1) / tau, dim=2))).sum()
    return weight * tau ** 2 * kl / (n * c)


def check(out):
    loaded = {}
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if name == "not_script.pt":
            try:
                torch.jit.load(path)
            except Exception:  # noqa: BLE001 - any failure is the expected outcome
                print(f"  {name:18s} {os.path.getsize(path):6d} B  not TorchScript (as intended)")
                continue
            raise SystemExit(f"{name} loaded as TorchScript")
        loaded[name] = torch.jit.load(path)
        print(f"  {name:18s} {os.path.getsize(path):6d} B  loads")

    gen = torch.Generator().manual_seed(1)
    cwd = loaded["cwd.pt"]
    for s_shape, t_shape, dtype in [((2, 3, 4, 5), (2, 3, 4, 5), torch.float64),
                                    ((3, 5, 7, 6), (3, 5, 7, 6), torch.float32)]:
        s = torch.randn(s_shape, generator=gen, dtype=dtype).requires_grad_(True)
        t = torch.randn(t_shape, generator=gen, dtype=dtype)
        labels = torch.zeros((t_shape[0],) + t_shape[2:], dtype=torch.int64)
        value = cwd(s, t, labels)
        (grad,) = torch.autograd.grad(value, s)
        ref = cwd_reference(s, t)
        (ref_grad,) = torch.autograd.grad(ref, s)
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        assert abs(value.item() - ref.item()) <= tol * max(1.0, abs(ref.item())), (value, ref)
        assert torch.allclose(grad, ref_grad, rtol=tol, atol=tol)
        print(f"  cwd.pt {str(dtype):14s} {value.item():.12g} = reference {ref.item():.12g}")
    # Resizing: the student goes to the teacher's size first.
    s = torch.randn((2, 3, 3, 4), generator=gen, dtype=torch.float64)
    t = torch.randn((2, 3, 5, 6), generator=gen, dtype=torch.float64)
    up = F.interpolate(s, size=(5, 6), mode="bilinear", align_corners=False)
    assert abs(cwd(s, t, torch.zeros(2, 5, 6, dtype=torch.int64)).item()
               - cwd_reference(up, t).item()) < 1e-12
    # The golden case of the built-in loss, with the same defaults.
    golden = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                          "fixtures", "losses_golden.json")
    if os.path.exists(golden):
        with open(golden) as f:
            case = next(c for c in json.load(f)["cases"] if c["name"] == "cwd_default")
        s = torch.tensor(case["student"]["data"], dtype=torch.float64).reshape(
            case["student"]["shape"])
        t = torch.tensor(case["teacher"]["data"], dtype=torch.float64).reshape(
            case["teacher"]["shape"])
        value = cwd(s, t, torch.zeros(1, 1, 1, dtype=torch.int64)).item()
        assert abs(value - case["value"]) <= 1e-12 * abs(case["value"]), (value, case["value"])
        print(f"  cwd.pt on cwd_default: {value:.12g} = golden {case['value']:.12g}")
    print(f"  cwd.pt attributes: {cwd.title!r}, {cwd.paper!r}, {cwd.formula!r}, "
          f"needs_labels={cwd.needs_labels}, tau={cwd.tau}, weight={cwd.weight}")

    # The others: value shapes and the label mask.
    s = torch.randn((2, 4, 3, 5), generator=gen).requires_grad_(True)
    t = torch.randn((2, 4, 3, 5), generator=gen)
    labels = torch.randint(0, 3, (2, 3, 5), generator=gen)
    labels[0, 0] = 255
    v = loaded["trainable.pt"](s, t, labels)
    assert v.dim() == 0 and len(list(loaded["trainable.pt"].parameters())) == 2
    v = loaded["labels.pt"](s, t, labels)
    valid = labels != 255
    ref = (s - t).pow(2).sum(1)[valid].mean()
    assert v.dim() == 0 and abs(v.item() - ref.item()) < 1e-5 and loaded["labels.pt"].needs_labels
    assert loaded["not_scalar.pt"](s, t, labels).dim() == 4
    assert loaded["bad_signature.pt"](s).dim() == 0
    print("  trainable.pt, labels.pt, not_scalar.pt, bad_signature.pt behave as described")


def main():
    # The scripted Conv2d lists its constants in set order, which follows string hashing; a fixed
    # hash seed makes trainable.pt the same file on every run.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable] + sys.argv,
                  dict(os.environ, PYTHONHASHSEED="0"))
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "tests", "fixtures", "script"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    write(out)
    print(f"wrote {out}")
    check(out)


if __name__ == "__main__":
    main()
