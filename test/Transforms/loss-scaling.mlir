// RUN: precis-opt %s -split-input-file -precis-autodiff -precis-optimizer='optimizer=sgd momentum=0.9' -precis-loss-scaling | FileCheck %s
// RUN: precis-opt %s -split-input-file -precis-autodiff -precis-optimizer='optimizer=adamw clip-grad-norm=1.0' -precis-loss-scaling='init-scale=1024 growth-factor=4 backoff-factor=0.25 growth-interval=10' | FileCheck %s --check-prefix=OPTS

// The scaler state follows the step counter, in the arguments and in the results; the scale
// records its initial value for the runtime.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[W:arg[0-9]+]]: tensor<2x3xf32> {precis.param_name = "fc.weight"}, %[[B:arg[0-9]+]]: tensor<2xf32> {precis.param_name = "fc.bias"},
// CHECK-SAME: %[[WM:arg[0-9]+]]: tensor<2x3xf32> {precis.role = "optimizer_state", precis.state_name = "fc.weight.momentum_buffer"}, %[[BM:arg[0-9]+]]: tensor<2xf32> {precis.role = "optimizer_state", precis.state_name = "fc.bias.momentum_buffer"},
// CHECK-SAME: %[[STEP:arg[0-9]+]]: tensor<i64> {precis.role = "step", precis.state_name = "step"},
// CHECK-SAME: %[[SCALE:arg[0-9]+]]: tensor<f32> {precis.initial_value = dense<6.553600e+04> : tensor<f32>, precis.role = "loss_scale", precis.state_name = "loss_scale"},
// CHECK-SAME: %[[TRACKER:arg[0-9]+]]: tensor<f32> {precis.role = "loss_scale", precis.state_name = "loss_scale.growth_tracker"},
// CHECK-SAME: %{{.*}}: tensor<4x3xf32> {precis.onnx_name = "x"}
// CHECK-SAME: tensor<i64> {precis.updates = "step"}, tensor<f32> {precis.updates = "loss_scale"}, tensor<f32> {precis.updates = "loss_scale.growth_tracker"}, tensor<f32> {precis.onnx_name = "loss"})
// The backward sweep starts from d loss / d loss = scale.
// CHECK: %[[L:.*]], %{{.*}} = precis.softmax_cross_entropy mean
// CHECK: %[[ONE:.*]] = precis.constant dense<1.000000e+00> : tensor<f32> {precis.loss_seed, precis.phase = "backward"}
// CHECK-NEXT: %[[SEED:.*]] = precis.mul %[[ONE]], %[[SCALE]] {precis.phase = "backward"}
// CHECK-NEXT: precis.nll_loss_grad mean %[[SEED]]
// CHECK: %[[DW:.*]] = precis.gemm {{.*}}transpose_a = true
// CHECK: %[[DB:.*]] = precis.reshape
// The scaled gradients are checked, then unscaled in f32 before the optimizer reads them.
// CHECK-NEXT: %[[OK:.*]] = precis.all_finite %[[DW]], %[[DB]] {precis.phase = "optimizer"} : tensor<2x3xf32>, tensor<2xf32> -> tensor<i1>
// CHECK-NEXT: %[[INV:.*]] = precis.reciprocal %[[SCALE]] {precis.phase = "optimizer"}
// CHECK-NEXT: %[[UDW:.*]] = precis.mul %[[DW]], %[[INV]]
// CHECK-NEXT: %[[UDB:.*]] = precis.mul %[[DB]], %[[INV]]
// CHECK: %[[STEP1:.*]] = precis.add %[[STEP]]
// CHECK-NEXT: %[[T1:.*]] = precis.cast %[[STEP1]]
// CHECK-NEXT: %[[W1:.*]], %[[WM1:.*]] = precis.sgd_update %[[W]], %[[UDW]], %[[T1]], %{{[^ ]*}}, %[[WM]]
// CHECK-NEXT: %[[B1:.*]], %[[BM1:.*]] = precis.sgd_update %[[B]], %[[UDB]], %[[T1]], %{{[^ ]*}}, %[[BM]]
// A step with a non-finite gradient changes no parameter, no optimizer state, no step count.
// CHECK-NEXT: %[[W2:.*]] = precis.where %[[OK]], %[[W1]], %[[W]]
// CHECK-NEXT: %[[B2:.*]] = precis.where %[[OK]], %[[B1]], %[[B]]
// CHECK-NEXT: %[[WM2:.*]] = precis.where %[[OK]], %[[WM1]], %[[WM]]
// CHECK-NEXT: %[[BM2:.*]] = precis.where %[[OK]], %[[BM1]], %[[BM]]
// CHECK-NEXT: %[[STEP2:.*]] = precis.where %[[OK]], %[[STEP1]], %[[STEP]]
// GradScaler.update: clean steps count up to 2000 and double the scale (unless that would
// overflow); an overflow halves it; both reset the count.
// CHECK-NEXT: %[[ZERO:.*]] = precis.constant dense<0.000000e+00>
// CHECK-NEXT: %[[C1:.*]] = precis.constant dense<1.000000e+00>
// CHECK-NEXT: %[[COUNT:.*]] = precis.add %[[TRACKER]], %[[C1]]
// CHECK-NEXT: %[[INTERVAL:.*]] = precis.constant dense<2.000000e+03>
// CHECK-NEXT: %[[GROW:.*]] = precis.compare eq, %[[COUNT]], %[[INTERVAL]]
// The largest scale that doubles without overflow: FLT_MAX / 2 (rounded down).
// CHECK-NEXT: %[[LIMIT:.*]] = precis.constant dense<1.70141173E+38>
// CHECK-NEXT: %[[CAN:.*]] = precis.compare le, %[[SCALE]], %[[LIMIT]]
// CHECK-NEXT: %[[TWO:.*]] = precis.constant dense<2.000000e+00>
// CHECK-NEXT: %[[KEEP:.*]] = precis.constant dense<1.000000e+00>
// CHECK-NEXT: %[[FACTOR:.*]] = precis.where %[[CAN]], %[[TWO]], %[[KEEP]]
// CHECK-NEXT: %[[GROWN:.*]] = precis.mul %[[SCALE]], %[[FACTOR]]
// CHECK-NEXT: %[[CLEAN:.*]] = precis.where %[[GROW]], %[[GROWN]], %[[SCALE]]
// CHECK-NEXT: %[[CLEANT:.*]] = precis.where %[[GROW]], %[[ZERO]], %[[COUNT]]
// CHECK-NEXT: %[[HALF:.*]] = precis.constant dense<5.000000e-01>
// CHECK-NEXT: %[[BACKOFF:.*]] = precis.mul %[[SCALE]], %[[HALF]]
// CHECK-NEXT: %[[S2:.*]] = precis.where %[[OK]], %[[CLEAN]], %[[BACKOFF]]
// CHECK-NEXT: %[[T2:.*]] = precis.where %[[OK]], %[[CLEANT]], %[[ZERO]]
// CHECK-NEXT: return %[[W2]], %[[B2]], %[[WM2]], %[[BM2]], %[[STEP2]], %[[S2]], %[[T2]], %[[L]]

