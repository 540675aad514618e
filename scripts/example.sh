#!/usr/bin/env bash
# The main job: builds precis, imports the GPT-style example model and prints its precis IR
# (parameters named after their ONNX initializers, GELU recognised, shape arithmetic folded),
# compiles it to an artifact and runs it on the CPU on the example's first batch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PRECIS_BUILD_DIR:-$root/build}
example=$root/examples/gpt
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$root/scripts/build.sh"
echo "== precis import examples/gpt/model.onnx"
"$build/bin/precis" import "$example/model.onnx" --mlir-elide-elementsattrs-if-larger=8
echo "== precis compile"
"$build/bin/precis" compile "$example/model.onnx" -o "$out/gpt.precis"
echo "== precis run (first batch; onnxruntime's loss on it is 4.3683586)"
"$build/bin/precis" run "$out/gpt.precis" --inputs "$example/batch0.npz"
