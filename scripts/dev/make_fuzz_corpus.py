# Generates the seed corpus of tests/fuzz/corpus (docs/fuzzing.md): tiny safetensors files,
# torch.save archives, checkpoints, IDX pairs and split lists. Run with Debian's python3-torch:
#   /usr/bin/python3 scripts/dev/make_fuzz_corpus.py tests/fuzz/corpus RECORDS_DIR
import json, os, struct, sys, shutil
import torch

out = sys.argv[1]
def path(target, name):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    return os.path.join(out, target, name)

# ---- safetensors ----
def safetensors(file, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw); offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(file, "wb") as f:
        f.write(struct.pack("<Q", len(text))); f.write(text); f.write(b"".join(blobs))

f32 = lambda *v: struct.pack("<%df" % len(v), *v)
safetensors(path("safetensors", "f32.safetensors"),
            {"w": ("F32", [2, 3], f32(0, 1, 2, 3, 4, 5)), "b": ("F32", [3], f32(0.5, -1, 2))})
safetensors(path("safetensors", "metadata.safetensors"),
            {"steps": ("I64", [2], struct.pack("<2q", 7, -1)), "mask": ("BOOL", [2], b"\x01\x00"),
             "img": ("U8", [2, 2], bytes([0, 127, 128, 255]))},
            metadata={"format": "pt", "note": "seed"})
safetensors(path("safetensors", "mixed.safetensors"),
            {"h": ("F16", [2, 2], struct.pack("<4e", 1, -2, 0.5, 65504)),
             "bf": ("BF16", [1], b"\x80\x3f"), "d": ("F64", [1, 1], struct.pack("<d", 3.25)),
             "i": ("I32", [2], struct.pack("<2i", 1, -2)), "s": ("I16", [1], struct.pack("<h", 9)),
             "c": ("I8", [1], b"\xff"), "empty": ("F32", [0, 4], b"")})

# ---- torchsave ----
torch.save({"w": torch.arange(6.).reshape(2, 3), "b": torch.zeros(3)}, path("torchsave", "float.pt"))
torch.save({"state_dict": {"conv.weight": torch.ones(1, 1, 2, 2),
                           "bn.num_batches_tracked": torch.tensor(5, dtype=torch.int64),
                           "idx": torch.arange(4, dtype=torch.int64)}},
           path("torchsave", "int64-wrapped.pt"))

# ---- checkpoint: a safetensors file with "net.", "loss." and "optimizer." tensors and the run's
# metadata as JSON under __metadata__["cwd-bench"]; the fuzz target loads it into Linear(3, 2)
# (net), Linear(2, 2) (loss) and SGD with momentum over the net ----
model = {"arch": "pspnet", "backbone_weights": "", "depth": 18, "init": "torch", "init_weights": "",
         "output_stride": 8, "pretrained": "", "stem": "standard", "width": 0.25}
safetensors(path("checkpoint", "net-only.safetensors"),
            {"net.weight": ("F32", [2, 3], f32(0, 1, 2, 3, 4, 5)), "net.bias": ("F32", [2], f32(0.5, -1)),
             "optimizer.0.0.momentum_buffer": ("F32", [2, 3], f32(1, 1, 1, 2, 2, 2)),
             "optimizer.0.1.momentum_buffer": ("F32", [2], f32(-1, 1))},
            metadata={"cwd-bench": json.dumps(
                {"config_hash": "5c2317c4e5919a8e", "format": "cwd-bench/checkpoint/2", "iteration": 400,
                 "has_loss": False, "model": model, "num_classes": 11}, separators=(",", ":"))})
safetensors(path("checkpoint", "with-loss.safetensors"),
            {"net.weight": ("F32", [2, 3], f32(*range(6))), "net.bias": ("F32", [2], f32(0, 0)),
             "loss.weight": ("F32", [2, 2], f32(1, 0, 0, 1)), "loss.bias": ("F32", [2], f32(0, 0))},
            metadata={"cwd-bench": json.dumps(
                {"format": "cwd-bench/checkpoint/2", "iteration": 0, "has_loss": True, "model": model,
                 "num_classes": 3, "curve": [{"iter": 5, "loss": 1.5, "ce": 1.0, "lr": 0.01, "distill": 0.5}]},
                separators=(",", ":"))})

# ---- idx: u32 little-endian length of the images part, the images file, then the labels file ----
def idx(file, labels):
    n = len(labels)
    images = struct.pack(">4I", 0x803, n, 28, 28) + bytes((i * 7 + k) % 256 for i in range(n) for k in range(784))
    lab = struct.pack(">2I", 0x801, n) + bytes(labels)
    with open(file, "wb") as f:
        f.write(struct.pack("<I", len(images)) + images + lab)
idx(path("idx", "three-items.bin"), [0, 9, 4])
idx(path("idx", "one-item.bin"), [7])

# ---- splitlist: lines "image label" relative to the fuzzer's data root ----
with open(path("splitlist", "two-pairs.txt"), "w") as f:
    f.write("# image label\n\nimages/a.png labels/a.png\nimages/b.png labels/b.png\n")
with open(path("splitlist", "crlf-tabs.txt"), "wb") as f:
    f.write(b"images/b.png\tlabels/b.png\r\n   images/a.png   labels/a.png  \r\n#images/c.png labels/c.png\r\n")

# ---- record: real run records ----
for name in ["student-s0.json", "cwd-logit-s0.json"]:
    shutil.copy(os.path.join(sys.argv[2], name), path("record", name))
