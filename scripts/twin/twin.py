#!/usr/bin/env python3
"""The plain-PyTorch twin of cwd-bench's network and training recipe.

One file, written from docs/training.md rather than from the C++ sources, so that the two can
check each other:

- PSPNet on a dilated ResNet with the same blocks, dilations, pyramid head, auxiliary head and
  dropout as models/, and the same parameter and buffer names (a state_dict of this module and
  cwd-bench's weights/<run>.safetensors map one to one);
- the same training step: SGD with momentum and weight decay, poly learning rate, cross-entropy
  (ignore index) on bilinearly upsampled logits plus aux_weight times the auxiliary head's, the
  dropout RNG reseeded from (seed, iteration) before every step;
- two data streams over a folder dataset (the layout `cwd-bench data export` writes):
  `--stream cwd`  the exact batches cwd-bench draws (its counter-based RNG ported below:
                  epoch permutations, per-sample flips; rescaling is not supported here);
  `--stream torch` what a plain PyTorch loop does: sampling with replacement from torch's RNG
                  and a per-sample flip from torch.rand.

Subcommands:
  train    train one network and write a JSON record (mIoU, curve, timing)
  fixture  write the agreement fixture that tests/test_twin.cpp checks cwd-bench against
  init     write a network's initial weights as safetensors

Needs Debian's python3-torch, python3-numpy and python3-pil; nothing else.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

MASK64 = (1 << 64) - 1

# ---- cwd-bench's counter-based RNG (splitmix64), bit for bit --------------------------------


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def hash_words(words):
    h = 0x6A09E667F3BCC909
    for w in words:
        h = mix64(h ^ mix64((w + 0x9E3779B97F4A7C15) & MASK64))
    return h


class Rng:
    def __init__(self, seed):
        self.state = mix64((seed ^ 0x2545F4914F6CDD1D) & MASK64)

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        return mix64(self.state)

    def uniform(self, lo=0.0, hi=1.0):
        return lo + (hi - lo) * ((self.next() >> 11) * 2.0**-53)

    def below(self, n):
        return (self.next() * n) >> 64

    def chance(self, p):
        return self.uniform() < p


def iteration_seed(seed, iteration):
    """Seed of the dropout RNG at one iteration (a pure function of seed and iteration)."""
    z = (seed * 0x9E3779B97F4A7C15 + iteration + 0x632BE59BD9B4E019) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFF


# ---- data ----------------------------------------------------------------------------------

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def normalize(image_hwc_u8):
    """uint8 H×W×3 RGB → float32 3×H×W, (v/255 − mean)/std in single precision."""
    x = image_hwc_u8.astype(np.float32) * np.float32(1.0 / 255.0)
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))


class FolderDataset:
    """DIR/images/<split>/X.png with DIR/labels/<split>/X.png, sorted by image path."""

    def __init__(self, root, split, limit=0):
        image_dir = os.path.join(root, "images", split)
        label_dir = os.path.join(root, "labels", split)
        names = sorted(
            f for f in os.listdir(image_dir) if f.lower().endswith((".png", ".jpg", ".jpeg"))
        )
        paths = sorted(os.path.join(image_dir, f) for f in names)
        if limit:
            paths = paths[:limit]
        self.images, self.labels = [], []
        for p in paths:
            stem = os.path.splitext(os.path.basename(p))[0]
            self.images.append(np.asarray(Image.open(p).convert("RGB"), dtype=np.uint8))
            self.labels.append(np.asarray(Image.open(os.path.join(label_dir, stem + ".png")), dtype=np.uint8))
        meta_path = os.path.join(root, "dataset.json")
        meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
        self.num_classes = meta.get("num_classes")
        self.ignore_index = meta.get("ignore_index", 255)

    def __len__(self):
        return len(self.images)


def place(image, label, flip, crop_h, crop_w, y0, x0, ignore):
    """Crop at (y0, x0) (padding: 0 in the normalised image, the ignore index in the label)."""
    img = np.zeros((3, crop_h, crop_w), dtype=np.float32)
    lab = np.full((crop_h, crop_w), ignore, dtype=np.int64)
    src = normalize(image)[:, y0 : y0 + crop_h, x0 : x0 + crop_w]
    src_l = label[y0 : y0 + crop_h, x0 : x0 + crop_w]
    rows, cols = src_l.shape
    if flip:
        img[:, :rows, crop_w - cols :] = src[:, :, ::-1]
        lab[:rows, crop_w - cols :] = src_l[:, ::-1]
    else:
        img[:, :rows, :cols] = src
        lab[:rows, :cols] = src_l
    return img, lab


class CwdStream:
    """The batches cwd-bench's TrainStream draws (scale range must be 1..1)."""

    def __init__(self, data, batch, seed, crop_h, crop_w, flip=True):
        self.data, self.batch, self.seed = data, batch, seed
        self.crop_h, self.crop_w, self.flip = crop_h, crop_w, flip
        self.epoch, self.perm = -1, None

    def permutation(self, epoch):
        n = len(self.data)
        perm = list(range(n))
        rng = Rng(hash_words([self.seed, 0xA5A50002, epoch]))
        for i in range(n - 1, 0, -1):
            j = rng.below(i + 1)
            perm[i], perm[j] = perm[j], perm[i]
        return perm

    def get(self, iteration):
        n = len(self.data)
        images, labels = [], []
        for k in range(self.batch):
            position = iteration * self.batch + k
            if position // n != self.epoch:
                self.epoch = position // n
                self.perm = self.permutation(self.epoch)
            index = self.perm[position % n]
            image, label = self.data.images[index], self.data.labels[index]
            H, W = label.shape
            rng = Rng(hash_words([self.seed, 0xA5A50001, iteration, k]))
            rng.uniform(1.0, 1.0)  # the scale draw (scale range 1..1)
            y0 = rng.below(max(0, H - self.crop_h) + 1)
            x0 = rng.below(max(0, W - self.crop_w) + 1)
            flip = rng.chance(0.5) and self.flip
            img, lab = place(image, label, flip, self.crop_h, self.crop_w, y0, x0, self.data.ignore_index)
            images.append(img)
            labels.append(lab)
        return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(labels))


