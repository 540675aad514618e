// REQUIRES: cuda
// RUN: rm -rf %t && precis compile %s -o %t.precis --target cuda --dump-kernels %t 2>&1 | FileCheck %s --check-prefix=COMPILE
// RUN: cat %t/*.cu | FileCheck %s
// RUN: ls %t/*.ptx | xargs -n1 %ptxas -arch=sm_90a -o /dev/null

// Index-driven ops (gather_elements and its scatter-add gradient, gather_nd, scatter_nd,
// argmax, argmin, topk) as generated kernels, compiled by NVRTC and assembled for sm_90a.
// COMPILE: precis compile: wrote
// CHECK-DAG: precis_gather_elements_
// CHECK-DAG: precis_gather_elements_grad_
// CHECK-DAG: precis_gather_nd_
// CHECK-DAG: precis_argmax_
// CHECK-DAG: precis_argmin_
// CHECK-DAG: precis_topk_
// CHECK-DAG: precis_scatter_nd_
// CHECK-DAG: if (off == base) v += (float)
// CHECK-DAG: if (off == base) v = (long long)
func.func @forward(%x: tensor<4x8xf32>, %h: tensor<4x8xbf16>, %i: tensor<3x5xi64>,
                   %j: tensor<4x3xi32>, %g: tensor<3x5xbf16>, %n: tensor<3x2xi64>,
                   %m: tensor<4x8xi64>, %t: tensor<2x1xi32>, %u: tensor<2x8xi64>)
    -> (tensor<3x5xf32>, tensor<4x3xbf16>, tensor<4x8xbf16>, tensor<4x8xf32>, tensor<3xf32>,
        tensor<4x8xbf16>, tensor<4x8xi64>, tensor<4xi64>, tensor<1x8xi64>,
        tensor<4x3xbf16>, tensor<4x3xi64>, tensor<2x8xi64>, tensor<2x8xi64>) {
  %0 = precis.gather_elements %x, %i {axis = 1 : i64} : (tensor<4x8xf32>, tensor<3x5xi64>) -> tensor<3x5xf32>
  %1 = precis.gather_elements %h, %j {axis = 0 : i64} : (tensor<4x8xbf16>, tensor<4x3xi32>) -> tensor<4x3xbf16>
  %2 = precis.gather_elements_grad %g, %i {axis = 1 : i64} : (tensor<3x5xbf16>, tensor<3x5xi64>) -> tensor<4x8xbf16>
  %3 = precis.gather_elements_grad %0, %i {axis = 1 : i64} : (tensor<3x5xf32>, tensor<3x5xi64>) -> tensor<4x8xf32>
  %4 = precis.gather_nd %x, %n : (tensor<4x8xf32>, tensor<3x2xi64>) -> tensor<3xf32>
  %5 = precis.gather_nd %h, %t : (tensor<4x8xbf16>, tensor<2x1xi32>) -> tensor<2x8xbf16>
  %6 = precis.scatter_nd add %h, %t, %5 : (tensor<4x8xbf16>, tensor<2x1xi32>, tensor<2x8xbf16>) -> tensor<4x8xbf16>
  %7 = precis.scatter_nd none %m, %t, %u : (tensor<4x8xi64>, tensor<2x1xi32>, tensor<2x8xi64>) -> tensor<4x8xi64>
  %8 = precis.argmax %h {axis = 1 : i64, keepdims = false, select_last_index = true} : (tensor<4x8xbf16>) -> tensor<4xi64>
  %9 = precis.argmin %m {axis = 0 : i64} : (tensor<4x8xi64>) -> tensor<1x8xi64>
  %10:2 = precis.topk %h {axis = 1 : i64, k = 3 : i64} : (tensor<4x8xbf16>) -> (tensor<4x3xbf16>, tensor<4x3xi64>)
  %11:2 = precis.topk %m {axis = 0 : i64, k = 2 : i64, largest = false} : (tensor<4x8xi64>) -> (tensor<2x8xi64>, tensor<2x8xi64>)
  return %0, %1, %2, %3, %4, %6, %7, %8, %9, %10#0, %10#1, %11#0, %11#1 : tensor<3x5xf32>, tensor<4x3xbf16>, tensor<4x8xbf16>, tensor<4x8xf32>, tensor<3xf32>, tensor<4x8xbf16>, tensor<4x8xi64>, tensor<4xi64>, tensor<1x8xi64>, tensor<4x3xbf16>, tensor<4x3xi64>, tensor<2x8xi64>, tensor<2x8xi64>
}
