"""Session against `precis run` and `precis compile`: the same artifact bytes, the same
outputs, bit for bit."""

import numpy as np

import precis


def test_artifact_equals_precis_compile(tool, examples, tmp_path):
    for model, flags, kwargs in [("mlp", [], {}),
                                 ("gpt", ["--precision", "bf16"], dict(precision="bf16")),
                                 ("cnn", ["--train", "--optimizer", "adam"],
                                  dict(train=True, optimizer="adam"))]:
        out = tmp_path / f"{model}.precis"
        tool("compile", examples / model / "model.onnx", "-o", out, *flags)
        artifact = precis.compile(examples / model / "model.onnx", **kwargs)
        assert bytes(artifact) == out.read_bytes(), model
        assert artifact.stats["ops"] > 0


def test_outputs_equal_precis_run(tool, examples, tmp_path):
    for model, precision in [("mlp", "fp32"), ("cnn", "fp32"), ("gpt", "fp32"), ("gpt", "bf16")]:
        path = tmp_path / f"{model}-{precision}.precis"
        precis.compile(examples / model / "model.onnx", precision=precision).save(path)
        batch = examples / model / "batch0.npz"
        outdir = tmp_path / f"out-{model}-{precision}"
        tool("run", path, "--inputs", batch, "--output-dir", outdir)
        inputs = dict(np.load(batch))
        outputs = precis.Session(path).run(inputs)
        assert sorted(outputs) == sorted(p.stem for p in outdir.glob("*.npy"))
        for name, value in outputs.items():
            expected = np.load(outdir / f"{name}.npy")
            assert value.dtype == expected.dtype and value.shape == expected.shape
            assert value.tobytes() == expected.tobytes(), (model, precision, name)


def test_session_from_model_and_signature(examples):
    session = precis.Session(examples / "mlp" / "model.onnx", num_threads=1)
    (forward,) = session.functions
    assert forward["name"] == "forward"
    assert [(i["name"], i["dtype"], i["shape"]) for i in forward["inputs"]] == [
        ("x", "f32", (8, 32)), ("y", "i64", (8,))]
    assert session.target == "cpu"
    assert session.parameter("fc1.bias").shape == (64,)
    batch = dict(np.load(examples / "mlp" / "batch0.npz"))
    assert session(batch)["loss"] == session.run(batch, function="forward")["loss"]


def test_training_artifact_functions(examples):
    session = precis.Session(precis.compile(examples / "mlp" / "model.onnx", train=True))
    names = [f["name"] for f in session.functions]
    assert names == ["forward", "gradients", "train_step"]
    batch = dict(np.load(examples / "mlp" / "batch0.npz"))
    (gradients,) = [f for f in session.functions if f["name"] == "gradients"]
    inputs = {i["name"]: batch[i["name"]] if i["name"] in batch else session.parameter(i["name"])
              for i in gradients["inputs"]}
    grads = session.run(inputs, function="gradients")
    assert [o["name"] for o in gradients["outputs"]] == list(grads)
    assert grads[next(iter(grads))].dtype == np.float32