class TorchStream:
    """A plain PyTorch loop's batches: indices drawn with replacement, a flip per sample."""

    def __init__(self, data, batch, seed, crop_h, crop_w, flip=True):
        self.data, self.batch = data, batch
        self.crop_h, self.crop_w, self.flip = crop_h, crop_w, flip
        self.gen = torch.Generator().manual_seed(seed)

    def get(self, iteration):
        idx = torch.randint(len(self.data), (self.batch,), generator=self.gen).tolist()
        flips = (torch.rand(self.batch, generator=self.gen) < 0.5).tolist()
        images, labels = [], []
        for i, f in zip(idx, flips):
            image, label = self.data.images[i], self.data.labels[i]
            H, W = label.shape
            y0 = int(torch.randint(max(0, H - self.crop_h) + 1, (1,), generator=self.gen))
            x0 = int(torch.randint(max(0, W - self.crop_w) + 1, (1,), generator=self.gen))
            img, lab = place(image, label, f and self.flip, self.crop_h, self.crop_w, y0, x0,
                             self.data.ignore_index)
            images.append(img)
            labels.append(lab)
        return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(labels))


# ---- the network ---------------------------------------------------------------------------


def scaled(n, width):
    return max(1, int(math.floor(n * width + 0.5)))


def conv(cin, cout, k, stride=1, dilation=1, bias=False):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k - 1) // 2,
                     dilation=dilation, bias=bias)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride, dilation):
        super().__init__()
        self.conv1 = conv(cin, planes, 3, stride, dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, 1, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(conv(cin, planes, 1, stride), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride, dilation):
        super().__init__()
        self.conv1 = conv(cin, planes, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, stride, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv(planes, planes * 4, 1)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or cin != planes * 4:
            self.downsample = nn.Sequential(conv(cin, planes * 4, 1, stride), nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    LAYOUT = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]),
              50: (Bottleneck, [3, 4, 6, 3]), 101: (Bottleneck, [3, 4, 23, 3])}

    def __init__(self, depth=18, width=1.0, stem="standard", output_stride=8):
        super().__init__()
        block, counts = self.LAYOUT[depth]
        stem_c = scaled(64, width)
        cin = stem_c
        self.deep = stem == "deep"
        if self.deep:
            cin = scaled(128, width)
            self.conv1 = conv(3, stem_c, 3, 2)
            self.bn1 = nn.BatchNorm2d(stem_c)
            self.conv2 = conv(stem_c, stem_c, 3)
            self.bn2 = nn.BatchNorm2d(stem_c)
            self.conv3 = conv(stem_c, cin, 3)
            self.bn3 = nn.BatchNorm2d(cin)
        else:
            self.conv1 = conv(3, stem_c, 7, 2)
            self.bn1 = nn.BatchNorm2d(stem_c)
        os_ = output_stride
        strides = [1, 2, 1 if os_ == 8 else 2, 2 if os_ == 32 else 1]
        dilations = [1, 1, 2 if os_ == 8 else 1, 4 if os_ == 8 else (2 if os_ == 16 else 1)]
        self.channels = []
        for i in range(4):
            planes = scaled(64 << i, width)
            blocks = []
            for b in range(counts[i]):
                blocks.append(block(cin, planes, strides[i] if b == 0 else 1, dilations[i]))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            self.channels.append(cin)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        if self.deep:
            out = F.relu(self.bn2(self.conv2(out)))
            out = F.relu(self.bn3(self.conv3(out)))
        out = F.max_pool2d(out, 3, 2, 1)
        l1 = self.layer1(out)
        l2 = self.layer2(l1)
        l3 = self.layer3(l2)
        l4 = self.layer4(l3)
        return l3, l4


