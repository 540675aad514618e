// RUN: precis-opt %s -split-input-file -precis-autodiff | FileCheck %s
// RUN: precis-opt %s -split-input-file -precis-autodiff='frozen=embed[.].*|other' | FileCheck %s --check-prefix=FROZEN

// MLP: gemm + gelu + softmax cross-entropy. Both parameters become arguments (initializer
// order) and get gradients; the loss keeps its ONNX name. The ops of the reverse sweep carry
// precis.phase = "backward" (the forward ops none), the seed also precis.loss_seed.
// CHECK-LABEL: func.func @forward
// CHECK-LABEL: func.func @gradients
// CHECK-SAME: (%[[X:arg[0-9]+]]: tensor<4x3xf32> {precis.onnx_name = "x"}, %[[T:arg[0-9]+]]: tensor<4xi64> {precis.onnx_name = "t"}, %[[W:arg[0-9]+]]: tensor<2x3xf32> {precis.param_name = "fc.weight"}, %[[B:arg[0-9]+]]: tensor<2xf32> {precis.param_name = "fc.bias"})
// CHECK-SAME: -> (tensor<f32> {precis.onnx_name = "loss"}, tensor<2x3xf32> {precis.grad_of = "fc.weight"}, tensor<2xf32> {precis.grad_of = "fc.bias"})
// CHECK-NOT: precis.parameter
// CHECK: %[[Y:.*]] = precis.gemm %[[X]], %[[W]], %[[B]] {transpose_b = true}
// CHECK: %[[G:.*]] = precis.gelu %[[Y]]
// CHECK: %[[L:.*]], %[[LP:.*]] = precis.softmax_cross_entropy mean %[[G]], %[[T]]
// CHECK: %[[ONE:.*]] = precis.constant dense<1.000000e+00> : tensor<f32> {precis.loss_seed, precis.phase = "backward"}
// CHECK: %[[DLP:.*]] = precis.nll_loss_grad mean %[[ONE]], %[[T]] {precis.phase = "backward"}
// CHECK: precis.exp %[[LP]]
// CHECK: precis.erf
// CHECK: %[[DW:.*]] = precis.gemm %[[DY:[0-9]+]], %[[X]] {precis.phase = "backward", transpose_a = true} : (tensor<4x2xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
// CHECK: %[[DB0:.*]] = precis.reduce_sum %[[DY]] {axes = array<i64: 0>, precis.phase = "backward"}
// CHECK: %[[DB:.*]] = precis.reshape %[[DB0]] {precis.phase = "backward"} : tensor<1x2xf32> to tensor<2xf32>
// CHECK: return %[[L]], %[[DW]], %[[DB]]
func.func @forward(%x: tensor<4x3xf32> {precis.onnx_name = "x"}, %t: tensor<4xi64> {precis.onnx_name = "t"}) -> (tensor<f32> {precis.onnx_name = "loss"}) {
  %w = precis.parameter "fc.weight" = dense<0.5> : tensor<2x3xf32>
  %b = precis.parameter "fc.bias" = dense<0.1> : tensor<2xf32>
  %y = precis.gemm %x, %w, %b {transpose_b = true} : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %g = precis.gelu %y : tensor<4x2xf32>
  %l, %lp = precis.softmax_cross_entropy mean %g, %t : (tensor<4x2xf32>, tensor<4xi64>) -> (tensor<f32>, tensor<4x2xf32>)
  return %l : tensor<f32>
}

// -----

