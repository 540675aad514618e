// RUN: precis-opt %s -split-input-file -precis-recognize-rms-norm | FileCheck %s

// Llama's RMSNorm as the TorchScript exporter writes it: pow, mean, add eps, sqrt,
// reciprocal, the product with x, then the weight (on the left).
// CHECK-LABEL: func.func @llama
// CHECK-NEXT: %[[N:.*]] = precis.layer_norm %arg0, %arg1 {axis = 2 : i64, epsilon = 9.99999997E-7 : f32, rms = true} : (tensor<2x4x64xf32>, tensor<64xf32>) -> tensor<2x4x64xf32>
// CHECK-NEXT: return %[[N]]
func.func @llama(%x: tensor<2x4x64xf32>, %w: tensor<64xf32>) -> tensor<2x4x64xf32> {
  %two = precis.constant dense<2.0> : tensor<f32>
  %eps = precis.constant dense<1.0e-06> : tensor<f32>
  %c = precis.cast %x : tensor<2x4x64xf32> to tensor<2x4x64xf32>
  %0 = precis.pow %c, %two : (tensor<2x4x64xf32>, tensor<f32>) -> tensor<2x4x64xf32>
  %1 = precis.reduce_mean %0 {axes = array<i64: -1>} : (tensor<2x4x64xf32>) -> tensor<2x4x1xf32>
  %2 = precis.add %1, %eps : (tensor<2x4x1xf32>, tensor<f32>) -> tensor<2x4x1xf32>
  %3 = precis.sqrt %2 : tensor<2x4x1xf32>
  %4 = precis.reciprocal %3 : tensor<2x4x1xf32>
  %5 = precis.mul %c, %4 : (tensor<2x4x64xf32>, tensor<2x4x1xf32>) -> tensor<2x4x64xf32>
  %6 = precis.mul %w, %5 : (tensor<64xf32>, tensor<2x4x64xf32>) -> tensor<2x4x64xf32>
  return %6 : tensor<2x4x64xf32>
}

// -----

// rsqrt, x * x, the epsilon on the left and a one-element initializer as it (the dynamo
// exporter's constants; 1e-5 is the default epsilon, not printed); no weight: the scale is a
// constant one.
// CHECK-LABEL: func.func @rsqrt_no_weight
// CHECK: %[[ONE:.*]] = precis.constant dense<1.000000e+00> : tensor<1xf32>
// CHECK: precis.layer_norm %arg0, %[[ONE]] {axis = 1 : i64, rms = true} : (tensor<4x64xf32>, tensor<1xf32>) -> tensor<4x64xf32>
func.func @rsqrt_no_weight(%x: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %eps = precis.parameter "eps" = dense<1.0e-05> : tensor<f32>
  %0 = precis.mul %x, %x : (tensor<4x64xf32>, tensor<4x64xf32>) -> tensor<4x64xf32>
  %1 = precis.reduce_mean %0 {axes = array<i64: 1>} : (tensor<4x64xf32>) -> tensor<4x1xf32>
  %2 = precis.add %eps, %1 : (tensor<f32>, tensor<4x1xf32>) -> tensor<4x1xf32>
  %3 = precis.rsqrt %2 : tensor<4x1xf32>
  %4 = precis.mul %3, %x : (tensor<4x1xf32>, tensor<4x64xf32>) -> tensor<4x64xf32>
  return %4 : tensor<4x64xf32>
}

// -----

// x / sqrt(mean(x^2) + eps) over the two trailing axes, and the weight on the right.
// CHECK-LABEL: func.func @divide
// CHECK: precis.layer_norm %arg0, %arg1 {axis = 1 : i64, epsilon = 9.99999997E-7 : f32, rms = true} : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x8xf32>
func.func @divide(%x: tensor<2x4x8xf32>, %w: tensor<4x8xf32>) -> tensor<2x4x8xf32> {
  %two = precis.constant dense<2.0> : tensor<f32>
  %eps = precis.constant dense<1.0e-06> : tensor<f32>
  %0 = precis.pow %x, %two : (tensor<2x4x8xf32>, tensor<f32>) -> tensor<2x4x8xf32>
  %1 = precis.reduce_mean %0 {axes = array<i64: 2, 1>} : (tensor<2x4x8xf32>) -> tensor<2x1x1xf32>
  %2 = precis.add %1, %eps : (tensor<2x1x1xf32>, tensor<f32>) -> tensor<2x1x1xf32>
  %3 = precis.sqrt %2 : tensor<2x1x1xf32>
  %4 = precis.div %x, %3 : (tensor<2x4x8xf32>, tensor<2x1x1xf32>) -> tensor<2x4x8xf32>
  %5 = precis.mul %4, %w : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x8xf32>
  return %5 : tensor<2x4x8xf32>
}

// -----

// Not RMSNorm: the mean is over a leading axis, the square is of another value, or an
// intermediate has another user. Nothing changes.
// CHECK-LABEL: func.func @not_rms
// CHECK-NOT: precis.layer_norm
func.func @not_rms(%x: tensor<4x64xf32>, %y: tensor<4x64xf32>) -> (tensor<4x64xf32>, tensor<4x64xf32>, tensor<1x64xf32>) {
  %two = precis.constant dense<2.0> : tensor<f32>
  %eps = precis.constant dense<1.0e-06> : tensor<f32>
  %0 = precis.pow %x, %two : (tensor<4x64xf32>, tensor<f32>) -> tensor<4x64xf32>
  %1 = precis.reduce_mean %0 {axes = array<i64: 0>} : (tensor<4x64xf32>) -> tensor<1x64xf32>
  %2 = precis.add %1, %eps : (tensor<1x64xf32>, tensor<f32>) -> tensor<1x64xf32>
  %3 = precis.rsqrt %2 : tensor<1x64xf32>
  %4 = precis.mul %x, %3 : (tensor<4x64xf32>, tensor<1x64xf32>) -> tensor<4x64xf32>
  %5 = precis.pow %y, %two : (tensor<4x64xf32>, tensor<f32>) -> tensor<4x64xf32>
  %6 = precis.reduce_mean %5 {axes = array<i64: 1>} : (tensor<4x64xf32>) -> tensor<4x1xf32>
  %7 = precis.add %6, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
  %8 = precis.rsqrt %7 : tensor<4x1xf32>
  %9 = precis.mul %x, %8 : (tensor<4x64xf32>, tensor<4x1xf32>) -> tensor<4x64xf32>
  return %4, %9, %3 : tensor<4x64xf32>, tensor<4x64xf32>, tensor<1x64xf32>
}
