#!/usr/bin/python3
"""Export ResNet weights for `cwd-bench --backbone-weights`.

cwd-bench's ResNets use torchvision's parameter names (conv1, bn1, layer1.0.conv1, ...,
layer4.1.downsample.0), so a torchvision state_dict loads one to one at width 1 with the
standard stem; "fc.*" entries are ignored and a common "module." or "backbone." prefix is
stripped. libtorch reads two formats:

  * safetensors (any PyTorch state_dict converts; dtypes F32/F64/F16/BF16/I64/...);
  * a torch.save'd *plain* dict of tensors in PyTorch's zip format. libtorch 1.13 cannot
    unpickle the OrderedDict that Module.state_dict() returns, nor the legacy pre-1.6 format
    (torchvision's older hub files), so re-save those through this script.

Usage (PyTorch needed; torchvision only for --arch):
  /usr/bin/python3 scripts/convert_torchvision.py --input resnet101-63fe2227.pth --out r101.safetensors
  /usr/bin/python3 scripts/convert_torchvision.py --arch resnet18 --out r18.safetensors   # ImageNet weights
  /usr/bin/python3 scripts/convert_torchvision.py --input ckpt.pth --out r18.pth   # plain-dict torch.save

--input accepts anything torch.load reads: a state_dict, or a checkpoint holding one under
"state_dict" or "model".
"""
import argparse
import json
import os
import struct
import sys

DTYPES = {}  # torch dtype -> safetensors name, filled once torch is imported


def load_state(args):
    import torch
    if args.arch:
        try:
            import torchvision
        except ImportError:
            sys.exit("torchvision is not installed: download the .pth and pass it with --input")
        model = getattr(torchvision.models, args.arch)(weights="DEFAULT")
        return model.state_dict()
    state = torch.load(args.input, map_location="cpu")
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and set(state) == {key}:
            state = state[key]
    if not isinstance(state, dict):
        sys.exit(f"{args.input} holds a {type(state).__name__}, not a dict of tensors")
    return state


def write_safetensors(state, path):
    import torch
    DTYPES.update({torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
                   torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
                   torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"})
    header, blobs, offset = {}, [], 0
    for name, tensor in state.items():
        t = tensor.detach().cpu().contiguous()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="a file torch.load reads")
    source.add_argument("--arch", help="a torchvision model name, e.g. resnet18 (downloads)")
    parser.add_argument("--out", required=True, help="*.safetensors, or anything else for torch.save")
    parser.add_argument("--keep-fc", action="store_true", help="keep the fc.* entries")
    args = parser.parse_args()

    state = {k: v for k, v in load_state(args).items()
             if args.keep_fc or not (k.startswith("fc.") or k.startswith("module.fc."))}
    if args.out.endswith(".safetensors"):
        write_safetensors(state, args.out)
    else:
        import torch
        torch.save(dict(state), args.out)  # a plain dict: libtorch cannot read OrderedDicts
    print(f"wrote {len(state)} tensors to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
