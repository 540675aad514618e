#!/usr/bin/env python3
"""PyTorch reference losses for `precis train` on the examples (mlp, cnn, gpt).

For each example the script rebuilds its PyTorch module (the classes in
scripts/export_examples.py), loads the initial weights from the ONNX
initializers by name (so the start point is exactly the committed model's),
and trains it in fp32 on the CPU on the committed data.npz: batch i is rows
[8i, 8i+8) modulo 64, in order. It records the per-step loss (the loss of
the batch *before* that step's update, as `precis train` reports it) for

    sgd:   torch.optim.SGD(lr=0.1, momentum=0.9)
    adamw: torch.optim.AdamW(lr=1e-3)   (betas 0.9,0.999, eps 1e-8, weight_decay 0.01)

and writes examples/NAME/reference_losses.json:

    {"sgd": [40 floats], "adamw": [40 floats], "settings": {...}}

The JSON files are committed; CI compares `precis train` against them without
torch (unittests/TrainReferenceTest.cpp). To regenerate, from the repository root:

    python3 -m pip install torch==2.8.0 numpy onnx onnxruntime
    python3 scripts/torch_reference_losses.py            # rewrites the JSON files
    python3 scripts/torch_reference_losses.py --check    # compares, writes nothing
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_examples as ex  # noqa: E402  (the modules the examples were exported from)

STEPS = 40
BATCH = 8
OPTIMIZERS = {
    "sgd": (torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    "adamw": (torch.optim.AdamW, dict(lr=1e-3)),
}
SETTINGS = {
    "steps": STEPS,
    "batch_size": BATCH,
    "batches": "rows [8i, 8i+8) mod 64 of data.npz, in order",
    "sgd": {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
    "adamw": {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01},
    "dtype": "float32",
    "torch": torch.__version__,
}


def initial_model(example: ex.Example, onnx_path: str) -> torch.nn.Module:
    """The example's module with every parameter and buffer taken from the ONNX initializers."""
    model = ex.build_model(example)
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(onnx_path).graph.initializer}
    state = model.state_dict()
    for name in state:
        if name not in inits:
            raise SystemExit(f"{onnx_path}: no initializer named {name!r}")
        state[name] = torch.from_numpy(np.array(inits[name])).to(state[name].dtype)
    model.load_state_dict(state)
    return model


def losses(example: ex.Example, directory: str, optimizer: str) -> list[float]:
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    model = initial_model(example, os.path.join(directory, "model.onnx"))
    data = dict(np.load(os.path.join(directory, "data.npz")))
    rows = len(next(iter(data.values())))
    cls, kwargs = OPTIMIZERS[optimizer]
    opt = cls(model.parameters(), **kwargs)
    out = []
    for i in range(STEPS):
        index = [(i * BATCH + r) % rows for r in range(BATCH)]
        batch = [torch.from_numpy(data[n][index]) for n in example.input_names]
        opt.zero_grad()
        loss = model(*batch)
        loss.backward()
        opt.step()
        out.append(float(loss.item()))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files")
    args = parser.parse_args()
    status = 0
    for example in ex.EXAMPLES:
        directory = os.path.join(ex.REPO_ROOT, "examples", example.name)
        result = {name: losses(example, directory, name) for name in OPTIMIZERS}
        result["settings"] = SETTINGS
        path = os.path.join(directory, "reference_losses.json")
        print(f"{example.name}: sgd {result['sgd'][0]:.7f} -> {result['sgd'][-1]:.7f}, "
              f"adamw {result['adamw'][0]:.7f} -> {result['adamw'][-1]:.7f}")
        if args.check:
            with open(path) as f:
                old = json.load(f)
            for name in OPTIMIZERS:
                if not np.allclose(old[name], result[name], rtol=1e-6, atol=0):
                    print(f"{path}: {name} losses differ", file=sys.stderr)
                    status = 1
            continue
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
