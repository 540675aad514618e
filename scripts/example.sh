#!/usr/bin/env bash
# The main job: builds precis, then trains the GPT-style example model on the CPU for 40 steps
# of AdamW (fp32), printing the loss as it falls. The per-step losses equal PyTorch's on the
# same weights and batches (examples/gpt/reference_losses.json). Then the same run in bf16, and
# the start of the precision report that says which op runs in which precision and why.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PRECIS_BUILD_DIR:-$root/build}
example=$root/examples/gpt

"$root/scripts/build.sh"
echo "== precis train examples/gpt/model.onnx (AdamW, lr 1e-3, 40 steps of 8 sequences)"
"$build/bin/precis" train "$example/model.onnx" --data "$example/data.npz" --batch-size 8 \
  --steps 40 --optimizer adamw --lr 1e-3
echo "== the same run in bf16: matmuls in bf16 with fp32 accumulation, the rest as precis decides"
"$build/bin/precis" train "$example/model.onnx" --data "$example/data.npz" --batch-size 8 \
  --steps 40 --optimizer adamw --lr 1e-3 --precision bf16
echo "== why: precis report (first rows; docs/precision.md explains the rules)"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
"$build/bin/precis" report "$example/model.onnx" --precision bf16 > "$report"
head -n 12 "$report"
tail -n 1 "$report"
