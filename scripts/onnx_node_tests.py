#!/usr/bin/env python3
"""Writes ONNX backend node tests of the installed `onnx` package to a directory.

    python3 scripts/onnx_node_tests.py OUT OP [OP ...]

Debian's libonnx-testdata holds the node tests of ONNX 1.12 (opsets up to 17). Ops added
since (RMSNormalization, RotaryEmbedding and Attention at opset 23, ...) have their node tests
in the `onnx` Python package as generators (onnx.backend.test.case.node), which compute the
expected outputs with ONNX's reference implementation. This script runs the generators of
the named op types and writes each test as the backend test layout precis-conformance reads:
OUT/test_NAME/model.onnx and OUT/test_NAME/test_data_set_N/{input,output}_K.pb.
Needs `onnx` (>= 1.19) and NumPy; the project's environment (scripts/python-env.sh) has both.
"""
import os
import shutil
import subprocess
import sys


def write_op(out, op):
    import warnings

    warnings.simplefilter("ignore")
    import onnx.backend.test.case.node as node
    from onnx import numpy_helper

    count = 0
    for case in node.collect_testcases(op):
        d = os.path.join(out, case.name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        graph = case.model.graph
        for i, (inputs, outputs) in enumerate(case.data_sets):
            ds = os.path.join(d, f"test_data_set_{i}")
            os.makedirs(ds, exist_ok=True)
            for kind, values, infos in (("input", inputs, graph.input),
                                        ("output", outputs, graph.output)):
                for j, value in enumerate(values):
                    tensor = numpy_helper.from_array(value, infos[j].name)
                    with open(os.path.join(ds, f"{kind}_{j}.pb"), "wb") as f:
                        f.write(tensor.SerializeToString())
        count += 1
    return count


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out, ops = sys.argv[1], sys.argv[2:]
    if len(ops) > 1:
        # A fresh directory; the generators register their cases on first import only: one
        # process per op.
        shutil.rmtree(out, ignore_errors=True)
        for op in ops:
            subprocess.run([sys.executable, __file__, out, op], check=True)
        return
    try:
        import onnx
    except ImportError:
        sys.exit("onnx_node_tests.py: the onnx Python package is not installed "
                 "(scripts/python-env.sh installs it)")
    n = write_op(out, ops[0])
    if n == 0:
        sys.exit(f"onnx_node_tests.py: onnx {onnx.__version__} has no node tests for {ops[0]}")
    print(f"onnx_node_tests.py: {n} tests of {ops[0]} (onnx {onnx.__version__}) in {out}")


if __name__ == "__main__":
    main()
