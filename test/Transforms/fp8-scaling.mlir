// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=fp8 -precis-insert-casts -canonicalize -precis-fp8-scaling | FileCheck %s
// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=fp8 -precis-insert-casts -canonicalize -precis-fp8-scaling='recipe=current' | FileCheck %s --check-prefix=CURRENT

// Outside @train_step, scaling is current: amax of the operand itself, scale = 448 / amax,
// quantize x * scale, descale 1 / scale into the scaled GEMM.
// CHECK-LABEL: func.func @forward
// CHECK: %[[AMAX:.*]] = precis.reduce_max %{{.*}} {axes = array<i64>, keepdims = false, {{.*}}#precis.decision<fp8.scaling 
// CHECK: %[[MAX:.*]] = precis.constant dense<4.480000e+02>
// CHECK: %[[S:.*]] = precis.div %[[MAX]], %[[AMAX]]
// CHECK: %[[SCALE:.*]] = precis.where %{{.*}}, %[[S]], %{{.*}}
// CHECK: %[[XS:.*]] = precis.mul %{{.*}}, %[[SCALE]]
// CHECK: %[[Q:.*]] = precis.cast %[[XS]] {{.*}} : tensor<16x32xf32> to tensor<16x32xf8E4M3FN>
// CHECK: precis.scaled_matmul %[[Q]], %{{.*}}, %{{.*}}, %{{.*}} {acc_type = f32, {{.*}}} : (tensor<16x32xf8E4M3FN>, tensor<32x16xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<16x16xbf16>
// CHECK-NOT: precis.matmul
func.func @forward(%x: tensor<16x32xf32>) -> tensor<16x16xf32> {
  %w = precis.parameter "w" = dense<0.5> : tensor<32x16xf32>
  %y = precis.matmul %x, %w : (tensor<16x32xf32>, tensor<32x16xf32>) -> tensor<16x16xf32>
  return %y : tensor<16x16xf32>
}

// -----

// In @train_step, delayed scaling: one amax history per quantized value joins the state
// before `step` (a weight read by two GEMMs has one), the scale comes from the history's
// maximum, and the new history (this step's amax first) is returned before the new step.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[W:arg[0-9]+]]: tensor<16x16xf32> {precis.param_name = "w"}
// CHECK-SAME: tensor<16xf32> {precis.role = "fp8_amax_history", precis.state_name = "fp8.0.amax_history"}
// CHECK-SAME: tensor<16xf32> {precis.role = "fp8_amax_history", precis.state_name = "fp8.1.amax_history"}
// CHECK-SAME: tensor<16xf32> {precis.role = "fp8_amax_history", precis.state_name = "fp8.2.amax_history"}
// CHECK-NOT: fp8.3.amax_history
// CHECK-SAME: %{{.*}}: tensor<f32> {precis.state_name = "step"}
// CHECK-SAME: -> (tensor<16x16xf32> {precis.updates = "w"}, tensor<16xf32> {precis.updates = "fp8.0.amax_history"}, tensor<16xf32> {precis.updates = "fp8.1.amax_history"}, tensor<16xf32> {precis.updates = "fp8.2.amax_history"}, tensor<f32> {precis.updates = "step"}, tensor<f32> {precis.onnx_name = "loss"})
// CHECK: precis.concat
// CHECK-COUNT-2: precis.scaled_matmul
// CURRENT-LABEL: func.func @train_step
// CURRENT-NOT: amax_history
// CURRENT: precis.scaled_matmul
func.func @train_step(%w: tensor<16x16xf32> {precis.param_name = "w"}, %step: tensor<f32> {precis.state_name = "step"}, %x: tensor<16x16xf32> {precis.onnx_name = "x"}) -> (tensor<16x16xf32> {precis.updates = "w"}, tensor<f32> {precis.updates = "step"}, tensor<f32> {precis.onnx_name = "loss"}) {
  %a = precis.matmul %x, %w : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %b = precis.matmul %a, %w : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %l = precis.reduce_sum %b {axes = array<i64>, keepdims = false} : (tensor<16x16xf32>) -> tensor<f32>
  return %w, %step, %l : tensor<16x16xf32>, tensor<f32>, tensor<f32>
}
