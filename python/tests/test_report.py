"""precis.report against `precis report --json`: the same rows."""

import json

import pytest

import precis


@pytest.mark.parametrize("model,precision,train", [("mlp", "fp32", False),
                                                   ("gpt", "bf16", False),
                                                   ("cnn", "fp8", True)])
def test_rows_equal_precis_report(tool, examples, tmp_path, model, precision, train):
    out = tmp_path / "report.json"
    flags = ["--train"] if train else []
    tool("report", examples / model / "model.onnx", "--precision", precision, "--json", out,
         *flags)
    expected = json.loads(out.read_text())["ops"]
    rows = precis.report(examples / model / "model.onnx", precision=precision, train=train)
    assert rows == expected
    assert {"node", "op", "phase", "in", "out", "acc", "rule", "reason"} == set(rows[0])
