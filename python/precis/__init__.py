"""precis: compile ONNX models for mixed-precision training and inference, and run them.

The package binds the precis compiler (ONNX import, the precision and training pipelines,
artifact writing) and its runtime (sessions, the training loop, checkpoints)::

    import numpy as np
    import precis

    artifact = precis.compile("examples/mlp/model.onnx")            # inference
    session = precis.Session(artifact)
    outputs = session.run({"x": x, "y": y})                          # dict of NumPy arrays

    trainer = precis.TrainingSession("examples/gpt/model.onnx", optimizer="adamw")
    for step in range(40):
        loss = trainer.step({"idx": idx[8 * step:8 * step + 8], ...}, lr=1e-3)

Arrays: inputs are NumPy arrays or any object with ``__dlpack__`` (a torch tensor, for one)
in host memory. A C-contiguous array of the input's element type is passed to the runtime
without a copy; other layouts are copied once. Outputs are NumPy arrays that own the
runtime's buffers (no copy). bf16 values travel as ``uint16`` bits and fp8 values as
``uint8`` bits; when ``ml_dtypes`` is installed, outputs are viewed as its ``bfloat16`` /
``float8_e4m3fn`` / ``float8_e5m2`` and such arrays are accepted as inputs.

Errors raise :class:`precis.Error` subclasses that carry the runtime's or the compiler's
message (compiler diagnostics keep their ``file: node 'name': error: ...`` location).
docs/python.md describes the package.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from . import _precis

__all__ = [
    "Artifact", "Session", "TrainingSession", "compile", "report",
    "Error", "InvalidArgumentError", "InvalidArtifactError", "NotFoundError",
    "UnimplementedError", "InternalError", "UnavailableError", "IoError", "NonFiniteError",
    "CompileError",
]


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

class Error(Exception):
    """Base class of every error precis raises; ``str(e)`` is the runtime's message."""


class InvalidArgumentError(Error, ValueError):
    """Bad caller input: names, dtypes, shapes, option values."""


class InvalidArtifactError(Error):
    """A corrupt, truncated or incompatible artifact."""


class NotFoundError(Error, LookupError):
    """A file, function, input or parameter that does not exist."""


class UnimplementedError(Error, NotImplementedError):
    """A kernel or dtype combination the backend lacks."""


class InternalError(Error):
    """A bug, or a failing backend library."""


class UnavailableError(Error):
    """A missing device or driver."""


class IoError(Error, OSError):
    """Reading or writing a file failed."""


class NonFiniteError(Error, ArithmeticError):
    """check_numerics: an op produced a NaN or an infinity (the message names it)."""


class CompileError(InvalidArgumentError):
    """The compiler rejected a model; the message holds its located diagnostics."""


# Indexed by the runtime's StatusCode (runtime/include/precis/runtime/Status.h).
_precis._register_errors([Error, InvalidArgumentError, InvalidArtifactError, NotFoundError,
                          UnimplementedError, InternalError, UnavailableError, IoError,
                          NonFiniteError])

try:  # optional: bf16 / fp8 NumPy dtypes
    import ml_dtypes as _ml_dtypes
    _EXTENSION_DTYPES = {
        np.dtype(_ml_dtypes.bfloat16): np.uint16,
        np.dtype(_ml_dtypes.float8_e4m3fn): np.uint8,
        np.dtype(_ml_dtypes.float8_e5m2): np.uint8,
    }
    _precis._register_dtypes(_ml_dtypes.bfloat16, _ml_dtypes.float8_e4m3fn,
                             _ml_dtypes.float8_e5m2)
except ImportError:
    _EXTENSION_DTYPES = {}

_PathLike = Union[str, "os.PathLike[str]"]


# NumPy dtypes of the runtime's element types (bf16 and fp8 have none: their bits travel).
_NUMPY_DTYPES = {"f32": np.float32, "f16": np.float16, "f64": np.float64, "i64": np.int64,
                 "i32": np.int32, "i8": np.int8, "u8": np.uint8, "bool": np.bool_}


