// RUN: precis-opt %s -split-input-file -precis-autodiff -precis-data-parallel | FileCheck %s
// RUN: precis-opt %s -split-input-file -precis-autodiff -precis-data-parallel='bucket-mb=0.00005 reduction=sum' | FileCheck %s --check-prefix=SMALL
// RUN: precis-opt %s -split-input-file -precis-autodiff -precis-data-parallel -precis-optimizer='optimizer=adamw zero-stage=1 world-size=3' | FileCheck %s --check-prefix=ZERO
// RUN: precis-opt %S/Inputs/data-parallel-fp8.mlir -precis-training-pipeline='precision=fp8 optimizer=adamw data-parallel=true' | FileCheck %s --check-prefix=FP8
// RUN: precis-opt %s -split-input-file -precis-autodiff -precis-data-parallel -precis-optimizer='optimizer=adamw zero-stage=1 world-size=3' | FileCheck %s --check-prefix=ZERO
// RUN: precis-opt %S/Inputs/data-parallel-fp8.mlir -precis-training-pipeline='precision=fp8 optimizer=adamw' | FileCheck %s --check-prefix=ALONE

// One bucket (the default 4 MiB holds everything): the loss and every gradient, averaged,
// right after the last gradient the backward pass computes (fc1's, the first layer's); the
// return hands on the reduced values.
// CHECK-LABEL: func.func @gradients
// CHECK: %[[L:[a-z0-9_]+]], %{{.*}} = precis.softmax_cross_entropy
// CHECK: %[[DW2:.*]] = precis.gemm %{{.*}} {precis.phase = "backward", transpose_a = true} : (tensor<16x2xf32>, tensor<16x8xf32>) -> tensor<2x8xf32>
// CHECK: %[[DW1:.*]] = precis.gemm %{{.*}} {precis.phase = "backward", transpose_a = true} : (tensor<16x8xf32>, tensor<16x3xf32>) -> tensor<8x3xf32>
// CHECK: %[[DB1:.*]] = precis.reshape %{{.*}} : tensor<1x8xf32> to tensor<8xf32>
// CHECK-NEXT: %[[R:.*]]:5 = precis.all_reduce %[[L]], %[[DW2]], %{{.*}}, %[[DW1]], %[[DB1]] {precis.phase = "backward", reduction = 1 : i32} : tensor<f32>, tensor<2x8xf32>, tensor<2xf32>, tensor<8x3xf32>, tensor<8xf32> -> tensor<f32>, tensor<2x8xf32>, tensor<2xf32>, tensor<8x3xf32>, tensor<8xf32>
// CHECK-NEXT: return %[[R]]#0, %[[R]]#3, %[[R]]#4, %[[R]]#1, %[[R]]#2
// CHECK-NOT: all_reduce

// Buckets of 52 bytes: a bucket closes once it holds that many, so fc2.weight's gradient (64
// bytes) closes the first (with the loss), fc2.bias + fc1.weight the second, fc1.bias is the
// third; each starts as soon as its last gradient exists. Sum (the default reduction) is not
// printed.
// SMALL-LABEL: func.func @gradients
// SMALL: %[[DW2:.*]] = precis.gemm %{{.*}} : (tensor<16x2xf32>, tensor<16x8xf32>) -> tensor<2x8xf32>
// SMALL-NEXT: %[[B0:.*]]:2 = precis.all_reduce %loss, %[[DW2]] {precis.phase = "backward"} : tensor<f32>, tensor<2x8xf32> -> tensor<f32>, tensor<2x8xf32>
// SMALL: %[[DW1:.*]] = precis.gemm %{{.*}} -> tensor<8x3xf32>
// SMALL-NEXT: %[[B1:.*]]:2 = precis.all_reduce %{{.*}}, %[[DW1]] {precis.phase = "backward"} : tensor<2xf32>, tensor<8x3xf32> -> tensor<2xf32>, tensor<8x3xf32>
// SMALL: %[[DB1:.*]] = precis.reshape %{{.*}} : tensor<1x8xf32> to tensor<8xf32>
// SMALL-NEXT: %[[B2:.*]] = precis.all_reduce %[[DB1]] {precis.phase = "backward"} : tensor<8xf32> -> tensor<8xf32>
// SMALL-NEXT: return %[[B0]]#0, %[[B1]]#1, %[[B2]], %[[B0]]#1, %[[B1]]#0

