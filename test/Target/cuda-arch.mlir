// REQUIRES: cuda
// RUN: not precis compile %s -o %t.precis --target cuda --arch 90a 2>&1 | FileCheck %s --check-prefix=ARCH
// ARCH: --arch expects sm_XX (e.g. sm_90a), got '90a'
// A kernel NVRTC rejects is a compiler error carrying NVRTC's log, and no artifact is written.
// RUN: rm -f %t.bad.precis && not precis compile %s -o %t.bad.precis --target cuda --arch sm_999 2>&1 | FileCheck %s --check-prefix=NVRTC
// RUN: not ls %t.bad.precis
// NVRTC: error: NVRTC failed to compile kernel precis_elementwise_{{[0-9a-f]+}} for compute_999
// NVRTC-NEXT: nvrtc: error: invalid value for --gpu-architecture
// RUN: rm -rf %t.d && precis compile %s -o %t.precis --target cuda --arch sm_80 --dump-kernels %t.d
// RUN: cat %t.d/*.ptx | FileCheck %s --check-prefix=PTX
// PTX: .target sm_80

func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = precis.relu %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}