def _as_input(value: Any, dtype: Optional[str] = None) -> Any:
    """What the extension takes: arrays and DLPack objects as they are, ml_dtypes arrays as
    their bits, anything else (lists, scalars) through np.asarray, in the input's element
    type ``dtype`` when it is known."""
    if isinstance(value, np.ndarray):
        bits = _EXTENSION_DTYPES.get(value.dtype)
        return value.view(bits) if bits is not None else value
    if hasattr(value, "__dlpack__"):
        return value
    if isinstance(value, (str, bytes)):
        raise InvalidArgumentError(
            f"expected an array (NumPy, or an object with __dlpack__), got {type(value).__name__}")
    return np.asarray(value, dtype=_NUMPY_DTYPES.get(dtype or ""))


def _inputs(inputs: Mapping[str, Any], what: str,
            dtypes: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    if not isinstance(inputs, Mapping):
        raise InvalidArgumentError(
            f"{what} is a dict of arrays by input name; got {type(inputs).__name__}")
    dtypes = dtypes or {}
    converted = {}
    for name, value in inputs.items():
        try:
            converted[name] = _as_input(value, dtypes.get(name))
        except InvalidArgumentError as e:
            raise InvalidArgumentError(f"input '{name}': {e}") from None
    return converted


# --------------------------------------------------------------------------------------------
# Compiling
# --------------------------------------------------------------------------------------------

_OPTIMIZERS = ("sgd", "adam", "adamw")


def _compile_args(train: bool, precision: str, rules: Optional[_PathLike], batch: Optional[int],
                  target: str, optimizer: Optional[str], momentum: Optional[float],
                  weight_decay: Optional[float], betas: Optional[Tuple[float, float]],
                  eps: Optional[float], loss_scaling: Optional[bool],
                  init_scale: Optional[float], fp8_recipe: str, fp8_history: int,
                  fp8_amax_compute: str, fp8_margin: int, calibrate: Optional[_PathLike],
                  tolerance: Optional[float],
                  calibration_out: Optional[_PathLike], trainable: Optional[str] = None,
                  frozen: Optional[str] = None) -> "_precis._CompileArgs":
    """Checks the keyword combinations (as `precis compile` checks its flags) and fills the
    extension's argument struct; the compiler checks the values themselves."""
    args = _precis._CompileArgs()
    args.train = bool(train)
    args.precision = str(precision)
    if rules is not None:
        rules = os.fspath(rules)
        if not os.path.exists(rules):
            raise InvalidArgumentError(f"cannot read the rules file '{rules}'")
        args.rules = rules
    if batch is not None:
        if int(batch) < 1:
            raise InvalidArgumentError(f"batch must be positive, got {batch}")
        args.batch = int(batch)
    args.target = str(target)
    auto = precision == "auto"
    if auto and calibrate is None:
        raise InvalidArgumentError(
            "precision='auto' needs a calibration batch: calibrate='data.npz'")
    if not auto and (calibrate is not None or tolerance is not None
                     or calibration_out is not None):
        raise InvalidArgumentError(
            "calibrate, tolerance and calibration_out go with precision='auto'")
    args.calibrate = os.fspath(calibrate) if calibrate is not None else ""
    if tolerance is not None:
        args.tolerance = float(tolerance)
    args.calibration_out = os.fspath(calibration_out) if calibration_out is not None else ""
    args.fp8_recipe = str(fp8_recipe)
    args.fp8_history = int(fp8_history)
    args.fp8_amax_compute = str(fp8_amax_compute)
    args.fp8_margin = int(fp8_margin)

    optimizer_given = any(v is not None for v in (optimizer, momentum, weight_decay, betas, eps,
                                                   loss_scaling, init_scale, trainable, frozen))
    if not train:
        if optimizer_given:
            raise InvalidArgumentError("the optimizer options need train=True")
        return args
    optimizer = "sgd" if optimizer is None else str(optimizer)
    if optimizer not in _OPTIMIZERS:
        raise InvalidArgumentError(
            f"unknown optimizer '{optimizer}' (expected sgd, adam or adamw)")
    adam = optimizer != "sgd"
    if not adam and (betas is not None or eps is not None):
        raise InvalidArgumentError("betas and eps are Adam options; the optimizer is sgd")
    if adam and momentum is not None:
        raise InvalidArgumentError(f"momentum is an SGD option; the optimizer is {optimizer}")
    args.optimizer = optimizer
    if momentum is not None:
        args.momentum = float(momentum)
    if weight_decay is not None:
        args.weight_decay = float(weight_decay)
    if betas is not None:
        try:
            b1, b2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"betas expects (B1, B2), got {betas!r}") from None
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise InvalidArgumentError(f"betas expects B1, B2 in [0, 1), got {betas!r}")
        args.beta1, args.beta2 = b1, b2
    if eps is not None:
        args.eps = float(eps)
    if loss_scaling is not None:
        args.loss_scaling = bool(loss_scaling)
    scaling = loss_scaling if loss_scaling is not None else precision == "fp16"
    if init_scale is not None:
        if not scaling:
            raise InvalidArgumentError("init_scale needs loss_scaling=True")
        args.init_scale = float(init_scale)
    if trainable is not None:
        args.trainable = str(trainable)
    if frozen is not None:
        args.frozen = str(frozen)
    return args


