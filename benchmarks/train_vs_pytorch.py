#!/usr/bin/env python3
"""Training-step time and peak memory: precis against PyTorch eager on the CPU.

For each model, builds the PyTorch module (seeded, random weights: nothing is downloaded),
exports it with its loss to ONNX (TorchScript exporter, training mode, opset 17, no constant
folding), compiles the AdamW training step with `precis compile --train` (fp32, and bf16 with
`--precision bf16`), and times both sides on the same weights and the same random batches:

  precis    `precis-rt train ART --warmup W --steps W+S --num-threads T` (timed in C++ around
            the S steps after the W warm-up steps);
  PyTorch   this script as a subprocess (`--worker`): torch.set_num_threads(T), AdamW (lr 1e-4,
            weight decay 0.01, as precis's adamw), a step being zero_grad, forward and loss
            (under torch.autocast("cpu", bfloat16) for bf16), backward and optimizer.step;
            W untimed steps, then S steps timed with perf_counter.

Both run as fresh processes, alternately, `--repeats` times; each side reports the median over
repeats of its milliseconds per step, and the ratio precis / PyTorch (above 1: precis is
slower). Peak memory is each side's peak resident set size (ru_maxrss, from wait4) in one more
subprocess per side that does only the warm-up steps; the PyTorch number includes the
interpreter and torch itself (`import torch` alone is measured and printed too).

Models (`--quick`: the same structures, small enough for a smoke run):

  resnet18  torchvision ResNet-18 (10 classes), x [8, 3, 32, 32], BatchNorm in training mode
  cnn       examples/cnn's model (scripts/export_examples.py), x [8, 1, 16, 16]
  gpt2      benchmarks/torch_gpt2_step.py's decoder: 12 layers, d 768, 12 heads, vocabulary
            50257, T 128, batch 4 (attention written out, not SDPA)
  bert      a BERT-base-sized encoder written here: 12 post-norm layers, d 768, 12 heads, MLP
            3072 (exact GELU), vocabulary 30522, T 128, batch 4, token classification loss

Needs the PyTorch environment of scripts/torch-env.sh (created on first use; PRECIS_TORCH_VENV
or --python picks another) and a built precis (build/bin/precis and build/bin/precis-rt).

  benchmarks/train_vs_pytorch.py [--build build] [--models resnet18,cnn,gpt2,bert]
      [--precisions fp32,bf16] [--threads 2] [--warmup 3] [--steps 10] [--repeats 3]
      [--quick] [--output FILE] [--python PY]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from machine import cpu_model, load_module, measured, revision, torch_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("resnet18", "cnn", "gpt2", "bert")


def fail(message):
    sys.exit(f"train_vs_pytorch.py: {message}")


# ---------------------------------------------------------------------------------------------
# Models (imported lazily: the driver may run before the environment exists).
# ---------------------------------------------------------------------------------------------


def build(name, quick, batches=1):
    """(module(inputs...) -> loss, {input name: `batches` random batches, rows first})."""
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    if name == "resnet18":
        import torchvision

        class ResNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = torchvision.models.resnet18(num_classes=10)

            def forward(self, x, y):
                return F.cross_entropy(self.net(x), y)

        b, hw = (2, 16) if quick else (8, 32)
        return ResNet(), {"x": rng.standard_normal((batches * b, 3, hw, hw), np.float32),
                          "y": rng.integers(0, 10, (batches * b,))}
    if name == "cnn":
        cnn = load_module(os.path.join(ROOT, "scripts", "export_examples.py"), "export_examples")
        return cnn.CNN(), {"x": rng.standard_normal((batches * 8, 1, 16, 16), np.float32),
                           "y": rng.integers(0, 10, (batches * 8,))}
    if name == "gpt2":
        gpt = load_module(os.path.join(ROOT, "benchmarks", "torch_gpt2_step.py"), "torch_gpt2_step")
        cfg = argparse.Namespace(layers=12, d=768, heads=12, seq=128, vocab=50257, batch=4,
                                 sdpa=False)
        if quick:
            cfg = argparse.Namespace(layers=2, d=64, heads=4, seq=32, vocab=512, batch=2,
                                     sdpa=False)
        tokens = rng.integers(0, cfg.vocab, (batches * cfg.batch, cfg.seq + 1))
        return gpt.GPT(cfg), {"idx": np.ascontiguousarray(tokens[:, :-1]),
                              "targets": np.ascontiguousarray(tokens[:, 1:])}
    if name == "bert":
        layers, d, heads, ff, vocab, seq, batch = 12, 768, 12, 3072, 30522, 128, 4
        if quick:
            layers, d, heads, ff, vocab, seq, batch = 2, 64, 4, 256, 512, 32, 2

        class Layer(nn.Module):
            def __init__(self):
                super().__init__()
                self.qkv = nn.Linear(d, 3 * d)
                self.out = nn.Linear(d, d)
                self.ln1 = nn.LayerNorm(d, eps=1e-12)
                self.fc = nn.Linear(d, ff)
                self.proj = nn.Linear(ff, d)
                self.ln2 = nn.LayerNorm(d, eps=1e-12)

            def forward(self, x):
                b, t, _ = x.shape
                hd = d // heads
                q, k, v = self.qkv(x).split(d, dim=-1)
                q, k, v = (z.view(b, t, heads, hd).transpose(1, 2) for z in (q, k, v))
                s = (q @ k.transpose(-2, -1)) * (1.0 / hd ** 0.5)
                a = (s.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, t, d)
                x = self.ln1(x + self.out(a))
                return self.ln2(x + self.proj(F.gelu(self.fc(x))))

        class Bert(nn.Module):
            def __init__(self):
                super().__init__()
                self.tok = nn.Embedding(vocab, d)
                self.pos = nn.Embedding(seq, d)
                self.ln = nn.LayerNorm(d, eps=1e-12)
                self.layers = nn.ModuleList(Layer() for _ in range(layers))
                self.head = nn.Linear(d, vocab)

            def forward(self, idx, targets):
                x = self.ln(self.tok(idx) + self.pos(torch.arange(idx.shape[1])))
                for layer in self.layers:
                    x = layer(x)
                logits = self.head(x)
                return F.cross_entropy(logits.float().view(-1, vocab), targets.view(-1))

        return Bert(), {"idx": rng.integers(0, vocab, (batches * batch, seq)),
                        "targets": rng.integers(0, vocab, (batches * batch, seq))}
    fail(f"unknown model '{name}' (expected one of {', '.join(MODELS)})")


def export(model, batch, path):
    """Exports model(*batch) -> loss, the batch being the example inputs."""
    import torch

    model.train()
    args = tuple(torch.from_numpy(v) for v in batch.values())
    kwargs = dict(input_names=list(batch), output_names=["loss"], opset_version=17,
                  training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False,
                  dynamo=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation chatter
        torch.onnx.export(model, args, path, **kwargs)


# ---------------------------------------------------------------------------------------------
# The PyTorch side (runs in its own process).
# ---------------------------------------------------------------------------------------------


def worker(a):
    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    model, _ = build(a.worker, a.quick)
    model.load_state_dict(torch.load(a.weights))
    model.train()
    with np.load(a.data) as data:
        names = [k for k in data.files if k != "rows"]
        rows = int(data["rows"])
        batches = [tuple(torch.from_numpy(data[k][i * rows:(i + 1) * rows]) for k in names)
                   for i in range(data[names[0]].shape[0] // rows)]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def step(i):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = model(*batches[i % len(batches)])
        loss.backward()
        opt.step()
        return loss

    for i in range(a.warmup):
        step(i)
    start = time.perf_counter()
    for i in range(a.steps):
        step(a.warmup + i)
    ms = (time.perf_counter() - start) * 1e3 / max(a.steps, 1)
    print(json.dumps({"ms_per_step": ms}), flush=True)


# ---------------------------------------------------------------------------------------------
# The driver.
# ---------------------------------------------------------------------------------------------


def run_child(cmd, env=None):
    """Runs cmd and returns the JSON object of its last output line; exits if it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_rss_mib(cmd, env=None):
    """Peak resident set size (MiB) of one run of cmd."""
    return measured(cmd, env)[1]