class ConvBNReLU(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = conv(cin, cout, k)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class PyramidPoolingHead(nn.Module):
    def __init__(self, cin, channels, classes, bins, dropout):
        super().__init__()
        self.bins = bins
        self.stages = nn.ModuleList([ConvBNReLU(cin, channels, 1) for _ in bins])
        self.bottleneck = ConvBNReLU(cin + len(bins) * channels, channels, 3)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = conv(channels, classes, 1, bias=True)

    def forward(self, x):
        h, w = x.shape[2:]
        parts = [F.interpolate(stage(F.adaptive_avg_pool2d(x, b)), size=(h, w), mode="bilinear",
                               align_corners=False)
                 for b, stage in zip(self.bins, self.stages)]
        features = self.bottleneck(torch.cat(parts + [x], 1))
        return features, self.classifier(self.dropout(features))


class FCNHead(nn.Module):
    def __init__(self, cin, channels, classes, dropout):
        super().__init__()
        self.conv = conv(cin, channels, 3)
        self.bn = nn.BatchNorm2d(channels)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = conv(channels, classes, 1, bias=True)

    def forward(self, x):
        return self.classifier(self.dropout(F.relu(self.bn(self.conv(x)))))


class PSPNet(nn.Module):
    def __init__(self, classes, depth=18, width=1.0, stem="standard", output_stride=8,
                 dropout=0.1, bins=(1, 2, 3, 6)):
        super().__init__()
        self.backbone = ResNet(depth, width, stem, output_stride)
        channels = max(1, int(math.floor(512 * width + 0.5)))
        self.head = PyramidPoolingHead(self.backbone.channels[3], channels, classes, list(bins), dropout)
        self.aux = FCNHead(self.backbone.channels[2], channels, classes, dropout)

    def forward(self, x):
        l3, l4 = self.backbone(x)
        features, logits = self.head(l4)
        aux = self.aux(l3)
        if aux.shape[2:] != logits.shape[2:]:
            aux = F.interpolate(aux, size=logits.shape[2:], mode="bilinear", align_corners=False)
        return logits, features, aux


def initialise(net, scheme):
    """Initial weights.
    torch: PyTorch's defaults (kaiming-uniform a=√5 convs, BN 1/0): what a plain loop gets.
    mmseg: kaiming-normal fan-out convs, BN 1/0, and the two 1×1 classifiers normal(0, 0.01)
           with zero bias, as mmseg initialises a segmentor trained from scratch.
    kaiming: kaiming-normal fan-out on every conv, the classifiers included.
    """
    if scheme == "torch":
        return
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
        if scheme == "mmseg":
            for c in (net.head.classifier, net.aux.classifier):
                nn.init.normal_(c.weight, 0.0, 0.01)
                c.bias.zero_()
        elif scheme != "kaiming":
            raise SystemExit(f"twin: unknown --init '{scheme}' (valid: kaiming, mmseg, torch)")


# ---- the recipe ----------------------------------------------------------------------------


def seg_loss(logits, labels, ignore):
    up = F.interpolate(logits, size=labels.shape[1:], mode="bilinear", align_corners=False)
    return F.cross_entropy(up, labels, ignore_index=ignore)


def training_loss(net, x, y, ignore, aux_weight):
    logits, _, aux = net(x)
    return seg_loss(logits, y, ignore) + aux_weight * seg_loss(aux, y, ignore)


def train_loop(net, stream, args, ignore, after_step):
    """The recipe: per step, reseed dropout, take the batch, set the poly learning rate, SGD."""
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.weight_decay)
    net.train()
    for it in range(args.iters):
        torch.manual_seed(iteration_seed(args.seed, it))
        x, y = stream.get(it)
        lr = args.lr * (1.0 - it / args.iters) ** 0.9
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss = training_loss(net, x, y, ignore, args.aux_weight)
        loss.backward()
        opt.step()
        after_step(it, loss, lr)


