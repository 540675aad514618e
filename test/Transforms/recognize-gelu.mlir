// RUN: precis-opt %s -split-input-file -precis-recognize-gelu | FileCheck %s

// The exact form as the MLP example exports it: (x * (1 + erf(x / sqrt 2))) * 0.5.
// CHECK-LABEL: func.func @erf_div
// CHECK-SAME: (%[[X:.*]]: tensor<8x64xf32>)
// CHECK-NEXT: %[[G:.*]] = precis.gelu %[[X]] : tensor<8x64xf32>
// CHECK-NEXT: return %[[G]]
func.func @erf_div(%x: tensor<8x64xf32>) -> tensor<8x64xf32> {
  %sqrt2 = precis.constant dense<1.41421354> : tensor<f32>
  %one = precis.constant dense<1.0> : tensor<f32>
  %half = precis.constant dense<0.5> : tensor<f32>
  %0 = precis.div %x, %sqrt2 : (tensor<8x64xf32>, tensor<f32>) -> tensor<8x64xf32>
  %1 = precis.erf %0 : tensor<8x64xf32>
  %2 = precis.add %1, %one : (tensor<8x64xf32>, tensor<f32>) -> tensor<8x64xf32>
  %3 = precis.mul %x, %2 : (tensor<8x64xf32>, tensor<8x64xf32>) -> tensor<8x64xf32>
  %4 = precis.mul %3, %half : (tensor<8x64xf32>, tensor<f32>) -> tensor<8x64xf32>
  return %4 : tensor<8x64xf32>
}

// -----

