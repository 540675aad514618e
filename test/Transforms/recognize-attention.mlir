// RUN: precis-opt %s -split-input-file -precis-recognize-attention | FileCheck %s

// torch.onnx (TorchScript) decomposing scaled_dot_product_attention: sqrt(scale) on Q and on
// K^T (a transpose), the additive mask, softmax, the product with V.
// CHECK-LABEL: func.func @sdpa_split_scale
// CHECK-NEXT: %[[O:.*]], %{{.*}} = precis.attention %arg0, %arg1, %arg2, %arg3 {scale = 0.124999993 : f32} : tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>, tensor<2x1x16x16xf32> -> tensor<2x4x16x64xf32>, tensor<2x4x16xf32>
// CHECK-NEXT: return %[[O]]
func.func @sdpa_split_scale(%q: tensor<2x4x16x64xf32>, %k: tensor<2x4x16x64xf32>, %v: tensor<2x4x16x64xf32>, %m: tensor<2x1x16x16xf32>) -> tensor<2x4x16x64xf32> {
  %s = precis.constant dense<0.353553385> : tensor<f32>
  %0 = precis.mul %q, %s : (tensor<2x4x16x64xf32>, tensor<f32>) -> tensor<2x4x16x64xf32>
  %1 = precis.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x4x16x64xf32>) -> tensor<2x4x64x16xf32>
  %2 = precis.mul %1, %s : (tensor<2x4x64x16xf32>, tensor<f32>) -> tensor<2x4x64x16xf32>
  %3 = precis.matmul %0, %2 : (tensor<2x4x16x64xf32>, tensor<2x4x64x16xf32>) -> tensor<2x4x16x16xf32>
  %4 = precis.add %3, %m : (tensor<2x4x16x16xf32>, tensor<2x1x16x16xf32>) -> tensor<2x4x16x16xf32>
  %5 = precis.softmax %4 : tensor<2x4x16x16xf32>
  %6 = precis.matmul %5, %v : (tensor<2x4x16x16xf32>, tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32>
  return %6 : tensor<2x4x16x64xf32>
}

// -----

