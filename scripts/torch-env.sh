#!/usr/bin/env bash
# Creates .venv-torch in the repository root: the environment of the heavy suites that need
# current PyTorch (the model zoo, the benchmarks against PyTorch and onnxruntime). From PyPI:
# torch, torchvision, transformers, onnx, onnxscript, onnxruntime, numpy, ml_dtypes. Models are
# built from configurations with random weights; nothing is downloaded at run time. Idempotent:
# an environment that imports all of them is left alone. Prints the environment's python3 last.
#
#   scripts/torch-env.sh            # create (several GB: torch brings its CUDA libraries)
#   $(scripts/torch-env.sh | tail -1) script.py
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${PRECIS_TORCH_VENV:-$root/.venv-torch}
mods="torch, torchvision, transformers, onnx, onnxscript, onnxruntime, numpy, ml_dtypes"

if [ -x "$venv/bin/python3" ] && "$venv/bin/python3" -c "import $mods" 2>/dev/null; then
  echo "torch-env: $venv ready" >&2
  echo "$venv/bin/python3"
  exit 0
fi
echo "torch-env: creating $venv (PyTorch, torchvision, transformers, onnx, onnxruntime)" >&2
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
"$python" -m venv "$venv"
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
  "torch>=2.9" torchvision "transformers>=4.50" "onnx>=1.18" onnxscript "onnxruntime>=1.20" \
  numpy ml_dtypes >&2
"$venv/bin/python3" -c "import $mods" >&2
echo "$venv/bin/python3"
