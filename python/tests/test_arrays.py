"""How arrays cross the boundary: zero-copy outputs, DLPack inputs, non-contiguous inputs,
and the dtypes without a NumPy equivalent."""

import numpy as np
import pytest

import precis


class DLPackOnly:
    """An object that offers its data only through the DLPack protocol (as torch tensors
    do), wrapping a NumPy array."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, *args, **kwargs):
        return self._array.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


@pytest.fixture(scope="module")
def mlp(examples):
    return precis.Session(examples / "mlp" / "model.onnx"), dict(np.load(
        examples / "mlp" / "batch0.npz"))


def test_dlpack_inputs(mlp):
    session, batch = mlp
    expected = session.run(batch)["loss"]
    wrapped = {name: DLPackOnly(value) for name, value in batch.items()}
    assert session.run(wrapped)["loss"].tobytes() == expected.tobytes()


def test_non_contiguous_and_readonly_inputs(mlp):
    session, batch = mlp
    expected = session.run(batch)["loss"]
    x = np.asfortranarray(batch["x"])
    assert not x.flags.c_contiguous
    strided = np.zeros((8, 64), np.float32)[:, ::2]
    strided[...] = batch["x"]
    readonly = batch["y"].copy()
    readonly.flags.writeable = False
    for variant in (x, strided):
        assert session.run({"x": variant, "y": readonly})["loss"].tobytes() == expected.tobytes()
    # Lists are converted (through np.asarray) like any non-array.
    assert session.run({"x": batch["x"].tolist(), "y": batch["y"]})["loss"] == expected


def test_outputs_own_their_memory_and_export_dlpack(examples):
    session = precis.Session(examples / "gpt" / "model.onnx")
    batch = dict(np.load(examples / "gpt" / "batch0.npz"))
    out = session.run(batch)["loss"]
    # No copy: the array's memory is the runtime tensor's, kept alive by the array.
    assert not out.flags.owndata and out.base is not None
    del session
    assert np.isfinite(out)
    # And it leaves through DLPack without a copy.
    assert np.shares_memory(np.from_dlpack(out), out)
    params = precis.TrainingSession(examples / "mlp" / "model.onnx").parameters()
    assert all(not p.flags.owndata for p in params.values())


BF16_MODEL = """<ir_version: 8, opset_import: ["" : 17]>
bits (bfloat16[4] a, float[4] x) => (bfloat16[4] twice, float[4] widened, bool[4] nonzero) {
  twice = Add(a, a)
  widened = Cast <to = 1> (a)
  nonzero = Cast <to = 9> (x)
}
"""


def test_bf16_and_bool(tmp_path):
    """bf16 crosses as uint16 bits (the upper half of the float32 bits), or as
    ml_dtypes.bfloat16 when that package is installed; bool as NumPy bool."""
    model = tmp_path / "bits.onnxtxt"
    model.write_text(BF16_MODEL)
    session = precis.Session(model)
    values = np.array([1.5, -2.0, 0.0, 2.0**127], np.float32)  # exact in bf16
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)
    out = session.run({"a": bits, "x": values})
    assert np.array_equal(out["widened"], values)
    twice = out["twice"]
    if twice.dtype != np.uint16:  # ml_dtypes
        twice = twice.view(np.uint16)
    widened_twice = (twice.astype(np.uint32) << 16).view(np.float32)
    assert np.array_equal(widened_twice, np.array([3.0, -4.0, 0.0, np.inf], np.float32))
    assert out["nonzero"].dtype == np.bool_
    assert out["nonzero"].tolist() == [True, True, False, True]
    with pytest.raises(precis.InvalidArgumentError, match="input 'a' expects bf16"):
        session.run({"a": values, "x": values})


def test_threads_share_a_session(mlp):
    """Calls from several threads on one session wait for each other (the GIL is released
    while each runs) and give the single-threaded result."""
    import concurrent.futures
    session, batch = mlp
    expected = session.run(batch)["loss"].tobytes()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: session.run(batch)["loss"].tobytes(), range(16)))
    assert results == [expected] * 16
