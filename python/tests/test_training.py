"""TrainingSession against `precis train`: the same per-step losses, exactly (the same
compiler, the same runtime loop, the same batches), for every example."""

import itertools

import numpy as np
import pytest

import precis
from conftest import batches, read_log

# Each example with an optimizer and the flags `precis train` gets for it.
CASES = [
    ("mlp", dict(optimizer="sgd", momentum=0.9), ["--momentum", "0.9"], 0.1),
    ("cnn", dict(optimizer="adam"), [], 1e-3),
    ("gpt", dict(optimizer="adamw"), [], 1e-3),
]
STEPS = {"mlp": 20, "cnn": 20, "gpt": 40}


@pytest.mark.parametrize("model,options,flags,lr", CASES, ids=[c[0] for c in CASES])
def test_losses_equal_precis_train(tool, examples, tmp_path, model, options, flags, lr):
    steps = STEPS[model]
    onnx, data = examples / model / "model.onnx", examples / model / "data.npz"
    log = tmp_path / "losses.jsonl"
    tool("train", onnx, "--data", data, "--steps", steps, "--lr", lr, "--optimizer",
         options["optimizer"], *flags, "--log", log)
    expected = read_log(log)

    session = precis.TrainingSession(onnx, **options)
    losses = [session.step(batch, lr=lr) for batch in itertools.islice(batches(data), steps)]
    # Bit-identical: the float32 loss of each step, as precis train logs it.
    assert np.array_equal(np.float32(losses), np.float32(expected)), (losses, expected)
    assert session.step_count == steps


def test_open_data_with_shuffle_equals_precis_train(tool, examples, tmp_path):
    onnx, data = examples / "mlp" / "model.onnx", examples / "mlp" / "data.npz"
    log = tmp_path / "losses.jsonl"
    tool("train", onnx, "--data", data, "--steps", 12, "--lr", 0.05, "--shuffle", 7,
         "--log", log)
    session = precis.TrainingSession(onnx)
    session.open_data(data, shuffle=7)
    losses = [session.step(None, lr=0.05) for _ in range(12)]
    assert np.array_equal(np.float32(losses), np.float32(read_log(log)))
    assert session.data_cursor == 12


def test_artifact_compiled_with_train(tool, examples, tmp_path):
    onnx, data = examples / "mlp" / "model.onnx", examples / "mlp" / "data.npz"
    artifact = precis.compile(onnx, train=True, optimizer="adamw", weight_decay=0.05)
    path = tmp_path / "mlp.precis"
    artifact.save(path)
    log = tmp_path / "losses.jsonl"
    tool("train", path, "--data", data, "--steps", 6, "--lr", 1e-3, "--log", log)
    for source in (artifact, path, precis.Artifact.load(path)):
        session = precis.TrainingSession(source)
        losses = [session.step(b, 1e-3) for b in itertools.islice(batches(data), 6)]
        assert np.array_equal(np.float32(losses), np.float32(read_log(log)))


def test_checkpoint_round_trip_and_precis_resume(tool, examples, tmp_path):
    onnx, data = examples / "gpt" / "model.onnx", examples / "gpt" / "data.npz"
    session = precis.TrainingSession(onnx, optimizer="adamw")
    stream = batches(data)
    for batch in itertools.islice(stream, 5):
        session.step(batch, 1e-3)
    # The data cursor counts the batches given too: the checkpoint is step 5's.
    path = session.save_checkpoint(tmp_path / "ckpt")
    assert path.endswith("step-00000005.npz")
    later = [session.step(b, 1e-3) for b in itertools.islice(stream, 5)]
    resumed = precis.TrainingSession(onnx, optimizer="adamw")
    assert resumed.load_checkpoint(tmp_path / "ckpt") == path
    assert resumed.step_count == 5 and resumed.data_cursor == 5
    again = [resumed.step(b, 1e-3) for b in itertools.islice(batches(data), 5, 10)]
    assert np.array_equal(np.float32(later), np.float32(again))
    for name, value in resumed.parameters().items():
        assert np.array_equal(value, session.parameters()[name]), name

    # A checkpoint from the data-set loop resumes in precis train exactly.
    looped = precis.TrainingSession(onnx, optimizer="adamw")
    looped.open_data(data)
    for _ in range(4):
        looped.step(None, 1e-3)
    looped.save_checkpoint(tmp_path / "loop")
    log = tmp_path / "losses.jsonl"
    tool("train", onnx, "--data", data, "--steps", 8, "--lr", 1e-3, "--optimizer", "adamw",
         "--resume", tmp_path / "loop", "--log", log)
    continued = [looped.step(None, 1e-3) for _ in range(4)]
    assert np.array_equal(np.float32(continued), np.float32(read_log(log)))


def test_parameters_and_export_onnx(tool, examples, tmp_path):
    onnx, data = examples / "mlp" / "model.onnx", examples / "mlp" / "data.npz"
    session = precis.TrainingSession(onnx)
    before = session.parameters()
    assert sorted(before) == ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "fc3.bias",
                              "fc3.weight"]
    assert before["fc1.weight"].shape == (64, 32) and before["fc1.weight"].dtype == np.float32
    for batch in itertools.islice(batches(data), 3):
        session.step(batch, 0.1)
    after = session.parameters()
    assert not np.array_equal(before["fc1.weight"], after["fc1.weight"])
    assert np.array_equal(session.state("fc1.weight"), after["fc1.weight"])

    # export_onnx writes what precis export writes from the same state.
    session.save_checkpoint(tmp_path / "ckpt")
    tool("export", onnx, "--checkpoint", tmp_path / "ckpt", "-o", tmp_path / "cli.onnx")
    assert session.export_onnx(tmp_path / "py.onnx") == 6
    assert (tmp_path / "py.onnx").read_bytes() == (tmp_path / "cli.onnx").read_bytes()

    # set_parameter: the next step starts from the value given.
    session.set_parameter("fc3.bias", np.zeros(10, np.float32))
    assert not session.parameters()["fc3.bias"].any()


def test_frozen_equals_precis_train(tool, examples, tmp_path):
    # docs/training.md: frozen= is --frozen; the frozen initializers are not parameters of the
    # training step, and the losses equal precis train's.
    onnx, data = examples / "mlp" / "model.onnx", examples / "mlp" / "data.npz"
    log = tmp_path / "losses.jsonl"
    tool("train", onnx, "--data", data, "--steps", 4, "--lr", 0.1, "--frozen", "fc1[.].*",
         "--log", log)
    session = precis.TrainingSession(onnx, frozen="fc1[.].*")
    assert "fc1.weight" not in session.parameters()
    assert "fc2.weight" in session.parameters()
    losses = [session.step(b, lr=0.1) for b in itertools.islice(batches(data), 4)]
    assert np.array_equal(np.float32(losses), np.float32(read_log(log)))
    with pytest.raises((precis.CompileError, precis.InvalidArgumentError),
                       match="bad regular expression"):
        precis.compile(onnx, train=True, trainable="fc[")
    with pytest.raises(precis.InvalidArgumentError, match="need train=True"):
        precis.compile(onnx, frozen="fc1.*")
