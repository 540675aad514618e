// RUN: precis-opt %s -split-input-file -precis-fuse | FileCheck %s

// A GEMM with a bias vector and a ReLU becomes one group (cuBLASLt's BIAS + RELU epilogue).
// CHECK-LABEL: func.func @gemm_bias_relu
// CHECK: %[[F:.*]] = precis.fusion gemm bias_relu(%arg0, %arg1, %arg2 : tensor<8x32xf32>, tensor<32x64xf32>, tensor<64xf32>) -> tensor<8x64xf32> {
// CHECK-NEXT: ^bb0(%[[A:.*]]: tensor<8x32xf32>, %[[W:.*]]: tensor<32x64xf32>, %[[B:.*]]: tensor<64xf32>):
// CHECK-NEXT: %[[M:.*]] = precis.matmul %[[A]], %[[W]]
// CHECK-NEXT: %[[S:.*]] = precis.add %[[M]], %[[B]]
// CHECK-NEXT: %[[R:.*]] = precis.relu %[[S]]
// CHECK-NEXT: precis.yield %[[R]] : tensor<8x64xf32>
// CHECK: return %[[F]]
func.func @gemm_bias_relu(%x: tensor<8x32xf32>, %w: tensor<32x64xf32>, %b: tensor<64xf32>) -> tensor<8x64xf32> {
  %0 = precis.matmul %x, %w : (tensor<8x32xf32>, tensor<32x64xf32>) -> tensor<8x64xf32>
  %1 = precis.add %0, %b : (tensor<8x64xf32>, tensor<64xf32>) -> tensor<8x64xf32>
  %2 = precis.relu %1 : tensor<8x64xf32>
  return %2 : tensor<8x64xf32>
}

// -----

