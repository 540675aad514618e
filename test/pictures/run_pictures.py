#!/usr/bin/env python3
"""The picture tests (ctest `pictures-*`): make pages with the precis driver and check each in
headless Chromium with check_page.py.

    run_pictures.py CASE --precis PATH --chromium PATH --examples DIR --out DIR

CASE is one of
  report-mlp, report-cnn, report-gpt   `precis report --html` of an example, forward and
                                       --train, at several precisions (gpt: auto with its
                                       calibration table, and fp8 training)
  plot-mlp, plot-cnn, plot-gpt          `precis train --log` of an example in fp32, bf16 and
                                       fp16 (from a loss scale that overflows at first, so steps
                                       are skipped), then `precis plot` to .html and .png
  script-error                         a report page whose script is broken must fail the check
  scale                                the training step of a GPT-2-small-shaped model (some
                                       2,800 nodes) lays out and draws in under 5 s
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FP32, BF16, FP16, FP8 = "4e79a7", "59a14f", "f28e2b", "e15759"


def run(cmd, **kw):
    print("$ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    out = r.stdout.decode("utf-8", "replace")
    if r.returncode != 0:
        print(out)
        sys.exit("command failed with exit code %d" % r.returncode)
    return out


def check(a, page, *args):
    print(run([sys.executable, os.path.join(HERE, "check_page.py"), "--chromium", a.chromium, page] + list(args)),
          end="")


def report(a, example, cases):
    model = os.path.join(a.examples, example, "model.onnx")
    for tag, flags, colors in cases:
        page = os.path.join(a.out, "%s-%s.html" % (example, tag))
        run([a.precis, "report", model, "--html", page] + flags)
        check(a, page, "--min-nodes", "20", "--screenshot", page[:-5] + ".png", "--colors", ",".join(colors))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("case")
    p.add_argument("--precis", required=True)
    p.add_argument("--chromium", default="")
    p.add_argument("--examples", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    train = ["--train", "--optimizer", "adamw"]
    if a.case == "report-mlp":
        report(a, "mlp", [("bf16", ["--precision", "bf16"], [BF16]),
                          ("train-fp16", ["--precision", "fp16"] + train, [FP16, FP32])])
        # The page as a picture, straight from the driver.
        png = os.path.join(a.out, "mlp-bf16-direct.png")
        run([a.precis, "report", os.path.join(a.examples, "mlp", "model.onnx"), "--precision", "bf16",
             "--html", png], env=dict(os.environ, PRECIS_CHROMIUM=a.chromium))
        if open(png, "rb").read(8) != b"\x89PNG\r\n\x1a\n":
            sys.exit("%s is not a PNG" % png)
    elif a.case == "report-cnn":
        report(a, "cnn", [("fp16", ["--precision", "fp16"], [FP16]),
                          ("train-bf16", ["--precision", "bf16"] + train, [BF16, FP32])])
    elif a.case == "report-gpt":
        data = os.path.join(a.examples, "gpt", "data.npz")
        report(a, "gpt", [("auto", ["--precision", "auto", "--calibrate", data], [FP32]),
                          ("train-fp8", ["--precision", "fp8"] + train, [FP8, BF16, FP32])])
        page = open(os.path.join(a.out, "gpt-auto.html"), encoding="utf-8").read()
        if '"calibration":[{' not in page:
            sys.exit("gpt-auto.html: no calibration measurements in the page's data")
    elif a.case.startswith("plot-"):
        example = os.path.join(a.examples, a.case[5:])
        logs = []
        for precision, extra in (("fp32", []), ("bf16", []), ("fp16", ["--init-scale", "1e7"])):
            log = os.path.join(a.out, precision + ".jsonl")
            run([a.precis, "train", os.path.join(example, "model.onnx"), "--data", os.path.join(example, "data.npz"),
                 "--steps", "10", "--lr", "0.01", "--optimizer", "adamw", "--num-threads", "2",
                 "--precision", precision, "--log", log] + extra)
            logs.append(log)
        page = os.path.join(a.out, "curves.html")
        run([a.precis, "plot"] + logs + ["-o", page, "--title", a.case[5:] + " example, AdamW"])
        check(a, page, "--min-runs", "3", "--min-skipped", "1", "--screenshot",
              os.path.join(a.out, "curves-check.png"), "--colors", FP32 + "," + BF16)
        png = os.path.join(a.out, "curves.png")
        run([a.precis, "plot"] + logs + ["-o", png], env=dict(os.environ, PRECIS_CHROMIUM=a.chromium))
        if open(png, "rb").read(8) != b"\x89PNG\r\n\x1a\n":
            sys.exit("%s is not a PNG" % png)
    elif a.case == "script-error":
        # The check must catch a script error: the same page with one line broken fails it.
        good = os.path.join(a.out, "good.html")
        run([a.precis, "report", os.path.join(a.examples, "mlp", "model.onnx"), "--html", good])
        check(a, good)
        text = open(good, encoding="utf-8").read()
        broken = text.replace("var nodes = data.nodes,", "var nodes = data.nodez.list,", 1)
        assert broken != text, "the page template changed: update this test's broken line"
        bad = os.path.join(a.out, "broken.html")
        open(bad, "w", encoding="utf-8").write(broken)
        r = subprocess.run([sys.executable, os.path.join(HERE, "check_page.py"), "--chromium", a.chromium, bad],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = r.stdout.decode("utf-8", "replace")
        print(out)
        if r.returncode == 0 or "the page's script failed" not in out or "TypeError" not in out:
            sys.exit("the check passed a page whose script throws a TypeError")
        print("the broken page failed the check, as it must")
    elif a.case == "scale":
        model = os.path.join(a.out, "gpt2-small-shaped.onnxtxt")
        run([sys.executable, os.path.join(HERE, "gpt2_onnxtxt.py"), model, "--layers", "12"])
        page = os.path.join(a.out, "gpt2-train.html")
        print(run([a.precis, "report", model, "--precision", "bf16", "--html", page] + train).splitlines()[-1])
        check(a, page, "--min-nodes", "2000", "--max-layout-ms", "5000", "--screenshot",
              os.path.join(a.out, "gpt2-train.png"), "--colors", FP32 + "," + BF16)
    else:
        sys.exit("unknown case '%s'" % a.case)


if __name__ == "__main__":
    main()
