// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=bf16 -precis-insert-casts | FileCheck %s
// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=bf16 -precis-insert-casts -canonicalize | FileCheck %s --check-prefix=CANON

// Operands are cast once, right after their definition; the matmul's result is bf16 with fp32
// accumulation; the bias add follows in bf16; softmax gets an fp32 copy; the signature stays.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[X:.*]]: tensor<4x16xf32>) -> tensor<4x8xf32>
// CHECK: %[[XB:.*]] = precis.cast %[[X]] {{.*}}#precis.decision<cast {{.*}} : tensor<4x16xf32> to tensor<4x16xbf16>
// CHECK: %[[W:.*]] = precis.parameter "w"
// CHECK: %[[WB:.*]] = precis.cast %[[W]] {{.*}}: tensor<16x8xf32> to tensor<16x8xbf16>
// CHECK: %[[B:.*]] = precis.parameter "b"
// CHECK: %[[BB:.*]] = precis.cast %[[B]] {{.*}}: tensor<8xf32> to tensor<8xbf16>
// CHECK: %[[Y:.*]] = precis.matmul %[[XB]], %[[WB]] {acc_type = f32, {{.*}}} : (tensor<4x16xbf16>, tensor<16x8xbf16>) -> tensor<4x8xbf16>
// CHECK: %[[Z:.*]] = precis.add %[[Y]], %[[BB]] {{.*}} : (tensor<4x8xbf16>, tensor<8xbf16>) -> tensor<4x8xbf16>
// CHECK: %[[ZF:.*]] = precis.cast %[[Z]] {{.*}} : tensor<4x8xbf16> to tensor<4x8xf32>
// CHECK: %[[S:.*]] = precis.softmax %[[ZF]] {{.*}} : tensor<4x8xf32>
// CHECK: return %[[S]] : tensor<4x8xf32>
func.func @mlp(%x: tensor<4x16xf32>) -> tensor<4x8xf32> {
  %w = precis.parameter "w" = dense<0.5> : tensor<16x8xf32>
  %b = precis.parameter "b" = dense<0.25> : tensor<8xf32>
  %y = precis.matmul %x, %w : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %z = precis.add %y, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %s = precis.softmax %z : tensor<4x8xf32>
  return %s : tensor<4x8xf32>
}

// -----

// A weight used by two GEMMs gets one bf16 copy; a bf16 result returned from the function is
// cast back to the declared fp32.
// CHECK-LABEL: func.func @shared
// CHECK-COUNT-1: precis.cast %arg1 {{.*}} to tensor<8x8xbf16>
// CHECK-NOT: precis.cast %arg1
// CHECK: return
func.func @shared(%x: tensor<8x8xf32>, %w: tensor<8x8xf32> {precis.param_name = "w"}) -> tensor<8x8xf32> {
  %a = precis.matmul %x, %w : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  %b = precis.matmul %a, %w : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  return %b : tensor<8x8xf32>
}

// -----

// Cast folding: a chain that loses no bits (bf16 -> f32 -> bf16) folds away; a round trip
// through a narrower type (f32 -> bf16 -> f32) rounds and stays.
// CANON-LABEL: func.func @chains
// CANON-SAME: (%[[A:.*]]: tensor<4xbf16>, %[[B:.*]]: tensor<4xf32>)
// CANON: %[[R:.*]] = precis.cast %[[B]] {{.*}}: tensor<4xf32> to tensor<4xbf16>
// CANON: %[[R2:.*]] = precis.cast %[[R]] {{.*}}: tensor<4xbf16> to tensor<4xf32>
// CANON: return %[[A]], %[[R2]]
func.func @chains(%a: tensor<4xbf16>, %b: tensor<4xf32>) -> (tensor<4xbf16>, tensor<4xf32>) {
  %0 = precis.cast %a : tensor<4xbf16> to tensor<4xf32>
  %1 = precis.cast %0 : tensor<4xf32> to tensor<4xbf16>
  %2 = precis.cast %b : tensor<4xf32> to tensor<4xbf16>
  %3 = precis.cast %2 : tensor<4xbf16> to tensor<4xf32>
  return %1, %3 : tensor<4xbf16>, tensor<4xf32>
}
