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

    data_parallel_scaling.py --build build [--ranks 2] [--rounds 3] [--steps 30]
        [--layers 4] [--d 128] [--heads 4] [--seq 64] [--vocab 1024] [--batch 4]
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
    rt = os.path.join(a.build, "bin", "precis-rt")
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "gpt.onnxtxt")
        subprocess.run([sys.executable, os.path.join(ROOT, "test", "pictures", "gpt2_onnxtxt.py"), model,
                        "--layers", str(a.layers), "--d", str(a.d), "--heads", str(a.heads),
                        "--seq", str(a.seq), "--vocab", str(a.vocab), "--batch", str(a.batch)], check=True)
        art = os.path.join(tmp, "gpt.precis")
        subprocess.run([precis, "compile", model, "--train", "--optimizer", "adamw", "--data-parallel",
                        "-o", art], check=True)
        rng = np.random.default_rng(0)
        rows = a.batch * a.ranks * (a.steps + a.warmup)
        data = os.path.join(tmp, "data.npz")
        np.savez(data, idx=rng.integers(0, a.vocab, (rows, a.seq)), targets=rng.integers(0, a.vocab, (rows, a.seq)))
        params = 0
        report = subprocess.run([precis, "report", model, "--train", "--optimizer", "adamw", "--data-parallel"],
                                capture_output=True, text=True)
        for line in report.stdout.splitlines():
            if line.startswith("collectives:"):
                print(line)
        train = [rt, "train", art, "--data", data, "--steps", str(a.steps + a.warmup), "--lr", "1e-4",
                 "--warmup", str(a.warmup), "--num-threads", "1"]
        times = {1: [], a.ranks: []}
        for r in range(a.rounds):
            for n in (1, a.ranks):
                cmd = ([a.mpiexec, "--oversubscribe", "--bind-to", "none", "-np", str(n)] if n > 1 else []) + train
                out = subprocess.run(cmd, env=env(), capture_output=True, text=True, check=True).stdout
                ms = json.loads(out.strip().splitlines()[-1])["ms_per_step"]
                times[n].append(ms)
                print(f"round {r + 1}: {n} rank(s): {ms:.2f} ms/step", flush=True)
        t1, tn = statistics.median(times[1]), statistics.median(times[a.ranks])
        print()
        print(f"| ranks | per-rank batch | ms/step (median of {a.rounds}) | samples/s | efficiency T(1)/T(N) |")
        print("| --- | --- | --- | --- | --- |")
        for n, t in ((1, t1), (a.ranks, tn)):
            print(f"| {n} | {a.batch} | {t:.2f} | {n * a.batch * 1000 / t:.1f} | {t1 / t:.2f} |")


if __name__ == "__main__":
    main()
