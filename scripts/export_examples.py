#!/usr/bin/env python3
# =============================================================================
# precis — scripts/export_examples.py
#
# Exports the three example training graphs under examples/ (mlp, cnn, gpt)
# from PyTorch to ONNX, with the loss inside the graph, plus a small
# deterministic dataset for each.
# =============================================================================
"""Export precis's example models (loss inside the graph) and their datasets.

Each model is a small PyTorch module whose forward takes the inputs *and* the
labels and returns the scalar cross-entropy loss, so the exported ONNX graph is
exactly what precis consumes: a forward graph ending in a loss, which precis
differentiates, assigns precisions to and trains. The script writes, for
NAME in mlp, cnn, gpt:

    examples/NAME/model.onnx   opset 17, static batch B=8, single output `loss`
    examples/NAME/data.npz     64 rows, arrays named after the graph inputs

and then checks every model: onnx.checker (full check), strict shape
inference, and an onnxruntime run whose loss must match PyTorch's to 1e-5
relative. The saved models carry the inferred shapes (value_info) of every
intermediate tensor, and IR version 8 so that Debian's libonnx (1.12) — the
one precis builds against — accepts them.

Export settings: legacy TorchScript exporter (dynamo=False), opset 17,
TrainingMode.TRAINING, do_constant_folding=False (so initializers keep their
PyTorch names, e.g. `fc1.weight`), no dropout, torch.manual_seed(0) per model.

Nothing in CI runs this script: the .onnx and .npz files are committed.
Regenerate with (from the repository root):

    python3 -m pip install torch==2.8.0 onnx onnxruntime numpy
    python3 scripts/export_examples.py            # writes examples/*/
    python3 scripts/export_examples.py --check    # re-checks, writes nothing

Run with: Python 3.11.7, torch 2.8.0 (PyPI wheel, CPU only), onnx 1.23.2,
onnxruntime 1.32.0, numpy 2.4.6. Newer torch releases default to (and may only
have) the dynamo exporter, whose graphs differ; pin torch==2.8.0 to reproduce
these files byte for byte.
"""

from __future__ import annotations

import argparse
import inspect
import io
import math
import os
import sys
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Dict, List

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

OPSET = 17
IR_VERSION = 8  # highest IR version Debian's libonnx 1.12 reads; opset 17 needs >= 8
BATCH = 8  # static batch size of every exported graph
ROWS = 64  # rows in every data.npz
RTOL = 1e-5  # onnxruntime vs torch loss tolerance (relative)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -----------------------------------------------------------------------------
# Models. Each forward(inputs..., labels) returns the mean cross-entropy loss.
# -----------------------------------------------------------------------------


class MLP(nn.Module):
    """32 -> 64 -> GELU(erf) -> 64 -> GELU(erf) -> 10, cross-entropy."""

    def __init__(self, d_in: int = 32, d_hidden: int = 64, n_classes: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_hidden)
        self.fc3 = nn.Linear(d_hidden, n_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.fc1(x))  # exact GELU: x * 0.5 * (1 + erf(x / sqrt(2)))
        h = F.gelu(self.fc2(h))
        return F.cross_entropy(self.fc3(h), y)


