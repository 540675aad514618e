// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=bf16 -precis-insert-casts | FileCheck %s
// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=fp16 -precis-insert-casts | FileCheck %s --check-prefix=FP16

// Compute precision is not storage precision. The batch norm computes in fp32; every reader
// of its result (the ReLU, which then runs in bf16, and the backward's `y > 0` mask) reads it
// in bf16, so it is stored as bf16: one cast right after it, and no fp32 value of it lives on.
// Its running statistics are returned, so they stay fp32. The backward's fp32 read of the
// conv output gets a cast of its own in the backward, so the bf16 conv output is what lives
// across the passes, not an fp32 copy.
// CHECK-LABEL: func.func @conv_bn_relu_conv
// CHECK: %[[C:.*]] = precis.conv2d {{.*}} -> tensor<2x4x6x6xbf16>
// CHECK-NEXT: %[[CF:.*]] = precis.cast %[[C]] {{.*}} to tensor<2x4x6x6xf32>
// CHECK-NEXT: %[[Y:.*]], %{{.*}}, %{{.*}} = precis.batch_norm %[[CF]], {{.*}}#precis.decision<sensitive f32 -> f32, "sensitive-class op (batch_norm): fp32; result 0 stored as bf16: every consumer reads it in bf16 (compare, relu)">{{.*}} -> (tensor<2x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT: %[[YB:.*]] = precis.cast %[[Y]] {{.*}} to tensor<2x4x6x6xbf16>
// CHECK-NEXT: %[[R:.*]] = precis.relu %[[YB]] {{.*}}#precis.decision<follow bf16 -> bf16{{.*}} : tensor<2x4x6x6xbf16>
// CHECK-NEXT: precis.conv2d %[[R]]
// CHECK-NOT: %[[Y]]
// CHECK: precis.compare gt, %[[YB]]
// CHECK: %[[CF2:.*]] = precis.cast %[[C]] {{.*}}precis.phase = "backward"} : tensor<2x4x6x6xbf16> to tensor<2x4x6x6xf32>
// CHECK-NEXT: precis.reduce_sum %[[CF2]]
func.func @conv_bn_relu_conv(%x: tensor<2x3x8x8xf32>, %w1: tensor<4x3x3x3xf32> {precis.param_name = "w1"},
                             %s: tensor<4xf32> {precis.param_name = "s"}, %b: tensor<4xf32> {precis.param_name = "b"},
                             %m: tensor<4xf32> {precis.param_name = "m"}, %v: tensor<4xf32> {precis.param_name = "v"},
                             %w2: tensor<4x4x3x3xf32> {precis.param_name = "w2"})
    -> (tensor<2x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<2x4x6x6xi1>, tensor<1x4x1x1xf32>) {
  %c = precis.conv2d %x, %w1 : (tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<2x4x6x6xf32>
  %y, %nm, %nv = precis.batch_norm %c, %s, %b, %m, %v {training = true} : (tensor<2x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>)
  %r = precis.relu %y : tensor<2x4x6x6xf32>
  %o = precis.conv2d %r, %w2 : (tensor<2x4x6x6xf32>, tensor<4x4x3x3xf32>) -> tensor<2x4x4x4xf32>
  %zero = precis.constant dense<0.0> : tensor<f32>
  %mask = precis.compare gt, %y, %zero {precis.phase = "backward"} : (tensor<2x4x6x6xf32>, tensor<f32>) -> tensor<2x4x6x6xi1>
  %sum = precis.reduce_sum %c {axes = array<i64: 0, 2, 3>, precis.phase = "backward"} : (tensor<2x4x6x6xf32>) -> tensor<1x4x1x1xf32>
  return %o, %nm, %nv, %mask, %sum : tensor<2x4x4x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<2x4x6x6xi1>, tensor<1x4x1x1xf32>
}

// FP16-LABEL: func.func @conv_bn_relu_conv
// FP16-NOT: stored as
// FP16: precis.relu {{.*}} : tensor<2x4x6x6xf32>

// -----

// A residual add of the norm's result and an fp32 stream runs in fp32, so the norm's result
// is read in fp32 there and stays fp32; the softmax read by a bf16 matmul alone is stored as
// bf16 (the cast the matmul needs anyway, made right after the softmax).
// CHECK-LABEL: func.func @mixed_readers
// CHECK: precis.layer_norm {{.*}}#precis.decision<sensitive f32 -> f32, "sensitive-class op (layer_norm): fp32">
// CHECK: precis.add {{.*}}#precis.decision<follow f32 -> f32
// CHECK: %[[P:.*]] = precis.softmax {{.*}}stored as bf16: every consumer reads it in bf16 (matmul)
// CHECK-NEXT: precis.cast %[[P]] {{.*}} to tensor<4x8xbf16>
func.func @mixed_readers(%x: tensor<4x8xf32>, %g: tensor<8xf32> {precis.param_name = "g"}, %w: tensor<8x8xf32> {precis.param_name = "w"}) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %n = precis.layer_norm %x, %g : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %a = precis.add %n, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %p = precis.softmax %a : tensor<4x8xf32>
  %o = precis.matmul %p, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  return %a, %o : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// A cast in the model to another type reads the norm's fp32 result: it stays fp32. A cast to
// bf16 rounds as storing would.
// CHECK-LABEL: func.func @model_casts
// CHECK: precis.layer_norm {{.*}}#precis.decision<sensitive f32 -> f32, "sensitive-class op (layer_norm): fp32">
// CHECK: precis.softmax {{.*}}stored as bf16: every consumer reads it in bf16 (cast)
func.func @model_casts(%x: tensor<4x8xf32>, %g: tensor<8xf32> {precis.param_name = "g"}) -> (tensor<4x8xf16>, tensor<4x8xbf16>) {
  %n = precis.layer_norm %x, %g : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %h = precis.cast %n : tensor<4x8xf32> to tensor<4x8xf16>
  %p = precis.softmax %x : tensor<4x8xf32>
  %b = precis.cast %p : tensor<4x8xf32> to tensor<4x8xbf16>
  return %h, %b : tensor<4x8xf16>, tensor<4x8xbf16>
}

// -----

// Storage applies to forward activations: a backward reduction (a bias gradient) read by an
// op that would follow it into bf16 stays fp32.
// CHECK-LABEL: func.func @backward_reduction
// CHECK: precis.reduce_sum {{.*}}#precis.decision<sensitive f32 -> f32, "sensitive-class op (reduce_sum): fp32">
// CHECK: precis.reshape {{.*}}#precis.decision<follow f32 -> f32
func.func @backward_reduction(%dy: tensor<4x8xf32>, %w: tensor<8x8xf32> {precis.param_name = "w"}) -> tensor<8xf32> {
  %g = precis.matmul %dy, %w {precis.phase = "backward"} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %s = precis.reduce_sum %g {axes = array<i64: 0>, precis.phase = "backward"} : (tensor<4x8xf32>) -> tensor<1x8xf32>
  %r = precis.reshape %s {precis.phase = "backward"} : tensor<1x8xf32> to tensor<8xf32>
  return %r : tensor<8xf32>
}
