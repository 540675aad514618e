#!/usr/bin/env python3
"""Inference latency of the example models: `precis bench` against onnxruntime.

For each example model (examples/<m>/model.onnx, inputs examples/<m>/batch0.npz) and each
thread count, times onnxruntime's CPUExecutionProvider in this process (intra-op threads N,
inter-op 1, ORT_ENABLE_ALL, sequential execution, inputs and outputs bound once through
IOBinding so that a timed call is one run_with_iobinding) and `precis bench` as a subprocess
with the same inputs, thread count, warmup and iterations (its --json numbers are timed in
C++ around Session::run). Both sides run `--repeats` times, alternately; each reports the
median over repeats of its per-iteration median latency, and the ratio precis / onnxruntime
(above 1: precis is slower). Prints a markdown table with the machine and versions; --output
writes it to a file too.

Needs Python 3 with `numpy` and `onnxruntime` (pip install numpy onnxruntime) and a built
precis (default build/bin/precis, relative to the repository root).

  python3 benchmarks/inference_vs_onnxruntime.py [--precis build/bin/precis] [--threads 1,2]
      [--models mlp,cnn,gpt] [--warmup 50] [--iterations 1000] [--repeats 3] [--output FILE]
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

from machine import cpu_model, revision

try:
    import numpy as np
    import onnxruntime as ort
except ImportError as e:
    sys.exit(f"inference_vs_onnxruntime.py: {e}; install them with: pip install numpy onnxruntime")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def int_list(text):
    values = [int(v) for v in text.split(",")]
    if any(v < 1 for v in values):
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


def time_onnxruntime(model, inputs, threads, warmup, iterations):
    """Median latency (ms) of one onnxruntime run, inputs and outputs bound once."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    binding = sess.io_binding()
    for i in sess.get_inputs():
        binding.bind_cpu_input(i.name, inputs[i.name])
    for o in sess.get_outputs():
        binding.bind_output(o.name, "cpu")
    for _ in range(warmup):
        sess.run_with_iobinding(binding)
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        sess.run_with_iobinding(binding)
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def time_precis(precis, model, npz, threads, warmup, iterations):
    """Median latency (ms) that `precis bench --json` reports."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        cmd = [precis, "bench", model, "--inputs", npz, "--num-threads", str(threads),
               "--warmup", str(warmup), "--iterations", str(iterations), "--json", out]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"inference_vs_onnxruntime.py: {' '.join(cmd)} failed:\n{run.stderr}")
        with open(out) as f:
            return json.load(f)["latency_ms"]["median"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precis", default=os.path.join(ROOT, "build", "bin", "precis"),
                        help="the precis binary (default: build/bin/precis)")
    parser.add_argument("--threads", type=int_list, default=[1, 2],
                        help="thread counts, comma-separated (default: 1,2)")
    parser.add_argument("--models", default="mlp,cnn,gpt",
                        help="example models, comma-separated (default: mlp,cnn,gpt)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed runs first")
    parser.add_argument("--iterations", type=int, default=1000, help="timed runs")
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternate onnxruntime and precis this many times")
    parser.add_argument("--output", help="also write the markdown to this file")
    args = parser.parse_args()
    if args.warmup < 0 or args.iterations < 1 or args.repeats < 1:
        parser.error("--warmup must be >= 0, --iterations and --repeats >= 1")
    if not os.access(args.precis, os.X_OK):
        parser.error(f"no precis binary at {args.precis} (build it or pass --precis)")

    lines = [
        f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs"
        f" ({', '.join(cpu_flags()) or 'no AVX2/AVX-512 flags'}), {platform.system()} "
        f"{platform.release()}",
        f"Versions: precis {revision()}, onnxruntime {ort.__version__}, numpy "
        f"{np.__version__}, Python {platform.python_version()}",
        f"Method: inputs examples/<model>/batch0.npz; {args.warmup} warmup + {args.iterations} "
        f"timed runs per measurement; median over {args.repeats} alternating repeats of each "
        "side's median.",
        "",
        "| model | threads | onnxruntime ms | precis ms | precis / onnxruntime |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in args.models.split(","):
        model = os.path.join(ROOT, "examples", name, "model.onnx")
        npz = os.path.join(ROOT, "examples", name, "batch0.npz")
        with np.load(npz) as data:
            inputs = {k: data[k] for k in data.files}
        for threads in args.threads:
            ort_ms, precis_ms = [], []
            for _ in range(args.repeats):
                ort_ms.append(time_onnxruntime(model, inputs, threads, args.warmup,
                                               args.iterations))
                precis_ms.append(time_precis(args.precis, model, npz, threads, args.warmup,
                                             args.iterations))
            o, p = statistics.median(ort_ms), statistics.median(precis_ms)
            lines.append(f"| {name} | {threads} | {o:.4f} | {p:.4f} | {p / o:.2f} |")
            print(f"{name}, {threads} threads: onnxruntime {o:.4f} ms, precis {p:.4f} ms",
                  file=sys.stderr)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
