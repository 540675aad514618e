// RUN: precis-opt %s -split-input-file -precis-recognize-rotary | FileCheck %s

// Llama's apply_rotary_pos_emb as the exporters write it: rotate_half by two slices, a neg and
// a concat; cos and sin [batch, 1, seq, head] broadcast over the heads.
// CHECK-LABEL: func.func @llama
// CHECK-NEXT: %[[Y:.*]] = precis.rotary %arg0, %arg1, %arg2 : (tensor<2x4x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x4x8x16xf32>
// CHECK-NEXT: return %[[Y]]
func.func @llama(%x: tensor<2x4x8x16xf32>, %cos: tensor<2x1x8x16xf32>, %sin: tensor<2x1x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %0 = precis.slice %x {limit = array<i64: 2, 4, 8, 8>, start = array<i64: 0, 0, 0, 0>, step = array<i64: 1, 1, 1, 1>} : (tensor<2x4x8x16xf32>) -> tensor<2x4x8x8xf32>
  %1 = precis.slice %x {limit = array<i64: 2, 4, 8, 16>, start = array<i64: 0, 0, 0, 8>, step = array<i64: 1, 1, 1, 1>} : (tensor<2x4x8x16xf32>) -> tensor<2x4x8x8xf32>
  %2 = precis.neg %1 : tensor<2x4x8x8xf32>
  %3 = precis.concat %2, %0 {axis = -1 : i64} : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x16xf32>
  %4 = precis.mul %x, %cos : (tensor<2x4x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x4x8x16xf32>
  %5 = precis.mul %3, %sin : (tensor<2x4x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x4x8x16xf32>
  %6 = precis.add %4, %5 : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return %6 : tensor<2x4x8x16xf32>
}

// -----

// The halves from a split, the negation as a product with -1, the operands of both products
// and of the sum the other way round, 2-D caches; the rotated value is itself a slice (a
// partial rotation, the rest concatenated back by the model), bf16.
// CHECK-LABEL: func.func @split_swapped_partial
// CHECK: %[[XR:.*]] = precis.slice %arg0
// CHECK-NEXT: %[[Y:.*]] = precis.rotary %[[XR]], %arg1, %arg2 : (tensor<3x5x4xbf16>, tensor<5x4xbf16>, tensor<5x4xbf16>) -> tensor<3x5x4xbf16>
// CHECK-NEXT: return %[[Y]]
func.func @split_swapped_partial(%x: tensor<3x5x8xbf16>, %cos: tensor<5x4xbf16>, %sin: tensor<5x4xbf16>) -> tensor<3x5x4xbf16> {
  %m1 = precis.constant dense<-1.0> : tensor<bf16>
  %xr = precis.slice %x {limit = array<i64: 3, 5, 4>, start = array<i64: 0, 0, 0>, step = array<i64: 1, 1, 1>} : (tensor<3x5x8xbf16>) -> tensor<3x5x4xbf16>
  %h:2 = precis.split %xr {axis = 2 : i64} : (tensor<3x5x4xbf16>) -> (tensor<3x5x2xbf16>, tensor<3x5x2xbf16>)
  %n = precis.mul %m1, %h#1 : (tensor<bf16>, tensor<3x5x2xbf16>) -> tensor<3x5x2xbf16>
  %r = precis.concat %n, %h#0 {axis = 2 : i64} : (tensor<3x5x2xbf16>, tensor<3x5x2xbf16>) -> tensor<3x5x4xbf16>
  %a = precis.mul %cos, %xr : (tensor<5x4xbf16>, tensor<3x5x4xbf16>) -> tensor<3x5x4xbf16>
  %b = precis.mul %sin, %r : (tensor<5x4xbf16>, tensor<3x5x4xbf16>) -> tensor<3x5x4xbf16>
  %y = precis.add %b, %a : (tensor<3x5x4xbf16>, tensor<3x5x4xbf16>) -> tensor<3x5x4xbf16>
  return %y : tensor<3x5x4xbf16>
}

// -----

// Not rotate_half: the halves swapped without the negation on the first, the cos product of
// another value, caches that do not end in the channel count. Nothing changes.
// CHECK-LABEL: func.func @not_rotary
// CHECK-NOT: precis.rotary
func.func @not_rotary(%x: tensor<4x8xf32>, %z: tensor<4x8xf32>, %cos: tensor<4x8xf32>, %sin: tensor<4x8xf32>, %c1: tensor<4x1xf32>)
    -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = precis.slice %x {limit = array<i64: 4, 4>, start = array<i64: 0, 0>, step = array<i64: 1, 1>} : (tensor<4x8xf32>) -> tensor<4x4xf32>
  %1 = precis.slice %x {limit = array<i64: 4, 8>, start = array<i64: 0, 4>, step = array<i64: 1, 1>} : (tensor<4x8xf32>) -> tensor<4x4xf32>
  %2 = precis.neg %0 : tensor<4x4xf32>
  %3 = precis.concat %2, %1 {axis = 1 : i64} : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x8xf32>
  %4 = precis.mul %x, %cos : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %5 = precis.mul %3, %sin : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %6 = precis.add %4, %5 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %n = precis.neg %1 : tensor<4x4xf32>
  %r = precis.concat %n, %0 {axis = 1 : i64} : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x8xf32>
  %rs = precis.mul %r, %sin : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %zc = precis.mul %z, %cos : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %7 = precis.add %zc, %rs : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %xc = precis.mul %x, %c1 : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %rc = precis.mul %r, %c1 : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %8 = precis.add %xc, %rc : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %6, %7, %8 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// GPT-J's rotate_every_two: the even and odd channels (stride-2 slices), the odd ones negated,
// stacked on a new last axis and flattened back; an interleaved rotary.
// CHECK-LABEL: func.func @gptj
// CHECK-NEXT: %[[Y:.*]] = precis.rotary %arg0, %arg1, %arg2 {interleaved = true} : (tensor<2x8x4x8xf32>, tensor<1x8x1x8xf32>, tensor<1x8x1x8xf32>) -> tensor<2x8x4x8xf32>
// CHECK-NEXT: return %[[Y]]
func.func @gptj(%x: tensor<2x8x4x8xf32>, %cos: tensor<1x8x1x8xf32>, %sin: tensor<1x8x1x8xf32>) -> tensor<2x8x4x8xf32> {
  %0 = precis.slice %x {limit = array<i64: 2, 8, 4, 8>, start = array<i64: 0, 0, 0, 0>, step = array<i64: 1, 1, 1, 2>} : (tensor<2x8x4x8xf32>) -> tensor<2x8x4x4xf32>
  %1 = precis.slice %x {limit = array<i64: 2, 8, 4, 8>, start = array<i64: 0, 0, 0, 1>, step = array<i64: 1, 1, 1, 2>} : (tensor<2x8x4x8xf32>) -> tensor<2x8x4x4xf32>
  %2 = precis.neg %1 : tensor<2x8x4x4xf32>
  %3 = precis.reshape %2 : tensor<2x8x4x4xf32> to tensor<2x8x4x4x1xf32>
  %4 = precis.reshape %0 : tensor<2x8x4x4xf32> to tensor<2x8x4x4x1xf32>
  %5 = precis.concat %3, %4 {axis = 4 : i64} : (tensor<2x8x4x4x1xf32>, tensor<2x8x4x4x1xf32>) -> tensor<2x8x4x4x2xf32>
  %6 = precis.reshape %5 : tensor<2x8x4x4x2xf32> to tensor<2x8x4x8xf32>
  %7 = precis.mul %x, %cos : (tensor<2x8x4x8xf32>, tensor<1x8x1x8xf32>) -> tensor<2x8x4x8xf32>
  %8 = precis.mul %6, %sin : (tensor<2x8x4x8xf32>, tensor<1x8x1x8xf32>) -> tensor<2x8x4x8xf32>
  %9 = precis.add %7, %8 : (tensor<2x8x4x8xf32>, tensor<2x8x4x8xf32>) -> tensor<2x8x4x8xf32>
  return %9 : tensor<2x8x4x8xf32>
}
