#!/usr/bin/env python3
"""Renders a page of `precis report --html` or `precis plot` in headless Chromium and checks it.

    check_page.py --chromium PATH page.html [--min-nodes N] [--min-runs N] [--min-skipped N]
                  [--max-layout-ms MS] [--screenshot out.png] [--colors HEX,HEX,...]

The page writes what its script did into <div id="precis-status">: data-ok ("true" once the
script has run to the end, "false" with data-error after any script error or unhandled
rejection), data-nodes, data-layout-ms, ... . Chromium runs the page (with #selftest, which
makes it also exercise hovering, selecting, searching and zooming) and dumps the DOM; the
status must say ok and show the expected nodes or runs. Then a screenshot is taken, decoded
here (PNG with zlib, no imaging library) and checked to be a real picture: not blank, and
holding the given colours (the precision colours of the nodes drawn). Exit status 1 with
the reason on any failure.
"""
import argparse
import html
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib


def chromium(binary, args, profile, timeout=120):
    # As root Chromium's sandbox does not start: --no-sandbox (the page is local and
    # fetches nothing). A profile per run, so parallel tests do not share one.
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--user-data-dir=" + profile] + args
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def read_png(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit non-interlaced PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or interlace or color not in (2, 6):
        raise ValueError("unexpected PNG format (depth %d, colour type %d)" % (depth, color))
    bpp = 4 if color == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("page")
    p.add_argument("--chromium", default="")
    p.add_argument("--min-nodes", type=int, default=0)
    p.add_argument("--min-runs", type=int, default=0)
    p.add_argument("--min-skipped", type=int, default=0)
    p.add_argument("--max-layout-ms", type=float, default=0,
                   help="the most the page's script (layout and first drawing) may take")
    p.add_argument("--screenshot")
    p.add_argument("--colors", default="")
    a = p.parse_args()
    name = os.path.basename(a.page)
    if not a.chromium or not shutil.which(a.chromium):
        sys.exit("%s: Chromium not found ('%s'): the picture tests need Debian's chromium "
                 "(scripts/bootstrap.sh installs it)" % (name, a.chromium))
    if not os.path.isfile(a.page):
        sys.exit("%s: no such page" % a.page)
    url = "file://" + os.path.abspath(a.page)
    profile = tempfile.mkdtemp(prefix="precis-chromium-")
    try:
        start = time.monotonic()
        # No virtual time here: the page's timings are then real ones. The script runs to the
        # end before the load event, after which the DOM is dumped.
        run = chromium(a.chromium, ["--dump-dom", url + "#selftest"], profile)
        seconds = time.monotonic() - start
        dom = run.stdout.decode("utf-8", "replace")
        m = re.search(r'<div id="precis-status"([^>]*)>', dom)
        if run.returncode != 0 or not m:
            sys.exit("%s: Chromium did not render the page (exit %d):\n%s" %
                     (name, run.returncode, run.stderr.decode("utf-8", "replace")[-2000:]))
        status = {k: html.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', m.group(1))}
        print("%s: status %s (Chromium %.1f s)" % (name, " ".join(
            "%s=%s" % kv for kv in sorted(status.items())), seconds))
        if status.get("ok") != "true":
            sys.exit("%s: the page's script failed: %s" % (name, status.get("error", "it did not finish")))
        if status.get("selftest") != "ok":
            sys.exit("%s: the page's self-test (hover, select, search, zoom) did not finish" % name)
        if a.min_nodes and int(status.get("nodes", 0)) < a.min_nodes:
            sys.exit("%s: %s nodes laid out, expected at least %d" % (name, status.get("nodes"), a.min_nodes))
        if a.min_runs and int(status.get("runs", 0)) < a.min_runs:
            sys.exit("%s: %s runs drawn, expected %d" % (name, status.get("runs"), a.min_runs))
        if a.min_skipped and int(status.get("skipped", 0)) < a.min_skipped:
            sys.exit("%s: %s skipped steps marked, expected at least %d" % (name, status.get("skipped"), a.min_skipped))
        if "layout-ms" in status:
            print("%s: layout of %s nodes and %s edges took %s ms, the first view %s ms, the "
                  "whole graph drawn %s ms, the page's whole script %s ms" % (
                      name, status.get("nodes"), status.get("edges"), status["layout-ms"],
                      status.get("draw-ms"), status.get("full-draw-ms"), status.get("script-ms")))
            whole = float(status.get("script-ms", status["layout-ms"]))
            if a.max_layout_ms and whole > a.max_layout_ms:
                sys.exit("%s: the page took %g ms to lay out and draw, more than %g" % (name, whole, a.max_layout_ms))

        if a.screenshot:
            if os.path.exists(a.screenshot):
                os.remove(a.screenshot)
            run = chromium(a.chromium, ["--window-size=1280,800", "--virtual-time-budget=30000",
                                        "--screenshot=" + os.path.abspath(a.screenshot), url], profile)
            if run.returncode != 0 or not os.path.isfile(a.screenshot):
                sys.exit("%s: no screenshot (exit %d):\n%s" %
                         (name, run.returncode, run.stderr.decode("utf-8", "replace")[-2000:]))
            width, height, bpp, rows = read_png(a.screenshot)
            counts = {}
            for row in rows[::2]: # every other pixel of every other row
                for x in range(0, len(row), 2 * bpp):
                    px = row[x:x + 3]
                    counts[px] = counts.get(px, 0) + 1
            print("%s: screenshot %s: %dx%d, %d colours" % (name, a.screenshot, width, height, len(counts)))
            if len(counts) < 16:
                sys.exit("%s: the screenshot is nearly blank (%d colours)" % (name, len(counts)))
            for hexcolor in filter(None, a.colors.split(",")):
                want = bytes.fromhex(hexcolor.lstrip("#"))
                if counts.get(want, 0) < 5:
                    sys.exit("%s: the screenshot shows no %s (expected: nodes in that colour)" % (name, hexcolor))
    finally:
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
