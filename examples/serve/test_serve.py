#!/usr/bin/env python3
"""End-to-end test of precis-serve (ctest `precis-serve`).

Compiles examples/mlp, examples/gpt and a tiny two-output model, computes reference outputs
for random inputs with `precis run --num-threads 1`, then starts precis-serve on a free
loopback port (--port 0; it prints the port) and checks:

  1. the endpoints: /healthz, /readyz, /v1/models (signatures), /v1/models/<name>;
  2. 8 threads x 25 concurrent predict requests with random inputs, models and body formats
     (JSON with explicit dtype/shape, JSON nested lists, .npz, .npy), every output equal to
     the reference bit for bit (same artifact, same kernels, one kernel thread on both sides);
  3. malformed requests, each answered with the right status and a JSON error naming the
     input at fault: bad JSON, wrong dtype, wrong shape, ragged lists, missing and unknown
     inputs, absurd shapes, lists nested 100000 deep, bad .npy / .npz bodies, unsupported
     Content-Type (415) and Accept (406), a body over --max-body-bytes (413), unknown model
     and path (404), wrong method (405), a garbage request line; the server stays healthy;
  4. a second server with one worker slowed by --debug-run-delay-ms (a flag for tests) and
     a queue of 2: a flood gets 503 for the requests past the queue bound, a request that
     waits past --timeout-ms gets 504, and SIGTERM during a request still answers it and
     exits 0;
  5. bad flags and a missing artifact: non-zero exit with a message, no crash.

Uses only the standard library and NumPy. Every wait is bounded; ctest's TIMEOUT bounds the
whole run.
"""

import argparse
import http.client
import io
import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np

TINY_MODEL = """<ir_version: 8, opset_import: ["" : 17]>
tiny (float[2,3] x) => (float[2,3] y, float[2,3] n) {
  y = Relu(x)
  n = Neg(x)
}
"""

FAILURES = []
CHECKS = [0]


def check(condition, what):
    CHECKS[0] += 1
    if not condition:
        FAILURES.append(what)
        print("FAIL:", what, flush=True)
    return condition


def fatal(what):
    print("FATAL:", what, flush=True)
    sys.exit(1)


# --- HTTP helpers --------------------------------------------------------------------------

def request(port, method, path, body=None, headers=None, timeout=30):
    """(status, headers, body bytes) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def post_json(port, model, doc, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    body = doc if isinstance(doc, (bytes, str)) else json.dumps(doc)
    return request(port, "POST", f"/v1/models/{model}:predict", body, h)


def npz_bytes(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def error_of(status, body):
    """The (code, message) of a JSON error body; None when it is not one."""
    try:
        doc = json.loads(body)
        return doc["error"]["code"], doc["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return None


CODES = {400: "invalid_argument", 404: "not_found", 405: "method_not_allowed",
         406: "not_acceptable", 413: "payload_too_large", 415: "unsupported_media_type",
         503: "unavailable", 504: "deadline_exceeded"}


def expect_error(result, status, *fragments, what):
    """Checks that `result` is error `status` whose message contains every fragment."""
    got, _, body = result
    if not check(got == status, f"{what}: expected HTTP {status}, got {got}: {body[:300]!r}"):
        return
    err = error_of(got, body)
    if not check(err is not None, f"{what}: error body is not JSON {{\"error\": ...}}: {body[:300]!r}"):
        return
    check(err[0] == CODES[status], f"{what}: error code {err[0]!r}, expected {CODES[status]!r}")
    for f in fragments:
        check(f in err[1], f"{what}: message {err[1]!r} does not mention {f!r}")


# --- the server process --------------------------------------------------------------------

class Server:
    def __init__(self, binary, args, log_path):
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([binary, "--port", "0"] + args, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        self.output = []
        line = self._readline(30)
        if not line.startswith("precis-serve: listening on http://127.0.0.1:"):
            self.proc.kill()
            fatal(f"precis-serve did not start: {line!r}; log {log_path}")
        self.port = int(line.rsplit(":", 1)[1])
        deadline = time.time() + 30
        while True:
            try:
                if request(self.port, "GET", "/readyz", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                fatal(f"precis-serve never became ready; log {log_path}")
            time.sleep(0.05)

    def _readline(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        self.output.append(line)
        return line.strip()

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends `sig` and returns (exit code, rest of stdout)."""
        self.proc.send_signal(sig)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            check(False, f"precis-serve did not exit within {timeout} s of signal {sig}")
            return None, ""
        self.log.close()
        return self.proc.returncode, "".join(self.output) + out


