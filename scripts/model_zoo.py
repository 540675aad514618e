#!/usr/bin/env python3
"""The model zoo: mainstream architectures, exported by both PyTorch exporters, through precis.

Every family is a small configuration of a torchvision or Hugging Face transformers model,
built from its constructor or config object with random weights (nothing is downloaded),
wrapped in a module whose forward(inputs..., labels) returns the scalar training loss. Each is
exported twice:

    torchscript  torch.onnx.export(m, args, f, dynamo=False, opset_version=17,
                                   training=TrainingMode.TRAINING, do_constant_folding=False)
    dynamo       torch.onnx.export(m, args, dynamo=True)   (opset 20, default optimization),
                 saved as one file
    dynamo-noopt the same with optimize=False (no constant folding, no merged initializers)

and each export goes through

    import   precis import model.onnx
    run      precis run model.onnx on the first batch; the loss against onnxruntime's
    train    precis train --optimizer adamw --lr 1e-3, 10 steps of batch B, against
             torch.optim.AdamW(lr=1e-3) on the same module, initial weights and batches;
             PyTorch runs twice (1 thread; 2 threads with each batch's rows reversed) and
             the spread of the two is shown beside it
    report   precis report model.onnx --precision bf16

and one table is printed last (docs/models.md carries it). A model failing is a row of the
table, not an error: the exit status is non-zero only on an internal error, or with --strict
when some pair fails its tolerance.

    scripts/model-zoo                       # every family, both exporters
    scripts/model-zoo --family gpt2 --exporter torchscript
    scripts/model-zoo --write-tests         # regenerate test/models/ (the ctest subset)
"""

from __future__ import annotations

import argparse
import copy
import glob
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 10
LR = 1e-3
RUN_TOLERANCE = 1e-4  # precis run vs onnxruntime, relative, on the loss
TRAIN_TOLERANCE = 1e-5  # precis train vs PyTorch, relative per step (TorchScript exports)
EXPORTERS = ("torchscript", "dynamo", "dynamo-noopt")
# The pairs committed under test/models/ for precis-train-reference-test (no torch in CI).
TEST_SUBSET = (("resnet-tiny", "torchscript"), ("gpt2", "torchscript"), ("convnext", "dynamo-noopt"))


@dataclass
class Family:
    name: str
    source: str  # what it is built from, for the table's notes
    build: Callable[[], nn.Module]  # the loss module, fp32, train mode, random weights
    data: Callable[[np.random.Generator, int], Dict[str, np.ndarray]]  # rows -> inputs
    batch: int = 2


class Loss(nn.Module):
    """forward(x, labels) -> cross-entropy of model(x)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, labels):
        return F.cross_entropy(self.model(x), labels)


class HFLoss(nn.Module):
    """forward(*inputs, labels) -> the Hugging Face model's own loss for these keywords."""

    def __init__(self, model: nn.Module, keys: List[str]):
        super().__init__()
        self.model = model
        self.keys = keys

    def forward(self, *args):
        return self.model(**dict(zip(self.keys, args))).loss


def images(size: int, classes: int):
    def data(rng: np.random.Generator, rows: int):
        return {"x": rng.standard_normal((rows, 3, size, size)).astype(np.float32),
                "labels": rng.integers(0, classes, rows).astype(np.int64)}
    return data


def tokens(vocab: int, seq: int, names=("input_ids", "labels"), classes: Optional[int] = None):
    def data(rng: np.random.Generator, rows: int):
        out = {}
        for n in names:
            if n == "labels" and classes is not None:
                out[n] = rng.integers(0, classes, rows).astype(np.int64)
            else:
                out[n] = rng.integers(0, vocab, (rows, seq)).astype(np.int64)
        return out
    return data


def resnet():
    from torchvision.models.resnet import BasicBlock, ResNet
    return Loss(ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10))


def resnet_tiny():
    """ResNet-style from torchvision's BasicBlock at 8/16 channels (small enough to commit)."""
    from torchvision.models.resnet import BasicBlock
    down = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        BasicBlock(8, 8), BasicBlock(8, 16, stride=2, downsample=down),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    return Loss(net)


def mobilenet():
    from torchvision.models import mobilenet_v3_small
    return Loss(mobilenet_v3_small(num_classes=10, dropout=0.0))


def efficientnet():
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf
    setting, last = _efficientnet_conf("efficientnet_b0", width_mult=0.5, depth_mult=0.34)
    return Loss(EfficientNet(setting, dropout=0.0, stochastic_depth_prob=0.0, num_classes=10,
                             last_channel=last))


