#!/usr/bin/env bash
# Builds examples/embed against an installed runtime only, and runs it (ctest: embed-installed,
# embed-deb).
#
#   check-embed.sh install|deb BUILD_DIR SOURCE_DIR PRECIS PYTHON CC CXX SANITIZE WORK_DIR
#
# install: `cmake --install BUILD_DIR --prefix WORK_DIR/prefix`.
# deb:     `cpack -G DEB` in BUILD_DIR, then the package's files (dpkg-deb -x) under
#          WORK_DIR/root; the prefix is WORK_DIR/root/usr.
# Then, against that prefix alone: the installed headers must include nothing but the C/C++
# standard library and each other (no compiler, MLIR, LLVM, ONNX or protobuf headers); the
# examples are built with CMake (CMAKE_PREFIX_PATH=prefix: shared and static library) and with
# pkg-config on a plain compiler command line, and every program runs on examples/mlp compiled
# with --train by the installed precis (PRECIS when the prefix has no tools): the loss of
# `forward` on batch0.npz and of the first training step must equal reference.npz's
# (onnxruntime) to 1e-5 relative, and the loss must fall over 20 steps.
# SANITIZE is the build's PRECIS_SANITIZE (may be empty): the examples get the same
# -fsanitize flags, since an instrumented library needs an instrumented program.
set -euo pipefail
if [ $# -ne 9 ]; then
  echo "usage: check-embed.sh install|deb BUILD_DIR SOURCE_DIR PRECIS PYTHON CC CXX SANITIZE WORK_DIR" >&2
  exit 2
fi
mode=$1 build=$(cd "$2" && pwd) src=$(cd "$3" && pwd) precis=$4 python=$5 cc=$6 cxx=$7
sanitize=$8 work=$9

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

rm -rf "$work"
mkdir -p "$work"
case $mode in
install)
  prefix=$work/prefix
  cmake --install "$build" --prefix "$prefix" >"$work/install.log"
  ;;
