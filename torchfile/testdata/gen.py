"""Writes the small PyTorch checkpoints and golden.json that torchfile's tests read.

Run from the repository root:

    /usr/bin/python3 torchfile/testdata/gen.py

golden.json lists, for every tensor the Go reader should find, the dotted
name, dtype, shape, stride, storage offset and the values as float64 (for
floating-point tensors), as PyTorch itself reports them.
"""
import collections
import json
import os

import torch

here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)

w = torch.arange(12.0).reshape(3, 4) / 8 - 0.5
base = torch.randn(6, 5)
state = collections.OrderedDict([
    ("w", w.half()),                             # float16
    ("b", torch.tensor([1.5, -2.0, 0.25])),      # float32
    ("bf", w.t().contiguous().bfloat16()),       # bfloat16
    ("row", base[2]),                            # view with a storage offset
    ("tr", base.t()),                            # non-contiguous view: stride (1, 5)
    ("cols", base[1:4, 1:3]),                    # non-contiguous view with an offset
    ("d", torch.tensor([0.1, -1e-8, 3.0], dtype=torch.float64)),
    ("idx", torch.arange(6).reshape(2, 3)),      # int64
    ("scalar", torch.tensor(2.5)),               # rank 0
    ("empty", torch.zeros(0, 4)),                # no elements
    ("half_sub", torch.tensor([5.960464477539063e-08, -0.333251953125, 65504.0, 1.0], dtype=torch.float16)),
])
torch.save(state, os.path.join(here, "state_dict.pt"))

param = torch.nn.Parameter(torch.randn(2, 3))
training = {
    "model": collections.OrderedDict([
        ("enc.weight", param),                   # a Parameter, not a plain tensor
        ("enc.bias", torch.randn(2)),
        ("blocks", {"0": {"scale": torch.ones(2).half()}}),  # nested dict
    ]),
    "optimizer": {"state": {0: {"step": 3, "exp_avg": torch.zeros(2, 3)}},
                  "param_groups": [{"lr": 1e-4, "params": [0]}]},
    "config": {"lr": 1e-4, "name": "tiny"},
    "epoch": 3,
}
torch.save(training, os.path.join(here, "training.pt"))

torch.save({"x": torch.ones(2)}, os.path.join(here, "legacy.pt"), _use_new_zipfile_serialization=False)


def entry(name, t):
    e = {"name": name, "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
         "stride": list(t.stride()), "offset": t.storage_offset()}
    if t.is_floating_point():
        e["values"] = t.detach().double().flatten().tolist()
    else:
        e["values"] = [float(v) for v in t.flatten().tolist()]
    return e


golden = {
    "state_dict.pt": [entry(k, v) for k, v in state.items()],
    "training.pt": [
        entry("model.enc.weight", param), entry("model.enc.bias", training["model"]["enc.bias"]),
        entry("model.blocks.0.scale", training["model"]["blocks"]["0"]["scale"]),
        entry("optimizer.state.0.exp_avg", training["optimizer"]["state"][0]["exp_avg"]),
    ],
}
with open(os.path.join(here, "golden.json"), "w") as f:
    json.dump(golden, f, indent=1)
    f.write("\n")

# Dicts that share one dict many times over: 40**10 paths to one tensor in
# a file of a few kilobytes. The reader must refuse it, not walk it.
shared = {"t": torch.ones(1)}
for _ in range(10):
    shared = {str(k): shared for k in range(40)}
torch.save(shared, os.path.join(here, "shared.pt"))
