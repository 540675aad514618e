#!/bin/sh
# Offline check of the CUDA target: compiles every example model for `--target cuda`, for
# inference, for training with AdamW, and for fp16 training with loss scaling, and assembles
# each generated kernel's PTX with ptxas for sm_90a, so a kernel the GPU could not load fails
# here, on machines without one.
#
#   check-cuda-kernels.sh PRECIS PTXAS EXAMPLES_DIR WORK_DIR
#
# Exits 77 (ctest's SKIP_RETURN_CODE) when PTXAS is empty: the build found no CUDA toolkit.
set -u
precis=$1 ptxas=$2 examples=$3 work=$4
if [ -z "$ptxas" ]; then
  echo "SKIP: no CUDA toolkit was found when this build was configured"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work" || exit 1
status=0
for model in "$examples"/*/model.onnx; do
  name=$(basename "$(dirname "$model")")
  for mode in inference train train-fp16; do
    dir=$work/$name-$mode
    set -- "$model" -o "$dir.precis" --target cuda --arch sm_90a --dump-kernels "$dir"
    [ "$mode" != inference ] && set -- "$@" --train --optimizer adamw
    [ "$mode" = train-fp16 ] && set -- "$@" --precision fp16 --loss-scaling
    if ! "$precis" compile "$@" >"$dir.log" 2>&1; then
      echo "FAIL: precis compile $name ($mode):" && cat "$dir.log"
      status=1
      continue
    fi
    count=0
    for ptx in "$dir"/*.ptx; do
      count=$((count + 1))
      if ! "$ptxas" -arch=sm_90a "$ptx" -o "${ptx%.ptx}.cubin"; then
        echo "FAIL: ptxas rejects $ptx"
        status=1
      fi
    done
    echo "$name ($mode): $count kernels assemble for sm_90a"
  done
done
exit $status
