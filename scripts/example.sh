#!/usr/bin/env bash
# The main job: builds precis and imports the GPT-style example model, printing its precis IR
# (parameters named after their ONNX initializers, GELU recognised, shape arithmetic folded).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PRECIS_BUILD_DIR:-$root/build}

"$root/scripts/build.sh"
"$build/bin/precis" import "$root/examples/gpt/model.onnx" --mlir-elide-elementsattrs-if-larger=8