def evaluate(net, data, classes):
    net.eval()
    conf = torch.zeros(classes, classes, dtype=torch.int64)
    with torch.no_grad():
        for image, label in zip(data.images, data.labels):
            x = torch.from_numpy(normalize(image)).unsqueeze(0)
            logits = net(x)[0]
            pred = F.interpolate(logits, size=label.shape, mode="bilinear", align_corners=False).argmax(1)[0]
            gt = torch.from_numpy(label.astype(np.int64))
            keep = gt != data.ignore_index
            conf += torch.bincount(gt[keep] * classes + pred[keep], minlength=classes * classes).view(classes, classes)
    conf = conf.double()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    iou = torch.where(union > 0, 100 * tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    valid = ~torch.isnan(iou)
    return {"miou": float(iou[valid].mean()), "pixel_acc": float(100 * tp.sum() / conf.sum()),
            "per_class": [None if math.isnan(v) else v for v in iou.tolist()]}


def make_net(args, classes):
    torch.manual_seed(args.seed)
    net = PSPNet(classes, args.depth, args.width, args.stem, args.output_stride)
    initialise(net, args.init)
    if args.init_weights:
        load_safetensors_into(net, args.init_weights)
    return net


def train(args):
    torch.set_num_threads(args.threads)
    train_set = FolderDataset(args.data, "train")
    val_set = FolderDataset(args.data, "val")
    classes = args.num_classes or train_set.num_classes
    if not classes:
        raise SystemExit("twin: the folder has no dataset.json; pass --num-classes K")
    net = make_net(args, classes)
    crop_h, crop_w = (int(v) for v in args.crop.split("x"))
    Stream = CwdStream if args.stream == "cwd" else TorchStream
    stream = Stream(train_set, args.batch, args.seed, crop_h, crop_w)
    curve = []

    def log(it, loss, lr):
        if (it + 1) % args.log_every == 0 or it + 1 == args.iters:
            curve.append({"iter": it + 1, "loss": loss.item(), "lr": lr})
            print(f"[twin] {it + 1}/{args.iters} loss {loss.item():.4f}", file=sys.stderr, flush=True)

    start = time.time()
    train_loop(net, stream, args, train_set.ignore_index, log)
    wall = time.time() - start
    metrics = evaluate(net, val_set, classes)
    record = {"schema": "cwd-bench/twin-run/1", "implementation": "pytorch-twin",
              "torch": torch.__version__, "data": os.path.abspath(args.data),
              "config": {k: v for k, v in vars(args).items() if k not in ("func", "out")},
              "train": {"wall_s": wall, "images_per_s": args.iters * args.batch / wall, "curve": curve},
              "eval": metrics}
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(record, f, indent=1)
        os.replace(tmp, args.out)
    print(f"[twin] mIoU {metrics['miou']:.2f} pixel acc {metrics['pixel_acc']:.2f}", file=sys.stderr)


# ---- safetensors (the format is tiny; no extra package needed) -----------------------------

DTYPES = {torch.float32: "F32", torch.int64: "I64"}
FROM_DTYPE = {"F32": torch.float32, "I64": torch.int64}


def save_safetensors(named, path):
    header, blobs, offset = {}, [], 0
    for name, t in named:
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        dtype = FROM_DTYPE[h["dtype"]]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=dtype).reshape(h["shape"])
    return out


