#!/usr/bin/env python3
"""Weak scaling of data-parallel training on this machine (docs/distributed.md).

Builds a GPT-2-shaped decoder as textual ONNX (test/pictures/gpt2_onnxtxt.py: pre-norm blocks,
fused qkv, causal attention, GELU MLP, tied-free vocabulary projection; widths set below),
compiles its AdamW training step once with --data-parallel, and times `precis-rt train` on it
with 1 rank and with N ranks (`mpirun -np N`), the same per-rank batch and one thread per rank,
alternating the configurations over several rounds. Reports the median milliseconds per step
of each and the scaling efficiency T(1) / T(N) (1.0: N times the throughput at the same step
time), plus the bytes each step all-reduces. The 1-rank run executes the same artifact, whose
collectives are identities in a world of one, so the difference is the communication and the
contention of N processes for the machine's cores and memory bandwidth.

--bucket-mb sets the gradient bucket size of the compile (default: the compiler's, 4 MiB);
smaller buckets give the runtime all-reduces to overlap with the rest of the backward pass.
--baseline-build times a second build's precis-rt (on the first build's artifact) in the same
rounds, alternated with the first, so that a change is measured under the same load.

    data_parallel_scaling.py --build build [--baseline-build DIR] [--ranks 2] [--rounds 3]
        [--steps 30] [--bucket-mb MB] [--layers 4] [--d 128] [--heads 4] [--seq 64]
        [--vocab 1024] [--batch 4]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env():
    e = dict(os.environ)
    e.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    e.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    e.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
    e["OMP_NUM_THREADS"] = "1"
    return e


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--baseline-build", default=None)
    ap.add_argument("--bucket-mb", type=float, default=None)
    ap.add_argument("--mpiexec", default="mpiexec")
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=4)
    a = ap.parse_args()
    precis = os.path.join(a.build, "bin", "precis")
    builds = [("build", a.build)] + ([("baseline", a.baseline_build)] if a.baseline_build else [])
    bucket = ["--bucket-mb", str(a.bucket_mb)] if a.bucket_mb is not None else []
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "gpt.onnxtxt")
        subprocess.run([sys.executable, os.path.join(ROOT, "test", "pictures", "gpt2_onnxtxt.py"), model,
                        "--layers", str(a.layers), "--d", str(a.d), "--heads", str(a.heads),
                        "--seq", str(a.seq), "--vocab", str(a.vocab), "--batch", str(a.batch)], check=True)
        art = os.path.join(tmp, "gpt.precis")
        subprocess.run([precis, "compile", model, "--train", "--optimizer", "adamw", "--data-parallel",
                        "-o", art] + bucket, check=True)
        rng = np.random.default_rng(0)
        rows = a.batch * a.ranks * (a.steps + a.warmup)
        data = os.path.join(tmp, "data.npz")
        np.savez(data, idx=rng.integers(0, a.vocab, (rows, a.seq)), targets=rng.integers(0, a.vocab, (rows, a.seq)))
        params = 0
        report = subprocess.run([precis, "report", model, "--train", "--optimizer", "adamw", "--data-parallel"]
                                + bucket, capture_output=True, text=True)
        for line in report.stdout.splitlines():
            if line.startswith("collectives:"):
                print(line)
        args = ["train", art, "--data", data, "--steps", str(a.steps + a.warmup), "--lr", "1e-4",
                "--warmup", str(a.warmup), "--num-threads", "1"]
        times = {(b, n): [] for b, _ in builds for n in (1, a.ranks)}
        for r in range(a.rounds):
            for b, path in builds:
                for n in (1, a.ranks):
                    rt = os.path.join(path, "bin", "precis-rt")
                    cmd = ([a.mpiexec, "--oversubscribe", "--bind-to", "none", "-np", str(n)] if n > 1 else []) + [rt] + args
                    out = subprocess.run(cmd, env=env(), capture_output=True, text=True, check=True).stdout
                    ms = json.loads(out.strip().splitlines()[-1])["ms_per_step"]
                    times[(b, n)].append(ms)
                    print(f"round {r + 1}: {b}: {n} rank(s): {ms:.2f} ms/step", flush=True)
        print()
        label = "build | " if len(builds) > 1 else ""
        print(f"| {label}ranks | per-rank batch | ms/step (median of {a.rounds}) | samples/s | efficiency T(1)/T(N) |")
        print("|" + " --- |" * (5 + (len(builds) > 1)))
        for b, _ in builds:
            t1 = statistics.median(times[(b, 1)])
            for n in (1, a.ranks):
                t = statistics.median(times[(b, n)])
                name = f"{b} | " if len(builds) > 1 else ""
                print(f"| {name}{n} | {a.batch} | {t:.2f} | {n * a.batch * 1000 / t:.1f} | {t1 / t:.2f} |")


if __name__ == "__main__":
    main()
