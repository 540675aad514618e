#!/usr/bin/env python3
"""Element-wise ops in bf16 as an ONNX model, for scripts/gpu-check's bit-exactness check.

    python3 benchmarks/elementwise_model.py model.onnx batch0.npz

forward(x: f32[32, 512]) -> one f32 output per op (named after it), each computed on
xb = Cast(x, bf16) in bf16 and cast back: Add, Sub, Mul, Div, Neg, Relu, Exp, Log and Sqrt
(of |x| + 0.75), Tanh, Sigmoid, Erf, Gelu (erf and tanh forms), Where(x > 0), Max, Min, and one
chain of them (which the CUDA target fuses into one kernel). The CUDA kernels must give the
CPU backend's bytes exactly: same formulas, same rounding points (docs/cuda.md). x holds
values in [-8, 8), signed zeros, tiny values and values near bf16's largest. Needs numpy and onnx.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SHAPE = [32, 512]


def main():
    out, batch = sys.argv[1], sys.argv[2]
    nodes, outputs = [], []
    inits = [numpy_helper.from_array(np.array(0.75, np.float32), "c")]
    nodes.append(helper.make_node("Cast", ["x"], ["xb"], to=TensorProto.BFLOAT16))
    nodes.append(helper.make_node("Cast", ["c"], ["cb"], to=TensorProto.BFLOAT16))
    nodes.append(helper.make_node("Abs", ["xb"], ["abs"]))
    nodes.append(helper.make_node("Add", ["abs", "cb"], ["pos"]))  # > 0 for Log and Sqrt

    def op(name, op_type, inputs, **attrs):
        nodes.append(helper.make_node(op_type, inputs, [name + "_b"], name=name, **attrs))
        nodes.append(helper.make_node("Cast", [name + "_b"], [name], to=TensorProto.FLOAT))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, SHAPE))
        return name + "_b"

    op("add", "Add", ["xb", "cb"])
    op("sub", "Sub", ["xb", "cb"])
    op("mul", "Mul", ["xb", "xb"])
    op("div", "Div", ["cb", "pos"])
    op("neg", "Neg", ["xb"])
    op("relu", "Relu", ["xb"])
    op("exp", "Exp", ["xb"])
    op("log", "Log", ["pos"])
    op("sqrt", "Sqrt", ["pos"])
    op("tanh", "Tanh", ["xb"])
    op("sigmoid", "Sigmoid", ["xb"])
    op("erf", "Erf", ["xb"])
    op("gelu", "Gelu", ["xb"])
    op("gelu_tanh", "Gelu", ["xb"], approximate="tanh")
    op("max", "Max", ["xb", "cb"])
    op("min", "Min", ["xb", "cb"])
    nodes.append(helper.make_node("Greater", ["xb", "cb"], ["gt"]))
    op("where", "Where", ["gt", "xb", "cb"])
    t = op("chain_tanh", "Tanh", ["xb"])
    s = op("chain_mul", "Mul", [t, "cb"])
    s = op("chain_exp", "Exp", [s])
    op("chain_out", "Add", [s, "xb"])
    graph = helper.make_graph(
        nodes, "elementwise", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
        outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    onnx.save(model, out)
    rng = np.random.default_rng(0)
    x = rng.uniform(-8, 8, SHAPE).astype(np.float32)
    x[0, :8] = [0.0, -0.0, 1e-30, -1e-30, 88.0, -88.0, 3e38, -3e38]
    np.savez(batch, x=x)


if __name__ == "__main__":
    main()
