#!/usr/bin/env python3
"""Where the quick student's training step spends its time: torch.profiler over 10 plain-PyTorch
steps of the twin network (batch 8 of 64x128, 2 threads), after 5 warm-up steps.

    python3 scripts/dev/profile_step.py
"""
import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "twin"))
import bench_step  # noqa: E402
from twin import PSPNet, training_loss  # noqa: E402


def main():
    torch.set_num_threads(2)
    preset = bench_step.PRESETS["quick"]
    torch.manual_seed(0)
    net = PSPNet(preset["classes"], bench_step.DEPTH, preset["student"])
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(8, 3, 64, 128)
    y = torch.randint(0, preset["classes"], (8, 64, 128))

    def step():
        opt.zero_grad()
        training_loss(net, x, y, 255, 0.4).backward()
        opt.step()

    for _ in range(5):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=22))


if __name__ == "__main__":
    main()
