// RUN: precis-opt %s -split-input-file | precis-opt -split-input-file | FileCheck %s
// RUN: precis-opt %s -split-input-file -mlir-print-op-generic | precis-opt -split-input-file | FileCheck %s

// Every op parses, verifies, prints and parses back to the same form.

// CHECK-LABEL: func @compute
func.func @compute(%a: tensor<4x16x32xbf16>, %b: tensor<64x32xbf16>, %c: tensor<8x32xf32>,
                   %d: tensor<10x32xf32>, %e: tensor<10xf32>, %x: tensor<2x4x9x9xf16>,
                   %w: tensor<8x2x3x3xf16>, %wb: tensor<8xf16>, %w2: tensor<8x4x3x3xf16>) {
  // CHECK: precis.matmul %{{.*}}, %{{.*}} {acc_type = f32, transpose_rhs = true} : (tensor<4x16x32xbf16>, tensor<64x32xbf16>) -> tensor<4x16x64xf32>
  %0 = precis.matmul %a, %b {transpose_rhs = true, acc_type = f32} : (tensor<4x16x32xbf16>, tensor<64x32xbf16>) -> tensor<4x16x64xf32>
  // CHECK: precis.gemm %{{.*}}, %{{.*}}, %{{.*}} {alpha = 5.000000e-01 : f32, transpose_b = true}
  %1 = precis.gemm %c, %d, %e {transpose_b = true, alpha = 0.5 : f32} : (tensor<8x32xf32>, tensor<10x32xf32>, tensor<10xf32>) -> tensor<8x10xf32>
  // CHECK: precis.gemm %{{.*}}, %{{.*}} {transpose_b = true} : (tensor<8x32xf32>, tensor<10x32xf32>) -> tensor<8x10xf32>
  %2 = precis.gemm %c, %d {transpose_b = true} : (tensor<8x32xf32>, tensor<10x32xf32>) -> tensor<8x10xf32>
  // CHECK: precis.conv2d %{{.*}}, %{{.*}}, %{{.*}} {groups = 2 : i64, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>}
  %3 = precis.conv2d %x, %w, %wb {groups = 2 : i64, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x4x9x9xf16>, tensor<8x2x3x3xf16>, tensor<8xf16>) -> tensor<2x8x5x5xf16>
  // CHECK: precis.conv2d %{{.*}}, %{{.*}} {dilations = array<i64: 2, 2>} : (tensor<2x4x9x9xf16>, tensor<8x4x3x3xf16>) -> tensor<2x8x5x5xf16>
  %4 = precis.conv2d %x, %w2 {dilations = array<i64: 2, 2>} : (tensor<2x4x9x9xf16>, tensor<8x4x3x3xf16>) -> tensor<2x8x5x5xf16>
  return
}

// -----