def _check_exists(path: _PathLike) -> None:
    if not os.path.exists(os.fspath(path)):
        raise NotFoundError(f"cannot open '{os.fspath(path)}': no such file")


def _reraise_compile(error: InvalidArgumentError) -> None:
    raise CompileError(str(error)) from None


class Artifact:
    """A compiled model: the bytes of a ``.precis`` file (docs/runtime.md has the format).

    ``compile`` returns one; ``Artifact.load`` reads one from a file; ``save`` writes it.
    ``stats`` (for compiled artifacts) has the op count, parameter bytes and the planned
    activation arena.
    """

    def __init__(self, data: bytes, stats: Optional[Dict[str, int]] = None):
        self._data = bytes(data)
        self.stats = dict(stats or {})

    @classmethod
    def load(cls, path: _PathLike) -> "Artifact":
        """Reads the artifact at ``path`` (validated when a session opens it)."""
        try:
            with open(path, "rb") as f:
                return cls(f.read())
        except FileNotFoundError:
            raise NotFoundError(f"cannot open '{os.fspath(path)}': no such file") from None
        except OSError as e:
            raise IoError(f"cannot read '{os.fspath(path)}': {e.strerror}") from None

    def save(self, path: _PathLike) -> None:
        """Writes the artifact to ``path`` atomically (a temporary file, then a rename)."""
        path = os.fspath(path)
        tmp = f"{path}.tmp{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                f.write(self._data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise IoError(f"cannot write '{path}': {e.strerror}") from None

    def __bytes__(self) -> bytes:
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<precis.Artifact {len(self._data)} bytes>"