// With gradient clipping, the clipping reads the unscaled gradients (as after
// scaler.unscale_); the options set the constants.
// OPTS-LABEL: func.func @train_step
// OPTS-SAME: precis.initial_value = dense<1.024000e+03> : tensor<f32>, precis.role = "loss_scale", precis.state_name = "loss_scale"
// OPTS: %[[DW:.*]] = precis.gemm {{.*}}transpose_a = true
// OPTS: %[[DB:.*]] = precis.reshape
// OPTS-NEXT: %[[OK:.*]] = precis.all_finite %[[DW]], %[[DB]]
// OPTS-NEXT: %[[INV:.*]] = precis.reciprocal
// OPTS-NEXT: %[[UDW:.*]] = precis.mul %[[DW]], %[[INV]]
// OPTS-NEXT: %[[UDB:.*]] = precis.mul %[[DB]], %[[INV]]
// OPTS: precis.mul %[[UDW]], %[[UDW]]
// OPTS: precis.mul %[[UDB]], %[[UDB]]
// OPTS: precis.adam_update
// OPTS: precis.constant dense<1.000000e+01>
// OPTS: precis.constant dense<8.50705867E+37>
// OPTS: precis.constant dense<4.000000e+00>
// OPTS: precis.constant dense<2.500000e-01>
func.func @forward(%x: tensor<4x3xf32> {precis.onnx_name = "x"}, %t: tensor<4xi64> {precis.onnx_name = "t"}) -> (tensor<f32> {precis.onnx_name = "loss"}) {
  %w = precis.parameter "fc.weight" = dense<0.5> : tensor<2x3xf32>
  %b = precis.parameter "fc.bias" = dense<0.1> : tensor<2xf32>
  %y = precis.gemm %x, %w, %b {transpose_b = true} : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %l, %lp = precis.softmax_cross_entropy mean %y, %t : (tensor<4x2xf32>, tensor<4xi64>) -> (tensor<f32>, tensor<4x2xf32>)
  return %l : tensor<f32>
}
