// RUN: precis-opt %s -split-input-file -precis-autodiff -precis-optimizer='optimizer=sgd momentum=0.9' | FileCheck %s --check-prefix=SGD
// RUN: precis-opt %s -split-input-file -precis-autodiff -precis-optimizer='optimizer=adamw weight-decay=0.05 clip-grad-norm=1.0' | FileCheck %s --check-prefix=ADAMW
// RUN: precis-opt %s -split-input-file -precis-autodiff -precis-optimizer='optimizer=sgd' | FileCheck %s --check-prefix=PLAIN

// The train_step contract: params, state (per parameter), step, batch, lr ->
// new params, new state, new step, loss. @gradients stays. The optimizer's ops carry
// precis.phase = "optimizer"; the inlined gradient computation keeps its phases.
// SGD-LABEL: func.func @gradients
// SGD-LABEL: func.func @train_step
// SGD-SAME: (%[[W:arg[0-9]+]]: tensor<2x3xf32> {precis.param_name = "fc.weight"}, %[[B:arg[0-9]+]]: tensor<2xf32> {precis.param_name = "fc.bias"},
// SGD-SAME: %[[WM:arg[0-9]+]]: tensor<2x3xf32> {precis.role = "optimizer_state", precis.state_name = "fc.weight.momentum_buffer"}, %[[BM:arg[0-9]+]]: tensor<2xf32> {precis.role = "optimizer_state", precis.state_name = "fc.bias.momentum_buffer"},
// SGD-SAME: %[[STEP:arg[0-9]+]]: tensor<i64> {precis.role = "step", precis.state_name = "step"}, %[[X:arg[0-9]+]]: tensor<4x3xf32> {precis.onnx_name = "x"}, %[[T:arg[0-9]+]]: tensor<4xi64> {precis.onnx_name = "t"}, %[[LR:arg[0-9]+]]: tensor<f32> {precis.lr})
// SGD-SAME: -> (tensor<2x3xf32> {precis.updates = "fc.weight"}, tensor<2xf32> {precis.updates = "fc.bias"}, tensor<2x3xf32> {precis.updates = "fc.weight.momentum_buffer"}, tensor<2xf32> {precis.updates = "fc.bias.momentum_buffer"}, tensor<i64> {precis.updates = "step"}, tensor<f32> {precis.onnx_name = "loss"})
// SGD: %[[L:.*]], %{{.*}} = precis.softmax_cross_entropy mean %{{.*}}, %[[T]]
// SGD: %[[DW:.*]] = precis.gemm %{{.*}}, %[[X]] {precis.phase = "backward", transpose_a = true}
// SGD: %[[DB:.*]] = precis.reshape
// SGD: %[[ONE:.*]] = precis.constant dense<1> : tensor<i64> {precis.phase = "optimizer"}
// SGD: %[[STEP1:.*]] = precis.add %[[STEP]], %[[ONE]] {precis.phase = "optimizer"}
// SGD: %[[T1:.*]] = precis.cast %[[STEP1]] {precis.phase = "optimizer"} : tensor<i64> to tensor<f32>
// SGD: %[[W1:.*]], %[[WM1:.*]] = precis.sgd_update %[[W]], %[[DW]], %[[T1]], %[[LR]], %[[WM]] {momentum = 0.899999976 : f32, precis.phase = "optimizer"}
// SGD: %[[B1:.*]], %[[BM1:.*]] = precis.sgd_update %[[B]], %[[DB]], %[[T1]], %[[LR]], %[[BM]] {momentum = 0.899999976 : f32, precis.phase = "optimizer"}
// SGD: return %[[W1]], %[[B1]], %[[WM1]], %[[BM1]], %[[STEP1]], %[[L]]

