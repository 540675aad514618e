#!/usr/bin/env python3
"""HTTP serving throughput and latency: precis-serve against onnxruntime behind Python's HTTP server.

For each example model (examples/<m>/model.onnx, inputs examples/<m>/batch0.npz), serves it two
ways with the same JSON request and response format (examples/serve/README.md):

  precis-serve  the artifact compiled by `precis compile`, --workers W --num-threads 1;
  onnxruntime   the ONNX model in one onnxruntime.InferenceSession (CPUExecutionProvider,
                intra- and inter-op threads 1, ORT_ENABLE_ALL) shared by the threads of a
                standard-library http.server.ThreadingHTTPServer (HTTP/1.1, keep-alive),
                decoding and encoding JSON exactly as precis-serve's format says;

checks that both answer the same outputs (to 1e-5 relative), then drives each with the same
closed-loop load: --processes client processes x --threads-per-process threads, each thread
with one keep-alive connection sending the batch as JSON and waiting for the answer, for
--warmup seconds untimed then --duration seconds timed, the two servers alternating for
--repeats runs each. Prints the median over runs of requests/s and of p50 / p99 latency
(client side, send to last byte) side by side as a markdown table with the machine and versions;
--output writes it to a file too. Servers and clients share the machine, so the table describes
the whole system under load, not the server alone.

The script needs NumPy and onnxruntime; run from any Python 3, it creates a virtual environment
(--venv, default build/serve-bench-venv; pip install numpy onnxruntime) and re-runs itself in
it. Needs a built precis (build/bin/precis and build/bin/precis-serve).

  python3 benchmarks/serve_vs_onnxruntime.py [--models mlp,cnn,gpt] [--duration 5]
      [--warmup 2] [--repeats 3] [--processes 2] [--threads-per-process 4] [--workers 2]
      [--output FILE]
"""

import argparse
import http.client
import http.server
import json
import multiprocessing
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from machine import cpu_model, revision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- the virtual environment -----------------------------------------------------------------

def ensure_venv(venv):
    """Re-executes this script in `venv` (created with numpy and onnxruntime if missing)."""
    try:
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401
        return
    except ImportError:
        pass
    python = os.path.join(venv, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(venv):
        sys.exit(f"serve_vs_onnxruntime.py: {venv} lacks numpy or onnxruntime")
    if not os.path.exists(python):
        print(f"creating {venv} (numpy, onnxruntime)", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "numpy", "onnxruntime"], check=True)
    os.execv(python, [python] + sys.argv)


# --- the onnxruntime server (a child process of this script) --------------------------------

def ort_server(models):
    """Serves `models` (name -> .onnx path) with the JSON format of precis-serve; prints the
    port, serves until SIGTERM."""
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sessions = {}
    for name, path in models.items():
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        inputs = {i.name: i for i in sess.get_inputs()}
        sessions[name] = (sess, inputs)
    np_types = {"tensor(float)": np.float32, "tensor(int64)": np.int64,
                "tensor(int32)": np.int32, "tensor(double)": np.float64,
                "tensor(bool)": np.bool_}
    pattern = re.compile(r"^/v1/models/([^/:]+):predict$")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as precis-serve: headers and body go out at once

        def log_message(self, *args):
            pass

        def reply(self, status, doc):
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/readyz":
                return self.reply(200, {"status": "ready", "models": sorted(sessions)})
            self.reply(404, {"error": {"code": "not_found", "message": self.path}})

        def do_POST(self):
            start = time.perf_counter()
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            match = pattern.match(self.path)
            if not match or match.group(1) not in sessions:
                return self.reply(404, {"error": {"code": "not_found", "message": self.path}})
            sess, inputs = sessions[match.group(1)]
            try:
                doc = json.loads(body)["inputs"]
                feeds = {}
                for name, info in inputs.items():
                    v = doc[name]
                    data = v["data"] if isinstance(v, dict) else v
                    a = np.array(data, dtype=np_types[info.type])
                    if isinstance(v, dict) and "shape" in v:
                        a = a.reshape(v["shape"])
                    feeds[name] = a
            except (ValueError, KeyError, TypeError) as e:
                return self.reply(400, {"error": {"code": "invalid_argument", "message": str(e)}})
            run_start = time.perf_counter()
            results = sess.run(None, feeds)
            run_ms = (time.perf_counter() - run_start) * 1e3
            outputs = {o.name: {"shape": list(r.shape), "dtype": str(r.dtype),
                                "data": r.reshape(-1).tolist()}
                       for o, r in zip(sess.get_outputs(), results)}
            self.reply(200, {"model": match.group(1), "outputs": outputs,
                             "latency_ms": round((time.perf_counter() - start) * 1e3, 3),
                             "run_ms": round(run_ms, 3)})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"onnxruntime server: listening on http://127.0.0.1:{server.server_address[1]}",
          flush=True)
    server.serve_forever()