// CHECK-LABEL: func @elementwise
func.func @elementwise(%a: tensor<4x8xf32>, %b: tensor<8xf32>, %s: tensor<f32>, %i: tensor<4xi64>) {
  // CHECK: precis.add %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %0 = precis.add %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK: precis.sub
  %1 = precis.sub %a, %s : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  // CHECK: precis.mul
  %2 = precis.mul %b, %a : (tensor<8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  // CHECK: precis.div
  %3 = precis.div %a, %a : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  // CHECK: precis.pow
  %4 = precis.pow %a, %s : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  // CHECK: precis.max
  %5 = precis.max %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK: precis.min
  %6 = precis.min %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK: precis.add {{.*}} : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  %7 = precis.add %i, %i : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  // CHECK: precis.neg %{{.*}} : tensor<4x8xf32>
  %8 = precis.neg %a : tensor<4x8xf32>
  // CHECK: precis.abs
  %9 = precis.abs %a : tensor<4x8xf32>
  // CHECK: precis.relu
  %10 = precis.relu %a : tensor<4x8xf32>
  // CHECK: precis.leaky_relu %{{.*}} {alpha = 2.000000e-01 : f32} : tensor<4x8xf32>
  %11 = precis.leaky_relu %a {alpha = 0.2 : f32} : tensor<4x8xf32>
  // CHECK: precis.gelu %{{.*}} : tensor<4x8xf32>
  %12 = precis.gelu %a : tensor<4x8xf32>
  // CHECK: precis.gelu %{{.*}} approximation = tanh : tensor<4x8xf32>
  %13 = precis.gelu %a approximation = tanh : tensor<4x8xf32>
  // CHECK: precis.tanh
  %14 = precis.tanh %a : tensor<4x8xf32>
  // CHECK: precis.sigmoid
  %15 = precis.sigmoid %a : tensor<4x8xf32>
  // CHECK: precis.erf
  %16 = precis.erf %a : tensor<4x8xf32>
  // CHECK: precis.exp
  %17 = precis.exp %a : tensor<4x8xf32>
  // CHECK: precis.log
  %18 = precis.log %a : tensor<4x8xf32>
  // CHECK: precis.sqrt
  %19 = precis.sqrt %a : tensor<4x8xf32>
  // CHECK: precis.rsqrt
  %20 = precis.rsqrt %a : tensor<4x8xf32>
  // CHECK: precis.reciprocal
  %21 = precis.reciprocal %a : tensor<4x8xf32>
  // CHECK: precis.argmax %{{.*}} {axis = 1 : i64, keepdims = false, select_last_index = true} : (tensor<4x8xf32>) -> tensor<4xi64>
  %argmax = precis.argmax %a {axis = 1 : i64, keepdims = false, select_last_index = true} : (tensor<4x8xf32>) -> tensor<4xi64>
  // CHECK: precis.argmin %{{.*}} {axis = 0 : i64} : (tensor<4x8xf32>) -> tensor<1x8xi64>
  %argmin = precis.argmin %a {axis = 0 : i64} : (tensor<4x8xf32>) -> tensor<1x8xi64>
  // CHECK: precis.topk %{{.*}} {axis = 1 : i64, k = 3 : i64, largest = false} : (tensor<4x8xf32>) -> (tensor<4x3xf32>, tensor<4x3xi64>)
  %topv, %topi = precis.topk %a {axis = 1 : i64, k = 3 : i64, largest = false} : (tensor<4x8xf32>) -> (tensor<4x3xf32>, tensor<4x3xi64>)
  // CHECK: precis.softplus %{{.*}} : tensor<4x8xf32>
  %softplus = precis.softplus %a : tensor<4x8xf32>
  // CHECK: precis.sin %{{.*}} : tensor<4x8xf32>
  %sin = precis.sin %a : tensor<4x8xf32>
  // CHECK: precis.cos %{{.*}} : tensor<4x8xf32>
  %cos = precis.cos %a : tensor<4x8xf32>
  // CHECK: precis.hard_sigmoid %{{.*}} {alpha = 0.166666672 : f32} : tensor<4x8xf32>
  %hsig = precis.hard_sigmoid %a {alpha = 0.166666672 : f32, beta = 0.5 : f32} : tensor<4x8xf32>
  // CHECK: precis.hard_sigmoid %{{.*}} : tensor<4x8xf32>
  %hsig2 = precis.hard_sigmoid %a : tensor<4x8xf32>
  // CHECK: precis.is_nan %{{.*}} : tensor<4x8xf32> -> tensor<4x8xi1>
  %isnan = precis.is_nan %a : tensor<4x8xf32> -> tensor<4x8xi1>
  // CHECK: precis.mod %{{.*}}, %{{.*}} {fmod = true} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %mod = precis.mod %a, %b {fmod = true} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK: precis.mod %{{.*}}, %{{.*}} : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  %imod = precis.mod %i, %i : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  // CHECK: precis.pad %{{.*}} {pads = array<i64: 1, 0, 2, 3>, value = -1.500000e+00 : f64} : (tensor<4x8xf32>) -> tensor<7x11xf32>
  %pad = precis.pad %a {pads = array<i64: 1, 0, 2, 3>, value = -1.5 : f64} : (tensor<4x8xf32>) -> tensor<7x11xf32>
  // CHECK: precis.trilu %{{.*}} {k = -1 : i64, upper = false} : tensor<4x8xf32>
  %tril = precis.trilu %a {upper = false, k = -1 : i64} : tensor<4x8xf32>
  // CHECK: precis.trilu %{{.*}} : tensor<4x8xf32>
  %triu = precis.trilu %a : tensor<4x8xf32>
  // CHECK: precis.cumsum %{{.*}} {axis = 1 : i64, exclusive = true, reverse = true} : tensor<4x8xf32>
  %cum = precis.cumsum %a {axis = 1 : i64, exclusive = true, reverse = true} : tensor<4x8xf32>
  // CHECK: precis.pad %{{.*}} mode = reflect {pads = array<i64: 3, 1, 0, 7>} : (tensor<4x8xf32>) -> tensor<7x16xf32>
  %padr = precis.pad %a mode = reflect {pads = array<i64: 3, 1, 0, 7>} : (tensor<4x8xf32>) -> tensor<7x16xf32>
  // CHECK: precis.pad %{{.*}} mode = edge {pads = array<i64: 2, 2>} : (tensor<4xi64>) -> tensor<8xi64>
  %pade = precis.pad %i mode = edge {pads = array<i64: 2, 2>} : (tensor<4xi64>) -> tensor<8xi64>
  // CHECK: precis.compare ge, %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xi1>
  %22 = precis.compare ge, %a, %a : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xi1>
  // CHECK: precis.not %{{.*}} : tensor<4x8xi1>
  %23 = precis.not %22 : tensor<4x8xi1>
  // CHECK: precis.where %{{.*}}, %{{.*}}, %{{.*}} : (tensor<4x8xi1>, tensor<8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %24 = precis.where %23, %b, %s : (tensor<4x8xi1>, tensor<8xf32>, tensor<f32>) -> tensor<4x8xf32>
  // CHECK: precis.all_finite %{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<8xf32> -> tensor<i1>
  %allf = precis.all_finite %a, %b : tensor<4x8xf32>, tensor<8xf32> -> tensor<i1>
  // CHECK: precis.all_reduce %{{.*}}, %{{.*}} {reduction = 1 : i32} : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>, tensor<8xf32>
  %allr:2 = precis.all_reduce %a, %b {reduction = 1 : i32} : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x8xf32>, tensor<8xf32>
  // CHECK: precis.shard %{{.*}} : tensor<8xf32> -> tensor<4xf32>
  %shard = precis.shard %b : tensor<8xf32> -> tensor<4xf32>
  // CHECK: precis.all_gather %{{.*}} : tensor<4xf32> -> tensor<8xf32>
  %gath = precis.all_gather %shard : tensor<4xf32> -> tensor<8xf32>
  // CHECK: precis.cast %{{.*}} : tensor<4x8xf32> to tensor<4x8xbf16>
  %25 = precis.cast %a : tensor<4x8xf32> to tensor<4x8xbf16>
  // CHECK: precis.cast %{{.*}} : tensor<4x8xf32> to tensor<4x8xf8E4M3FN>
  %26 = precis.cast %a : tensor<4x8xf32> to tensor<4x8xf8E4M3FN>
  // CHECK: precis.dropout %{{.*}} {ratio = 1.000000e-01 : f32, stream = 7 : i64, training = true} : (tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
  %27:2 = precis.dropout %a {ratio = 0.1 : f32, training = true, stream = 7} : (tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
  // CHECK: precis.dropout %{{.*}}, %{{.*}} {ratio = 1.000000e-01 : f32, training = true} : (tensor<4x8xf32>, tensor<2xi64>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
  %rng = precis.constant dense<[5, 2]> : tensor<2xi64>
  %28:2 = precis.dropout %a, %rng {ratio = 0.1 : f32, training = true} : (tensor<4x8xf32>, tensor<2xi64>) -> (tensor<4x8xf32>, tensor<4x8xi1>)
  return
}

// -----

// CHECK-LABEL: func @data_movement
func.func @data_movement(%a: tensor<2x3x4xf32>, %t: tensor<64x32xf32>, %idx: tensor<8x16xi64>, %r: tensor<1x4xf32>,
                         %nd: tensor<8x1xi64>) {
  // CHECK: precis.reshape %{{.*}} : tensor<2x3x4xf32> to tensor<6x4xf32>
  %0 = precis.reshape %a : tensor<2x3x4xf32> to tensor<6x4xf32>
  // CHECK: precis.transpose %{{.*}} {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  %1 = precis.transpose %a {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  // CHECK: precis.concat %{{.*}}, %{{.*}} {axis = -1 : i64} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x8xf32>
  %2 = precis.concat %a, %a {axis = -1 : i64} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x8xf32>
  // CHECK: precis.split %{{.*}} {axis = 2 : i64} : (tensor<2x3x4xf32>) -> (tensor<2x3x1xf32>, tensor<2x3x3xf32>)
  %3:2 = precis.split %a {axis = 2 : i64} : (tensor<2x3x4xf32>) -> (tensor<2x3x1xf32>, tensor<2x3x3xf32>)
  // CHECK: precis.slice %{{.*}} {limit = array<i64: 2, 3, -1>, start = array<i64: 0, 1, 3>, step = array<i64: 1, 1, -2>} : (tensor<2x3x4xf32>) -> tensor<2x2x2xf32>
  %4 = precis.slice %a {start = array<i64: 0, 1, 3>, limit = array<i64: 2, 3, -1>, step = array<i64: 1, 1, -2>} : (tensor<2x3x4xf32>) -> tensor<2x2x2xf32>
  // CHECK: precis.gather %{{.*}}, %{{.*}} : (tensor<64x32xf32>, tensor<8x16xi64>) -> tensor<8x16x32xf32>
  %5 = precis.gather %t, %idx {axis = 0 : i64} : (tensor<64x32xf32>, tensor<8x16xi64>) -> tensor<8x16x32xf32>
  // CHECK: precis.gather_elements %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<64x32xf32>, tensor<8x16xi64>) -> tensor<8x16xf32>
  %ge = precis.gather_elements %t, %idx {axis = 0 : i64} : (tensor<64x32xf32>, tensor<8x16xi64>) -> tensor<8x16xf32>
  // CHECK: precis.gather_nd %{{.*}}, %{{.*}} : (tensor<64x32xf32>, tensor<8x1xi64>) -> tensor<8x32xf32>
  %gn = precis.gather_nd %t, %nd : (tensor<64x32xf32>, tensor<8x1xi64>) -> tensor<8x32xf32>
  // CHECK: precis.scatter_nd add %{{.*}}, %{{.*}}, %{{.*}} : (tensor<64x32xf32>, tensor<8x1xi64>, tensor<8x32xf32>) -> tensor<64x32xf32>
  %sn = precis.scatter_nd add %t, %nd, %gn : (tensor<64x32xf32>, tensor<8x1xi64>, tensor<8x32xf32>) -> tensor<64x32xf32>
  // CHECK: precis.expand %{{.*}} : tensor<1x4xf32> to tensor<3x4xf32>
  %6 = precis.expand %r : tensor<1x4xf32> to tensor<3x4xf32>
  return
}

// -----

// CHECK-LABEL: func @reductions_and_norms
func.func @reductions_and_norms(%a: tensor<4x8xf32>, %x: tensor<8x16x32xf32>, %g: tensor<32xf32>,
                                %img: tensor<2x3x5x5xf32>, %c: tensor<3xf32>) {
  // CHECK: precis.reduce_sum %{{.*}} {axes = array<i64: 1>, keepdims = false} : (tensor<4x8xf32>) -> tensor<4xf32>
  %0 = precis.reduce_sum %a {axes = array<i64: 1>, keepdims = false} : (tensor<4x8xf32>) -> tensor<4xf32>
  // CHECK: precis.reduce_mean %{{.*}} {axes = array<i64: -1>} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %1 = precis.reduce_mean %a {axes = array<i64: -1>} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  // CHECK: precis.reduce_max %{{.*}} {axes = array<i64>, keepdims = false} : (tensor<4x8xf32>) -> tensor<f32>
  %2 = precis.reduce_max %a {axes = array<i64>, keepdims = false} : (tensor<4x8xf32>) -> tensor<f32>
  // CHECK: precis.softmax %{{.*}} {axis = 1 : i64} : tensor<4x8xf32>
  %3 = precis.softmax %a {axis = 1 : i64} : tensor<4x8xf32>
  // CHECK: precis.log_softmax %{{.*}} : tensor<4x8xf32>
  %4 = precis.log_softmax %a : tensor<4x8xf32>
  // CHECK: precis.layer_norm %{{.*}}, %{{.*}}, %{{.*}} : (tensor<8x16x32xf32>
  %5 = precis.layer_norm %x, %g, %g {epsilon = 1.0e-5 : f32, axis = -1 : i64} : (tensor<8x16x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<8x16x32xf32>
  // CHECK: precis.layer_norm %{{.*}}, %{{.*}} {epsilon = 9.99999997E-7 : f32, rms = true} : (tensor<8x16x32xf32>, tensor<32xf32>) -> tensor<8x16x32xf32>
  %rms = precis.layer_norm %x, %g {epsilon = 1.0e-6 : f32, rms = true} : (tensor<8x16x32xf32>, tensor<32xf32>) -> tensor<8x16x32xf32>
  // CHECK: precis.batch_norm {{.*}} {training = true}
  %6:3 = precis.batch_norm %img, %c, %c, %c, %c {training = true} : (tensor<2x3x5x5xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> (tensor<2x3x5x5xf32>, tensor<3xf32>, tensor<3xf32>)
  // CHECK: precis.max_pool2d %{{.*}} {ceil_mode = true, kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<2x3x5x5xf32>) -> tensor<2x3x3x3xf32>
  %7 = precis.max_pool2d %img {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, ceil_mode = true} : (tensor<2x3x5x5xf32>) -> tensor<2x3x3x3xf32>
  // CHECK: precis.avg_pool2d %{{.*}} {count_include_pad = true, kernel = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>} : (tensor<2x3x5x5xf32>) -> tensor<2x3x5x5xf32>
  %8 = precis.avg_pool2d %img {kernel = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, count_include_pad = true} : (tensor<2x3x5x5xf32>) -> tensor<2x3x5x5xf32>
  // CHECK: precis.global_avg_pool %{{.*}} : (tensor<2x3x5x5xf32>) -> tensor<2x3x1x1xf32>
  %9 = precis.global_avg_pool %img : (tensor<2x3x5x5xf32>) -> tensor<2x3x1x1xf32>
  // CHECK: precis.global_max_pool
  %10 = precis.global_max_pool %img : (tensor<2x3x5x5xf32>) -> tensor<2x3x1x1xf32>
  // CHECK: precis.resize %{{.*}} {mode = "linear", scales = array<f64: 1.000000e+00, 1.000000e+00, 2.000000e+00, 1.500000e+00>} : (tensor<2x3x5x5xf32>) -> tensor<2x3x10x7xf32>
  %11 = precis.resize %img {mode = "linear", scales = array<f64: 1.0, 1.0, 2.0, 1.5>} : (tensor<2x3x5x5xf32>) -> tensor<2x3x10x7xf32>
  // CHECK: precis.resize %{{.*}} {coordinate_transformation_mode = "asymmetric", nearest_mode = "floor", scales = array<f64: 1.000000e+00, 1.000000e+00, 5.000000e-01, 5.000000e-01>} : (tensor<2x3x5x5xf32>) -> tensor<2x3x2x2xf32>
  %12 = precis.resize %img {coordinate_transformation_mode = "asymmetric", nearest_mode = "floor", scales = array<f64: 1.0, 1.0, 0.5, 0.5>} : (tensor<2x3x5x5xf32>) -> tensor<2x3x2x2xf32>
  // CHECK: precis.resize %{{.*}} {antialias = true, cubic_coeff_a = -5.000000e-01 : f64, exclude_outside = true, mode = "cubic", scales = array<f64: 1.000000e+00, 1.000000e+00, 4.000000e-01, 1.600000e+00>} : (tensor<2x3x5x5xf32>) -> tensor<2x3x2x8xf32>
  %13 = precis.resize %img {mode = "cubic", cubic_coeff_a = -0.5 : f64, exclude_outside = true, antialias = true, scales = array<f64: 1.0, 1.0, 0.4, 1.6>} : (tensor<2x3x5x5xf32>) -> tensor<2x3x2x8xf32>
  return
}

// -----

// CHECK-LABEL: func @losses_and_values
func.func @losses_and_values(%s: tensor<8x10xf32>, %l: tensor<8xi64>, %w: tensor<10xf32>,
                             %s3: tensor<2x5x7xf32>, %l3: tensor<2x7xi64>) {
  // CHECK: precis.softmax_cross_entropy mean %{{.*}}, %{{.*}} : (tensor<8x10xf32>, tensor<8xi64>) -> (tensor<f32>, tensor<8x10xf32>)
  %0:2 = precis.softmax_cross_entropy mean %s, %l : (tensor<8x10xf32>, tensor<8xi64>) -> (tensor<f32>, tensor<8x10xf32>)
  // CHECK: precis.softmax_cross_entropy none %{{.*}}, %{{.*}}, %{{.*}} {ignore_index = -100 : i64} : (tensor<8x10xf32>, tensor<8xi64>, tensor<10xf32>) -> (tensor<8xf32>, tensor<8x10xf32>)
  %1:2 = precis.softmax_cross_entropy none %s, %l, %w {ignore_index = -100 : i64} : (tensor<8x10xf32>, tensor<8xi64>, tensor<10xf32>) -> (tensor<8xf32>, tensor<8x10xf32>)
  // CHECK: precis.nll_loss sum %{{.*}}, %{{.*}} : (tensor<2x5x7xf32>, tensor<2x7xi64>) -> tensor<f32>
  %2 = precis.nll_loss sum %s3, %l3 : (tensor<2x5x7xf32>, tensor<2x7xi64>) -> tensor<f32>
  // CHECK: precis.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
  %3 = precis.constant dense<[1.0, 2.0]> : tensor<2xf32>
  // CHECK: precis.parameter "fc1.weight" = dense<5.000000e-01> : tensor<4x2xf32>
  %4 = precis.parameter "fc1.weight" = dense<0.5> : tensor<4x2xf32>
  // CHECK: precis.parameter "mask" = dense<true> : tensor<4x4xi1>
  %5 = precis.parameter "mask" = dense<true> : tensor<4x4xi1>
  return
}

// -----

// Optimizer updates (sgd without and with momentum, adam, adamw).
// CHECK-LABEL: func.func @optimizer_updates
func.func @optimizer_updates(%p: tensor<4x8xf32>, %g: tensor<4x8xf32>, %m: tensor<4x8xf32>, %v: tensor<4x8xf32>, %step: tensor<f32>, %lr: tensor<f32>) {
  // CHECK: precis.sgd_update %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {weight_decay = 1.000000e-01 : f32} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<f32>) -> tensor<4x8xf32>
  %0 = precis.sgd_update %p, %g, %step, %lr {weight_decay = 0.1 : f32} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<f32>) -> tensor<4x8xf32>
  // CHECK: precis.sgd_update %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {momentum = 0.899999976 : f32, nesterov = true} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<f32>, tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>)
  %1:2 = precis.sgd_update %p, %g, %step, %lr, %m {momentum = 0.9 : f32, nesterov = true} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<f32>, tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>)
  // CHECK: precis.adam_update %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {beta2 = 9.900000e-01 : f32} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<f32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
  %2:3 = precis.adam_update %p, %g, %m, %v, %step, %lr {beta2 = 0.99 : f32} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<f32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
  // CHECK: precis.adam_update {{.*}} {decoupled = true, weight_decay = 0.00999999977 : f32}
  %3:3 = precis.adam_update %p, %g, %m, %v, %step, %lr {decoupled = true, weight_decay = 0.01 : f32} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<f32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
  return
}

// -----

// CHECK-LABEL: func.func @fusion
func.func @fusion(%x: tensor<8x64xbf16>, %b: tensor<64xbf16>) -> tensor<8x64xbf16> {
  // CHECK: %[[R:.*]] = precis.fusion elementwise(%{{.*}}, %{{.*}} : tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16> {
  // CHECK-NEXT: ^bb0(%[[A:.*]]: tensor<8x64xbf16>, %[[B:.*]]: tensor<64xbf16>):
  // CHECK-NEXT: %[[S:.*]] = precis.add %[[A]], %[[B]]
  // CHECK-NEXT: %[[Y:.*]] = precis.relu %[[S]]
  // CHECK-NEXT: precis.yield %[[Y]] : tensor<8x64xbf16>
  %r = precis.fusion elementwise (%x, %b : tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16> {
  ^bb0(%a0: tensor<8x64xbf16>, %a1: tensor<64xbf16>):
    %0 = precis.add %a0, %a1 : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
    %1 = precis.relu %0 : tensor<8x64xbf16>
    precis.yield %1 : tensor<8x64xbf16>
  }
  return %r : tensor<8x64xbf16>
}

// -----

// CHECK-LABEL: func.func @scaled_matmul
func.func @scaled_matmul(%a: tensor<16x32xf8E4M3FN>, %b: tensor<64x32xf8E4M3FN>,
                         %sa: tensor<f32>, %sb: tensor<f32>) -> tensor<16x64xbf16> {
  // CHECK: precis.scaled_matmul %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {acc_type = f32, transpose_rhs = true} : (tensor<16x32xf8E4M3FN>, tensor<64x32xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<16x64xbf16>
  %0 = precis.scaled_matmul %a, %b, %sa, %sb {transpose_rhs = true, acc_type = f32} : (tensor<16x32xf8E4M3FN>, tensor<64x32xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<16x64xbf16>
  return %0 : tensor<16x64xbf16>
}

// -----

// CHECK-LABEL: func.func @rotary
func.func @rotary(%x: tensor<2x4x8x16xf32>, %c: tensor<2x1x8x8xf32>, %s: tensor<2x1x8x8xf32>,
                  %xb: tensor<2x8x16xbf16>, %cb: tensor<8x4xbf16>, %sb: tensor<8x4xbf16>)
    -> (tensor<2x4x8x16xf32>, tensor<2x8x16xbf16>) {
  // CHECK: precis.rotary %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x4x8x16xf32>, tensor<2x1x8x8xf32>, tensor<2x1x8x8xf32>) -> tensor<2x4x8x16xf32>
  %0 = precis.rotary %x, %c, %s : (tensor<2x4x8x16xf32>, tensor<2x1x8x8xf32>, tensor<2x1x8x8xf32>) -> tensor<2x4x8x16xf32>
  // CHECK: precis.rotary %{{.*}}, %{{.*}}, %{{.*}} {interleaved = true, rotary_dim = 8 : i64} : (tensor<2x8x16xbf16>, tensor<8x4xbf16>, tensor<8x4xbf16>) -> tensor<2x8x16xbf16>
  %1 = precis.rotary %xb, %cb, %sb {interleaved = true, rotary_dim = 8 : i64} : (tensor<2x8x16xbf16>, tensor<8x4xbf16>, tensor<8x4xbf16>) -> tensor<2x8x16xbf16>
  return %0, %1 : tensor<2x4x8x16xf32>, tensor<2x8x16xbf16>
}

// -----

// CHECK-LABEL: func @attention
func.func @attention(%q: tensor<2x8x16x64xbf16>, %k: tensor<2x2x16x64xbf16>, %v: tensor<2x2x16x32xbf16>,
                     %m: tensor<2x1x1x16xf32>) {
  // CHECK: precis.attention %{{.*}}, %{{.*}}, %{{.*}} {is_causal = true, scale = 1.250000e-01 : f32} : tensor<2x8x16x64xbf16>, tensor<2x2x16x64xbf16>, tensor<2x2x16x32xbf16> -> tensor<2x8x16x32xbf16>, tensor<2x8x16xf32>
  %0, %1 = precis.attention %q, %k, %v {scale = 0.125 : f32, is_causal = true} : tensor<2x8x16x64xbf16>, tensor<2x2x16x64xbf16>, tensor<2x2x16x32xbf16> -> tensor<2x8x16x32xbf16>, tensor<2x8x16xf32>
  // CHECK: precis.attention %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {acc_type = f32, scale = 1.250000e-01 : f32} : tensor<2x8x16x64xbf16>, tensor<2x2x16x64xbf16>, tensor<2x2x16x32xbf16>, tensor<2x1x1x16xf32>
  %2, %3 = precis.attention %q, %k, %v, %m {scale = 0.125 : f32, acc_type = f32} : tensor<2x8x16x64xbf16>, tensor<2x2x16x64xbf16>, tensor<2x2x16x32xbf16>, tensor<2x1x1x16xf32> -> tensor<2x8x16x32xbf16>, tensor<2x8x16xf32>
  return
}
