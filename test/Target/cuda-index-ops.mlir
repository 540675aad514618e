// REQUIRES: cuda
// RUN: rm -rf %t && precis compile %s -o %t.precis --target cuda --dump-kernels %t 2>&1 | FileCheck %s --check-prefix=COMPILE
// RUN: cat %t/*.cu | FileCheck %s
// RUN: ls %t/*.ptx | xargs -n1 %ptxas -arch=sm_90a -o /dev/null

// Index-driven ops (gather_elements and its scatter-add gradient) as generated kernels,
// compiled by NVRTC and assembled for sm_90a.
// COMPILE: precis compile: wrote
// CHECK-DAG: precis_gather_elements_
// CHECK-DAG: precis_gather_elements_grad_
func.func @forward(%x: tensor<4x8xf32>, %h: tensor<4x8xbf16>, %i: tensor<3x5xi64>,
                   %j: tensor<4x3xi32>, %g: tensor<3x5xbf16>)
    -> (tensor<3x5xf32>, tensor<4x3xbf16>, tensor<4x8xbf16>, tensor<4x8xf32>) {
  %0 = precis.gather_elements %x, %i {axis = 1 : i64} : (tensor<4x8xf32>, tensor<3x5xi64>) -> tensor<3x5xf32>
  %1 = precis.gather_elements %h, %j {axis = 0 : i64} : (tensor<4x8xbf16>, tensor<4x3xi32>) -> tensor<4x3xbf16>
  %2 = precis.gather_elements_grad %g, %i {axis = 1 : i64} : (tensor<3x5xbf16>, tensor<3x5xi64>) -> tensor<4x8xbf16>
  %3 = precis.gather_elements_grad %0, %i {axis = 1 : i64} : (tensor<3x5xf32>, tensor<3x5xi64>) -> tensor<4x8xf32>
  return %0, %1, %2, %3 : tensor<3x5xf32>, tensor<4x3xbf16>, tensor<4x8xbf16>, tensor<4x8xf32>
}