# --- load generation -------------------------------------------------------------------------

def client_process(port, path, body, threads, warmup, duration, out):
    """`threads` closed-loop clients for warmup + duration seconds; sends (latencies in ms of
    the timed window, errors) through `out`."""
    start = time.time() + 0.2  # every process starts together, roughly
    measure_from = start + warmup
    stop_at = measure_from + duration
    lock = threading.Lock()
    latencies, errors = [], [0]

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, bad = [], 0
        while time.time() < start:
            time.sleep(0.001)
        while True:
            t0 = time.perf_counter()
            now = time.time()
            if now >= stop_at:
                break
            try:
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            ms = (time.perf_counter() - t0) * 1e3
            if now >= measure_from:
                if ok:
                    mine.append(ms)
                else:
                    bad += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    pool = [threading.Thread(target=client) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.send((latencies, errors[0]))
    out.close()


def drive(port, model, body, args):
    """(requests/s, p50 ms, p99 ms, errors) of the closed-loop load on one server."""
    ctx = multiprocessing.get_context("fork")
    pipes, procs = [], []
    for _ in range(args.processes):
        receiver, sender = ctx.Pipe(duplex=False)
        p = ctx.Process(target=client_process,
                        args=(port, f"/v1/models/{model}:predict", body,
                              args.threads_per_process, args.warmup, args.duration, sender))
        p.start()
        pipes.append(receiver)
        procs.append(p)
    latencies, errors = [], 0
    for receiver in pipes:
        lat, err = receiver.recv()
        latencies.extend(lat)
        errors += err
    for p in procs:
        p.join()
    latencies.sort()

    def pct(q):
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return len(latencies) / args.duration, pct(0.50), pct(0.99), errors


# --- servers ---------------------------------------------------------------------------------

def start(cmd, banner):
    """Starts `cmd` and returns (process, port) once it printed `banner`...:PORT."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith(banner):
        proc.kill()
        sys.exit(f"serve_vs_onnxruntime.py: {cmd[0]} did not start: {line!r}")
    port = int(line.strip().rsplit(":", 1)[1])
    deadline = time.time() + 60
    while time.time() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/readyz")
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                return proc, port
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.05)
    proc.kill()
    sys.exit(f"serve_vs_onnxruntime.py: {cmd[0]} never became ready")


def post(port, model, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", f"/v1/models/{model}:predict", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.status != 200:
        sys.exit(f"serve_vs_onnxruntime.py: {model} answered {r.status}: {data[:300]!r}")
    return json.loads(data)["outputs"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=os.path.join(ROOT, "build", "serve-bench-venv"))
    parser.add_argument("--precis", default=os.path.join(ROOT, "build", "bin", "precis"))
    parser.add_argument("--precis-serve", default=os.path.join(ROOT, "build", "bin", "precis-serve"))
    parser.add_argument("--models", default="mlp,cnn,gpt")
    parser.add_argument("--duration", type=float, default=5.0, help="timed seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds first")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads-per-process", type=int, default=4, help="client threads each")
    parser.add_argument("--repeats", type=int, default=3,
                        help="alternating runs per server and model; the median is reported")
    parser.add_argument("--workers", type=int, default=2, help="precis-serve --workers")
    parser.add_argument("--output", help="also write the table here")
    parser.add_argument("--ort-server", help=argparse.SUPPRESS)  # internal: name=path,...
    args = parser.parse_args()

    ensure_venv(args.venv)
    args.load_before = os.getloadavg()[0]
    if args.ort_server:
        return ort_server(dict(m.split("=", 1) for m in args.ort_server.split(",")))

    import numpy as np
    import onnxruntime as ort

    models = args.models.split(",")
    tmp = tempfile.mkdtemp(prefix="serve-bench-")
    bodies, onnx = {}, {}
    for m in models:
        onnx[m] = os.path.join(ROOT, "examples", m, "model.onnx")
        artifact = os.path.join(tmp, m + ".precis")
        subprocess.run([args.precis, "compile", onnx[m], "-o", artifact], check=True,
                       capture_output=True)
        with np.load(os.path.join(ROOT, "examples", m, "batch0.npz")) as z:
            bodies[m] = json.dumps({"inputs": {
                k: {"dtype": str(z[k].dtype), "shape": list(z[k].shape),
                    "data": z[k].reshape(-1).tolist()} for k in z.files}})

    servers = []
    try:
        rows = run_all(args, models, tmp, onnx, bodies, servers)
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    report(args, rows, ort.__version__)


def run_all(args, models, tmp, onnx, bodies, servers):
    """Starts both servers (appending them to `servers`), checks that they agree, and
    measures each model on each; returns the rows of the table."""
    import numpy as np

    precis, precis_port = start(
        [args.precis_serve, "--port", "0", "--workers", str(args.workers), "--num-threads", "1"]
        + [a for m in models for a in ("--model", f"{m}={os.path.join(tmp, m + '.precis')}")],
        "precis-serve: listening on ")
    servers.append(precis)
    ort_proc, ort_port = start(
        [sys.executable, os.path.abspath(__file__), "--venv", args.venv, "--ort-server",
         ",".join(f"{m}={onnx[m]}" for m in models)],
        "onnxruntime server: listening on ")
    servers.append(ort_proc)
    for m in models:
        a, b = post(precis_port, m, bodies[m]), post(ort_port, m, bodies[m])
        for name in b:
            if not np.allclose(np.array(a[name]["data"]), np.array(b[name]["data"]),
                               rtol=1e-5, atol=1e-6):
                sys.exit(f"serve_vs_onnxruntime.py: {m}/{name} differs: "
                         f"{a[name]['data'][:4]} vs {b[name]['data'][:4]}")
    rows = []
    for m in models:
        runs = {"precis-serve": [], "onnxruntime": []}
        for _ in range(args.repeats):  # alternating, so both sides see the same disturbances
            for label, port in (("precis-serve", precis_port), ("onnxruntime", ort_port)):
                rps, p50, p99, errors = drive(port, m, bodies[m], args)
                runs[label].append((rps, p50, p99, errors))
                print(f"{m:4s} {label:13s} {rps:9.1f} req/s  p50 {p50:7.3f} ms  "
                      f"p99 {p99:7.3f} ms  errors {errors}", file=sys.stderr, flush=True)
        for label, samples in runs.items():
            rows.append((m, label) + tuple(statistics.median(s[i] for s in samples)
                                           for i in range(3)) + (sum(s[3] for s in samples),))
    return rows


def report(args, rows, ort_version):
    concurrency = args.processes * args.threads_per_process
    lines = [
        f"precis {revision()}, onnxruntime {ort_version}, Python {platform.python_version()}, "
        f"{cpu_model()}, {os.cpu_count()} hardware threads, load average before "
        f"{args.load_before:.1f}",
        f"load: {args.processes} client processes x {args.threads_per_process} threads "
        f"(concurrency {concurrency}), keep-alive, batch0 as JSON, {args.warmup:g} s warmup, "
        f"{args.duration:g} s timed, median of {args.repeats} alternating runs; "
        f"precis-serve --workers {args.workers} --num-threads 1",
        "",
        "| model | server | requests/s | p50 ms | p99 ms | precis-serve / onnxruntime (req/s) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for i in range(0, len(rows), 2):
        (m, _, rps_a, p50_a, p99_a, err_a), (_, _, rps_b, p50_b, p99_b, err_b) = rows[i], rows[i + 1]
        lines.append(f"| {m} | precis-serve | {rps_a:.0f} | {p50_a:.2f} | {p99_a:.2f} | "
                     f"{rps_a / rps_b:.2f} |")
        lines.append(f"| {m} | onnxruntime (Python) | {rps_b:.0f} | {p50_b:.2f} | {p99_b:.2f} | |")
        if err_a or err_b:
            lines.append(f"| {m} | errors | {err_a} | | | {err_b} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.output:
        with open(args.output, "w") as f:
            f.write(table)


if __name__ == "__main__":
    sys.exit(main())