# --- models, inputs and references ---------------------------------------------------------

def random_inputs(model, rng):
    if model == "mlp":
        return {"x": rng.standard_normal((8, 32)).astype(np.float32),
                "y": rng.integers(0, 10, size=8).astype(np.int64)}
    if model == "gpt":
        return {"idx": rng.integers(0, 64, size=(8, 16)).astype(np.int64),
                "targets": rng.integers(0, 64, size=(8, 16)).astype(np.int64)}
    return {"x": rng.standard_normal((2, 3)).astype(np.float32)}


def reference(precis, artifact, inputs, workdir, tag):
    """Outputs of `precis run` (one kernel thread) on `inputs`, by output name."""
    npz = os.path.join(workdir, f"{tag}.npz")
    out = os.path.join(workdir, tag)
    os.makedirs(out, exist_ok=True)
    np.savez(npz, **inputs)
    run = subprocess.run([precis, "run", artifact, "--inputs", npz, "--num-threads", "1",
                          "--output-dir", out], capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        fatal(f"precis run {artifact} failed: {run.stderr}")
    return {f[:-4]: np.load(os.path.join(out, f)) for f in os.listdir(out)}


def encode(inputs, fmt):
    """(body, Content-Type) of a predict request in format `fmt`."""
    if fmt == "json-explicit":
        doc = {"inputs": {k: {"dtype": str(v.dtype), "shape": list(v.shape),
                              "data": v.reshape(-1).tolist()} for k, v in inputs.items()}}
        return json.dumps(doc), "application/json"
    if fmt == "json-nested":
        return json.dumps({"inputs": {k: v.tolist() for k, v in inputs.items()}}), "application/json"
    if fmt == "npy":
        (value,) = inputs.values()
        return npy_bytes(value), "application/x-npy"
    return npz_bytes(inputs), "application/x-npz"


def decode(status, headers, body):
    """Outputs by name of a 200 answer in JSON, .npy or .npz."""
    kind = headers.get("content-type", "")
    if kind.startswith("application/json"):
        doc = json.loads(body)
        return {k: np.array(v["data"], dtype=v["dtype"]).reshape(v["shape"])
                for k, v in doc["outputs"].items()}
    if kind.startswith("application/x-npz"):
        with np.load(io.BytesIO(body)) as z:
            return {k: z[k] for k in z.files}
    return {"": np.load(io.BytesIO(body))}


def same(outputs, ref):
    if set(outputs) == {""} and len(ref) == 1:
        outputs = {next(iter(ref)): outputs[""]}
    if set(outputs) != set(ref):
        return False
    return all(outputs[k].dtype == ref[k].dtype and outputs[k].shape == ref[k].shape and
               np.array_equal(outputs[k], ref[k]) for k in ref)


# --- the checks ----------------------------------------------------------------------------

def check_endpoints(port, artifacts):
    status, _, body = request(port, "GET", "/healthz")
    check(status == 200 and json.loads(body)["status"] == "ok", f"/healthz: {status} {body!r}")
    status, _, body = request(port, "GET", "/readyz")
    check(status == 200 and sorted(json.loads(body)["models"]) == sorted(artifacts),
          f"/readyz: {status} {body!r}")
    status, _, body = request(port, "GET", "/v1/models")
    models = {m["name"]: m for m in json.loads(body)["models"]} if status == 200 else {}
    check(sorted(models) == sorted(artifacts), f"/v1/models lists {sorted(models)}")
    mlp = models.get("mlp", {})
    check(mlp.get("function") == "forward" and
          mlp.get("inputs") == [{"name": "x", "dtype": "float32", "shape": [8, 32]},
                                {"name": "y", "dtype": "int64", "shape": [8]}] and
          mlp.get("outputs") == [{"name": "loss", "dtype": "float32", "shape": []}],
          f"/v1/models signature of mlp: {mlp}")
    status, _, body = request(port, "GET", "/v1/models/tiny")
    check(status == 200 and [o["name"] for o in json.loads(body)["outputs"]] == ["y", "n"],
          f"/v1/models/tiny: {status} {body!r}")


def check_concurrent(port, cases, threads=8, per_thread=25):
    """threads x per_thread requests at once, each checked against its reference."""
    results = []
    lock = threading.Lock()

    def client(seed):
        rng = random.Random(seed)
        for _ in range(per_thread):
            model = rng.choice(sorted(cases))
            inputs, ref = rng.choice(cases[model])
            formats = ["json-explicit", "json-nested", "npz"] + (["npy"] if model == "tiny" else [])
            fmt = rng.choice(formats)
            accept = rng.choice(["", "application/json", "application/x-npz"] +
                                (["application/x-npy"] if len(ref) == 1 else []))
            body, ctype = encode(inputs, fmt)
            headers = {"Content-Type": ctype}
            if accept:
                headers["Accept"] = accept
            try:
                status, h, data = request(port, "POST", f"/v1/models/{model}:predict", body,
                                          headers)
                ok = status == 200 and same(decode(status, h, data), ref)
                what = f"{model} {fmt} accept={accept!r}: HTTP {status} {data[:200]!r}"
            except OSError as e:
                ok, what = False, f"{model} {fmt}: {e}"
            with lock:
                results.append((ok, what))

    start = time.time()
    pool = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    elapsed = time.time() - start
    bad = [w for ok, w in results if not ok]
    check(len(results) == threads * per_thread,
          f"concurrent: {len(results)} of {threads * per_thread} requests finished")
    check(not bad, f"concurrent: {len(bad)} wrong answers, first: {bad[:3]}")
    print(f"concurrent: {len(results)} requests from {threads} threads in {elapsed:.2f} s, "
          f"{len(results) - len(bad)} correct", flush=True)


def check_malformed(port, cases, max_body):
    mlp_in, _ = cases["mlp"][0]
    tiny_in, tiny_ref = cases["tiny"][0]
    x, y = mlp_in["x"], mlp_in["y"]
    good = {"x": x.tolist(), "y": y.tolist()}

    expect_error(post_json(port, "mlp", '{"inputs": {"x": [1, 2'), 400, "invalid JSON",
                 what="truncated JSON")
    expect_error(post_json(port, "mlp", "[1, 2]"), 400, "JSON object", what="JSON array body")
    expect_error(post_json(port, "mlp", {"input": good}), 400, "'input'",
                 what="misspelt top-level field")
    expect_error(post_json(port, "mlp", {"inputs": {"x": {"dtype": "int64", "data": x.tolist()},
                                                    "y": good["y"]}}),
                 400, "'x'", "float32", "int64", what="wrong dtype in JSON")
    expect_error(post_json(port, "mlp", {"inputs": {"x": {"dtype": "float128", "data": 1},
                                                    "y": good["y"]}}),
                 400, "'x'", "float128", what="unknown dtype")
    expect_error(post_json(port, "mlp", {"inputs": {"x": x[:, :31].tolist(), "y": good["y"]}}),
                 400, "'x'", "[8,32]", "[8,31]", what="wrong shape in JSON")
    expect_error(post_json(port, "mlp", {"inputs": {"x": {"shape": [8, 32],
                                                          "data": x.reshape(-1)[:100].tolist()},
                                                    "y": good["y"]}}),
                 400, "'x'", what="too little data for the declared shape")
    ragged = x.tolist()
    ragged[5] = ragged[5][:7]
    expect_error(post_json(port, "mlp", {"inputs": {"x": ragged, "y": good["y"]}}), 400, "'x'",
                 "ragged", "[5]", what="ragged nested list")
    expect_error(post_json(port, "mlp", {"inputs": {"x": good["x"], "y": [1.5] * 8}}), 400,
                 "'y'", "1.5", what="non-integer for an int64 input")
    expect_error(post_json(port, "mlp", {"inputs": {"x": good["x"], "y": ["a"] * 8}}), 400,
                 "'y'", what="string for an int64 input")
    expect_error(post_json(port, "mlp", {"inputs": {"x": good["x"]}}), 400, "missing input 'y'",
                 what="missing input")
    expect_error(post_json(port, "mlp", {"inputs": dict(good, z=[1])}), 400, "'z'",
                 what="unknown input")
    expect_error(post_json(port, "mlp", {"inputs": {"x": {"shape": [10 ** 12], "data": [1]},
                                                    "y": good["y"]}}),
                 400, "'x'", what="absurd declared shape")
    expect_error(post_json(port, "mlp", {"inputs": {"x": {"shape": [-8, 32], "data": [1]},
                                                    "y": good["y"]}}),
                 400, "'x'", what="negative dimension")
    depth = 100000
    expect_error(post_json(port, "mlp", '{"inputs": {"x": ' + "[" * depth + "]" * depth +
                           ', "y": [0]}}'), 400, "'x'", what=f"lists nested {depth} deep")
    expect_error(post_json(port, "mlp", {"inputs": {"x": {"data": {"a": {"b": [1]}}},
                                                    "y": good["y"]}}),
                 400, "'x'", what="object where data was expected")
    expect_error(request(port, "POST", "/v1/models/mlp:predict",
                         npz_bytes({"x": x, "y": y.astype(np.float32)}),
                         {"Content-Type": "application/x-npz"}),
                 400, "'y'", "int64", "float32", what="wrong dtype in .npz")
    expect_error(request(port, "POST", "/v1/models/mlp:predict",
                         npz_bytes({"x": x[:4], "y": y}), {"Content-Type": "application/x-npz"}),
                 400, "'x'", "[8,32]", "[4,32]", what="wrong shape in .npz")
    expect_error(request(port, "POST", "/v1/models/mlp:predict", npy_bytes(x),
                         {"Content-Type": "application/x-npy"}),
                 400, "application/x-npz", what=".npy body for a two-input model")
    expect_error(request(port, "POST", "/v1/models/tiny:predict", b"\x93NUMPY garbage",
                         {"Content-Type": "application/x-npy"}),
                 400, "'x'", what="corrupt .npy")
    expect_error(request(port, "POST", "/v1/models/tiny:predict",
                         npy_bytes(tiny_in["x"].astype(np.float64)),
                         {"Content-Type": "application/x-npy"}),
                 400, "'x'", "float64", what="wrong dtype in .npy")
    expect_error(request(port, "POST", "/v1/models/mlp:predict", b"PK\x03\x04 not a zip",
                         {"Content-Type": "application/x-npz"}),
                 400, what="corrupt .npz")
    expect_error(request(port, "POST", "/v1/models/mlp:predict", json.dumps({"inputs": good}),
                         {"Content-Type": "text/plain"}),
                 415, "text/plain", what="unsupported Content-Type")
    expect_error(post_json(port, "mlp", {"inputs": good}, {"Accept": "text/html"}), 406,
                 "text/html", what="unsupported Accept")
    expect_error(post_json(port, "tiny", {"inputs": {"x": tiny_in["x"].tolist()}},
                           {"Accept": "application/x-npy"}),
                 406, "2 outputs", what=".npy answer for a two-output model")
    big = b'{"inputs": {"x": [' + b"0," * (max_body // 2) + b'0]}}'
    try:
        result = post_json(port, "mlp", big)
        expect_error(result, 413, "--max-body-bytes", what=f"{len(big)}-byte body")
    except OSError as e:  # the server may close before reading everything: also a refusal
        check(False, f"{len(big)}-byte body: connection error instead of 413: {e}")
    expect_error(post_json(port, "resnet", {"inputs": good}), 404, "'resnet'", "mlp",
                 what="unknown model")
    expect_error(request(port, "GET", "/v2/whatever"), 404, "/v2/whatever", what="unknown path")
    result = request(port, "GET", "/v1/models/mlp:predict")
    expect_error(result, 405, "POST", what="GET on :predict")
    check(result[1].get("allow") == "POST", f"405 Allow header: {result[1].get('allow')!r}")
    expect_error(request(port, "POST", "/healthz", b"{}"), 405, what="POST on /healthz")
    expect_error(request(port, "DELETE", "/v1/models"), 405, what="DELETE on /v1/models")
    expect_error(request(port, "GET", "/v1/models/resnet"), 404, "'resnet'",
                 what="GET an unknown model")

    # A garbage request line: some answer or a closed connection, and the server lives on.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\x00\x01GARBAGE \xff\r\n\r\n")
        try:
            s.recv(4096)
        except OSError:
            pass

    # Still healthy, still right.
    check(request(port, "GET", "/healthz")[0] == 200, "healthy after malformed requests")
    status, h, data = post_json(port, "tiny", {"inputs": {"x": tiny_in["x"].tolist()}})
    check(status == 200 and same(decode(status, h, data), tiny_ref),
          f"a good request after the malformed ones: {status} {data[:200]!r}")
    status, h, data = request(port, "POST", "/v1/models/tiny:predict", npy_bytes(tiny_in["x"]),
                              {"Content-Type": "application/x-npy",
                               "Accept": "application/x-npz"})
    check(status == 200 and same(decode(status, h, data), tiny_ref),
          f".npy in, .npz out: {status} {data[:200]!r}")


def check_overload(serve, artifacts, cases, workdir):
    """One slow worker, a queue of 2: 503 past the bound, 504 past the deadline, and a
    graceful SIGTERM."""
    # A request queued right behind a running one finishes 2 * delay after that one started,
    # past its deadline (timeout after its own arrival) if it arrived within
    # 2 * delay - timeout = 400 ms: a wide margin for a loaded machine.
    delay_ms, timeout_ms = 800, 1200
    server = Server(serve, ["--model", f"mlp={artifacts['mlp']}", "--workers", "1",
                            "--queue-capacity", "2", "--http-threads", "16",
                            "--debug-run-delay-ms", str(delay_ms),
                            "--timeout-ms", str(timeout_ms)],
                    os.path.join(workdir, "slow.log"))
    port = server.port
    inputs, ref = cases["mlp"][0]
    body, ctype = encode(inputs, "npz")
    results = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def client():
        barrier.wait(timeout=30)
        try:
            r = request(port, "POST", "/v1/models/mlp:predict", body, {"Content-Type": ctype})
        except OSError as e:
            r = (None, {}, str(e).encode())
        with lock:
            results.append(r)

    pool = [threading.Thread(target=client) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    statuses = sorted(r[0] for r in results if r[0] is not None)
    print(f"flood of 8 at 1 slow worker + queue 2: statuses {statuses}", flush=True)
    check(len(statuses) == 8, f"flood: {len(statuses)} of 8 answered: {results}")
    for status, h, data in results:
        if status == 200:
            check(same(decode(status, h, data), ref), f"flood: a wrong 200 answer {data[:200]!r}")
        elif status == 503:
            expect_error((status, h, data), 503, "queue is full", what="flood past the queue")
            check(h.get("retry-after") == "1", "503 without Retry-After")
        else:
            expect_error((status, h, data), 504, "--timeout-ms", what="flood: not 200/503/504")
    check(statuses.count(200) >= 1, "flood: no request succeeded")
    check(statuses.count(503) >= 1, "flood: no request was refused with 503")

    # Jobs whose requests timed out stay queued until a worker takes (and skips, or runs
    # and discards) them: let the worker drain them.
    time.sleep(2 * delay_ms / 1000)

    # A request queued behind a slow one waits longer than --timeout-ms: 504.
    first = []
    t = threading.Thread(target=lambda: first.append(
        request(port, "POST", "/v1/models/mlp:predict", body, {"Content-Type": ctype})))
    t.start()
    time.sleep(0.05)
    expect_error(request(port, "POST", "/v1/models/mlp:predict", body, {"Content-Type": ctype}),
                 504, "--timeout-ms", what="queued past the deadline")
    t.join(timeout=30)
    check(first and first[0][0] == 200 and same(decode(*first[0]), ref),
          "the request ahead of the timed-out one")
    time.sleep(delay_ms / 1000)  # the worker skips the abandoned job; let it go idle

    # SIGTERM while a request runs: it is still answered, then the server exits 0.
    inflight = []
    t = threading.Thread(target=lambda: inflight.append(
        request(port, "POST", "/v1/models/mlp:predict", body, {"Content-Type": ctype})))
    t.start()
    time.sleep(delay_ms / 2000)  # the request is running when the signal comes
    code, out = server.stop(signal.SIGTERM)
    t.join(timeout=30)
    check(inflight and inflight[0][0] == 200 and same(decode(*inflight[0]), ref),
          f"request in flight at SIGTERM: {inflight[:1]}")
    check(code == 0 and "stopped (SIGTERM)" in out, f"SIGTERM: exit {code}, output {out!r}")


def check_bad_startup(serve, workdir):
    run = subprocess.run([serve, "--model", "mlp=" + os.path.join(workdir, "missing.precis"),
                          "--port", "0"], capture_output=True, text=True, timeout=30)
    check(run.returncode == 1 and "model 'mlp'" in run.stderr and "missing.precis" in run.stderr,
          f"missing artifact: exit {run.returncode}, stderr {run.stderr!r}")
    for args, fragment in [(["--model", "mlp"], "NAME=PATH"),
                           (["--model", "a/b=x.precis"], "NAME=PATH"),
                           (["--model", "m=x", "--workers", "0"], "--workers"),
                           (["--model", "m=x", "--queue-capacity", "0"], "--queue-capacity"),
                           (["--model", "m=x", "--port", "70000"], "--port"),
                           (["--model", "m=x", "--frobnicate", "1"], "--frobnicate"),
                           ([], "--model")]:
        run = subprocess.run([serve] + args, capture_output=True, text=True, timeout=30)
        check(run.returncode == 2 and fragment in run.stderr,
              f"flags {args}: exit {run.returncode}, stderr {run.stderr!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", required=True, help="the precis-serve binary")
    parser.add_argument("--precis", required=True, help="the precis binary")
    parser.add_argument("--examples", required=True, help="the examples directory")
    parser.add_argument("--workdir", required=True, help="scratch directory (recreated)")
    args = parser.parse_args()

    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    tiny = os.path.join(args.workdir, "tiny.onnxtxt")
    with open(tiny, "w") as f:
        f.write(TINY_MODEL)
    artifacts = {}
    for name, model in [("mlp", os.path.join(args.examples, "mlp", "model.onnx")),
                        ("gpt", os.path.join(args.examples, "gpt", "model.onnx")),
                        ("tiny", tiny)]:
        artifacts[name] = os.path.join(args.workdir, name + ".precis")
        run = subprocess.run([args.precis, "compile", model, "-o", artifacts[name]],
                             capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            fatal(f"precis compile {model} failed: {run.stderr}")

    rng = np.random.default_rng(0)
    cases = {}
    for name in artifacts:
        cases[name] = []
        for i in range(6 if name == "tiny" else 12):
            inputs = random_inputs(name, rng)
            cases[name].append((inputs, reference(args.precis, artifacts[name], inputs,
                                                  args.workdir, f"{name}-{i}")))
    x = cases["tiny"][0][0]["x"]
    check(same(cases["tiny"][0][1], {"y": np.maximum(x, 0), "n": -x}),
          "precis run on the tiny model disagrees with NumPy")

    max_body = 1 << 20
    server = Server(args.serve, [a for n, p in artifacts.items() for a in ("--model", f"{n}={p}")]
                    + ["--workers", "4", "--num-threads", "1",
                       "--max-body-bytes", str(max_body)],
                    os.path.join(args.workdir, "serve.log"))
    check_endpoints(server.port, artifacts)
    check_concurrent(server.port, cases)
    check_malformed(server.port, cases, max_body)
    check_concurrent(server.port, cases, threads=4, per_thread=10)  # unharmed by all that
    code, out = server.stop(signal.SIGINT)
    check(code == 0 and "stopped (SIGINT)" in out, f"SIGINT: exit {code}, output {out!r}")

    check_overload(args.serve, artifacts, cases, args.workdir)
    check_bad_startup(args.serve, args.workdir)

    if FAILURES:
        print(f"{len(FAILURES)} of {CHECKS[0]} checks failed", flush=True)
        return 1
    print(f"all {CHECKS[0]} checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
