#!/usr/bin/env python3
"""Inference latency and peak memory: `precis bench` against onnxruntime on the CPU.

For each model and each batch size, builds the PyTorch module (seeded, random weights: nothing
is downloaded), exports its inference graph to ONNX (TorchScript exporter, eval mode, opset 17,
constant folding on, static shapes), compiles it with `precis compile` (fp32 forward), and
times both sides on the same inputs:

  onnxruntime  this script as a subprocess (`--ort-worker`): CPUExecutionProvider,
               ORT_ENABLE_ALL, intra-op threads T, inter-op 1, sequential execution, inputs
               and outputs bound once through IOBinding so that a timed call is one
               run_with_iobinding; W untimed calls, then K calls each timed with perf_counter;
  precis       `precis bench ART --inputs NPZ --num-threads T --warmup W --iterations K
               --json`, each call timed in C++ around Session::run.

Both run as fresh processes, alternately, `--repeats` times; each reports its per-call median,
the table shows the median over repeats of those and the ratio precis / onnxruntime (above 1:
precis is slower). Peak memory is each process's peak resident set size (ru_maxrss, from
wait4), the largest over its repeats; onnxruntime's includes the Python interpreter, numpy and
onnxruntime itself (`import numpy, onnxruntime` alone is measured and printed too).

Models (each at every `--batches` size; `--quick` shrinks resnet18 and gpt2 for a smoke run):

  mlp, cnn, gpt  the example models of scripts/export_examples.py (same modules and seeds as
                 examples/<m>/model.onnx), their logits without the loss; inputs: the first
                 rows of examples/<m>/data.npz
  resnet18       torchvision ResNet-18 (1000 classes), x [B, 3, 224, 224]; BatchNorm in eval
                 mode with random running statistics and affine parameters
  gpt2           benchmarks/torch_gpt2_step.py's decoder (12 layers, d 768, 12 heads,
                 vocabulary 50257), T 128, its logits [B, 128, 50257]

Needs the PyTorch environment of scripts/torch-env.sh (created on first use; PRECIS_TORCH_VENV
or --python picks another) and a built precis (build/bin/precis).

  benchmarks/inference_vs_onnxruntime.py [--build build] [--models mlp,cnn,gpt,resnet18,gpt2]
      [--batches 1,8] [--threads 2] [--repeats 3] [--iterations-scale 1] [--quick]
      [--keep DIR] [--output FILE] [--python PY]
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
MODELS = ("mlp", "cnn", "gpt", "resnet18", "gpt2")
# (warmup, timed iterations) per model: about a second or more of timed calls on each side.
ITERATIONS = {"mlp": (50, 1000), "cnn": (50, 1000), "gpt": (50, 1000), "resnet18": (2, 10),
              "gpt2": (1, 3)}


def fail(message):
    sys.exit(f"inference_vs_onnxruntime.py: {message}")


def int_list(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("expected positive integers separated by commas")
    return values


def cpu_flags(wanted=("avx2", "avx512f", "avx512_bf16", "amx_bf16")):
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [w for w in wanted if w in flags]
    except OSError:
        pass
    return []


# ---------------------------------------------------------------------------------------------
# Models (torch is imported lazily: the driver may run before the environment exists, and the
# onnxruntime worker never imports it).
# ---------------------------------------------------------------------------------------------


def build(name, batch, quick):
    """(module in eval mode, {input name: array with `batch` rows}); module(*inputs) -> logits."""
    import numpy as np
    import torch
    import torch.nn as nn

    rng = np.random.default_rng(0)
    if name in ("mlp", "cnn", "gpt"):
        ex = load_module(os.path.join(ROOT, "scripts", "export_examples.py"), "export_examples")
        torch.manual_seed(0)  # as export_examples.build_model: the examples' weights
        with np.load(os.path.join(ROOT, "examples", name, "data.npz")) as data:
            rows = {k: data[k] for k in data.files}
        if name == "mlp":
            m = ex.MLP()

            class Logits(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.m = m

                def forward(self, x):
                    h = nn.functional.gelu(self.m.fc1(x))
                    return self.m.fc3(nn.functional.gelu(self.m.fc2(h)))
        elif name == "cnn":
            m = ex.CNN()

            class Logits(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.m = m

                def forward(self, x):
                    F = nn.functional
                    h = F.max_pool2d(F.relu(self.m.conv1(x)), 2)
                    h = F.max_pool2d(F.relu(self.m.conv2(h)), 2)
                    return self.m.fc(torch.flatten(h, 1))
        else:
            m = ex.GPT(ex.GPTConfig())

            class Logits(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.m = m

                def forward(self, idx):
                    pos = torch.arange(self.m.cfg.block_size, dtype=torch.long)
                    x = self.m.wte(idx) + self.m.wpe(pos)
                    for block in self.m.blocks:
                        x = block(x)
                    return self.m.lm_head(self.m.ln_f(x))
        key = "idx" if name == "gpt" else "x"
        return Logits().eval(), {key: np.ascontiguousarray(rows[key][:batch])}
    if name == "resnet18":
        import torchvision

        torch.manual_seed(0)
        net = torchvision.models.resnet18(num_classes=1000)
        with torch.no_grad():  # eval-mode BatchNorm with statistics that are not the identity
            for mod in net.modules():
                if isinstance(mod, nn.BatchNorm2d):
                    mod.running_mean.normal_(0.0, 0.1)
                    mod.running_var.uniform_(0.5, 1.5)
                    mod.weight.uniform_(0.5, 1.5)
                    mod.bias.normal_(0.0, 0.1)
        hw = 64 if quick else 224
        return net.eval(), {"x": rng.standard_normal((batch, 3, hw, hw), np.float32)}
    if name == "gpt2":
        gpt = load_module(os.path.join(ROOT, "benchmarks", "torch_gpt2_step.py"), "torch_gpt2_step")
        cfg = argparse.Namespace(layers=12, d=768, heads=12, seq=128, vocab=50257, sdpa=False)
        if quick:
            cfg = argparse.Namespace(layers=2, d=64, heads=4, seq=32, vocab=512, sdpa=False)
        torch.manual_seed(0)
        m = gpt.GPT(cfg)

        class Logits(nn.Module):
            def __init__(self):
                super().__init__()
                self.m = m

            def forward(self, idx):
                x = self.m.wte(idx) + self.m.wpe(torch.arange(idx.shape[1]))
                for block in self.m.blocks:
                    x = block(x)
                return self.m.head(self.m.ln_f(x))

        return Logits().eval(), {"idx": rng.integers(0, cfg.vocab, (batch, cfg.seq))}
    fail(f"unknown model '{name}' (expected one of {', '.join(MODELS)})")


def export(model, inputs, path):
    """Exports model(*inputs) -> logits for inference (eval mode, constant folding)."""
    import warnings

    import torch

    args = tuple(torch.from_numpy(v) for v in inputs.values())
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation chatter
        torch.onnx.export(model, args, path, input_names=list(inputs), output_names=["logits"],
                          opset_version=17, training=torch.onnx.TrainingMode.EVAL,
                          do_constant_folding=True, dynamo=False)


# ---------------------------------------------------------------------------------------------
# The onnxruntime side (runs in its own process).
# ---------------------------------------------------------------------------------------------


def ort_worker(a):
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.ort_worker, so, providers=["CPUExecutionProvider"])
    with np.load(a.inputs) as data:
        inputs = {k: data[k] for k in data.files}
    binding = sess.io_binding()
    for i in sess.get_inputs():
        binding.bind_cpu_input(i.name, inputs[i.name])
    for o in sess.get_outputs():
        binding.bind_output(o.name, "cpu")
    for _ in range(a.warmup):
        sess.run_with_iobinding(binding)
    samples = []
    for _ in range(a.iterations):
        start = time.perf_counter()
        sess.run_with_iobinding(binding)
        samples.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"median_ms": statistics.median(samples)}), flush=True)


# ---------------------------------------------------------------------------------------------
# The driver.
# ---------------------------------------------------------------------------------------------

def driver(a):
    import numpy as np
    import onnxruntime as ort

    precis = os.path.join(a.build, "bin", "precis")
    if not os.access(precis, os.X_OK):
        fail(f"no {precis} (build precis or pass --build)")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    me = [sys.executable, os.path.abspath(__file__)]
    load_start = os.getloadavg()[0]
    _, base_rss = measured([sys.executable, "-c", "import numpy, onnxruntime"], env)
    lines = [
        f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs"
        f" ({', '.join(cpu_flags()) or 'no AVX2/AVX-512 flags'}), {platform.system()} "
        f"{platform.release()}",
        f"Versions: precis {revision()}, onnxruntime {ort.__version__}, numpy "
        f"{np.__version__}, Python {platform.python_version()}",
        f"Method: {a.threads} threads each side; fresh processes, alternately, {a.repeats} "
        f"repeats per side; each cell the median over repeats of the per-call median; peak RSS "
        f"the largest over repeats (onnxruntime's includes Python: `import numpy, onnxruntime` "
        f"alone peaks at {base_rss:.0f} MiB){'; --quick sizes' if a.quick else ''}.",
        "",
        "| model | batch | iterations | onnxruntime ms | precis ms | precis / onnxruntime "
        "| onnxruntime peak MiB | precis peak MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    tmp_holder = None if a.keep else tempfile.TemporaryDirectory()
    tmp = a.keep or tmp_holder.name
    os.makedirs(tmp, exist_ok=True)
    for name in a.models:
        warmup, iterations = ITERATIONS[name]
        iterations = max(1, round(iterations * a.iterations_scale))
        warmup = max(1, round(warmup * a.iterations_scale))
        for batch in a.batches:
            model, inputs = build(name, batch, a.quick)
            stem = os.path.join(tmp, f"{name}-b{batch}")
            export(model, inputs, stem + ".onnx")
            del model
            np.savez(stem + ".npz", **inputs)
            compiled = subprocess.run([precis, "compile", stem + ".onnx", "-o", stem + ".precis"],
                                      capture_output=True, text=True)
            if compiled.returncode != 0:
                fail(f"precis compile {name} (batch {batch}) failed:\n{compiled.stderr[-4000:]}")
            ort_cmd = me + ["--ort-worker", stem + ".onnx", "--inputs", stem + ".npz",
                            "--threads", str(a.threads), "--warmup", str(warmup),
                            "--iterations", str(iterations)]
            json_path = stem + "-bench.json"
            precis_cmd = [precis, "bench", stem + ".precis", "--inputs", stem + ".npz",
                          "--num-threads", str(a.threads), "--warmup", str(warmup),
                          "--iterations", str(iterations), "--json", json_path]
            ms = {"ort": [], "precis": []}
            rss = {"ort": 0.0, "precis": 0.0}
            for r in range(a.repeats):
                out, peak = measured(ort_cmd, env)
                ms["ort"].append(json.loads(out.splitlines()[-1])["median_ms"])
                rss["ort"] = max(rss["ort"], peak)
                _, peak = measured(precis_cmd, env)
                with open(json_path) as f:
                    ms["precis"].append(json.load(f)["latency_ms"]["median"])
                rss["precis"] = max(rss["precis"], peak)
                print(f"{name} batch {batch} run {r + 1}: onnxruntime {ms['ort'][-1]:.4f} ms, "
                      f"precis {ms['precis'][-1]:.4f} ms", file=sys.stderr, flush=True)
            o, p = statistics.median(ms["ort"]), statistics.median(ms["precis"])
            digits = 4 if o < 1 else 2
            lines.append(f"| {name} | {batch} | {iterations} | {o:.{digits}f} | {p:.{digits}f} "
                         f"| {p / o:.2f} | {rss['ort']:.0f} | {rss['precis']:.0f} |")
    if tmp_holder:
        tmp_holder.cleanup()
    # The machine may be shared: other processes' load is part of what was measured.
    lines.insert(3, f"Load average (1 min): {load_start:.1f} at the start, "
                    f"{os.getloadavg()[0]:.1f} at the end.")
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
    p.add_argument("--batches", type=int_list, default=[1, 8],
                   help="batch sizes, comma-separated (default: 1,8)")
    p.add_argument("--threads", type=int, default=2, help="threads on each side (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="alternating runs per side")
    p.add_argument("--iterations-scale", type=float, default=1.0,
                   help="multiplies every model's warm-up and timed call counts")
    p.add_argument("--quick", action="store_true", help="small resnet18 and gpt2, a smoke run")
    p.add_argument("--keep", help="write the models, inputs and artifacts here and keep them")
    p.add_argument("--output", help="also write the markdown to this file")
    p.add_argument("--python", help="Python with torch (default: scripts/torch-env.sh's)")
    # The onnxruntime side's worker process.
    p.add_argument("--ort-worker", help=argparse.SUPPRESS)
    p.add_argument("--inputs", help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--iterations", type=int, default=1, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.ort_worker:
        return ort_worker(a)
    a.models = a.models.split(",")
    for m in a.models:
        if m not in MODELS:
            p.error(f"unknown model '{m}' (expected one of {', '.join(MODELS)})")
    if a.threads < 1 or a.repeats < 1 or a.iterations_scale <= 0:
        p.error("--threads and --repeats must be >= 1, --iterations-scale > 0")
    try:
        import onnxruntime  # noqa: F401
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError:
        python = torch_python(a.python)
        if os.path.abspath(python) == os.path.abspath(sys.executable):
            fail(f"{python} cannot import torch, torchvision and onnxruntime")
        os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])
    driver(a)


if __name__ == "__main__":
    main()