def compile(model: _PathLike, *, train: bool = False, precision: str = "fp32",
            optimizer: Optional[str] = None, momentum: Optional[float] = None,
            weight_decay: Optional[float] = None,
            betas: Optional[Tuple[float, float]] = None, eps: Optional[float] = None,
            loss_scaling: Optional[bool] = None, init_scale: Optional[float] = None,
            rules: Optional[_PathLike] = None, batch: Optional[int] = None,
            target: str = "cpu", arch: str = "sm_90a", fp8_recipe: str = "delayed",
            fp8_history: int = 16, fp8_amax_compute: str = "max", fp8_margin: int = 0,
            calibrate: Optional[_PathLike] = None, tolerance: Optional[float] = None,
            calibration_out: Optional[_PathLike] = None, no_weights: bool = False,
            init_seed: Optional[int] = None, trainable: Optional[str] = None,
            frozen: Optional[str] = None) -> Artifact:
    """Compiles ``model`` (``.onnx``, ``.onnxtxt`` or precis ``.mlir``) into an Artifact.

    The keywords are ``precis compile``'s flags: ``train=True`` adds ``@gradients`` and
    ``@train_step`` with the optimizer (``"sgd"`` (default), ``"adam"``, ``"adamw"``; torch.optim
    semantics and defaults: ``momentum``, ``weight_decay``, ``betas``, ``eps``) and, with
    ``loss_scaling`` (default on for fp16), dynamic loss scaling from ``init_scale``.
    ``precision`` is ``"fp32"``, ``"bf16"``, ``"fp16"``, ``"fp8"`` (``fp8_recipe``,
    ``fp8_history``, ``fp8_amax_compute``, ``fp8_margin``) or ``"auto"`` (``calibrate`` data,
    ``tolerance``, ``calibration_out``); ``rules`` is a JSON file of overrides; ``batch``
    binds a symbolic batch dimension; ``target`` is ``"cpu"`` or ``"cuda"`` (with ``arch``);
    ``no_weights`` stores parameters without data, generated from ``init_seed`` at load.
    ``trainable`` / ``frozen`` (``train=True``) are regexes over whole initializer names that
    override which initializers train (docs/training.md, "What is trained").

    Raises CompileError (the compiler's located diagnostics) or InvalidArgumentError.
    """
    if init_seed is not None and not no_weights:
        raise InvalidArgumentError("init_seed needs no_weights=True")
    if target != "cuda" and arch != "sm_90a":
        raise InvalidArgumentError("arch needs target='cuda'")
    if target == "cuda" and not str(arch).startswith("sm_"):
        raise InvalidArgumentError(f"arch expects sm_XX (e.g. sm_90a), got '{arch}'")
    _check_exists(model)
    args = _compile_args(train, precision, rules, batch, target, optimizer, momentum,
                         weight_decay, betas, eps, loss_scaling, init_scale, fp8_recipe,
                         fp8_history, fp8_amax_compute, fp8_margin, calibrate, tolerance,
                         calibration_out, trainable, frozen)
    try:
        data, stats = _precis.compile(os.fspath(model), args, str(arch), bool(no_weights),
                                      int(init_seed or 0))
    except InvalidArgumentError as e:
        _reraise_compile(e)
    return Artifact(data, stats)