def load_safetensors_into(net, path):
    state = load_safetensors(path)
    missing = [k for k in net.state_dict() if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise SystemExit(f"twin: {path} lacks {missing[:5]}")
    net.load_state_dict({k: v for k, v in state.items() if k in net.state_dict()}, strict=False)


def init_cmd(args):
    net = make_net(args, args.num_classes)
    save_safetensors(list(net.state_dict().items()), args.out)


def fixture(args):
    """Initial weights, the first batch, the first step's loss and gradients, and a curve."""
    torch.set_num_threads(args.threads)
    data = FolderDataset(args.data, "train")
    classes = args.num_classes or data.num_classes
    net = make_net(args, classes)
    crop_h, crop_w = (int(v) for v in args.crop.split("x"))
    os.makedirs(args.out, exist_ok=True)
    save_safetensors(list(net.state_dict().items()), os.path.join(args.out, "init.safetensors"))

    stream = CwdStream(data, args.batch, args.seed, crop_h, crop_w)
    x, y = stream.get(0)
    net.train()
    torch.manual_seed(iteration_seed(args.seed, 0))
    loss = training_loss(net, x, y, data.ignore_index, args.aux_weight)
    loss.backward()
    tensors = [("batch.images", x), ("batch.labels", y)]
    tensors += [("grad." + n, p.grad) for n, p in net.named_parameters()]
    save_safetensors(tensors, os.path.join(args.out, "step0.safetensors"))
    first_loss = loss.item()

    # The curve: a fresh copy of the same weights trained by the recipe on the same stream.
    net = make_net(args, classes)
    net.load_state_dict(load_safetensors(os.path.join(args.out, "init.safetensors")), strict=False)
    stream = CwdStream(data, args.batch, args.seed, crop_h, crop_w)
    curve = []
    train_loop(net, stream, args, data.ignore_index, lambda it, loss, lr: curve.append(loss.item()))
    save_safetensors(list(net.state_dict().items()), os.path.join(args.out, "final.safetensors"))
    meta = {"schema": "cwd-bench/twin-fixture/1", "torch": torch.__version__,
            "threads": args.threads, "seed": args.seed, "init": args.init,
            "net": {"depth": args.depth, "width": args.width, "stem": args.stem,
                    "output_stride": args.output_stride, "num_classes": classes},
            "recipe": {"iters": args.iters, "batch": args.batch, "lr": args.lr, "momentum": 0.9,
                       "weight_decay": args.weight_decay, "poly_power": 0.9,
                       "aux_weight": args.aux_weight, "crop": args.crop, "flip": True},
            "step0_loss": first_loss, "curve": curve}
    with open(os.path.join(args.out, "fixture.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"[twin] fixture: step-0 loss {first_loss:.6f}, final loss {curve[-1]:.6f} -> {args.out}",
          file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, func in (("train", train), ("fixture", fixture), ("init", init_cmd)):
        p = sub.add_parser(name)
        p.set_defaults(func=func)
        p.add_argument("--data", help="folder dataset (cwd-bench data export)")
        p.add_argument("--out", required=name != "train")
        p.add_argument("--num-classes", type=int, default=0)
        p.add_argument("--depth", type=int, default=18)
        p.add_argument("--width", type=float, default=0.5)
        p.add_argument("--stem", default="standard")
        p.add_argument("--output-stride", type=int, default=8)
        p.add_argument("--init", default="torch", help="torch | mmseg | kaiming")
        p.add_argument("--init-weights", default="", help="safetensors to start from")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--iters", type=int, default=800)
        p.add_argument("--batch", type=int, default=8)
        p.add_argument("--lr", type=float, default=0.02)
        p.add_argument("--weight-decay", type=float, default=5e-4)
        p.add_argument("--aux-weight", type=float, default=0.4)
        p.add_argument("--crop", default="64x128")
        p.add_argument("--stream", default="torch", choices=["cwd", "torch"])
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
