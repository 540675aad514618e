// RUN: precis-opt %s -split-input-file -pass-pipeline='builtin.module(func.func(precis-inline-fusions))' | FileCheck %s

// A group's body takes its place, reading the group's inputs and giving its results.
// CHECK-LABEL: func.func @elementwise
// CHECK-NOT: precis.fusion
// CHECK: %[[S:.*]] = precis.add %arg0, %arg1
// CHECK: %[[Y:.*]] = precis.relu %[[S]]
// CHECK: %[[Z:.*]] = precis.mul %[[Y]], %[[Y]]
// CHECK: return %[[Z]]
func.func @elementwise(%x: tensor<8x64xbf16>, %b: tensor<64xbf16>) -> tensor<8x64xbf16> {
  %r = precis.fusion elementwise (%x, %b : tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16> {
  ^bb0(%a0: tensor<8x64xbf16>, %a1: tensor<64xbf16>):
    %0 = precis.add %a0, %a1 : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
    %1 = precis.relu %0 : tensor<8x64xbf16>
    precis.yield %1 : tensor<8x64xbf16>
  }
  %z = precis.mul %r, %r : (tensor<8x64xbf16>, tensor<8x64xbf16>) -> tensor<8x64xbf16>
  return %z : tensor<8x64xbf16>
}

// -----

// A function without groups is unchanged.
// CHECK-LABEL: func.func @plain
// CHECK-NEXT: %[[S:.*]] = precis.add %arg0, %arg0
// CHECK-NEXT: return %[[S]]
func.func @plain(%x: tensor<4xf32>) -> tensor<4xf32> {
  %s = precis.add %x, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %s : tensor<4xf32>
}
