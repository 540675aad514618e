#!/usr/bin/env bash
# The main job: builds precis, then trains the GPT-style example model on the CPU for 40 steps
# of AdamW (fp32), printing the loss as it falls. The per-step losses equal PyTorch's on the
# same weights and batches (examples/gpt/reference_losses.json).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PRECIS_BUILD_DIR:-$root/build}
example=$root/examples/gpt

"$root/scripts/build.sh"
echo "== precis train examples/gpt/model.onnx (AdamW, lr 1e-3, 40 steps of 8 sequences)"
"$build/bin/precis" train "$example/model.onnx" --data "$example/data.npz" --batch-size 8 \
  --steps 40 --optimizer adamw --lr 1e-3