// AdamW: two state tensors per parameter (parameter-major); gradients clipped by global norm.
// ADAMW-LABEL: func.func @train_step
// ADAMW-SAME: %[[W:arg[0-9]+]]: tensor<2x3xf32> {precis.param_name = "fc.weight"}, %[[B:arg[0-9]+]]: tensor<2xf32> {precis.param_name = "fc.bias"},
// ADAMW-SAME: %[[WM:arg[0-9]+]]: tensor<2x3xf32> {precis.role = "optimizer_state", precis.state_name = "fc.weight.exp_avg"}, %[[WV:arg[0-9]+]]: tensor<2x3xf32> {precis.role = "optimizer_state", precis.state_name = "fc.weight.exp_avg_sq"},
// ADAMW-SAME: %[[BM:arg[0-9]+]]: tensor<2xf32> {precis.role = "optimizer_state", precis.state_name = "fc.bias.exp_avg"}, %[[BV:arg[0-9]+]]: tensor<2xf32> {precis.role = "optimizer_state", precis.state_name = "fc.bias.exp_avg_sq"},
// ADAMW-SAME: %[[STEP:arg[0-9]+]]: tensor<i64> {precis.role = "step", precis.state_name = "step"}
// ADAMW-SAME: %[[LR:arg[0-9]+]]: tensor<f32> {precis.lr})
// ADAMW-SAME: tensor<2x3xf32> {precis.updates = "fc.weight.exp_avg"}, tensor<2x3xf32> {precis.updates = "fc.weight.exp_avg_sq"}
// ADAMW: %[[DW:.*]] = precis.gemm %{{.*}} {precis.phase = "backward", transpose_a = true}
// ADAMW: %[[DB:.*]] = precis.reshape
// ADAMW: %[[STEP1:.*]] = precis.add %[[STEP]]
// ADAMW: %[[T1:.*]] = precis.cast %[[STEP1]]
// ADAMW: %[[SW:.*]] = precis.reduce_sum %{{.*}} {axes = array<i64>, keepdims = false, precis.phase = "optimizer"} : (tensor<2x3xf32>) -> tensor<f32>
// ADAMW: %[[NORM:.*]] = precis.sqrt
// ADAMW: %[[EPS:.*]] = precis.constant dense<9.99999997E-7> : tensor<f32>
// ADAMW: %[[DEN:.*]] = precis.add %[[NORM]], %[[EPS]]
// ADAMW: %[[RATIO:.*]] = precis.div %{{.*}}, %[[DEN]]
// ADAMW: %[[COEF:.*]] = precis.min %[[RATIO]]
// ADAMW: %[[CW:.*]] = precis.mul %[[DW]], %[[COEF]]
// ADAMW: %[[CB:.*]] = precis.mul %[[DB]], %[[COEF]]
// ADAMW: %[[W1:.*]], %[[WM1:.*]], %[[WV1:.*]] = precis.adam_update %[[W]], %[[CW]], %[[WM]], %[[WV]], %[[T1]], %[[LR]] {decoupled = true, precis.phase = "optimizer", weight_decay = 5.000000e-02 : f32}
// ADAMW: %[[B1:.*]], %[[BM1:.*]], %[[BV1:.*]] = precis.adam_update %[[B]], %[[CB]], %[[BM]], %[[BV]], %[[T1]], %[[LR]] {decoupled = true, precis.phase = "optimizer", weight_decay = 5.000000e-02 : f32}
// ADAMW: return %[[W1]], %[[B1]], %[[WM1]], %[[WV1]], %[[BM1]], %[[BV1]], %[[STEP1]]

// Plain SGD has no state besides the step counter.
// PLAIN-LABEL: func.func @train_step
// PLAIN-SAME: (%{{.*}}: tensor<2x3xf32> {precis.param_name = "fc.weight"}, %{{.*}}: tensor<2xf32> {precis.param_name = "fc.bias"}, %{{.*}}: tensor<i64> {precis.role = "step", precis.state_name = "step"}, %{{.*}}: tensor<4x3xf32> {precis.onnx_name = "x"}
// PLAIN: precis.sgd_update %{{[^ ]*}}, %{{[^ ]*}}, %{{[^ ]*}}, %{{[^ ]*}} {precis.phase = "optimizer"} : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<f32>, tensor<f32>) -> tensor<2x3xf32>
func.func @forward(%x: tensor<4x3xf32> {precis.onnx_name = "x"}, %t: tensor<4xi64> {precis.onnx_name = "t"}) -> (tensor<f32> {precis.onnx_name = "loss"}) {
  %w = precis.parameter "fc.weight" = dense<0.5> : tensor<2x3xf32>
  %b = precis.parameter "fc.bias" = dense<0.1> : tensor<2xf32>
  %y = precis.gemm %x, %w, %b {transpose_b = true} : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %l, %lp = precis.softmax_cross_entropy mean %y, %t : (tensor<4x2xf32>, tensor<4xi64>) -> (tensor<f32>, tensor<4x2xf32>)
  return %l : tensor<f32>
}