// ZeRO stage 1 over 3 ranks: the 50 parameter elements, flattened in parameter order and
// padded to 51, give each rank a share of 17; the state is one f32[17] per kind, the update
// runs once on the shares of the parameters and the reduced gradients, and all_gather joins
// the updated shares back into the parameters.
// ZERO-LABEL: func.func @train_step
// ZERO-SAME: %{{.*}}: tensor<17xf32> {precis.role = "optimizer_state", precis.state_name = "zero1.exp_avg"}, %{{.*}}: tensor<17xf32> {precis.role = "optimizer_state", precis.state_name = "zero1.exp_avg_sq"}
// ZERO-SAME: -> (tensor<8x3xf32> {precis.updates = "fc1.weight"}, tensor<8xf32> {precis.updates = "fc1.bias"}, tensor<2x8xf32> {precis.updates = "fc2.weight"}, tensor<2xf32> {precis.updates = "fc2.bias"}, tensor<17xf32> {precis.updates = "zero1.exp_avg"}, tensor<17xf32> {precis.updates = "zero1.exp_avg_sq"}
// ZERO: %[[R:.*]]:5 = precis.all_reduce
// ZERO: %[[PAD:.*]] = precis.constant dense<0.000000e+00> : tensor<1xf32>
// ZERO: %[[FLATP:.*]] = precis.concat %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[PAD]] {axis = 0 : i64, precis.phase = "optimizer"} : (tensor<24xf32>, tensor<8xf32>, tensor<16xf32>, tensor<2xf32>, tensor<1xf32>) -> tensor<51xf32>
// ZERO: %[[P:.*]] = precis.shard %[[FLATP]] {precis.phase = "optimizer"} : tensor<51xf32> -> tensor<17xf32>
// ZERO: precis.reshape %[[R]]#3 {{.*}} : tensor<8x3xf32> to tensor<24xf32>
// ZERO: %[[G:.*]] = precis.shard %{{.*}} : tensor<51xf32> -> tensor<17xf32>
// ZERO: %[[NP:[a-z_0-9]+]], %[[M:[a-z_0-9]+]], %[[V:[a-z_0-9]+]] = precis.adam_update %[[P]], %[[G]], %{{.*}} : (tensor<17xf32>, tensor<17xf32>, tensor<17xf32>, tensor<17xf32>, tensor<f32>, tensor<f32>)
// ZERO: %[[ALL:.*]] = precis.all_gather %[[NP]] {precis.phase = "optimizer"} : tensor<17xf32> -> tensor<51xf32>
// ZERO: %[[W1:.*]] = precis.slice %[[ALL]] {limit = array<i64: 24>, precis.phase = "optimizer", start = array<i64: 0>, step = array<i64: 1>} : (tensor<51xf32>) -> tensor<24xf32>
// ZERO: precis.slice %[[ALL]] {limit = array<i64: 50>, precis.phase = "optimizer", start = array<i64: 48>
// ZERO: return %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[M]], %[[V]]

// The whole pipeline under fp8 (Inputs/data-parallel-fp8.mlir: the same model, with the
// dimensions fp8 GEMMs need): the optimizer reads the reduced gradients (the all_reduce is
// inlined into @train_step), and the amaxes of every fp8 operand are reduced with max before
// they enter their histories.
// FP8-LABEL: func.func @train_step
// FP8: precis.all_reduce {{.*}} reduction = 1 : i32} : tensor<f32>, tensor<16x16xf32>
// FP8: precis.adam_update
// FP8: %[[AMAX:.*]]:6 = precis.all_reduce {{.*}}"fp8 amaxes of every rank, reduced with max so that all ranks keep the same amax histories">, precis.phase = "optimizer", reduction = 2 : i32} : tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>
// FP8-NEXT: precis.reshape %[[AMAX]]#0
// FP8: return

// Without data-parallel there is no collective at all.
// ALONE-NOT: all_reduce

func.func @forward(%x: tensor<16x3xf32> {precis.onnx_name = "x"}, %t: tensor<16xi64> {precis.onnx_name = "t"}) -> (tensor<f32> {precis.onnx_name = "loss"}) {
  %w1 = precis.parameter "fc1.weight" = dense<0.5> : tensor<8x3xf32>
  %b1 = precis.parameter "fc1.bias" = dense<0.1> : tensor<8xf32>
  %w2 = precis.parameter "fc2.weight" = dense<0.25> : tensor<2x8xf32>
  %b2 = precis.parameter "fc2.bias" = dense<0.1> : tensor<2xf32>
  %h = precis.gemm %x, %w1, %b1 {transpose_b = true} : (tensor<16x3xf32>, tensor<8x3xf32>, tensor<8xf32>) -> tensor<16x8xf32>
  %r = precis.relu %h : tensor<16x8xf32>
  %y = precis.gemm %r, %w2, %b2 {transpose_b = true} : (tensor<16x8xf32>, tensor<2x8xf32>, tensor<2xf32>) -> tensor<16x2xf32>
  %l, %lp = precis.softmax_cross_entropy mean %y, %t : (tensor<16x2xf32>, tensor<16xi64>) -> (tensor<f32>, tensor<16x2xf32>)
  return %l : tensor<f32>
}
