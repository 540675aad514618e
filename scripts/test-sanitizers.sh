#!/usr/bin/env bash
# Runs the tests under sanitizers, each configuration in a build directory of its own:
#
#   asan  the whole project built with -DPRECIS_SANITIZE=address,undefined (AddressSanitizer,
#         LeakSanitizer, UndefinedBehaviorSanitizer) and the full ctest suite, in ./build-asan
#   tsan  the runtime alone (cmake -S runtime, so the compiler is not built) with
#         -DPRECIS_SANITIZE=thread and the runtime's tests, the concurrency stress test among
#         them, in ./build-tsan
#
# Usage: scripts/test-sanitizers.sh [tsan] [asan]   (no argument: both, in that order)
# PRECIS_ASAN_BUILD_DIR / PRECIS_TSAN_BUILD_DIR choose other build directories. Every report
# is fatal, so a finding fails its test and the script.
#
# Under TSan every OpenMP region is limited to one thread (OMP_THREAD_LIMIT=1): libgomp is not
# instrumented, so TSan does not see its barriers and would report the hand-over of data
# between a parallel region and the code after it as races. The concurrency that matters here,
# several threads calling one session, comes from the tests' own std::threads.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(tsan asan)

"$root/scripts/bootstrap.sh"

# A compiler cache speeds up repeated runs where one is installed; nothing depends on it.
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

# halt_on_error: the first report ends the test; print_stacktrace: UBSan says where.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

run_asan() {
  local build=${PRECIS_ASAN_BUILD_DIR:-$root/build-asan}
  echo "sanitizers: ASan + UBSan, whole project and full test suite, in $build"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPRECIS_SANITIZE=address,undefined "${launcher[@]}"
  cmake --build "$build" -j "$jobs"
  (cd "$build" && ctest --output-on-failure -j "$jobs")
}

run_tsan() {
  local build=${PRECIS_TSAN_BUILD_DIR:-$root/build-tsan}
  echo "sanitizers: TSan, the runtime and its tests, in $build"
  cmake -S "$root/runtime" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPRECIS_SANITIZE=thread -DPRECIS_RUNTIME_TESTS=ON "${launcher[@]}"
  cmake --build "$build" -j "$jobs"
  (cd "$build" && OMP_THREAD_LIMIT=1 ctest --output-on-failure -j "$jobs")
}

for config in "${configs[@]}"; do
  case $config in
  asan) run_asan ;;
  tsan) run_tsan ;;
  *)
    echo "test-sanitizers.sh: unknown configuration '$config' (use asan, tsan)" >&2
    exit 2
    ;;
  esac
done
