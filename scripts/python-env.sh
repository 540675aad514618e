#!/usr/bin/env bash
# Creates the project's Python environment, .venv in the repository root, for the Python
# package (python/): Debian's Python 3 with its NumPy visible (--system-site-packages), plus
# nanobind (to build the extension module) and pytest (to run its tests) from PyPI. CMake
# prefers this environment's python3 when it exists. Idempotent: an environment that already
# has both packages is left alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.venv

if [ -x "$venv/bin/python3" ] && "$venv/bin/python3" -c "import nanobind, pytest, numpy" 2>/dev/null; then
  echo "python-env: $venv ready"
  exit 0
fi
echo "python-env: creating $venv"
/usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
  "nanobind>=2.4,<4" "pytest>=7"
