#!/usr/bin/env python3
"""Writes onnxruntime's outputs for the first batch of each example model.

For NAME in mlp, cnn, gpt this writes

    examples/NAME/batch0.npz      the first 8 rows of data.npz (the model's static batch)
    examples/NAME/reference.npz   onnxruntime's outputs on that batch, named after the graph
                                  outputs

so that the tests can compare precis's CPU backend with onnxruntime without onnxruntime being
installed. Needs `numpy onnxruntime` (PyPI). Run from the repository root:

    python3 scripts/make_reference_outputs.py
"""

import os
import sys

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 8


def main() -> int:
    for name in ("mlp", "cnn", "gpt"):
        folder = os.path.join(ROOT, "examples", name)
        data = np.load(os.path.join(folder, "data.npz"))
        batch = {k: data[k][:BATCH] for k in data.files}
        options = ort.SessionOptions()
        # Plain fp32 kernels, no graph rewrites that could change rounding.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(os.path.join(folder, "model.onnx"), options,
                                       providers=["CPUExecutionProvider"])
        outputs = session.run(None, batch)
        names = [o.name for o in session.get_outputs()]
        np.savez(os.path.join(folder, "batch0.npz"), **batch)
        np.savez(os.path.join(folder, "reference.npz"), **dict(zip(names, outputs)))
        print(f"{name}: " + ", ".join(f"{n}={np.asarray(v).ravel()[:4]}" for n, v in zip(names, outputs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
