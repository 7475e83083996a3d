#!/usr/bin/python3
"""Bring your own loss: pixel-wise knowledge distillation as a TorchScript file for cwd-bench.

This script is a complete example of a loss written in Python and run by cwd-bench (C++) without
rebuilding it. It defines the loss as a torch.nn.Module, compiles it with torch.jit.script and
saves the compiled module to a file:

    /usr/bin/python3 scripts/plugin/pixel_kd.py [PATH]      # PATH defaults to pixel_kd.pt

cwd-bench then loads that file in place of a built-in loss key:

    cwd-bench ... --loss script:PATH

What cwd-bench expects of such a module:
  * forward(self, student: Tensor, teacher: Tensor, labels: Tensor) -> Tensor, returning a 0-dim
    tensor that already includes the loss's weight. student and teacher are N×C×H×W maps;
    labels are the N×h×w class ids of the batch (pass them through unused if the loss does not
    need them).
  * The teacher gets no gradient (detach it); the student's gradient flows back through the value.
  * Optional attributes, set in __init__, that cwd-bench reads for its listings and run records:
    title, paper and formula (strings; formula is the cost, e.g. "h·w·c") and needs_labels (bool).
  * Parameters of the module (none here) are trained with the student.

The loss here: at every pixel, the class scores become distributions p = softmax(y/τ) over the
channels; the loss is weight·τ² times the mean over the N·H·W pixels of KL(p_teacher ‖ p_student),
each KL summed over the channels. A student map of a different height or width is first resized
bilinearly (align_corners false) to the teacher's.
"""

import sys

import torch
import torch.nn.functional as F


class PixelKD(torch.nn.Module):
    def __init__(self, tau: float = 1.0, weight: float = 1.0):
        super().__init__()
        self.tau = tau
        self.weight = weight
        self.title = "Pixel-wise KD (example plugin)"
        self.paper = "Hinton et al., 2015, arXiv 1503.02531"
        self.formula = "h·w·c"
        self.needs_labels = False

    def forward(self, student: torch.Tensor, teacher: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        teacher = teacher.detach()
        if student.shape[2] != teacher.shape[2] or student.shape[3] != teacher.shape[3]:
            student = F.interpolate(student, size=[teacher.shape[2], teacher.shape[3]],
                                    mode="bilinear", align_corners=False)
        log_p_t = F.log_softmax(teacher / self.tau, dim=1)
        log_p_s = F.log_softmax(student / self.tau, dim=1)
        kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum()  # summed over channels and pixels
        pixels = teacher.shape[0] * teacher.shape[2] * teacher.shape[3]
        return self.weight * self.tau * self.tau * kl / pixels


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "pixel_kd.pt"
    torch.jit.script(PixelKD()).save(path)
    print(path)


if __name__ == "__main__":
    main()
