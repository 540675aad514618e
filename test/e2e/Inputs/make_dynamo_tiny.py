"""Writes dynamo-tiny.onnx, a tiny model as PyTorch's dynamo exporter writes it,
dynamo-tiny.npz, four batches of its input `x`, and dynamo-bn-fused.onnx, a Linear and a
BatchNorm that the exporter's optimizer fuses into one Gemm.

The exporter records which initializers are parameters, buffers or constants (graph and
value_info metadata_props), stores constants (a Pow exponent, an epsilon) as initializers,
and, with its default optimize=True, merges equal initializers: ln2's weight and bias (ones
and zeros, like ln1's) become ln1's. The tests of "What is trained" (docs/training.md) read
it. Node metadata that records where the exporter ran (stack traces, FX nodes) is dropped
so that the file only holds what the tests need.

Run with a Python that has torch and onnx (scripts/torch-env.sh):
    python3 make_dynamo_tiny.py [output-directory]
"""

import os
import sys

import numpy as np
import onnx
import torch


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.ln1 = torch.nn.LayerNorm(4)
        self.fc = torch.nn.Linear(4, 4)
        self.ln2 = torch.nn.LayerNorm(4)
        # A learnable scalar: the exporter says parameter, so it trains although it is one
        # element.
        self.temperature = torch.nn.Parameter(torch.tensor(0.5))
        # A buffer: never trained.
        self.register_buffer("scale", torch.tensor([1.0, 2.0, 3.0, 4.0]))
        self.eps = 1e-5

    def forward(self, x):
        y = self.ln2(self.fc(self.ln1(x))) * self.scale
        rms = torch.sqrt((y ** 2).mean(-1, keepdim=True) + self.eps)
        return ((y / rms) * self.temperature).square().mean()


class LinearBatchNorm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(4, 3)
        self.bn = torch.nn.BatchNorm1d(3)

    def forward(self, x):
        return self.bn(self.fc(x)).square().mean()


def export(module, path):
    program = torch.onnx.export(module, (torch.randn(2, 4),), dynamo=True, optimize=True,
                                input_names=["x"], output_names=["loss"])
    model = program.model_proto
    keep = {"namespace", "pkg.torch.onnx.name_scopes", "pkg.torch.onnx.class_hierarchy",
            "pkg.onnxscript.rewriter.rule_name"}
    for node in model.graph.node:
        entries = [(e.key, e.value) for e in node.metadata_props if e.key in keep]
        del node.metadata_props[:]
        for key, value in entries:
            node.metadata_props.add(key=key, value=value)
    model.doc_string = ""
    model.graph.doc_string = ""
    onnx.save(model, path)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    export(Tiny(), os.path.join(out_dir, "dynamo-tiny.onnx"))
    export(LinearBatchNorm().eval(), os.path.join(out_dir, "dynamo-bn-fused.onnx"))
    x = np.random.RandomState(0).randn(8, 4).astype(np.float32)
    np.savez(os.path.join(out_dir, "dynamo-tiny.npz"), x=x)


if __name__ == "__main__":
    main()
