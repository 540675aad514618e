#!/usr/bin/env bash
# Installs every Debian package precis needs to build and test. Idempotent: packages that are
# already installed are skipped, so a second run costs only the dpkg query. Then makes the
# project's Python environment (.venv: nanobind, pytest) with scripts/python-env.sh.
set -euo pipefail

packages=(
  build-essential cmake ninja-build python3 python3-numpy python3-dev python3-venv
  llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools
  libonnx-dev libonnx-testdata libprotobuf-dev protobuf-compiler
  libdnnl-dev libgtest-dev zlib1g-dev libzstd-dev pkg-config
  chromium  # headless: the picture tests render report --html and plot pages
  libcpp-httplib-dev nlohmann-json3-dev  # precis-serve (examples/serve)
  python3-torch  # the Python package tests pass torch tensors through DLPack
  libopenmpi-dev openmpi-bin  # the runtime's MPI communicator; its tests run under mpiexec
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages already installed"
  exec "$(dirname "$0")/python-env.sh"
fi

echo "bootstrap: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
exec "$(dirname "$0")/python-env.sh"