class CNN(nn.Module):
    """[B,1,16,16] -> conv3x3(8) relu pool -> conv3x3(16) relu pool -> linear(10)."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.fc = nn.Linear(16 * 4 * 4, n_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)  # [B,8,8,8]
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)  # [B,16,4,4]
        h = torch.flatten(h, 1)  # [B,256]
        return F.cross_entropy(self.fc(h), y)


@dataclass
class GPTConfig:
    vocab_size: int = 64
    block_size: int = 16  # context length; the exported graph uses T == block_size
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 32


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        # Lower-triangular bool mask: True where query t may attend to key s <= t.
        T = cfg.block_size
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Shapes come from the config (not x.size()) so every Reshape gets a
        # constant shape instead of a Shape/Gather/Concat chain; -1 is the batch.
        T, C, nh = self.cfg.block_size, self.cfg.n_embd, self.cfg.n_head
        hd = C // nh
        q, k, v = self.qkv(x).split(C, dim=2)  # ONNX Split
        q = q.reshape(-1, T, nh, hd).transpose(1, 2)  # [B,nh,T,hd]
        k = k.reshape(-1, T, nh, hd).transpose(1, 2)
        v = v.reshape(-1, T, nh, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))  # [B,nh,T,T]
        att = torch.where(self.mask, att, float("-inf"))  # ONNX Where with -inf
        att = F.softmax(att, dim=-1)
        out = (att @ v).transpose(1, 2).reshape(-1, T, C)
        return self.proj(out)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.gelu = nn.GELU(approximate="tanh")
        self.fc_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        x = x + self.fc_proj(self.gelu(self.fc(self.ln2(x))))
        return x


class GPT(nn.Module):
    """2-layer pre-LN GPT decoder with token + learned position embeddings."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        T = self.cfg.block_size
        pos = torch.arange(T, dtype=torch.long, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)  # ONNX Gather x2, broadcast Add
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))  # [B,T,V]
        V = self.cfg.vocab_size
        return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


# -----------------------------------------------------------------------------
# Datasets: deterministic (numpy seeds), learnable, 64 rows each.
# -----------------------------------------------------------------------------


def mlp_data() -> Dict[str, np.ndarray]:
    """Gaussian inputs labelled by a fixed random linear teacher (argmax)."""
    rng = np.random.default_rng(1)
    teacher = rng.standard_normal((32, 10))
    x = rng.standard_normal((ROWS, 32)).astype(np.float32)
    y = np.argmax(x @ teacher, axis=1).astype(np.int64)
    return {"x": x, "y": y}