def driver(a):
    import numpy as np
    import torch

    precis = os.path.join(a.build, "bin", "precis")
    rt = os.path.join(a.build, "bin", "precis-rt")
    for tool in (precis, rt):
        if not os.access(tool, os.X_OK):
            fail(f"no {tool} (build precis or pass --build)")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    me = [sys.executable, os.path.abspath(__file__)]
    base_rss = peak_rss_mib([sys.executable, "-c", "import torch, torchvision"], env)
    lines = [
        f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} "
        f"{platform.release()}",
        f"Versions: precis {revision()}, torch {torch.__version__}, Python "
        f"{platform.python_version()}",
        f"Method: {a.threads} threads each; {a.warmup} warm-up + {a.steps} timed steps per run; "
        f"median of {a.repeats} alternating runs per side; AdamW; peak RSS from a separate "
        f"warm-up-only run per side (PyTorch's includes the interpreter: `import torch, "
        f"torchvision` alone peaks at {base_rss:.0f} MiB){'; --quick sizes' if a.quick else ''}.",
        "",
        "| model | precision | PyTorch ms/step | precis ms/step | precis / PyTorch "
        "| PyTorch peak MiB | precis peak MiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models:
            # A random batch for every step; the first is the export's example.
            model, data = build(name, a.quick, a.warmup + a.steps)
            rows = next(iter(data.values())).shape[0] // (a.warmup + a.steps)
            onnx_path = os.path.join(tmp, f"{name}.onnx")
            weights = os.path.join(tmp, f"{name}.pt")
            torch.save(model.state_dict(), weights)
            export(model, {k: v[:rows] for k, v in data.items()}, onnx_path)
            data_path = os.path.join(tmp, f"{name}.npz")
            np.savez(data_path, **data)
            worker_data = os.path.join(tmp, f"{name}-torch.npz")
            np.savez(worker_data, rows=np.array(rows), **data)
            del model
            for precision in a.precisions:
                art = os.path.join(tmp, f"{name}-{precision}.precis")
                compiled = subprocess.run(
                    [precis, "compile", onnx_path, "--train", "--optimizer", "adamw",
                     "--precision", precision, "-o", art], capture_output=True, text=True)
                if compiled.returncode != 0:
                    fail(f"precis compile {name} --precision {precision} failed:\n"
                         f"{compiled.stderr[-4000:]}")

                def precis_cmd(steps, warmup):
                    return [rt, "train", art, "--data", data_path, "--steps", str(steps),
                            "--warmup", str(warmup), "--lr", "1e-4",
                            "--num-threads", str(a.threads)]

                def torch_cmd(steps, warmup):
                    return me + ["--worker", name, "--precision", precision, "--weights",
                                 weights, "--data", worker_data, "--steps", str(steps),
                                 "--warmup", str(warmup), "--threads", str(a.threads)] + (
                                     ["--quick"] if a.quick else [])

                times = {"torch": [], "precis": []}
                for r in range(a.repeats):
                    times["torch"].append(run_child(torch_cmd(a.steps, a.warmup), env)["ms_per_step"])
                    times["precis"].append(
                        run_child(precis_cmd(a.warmup + a.steps, a.warmup), env)["ms_per_step"])
                    print(f"{name} {precision} run {r + 1}: PyTorch {times['torch'][-1]:.2f} ms, "
                          f"precis {times['precis'][-1]:.2f} ms", file=sys.stderr, flush=True)
                torch_rss = peak_rss_mib(torch_cmd(0, a.warmup), env)
                precis_rss = peak_rss_mib(precis_cmd(a.warmup, a.warmup), env)
                t, p = statistics.median(times["torch"]), statistics.median(times["precis"])
                lines.append(f"| {name} | {precision} | {t:.2f} | {p:.2f} | {p / t:.2f} "
                             f"| {torch_rss:.0f} | {precis_rss:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default=os.path.join(ROOT, "build"),
                   help="precis build directory (default: build)")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated (default: {','.join(MODELS)})")
    p.add_argument("--precisions", default="fp32,bf16", help="fp32 and/or bf16 (default both)")
    p.add_argument("--threads", type=int, default=2, help="threads on each side (default 2)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per run (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="alternating runs per side")
    p.add_argument("--quick", action="store_true", help="small models, for a smoke run")
    p.add_argument("--output", help="also write the markdown to this file")
    p.add_argument("--python", help="Python with torch (default: scripts/torch-env.sh's)")
    # The PyTorch side's worker process.
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--precision", help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)
    a.models = a.models.split(",")
    a.precisions = a.precisions.split(",")
    for m in a.models:
        if m not in MODELS:
            p.error(f"unknown model '{m}' (expected one of {', '.join(MODELS)})")
    for prec in a.precisions:
        if prec not in ("fp32", "bf16"):
            p.error(f"unknown precision '{prec}' (expected fp32 or bf16)")
    if a.threads < 1 or a.warmup < 1 or a.steps < 1 or a.repeats < 1:
        p.error("--threads, --warmup, --steps and --repeats must be >= 1")
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError:
        python = torch_python(a.python)
        if os.path.abspath(python) == os.path.abspath(sys.executable):
            fail(f"{python} cannot import torch and torchvision")
        os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])
    driver(a)


if __name__ == "__main__":
    main()
