#!/usr/bin/env bash
# Builds precis and runs every test (lit suites, gtests, ONNX conformance) under ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PRECIS_BUILD_DIR:-$root/build}

"$root/scripts/build.sh"
cd "$build"
ctest --output-on-failure -j "$(nproc)"
