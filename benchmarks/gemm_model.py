#!/usr/bin/env python3
"""One GEMM as an ONNX model, for timing precis's GEMMs against raw cuBLASLt (cublaslt_gemm.cu).

    python3 benchmarks/gemm_model.py N out.onnx

forward(x: f32[1]) -> y = ReduceSum(MatMul(A, B), axes=[-1]) + x, with A, B f32[N, N]
initializers. The operands are parameters, so they live on the device and a run uploads only x;
the row sums keep the copied-back result at N floats (a one-block-per-row kernel, a few percent
of the GEMM's time). Compiled with `--no-weights` the artifact is small whatever N.
With `--precision bf16|fp8` the run also casts (fp8: scales) the fp32 parameters each time, as a
training step's forward pass does: scripts/gpu-check reports that time with the GEMM's.
Needs numpy and onnx.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    # Zeros compress to nothing in memory maps and are replaced by --no-weights anyway.
    a = numpy_helper.from_array(np.zeros((n, n), np.float32), "A")
    b = numpy_helper.from_array(np.zeros((n, n), np.float32), "B")
    axes = numpy_helper.from_array(np.array([-1], np.int64), "axes")
    nodes = [
        helper.make_node("MatMul", ["A", "B"], ["ab"], name="MatMul"),
        helper.make_node("ReduceSum", ["ab", "axes"], ["rows"], keepdims=0, name="ReduceSum"),
        helper.make_node("Add", ["rows", "x"], ["y"], name="Add"),
    ]
    graph = helper.make_graph(
        nodes, f"gemm{n}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])],
        initializer=[a, b, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, out)


if __name__ == "__main__":
    main()
