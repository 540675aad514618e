// RUN: precis-opt %s -precis-autodiff='loss=loss' | FileCheck %s

// With several @forward results, the 'loss' option names the one to differentiate (by its
// ONNX name); the other results are not returned by @gradients.
// CHECK-LABEL: func.func @gradients
// CHECK-SAME: -> (tensor<f32> {precis.onnx_name = "loss"}, tensor<2xf32> {precis.grad_of = "w"})
// CHECK: %[[Y:.*]] = precis.mul
// CHECK: %[[L:.*]] = precis.reduce_sum %[[Y]]
// CHECK: return %[[L]], %{{.*}} : tensor<f32>, tensor<2xf32>
func.func @forward(%x: tensor<2xf32>) -> (tensor<2xf32> {precis.onnx_name = "logits"}, tensor<f32> {precis.onnx_name = "loss"}) {
  %w = precis.parameter "w" = dense<1.0> : tensor<2xf32>
  %y = precis.mul %w, %x : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %l = precis.reduce_sum %y {axes = array<i64>, keepdims = false} : (tensor<2xf32>) -> tensor<f32>
  return %y, %l : tensor<2xf32>, tensor<f32>
}
