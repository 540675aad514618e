#!/usr/bin/env python3
"""Writes the binary ONNX inputs of the importer's lit tests (test/Import/Inputs/).

Run from anywhere with the `onnx` and `numpy` Python packages installed; the outputs are
committed, and nothing at build or test time runs this script. The models are tiny and
deterministic: rerunning it reproduces the committed files byte for byte.

  external-data.onnx + .bin   a float initializer stored externally (valid)
  external-missing.onnx       external data in a file that does not exist
  external-short.onnx         external data past the end of its file
  external-escape.onnx        external data outside the model's directory ("../")
  external-absolute.onnx      external data at an absolute path
  named-unknown-ops.onnx      named nodes with unknown ops and an unknown domain
  float8-cast.onnx            opset 19 casts through float8e4m3fn and float8e5m2
  training-empty-inputs.onnx  training-domain nodes with an empty ("" named) input, which
                              textual ONNX cannot write
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def save(model, name):
    model.producer_name = "precis test/Import/Inputs/generate.py"
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(model.SerializeToString())


def external_tensor(name, dims, location, offset=None, length=None):
    """A float initializer whose data lives in `location`."""
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    tensor.data_location = TensorProto.EXTERNAL
    entries = [("location", location)]
    if offset is not None:
        entries.append(("offset", str(offset)))
    if length is not None:
        entries.append(("length", str(length)))
    for key, value in entries:
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def external_model(location, offset=None, length=None):
    """y = x + w, w [2, 3] stored externally."""
    weight = external_tensor("w", [2, 3], location, offset, length)
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add")],
        "external",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        initializer=[weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def main():
    # 16 bytes of padding, then w = [[1, 2, 3], [4, 5, 6]] as little-endian float32.
    weights = np.arange(1, 7, dtype="<f4").reshape(2, 3)
    with open(os.path.join(HERE, "external-data.bin"), "wb") as f:
        f.write(b"\0" * 16 + weights.tobytes())
    save(external_model("external-data.bin", offset=16, length=24), "external-data.onnx")
    save(external_model("missing-weights.bin"), "external-missing.onnx")
    save(external_model("external-data.bin", offset=32, length=24), "external-short.onnx")
    save(external_model("../external-data.bin"), "external-escape.onnx")
    save(external_model("/nonexistent/external-data.bin"), "external-absolute.onnx")

    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["a"], name="fine"),
            helper.make_node("FancyActivation", ["a"], ["b"], name="/block/fancy"),
            helper.make_node("Mish", ["b"], ["c"], name="/block/mish"),
            helper.make_node("FusedGelu", ["c"], ["y"], name="/block/fused", domain="com.acme"),
        ],
        "unknown",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.acme", 1)],
        ir_version=8,
    )
    save(model, "named-unknown-ops.onnx")

    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["x"], ["e4m3"], name="to_e4m3",
                             to=TensorProto.FLOAT8E4M3FN),
            helper.make_node("Cast", ["e4m3"], ["e5m2"], name="to_e5m2",
                             to=TensorProto.FLOAT8E5M2),
            helper.make_node("Cast", ["e5m2"], ["y"], name="to_f32", to=TensorProto.FLOAT),
        ],
        "float8",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=9),
         "float8-cast.onnx")
    save(training_empty_inputs(), "training-empty-inputs.onnx")


def training_empty_inputs():
    training = "ai.onnx.preview.training"
    graph = helper.make_graph(
        [
            helper.make_node("Neg", ["x"], ["y"], name="neg"),
            helper.make_node("Adagrad", ["r", "", "x", "g", "h"], ["x_new", "h_new"],
                             name="adagrad", domain=training),
            helper.make_node("Gradient", [""], ["dy_dx"], name="gradient", domain=training,
                             xs=["x"], y="y"),
        ],
        "training_empty_inputs",
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, [])]
        + [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4]) for n in ("x", "g", "h")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4])
         for n in ("x_new", "h_new", "dy_dx")],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(training, 1)],
        ir_version=8,
    )


if __name__ == "__main__":
    main()
