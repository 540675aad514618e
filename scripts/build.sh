#!/usr/bin/env bash
# Configures and builds precis in ./build (or $PRECIS_BUILD_DIR), installing the Debian
# packages it needs first. Safe to re-run: every step is incremental.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PRECIS_BUILD_DIR:-$root/build}

"$root/scripts/bootstrap.sh"

if [ ! -f "$build/CMakeCache.txt" ]; then
  echo "build: configuring $build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
echo "build: compiling with $(nproc) jobs"
cmake --build "$build" -j "$(nproc)"
