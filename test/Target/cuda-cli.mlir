// RUN: not precis compile %s -o %t.precis --dump-kernels %t.d 2>&1 | FileCheck %s --check-prefix=DUMP
// DUMP: --arch and --dump-kernels need --target cuda
// RUN: not precis compile %s -o %t.precis --target tpu 2>&1 | FileCheck %s --check-prefix=TARGET
// TARGET: unsupported target 'tpu' (this build supports: cpu

func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = precis.relu %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}
