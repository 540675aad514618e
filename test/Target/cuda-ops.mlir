// REQUIRES: cuda
// RUN: rm -rf %t && precis compile %s -o %t.precis --target cuda --dump-kernels %t 2>&1 | FileCheck %s
// RUN: ls %t/*.ptx | xargs -n1 %ptxas -arch=sm_90a -o /dev/null

// Every op family the CUDA target runs as a direct kernel compiles with NVRTC and assembles
// for sm_90a.
// CHECK: precis compile: wrote

// Dropout draws through numerics.h's dropout_uniform, the function the CPU kernel's stream is
// tested against (CpuKernels.DropoutUniformIsTheDocumentedStream): seed and step from the RNG
// state operand (0, 0 without one) and the op's stream, at the element's index in the whole
// data-parallel batch (the kernel's last parameter is the rank).
// RUN: cat %t/precis_dropout_*.cu | FileCheck %s --check-prefix=DROPOUT
// DROPOUT-DAG: const unsigned long long seed = (unsigned long long)in1[0], step = (unsigned long long)in1[1];
// DROPOUT-DAG: const long long rank)
// DROPOUT-DAG: const float u = precis::dropout_uniform(seed, step, 3u, (unsigned long long)(rank * 32LL + t));
// DROPOUT-DAG: const unsigned long long seed = 0ULL, step = 0ULL;
// DROPOUT-DAG: const float u = precis::dropout_uniform(seed, step, 7u, (unsigned long long)(rank * 32LL + t));
func.func @forward(%x: tensor<2x4x8x8xf32>, %w: tensor<6x2x3x3xbf16>, %xb: tensor<2x4x8x8xbf16>,
                   %dy: tensor<2x6x8x8xbf16>, %ids: tensor<2x5xi64>, %emb: tensor<16x8xf32>,
                   %s: tensor<4x10xf32>, %lab: tensor<4xi64>, %p: tensor<4x8xf32>,
                   %step: tensor<f32>, %lr: tensor<f32>, %f8: tensor<4x8xf8E4M3FN>)
    -> (tensor<2x6x8x8xbf16>, tensor<2x4x8x8xbf16>, tensor<6x2x3x3xbf16>, tensor<2x4x4x4xf32>,
        tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<2x5x8xf32>,
        tensor<16x8xf32>, tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>, tensor<8x2x8x8xf32>,
        tensor<2x2x8x8xf32>, tensor<2x2x8x8xf32>, tensor<2x4x8x8xf32>, tensor<4xf32>,
        tensor<4xf32>, tensor<f32>, tensor<4x10xf32>, tensor<4x10xf32>, tensor<4x10xf32>,
        tensor<4x8xf32>, tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>,
        tensor<4x8xf32>, tensor<4x8xf32>, tensor<1x8xf32>, tensor<2x4x1x1xf32>,
        tensor<2x4x1x1xf32>, tensor<4x8xf8E4M3FN>, tensor<4x8xi1>, tensor<4x10xf32>,
        tensor<2x4x16x12xbf16>, tensor<2x4x8x8xbf16>, tensor<2x4x3x5xf32>, tensor<2x4x8x8xf32>,
        tensor<2x4x16x12xbf16>, tensor<2x4x8x8xbf16>, tensor<2x4x3x5xf32>, tensor<2x4x8x8xf32>) {
  %c0 = precis.conv2d %xb, %w {pads = array<i64: 1, 1, 1, 1>, groups = 2 : i64} : (tensor<2x4x8x8xbf16>, tensor<6x2x3x3xbf16>) -> tensor<2x6x8x8xbf16>
  %c1 = precis.conv2d_grad_input %dy, %w {pads = array<i64: 1, 1, 1, 1>, groups = 2 : i64} : (tensor<2x6x8x8xbf16>, tensor<6x2x3x3xbf16>) -> tensor<2x4x8x8xbf16>
  %c2 = precis.conv2d_grad_weight %xb, %dy {pads = array<i64: 1, 1, 1, 1>, groups = 2 : i64} : (tensor<2x4x8x8xbf16>, tensor<2x6x8x8xbf16>) -> tensor<6x2x3x3xbf16>
  %p0 = precis.max_pool2d %x {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<2x4x8x8xf32>) -> tensor<2x4x4x4xf32>
  %p1 = precis.avg_pool2d %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, count_include_pad = true} : (tensor<2x4x8x8xf32>) -> tensor<2x4x4x4xf32>
  %p2 = precis.max_pool2d_grad %p0, %x {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x8xf32>
  %p3 = precis.avg_pool2d_grad %p1 {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>} : (tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32>
  %g0 = precis.gather %emb, %ids {axis = 0 : i64} : (tensor<16x8xf32>, tensor<2x5xi64>) -> tensor<2x5x8xf32>
  %g1 = precis.gather_grad %g0, %ids {axis = 0 : i64} : (tensor<2x5x8xf32>, tensor<2x5xi64>) -> tensor<16x8xf32>
  %s0 = precis.slice %x {start = array<i64: 0, 0, 7, 0>, limit = array<i64: 2, 4, -1, 8>, step = array<i64: 1, 1, -2, 2>} : (tensor<2x4x8x8xf32>) -> tensor<2x4x4x4xf32>
  %s1 = precis.slice_grad %s0 {start = array<i64: 0, 0, 7, 0>, limit = array<i64: 2, 4, -1, 8>, step = array<i64: 1, 1, -2, 2>} : (tensor<2x4x4x4xf32>) -> tensor<2x4x8x8xf32>
  %t0 = precis.transpose %x {perm = array<i64: 1, 0, 2, 3>} : (tensor<2x4x8x8xf32>) -> tensor<4x2x8x8xf32>
  %k0 = precis.concat %t0, %t0 {axis = 0 : i64} : (tensor<4x2x8x8xf32>, tensor<4x2x8x8xf32>) -> tensor<8x2x8x8xf32>
  %k1:2 = precis.split %x {axis = 1 : i64} : (tensor<2x4x8x8xf32>) -> (tensor<2x2x8x8xf32>, tensor<2x2x8x8xf32>)
  %bm = precis.constant dense<0.0> : tensor<4xf32>
  %bv = precis.constant dense<1.0> : tensor<4xf32>
  %b0:3 = precis.batch_norm %x, %bv, %bm, %bm, %bv {training = true} : (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  %l0, %l1 = precis.softmax_cross_entropy mean %s, %lab {ignore_index = -100 : i64} : (tensor<4x10xf32>, tensor<4xi64>) -> (tensor<f32>, tensor<4x10xf32>)
  %l2 = precis.nll_loss_grad mean %l0, %lab {ignore_index = -100 : i64} : (tensor<f32>, tensor<4xi64>) -> tensor<4x10xf32>
  %l3 = precis.log_softmax %s {axis = 0 : i64} : tensor<4x10xf32>
  %d0, %d1 = precis.dropout %p {ratio = 0.25 : f32, training = true, stream = 7 : i64} : (tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
  %rng = precis.constant dense<[5, 2]> : tensor<2xi64>
  %d2, %d3 = precis.dropout %p, %rng {ratio = 0.25 : f32, training = true, stream = 3 : i64} : (tensor<4x8xf32>, tensor<2xi64>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
  %o0 = precis.sgd_update %p, %p, %step, %lr {weight_decay = 0.1 : f32} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<f32>) -> tensor<4x8xf32>
  %o1:3 = precis.adam_update %p, %p, %p, %p, %step, %lr {decoupled = true, weight_decay = 0.01 : f32} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<f32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
  %r0 = precis.reduce_max %p {axes = array<i64: 0>} : (tensor<4x8xf32>) -> tensor<1x8xf32>
  %r1 = precis.global_avg_pool %x : (tensor<2x4x8x8xf32>) -> tensor<2x4x1x1xf32>
  %r2 = precis.global_max_pool %x : (tensor<2x4x8x8xf32>) -> tensor<2x4x1x1xf32>
  %e0 = precis.cast %p : tensor<4x8xf32> to tensor<4x8xf8E4M3FN>
  %e1 = precis.compare lt, %f8, %e0 : (tensor<4x8xf8E4M3FN>, tensor<4x8xf8E4M3FN>) -> tensor<4x8xi1>
  %e2 = precis.not %e1 : tensor<4x8xi1>
  %e3 = precis.nll_loss_grad none %b0#1, %lab : (tensor<4xf32>, tensor<4xi64>) -> tensor<4x10xf32>
  %z0 = precis.resize %xb {mode = "linear", scales = array<f64: 1.0, 1.0, 2.0, 1.5>} : (tensor<2x4x8x8xbf16>) -> tensor<2x4x16x12xbf16>
  %z1 = precis.resize_grad %z0 {mode = "linear", scales = array<f64: 1.0, 1.0, 2.0, 1.5>} : (tensor<2x4x16x12xbf16>) -> tensor<2x4x8x8xbf16>
  %z2 = precis.resize %x {coordinate_transformation_mode = "align_corners", nearest_mode = "round_prefer_ceil", scales = array<f64: 1.0, 1.0, 0.375, 0.625>} : (tensor<2x4x8x8xf32>) -> tensor<2x4x3x5xf32>
  %z3 = precis.resize_grad %z2 {coordinate_transformation_mode = "align_corners", nearest_mode = "round_prefer_ceil", scales = array<f64: 1.0, 1.0, 0.375, 0.625>} : (tensor<2x4x3x5xf32>) -> tensor<2x4x8x8xf32>
  %z4 = precis.resize %xb {mode = "cubic", exclude_outside = true, scales = array<f64: 1.0, 1.0, 2.0, 1.5>} : (tensor<2x4x8x8xbf16>) -> tensor<2x4x16x12xbf16>
  %z5 = precis.resize_grad %z4 {mode = "cubic", exclude_outside = true, scales = array<f64: 1.0, 1.0, 2.0, 1.5>} : (tensor<2x4x16x12xbf16>) -> tensor<2x4x8x8xbf16>
  %z6 = precis.resize %x {mode = "cubic", antialias = true, scales = array<f64: 1.0, 1.0, 0.375, 0.625>} : (tensor<2x4x8x8xf32>) -> tensor<2x4x3x5xf32>
  %z7 = precis.resize_grad %z6 {mode = "linear", antialias = true, scales = array<f64: 1.0, 1.0, 0.375, 0.625>} : (tensor<2x4x3x5xf32>) -> tensor<2x4x8x8xf32>
  return %c0, %c1, %c2, %p0, %p1, %p2, %p3, %g0, %g1, %s0, %s1, %k0, %k1#0, %k1#1, %b0#0, %b0#1, %b0#2, %l0, %l1, %l2, %l3, %d0, %d1, %d2, %d3, %o0, %o1#0, %o1#1, %o1#2, %p, %r0, %r1, %r2, %e0, %e2, %e3, %z0, %z1, %z2, %z3, %z4, %z5, %z6, %z7 : tensor<2x6x8x8xbf16>, tensor<2x4x8x8xbf16>, tensor<6x2x3x3xbf16>, tensor<2x4x4x4xf32>, tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<2x5x8xf32>, tensor<16x8xf32>, tensor<2x4x4x4xf32>, tensor<2x4x8x8xf32>, tensor<8x2x8x8xf32>, tensor<2x2x8x8xf32>, tensor<2x2x8x8xf32>, tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f32>, tensor<4x10xf32>, tensor<4x10xf32>, tensor<4x10xf32>, tensor<4x8xf32>, tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<1x8xf32>, tensor<2x4x1x1xf32>, tensor<2x4x1x1xf32>, tensor<4x8xf8E4M3FN>, tensor<4x8xi1>, tensor<4x10xf32>, tensor<2x4x16x12xbf16>, tensor<2x4x8x8xbf16>, tensor<2x4x3x5xf32>, tensor<2x4x8x8xf32>, tensor<2x4x16x12xbf16>, tensor<2x4x8x8xbf16>, tensor<2x4x3x5xf32>, tensor<2x4x8x8xf32>
}
