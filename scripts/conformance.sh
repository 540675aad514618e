#!/usr/bin/env bash
# Regenerates docs/conformance.md: the ONNX backend node tests imported, compiled and run on
# the CPU backend, with pass / fail / unsupported counts per op type.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PRECIS_BUILD_DIR:-$root/build}
"$root/scripts/build.sh"
"$build/bin/precis-conformance" --run --markdown "$root/docs/conformance.md" \
  /usr/share/libonnx-testdata/data/node
