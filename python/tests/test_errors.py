"""Bad input raises a precis.Error subclass with the runtime's or the compiler's message; the
interpreter survives every case."""

import numpy as np
import pytest

import precis


@pytest.fixture(scope="module")
def mlp(examples):
    return precis.Session(examples / "mlp" / "model.onnx"), dict(np.load(
        examples / "mlp" / "batch0.npz"))


def test_input_errors(mlp):
    session, batch = mlp
    x, y = batch["x"], batch["y"]
    cases = [
        ({"x": x}, precis.InvalidArgumentError, r"missing input 'y' \(i64\[8\]\)"),
        ({"x": x, "y": y, "z": y}, precis.InvalidArgumentError, "has no input named 'z'"),
        ({"x": x.astype(np.float64), "y": y}, precis.InvalidArgumentError,
         r"input 'x' expects f32\[8,32\], got f64\[8,32\]"),
        ({"x": x[:4], "y": y}, precis.InvalidArgumentError, r"f32\[8,32\], got f32\[4,32\]"),
        ({"x": x.astype(np.complex64), "y": y}, precis.InvalidArgumentError,
         "element type complex64 has no precis equivalent"),
        ({"x": "text", "y": y}, precis.InvalidArgumentError, "input 'x'"),
        ({1: x, "y": y}, precis.InvalidArgumentError, "input names are strings"),
    ]
    for inputs, error, message in cases:
        with pytest.raises(error, match=message):
            session.run(inputs)
    with pytest.raises(precis.InvalidArgumentError, match="dict of arrays"):
        session.run([x, y])
    with pytest.raises(precis.NotFoundError, match="no function 'backward'"):
        session.run(batch, function="backward")
    with pytest.raises(precis.NotFoundError):
        session.parameter("nope")
    # Still usable afterwards.
    assert np.isfinite(session.run(batch)["loss"])


def test_compile_errors(tmp_path, examples):
    bad = tmp_path / "bad.onnxtxt"
    bad.write_text('<ir_version: 8, opset_import: ["" : 17]>\n'
                   'g (float[4] x) => (float[4] y) {\n  y = Frobnicate(x)\n}\n')
    with pytest.raises(precis.CompileError, match="bad.onnxtxt.*Frobnicate") as info:
        precis.compile(bad)
    assert isinstance(info.value, precis.Error)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes((examples / "mlp" / "model.onnx").read_bytes()[:200])
    with pytest.raises(precis.CompileError, match="truncated.onnx"):
        precis.compile(truncated)
    with pytest.raises(precis.NotFoundError, match="no such file"):
        precis.compile(tmp_path / "missing.onnx")
    model = examples / "mlp" / "model.onnx"
    option_errors = [
        (dict(precision="fp7"), "unknown precision 'fp7'"),
        (dict(train=True, optimizer="lion"), "unknown optimizer 'lion'"),
        (dict(optimizer="adam"), "need train=True"),
        (dict(train=True, betas=(0.9, 0.99)), "Adam options"),
        (dict(train=True, optimizer="adam", betas=(0.9, 1.5)), r"betas expects B1, B2 in \[0, 1\)"),
        (dict(precision="auto"), "calibration batch"),
        (dict(target="tpu"), "unsupported target 'tpu'"),
        (dict(train=True, init_scale=8.0), "init_scale needs loss_scaling"),
        (dict(batch=0), "batch must be positive"),
        (dict(rules=tmp_path / "none.json"), "cannot read the rules file"),
        (dict(init_seed=3), "init_seed needs no_weights"),
    ]
    for options, message in option_errors:
        with pytest.raises(precis.InvalidArgumentError, match=message):
            precis.compile(model, **options)


def test_artifact_and_session_errors(tmp_path, examples):
    with pytest.raises(precis.InvalidArtifactError):
        precis.Session(precis.Artifact(b"not an artifact"))
    data = bytes(precis.compile(examples / "mlp" / "model.onnx"))
    with pytest.raises(precis.InvalidArtifactError):
        precis.Session(precis.Artifact(data[: len(data) // 2]))
    with pytest.raises(precis.Error, match="cannot open artifact.*No such file"):
        precis.Session(tmp_path / "missing.precis")
    with pytest.raises(precis.NotFoundError):
        precis.Artifact.load(tmp_path / "missing.precis")
    with pytest.raises(precis.Error, match="train"):
        precis.TrainingSession(precis.Artifact(data))
    with pytest.raises(precis.InvalidArgumentError, match="were fixed"):
        precis.Session(precis.Artifact(data), precision="bf16")
    with pytest.raises(precis.InvalidArgumentError, match="num_threads"):
        precis.Session(precis.Artifact(data), num_threads=0)
    with pytest.raises(precis.InvalidArgumentError, match="compiled for target 'cpu'"):
        precis.Session(precis.Artifact(data), device="cuda")


def test_training_errors(tmp_path, examples):
    session = precis.TrainingSession(examples / "mlp" / "model.onnx")
    with pytest.raises(precis.InvalidArgumentError, match="missing input 'y'"):
        session.step({"x": np.zeros((8, 32), np.float32)}, 0.1)
    with pytest.raises(precis.InvalidArgumentError, match="dict of arrays"):
        session.step(np.zeros(3), 0.1)
    with pytest.raises(precis.Error):
        session.step(None, 0.1)  # no data set opened
    with pytest.raises(precis.Error, match="missing.npz"):
        session.open_data(tmp_path / "missing.npz")
    with pytest.raises(precis.NotFoundError):
        session.load_checkpoint(tmp_path)
    with pytest.raises(precis.Error):
        session.set_parameter("fc1.bias", np.zeros(3, np.float32))
    damaged = tmp_path / "ckpt"
    path = session.save_checkpoint(damaged)
    raw = bytearray(open(path, "rb").read())
    raw[-100] ^= 0xFF
    open(path, "wb").write(bytes(raw))
    with pytest.raises(precis.InvalidArgumentError):
        session.load_checkpoint(path)
    artifact_session = precis.TrainingSession(
        precis.compile(examples / "mlp" / "model.onnx", train=True))
    with pytest.raises(precis.InvalidArgumentError, match="export_onnx needs"):
        artifact_session.export_onnx(tmp_path / "out.onnx")
    assert session.step_count == 0
