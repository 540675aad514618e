"""Torch tensors through DLPack, checked by hand where PyTorch is installed (CI has none).

    PYTHONPATH=build/python python3 python/tests/torch_dlpack_check.py

Runs the mlp example and a bf16 model with torch tensors as inputs (float32 and int64,
contiguous and transposed views, bfloat16) and checks every output against the same run on
NumPy arrays; checks that outputs go back into torch without a copy. Exits non-zero on the
first mismatch.
"""

import pathlib
import sys
import tempfile

import numpy as np
import torch

import precis

ROOT = pathlib.Path(__file__).resolve().parents[2]

BF16_MODEL = """<ir_version: 8, opset_import: ["" : 17]>
bits (bfloat16[4] a, float[4] x) => (bfloat16[4] twice, float[4] widened, bool[4] nonzero) {
  twice = Add(a, a)
  widened = Cast <to = 1> (a)
  nonzero = Cast <to = 9> (x)
}
"""


def main():
    session = precis.Session(ROOT / "examples" / "mlp" / "model.onnx")
    batch = dict(np.load(ROOT / "examples" / "mlp" / "batch0.npz"))
    expected = session.run(batch)["loss"]
    tensors = {name: torch.from_numpy(value) for name, value in batch.items()}
    assert session.run(tensors)["loss"].tobytes() == expected.tobytes()
    # A transposed (non-contiguous) tensor is copied into C order once.
    x_t = torch.from_numpy(np.ascontiguousarray(batch["x"].T)).t()
    assert not x_t.is_contiguous()
    assert session.run({"x": x_t, "y": tensors["y"]})["loss"].tobytes() == expected.tobytes()
    # Outputs go into torch without a copy.
    out = session.run(tensors)["loss"]
    assert torch.from_dlpack(out).data_ptr() == out.__array_interface__["data"][0]

    # bfloat16 tensors go in as they are.
    with tempfile.TemporaryDirectory() as tmp:
        model = pathlib.Path(tmp) / "bits.onnxtxt"
        model.write_text(BF16_MODEL)
        bits_session = precis.Session(model)
    a = torch.tensor([1.5, -2.0, 0.0, 2.0**127], dtype=torch.bfloat16)
    x = torch.tensor([1.5, -2.0, 0.0, 2.0**127], dtype=torch.float32)
    out = bits_session.run({"a": a, "x": x})
    assert np.array_equal(out["widened"], x.numpy())
    twice = out["twice"].view(np.uint16)
    expected_twice = (a.float() * 2).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(twice, expected_twice)

    # Training from torch tensors gives the losses of NumPy inputs.
    onnx = ROOT / "examples" / "mlp" / "model.onnx"
    data = np.load(ROOT / "examples" / "mlp" / "data.npz")
    a_run, b_run = precis.TrainingSession(onnx), precis.TrainingSession(onnx)
    for i in range(5):
        rows = slice(8 * i, 8 * i + 8)
        numpy_batch = {name: data[name][rows] for name in data.files}
        torch_batch = {name: torch.from_numpy(v) for name, v in numpy_batch.items()}
        assert a_run.step(numpy_batch, 0.1) == b_run.step(torch_batch, 0.1)
    print(f"torch {torch.__version__}: DLPack inputs and outputs OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