deb)
  if ! command -v dpkg-deb >/dev/null || ! command -v dpkg-shlibdeps >/dev/null; then
    echo "SKIP: the Debian package check needs dpkg-deb and dpkg-shlibdeps (dpkg-dev)"
    exit 77
  fi
  (cd "$build" && cpack -G DEB -B "$work/package" >"$work/cpack.log" 2>&1) ||
    { cat "$work/cpack.log"; fail "cpack -G DEB"; }
  deb=$(ls "$work"/package/*.deb)
  dpkg-deb -I "$deb" >"$work/deb-info.txt"
  dpkg-deb -c "$deb" | awk '{print $6}' >"$work/deb-files.txt"
  for f in ./usr/bin/precis ./usr/bin/precis-opt ./usr/bin/precis-rt \
    ./usr/include/precis/runtime/precis.h ./usr/include/precis/runtime/Session.h \
    ./usr/lib/libprecis_runtime.a ./usr/lib/cmake/PrecisRuntime/PrecisRuntimeConfig.cmake \
    ./usr/lib/pkgconfig/precis-runtime.pc; do
    grep -qx "$f" "$work/deb-files.txt" || fail "$deb lacks $f"
  done
  grep -q '^./usr/lib/libprecis_runtime.so' "$work/deb-files.txt" || fail "$deb lacks the shared library"
  if grep -v '^./usr/' "$work/deb-files.txt" | grep -qv '^./$'; then
    fail "$deb installs outside /usr: $(grep -v '^./usr/' "$work/deb-files.txt" | tr '\n' ' ')"
  fi
  grep -q "Depends:.*libdnnl" "$work/deb-info.txt" || fail "$deb does not depend on oneDNN"
  dpkg-deb -x "$deb" "$work/root"
  prefix=$work/root/usr
  # A runtime with the MPI communicator: libmpi at run time (shlibdeps) and for static linking.
  if objdump -p "$prefix"/lib/libprecis_runtime.so | grep -q 'NEEDED.*libmpi'; then
    grep -q "Depends:.*libopenmpi-dev" "$work/deb-info.txt" || fail "$deb does not depend on libopenmpi-dev"
  fi
  ;;
*) fail "unknown mode '$mode' (install or deb)" ;;
esac

# The public headers stand alone.
bad=$(grep -rhE '^\s*#\s*include' "$prefix/include" |
  grep -vE '#\s*include\s*("precis/runtime/[A-Za-z]+\.h"|<[a-z_]+(\.h)?>)' || true)
[ -z "$bad" ] || fail "installed headers include more than the runtime and the standard library: $bad"
[ ! -e "$prefix/include/precis/schema" ] || fail "the artifact schema headers were installed"

# The installed compiler when the prefix has one (the whole project's install), else PRECIS.
[ -x "$prefix/bin/precis" ] && precis=$prefix/bin/precis
"$precis" compile "$src/examples/mlp/model.onnx" --train -o "$work/mlp.precis" >/dev/null 2>&1 ||
  fail "precis compile examples/mlp/model.onnx --train"
reference=$("$python" -c "import numpy, sys; print(repr(float(numpy.load(sys.argv[1])['loss'])))" \
  "$src/examples/mlp/reference.npz")

flags=()
if [ -n "$sanitize" ]; then
  flags=(-fsanitize="$sanitize" -fno-omit-frame-pointer)
fi

# check NAME OUTPUT_FILE [forward]: the losses a program printed.
check() {
  local name=$1 out=$2 forward=${3:-}
  awk -v ref="$reference" -v name="$name" -v forward="$forward" '
    function close_to(x) { d = x - ref; if (d < 0) d = -d; r = ref < 0 ? -ref : ref; return d <= 1e-5 * r }
    /^forward output loss:/ { fwd = $NF; have_fwd = 1 }
    /^train step [0-9]+ loss / { loss[$3] = $5; last = $3 }
    END {
      if (forward && !have_fwd) { print name ": no forward loss"; exit 1 }
      if (forward && !close_to(fwd)) { print name ": forward loss " fwd " != reference " ref; exit 1 }
      if (!(0 in loss)) { print name ": no training steps"; exit 1 }
      if (!close_to(loss[0])) { print name ": step 0 loss " loss[0] " != reference " ref; exit 1 }
      if (last < 19 || !(loss[last] < loss[0] - 0.05)) {
        print name ": loss did not fall: " loss[0] " -> " loss[last] " in " last + 1 " steps"; exit 1
      }
      print name ": " (forward ? "forward and step-0 losses match" : "step-0 loss matches") " the reference " ref ", loss " loss[0] " -> " loss[last]
    }' "$out" || { cat "$out"; fail "$name"; }
}

run_all() {
  local dir=$1
  "$dir/embed_c" "$work/mlp.precis" "$src/examples/mlp/data.npz" 20 >"$dir/embed_c.out"
  check "$dir/embed_c" "$dir/embed_c.out"
  for p in embed_cpp embed_cpp_static; do
    [ -x "$dir/$p" ] || continue
    "$dir/$p" "$work/mlp.precis" "$src/examples/mlp/batch0.npz" "$src/examples/mlp/data.npz" 20 \
      >"$dir/$p.out"
    grep -q "^concurrent runs: 4 threads, identical outputs" "$dir/$p.out" ||
      fail "$p: concurrent runs"
    check "$dir/$p" "$dir/$p.out" forward
  done
}

# CMake, with the prefix as the only place to find the runtime.
cmake -S "$src/examples/embed" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DCMAKE_C_FLAGS="${flags[*]}" -DCMAKE_CXX_FLAGS="${flags[*]}" \
  -DCMAKE_EXE_LINKER_FLAGS="${flags[*]}" >"$work/cmake.log" || { cat "$work/cmake.log"; fail "configure"; }
cmake --build "$work/cmake" >"$work/cmake-build.log" 2>&1 || { cat "$work/cmake-build.log"; fail "build"; }
leaks=$(grep -oE -- '-(I|isystem )[^ "]+' "$work/cmake/compile_commands.json" |
  sed -E 's/^-(I|isystem )//' | grep -v "^$work/" | grep -E "^($src|$build)/" || true)
[ -z "$leaks" ] || fail "the CMake build of examples/embed included from the source or build tree: $leaks"
run_all "$work/cmake"

# pkg-config and a plain compiler command line (shared library; rpath for running in place).
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
if objdump -p "$prefix"/lib/libprecis_runtime.so | grep -q 'NEEDED.*libmpi'; then
  pkg-config --static --libs precis-runtime | grep -q -- '-lmpi' ||
    fail "pkg-config --static --libs precis-runtime lacks libmpi"
fi
libdir=$(pkg-config --variable=libdir precis-runtime)
mkdir -p "$work/pkg-config"
"$cc" -std=c99 "${flags[@]}" "$src/examples/embed/embed.c" -o "$work/pkg-config/embed_c" \
  $(pkg-config --cflags --libs precis-runtime) -lm -Wl,-rpath,"$libdir"
"$cxx" -std=c++17 "${flags[@]}" "$src/examples/embed/embed.cpp" -o "$work/pkg-config/embed_cpp" \
  $(pkg-config --cflags --libs precis-runtime) -pthread -Wl,-rpath,"$libdir"
run_all "$work/pkg-config"
echo "PASS: examples/embed against the $mode prefix, with CMake and with pkg-config"
