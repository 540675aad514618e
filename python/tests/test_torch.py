"""Torch tensors through DLPack: inputs (float32, int64 and bfloat16, contiguous and not) give
the results of the same NumPy arrays, outputs go into torch without a copy, and training from
torch tensors gives the losses of NumPy batches. torch comes from Debian's python3-torch
(scripts/bootstrap.sh), which the project's .venv sees."""

import numpy as np
import pytest
import torch

import precis

BF16_MODEL = """<ir_version: 8, opset_import: ["" : 17]>
bits (bfloat16[4] a, float[4] x) => (bfloat16[4] twice, float[4] widened, bool[4] nonzero) {
  twice = Add(a, a)
  widened = Cast <to = 1> (a)
  nonzero = Cast <to = 9> (x)
}
"""


@pytest.fixture
def mlp_batch(examples):
    return dict(np.load(examples / "mlp" / "batch0.npz"))


def test_torch_inputs_equal_numpy_inputs(examples, mlp_batch):
    session = precis.Session(examples / "mlp" / "model.onnx")
    expected = session.run(mlp_batch)["loss"]
    tensors = {name: torch.from_numpy(value) for name, value in mlp_batch.items()}
    assert session.run(tensors)["loss"].tobytes() == expected.tobytes()
    # A transposed (non-contiguous) tensor is copied into C order once.
    x_t = torch.from_numpy(np.ascontiguousarray(mlp_batch["x"].T)).t()
    assert not x_t.is_contiguous()
    assert session.run({"x": x_t, "y": tensors["y"]})["loss"].tobytes() == expected.tobytes()


def test_outputs_go_into_torch_without_a_copy(examples, mlp_batch):
    session = precis.Session(examples / "mlp" / "model.onnx")
    tensors = {name: torch.from_numpy(value) for name, value in mlp_batch.items()}
    out = session.run(tensors)["loss"]
    assert torch.from_dlpack(out).data_ptr() == out.__array_interface__["data"][0]


def test_bfloat16_tensors_go_in_as_they_are(tmp_path):
    model = tmp_path / "bits.onnxtxt"
    model.write_text(BF16_MODEL)
    session = precis.Session(model)
    a = torch.tensor([1.5, -2.0, 0.0, 2.0**127], dtype=torch.bfloat16)
    x = torch.tensor([1.5, -2.0, 0.0, 2.0**127], dtype=torch.float32)
    out = session.run({"a": a, "x": x})
    assert np.array_equal(out["widened"], x.numpy())
    twice = out["twice"].view(np.uint16)
    expected = (a.float() * 2).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(twice, expected)


def test_training_from_torch_tensors(examples):
    onnx = examples / "mlp" / "model.onnx"
    data = np.load(examples / "mlp" / "data.npz")
    numpy_run, torch_run = precis.TrainingSession(onnx), precis.TrainingSession(onnx)
    for i in range(5):
        rows = slice(8 * i, 8 * i + 8)
        numpy_batch = {name: data[name][rows] for name in data.files}
        torch_batch = {name: torch.from_numpy(v) for name, v in numpy_batch.items()}
        assert numpy_run.step(numpy_batch, 0.1) == torch_run.step(torch_batch, 0.1)
