// RUN: precis-opt %s -split-input-file -precis-autodiff -precis-data-parallel | FileCheck %s
// RUN: precis-opt %s -split-input-file -precis-autodiff -precis-data-parallel='bucket-mb=0.00005 reduction=sum' | FileCheck %s --check-prefix=SMALL
// RUN: precis-opt %S/Inputs/data-parallel-fp8.mlir -precis-training-pipeline='precision=fp8 optimizer=adamw data-parallel=true' | FileCheck %s --check-prefix=FP8
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
