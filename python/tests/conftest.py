"""Shared fixtures of the Python package tests: the precis tool and the examples they are
compared against (ctest sets PRECIS_TOOL and PRECIS_EXAMPLES; PYTHONPATH points at the
package in the build tree)."""

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tool():
    path = os.environ.get("PRECIS_TOOL", str(ROOT / "build" / "bin" / "precis"))
    assert os.path.exists(path), f"the precis tool is not at {path} (set PRECIS_TOOL)"

    def run(*args):
        result = subprocess.run([path, *map(str, args)], capture_output=True, text=True)
        assert result.returncode == 0, f"precis {' '.join(map(str, args))}:\n{result.stderr}"
        return result
    return run


@pytest.fixture(scope="session")
def examples():
    return pathlib.Path(os.environ.get("PRECIS_EXAMPLES", str(ROOT / "examples")))


def batches(data_path, batch_size=8):
    """The batches `precis train` takes without --shuffle: rows [i*B, (i+1)*B) modulo the
    row count."""
    data = np.load(data_path)
    rows = data[data.files[0]].shape[0]
    i = 0
    while True:
        index = [(i * batch_size + r) % rows for r in range(batch_size)]
        yield {name: data[name][index] for name in data.files}
        i += 1


def read_log(path):
    with open(path) as f:
        return [json.loads(line)["loss"] for line in f]