def vit():
    from torchvision.models.vision_transformer import VisionTransformer
    return Loss(VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                  hidden_dim=32, mlp_dim=64, num_classes=10))


def convnext():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    return Loss(ConvNeXt([CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)],
                         stochastic_depth_prob=0.0, num_classes=10))


def hf_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel
    c = GPT2Config(vocab_size=64, n_positions=16, n_embd=32, n_layer=2, n_head=2,
                   resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                   bos_token_id=0, eos_token_id=0)
    c._attn_implementation = "eager"
    return HFLoss(GPT2LMHeadModel(c), ["input_ids", "labels"])


def hf_llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    c = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16,
                    bos_token_id=0, eos_token_id=0)
    c._attn_implementation = "eager"
    return HFLoss(LlamaForCausalLM(c), ["input_ids", "labels"])


def hf_bert():
    from transformers import BertConfig, BertForSequenceClassification
    c = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=64, max_position_embeddings=16, hidden_dropout_prob=0.0,
                   attention_probs_dropout_prob=0.0, classifier_dropout=0.0, num_labels=3)
    c._attn_implementation = "eager"
    return HFLoss(BertForSequenceClassification(c), ["input_ids", "labels"])


def hf_t5():
    from transformers import T5Config, T5ForConditionalGeneration
    c = T5Config(vocab_size=64, d_model=32, d_kv=16, d_ff=64, num_layers=2,
                 num_decoder_layers=2, num_heads=2, dropout_rate=0.0,
                 decoder_start_token_id=0, pad_token_id=0)
    c._attn_implementation = "eager"
    return HFLoss(T5ForConditionalGeneration(c), ["input_ids", "decoder_input_ids", "labels"])


def hf_vit():
    from transformers import ViTConfig, ViTForImageClassification
    c = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32,
                  num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=10)
    c._attn_implementation = "eager"
    return HFLoss(ViTForImageClassification(c), ["pixel_values", "labels"])


def hf_images(rng, rows):
    d = images(32, 10)(rng, rows)
    return {"pixel_values": d["x"], "labels": d["labels"]}


FAMILIES = [
    Family("resnet", "torchvision ResNet, BasicBlock [1,1,1,1], 64x64", resnet, images(64, 10)),
    Family("resnet-tiny", "torchvision BasicBlock x2, 8/16 channels, 16x16", resnet_tiny,
           images(16, 10)),
    Family("mobilenet-v3", "torchvision mobilenet_v3_small, 64x64", mobilenet, images(64, 10)),
    Family("efficientnet", "torchvision EfficientNet b0 settings, width 0.5, depth 0.34, 64x64",
           efficientnet, images(64, 10)),
    Family("vit-tv", "torchvision VisionTransformer 32x32/8, 2 layers, hidden 32", vit,
           images(32, 10)),
    Family("convnext", "torchvision ConvNeXt, 2 stages (16, 32 channels), 32x32", convnext,
           images(32, 10)),
    Family("gpt2", "transformers GPT2LMHeadModel, 2 layers, hidden 32, vocab 64, seq 8",
           hf_gpt2, tokens(64, 8)),
    Family("llama", "transformers LlamaForCausalLM, 2 layers, hidden 32, vocab 64, seq 8",
           hf_llama, tokens(64, 8)),
    Family("bert", "transformers BertForSequenceClassification, 2 layers, hidden 32, 3 labels",
           hf_bert, tokens(64, 8, classes=3)),
    Family("t5", "transformers T5ForConditionalGeneration, 2+2 layers, d_model 32, seq 8",
           hf_t5, tokens(64, 8, names=("input_ids", "decoder_input_ids", "labels"))),
    Family("vit-hf", "transformers ViTForImageClassification 32x32/8, 2 layers, hidden 32",
           hf_vit, hf_images),
]


# ----------------------------------------------------------------------------- export

