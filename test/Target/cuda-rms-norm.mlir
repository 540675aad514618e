// REQUIRES: cuda
// RUN: rm -rf %t && precis compile %s -o %t.precis --target cuda --dump-kernels %t 2>&1 | FileCheck %s
// RUN: ls %t/*.ptx | xargs -n1 %ptxas -arch=sm_90a -o /dev/null
// RUN: cat %t/*.cu | FileCheck %s --check-prefix=SRC

// Layer norm and RMS norm (layer_norm {rms}) row kernels compile with NVRTC and assemble for
// sm_90a; the RMS kernel takes no mean.
// CHECK: precis compile: wrote
// SRC-DAG: mean = sum / (float)32;
// SRC-DAG: mean = (float)0;
func.func @forward(%x: tensor<8x32xf32>, %g: tensor<32xf32>, %b: tensor<32xf32>,
                   %xb: tensor<8x32xbf16>, %gb: tensor<32xbf16>)
    -> (tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xbf16>) {
  %0 = precis.layer_norm %x, %g, %b {epsilon = 1.0e-5 : f32} : (tensor<8x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<8x32xf32>
  %1 = precis.layer_norm %x, %g {epsilon = 1.0e-6 : f32, rms = true} : (tensor<8x32xf32>, tensor<32xf32>) -> tensor<8x32xf32>
  %2 = precis.layer_norm %xb, %gb {epsilon = 1.0e-6 : f32, rms = true} : (tensor<8x32xbf16>, tensor<32xbf16>) -> tensor<8x32xbf16>
  return %0, %1, %2 : tensor<8x32xf32>, tensor<8x32xf32>, tensor<8x32xbf16>
}
