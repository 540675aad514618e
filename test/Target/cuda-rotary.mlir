// REQUIRES: cuda
// RUN: rm -rf %t && precis compile %s -o %t.precis --target cuda --dump-kernels %t 2>&1 | FileCheck %s
// RUN: ls %t/*.ptx | xargs -n1 %ptxas -arch=sm_90a -o /dev/null
// RUN: cat %t/precis_rotary_*.cu | FileCheck %s --check-prefix=KERNEL

// precis.rotary compiles with NVRTC and assembles for sm_90a: per-pair caches broadcast over
// the heads, bf16 interleaved pairs with a partial rotation, per-channel caches.
// CHECK: precis compile: wrote
// KERNEL-DAG: first ? xj * c - xp * s : xj * c + xp * s
// KERNEL-DAG: const bool first = j % 2 == 0;
// KERNEL-DAG: const bool first = j < 4LL;
func.func @forward(%x: tensor<2x4x8x16xf32>, %c: tensor<2x1x8x8xf32>, %s: tensor<2x1x8x8xf32>,
                   %xb: tensor<2x8x16xbf16>, %cb: tensor<8x4xbf16>, %sb: tensor<8x4xbf16>,
                   %cf: tensor<2x1x8x16xf32>, %sf: tensor<2x1x8x16xf32>, %xs: tensor<2x4x8x8xf32>,
                   %cs: tensor<8x8xf32>)
    -> (tensor<2x4x8x16xf32>, tensor<2x8x16xbf16>, tensor<2x4x8x16xf32>, tensor<2x4x8x8xf32>) {
  %0 = precis.rotary %x, %c, %s : (tensor<2x4x8x16xf32>, tensor<2x1x8x8xf32>, tensor<2x1x8x8xf32>) -> tensor<2x4x8x16xf32>
  %1 = precis.rotary %xb, %cb, %sb {interleaved = true, rotary_dim = 8 : i64} : (tensor<2x8x16xbf16>, tensor<8x4xbf16>, tensor<8x4xbf16>) -> tensor<2x8x16xbf16>
  %2 = precis.rotary %x, %cf, %sf : (tensor<2x4x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x4x8x16xf32>
  %3 = precis.rotary %xs, %cs, %cs : (tensor<2x4x8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<2x4x8x8xf32>
  return %0, %1, %2, %3 : tensor<2x4x8x16xf32>, tensor<2x8x16xbf16>, tensor<2x4x8x16xf32>, tensor<2x4x8x8xf32>
}