// The tanh GELU's input has another user (the backward pass): it is a second result, as
// cuBLASLt's GELU_AUX epilogue writes it.
// CHECK-LABEL: func.func @gemm_bias_gelu_aux
// CHECK: %[[F:.*]]:2 = precis.fusion gemm bias_gelu_aux(
// CHECK: precis.matmul
// CHECK-NEXT: %[[S:.*]] = precis.add
// CHECK-NEXT: %[[G:.*]] = precis.gelu %[[S]] approximation = tanh
// CHECK-NEXT: precis.yield %[[S]], %[[G]]
// CHECK: return %[[F]]#1, %[[F]]#0
func.func @gemm_bias_gelu_aux(%x: tensor<8x32xbf16>, %w: tensor<32x64xbf16>, %b: tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>) {
  %0 = precis.matmul %x, %w : (tensor<8x32xbf16>, tensor<32x64xbf16>) -> tensor<8x64xbf16>
  %1 = precis.add %b, %0 : (tensor<64xbf16>, tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %2 = precis.gelu %1 approximation = tanh : tensor<8x64xbf16>
  return %2, %1 : tensor<8x64xbf16>, tensor<8x64xbf16>
}

// -----

// cuBLASLt's GELU is the tanh form: the exact GELU stays outside the GEMM group; a bias
// that is not a vector [N] is no epilogue; `gemm` keeps its own `c` and takes none; and a
// batched product has no GELU_AUX, so a GELU whose input has other users stays apart.
// CHECK-LABEL: func.func @gemm_no_epilogue
// CHECK-NOT: precis.fusion
// CHECK: precis.matmul
// CHECK: precis.gelu
// CHECK: precis.matmul
// CHECK: precis.add
// CHECK: precis.gemm
// CHECK: precis.relu
// CHECK: %[[B:.*]] = precis.fusion gemm bias(
// CHECK: precis.matmul
// CHECK-NEXT: precis.add
// CHECK-NEXT: precis.yield
// CHECK: precis.gelu %[[B]] approximation = tanh
func.func @gemm_no_epilogue(%x: tensor<8x32xf32>, %w: tensor<32x64xf32>, %c: tensor<8x1xf32>,
                            %x3: tensor<2x8x32xf32>, %b: tensor<64xf32>)
    -> (tensor<8x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>, tensor<2x8x64xf32>, tensor<2x8x64xf32>) {
  %0 = precis.matmul %x, %w : (tensor<8x32xf32>, tensor<32x64xf32>) -> tensor<8x64xf32>
  %1 = precis.gelu %0 : tensor<8x64xf32>
  %2 = precis.matmul %x, %w : (tensor<8x32xf32>, tensor<32x64xf32>) -> tensor<8x64xf32>
  %3 = precis.add %2, %c : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
  %4 = precis.gemm %x, %w, %b : (tensor<8x32xf32>, tensor<32x64xf32>, tensor<64xf32>) -> tensor<8x64xf32>
  %5 = precis.relu %4 : tensor<8x64xf32>
  %6 = precis.matmul %x3, %w : (tensor<2x8x32xf32>, tensor<32x64xf32>) -> tensor<2x8x64xf32>
  %7 = precis.add %6, %b : (tensor<2x8x64xf32>, tensor<64xf32>) -> tensor<2x8x64xf32>
  %8 = precis.gelu %7 approximation = tanh : tensor<2x8x64xf32>
  return %1, %3, %5, %7, %8 : tensor<8x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>, tensor<2x8x64xf32>, tensor<2x8x64xf32>
}

// -----

// An element-wise chain is one group; broadcast operands are inputs, splat constants are
// cloned into the body, and a value used outside is a result too.
// CHECK-LABEL: func.func @elementwise_chain
// CHECK-NOT: precis.constant
// CHECK: %[[F:.*]]:2 = precis.fusion elementwise(%arg0, %arg1 : tensor<4x16xbf16>, tensor<16xbf16>) -> tensor<4x16xbf16>, tensor<4x16xf32> {
// CHECK: precis.constant dense<2.000000e+00> : tensor<bf16>
// CHECK: precis.add
// CHECK: precis.mul
// CHECK: precis.cast
// CHECK: precis.exp
// CHECK: precis.yield
// CHECK: return %[[F]]#1, %[[F]]#0
func.func @elementwise_chain(%x: tensor<4x16xbf16>, %y: tensor<16xbf16>) -> (tensor<4x16xf32>, tensor<4x16xbf16>) {
  %two = precis.constant dense<2.0> : tensor<bf16>
  %0 = precis.add %x, %y : (tensor<4x16xbf16>, tensor<16xbf16>) -> tensor<4x16xbf16>
  %1 = precis.mul %0, %two : (tensor<4x16xbf16>, tensor<bf16>) -> tensor<4x16xbf16>
  %2 = precis.cast %1 : tensor<4x16xbf16> to tensor<4x16xf32>
  %3 = precis.exp %2 : tensor<4x16xf32>
  return %3, %1 : tensor<4x16xf32>, tensor<4x16xbf16>
}

// -----

// A softmax over the last dimension takes its element-wise producers and consumers.
// CHECK-LABEL: func.func @softmax_row
// CHECK: %[[F:.*]] = precis.fusion row(%arg0, %arg1 : tensor<2x8x16xf32>, tensor<16x16xi1>) -> tensor<2x8x16xbf16> {
// CHECK: precis.mul
// CHECK: precis.where
// CHECK: precis.softmax
// CHECK: precis.cast
// CHECK: precis.yield
// CHECK-NOT: precis.fusion
func.func @softmax_row(%s: tensor<2x8x16xf32>, %mask: tensor<16x16xi1>) -> tensor<2x8x16xbf16> {
  %c = precis.constant dense<0.25> : tensor<f32>
  %ninf = precis.constant dense<0xFF800000> : tensor<f32>
  %0 = precis.reshape %s : tensor<2x8x16xf32> to tensor<2x8x16xf32>
  %1 = precis.mul %s, %c : (tensor<2x8x16xf32>, tensor<f32>) -> tensor<2x8x16xf32>
  %2 = precis.reshape %1 : tensor<2x8x16xf32> to tensor<16x16xf32>
  %3 = precis.where %mask, %2, %ninf : (tensor<16x16xi1>, tensor<16x16xf32>, tensor<f32>) -> tensor<16x16xf32>
  %4 = precis.softmax %3 : tensor<16x16xf32>
  %5 = precis.reshape %4 : tensor<16x16xf32> to tensor<2x8x16xf32>
  %6 = precis.cast %5 : tensor<2x8x16xf32> to tensor<2x8x16xbf16>
  return %6 : tensor<2x8x16xbf16>
}

// -----

// A trailing reduction: per-element prologue, per-row epilogue. A reduction over a leading
// axis is no row group; nor does an op join a group it depends on through another op.
// CHECK-LABEL: func.func @reductions
// CHECK: %[[R:.*]] = precis.fusion row(%arg0 : tensor<8x32xf32>) -> tensor<8xf32> {
// CHECK: precis.mul
// CHECK: precis.reduce_sum
// CHECK: precis.sqrt
// CHECK: precis.yield
// CHECK: precis.reduce_sum %arg0 {axes = array<i64: 0>}
// CHECK: %[[E:.*]] = precis.exp %arg0
// CHECK: %[[M:.*]] = precis.matmul %[[E]], %arg1
// CHECK: precis.fusion elementwise(%[[E]], %[[M]] :
func.func @reductions(%x: tensor<8x32xf32>, %w: tensor<32x32xf32>) -> (tensor<8xf32>, tensor<1x32xf32>, tensor<8x32xf32>) {
  %0 = precis.mul %x, %x : (tensor<8x32xf32>, tensor<8x32xf32>) -> tensor<8x32xf32>
  %1 = precis.reduce_sum %0 {axes = array<i64: 1>, keepdims = false} : (tensor<8x32xf32>) -> tensor<8xf32>
  %2 = precis.sqrt %1 : tensor<8xf32>
  %3 = precis.reduce_sum %x {axes = array<i64: 0>} : (tensor<8x32xf32>) -> tensor<1x32xf32>
  %4 = precis.exp %x : tensor<8x32xf32>
  %5 = precis.matmul %4, %w : (tensor<8x32xf32>, tensor<32x32xf32>) -> tensor<8x32xf32>
  %6 = precis.add %4, %5 : (tensor<8x32xf32>, tensor<8x32xf32>) -> tensor<8x32xf32>
  %7 = precis.tanh %6 : tensor<8x32xf32>
  return %2, %3, %7 : tensor<8xf32>, tensor<1x32xf32>, tensor<8x32xf32>
}