def export(model: nn.Module, names: List[str], batch: Dict[str, np.ndarray], exporter: str,
           path: str) -> None:
    args = tuple(torch.from_numpy(batch[n]) for n in names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(model, args, path, dynamo=False, opset_version=17,
                              training=torch.onnx.TrainingMode.TRAINING,
                              do_constant_folding=False, input_names=names,
                              output_names=["loss"])
            return
        quiet = io.StringIO()
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = quiet  # the dynamo exporter's progress lines
        try:
            program = torch.onnx.export(model, args, dynamo=True, input_names=names,
                                        output_names=["loss"],
                                        optimize=exporter != "dynamo-noopt")
        finally:
            sys.stdout, sys.stderr = old_out, old_err
        program.save(path, external_data=False)


# ----------------------------------------------------------------------------- precis

def run_precis(binary: str, args: List[str], timeout: int = 900):
    """(ok, stderr's first error line) of one precis command."""
    try:
        p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout} s"
    if p.returncode == 0:
        return True, ""
    lines = [l.strip() for l in p.stderr.splitlines() if l.strip()]
    err = next((l for l in lines if "error" in l), lines[-1] if lines else f"exit {p.returncode}")
    notes = [l.split(" note: ", 1)[1] for l in lines if " note: " in l]
    if notes:  # "cannot import this model (N problems):" and one note per problem
        err = err.split(":", 1)[1] if err.startswith("/") else err
        err = err.strip().rstrip(":") + "; first: " + notes[0]
    return False, err


def short(message: str, limit: int = 110) -> str:
    message = message.replace("|", "/").replace("\n", " ")
    for prefix in ("precis import: error: ", "precis run: error: ", "precis train: error: ",
                   "precis report: error: "):
        message = message.replace(prefix, "")
    return message if len(message) <= limit else message[: limit - 3] + "..."


def rel(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(b), 1e-30)


# ----------------------------------------------------------------------------- PyTorch

def torch_losses(model: nn.Module, state, names, data, batch: int, threads: int,
                 reverse: bool = False) -> List[float]:
    """AdamW(lr=1e-3) for STEPS steps from `state`, batch i = rows [iB, (i+1)B); the loss of each
    batch before its update (as precis train logs it). `reverse` takes each batch's rows in the
    opposite order: the same losses in exact arithmetic, other summation orders in fp32."""
    torch.set_num_threads(threads)
    m = copy.deepcopy(model)
    m.load_state_dict(state)
    m.train()
    opt = torch.optim.AdamW(m.parameters(), lr=LR)
    rows = len(next(iter(data.values())))
    out = []
    for i in range(STEPS):
        index = [(i * batch + r) % rows for r in range(batch)]
        if reverse:
            index.reverse()
        args = [torch.from_numpy(data[n][index]) for n in names]
        opt.zero_grad()
        loss = m(*args)
        loss.backward()
        opt.step()
        out.append(float(loss.item()))
    return out


def check_initializers(path: str, model: nn.Module) -> str:
    """That the initializers named after parameters hold the module's initial values."""
    inits = onnx.load(path).graph.initializer
    params = {k: v.detach().numpy() for k, v in model.named_parameters()}
    named = [i for i in inits if i.name in params]
    bad = [i.name for i in named
           if not np.array_equal(onnx.numpy_helper.to_array(i), params[i.name])]
    graph = onnx.load(path).graph
    norms = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    trained = sum(n.op_type == "BatchNormalization" and any(
        a.name == "training_mode" and a.i for a in n.attribute) for n in graph.node)
    if norms and not trained:
        where = (f"folded into Conv, e.g. {bad[0]}" if bad else "no training_mode")
        raise RuntimeError("the exporter wrote the train-mode BatchNorm in inference form "
                           f"({where}): running statistics instead of batch statistics")
    if bad:
        raise RuntimeError(f"initializer {bad[0]} differs from the module's parameter")
    return f"{len(named)}/{len(inits)} initializers named after parameters"


# ----------------------------------------------------------------------------- one pair

@dataclass
class Row:
    family: str
    exporter: str
    imported: str = "-"
    run_err: str = "-"
    train_err: str = "-"
    spread: str = "-"
    report: str = "-"
    error: str = ""
    passed: bool = False
    seconds: float = 0.0