// 0.5 * x * (1 + erf(x * sqrt(0.5))), constants on the left.
// CHECK-LABEL: func.func @erf_mul_half_first
// CHECK-NEXT: precis.gelu %{{.*}} : tensor<4xf32>
// CHECK-NOT: precis.erf
func.func @erf_mul_half_first(%x: tensor<4xf32>) -> tensor<4xf32> {
  %rsqrt2 = precis.constant dense<0.707106769> : tensor<f32>
  %one = precis.constant dense<1.0> : tensor<f32>
  %half = precis.constant dense<0.5> : tensor<f32>
  %0 = precis.mul %rsqrt2, %x : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = precis.erf %0 : tensor<4xf32>
  %2 = precis.add %one, %1 : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  %3 = precis.mul %half, %x : (tensor<f32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = precis.mul %3, %2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %4 : tensor<4xf32>
}

// -----

// x * (0.5 * (1 + erf(x / sqrt 2))).
// CHECK-LABEL: func.func @erf_half_inside
// CHECK-NEXT: precis.gelu %{{.*}} : tensor<4xf32>
// CHECK-NEXT: return
func.func @erf_half_inside(%x: tensor<4xf32>) -> tensor<4xf32> {
  %sqrt2 = precis.constant dense<1.4142> : tensor<f32>
  %one = precis.constant dense<1.0> : tensor<f32>
  %half = precis.constant dense<0.5> : tensor<1xf32>
  %0 = precis.div %x, %sqrt2 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %1 = precis.erf %0 : tensor<4xf32>
  %2 = precis.add %1, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %3 = precis.mul %half, %2 : (tensor<1xf32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = precis.mul %x, %3 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %4 : tensor<4xf32>
}

// -----

// The tanh form as the GPT example exports it: x*x*x through two muls.
// CHECK-LABEL: func.func @tanh_cube_by_muls
// CHECK-SAME: (%[[X:.*]]: tensor<2x8xf32>)
// CHECK-NEXT: %[[G:.*]] = precis.gelu %[[X]] approximation = tanh : tensor<2x8xf32>
// CHECK-NEXT: return %[[G]]
func.func @tanh_cube_by_muls(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %c0 = precis.constant dense<0.044715> : tensor<f32>
  %c1 = precis.constant dense<0.797884583> : tensor<f32>
  %one = precis.constant dense<1.0> : tensor<f32>
  %half = precis.constant dense<0.5> : tensor<f32>
  %0 = precis.mul %x, %x : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %1 = precis.mul %x, %0 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %2 = precis.mul %c0, %1 : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %3 = precis.add %x, %2 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %4 = precis.mul %c1, %3 : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %5 = precis.tanh %4 : tensor<2x8xf32>
  %6 = precis.add %one, %5 : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %7 = precis.mul %x, %6 : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %8 = precis.mul %half, %7 : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %8 : tensor<2x8xf32>
}

// -----

// The tanh form with pow(x, 3) and operands on the other sides.
// CHECK-LABEL: func.func @tanh_pow
// CHECK-NEXT: precis.gelu %{{.*}} approximation = tanh : tensor<4xf32>
// CHECK-NOT: precis.tanh
func.func @tanh_pow(%x: tensor<4xf32>) -> tensor<4xf32> {
  %three = precis.constant dense<3.0> : tensor<f32>
  %c0 = precis.constant dense<0.044715> : tensor<f32>
  %c1 = precis.constant dense<0.7978846> : tensor<f32>
  %one = precis.constant dense<1.0> : tensor<f32>
  %half = precis.constant dense<0.5> : tensor<f32>
  %0 = precis.pow %x, %three : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %1 = precis.mul %0, %c0 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %2 = precis.add %1, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %3 = precis.mul %2, %c1 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %4 = precis.tanh %3 : tensor<4xf32>
  %5 = precis.add %4, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %6 = precis.mul %x, %half : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %7 = precis.mul %6, %5 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %7 : tensor<4xf32>
}

// -----

// An intermediate value with another user: nothing changes.
// CHECK-LABEL: func.func @intermediate_used_twice
// CHECK-NOT: precis.gelu
// CHECK: precis.erf
func.func @intermediate_used_twice(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %sqrt2 = precis.constant dense<1.41421354> : tensor<f32>
  %one = precis.constant dense<1.0> : tensor<f32>
  %half = precis.constant dense<0.5> : tensor<f32>
  %0 = precis.div %x, %sqrt2 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %1 = precis.erf %0 : tensor<4xf32>
  %2 = precis.add %1, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %3 = precis.mul %x, %2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = precis.mul %3, %half : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  return %4, %1 : tensor<4xf32>, tensor<4xf32>
}

// -----

// Wrong constants (0.6 instead of 0.5; sqrt 3 instead of sqrt 2): nothing changes.
// CHECK-LABEL: func.func @wrong_constants
// CHECK-NOT: precis.gelu
// CHECK-LABEL: func.func @wrong_divisor
// CHECK-NOT: precis.gelu
func.func @wrong_constants(%x: tensor<4xf32>) -> tensor<4xf32> {
  %sqrt2 = precis.constant dense<1.41421354> : tensor<f32>
  %one = precis.constant dense<1.0> : tensor<f32>
  %c = precis.constant dense<0.6> : tensor<f32>
  %0 = precis.div %x, %sqrt2 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %1 = precis.erf %0 : tensor<4xf32>
  %2 = precis.add %1, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %3 = precis.mul %x, %2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = precis.mul %3, %c : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  return %4 : tensor<4xf32>
}
func.func @wrong_divisor(%x: tensor<4xf32>) -> tensor<4xf32> {
  %sqrt3 = precis.constant dense<1.7320508> : tensor<f32>
  %one = precis.constant dense<1.0> : tensor<f32>
  %half = precis.constant dense<0.5> : tensor<f32>
  %0 = precis.div %x, %sqrt3 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %1 = precis.erf %0 : tensor<4xf32>
  %2 = precis.add %1, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %3 = precis.mul %x, %2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = precis.mul %3, %half : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  return %4 : tensor<4xf32>
}

// -----

// The erf argument is a different value than the multiplied one: nothing changes.
// CHECK-LABEL: func.func @different_inputs
// CHECK-NOT: precis.gelu
func.func @different_inputs(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %sqrt2 = precis.constant dense<1.41421354> : tensor<f32>
  %one = precis.constant dense<1.0> : tensor<f32>
  %half = precis.constant dense<0.5> : tensor<f32>
  %0 = precis.div %y, %sqrt2 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %1 = precis.erf %0 : tensor<4xf32>
  %2 = precis.add %1, %one : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  %3 = precis.mul %x, %2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = precis.mul %3, %half : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
  return %4 : tensor<4xf32>
}