def cnn_data() -> Dict[str, np.ndarray]:
    """16x16 images: a bright 4x4 blob in one of the 4x4 grid cells 0..9
    (row-major) over Gaussian noise; the label is the cell index."""
    rng = np.random.default_rng(2)
    y = (np.arange(ROWS) % 10).astype(np.int64)
    rng.shuffle(y)
    x = 0.1 * rng.standard_normal((ROWS, 1, 16, 16))
    for i, c in enumerate(y):
        r0, c0 = 4 * (c // 4), 4 * (c % 4)
        x[i, 0, r0 : r0 + 4, c0 : c0 + 4] += 1.0
    return {"x": x.astype(np.float32), "y": y}


def gpt_data() -> Dict[str, np.ndarray]:
    """Counting modulo the vocabulary: tok[t] = (start + stride * t) % 64 with a
    per-row start in [0,64) and stride in {1,2,3}; targets are the next token."""
    rng = np.random.default_rng(3)
    cfg = GPTConfig()
    start = rng.integers(0, cfg.vocab_size, size=(ROWS, 1))
    stride = rng.integers(1, 4, size=(ROWS, 1))
    t = np.arange(cfg.block_size + 1)[None, :]
    seq = ((start + stride * t) % cfg.vocab_size).astype(np.int64)
    return {"idx": seq[:, :-1].copy(), "targets": seq[:, 1:].copy()}


# -----------------------------------------------------------------------------
# Export and checks.
# -----------------------------------------------------------------------------


@dataclass
class Example:
    name: str
    make_model: Callable[[], nn.Module]
    make_data: Callable[[], Dict[str, np.ndarray]]
    input_names: List[str]


EXAMPLES = [
    Example("mlp", MLP, mlp_data, ["x", "y"]),
    Example("cnn", CNN, cnn_data, ["x", "y"]),
    Example("gpt", lambda: GPT(GPTConfig()), gpt_data, ["idx", "targets"]),
]


def build_model(ex: Example) -> nn.Module:
    torch.manual_seed(0)  # reproducible weights, independent of export order
    model = ex.make_model()
    model.train()  # exported in training mode; no dropout, so still deterministic
    return model


def export_onnx(model: nn.Module, ex: Example, batch: Dict[str, np.ndarray]) -> onnx.ModelProto:
    """Exports with the legacy TorchScript exporter; returns the checked,
    shape-inferred model (IR version pinned to IR_VERSION)."""
    args = tuple(torch.from_numpy(batch[n]) for n in ex.input_names)
    kwargs = dict(
        export_params=True,
        opset_version=OPSET,
        do_constant_folding=False,
        training=torch.onnx.TrainingMode.TRAINING,
        input_names=ex.input_names,
        output_names=["loss"],
        keep_initializers_as_inputs=False,
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # legacy TorchScript exporter
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation chatter
        torch.onnx.export(model, args, buf, **kwargs)
    proto = onnx.load_from_string(buf.getvalue())
    proto.ir_version = IR_VERSION
    proto.graph.name = ex.name
    proto.doc_string = f"precis example '{ex.name}', generated by scripts/export_examples.py"
    proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def check_model(proto: onnx.ModelProto, ex: Example, model: nn.Module,
                batch: Dict[str, np.ndarray]) -> str:
    """Structural checks plus onnxruntime vs torch loss; returns a summary line."""
    onnx.checker.check_model(proto, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    outs = inferred.graph.output
    assert [o.name for o in outs] == ["loss"], [o.name for o in outs]
    assert outs[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert len(outs[0].type.tensor_type.shape.dim) == 0, "loss must be a scalar"
    assert [i.name for i in proto.graph.input] == ex.input_names

    params = {p for p, _ in model.named_parameters()}
    inits = {i.name for i in proto.graph.initializer}
    missing = params - inits
    assert not missing, f"parameters not kept as named initializers: {sorted(missing)}"

    with torch.no_grad():
        ref = float(model(*(torch.from_numpy(batch[n]) for n in ex.input_names)))
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = float(sess.run(["loss"], {n: batch[n] for n in ex.input_names})[0])
    assert math.isfinite(got), f"{ex.name}: onnxruntime loss {got} is not finite"
    rel = abs(got - ref) / max(abs(ref), 1e-30)
    assert rel <= RTOL, f"{ex.name}: ort loss {got} vs torch {ref} (rel {rel:.2e})"

    ops = Counter(n.op_type for n in proto.graph.node)
    n_params = sum(p.numel() for p in model.parameters())
    op_list = ",".join(f"{k}x{v}" if v > 1 else k for k, v in sorted(ops.items()))
    return (f"{ex.name}: opset {OPSET}, {len(proto.graph.node)} nodes, "
            f"{n_params} params, loss torch={ref:.7f} ort={got:.7f} (rel {rel:.1e}); "
            f"ops: {op_list}")


def first_batch(data: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    return {k: np.ascontiguousarray(v[:BATCH]) for k, v in data.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=os.path.join(REPO_ROOT, "examples"),
                    help="where NAME/model.onnx and NAME/data.npz go (default: examples/)")
    ap.add_argument("--check", action="store_true",
                    help="check the existing files against fresh torch models; write nothing")
    ap.add_argument("--only", choices=[e.name for e in EXAMPLES], action="append",
                    help="restrict to one example (repeatable)")
    args = ap.parse_args()

    for ex in EXAMPLES:
        if args.only and ex.name not in args.only:
            continue
        out = os.path.join(args.out_dir, ex.name)
        model_path = os.path.join(out, "model.onnx")
        data_path = os.path.join(out, "data.npz")
        model = build_model(ex)
        if args.check:
            with np.load(data_path) as f:
                data = {k: f[k] for k in f.files}
            proto = onnx.load(model_path)
        else:
            data = ex.make_data()
            proto = export_onnx(model, ex, first_batch(data))
            os.makedirs(out, exist_ok=True)
            onnx.save(proto, model_path)
            np.savez(data_path, **data)
        assert sorted(data) == sorted(ex.input_names), sorted(data)
        assert all(len(v) == ROWS for v in data.values())
        print(check_model(proto, ex, model, first_batch(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