def run_pair(fam: Family, exporter: str, binary: str, work: str, write_tests: bool) -> Row:
    row = Row(fam.name, exporter)
    start = time.time()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = fam.build().train()
    state = copy.deepcopy(model.state_dict())
    data = fam.data(rng, STEPS * fam.batch)
    names = list(data.keys())
    first = {n: a[: fam.batch] for n, a in data.items()}
    d = os.path.join(work, f"{fam.name}-{exporter}")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    try:
        export(copy.deepcopy(model), names, first, exporter, path)
    except Exception as e:  # an exporter failure is the row's result
        row.error = short("export: " + str(e).splitlines()[0] if str(e) else repr(e))
        row.seconds = time.time() - start
        return row
    np.savez(os.path.join(d, "data.npz"), **data)
    np.savez(os.path.join(d, "batch0.npz"), **first)
    try:
        check_initializers(path, model)
    except RuntimeError as e:
        row.error = short(str(e))
    # Float initializers that are none of the module's parameters or buffers: constants the
    # exporter stored as initializers. precis does not train them (docs/training.md), but where
    # the exporter folded a parameter into one (a gathered position embedding, a transposed
    # tied weight) or merged parameters, the graph no longer trains what PyTorch trains.
    known = {k for k, _ in model.named_parameters()} | {k for k, _ in model.named_buffers()}
    extras = [i.name for i in onnx.load(path).graph.initializer
              if i.data_type == onnx.TensorProto.FLOAT and i.name not in known]

    errors = []

    def precis(binary, args):  # messages name the model, not the work directory
        ok, err = run_precis(binary, args)
        return ok, err.replace(path, "model.onnx")

    ok, err = precis(binary, ["import", path, "-o", os.path.join(d, "model.mlir")])
    row.imported = "yes" if ok else "no"
    if not ok:
        errors.append("import: " + err)

    # run vs onnxruntime
    run_ok = False
    if ok:
        out = os.path.join(d, "run")
        os.makedirs(out, exist_ok=True)
        rok, err = precis(binary, ["run", path, "--inputs", os.path.join(d, "batch0.npz"),
                                   "--output-dir", out])
        if not rok:
            row.run_err = "fail"
            errors.append("run: " + err)
        else:
            files = sorted(glob.glob(os.path.join(out, "*.npy")))
            got = float(np.load(files[0]).reshape(-1)[0])
            try:
                import onnxruntime as ort
                ort.set_default_logger_severity(3)  # no constant-folding warnings
                sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                want = float(np.asarray(sess.run(None, first)[0]).reshape(-1)[0])
                e = rel(got, want)
                row.run_err = f"{e:.1e}"
                run_ok = e <= RUN_TOLERANCE
                if not run_ok:
                    errors.append(f"run: loss {got:.6g}, onnxruntime {want:.6g}")
            except Exception as ex:
                row.run_err = "ORT fail"
                errors.append("onnxruntime: " + str(ex).splitlines()[0])

    # train vs PyTorch
    train_ok = False
    reference = torch_losses(model, state, names, data, fam.batch, threads=1)
    other = torch_losses(model, state, names, data, fam.batch, threads=2, reverse=True)
    spread = max(rel(a, b) for a, b in zip(other, reference))
    row.spread = f"{spread:.1e}"
    with open(os.path.join(d, "torch.json"), "w") as f:
        json.dump({"threads1": reference, "threads2": other}, f)
    if ok:
        log = os.path.join(d, "train.jsonl")
        tok, err = precis(binary, ["train", path, "--data", os.path.join(d, "data.npz"),
                                   "--steps", str(STEPS), "--batch-size", str(fam.batch),
                                   "--optimizer", "adamw", "--lr", str(LR), "--log", log])
        if not tok:
            row.train_err = "fail"
            errors.append("train: " + err)
        else:
            with open(log) as f:
                got = [json.loads(l).get("loss") for l in f if l.strip()]
            got = [math.nan if g is None else g for g in got]
            worst = max(rel(g, w) for g, w in zip(got, reference))
            row.train_err = "nan" if any(math.isnan(g) for g in got) else f"{worst:.1e}"
            # Where PyTorch's own run is chaotic (its two runs differ by more than the
            # tolerance), 10x its spread; the first step (no update yet) always within 1e-5.
            bounds = [TRAIN_TOLERANCE] + [max(TRAIN_TOLERANCE, 10 * spread)] * (STEPS - 1)
            train_ok = len(got) == STEPS and all(
                rel(g, w) <= b for g, w, b in zip(got, reference, bounds))
            if not train_ok and len(got) == STEPS:
                step = next(i for i, (g, w, b) in enumerate(zip(got, reference, bounds))
                            if not rel(g, w) <= b)
                note = (f" ({len(extras)} float initializers are not the module's parameters, "
                        f"e.g. {extras[0]}: the exporter folded or merged parameters)"
                        if extras and step > 0 else "")
                errors.append(f"train: step {step + 1} loss {got[step]:.6g}, "
                              f"PyTorch {reference[step]:.6g}{note}")
            elif not train_ok:
                errors.append(f"train: {len(got)} steps logged, not {STEPS}")
            if write_tests and train_ok:
                write_test(fam, exporter, path, data, reference, other)

    # report
    if ok:
        pok, err = precis(binary, ["report", path, "--precision", "bf16"])
        row.report = "yes" if pok else "no"
        if not pok:
            errors.append("report: " + err)

    row.passed = ok and run_ok and train_ok and row.report == "yes"
    if errors and not row.error:
        row.error = short(errors[0])
    row.seconds = time.time() - start
    return row


