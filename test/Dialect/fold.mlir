// RUN: precis-opt %s -split-input-file -canonicalize | FileCheck %s
//
// Ops on constants fold through the ops' own folders (PrecisFolders.cpp); the importer folds
// shape arithmetic through the same folders.

// CHECK-LABEL: func @arithmetic_broadcasts
// CHECK-NEXT: %[[C:.*]] = precis.constant dense<{{\[}}[1.100000e+01, 2.200000e+01], [1.300000e+01, 2.400000e+01]]> : tensor<2x2xf32>
// CHECK-NEXT: return %[[C]]
func.func @arithmetic_broadcasts() -> tensor<2x2xf32> {
  %a = precis.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = precis.constant dense<[10.0, 20.0]> : tensor<2xf32>
  %0 = precis.add %a, %b : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

// Integer division truncates; division by zero does not fold (the op stays).
// CHECK-LABEL: func @integer_division
// CHECK-DAG: precis.constant dense<[3, -3]> : tensor<2xi64>
// CHECK-DAG: precis.div
func.func @integer_division() -> (tensor<2xi64>, tensor<2xi64>) {
  %a = precis.constant dense<[7, -7]> : tensor<2xi64>
  %b = precis.constant dense<2> : tensor<i64>
  %z = precis.constant dense<[2, 0]> : tensor<2xi64>
  %0 = precis.div %a, %b : (tensor<2xi64>, tensor<i64>) -> tensor<2xi64>
  %1 = precis.div %a, %z : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  return %0, %1 : tensor<2xi64>, tensor<2xi64>
}

// -----

// CHECK-LABEL: func @compare_where
// CHECK-NEXT: %[[C:.*]] = precis.constant dense<[0.000000e+00, 2.000000e+00, 0.000000e+00]> : tensor<3xf32>
// CHECK-NEXT: return %[[C]]
func.func @compare_where() -> tensor<3xf32> {
  %x = precis.constant dense<[-1.0, 2.0, -3.0]> : tensor<3xf32>
  %zero = precis.constant dense<0.0> : tensor<f32>
  %pos = precis.compare gt, %x, %zero : (tensor<3xf32>, tensor<f32>) -> tensor<3xi1>
  %0 = precis.where %pos, %x, %zero : (tensor<3xi1>, tensor<3xf32>, tensor<f32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

// Casts round to nearest even; to fp8 they saturate (numerics.h), to integers they truncate.
// CHECK-LABEL: func @casts
// CHECK-DAG: precis.constant dense<[1.000000e+00, 4.480000e+02, -4.480000e+02]> : tensor<3xf8E4M3FN>
// CHECK-DAG: precis.constant dense<[1, 1000, -1000]> : tensor<3xi64>
// CHECK-DAG: precis.constant dense<[1.000000e+00, 1.000000e+03, -1.000000e+03]> : tensor<3xbf16>
func.func @casts() -> (tensor<3xf8E4M3FN>, tensor<3xi64>, tensor<3xbf16>) {
  %x = precis.constant dense<[1.0039, 1000.5, -1000.9]> : tensor<3xf32>
  %0 = precis.cast %x : tensor<3xf32> to tensor<3xf8E4M3FN>
  %1 = precis.cast %x : tensor<3xf32> to tensor<3xi64>
  %2 = precis.cast %x : tensor<3xf32> to tensor<3xbf16>
  return %0, %1, %2 : tensor<3xf8E4M3FN>, tensor<3xi64>, tensor<3xbf16>
}

// -----

// CHECK-LABEL: func @data_movement
// CHECK-DAG: precis.constant dense<{{\[}}[1, 4], [2, 5], [3, 6]]> : tensor<3x2xi64>
// CHECK-DAG: precis.constant dense<[2, 3]> : tensor<2xi64>
// CHECK-DAG: precis.constant dense<[6, 2]> : tensor<2xi64>
// CHECK-DAG: precis.constant dense<[1, 2, 3, 9]> : tensor<4xi64>
// CHECK-DAG: precis.constant dense<1> : tensor<1xi64>
// CHECK-DAG: precis.constant dense<[2, 3, 4, 5, 6]> : tensor<5xi64>
// CHECK-NOT: precis.transpose
// CHECK-NOT: precis.split
func.func @data_movement() -> (tensor<3x2xi64>, tensor<2xi64>, tensor<2xi64>, tensor<4xi64>,
                               tensor<1xi64>, tensor<5xi64>) {
  %x = precis.constant dense<[[1, 2, 3], [4, 5, 6]]> : tensor<2x3xi64>
  %0 = precis.transpose %x {perm = array<i64: 1, 0>} : (tensor<2x3xi64>) -> tensor<3x2xi64>
  %1 = precis.slice %x {start = array<i64: 0, 1>, limit = array<i64: 1, 3>, step = array<i64: 1, 1>} : (tensor<2x3xi64>) -> tensor<1x2xi64>
  %2 = precis.reshape %1 : tensor<1x2xi64> to tensor<2xi64>
  %i = precis.constant dense<[-1, 1]> : tensor<2xi64>
  %row = precis.constant dense<[1, 2, 3, 4, 5, 6]> : tensor<6xi64>
  %3 = precis.gather %row, %i {axis = 0 : i64} : (tensor<6xi64>, tensor<2xi64>) -> tensor<2xi64>
  %nine = precis.constant dense<9> : tensor<1xi64>
  %head = precis.slice %row {start = array<i64: 0>, limit = array<i64: 3>, step = array<i64: 1>} : (tensor<6xi64>) -> tensor<3xi64>
  %4 = precis.concat %head, %nine {axis = 0 : i64} : (tensor<3xi64>, tensor<1xi64>) -> tensor<4xi64>
  %5:2 = precis.split %row {axis = 0 : i64} : (tensor<6xi64>) -> (tensor<1xi64>, tensor<5xi64>)
  return %0, %2, %3, %4, %5#0, %5#1 : tensor<3x2xi64>, tensor<2xi64>, tensor<2xi64>, tensor<4xi64>, tensor<1xi64>, tensor<5xi64>
}

// -----

// CHECK-LABEL: func @reductions
// CHECK-DAG: precis.constant dense<[3.000000e+00, 7.000000e+00]> : tensor<2xf32>
// CHECK-DAG: precis.constant dense<2.500000e+00> : tensor<1x1xf32>
// CHECK-DAG: precis.constant dense<[3.000000e+00, 4.000000e+00]> : tensor<2xf32>
func.func @reductions() -> (tensor<2xf32>, tensor<1x1xf32>, tensor<2xf32>) {
  %x = precis.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %0 = precis.reduce_sum %x {axes = array<i64: -1>, keepdims = false} : (tensor<2x2xf32>) -> tensor<2xf32>
  %1 = precis.reduce_mean %x {axes = array<i64>} : (tensor<2x2xf32>) -> tensor<1x1xf32>
  %2 = precis.reduce_max %x {axes = array<i64: 0>, keepdims = false} : (tensor<2x2xf32>) -> tensor<2xf32>
  return %0, %1, %2 : tensor<2xf32>, tensor<1x1xf32>, tensor<2xf32>
}

// -----

// A decided op is part of the precision plan and stays: the runtime performs this cast.
// CHECK-LABEL: func @decided_cast_stays
// CHECK: precis.cast
func.func @decided_cast_stays() -> tensor<bf16> {
  %x = precis.constant dense<0.707106769> : tensor<f32>
  %0 = precis.cast %x {precis.decision = #precis.decision<cast f32 -> bf16, "inserted: fp32 value used in bf16">} : tensor<f32> to tensor<bf16>
  return %0 : tensor<bf16>
}

// -----

// sin, cos and hard_sigmoid evaluate in double and round to the element type; is_nan gives i1.
// CHECK-LABEL: func @sin_cos_hard_sigmoid_is_nan
// CHECK-DAG: precis.constant dense<[0.000000e+00, 0.841470957]> : tensor<2xf32>
// CHECK-DAG: precis.constant dense<[1.000000e+00, 0.540302277]> : tensor<2xf32>
// CHECK-DAG: precis.constant dense<[0.000000e+00, 1.000000e+00, 5.000000e-01, 0x7FC00000]> : tensor<4xf32>
// CHECK-DAG: precis.constant dense<[false, true, false, false]> : tensor<4xi1>
// CHECK-NOT: precis.sin
// CHECK-NOT: precis.cos
// CHECK-NOT: precis.hard_sigmoid
// CHECK-NOT: precis.is_nan
func.func @sin_cos_hard_sigmoid_is_nan() -> (tensor<2xf32>, tensor<2xf32>, tensor<4xf32>, tensor<4xi1>) {
  %x = precis.constant dense<[0.0, 1.0]> : tensor<2xf32>
  %0 = precis.sin %x : tensor<2xf32>
  %1 = precis.cos %x : tensor<2xf32>
  %y = precis.constant dense<[-4.0, 4.0, 0.0, 0x7FC00000]> : tensor<4xf32>
  %2 = precis.hard_sigmoid %y {alpha = 0.2 : f32, beta = 0.5 : f32} : tensor<4xf32>
  %z = precis.constant dense<[1.0, 0x7FC00000, 0x7F800000, 0xFF800000]> : tensor<4xf32>
  %3 = precis.is_nan %z : tensor<4xf32> -> tensor<4xi1>
  return %0, %1, %2, %3 : tensor<2xf32>, tensor<2xf32>, tensor<4xf32>, tensor<4xi1>
}

// -----

// mod: fmod takes the dividend's sign, the floor remainder the divisor's; an integer
// divisor of zero does not fold.
// CHECK-LABEL: func @mod
// CHECK-DAG: precis.constant dense<[1, -1, 1, -1]> : tensor<4xi64>
// CHECK-DAG: precis.constant dense<[1, 2, -2, -1]> : tensor<4xi64>
// CHECK-DAG: precis.constant dense<[1.500000e+00, -1.500000e+00]> : tensor<2xf32>
// CHECK-DAG: precis.mod
func.func @mod() -> (tensor<4xi64>, tensor<4xi64>, tensor<2xf32>, tensor<2xi64>) {
  %a = precis.constant dense<[7, -7, 7, -7]> : tensor<4xi64>
  %b = precis.constant dense<[3, 3, -3, -3]> : tensor<4xi64>
  %0 = precis.mod %a, %b {fmod = true} : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  %1 = precis.mod %a, %b : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  %x = precis.constant dense<[5.5, -5.5]> : tensor<2xf32>
  %y = precis.constant dense<2.0> : tensor<f32>
  %2 = precis.mod %x, %y {fmod = true} : (tensor<2xf32>, tensor<f32>) -> tensor<2xf32>
  %p = precis.constant dense<[4, 5]> : tensor<2xi64>
  %q = precis.constant dense<[3, 0]> : tensor<2xi64>
  %3 = precis.mod %p, %q : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  return %0, %1, %2, %3 : tensor<4xi64>, tensor<4xi64>, tensor<2xf32>, tensor<2xi64>
}

// -----

// pad on constants (as exported attention masks build them), in each mode.
// CHECK-LABEL: func @pad
// CHECK-DAG: precis.constant dense<{{\[}}[-1, -1, -1, -1], [-1, 1, 2, -1], [-1, 3, 4, -1]]> : tensor<3x4xi64>
// CHECK-DAG: precis.constant dense<[3.000000e+00, 2.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00, 2.000000e+00]> : tensor<6xf32>
// CHECK-DAG: precis.constant dense<[1.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00, 3.000000e+00]> : tensor<5xf32>
// CHECK-NOT: precis.pad
func.func @pad() -> (tensor<3x4xi64>, tensor<6xf32>, tensor<5xf32>) {
  %a = precis.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xi64>
  %0 = precis.pad %a {pads = array<i64: 1, 1, 0, 1>, value = -1.0 : f64} : (tensor<2x2xi64>) -> tensor<3x4xi64>
  %b = precis.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %1 = precis.pad %b mode = reflect {pads = array<i64: 2, 1>} : (tensor<3xf32>) -> tensor<6xf32>
  %2 = precis.pad %b mode = edge {pads = array<i64: 1, 1>} : (tensor<3xf32>) -> tensor<5xf32>
  return %0, %1, %2 : tensor<3x4xi64>, tensor<6xf32>, tensor<5xf32>
}

// -----

// trilu on constants (exported causal masks).
// CHECK-LABEL: func @trilu
// CHECK-DAG: precis.constant dense<{{\[}}[1, 1, 1], [0, 1, 1], [0, 0, 1]]> : tensor<3x3xi64>
// CHECK-DAG: precis.constant dense<{{\[}}[0, 0, 0], [2, 0, 0], [2, 2, 0]]> : tensor<3x3xi32>
// CHECK-NOT: precis.trilu
func.func @trilu() -> (tensor<3x3xi64>, tensor<3x3xi32>) {
  %a = precis.constant dense<1> : tensor<3x3xi64>
  %0 = precis.trilu %a : tensor<3x3xi64>
  %b = precis.constant dense<2> : tensor<3x3xi32>
  %1 = precis.trilu %b {upper = false, k = -1 : i64} : tensor<3x3xi32>
  return %0, %1 : tensor<3x3xi64>, tensor<3x3xi32>
}

// -----

// cumsum on constants (exported position ids are cumsum of a mask).
// CHECK-LABEL: func @cumsum
// CHECK-DAG: precis.constant dense<[1, 3, 6, 10]> : tensor<4xi64>
// CHECK-DAG: precis.constant dense<[9, 7, 4, 0]> : tensor<4xi64>
// CHECK-NOT: precis.cumsum
func.func @cumsum() -> (tensor<4xi64>, tensor<4xi64>) {
  %a = precis.constant dense<[1, 2, 3, 4]> : tensor<4xi64>
  %0 = precis.cumsum %a {axis = 0 : i64} : tensor<4xi64>
  %1 = precis.cumsum %a {axis = 0 : i64, exclusive = true, reverse = true} : tensor<4xi64>
  return %0, %1 : tensor<4xi64>, tensor<4xi64>
}

// -----

// softplus evaluates max(x, 0) + log1p(exp(-|x|)) in double: no overflow at 100, no lost
// digits at -100.
// CHECK-LABEL: func @softplus
// CHECK: precis.constant dense<[3.783510e-44, 0.693147182, 1.31326163, 1.000000e+02]> : tensor<4xf32>
// CHECK-NOT: precis.softplus
func.func @softplus() -> tensor<4xf32> {
  %x = precis.constant dense<[-100.0, 0.0, 1.0, 100.0]> : tensor<4xf32>
  %0 = precis.softplus %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}
