// RUN: precis-opt %s -precis-autodiff -precis-optimizer='optimizer=sgd seed=42' | FileCheck %s
// RUN: precis-opt %s -precis-autodiff -precis-optimizer='optimizer=sgd' -precis-loss-scaling | FileCheck %s --check-prefix=SCALED

// Training-mode dropout draws from the RNG state: an i64[2] argument after the step, starting
// at [seed, 0], read by every training-mode dropout (each with its own stream, in program
// order) and returned counted up by one. Inference-mode dropout draws nothing.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[STEP:arg[0-9]+]]: tensor<i64> {precis.role = "step", precis.state_name = "step"}, %[[RNG:arg[0-9]+]]: tensor<2xi64> {precis.initial_value = dense<[42, 0]> : tensor<2xi64>, precis.role = "rng_state", precis.state_name = "rng"}, %{{.*}}: tensor<4x3xf32> {precis.onnx_name = "x"}
// CHECK-SAME: tensor<i64> {precis.updates = "step"}, tensor<2xi64> {precis.updates = "rng"}, tensor<f32> {precis.onnx_name = "loss"})
// CHECK: precis.dropout %{{.*}}, %[[RNG]] {ratio = 2.500000e-01 : f32, training = true} : (tensor<4x3xf32>, tensor<2xi64>)
// CHECK: precis.dropout %{{[^ ,]*}} : (tensor<4x2xf32>)
// CHECK: precis.dropout %{{.*}}, %[[RNG]] {ratio = 1.000000e-01 : f32, stream = 1 : i64, training = true} : (tensor<4x2xf32>, tensor<2xi64>)
// CHECK: %[[INC:.*]] = precis.constant dense<[0, 1]> : tensor<2xi64>
// CHECK: %[[RNG1:.*]] = precis.add %[[RNG]], %[[INC]]
// CHECK: return %{{.*}}, %{{.*}}, %[[RNG1]], %{{.*}} :

// With loss scaling a skipped step keeps the parameters and the optimizer step, but the RNG
// state still counts: the retried step draws a fresh mask.
// SCALED-LABEL: func.func @train_step
// SCALED: %[[RNG1:.*]] = precis.add %{{.*}}, %{{.*}} {precis.phase = "optimizer"} : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
// SCALED-NOT: precis.where %{{.*}}, %[[RNG1]]
// SCALED: return {{.*}}%[[RNG1]]
func.func @forward(%x: tensor<4x3xf32> {precis.onnx_name = "x"}, %t: tensor<4xi64> {precis.onnx_name = "t"}) -> (tensor<f32> {precis.onnx_name = "loss"}) {
  %w = precis.parameter "fc.weight" = dense<0.5> : tensor<2x3xf32>
  %d, %m = precis.dropout %x {ratio = 0.25 : f32, training = true} : (tensor<4x3xf32>) -> (tensor<4x3xf32>, tensor<4x3xi1>)
  %y = precis.gemm %d, %w {transpose_b = true} : (tensor<4x3xf32>, tensor<2x3xf32>) -> tensor<4x2xf32>
  %e, %em = precis.dropout %y {ratio = 0.5 : f32} : (tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<4x2xi1>)
  %z, %zm = precis.dropout %e {ratio = 0.1 : f32, training = true} : (tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<4x2xi1>)
  %l, %lp = precis.softmax_cross_entropy mean %z, %t : (tensor<4x2xf32>, tensor<4xi64>) -> (tensor<f32>, tensor<4x2xf32>)
  return %l : tensor<f32>
}
