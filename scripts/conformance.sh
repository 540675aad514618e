#!/usr/bin/env bash
# Regenerates docs/conformance.md: the ONNX backend node tests imported, compiled and run on
# the CPU backend, with pass / fail / unsupported counts per op type. Then
# docs/conformance-newer.md: the same for the node tests of ops newer than Debian's
# libonnx-testdata (ONNX 1.12), generated from the onnx Python package of the project's
# environment (scripts/onnx_node_tests.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PRECIS_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
"$build/bin/precis-conformance" --run --markdown "$root/docs/conformance.md" \
  /usr/share/libonnx-testdata/data/node
newer=$build/onnx-node-newer
rm -rf "$newer"
"$root/.venv/bin/python3" "$root/scripts/onnx_node_tests.py" "$newer" $(cat "$root/test/onnx-newer-ops.txt")
"$build/bin/precis-conformance" --run --min-pass-percent 0 \
  --title "ONNX backend node tests of newer ops" \
  --source "ops newer than ONNX 1.12, generated from the onnx $("$root/.venv/bin/python3" -c 'import onnx; print(onnx.__version__)') package by \`scripts/onnx_node_tests.py\`" \
  --markdown "$root/docs/conformance-newer.md" "$newer"
