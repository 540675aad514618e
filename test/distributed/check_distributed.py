#!/usr/bin/env python3
"""Data-parallel training under mpirun, checked against one process (docs/distributed.md).

Cases (one per ctest entry, `check_distributed.py CASE --precis BIN --mpiexec MPIEXEC ...`):

The model is an MLP with LayerNorm, written by the test as textual ONNX with a symbolic batch
dimension and random weights (write_model).

  parity-sgd, parity-adamw, parity-bf16
      N=2 ranks with batch B train the same steps as one process with batch 2B: every step's
      loss (rank 0's log: the loss of the whole 2B rows) within a relative tolerance of the
      single process's: fp32 1e-5 (only the order of the gradient sums differs), bf16 2.5e-3.
      In bf16 the first step's losses are equal, but from then on the fp32 master weights
      differ in their last bits (the gradient sums' order), and the casts of the weights to
      bf16 round some of them the other way: a chaotic 2^-8 relative jump in single weights,
      which puts the losses 1e-4 to 1.3e-3 apart by step 20 (AdamW, 14 seeds measured).
  dropout
      The MLP with training-mode Dropout after its first ReLU. Rank r draws for its rows the
      mask one process draws for the same rows of the whole batch (the mask is indexed by the
      element's position in the whole batch), so N=2 ranks of batch B match one process of
      batch 2B within the parity tolerance (1e-5) at every step, which ranks drawing equal
      masks would not. The same --seed reproduces the 2-rank log bit for bit; another seed
      changes every step's loss.
  zero1
      2 ranks with the optimizer state sharded (--zero-stage 1, SGD with momentum and AdamW)
      give the losses of 2 ranks without sharding bit for bit (the update is element-wise,
      the gradients the same), and report half the optimizer state per rank. Checkpoints are
      interchangeable: a sharded run resumes from an unsharded checkpoint and vice versa (one
      process of batch 2B), with the same losses.
  kill
      A long 2-rank run with checkpoints is killed (SIGKILL to rank 1) once a checkpoint
      exists. mpirun must exit non-zero within 60 s; the last checkpoint must be intact; and
      resuming from it, with 2 ranks of batch B or 1 process of batch 2B, must give the losses
      of an uninterrupted 2-rank run (2 ranks: bit for bit; 1 process: within 1e-5).
  errors
      A bad data file on rank 1, a NaN in rank 1's rows under --check-numerics, and ranks that
      disagree (different optimizer: a different artifact; different --lr): every one ends the
      whole job with a non-zero status and a message naming the rank, within 60 s.

Data: rows are drawn fresh each run from a seeded generator (the seed is printed). Open MPI
refuses to run as root unless told; the environment says so (OMPI_ALLOW_RUN_AS_ROOT).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np


def log(msg):
    print(msg, flush=True)


def mpi_env():
    env = dict(os.environ)
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    # Containers often forbid the cross-memory-attach single-copy path of the shared-memory
    # transport; copying through the shared segment works everywhere.
    env.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def mpirun(args, n):
    return [args.mpiexec, "--oversubscribe", "-np", str(n)]


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def run(cmd, timeout=600, check=True):
    log("$ " + " ".join(cmd))
    p = subprocess.run(cmd, env=mpi_env(), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"command failed with status {p.returncode}")
    return p


IN, HIDDEN, CLASSES = 32, 64, 10


def write_model(path, seed, dropout=None):
    """An MLP classifier (Gemm, ReLU, Gemm, LayerNorm, Gemm, softmax cross-entropy, mean over
    the batch) as textual ONNX, with a symbolic batch dimension N and random weights; with
    `dropout`, a training-mode Dropout of that ratio after the first ReLU."""
    rng = np.random.default_rng(seed + 1)
    inits = []

    def weight(name, *shape):
        fan_in = shape[-1]
        values = rng.uniform(-1, 1, size=shape) / np.sqrt(fan_in)
        dims = "[" + ",".join(map(str, shape)) + "]"
        inits.append("float%s %s = {%s}" % (dims, name, ", ".join("%.9g" % v for v in values.ravel())))

    weight("w1", HIDDEN, IN)
    weight("b1", HIDDEN)
    weight("w2", HIDDEN, HIDDEN)
    weight("b2", HIDDEN)
    inits.append("float[%d] gamma = {%s}" % (HIDDEN, ", ".join(["1"] * HIDDEN)))
    inits.append("float[%d] beta = {%s}" % (HIDDEN, ", ".join(["0"] * HIDDEN)))
    weight("w3", CLASSES, HIDDEN)
    weight("b3", CLASSES)
    with open(path, "w") as f:
        f.write('<ir_version: 8, opset_import: ["" : 17]>\n')
        f.write("mlp (float[N,%d] x, int64[N] y) => (float loss)\n" % IN)
        f.write("<" + ",\n ".join(inits) + ">\n{\n")
        f.write("  h1 = Gemm <transB = 1> (x, w1, b1)\n")
        f.write("  r1 = Relu (h1)\n")
        if dropout is not None:
            f.write("  ratio = Constant <value = float {%g}> ()\n" % dropout)
            f.write("  train = Constant <value = bool {1}> ()\n")
            f.write("  r1d = Dropout (r1, ratio, train)\n")
        f.write("  h2 = Gemm <transB = 1> (%s, w2, b2)\n" % ("r1" if dropout is None else "r1d"))
        f.write("  n2 = LayerNormalization <axis = -1> (h2, gamma, beta)\n")
        f.write("  r2 = Relu (n2)\n")
        f.write("  z = Gemm <transB = 1> (r2, w3, b3)\n")
        f.write('  loss = SoftmaxCrossEntropyLoss <reduction = "mean"> (z, y)\n')
        f.write("}\n")


def dataset(seed, rows=64):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((rows, IN)).astype(np.float32),
            "y": rng.integers(0, CLASSES, size=rows).astype(np.int64)}


def compare(single, parallel, rtol, what):
    assert len(single) == len(parallel), f"{what}: {len(single)} vs {len(parallel)} steps"
    worst = 0.0
    for a, b in zip(single, parallel):
        assert a["step"] == b["step"], (a, b)
        la, lb = a["loss"], b["loss"]
        rel = abs(la - lb) / max(abs(la), 1e-30)
        worst = max(worst, rel)
        assert rel <= rtol, f"{what}: step {a['step']}: one process {la!r}, 2 ranks {lb!r} (rel {rel:.3g} > {rtol})"
    log(f"{what}: {len(single)} steps, largest relative difference {worst:.3g} (tolerance {rtol})")


def train_cmd(args, model, data, batch, extra):
    return [args.precis, "train", model, "--data", data, "--batch-size", str(batch),
            "--num-threads", "1"] + extra


def setup(tmp, seed):
    model, data = os.path.join(tmp, "mlp.onnxtxt"), os.path.join(tmp, "data.npz")
    write_model(model, seed)
    np.savez(data, **dataset(seed))
    return model, data


def parity(args, tmp, flags, rtol, seed):
    example, data = setup(tmp, seed)
    common = flags + ["--steps", "20", "--shuffle", "7"]
    one, two = os.path.join(tmp, "one.jsonl"), os.path.join(tmp, "two.jsonl")
    run(train_cmd(args, example, data, 16, common + ["--log", one]))
    p = run(mpirun(args, 2) + train_cmd(args, example, data, 8, common + ["--log", two]))
    assert "data-parallel over 2 ranks" in p.stderr, p.stderr
    compare(read_log(one), read_log(two), rtol, " ".join(flags))


def dropout(args, tmp, seed):
    model, data = os.path.join(tmp, "mlp.onnxtxt"), os.path.join(tmp, "data.npz")
    write_model(model, seed, dropout=0.3)
    np.savez(data, **dataset(seed))
    common = ["--optimizer", "adamw", "--lr", "1e-3", "--steps", "10", "--shuffle", "7"]
    logs = {}
    for name, ranks, batch, extra in (("one", 1, 16, ["--seed", "3"]), ("two", 2, 8, ["--seed", "3"]),
                                      ("again", 2, 8, ["--seed", "3"]), ("other", 2, 8, ["--seed", "4"])):
        out = os.path.join(tmp, name + ".jsonl")
        run((mpirun(args, ranks) if ranks > 1 else []) +
            train_cmd(args, model, data, batch, common + extra + ["--log", out]))
        logs[name] = read_log(out)
    compare(logs["one"], logs["two"], 1e-5, "dropout 0.3, 2 ranks against one process")
    losses = {name: [r["loss"] for r in entries] for name, entries in logs.items()}
    assert losses["again"] == losses["two"], (losses["again"], losses["two"])
    assert all(a != b for a, b in zip(losses["other"], losses["two"])), (losses["other"], losses["two"])
    log("dropout: the same seed reproduces the 2-rank log bit for bit; another seed changes every loss")


def zero1(args, tmp, seed):
    model, data = setup(tmp, seed)
    for flags in (["--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05"],
                  ["--optimizer", "adamw", "--lr", "1e-3"]):
        runs = {}
        for name, extra in (("plain", []), ("zero", ["--zero-stage", "1"])):
            out, ckpt = os.path.join(tmp, name + ".jsonl"), os.path.join(tmp, name + "-ckpt")
            p = run(mpirun(args, 2) + train_cmd(args, model, data, 8, flags + extra + [
                "--steps", "20", "--shuffle", "3", "--log", out, "--checkpoint-dir", ckpt,
                "--checkpoint-every", "10"]))
            line = next(l for l in p.stderr.splitlines() if "optimizer state per rank" in l)
            log(f"{' '.join(flags + extra)}: {line.split(': ', 1)[1]}")
            assert ("ZeRO stage 1" in line) == (name == "zero"), line
            runs[name] = (read_log(out), ckpt)
        plain, zero = runs["plain"][0], runs["zero"][0]
        assert [r["loss"] for r in zero] == [r["loss"] for r in plain], (zero, plain)
        log(f"{' '.join(flags)}: 20 steps with the state sharded equal the unsharded run bit for bit")
        # Interchangeable checkpoints (both hold per-parameter state).
        for source, ranks, batch, extra, rtol in (("zero", 1, 16, [], 1e-5),
                                                  ("plain", 2, 8, ["--zero-stage", "1"], 0.0)):
            resumed = os.path.join(tmp, f"{flags[1]}-from-{source}-{ranks}")
            os.makedirs(resumed)
            src = os.path.join(runs[source][1], "step-00000010.npz")
            with open(src, "rb") as f, open(os.path.join(resumed, "step-00000010.npz"), "wb") as g:
                g.write(f.read())
            out = resumed + ".jsonl"
            run((mpirun(args, ranks) if ranks > 1 else []) + train_cmd(args, model, data, batch, flags + extra + [
                "--steps", "20", "--shuffle", "3", "--resume", resumed, "--log", out]))
            got, want = read_log(out), plain[10:]
            if rtol == 0.0:
                assert [r["loss"] for r in got] == [r["loss"] for r in want], (got, want)
                log(f"sharded run resumed from an unsharded checkpoint: steps 11..20 bit for bit")
            else:
                compare(want, got, rtol, "one process resumed from a sharded checkpoint")
        for name in runs:
            os.rename(runs[name][1], runs[name][1] + "-" + flags[1])


def rank_pids(mpirun_pid):
    """Children of mpirun (its ranks, on this machine) by OMPI_COMM_WORLD_RANK."""
    ranks = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != mpirun_pid:
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
            if b"OMPI_COMM_WORLD_RANK" in env:
                ranks[int(env[b"OMPI_COMM_WORLD_RANK"])] = int(pid)
        except (OSError, ValueError, IndexError):
            continue
    return ranks


def kill(args, tmp, seed):
    example, data = setup(tmp, seed)
    ckpt = os.path.join(tmp, "ckpt")
    flags = ["--optimizer", "adamw", "--lr", "1e-3", "--shuffle", "5"]
    cmd = mpirun(args, 2) + train_cmd(args, example, data, 8, flags + [
        "--steps", "100000000", "--checkpoint-dir", ckpt, "--checkpoint-every", "40"])
    log("$ " + " ".join(cmd) + "  (killed once a checkpoint exists)")
    job = subprocess.Popen(cmd, env=mpi_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (os.path.isdir(ckpt) and any(
            f.startswith("step-") for f in os.listdir(ckpt))):
        assert job.poll() is None, "the job ended before its first checkpoint: " + job.stderr.read()
        time.sleep(0.05)
    time.sleep(0.3)  # into the steps after the checkpoint
    ranks = rank_pids(job.pid)
    assert 1 in ranks, f"rank 1 of mpirun {job.pid} not found: {ranks}"
    os.kill(ranks[1], signal.SIGKILL)
    killed = time.time()
    try:
        _, err = job.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        job.kill()
        raise SystemExit("the job did not end within 60 s of rank 1's death")
    took = time.time() - killed
    assert job.returncode != 0, "mpirun exited 0 after a rank was killed"
    log(f"rank 1 killed: mpirun exited with status {job.returncode} after {took:.1f} s")
    for pid in ranks.values():
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z", \
            f"rank process {pid} still runs"

    checkpoints = sorted(f for f in os.listdir(ckpt) if f.startswith("step-") and f.endswith(".npz"))
    assert checkpoints, "no checkpoint"
    last = checkpoints[-1]
    cursor = int(last[5:13])
    saved = np.load(os.path.join(ckpt, last))
    assert int(saved["data_cursor"][0]) == cursor, (last, saved["data_cursor"])
    log(f"last checkpoint {last} (cursor {cursor}) reads back")
    target = cursor + 20

    # The uninterrupted reference: 2 ranks from scratch to the same step.
    ref_log = os.path.join(tmp, "ref.jsonl")
    run(mpirun(args, 2) + train_cmd(args, example, data, 8, flags + [
        "--steps", str(target), "--log", ref_log]))
    ref = [r for r in read_log(ref_log) if r["step"] > cursor]
    for ranks_, batch, rtol in ((2, 8, 0.0), (1, 16, 1e-5)):
        resumed = os.path.join(tmp, f"resume{ranks_}")
        os.makedirs(resumed)
        for f in (last,):
            with open(os.path.join(ckpt, f), "rb") as src, open(os.path.join(resumed, f), "wb") as dst:
                dst.write(src.read())
        out = os.path.join(tmp, f"resume{ranks_}.jsonl")
        cmd = train_cmd(args, example, data, batch, flags + [
            "--steps", str(target), "--resume", resumed, "--log", out])
        run((mpirun(args, ranks_) if ranks_ > 1 else []) + cmd)
        got = read_log(out)
        if rtol == 0.0:
            assert [r["loss"] for r in got] == [r["loss"] for r in ref], (got, ref)
            log(f"resumed with 2 ranks: steps {cursor + 1}..{target} equal the uninterrupted run bit for bit")
        else:
            compare(ref, got, rtol, f"resumed with 1 process of batch 16")


def expect_failure(args, cmd, rank_message, what):
    start = time.time()
    p = run(cmd, timeout=120, check=False)
    took = time.time() - start
    assert p.returncode != 0, f"{what}: exit status 0"
    assert rank_message in p.stderr, f"{what}: no '{rank_message}' in:\n{p.stderr}"
    assert took < 60, f"{what}: took {took:.0f} s"
    line = next(l for l in p.stderr.splitlines() if rank_message in l)
    log(f"{what}: status {p.returncode} after {took:.1f} s: {line.strip()}")


def errors(args, tmp, seed):
    example, good = setup(tmp, seed)
    arrays = dict(np.load(good))
    bad = os.path.join(tmp, "bad.npz")
    with open(bad, "wb") as f:
        f.write(b"not an npz file")
    base = ["--optimizer", "adamw", "--lr", "1e-3", "--steps", "20"]
    m = [args.mpiexec, "--oversubscribe"]
    model = lambda data, extra=(): train_cmd(args, example, data, 8, base + list(extra))
    expect_failure(args, m + ["-np", "1"] + model(good) + [":", "-np", "1"] + model(bad),
                   "rank 1 of 2: error:", "bad data file on rank 1")
    # Rank 1's first batch (rows 8..15, no shuffle) holds a NaN.
    nan = os.path.join(tmp, "nan.npz")
    poisoned = dict(arrays)
    x = poisoned["x"].copy()
    x[9, 0] = np.nan
    poisoned["x"] = x
    np.savez(nan, **poisoned)
    expect_failure(args, mpirun(args, 2) + model(nan, ["--check-numerics"]), "rank 1 of 2: error:",
                   "NaN in rank 1's rows with --check-numerics")
    expect_failure(args, m + ["-np", "1"] + model(good) + [":", "-np", "1"] +
                   train_cmd(args, example, good, 8, ["--optimizer", "sgd", "--lr", "1e-3", "--steps", "20"]),
                   "differs from rank 0 in its artifact", "ranks compiled with different optimizers")
    expect_failure(args, m + ["-np", "1"] + model(good) + [":", "-np", "1"] +
                   train_cmd(args, example, good, 8, ["--optimizer", "adamw", "--lr", "2e-3", "--steps", "20"]),
                   "differs from rank 0 in its training flags", "ranks with different --lr")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("--precis", required=True)
    ap.add_argument("--mpiexec", required=True)
    args = ap.parse_args()
    seed = int(os.environ.get("PRECIS_TEST_SEED", np.random.SeedSequence().entropy % (1 << 31)))
    log(f"seed {seed} (PRECIS_TEST_SEED={seed} replays this run)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.case == "parity-sgd":
            parity(args, tmp, ["--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05"], 1e-5, seed)
        elif args.case == "parity-adamw":
            parity(args, tmp, ["--optimizer", "adamw", "--lr", "1e-3"], 1e-5, seed)
        elif args.case == "parity-bf16":
            parity(args, tmp, ["--optimizer", "adamw", "--lr", "1e-3", "--precision", "bf16"], 2.5e-3, seed)
        elif args.case == "dropout":
            dropout(args, tmp, seed)
        elif args.case == "zero1":
            zero1(args, tmp, seed)
        elif args.case == "kill":
            kill(args, tmp, seed)
        elif args.case == "errors":
            errors(args, tmp, seed)
        else:
            raise SystemExit(f"unknown case {args.case}")
    log("ok")


if __name__ == "__main__":
    main()
