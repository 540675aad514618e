// REQUIRES: cuda
// RUN: rm -rf %t && precis compile %s -o %t.precis --target cuda --dump-kernels %t 2>&1 | FileCheck %s --check-prefix=COMPILE
// RUN: cat %t/*.cu | FileCheck %s
// RUN: ls %t/*.ptx | xargs -n1 %ptxas -arch=sm_90a -o /dev/null

// sin, cos, hard_sigmoid, is_nan, softplus and mod (float, and integer with either sign rule) as
// generated element-wise code, compiled by NVRTC and assembled for sm_90a.
// COMPILE: precis compile: wrote
// CHECK-DAG: sinf(
// CHECK-DAG: cosf(
// CHECK-DAG: sin(
// CHECK-DAG: fmodf(
// CHECK-DAG: precis_max(0.000000000e+00f, precis_min(1.000000000e+00f, 1.666666716e-01f *
// CHECK-DAG: const bool v1 = (x0[e] != x0[e]);
// CHECK-DAG: == -1 ? (long long)0 :
// CHECK-DAG: == -1 ? (int)0 :
// CHECK-DAG: precis_pad_
// CHECK-DAG: precis_cumsum_
// CHECK-DAG: (fmaxf({{.*}}, 0.000000000e+00f) + log1pf(expf(-fabsf(
// CHECK-DAG: const bool keep = j - i <= -1LL;
func.func @forward(%x: tensor<4x8xf32>, %y: tensor<8xf32>, %h: tensor<4x8xbf16>,
                   %d: tensor<4x8xf64>, %i: tensor<4x8xi64>, %j: tensor<8xi64>,
                   %k: tensor<16xi32>, %l: tensor<16xi32>)
    -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xbf16>, tensor<4x8xf64>, tensor<4x8xi1>,
        tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xi64>, tensor<4x8xi64>, tensor<16xi32>,
        tensor<7x11xf32>, tensor<6x8xbf16>, tensor<4x12xi64>, tensor<4x8xbf16>,
        tensor<4x8xf32>, tensor<4x8xi64>, tensor<4x8xbf16>) {
  %0 = precis.sin %x : tensor<4x8xf32>
  %1 = precis.cos %x : tensor<4x8xf32>
  %2 = precis.hard_sigmoid %h {alpha = 0.166666672 : f32, beta = 0.5 : f32} : tensor<4x8xbf16>
  %3 = precis.sin %d : tensor<4x8xf64>
  %4 = precis.is_nan %x : tensor<4x8xf32> -> tensor<4x8xi1>
  %5 = precis.is_nan %h : tensor<4x8xbf16> -> tensor<4x8xi1>
  %6 = precis.mod %x, %y {fmod = true} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %7 = precis.mod %i, %j : (tensor<4x8xi64>, tensor<8xi64>) -> tensor<4x8xi64>
  %8 = precis.mod %i, %j {fmod = true} : (tensor<4x8xi64>, tensor<8xi64>) -> tensor<4x8xi64>
  %9 = precis.mod %k, %l : (tensor<16xi32>, tensor<16xi32>) -> tensor<16xi32>
  %10 = precis.pad %x {pads = array<i64: 1, 0, 2, 3>, value = -1.5 : f64} : (tensor<4x8xf32>) -> tensor<7x11xf32>
  %11 = precis.pad %h mode = reflect {pads = array<i64: 1, 0, 1, 0>} : (tensor<4x8xbf16>) -> tensor<6x8xbf16>
  %12 = precis.pad %i mode = edge {pads = array<i64: 0, 1, 0, 3>} : (tensor<4x8xi64>) -> tensor<4x12xi64>
  %13 = precis.trilu %h {upper = false, k = -1 : i64} : tensor<4x8xbf16>
  %14 = precis.cumsum %x {axis = 0 : i64, reverse = true} : tensor<4x8xf32>
  %15 = precis.cumsum %i {axis = 1 : i64, exclusive = true} : tensor<4x8xi64>
  %16 = precis.softplus %h : tensor<4x8xbf16>
  return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xbf16>, tensor<4x8xf64>, tensor<4x8xi1>, tensor<4x8xi1>, tensor<4x8xf32>, tensor<4x8xi64>, tensor<4x8xi64>, tensor<16xi32>, tensor<7x11xf32>, tensor<6x8xbf16>, tensor<4x12xi64>, tensor<4x8xbf16>, tensor<4x8xf32>, tensor<4x8xi64>, tensor<4x8xbf16>
}
