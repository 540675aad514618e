// RUN: precis-opt %s -split-input-file -canonicalize | FileCheck %s
// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=fp16 | FileCheck %s --check-prefix=FP16

// Parameters and large constants keep their data in `dense_resource` blobs (more than 8
// floats or 16 integers, not a splat: storeElements). Folders and passes read them as they
// read inline data.

// A reshape of a blob constant folds to a constant reading the same blob.
// CHECK-LABEL: func.func @reshape_blob
// CHECK: %[[C:.*]] = precis.constant dense_resource<steps> : tensor<4x5xf32>
// CHECK-NOT: precis.reshape
// CHECK: return %[[C]]
func.func @reshape_blob() -> tensor<4x5xf32> {
  %0 = precis.constant dense_resource<steps> : tensor<20xf32>
  %1 = precis.reshape %0 : tensor<20xf32> to tensor<4x5xf32>
  return %1 : tensor<4x5xf32>
}

{-#
  dialect_resources: {
    builtin: {
      steps: "0x04000000000000000000803F0000004000004040000080400000A0400000C0400000E040000000410000104100002041000030410000404100005041000060410000704100008041000088410000904100009841"
    }
  }
#-}

// -----

// fp16 range safety sees the -1e9 inside a blob.
// FP16-LABEL: func.func @masked_blob
// FP16: precis.where {{.*}}#precis.decision<range.fp16 f32 -> f32, "operand 2 is a constant holding |value| 1e+09, outside fp16's range (max 65504): kept in fp32">
func.func @masked_blob(%q: tensor<8x16xf32>, %k: tensor<8x16xf32>, %m: tensor<8x8xi1>) -> tensor<8x8xf32> {
  %s = precis.matmul %q, %k {transpose_rhs = true} : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x8xf32>
  %mask = precis.constant dense_resource<mask> : tensor<8x8xf32>
  %w = precis.where %m, %s, %mask : (tensor<8x8xi1>, tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  return %w : tensor<8x8xf32>
}

{-#
  dialect_resources: {
    builtin: {
      mask: "0x04000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000286B6E4E"
    }
  }
#-}
