// RUN: precis-opt %s -split-input-file -canonicalize | FileCheck %s

// CHECK-LABEL: func @cast_to_same_type
// CHECK-SAME: (%[[A:.*]]: tensor<4xf32>)
// CHECK-NEXT: return %[[A]]
func.func @cast_to_same_type(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = precis.cast %a : tensor<4xf32> to tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// A narrowing cast is not an identity: it stays.
// CHECK-LABEL: func @cast_narrowing_kept
// CHECK: precis.cast %{{.*}} : tensor<4xf32> to tensor<4xbf16>
func.func @cast_narrowing_kept(%a: tensor<4xf32>) -> tensor<4xbf16> {
  %0 = precis.cast %a : tensor<4xf32> to tensor<4xbf16>
  return %0 : tensor<4xbf16>
}

// -----

// CHECK-LABEL: func @reshape_chain
// CHECK-SAME: (%[[A:.*]]: tensor<2x3x4xf32>)
// CHECK-NEXT: %[[R:.*]] = precis.reshape %[[A]] : tensor<2x3x4xf32> to tensor<24xf32>
// CHECK-NEXT: return %[[R]]
func.func @reshape_chain(%a: tensor<2x3x4xf32>) -> tensor<24xf32> {
  %0 = precis.reshape %a : tensor<2x3x4xf32> to tensor<6x4xf32>
  %1 = precis.reshape %0 : tensor<6x4xf32> to tensor<24xf32>
  return %1 : tensor<24xf32>
}

// -----

// CHECK-LABEL: func @reshape_identity
// CHECK-SAME: (%[[A:.*]]: tensor<6x4xf32>)
// CHECK-NEXT: return %[[A]]
func.func @reshape_identity(%a: tensor<6x4xf32>) -> tensor<6x4xf32> {
  %0 = precis.reshape %a : tensor<6x4xf32> to tensor<6x4xf32>
  return %0 : tensor<6x4xf32>
}

// -----

// CHECK-LABEL: func @reshape_constant
// CHECK-NEXT: %[[C:.*]] = precis.constant dense<{{\[}}[1, 2], [3, 4]]> : tensor<2x2xi64>
// CHECK-NEXT: return %[[C]]
func.func @reshape_constant() -> tensor<2x2xi64> {
  %0 = precis.constant dense<[1, 2, 3, 4]> : tensor<4xi64>
  %1 = precis.reshape %0 : tensor<4xi64> to tensor<2x2xi64>
  return %1 : tensor<2x2xi64>
}

// -----

// CHECK-LABEL: func @expand_splat
// CHECK-NEXT: %[[C:.*]] = precis.constant dense<0xFF800000> : tensor<4x4xf32>
// CHECK-NEXT: return %[[C]]
func.func @expand_splat() -> tensor<4x4xf32> {
  %0 = precis.constant dense<0xFF800000> : tensor<1xf32>
  %1 = precis.expand %0 : tensor<1xf32> to tensor<4x4xf32>
  return %1 : tensor<4x4xf32>
}

// -----

// Parameters are never folded into constants: they may be trained.
// CHECK-LABEL: func @parameter_kept
// CHECK: precis.parameter "w"
// CHECK: precis.reshape
func.func @parameter_kept() -> tensor<2x2xf32> {
  %0 = precis.parameter "w" = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %1 = precis.reshape %0 : tensor<4xf32> to tensor<2x2xf32>
  return %1 : tensor<2x2xf32>
}

// -----

// Pure ops without users disappear.
// CHECK-LABEL: func @dead_code
// CHECK-NEXT: return
func.func @dead_code(%a: tensor<4xf32>) {
  %0 = precis.exp %a : tensor<4xf32>
  %1 = precis.constant dense<1.0> : tensor<4xf32>
  return
}
