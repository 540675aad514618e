// RUN: precis-opt %s -split-input-file | precis-opt -split-input-file | FileCheck %s
// RUN: precis-opt %s -split-input-file -mlir-print-op-generic | precis-opt -split-input-file | FileCheck %s

// The backward ops the autodiff pass builds parse, verify, print and parse back.

// CHECK-LABEL: func @conv_grads
func.func @conv_grads(%x: tensor<2x4x9x9xf32>, %w: tensor<8x2x3x3xf32>, %dy: tensor<2x8x5x5xf32>) {
  // CHECK: precis.conv2d_grad_input %{{.*}}, %{{.*}} {groups = 2 : i64, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x8x5x5xf32>, tensor<8x2x3x3xf32>) -> tensor<2x4x9x9xf32>
  %0 = precis.conv2d_grad_input %dy, %w {groups = 2 : i64, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x8x5x5xf32>, tensor<8x2x3x3xf32>) -> tensor<2x4x9x9xf32>
  // CHECK: precis.conv2d_grad_weight %{{.*}}, %{{.*}} {groups = 2 : i64, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x4x9x9xf32>, tensor<2x8x5x5xf32>) -> tensor<8x2x3x3xf32>
  %1 = precis.conv2d_grad_weight %x, %dy {groups = 2 : i64, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x4x9x9xf32>, tensor<2x8x5x5xf32>) -> tensor<8x2x3x3xf32>
  return
}

// -----

// CHECK-LABEL: func @pool_gather_loss_grads
func.func @pool_gather_loss_grads(%x: tensor<1x2x5x5xf64>, %dy: tensor<1x2x3x3xf64>,
                                  %de: tensor<8x16x32xf32>, %ids: tensor<8x16xi64>,
                                  %dl: tensor<f32>, %t: tensor<8xi64>, %wt: tensor<10xf32>,
                                  %de2: tensor<8x16xf32>) {
  // CHECK: precis.max_pool2d_grad %{{.*}}, %{{.*}} {kernel = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<1x2x3x3xf64>, tensor<1x2x5x5xf64>) -> tensor<1x2x5x5xf64>
  %0 = precis.max_pool2d_grad %dy, %x {kernel = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<1x2x3x3xf64>, tensor<1x2x5x5xf64>) -> tensor<1x2x5x5xf64>
  // CHECK: precis.gather_grad %{{.*}}, %{{.*}} : (tensor<8x16x32xf32>, tensor<8x16xi64>) -> tensor<64x32xf32>
  %1 = precis.gather_grad %de, %ids {axis = 0 : i64} : (tensor<8x16x32xf32>, tensor<8x16xi64>) -> tensor<64x32xf32>
  // CHECK: precis.gather_elements_grad %{{.*}}, %{{.*}} {axis = 1 : i64} : (tensor<8x16xf32>, tensor<8x16xi64>) -> tensor<8x20xf32>
  %ge = precis.gather_elements_grad %de2, %ids {axis = 1 : i64} : (tensor<8x16xf32>, tensor<8x16xi64>) -> tensor<8x20xf32>
  // CHECK: precis.nll_loss_grad mean %{{.*}}, %{{.*}}, %{{.*}} {ignore_index = -100 : i64} : (tensor<f32>, tensor<8xi64>, tensor<10xf32>) -> tensor<8x10xf32>
  %2 = precis.nll_loss_grad mean %dl, %t, %wt {ignore_index = -100 : i64} : (tensor<f32>, tensor<8xi64>, tensor<10xf32>) -> tensor<8x10xf32>
  return
}

// -----

// CHECK-LABEL: func @avg_pool_slice_grads
func.func @avg_pool_slice_grads(%dy: tensor<1x2x3x3xf32>, %ds: tensor<3x2xbf16>) {
  // CHECK: precis.avg_pool2d_grad %{{.*}} {count_include_pad = true, kernel = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<1x2x3x3xf32>) -> tensor<1x2x5x5xf32>
  %0 = precis.avg_pool2d_grad %dy {count_include_pad = true, kernel = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<1x2x3x3xf32>) -> tensor<1x2x5x5xf32>
  // CHECK: precis.slice_grad %{{.*}} {limit = array<i64: -1, 6>, start = array<i64: 4, 1>, step = array<i64: -2, 3>} : (tensor<3x2xbf16>) -> tensor<5x6xbf16>
  %1 = precis.slice_grad %ds {start = array<i64: 4, 1>, limit = array<i64: -1, 6>, step = array<i64: -2, 3>} : (tensor<3x2xbf16>) -> tensor<5x6xbf16>
  return
}

// -----

// CHECK-LABEL: func @resize_grad
func.func @resize_grad(%dy: tensor<1x3x16x12xf32>) -> tensor<1x3x8x8xf32> {
  // CHECK: precis.resize_grad %{{.*}} {coordinate_transformation_mode = "align_corners", mode = "linear", scales = array<f64: 1.000000e+00, 1.000000e+00, 2.000000e+00, 1.500000e+00>} : (tensor<1x3x16x12xf32>) -> tensor<1x3x8x8xf32>
  %0 = precis.resize_grad %dy {mode = "linear", coordinate_transformation_mode = "align_corners", scales = array<f64: 1.0, 1.0, 2.0, 1.5>} : (tensor<1x3x16x12xf32>) -> tensor<1x3x8x8xf32>
  // CHECK: precis.resize_grad %{{.*}} {antialias = true, mode = "cubic", scales = array<f64: 1.000000e+00, 1.000000e+00, 5.000000e-01, 1.500000e+00>} : (tensor<1x3x16x12xf32>) -> tensor<1x3x32x8xf32>
  %1 = precis.resize_grad %dy {mode = "cubic", antialias = true, scales = array<f64: 1.0, 1.0, 0.5, 1.5>} : (tensor<1x3x16x12xf32>) -> tensor<1x3x32x8xf32>
  return %0 : tensor<1x3x8x8xf32>
}

// -----

// CHECK-LABEL: func @attention_grad
func.func @attention_grad(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x2x8x16xf32>,
                          %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>, %do: tensor<2x4x8x16xf32>,
                          %m: tensor<8x8xf32>) {
  // CHECK: precis.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {is_causal = true, scale = 2.500000e-01 : f32}
  %0:3 = precis.attention_grad %q, %k, %v, %o, %lse, %do, %m {scale = 0.25 : f32, is_causal = true} : (tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>, tensor<2x4x8x16xf32>, tensor<8x8xf32>) -> (tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x2x8x16xf32>)
  return
}
