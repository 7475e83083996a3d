#!/usr/bin/env python3
"""Writes "shape-scenes", a small segmentation dataset in cwd-bench's folder layout.

It is deliberately unlike fashion-scenes (no Fashion-MNIST, no colour families): 2-5 geometric
shapes (disc, square, triangle, ring, cross, diamond) of any colour, size and position over a
textured background (a colour gradient, stripes and pixel noise). Colour says nothing about the
class; only shape does. Used to check that cwd-bench's recipe learns as well as a plain PyTorch
loop on data cwd-bench did not generate (results/sizing/, BENCHMARKS.md).

  python3 scripts/make_shapes.py --out /tmp/shapes [--train 2000 --val 300 --seed 0]
  cwd-bench train --data folder --data-root /tmp/shapes --num-classes 7 ...

Needs python3-numpy and python3-pil.
"""

import argparse
import json
import os

import numpy as np
from PIL import Image

CLASSES = ["background", "disc", "square", "triangle", "ring", "cross", "diamond"]


def shape_mask(kind, yy, xx, cy, cx, r, angle):
    # Rotate the coordinates about the shape's centre.
    c, s = np.cos(angle), np.sin(angle)
    dy, dx = yy - cy, xx - cx
    u, v = c * dx + s * dy, -s * dx + c * dy
    if kind == "disc":
        return u * u + v * v <= r * r
    if kind == "square":
        return (np.abs(u) <= 0.8 * r) & (np.abs(v) <= 0.8 * r)
    if kind == "triangle":  # equilateral, pointing up in its own frame
        return (v <= 0.5 * r) & (v >= -r + np.sqrt(3) * np.abs(u))
    if kind == "ring":
        d = u * u + v * v
        return (d <= r * r) & (d >= (0.55 * r) ** 2)
    if kind == "cross":
        return ((np.abs(u) <= 0.28 * r) & (np.abs(v) <= r)) | ((np.abs(v) <= 0.28 * r) & (np.abs(u) <= r))
    if kind == "diamond":
        return np.abs(u) / 0.7 + np.abs(v) <= r
    raise ValueError(kind)


def scene(rng, h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = (xx / w)[..., None] if rng.random() < 0.5 else (yy / h)[..., None]
    img = a * (1 - t) + b * t
    for _ in range(rng.integers(0, 4)):  # stripes
        period = rng.uniform(6, 20)
        phase = rng.uniform(0, period)
        band = ((xx + rng.uniform(-1, 1) * yy + phase) % period) < period / 3
        img[band] = img[band] * 0.6 + rng.uniform(0, 255, 3) * 0.4
    label = np.zeros((h, w), dtype=np.uint8)
    for _ in range(rng.integers(2, 6)):
        k = int(rng.integers(1, len(CLASSES)))
        r = rng.uniform(0.12, 0.32) * h * 1.5
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        m = shape_mask(CLASSES[k], yy, xx, cy, cx, r, rng.uniform(0, np.pi))
        colour = rng.uniform(0, 255, 3)
        shade = 1 + 0.25 * ((xx - cx) / w)[..., None]
        img[m] = np.clip(colour * shade, 0, 255)[m]
        label[m] = k
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), label


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--val", type=int, default=300)
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if os.path.exists(a.out):
        raise SystemExit(f"make_shapes: '{a.out}' already exists; choose a new --out")
    for split, n, offset in (("train", a.train, 0), ("val", a.val, 10**6)):
        os.makedirs(os.path.join(a.out, "images", split))
        os.makedirs(os.path.join(a.out, "labels", split))
        for i in range(n):
            rng = np.random.default_rng([a.seed, offset + i])
            img, label = scene(rng, a.height, a.width)
            Image.fromarray(img).save(os.path.join(a.out, "images", split, f"{i:05d}.png"))
            Image.fromarray(label).save(os.path.join(a.out, "labels", split, f"{i:05d}.png"))
    meta = {"schema": "cwd-bench/folder-dataset/1", "name": "shape-scenes", "seed": a.seed,
            "num_classes": len(CLASSES), "class_names": CLASSES, "ignore_index": 255,
            "splits": {"train": {"size": a.train}, "val": {"size": a.val}}}
    with open(os.path.join(a.out, "dataset.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