def report(model: _PathLike, *, precision: str = "fp32", train: bool = False,
           **options: Any) -> List[Dict[str, str]]:
    """The precision decision of every op, as ``precis report --json`` lists them ("ops").

    Each row is a dict with the keys ``node``, ``op``, ``phase``, ``in``, ``out``, ``acc``,
    ``rule`` and ``reason``, in execution order, for ``@forward`` or (``train=True``)
    ``@train_step``. ``options`` are compile()'s precision, optimizer and ``batch`` keywords.
    """
    allowed = {"optimizer", "momentum", "weight_decay", "betas", "eps", "loss_scaling",
               "init_scale", "rules", "batch", "fp8_recipe", "fp8_history",
               "fp8_amax_compute", "fp8_margin", "calibrate", "tolerance", "calibration_out",
               "trainable", "frozen"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InvalidArgumentError(f"report() got unknown options: {', '.join(unknown)}")
    _check_exists(model)
    get = options.get
    args = _compile_args(train, precision, get("rules"), get("batch"), "cpu", get("optimizer"),
                         get("momentum"), get("weight_decay"), get("betas"), get("eps"),
                         get("loss_scaling"), get("init_scale"), get("fp8_recipe", "delayed"),
                         get("fp8_history", 16), get("fp8_amax_compute", "max"),
                         get("fp8_margin", 0), get("calibrate"), get("tolerance"),
                         get("calibration_out"), get("trainable"), get("frozen"))
    try:
        return _precis.report(os.fspath(model), args)
    except InvalidArgumentError as e:
        _reraise_compile(e)


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------

def _source(model: Union[Artifact, _PathLike], **compile_options: Any) -> Union[bytes, str]:
    """The extension's session source: an artifact's bytes, a .precis path, or the bytes of
    a model compiled now."""
    if isinstance(model, Artifact):
        if compile_options:
            raise InvalidArgumentError(
                f"compile options ({', '.join(sorted(compile_options))}) were fixed when the "
                "artifact was compiled; drop them")
        return bytes(model)
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    path = os.fspath(model)
    if path.endswith(".precis"):
        if compile_options:
            raise InvalidArgumentError(
                f"compile options ({', '.join(sorted(compile_options))}) were fixed when "
                f"{path} was compiled; drop them")
        return path
    return bytes(compile(path, **compile_options))


def _threads(num_threads: Optional[int]) -> int:
    if num_threads is None:
        return 0
    if int(num_threads) < 1:
        raise InvalidArgumentError(f"num_threads must be positive, got {num_threads}")
    return int(num_threads)


class Session:
    """Runs the functions of an artifact (``forward``, and with training, ``gradients`` and
    ``train_step``) on NumPy / DLPack arrays.

    ``model`` is an Artifact, a ``.precis`` path, or a model path (compiled now, with the
    keyword arguments of compile()). ``device`` is ``"cpu"``, ``"cuda"`` or None for the
    backend the artifact was compiled for; ``num_threads`` None uses one thread per core.
    A session runs one call at a time (concurrent calls from threads wait for each other);
    the GIL is released while it runs.
    """

    def __init__(self, model: Union[Artifact, _PathLike], device: Optional[str] = None,
                 num_threads: Optional[int] = None, *, check_numerics: bool = False,
                 **compile_options: Any):
        self._session = _precis._Session(_source(model, **compile_options), device or "",
                                         _threads(num_threads), bool(check_numerics))
        self._dtypes = {f["name"]: {i["name"]: i["dtype"] for i in f["inputs"]}
                        for f in self._session.functions()}

    def run(self, inputs: Mapping[str, Any], function: str = "forward") -> Dict[str, np.ndarray]:
        """Runs ``function`` on ``inputs`` (input name -> array; every input of the function,
        with its exact dtype and shape) and returns its outputs by name (an output without an
        ONNX name is ``output_<i>``). Inputs are borrowed for the call; the outputs are new
        arrays that own their memory."""
        dtypes = self._dtypes.get(str(function))
        return self._session.run(_inputs(inputs, "inputs", dtypes), str(function))

    __call__ = run

    @property
    def functions(self) -> List[Dict[str, Any]]:
        """Each function's name, inputs and outputs (name, dtype, shape, role)."""
        return self._session.functions()

    @property
    def target(self) -> str:
        """The target the artifact was compiled for ("cpu", "cuda:sm_90a")."""
        return self._session.target()

    def parameter(self, name: str) -> np.ndarray:
        """A copy of parameter ``name``'s current value."""
        return self._session.get_parameter(str(name))

    @property
    def parameter_names(self) -> List[str]:
        return self._session.parameter_names()


class TrainingSession:
    """The training loop of the runtime (the one ``precis train`` runs) from Python.

    ``model`` is an Artifact compiled with ``train=True``, such a ``.precis`` file, or a model
    path whose training step is compiled now with compile()'s keywords (``optimizer``,
    ``precision``, ...; ``train=True`` is implied). Parameters start from the model's
    initializers, optimizer state from zeros; every step carries them to the next.

    ``step(batch, lr)`` runs one step on ``batch`` (a dict: batch input name -> array) and
    returns the loss of that batch before the update; ``step(None, lr)`` takes the next batch
    of the data set given to ``open_data``, exactly as ``precis train --data`` does.
    """

    def __init__(self, model: Union[Artifact, _PathLike], device: Optional[str] = None,
                 num_threads: Optional[int] = None, *, check_numerics: bool = False,
                 **compile_options: Any):
        self._model = None
        if not isinstance(model, (Artifact, bytes, bytearray)):
            path = os.fspath(model)
            if not path.endswith(".precis"):
                self._model = path
                compile_options = dict(compile_options, train=True)
        self._session = _precis._TrainingSession(_source(model, **compile_options),
                                                 device or "", _threads(num_threads),
                                                 bool(check_numerics))
        self._dtypes = {i["name"]: i["dtype"] for i in self._session.batch_inputs()}

    def step(self, batch: Optional[Mapping[str, Any]], lr: float) -> float:
        """One optimizer step on ``batch`` with learning rate ``lr``; returns the loss."""
        lr = float(lr)
        if batch is not None:
            batch = _inputs(batch, "the batch", self._dtypes)
        return self._session.step(batch, lr)

    def open_data(self, path: _PathLike, shuffle: Optional[int] = None) -> None:
        """Reads an .npz data set (one array per batch input, rows first) that ``step(None,
        lr)`` takes batches from: step i takes rows [i*B, (i+1)*B) modulo the row count, after
        one seeded permutation with ``shuffle`` (precis train --shuffle)."""
        seed = -1 if shuffle is None else int(shuffle)
        if shuffle is not None and seed < 0:
            raise InvalidArgumentError(f"shuffle must be a non-negative seed, got {shuffle}")
        self._session.open_data(os.fspath(path), seed)

    @property
    def batch_inputs(self) -> List[Dict[str, Any]]:
        """The batch inputs of the training step (name, dtype, shape)."""
        return self._session.batch_inputs()

    def parameters(self) -> Dict[str, np.ndarray]:
        """Copies of the current parameters, by ONNX initializer name."""
        return self._session.parameters()

    def state(self, name: str) -> np.ndarray:
        """A copy of any carried value: a parameter or training state ("step",
        "<param>.exp_avg", "loss_scale", ...)."""
        return self._session.get_state(str(name))

    def set_parameter(self, name: str, value: Any) -> None:
        """Overwrites parameter ``name`` (same dtype and shape)."""
        self._session.set_parameter(str(name), _as_input(value, "f32"))

    @property
    def step_count(self) -> int:
        """Optimizer steps taken (a step skipped by loss scaling does not count)."""
        return self._session.step_count()

    @property
    def data_cursor(self) -> int:
        """Batches taken so far (the index of the next batch of the data set)."""
        return self._session.data_cursor()

    @property
    def loss_scale(self) -> Optional[float]:
        """The dynamic loss scale, or None without loss scaling."""
        return self._session.loss_scale()

    def save_checkpoint(self, directory: _PathLike) -> str:
        """Writes the training state as ``directory/step-NNNNNNNN.npz`` (the format of
        ``precis train --checkpoint-dir``, atomically) and returns the file's path."""
        return self._session.save_checkpoint(os.fspath(directory))

    def load_checkpoint(self, path: _PathLike) -> str:
        """Restores the state from a checkpoint file, or a directory's latest checkpoint
        (``precis train --resume``); returns the file read. The checksum is verified first."""
        return self._session.load_checkpoint(os.fspath(path))

    def export_onnx(self, path: _PathLike, model: Optional[_PathLike] = None) -> int:
        """Writes the ONNX model with its initializers replaced by the current parameters
        (``precis export``) to ``path``; ``model`` is the binary ONNX model trained (default:
        the one this session was compiled from). Returns the number of replaced
        initializers."""
        source = os.fspath(model) if model is not None else self._model
        if source is None:
            raise InvalidArgumentError(
                "export_onnx needs the ONNX model this artifact was compiled from: "
                "export_onnx(path, model='model.onnx')")
        return self._session.export_onnx(source, os.fspath(path))