// A bool mask parameter is not trainable and stays inside; a float buffer with no path to the
// loss gets no gradient (and, unused, is dropped); a frozen weight stays a parameter and no
// gradient flows through the matmul into it.
// CHECK-LABEL: func.func @gradients
// CHECK-SAME: %{{.*}}: tensor<3x3xf32> {precis.param_name = "embed.weight"}, %{{.*}}: tensor<3x2xf32> {precis.param_name = "head.weight"})
// CHECK-SAME: tensor<3x3xf32> {precis.grad_of = "embed.weight"}, tensor<3x2xf32> {precis.grad_of = "head.weight"})
// CHECK: precis.parameter "mask"
// CHECK-NOT: precis.parameter
// CHECK: return
// FROZEN: func.func @gradients(%[[X:arg[0-9]+]]: tensor<4x3xf32>, %[[W2:arg[0-9]+]]: tensor<3x2xf32> {precis.param_name = "head.weight"})
// FROZEN-SAME: -> (tensor<f32>, tensor<3x2xf32> {precis.grad_of = "head.weight"})
// FROZEN-DAG: %[[W1:.*]] = precis.parameter "embed.weight"
// FROZEN-DAG: precis.parameter "mask"
// FROZEN: %[[H:.*]] = precis.matmul %[[X]], %[[W1]]
// FROZEN: %[[HM:.*]] = precis.where
// FROZEN: %[[DW2:.*]] = precis.matmul %[[HM]], %{{.*}} {precis.phase = "backward", transpose_lhs = true} : (tensor<4x3xf32>, tensor<4x2xf32>) -> tensor<3x2xf32>
// FROZEN-NOT: precis.matmul
// FROZEN: return %{{.*}}, %[[DW2]]
func.func @forward(%x: tensor<4x3xf32>) -> tensor<f32> {
  %w1 = precis.parameter "embed.weight" = dense<0.5> : tensor<3x3xf32>
  %w2 = precis.parameter "head.weight" = dense<0.25> : tensor<3x2xf32>
  %m = precis.parameter "mask" = dense<true> : tensor<4x3xi1>
  %buf = precis.parameter "unused.buffer" = dense<1.0> : tensor<2xf32>
  %z = precis.constant dense<0.0> : tensor<f32>
  %h = precis.matmul %x, %w1 : (tensor<4x3xf32>, tensor<3x3xf32>) -> tensor<4x3xf32>
  %hm = precis.where %m, %h, %z : (tensor<4x3xi1>, tensor<4x3xf32>, tensor<f32>) -> tensor<4x3xf32>
  %y = precis.matmul %hm, %w2 : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %l = precis.reduce_sum %y {axes = array<i64>, keepdims = false} : (tensor<4x2xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// Broadcasting: the [3] bias and the [4, 1] scale get gradients summed over the broadcast
// dimensions; %z has two uses in the square, whose gradients are accumulated with add.
// CHECK-LABEL: func.func @gradients
// CHECK-SAME: %[[B:arg[0-9]+]]: tensor<3xf32> {precis.param_name = "bias"}, %[[S:arg[0-9]+]]: tensor<4x1xf32> {precis.param_name = "scale"})
// CHECK: %[[Y:.*]] = precis.add %{{.*}}, %[[B]]
// CHECK: %[[Z:.*]] = precis.mul %[[Y]], %[[S]]
// CHECK: %[[DQ:.*]] = precis.mul %{{.*}}, %{{.*}} : (tensor<4x3xf32>, tensor<f32>)
// CHECK: %[[G1:.*]] = precis.mul %[[DQ]], %[[Z]]
// CHECK: %[[G2:.*]] = precis.mul %[[DQ]], %[[Z]]
// CHECK: %[[DZ:.*]] = precis.add %[[G1]], %[[G2]]
// CHECK: %[[DY:.*]] = precis.mul %[[DZ]], %[[S]]
// CHECK: %[[DSF:.*]] = precis.mul %[[DZ]], %[[Y]]
// CHECK: %[[DS:.*]] = precis.reduce_sum %[[DSF]] {axes = array<i64: 1>, precis.phase = "backward"} : (tensor<4x3xf32>) -> tensor<4x1xf32>
// CHECK: %[[DB0:.*]] = precis.reduce_sum %[[DY]] {axes = array<i64: 0>, precis.phase = "backward"} : (tensor<4x3xf32>) -> tensor<1x3xf32>
// CHECK: %[[DB:.*]] = precis.reshape %[[DB0]] {precis.phase = "backward"} : tensor<1x3xf32> to tensor<3xf32>
// CHECK: return %{{.*}}, %[[DB]], %[[DS]]
func.func @forward(%x: tensor<4x3xf32>) -> tensor<f32> {
  %b = precis.parameter "bias" = dense<0.5> : tensor<3xf32>
  %s = precis.parameter "scale" = dense<2.0> : tensor<4x1xf32>
  %y = precis.add %x, %b : (tensor<4x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  %z = precis.mul %y, %s : (tensor<4x3xf32>, tensor<4x1xf32>) -> tensor<4x3xf32>
  %q = precis.mul %z, %z : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32>
  %l = precis.reduce_mean %q {axes = array<i64>, keepdims = false} : (tensor<4x3xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// The loss named by the 'loss' option is not needed when @forward has one result; with two
// results and no option, see autodiff-invalid.mlir.
// CHECK-LABEL: func.func @gradients
// CHECK-SAME: -> (tensor<f32>, tensor<2xf32> {precis.grad_of = "w"})
func.func @forward(%x: tensor<2xf32>) -> tensor<f32> {
  %w = precis.parameter "w" = dense<1.0> : tensor<2xf32>
  %y = precis.relu %w : tensor<2xf32>
  %p = precis.mul %y, %x : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %l = precis.reduce_sum %p {axes = array<i64>, keepdims = false} : (tensor<2xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