// BERT (eager): matmul with K^T, a division by sqrt(d) after it, the extended mask added on
// the left; same-type casts around the softmax.
// CHECK-LABEL: func.func @bert_div
// CHECK: precis.attention %arg0, %arg1, %arg2, %arg3 {scale = 1.250000e-01 : f32}
// CHECK-NOT: precis.softmax
func.func @bert_div(%q: tensor<2x4x16x64xf32>, %k: tensor<2x4x16x64xf32>, %v: tensor<2x4x16x64xf32>, %m: tensor<2x1x1x16xf32>) -> tensor<2x4x16x64xf32> {
  %d = precis.constant dense<8.0> : tensor<f32>
  %1 = precis.transpose %k {perm = array<i64: 0, 1, 3, 2>} : (tensor<2x4x16x64xf32>) -> tensor<2x4x64x16xf32>
  %3 = precis.matmul %q, %1 : (tensor<2x4x16x64xf32>, tensor<2x4x64x16xf32>) -> tensor<2x4x16x16xf32>
  %4 = precis.div %3, %d : (tensor<2x4x16x16xf32>, tensor<f32>) -> tensor<2x4x16x16xf32>
  %5 = precis.add %m, %4 : (tensor<2x1x1x16xf32>, tensor<2x4x16x16xf32>) -> tensor<2x4x16x16xf32>
  %6 = precis.softmax %5 : tensor<2x4x16x16xf32>
  %7 = precis.cast %6 : tensor<2x4x16x16xf32> to tensor<2x4x16x16xf32>
  %8 = precis.matmul %7, %v : (tensor<2x4x16x16xf32>, tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32>
  return %8 : tensor<2x4x16x64xf32>
}

// -----

// GPT-2 (eager): transpose_rhs, a scale after the matmul, where(causal, scores, finfo.min):
// the mask becomes where(causal, 0, finfo.min), added.
// CHECK-LABEL: func.func @gpt2_where
// CHECK: %[[M:.*]] = precis.where %arg3, %{{.*}}, %{{.*}} : (tensor<1x1x16x16xi1>, tensor<f32>, tensor<f32>) -> tensor<1x1x16x16xf32>
// CHECK: precis.attention %arg0, %arg1, %arg2, %[[M]] {scale = 1.250000e-01 : f32}
func.func @gpt2_where(%q: tensor<2x4x16x64xf32>, %k: tensor<2x4x16x64xf32>, %v: tensor<2x4x16x64xf32>, %c: tensor<1x1x16x16xi1>) -> tensor<2x4x16x64xf32> {
  %s = precis.constant dense<0.125> : tensor<f32>
  %min = precis.constant dense<-3.40282347E+38> : tensor<f32>
  %3 = precis.matmul %q, %k {transpose_rhs = true} : (tensor<2x4x16x64xf32>, tensor<2x4x16x64xf32>) -> tensor<2x4x16x16xf32>
  %4 = precis.mul %3, %s : (tensor<2x4x16x16xf32>, tensor<f32>) -> tensor<2x4x16x16xf32>
  %5 = precis.where %c, %4, %min : (tensor<1x1x16x16xi1>, tensor<2x4x16x16xf32>, tensor<f32>) -> tensor<2x4x16x16xf32>
  %6 = precis.softmax %5 : tensor<2x4x16x16xf32>
  %8 = precis.matmul %6, %v : (tensor<2x4x16x16xf32>, tensor<2x4x16x64xf32>) -> tensor<2x4x16x64xf32>
  return %8 : tensor<2x4x16x64xf32>
}

// -----

// Not folded: the probabilities have another user (an attention-weights output), and a mask
// a parameter reaches (it would need a gradient).
// CHECK-LABEL: func.func @probs_used
// CHECK-NOT: precis.attention
// CHECK: precis.softmax
func.func @probs_used(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> (tensor<1x2x8x16xf32>, tensor<1x2x8x8xf32>) {
  %3 = precis.matmul %q, %k {transpose_rhs = true} : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x2x8x8xf32>
  %6 = precis.softmax %3 : tensor<1x2x8x8xf32>
  %8 = precis.matmul %6, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  return %8, %6 : tensor<1x2x8x16xf32>, tensor<1x2x8x8xf32>
}

// -----

// CHECK-LABEL: func.func @learned_bias
// CHECK-NOT: precis.attention
func.func @learned_bias(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  %b = precis.parameter "bias" = dense<0.5> : tensor<2x8x8xf32>
  %3 = precis.matmul %q, %k {transpose_rhs = true} : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x2x8x8xf32>
  %4 = precis.add %3, %b : (tensor<1x2x8x8xf32>, tensor<2x8x8xf32>) -> tensor<1x2x8x8xf32>
  %6 = precis.softmax %4 : tensor<1x2x8x8xf32>
  %8 = precis.matmul %6, %v : (tensor<1x2x8x8xf32>, tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32>
  return %8 : tensor<1x2x8x16xf32>
}

// -----

// GPT-2 as torch.onnx exports it: K^T straight from [B, S, H, D] by perm [0, 2, 3, 1]; K is
// that tensor transposed by [0, 2, 1, 3].
// CHECK-LABEL: func.func @gpt2_key_perm
// CHECK: %[[K:.*]] = precis.transpose %arg1 {perm = array<i64: 0, 2, 1, 3>} : (tensor<2x16x4x8xf32>) -> tensor<2x4x16x8xf32>
// CHECK: precis.attention %arg0, %[[K]], %arg2, %{{.*}} {scale = 0.353553385 : f32}
func.func @gpt2_key_perm(%q: tensor<2x4x16x8xf32>, %k: tensor<2x16x4x8xf32>, %v: tensor<2x4x16x8xf32>, %c: tensor<16x16xi1>) -> tensor<2x4x16x8xf32> {
  %s = precis.constant dense<0.353553385> : tensor<f32>
  %ninf = precis.constant dense<0xFF800000> : tensor<f32>
  %kt = precis.transpose %k {perm = array<i64: 0, 2, 3, 1>} : (tensor<2x16x4x8xf32>) -> tensor<2x4x8x16xf32>
  %3 = precis.matmul %q, %kt : (tensor<2x4x16x8xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x16x16xf32>
  %4 = precis.mul %3, %s : (tensor<2x4x16x16xf32>, tensor<f32>) -> tensor<2x4x16x16xf32>
  %5 = precis.where %c, %4, %ninf : (tensor<16x16xi1>, tensor<2x4x16x16xf32>, tensor<f32>) -> tensor<2x4x16x16xf32>
  %6 = precis.softmax %5 {axis = 3 : i64} : tensor<2x4x16x16xf32>
  %8 = precis.matmul %6, %v : (tensor<2x4x16x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x8xf32>
  return %8 : tensor<2x4x16x8xf32>
}
