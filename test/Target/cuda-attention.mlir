// REQUIRES: cuda
// RUN: rm -rf %t && precis compile %s -o %t.precis --target cuda --dump-kernels %t 2>&1 | FileCheck %s
// RUN: ls %t/*.ptx | xargs -n1 %ptxas -arch=sm_90a -o /dev/null
// RUN: cat %t/precis_attention_*.cu | FileCheck %s --check-prefix=KERNEL

// attention and attention_grad (grouped heads, causal, a broadcast mask; bf16 operands with
// fp32 logsumexp and mask, and f32) compile with NVRTC and assemble for sm_90a.
// CHECK: precis compile: wrote
// The forward's online softmax: no score buffer, the running maximum rescales the sums.
// KERNEL: const float corr = m == -__int_as_float(0x7f800000) ? (float)0 : expf(m - s);
func.func @forward(%q: tensor<2x4x8x16xbf16>, %k: tensor<2x2x8x16xbf16>, %v: tensor<2x2x8x8xbf16>,
                   %m: tensor<2x1x1x8xf32>, %do: tensor<2x4x8x8xbf16>, %qf: tensor<1x2x5x4xf32>,
                   %kf: tensor<1x2x7x4xf32>)
    -> (tensor<2x4x8x8xbf16>, tensor<2x4x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x8xbf16>,
        tensor<1x2x5x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x7x4xf32>) {
  %o, %lse = precis.attention %q, %k, %v, %m {scale = 0.25 : f32, is_causal = true} : tensor<2x4x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x8xbf16>, tensor<2x1x1x8xf32> -> tensor<2x4x8x8xbf16>, tensor<2x4x8xf32>
  %dq, %dk, %dv = precis.attention_grad %q, %k, %v, %o, %lse, %do, %m {scale = 0.25 : f32, is_causal = true} : (tensor<2x4x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x8xbf16>, tensor<2x4x8x8xbf16>, tensor<2x4x8xf32>, tensor<2x4x8x8xbf16>, tensor<2x1x1x8xf32>) -> (tensor<2x4x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x8xbf16>)
  %of, %lf = precis.attention %qf, %kf, %kf {scale = 0.5 : f32} : tensor<1x2x5x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x7x4xf32> -> tensor<1x2x5x4xf32>, tensor<1x2x5xf32>
  %dqf, %dkf, %dvf = precis.attention_grad %qf, %kf, %kf, %of, %lf, %of {scale = 0.5 : f32} : (tensor<1x2x5x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x5x4xf32>, tensor<1x2x5xf32>, tensor<1x2x5x4xf32>) -> (tensor<1x2x5x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x7x4xf32>)
  return %o, %dq, %dk, %dv, %dqf, %dkf, %dvf : tensor<2x4x8x8xbf16>, tensor<2x4x8x16xbf16>, tensor<2x2x8x16xbf16>, tensor<2x2x8x8xbf16>, tensor<1x2x5x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x7x4xf32>
}