def write_test(fam: Family, exporter: str, path: str, data, reference, other) -> None:
    """test/models/<family>-<exporter>/: the model, its data and PyTorch's losses."""
    d = os.path.join(REPO_ROOT, "test", "models", f"{fam.name}-{exporter}")
    os.makedirs(d, exist_ok=True)
    proto = onnx.load(path)
    proto.doc_string = f"precis model zoo '{fam.name}' ({exporter} export), scripts/model-zoo"
    # The dynamo exporter records each node's Python stack (file paths of the exporting
    # machine) in metadata; the committed file keeps the graph only.
    for graph in [proto.graph] + [a.g for n in proto.graph.node for a in n.attribute
                                  if a.type == onnx.AttributeProto.GRAPH]:
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
        for value in list(graph.value_info) + list(graph.input) + list(graph.output):
            del value.metadata_props[:]
    del proto.metadata_props[:]
    onnx.save(proto, os.path.join(d, "model.onnx"))
    np.savez_compressed(os.path.join(d, "data.npz"), **data)
    with open(os.path.join(d, "reference_losses.json"), "w") as f:
        json.dump({"adamw": reference, "adamw_reversed_rows": other, "settings": {
            "family": fam.name, "source": fam.source, "exporter": exporter,
            "steps": STEPS, "batch_size": fam.batch, "lr": LR,
            "batches": f"rows [{fam.batch}i, {fam.batch}i+{fam.batch}) of data.npz, in order",
            "adamw": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01},
            "adamw_reversed_rows": "the same run with 2 threads and each batch's rows reversed",
            "dtype": "float32", "torch": torch.__version__}}, f, indent=1)
        f.write("\n")
    print(f"  wrote {os.path.relpath(d, REPO_ROOT)}", flush=True)


# ----------------------------------------------------------------------------- main

HEADER = ("| family | exporter | import | run rel err vs ORT | max train rel err vs PyTorch "
          "(10 steps) | PyTorch spread | report bf16 | first error |")


def table(rows: List[Row]) -> str:
    out = [HEADER, "|" + "---|" * 8]
    for r in rows:
        out.append(f"| {r.family} | {r.exporter} | {r.imported} | {r.run_err} | {r.train_err} | "
                   f"{r.spread} | {r.report} | {r.error} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precis", default=os.path.join(REPO_ROOT, "build", "bin", "precis"),
                        help="the precis binary (default: build/bin/precis)")
    parser.add_argument("--family", action="append", help="only these families (repeatable)")
    parser.add_argument("--exporter", action="append", choices=EXPORTERS)
    parser.add_argument("--work-dir", help="keep the exports and logs here (default: temporary)")
    parser.add_argument("--write-tests", action="store_true",
                        help="only the ctest subset; rewrite test/models/ from its passing pairs")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when any pair fails (default: only on internal errors)")
    args = parser.parse_args()
    if not os.access(args.precis, os.X_OK):
        print(f"model-zoo: error: no precis binary at {args.precis} (build first, or --precis)",
              file=sys.stderr)
        return 2
    known = {f.name: f for f in FAMILIES}
    for f in args.family or []:
        if f not in known:
            print(f"model-zoo: error: unknown family '{f}' (known: {', '.join(known)})",
                  file=sys.stderr)
            return 2
    pairs = [(known[f], e) for f, e in TEST_SUBSET] if args.write_tests else [
        (f, e) for f in FAMILIES if not args.family or f.name in args.family
        for e in EXPORTERS if not args.exporter or e in args.exporter]
    torch.use_deterministic_algorithms(True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="model-zoo-") as tmp:
        work = args.work_dir or tmp
        for fam, exporter in pairs:
            print(f"model-zoo: {fam.name} ({exporter}) ...", flush=True)
            row = run_pair(fam, exporter, args.precis, work, args.write_tests)
            print(f"  {'ok' if row.passed else 'FAIL'} in {row.seconds:.0f} s"
                  + (f": {row.error}" if row.error else ""), flush=True)
            rows.append(row)
    print()
    print(table(rows))
    passed = sum(r.passed for r in rows)
    print(f"\n{passed} of {len(rows)} pairs pass (import; run <= {RUN_TOLERANCE:g}; train: "
          f"step 1 <= {TRAIN_TOLERANCE:g}, steps 2-{STEPS} <= max({TRAIN_TOLERANCE:g}, "
          f"10 x PyTorch spread); report)")
    return 1 if args.strict and passed < len(rows) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:
        traceback.print_exc()
        sys.exit(2)
