#!/usr/bin/env bash
# Creates the project's Python environment, .venv in the repository root: Debian's Python 3
# with its NumPy visible (--system-site-packages), plus from PyPI nanobind (to build the
# Python package, python/), pytest (to run its tests) and onnx (pinned: the ONNX backend node
# tests of ops newer than Debian's libonnx-testdata are generated from it, by
# scripts/onnx_node_tests.py), keeping Debian's NumPy 1.x (Debian's torch needs it). CMake
# prefers this environment's python3 when it exists. Idempotent: an environment that already
# has these packages is left alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.venv

ready='import nanobind, pytest, numpy, onnx.backend.test.case.node
assert onnx.__version__.startswith("1.23.") and numpy.__version__.startswith("1.")'
if [ -x "$venv/bin/python3" ] && "$venv/bin/python3" -c "$ready" 2>/dev/null; then
  echo "python-env: $venv ready"
  exit 0
fi
echo "python-env: creating $venv (nanobind, pytest, onnx)"
[ -x "$venv/bin/python3" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
  "nanobind>=2.4,<4" "pytest>=7" "onnx>=1.23,<1.24" "numpy<2"
