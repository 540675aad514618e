// RUN: precis-opt %s -split-input-file -verify-diagnostics

func.func @matmul_contraction(%a: tensor<4x8xf32>, %b: tensor<9x16xf32>) {
  // expected-error @+1 {{matmul contraction sizes differ: 8 vs 9}}
  %0 = precis.matmul %a, %b : (tensor<4x8xf32>, tensor<9x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @matmul_result_shape(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>) {
  // expected-error @+1 {{result shape 'tensor<4x15xf32>' does not match the inferred [4, 16]}}
  %0 = precis.matmul %a, %b : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x15xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x4x8xf32>, %b: tensor<3x8x16xf32>) {
  // expected-error @+1 {{matmul batch dimensions do not broadcast}}
  %0 = precis.matmul %a, %b : (tensor<2x4x8xf32>, tensor<3x8x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @matmul_mixed_types(%a: tensor<4x8xbf16>, %b: tensor<8x16xf16>) {
  // expected-error @+1 {{expects all operands to share one element type}}
  %0 = precis.matmul %a, %b : (tensor<4x8xbf16>, tensor<8x16xf16>) -> tensor<4x16xf32>
  return
}

// -----

func.func @matmul_narrow_acc(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>) {
  // expected-error @+1 {{accumulation type 'bf16' is narrower than the operands' 'f32'}}
  %0 = precis.matmul %a, %b {acc_type = bf16} : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @matmul_rank1(%a: tensor<8xf32>, %b: tensor<8x16xf32>) {
  // expected-error @+1 {{matmul operands must have rank >= 2}}
  %0 = precis.matmul %a, %b : (tensor<8xf32>, tensor<8x16xf32>) -> tensor<16xf32>
  return
}

// -----

func.func @gemm_bias(%a: tensor<8x32xf32>, %b: tensor<32x10xf32>, %c: tensor<8x3xf32>) {
  // expected-error @+1 {{operand C 'tensor<8x3xf32>' does not broadcast to [8, 10]}}
  %0 = precis.gemm %a, %b, %c : (tensor<8x32xf32>, tensor<32x10xf32>, tensor<8x3xf32>) -> tensor<8x10xf32>
  return
}

// -----

func.func @gemm_rank(%a: tensor<2x8x32xf32>, %b: tensor<32x10xf32>) {
  // expected-error @+1 {{expects rank-2 operands and result}}
  %0 = precis.gemm %a, %b : (tensor<2x8x32xf32>, tensor<32x10xf32>) -> tensor<8x10xf32>
  return
}

// -----

func.func @conv_groups(%x: tensor<1x4x8x8xf32>, %w: tensor<6x2x3x3xf32>) {
  // expected-error @+1 {{groups 4 must divide input channels 4 and output channels 6}}
  %0 = precis.conv2d %x, %w {groups = 4 : i64} : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>) -> tensor<1x6x6x6xf32>
  return
}

// -----

func.func @conv_channels(%x: tensor<1x4x8x8xf32>, %w: tensor<6x3x3x3xf32>) {
  // expected-error @+1 {{weight has 3 input channels per group, expected 4}}
  %0 = precis.conv2d %x, %w : (tensor<1x4x8x8xf32>, tensor<6x3x3x3xf32>) -> tensor<1x6x6x6xf32>
  return
}

// -----

func.func @conv_output(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>) {
  // expected-error @+1 {{result shape 'tensor<1x6x8x8xf32>' does not match the inferred [1, 6, 6, 6]}}
  %0 = precis.conv2d %x, %w : (tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32>) -> tensor<1x6x8x8xf32>
  return
}

// -----

func.func @conv_pads(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>) {
  // expected-error @+1 {{expects 4 values in 'pads', got 2}}
  %0 = precis.conv2d %x, %w {pads = array<i64: 1, 1>} : (tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32>) -> tensor<1x6x8x8xf32>
  return
}

// -----

func.func @conv_bias(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{bias must be [6], got 'tensor<4xf32>'}}
  %0 = precis.conv2d %x, %w, %b : (tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32>, tensor<4xf32>) -> tensor<1x6x6x6xf32>
  return
}

// -----

func.func @add_broadcast(%a: tensor<4x8xf32>, %b: tensor<3xf32>) {
  // expected-error @+2 {{do not broadcast}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = precis.add %a, %b : (tensor<4x8xf32>, tensor<3xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @add_element_types(%a: tensor<4xf32>, %b: tensor<4xbf16>) {
  // expected-error @+1 {{requires the same element type for all operands and results}}
  %0 = precis.add %a, %b : (tensor<4xf32>, tensor<4xbf16>) -> tensor<4xf32>
  return
}

// -----

func.func @add_result(%a: tensor<4xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{inferred type(s) 'tensor<4xf32>' are incompatible with return type(s) of operation 'tensor<8xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = precis.add %a, %b : (tensor<4xf32>, tensor<4xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @dynamic_shape(%a: tensor<?xf32>) {
  // expected-error @+1 {{must be statically shaped tensor}}
  %0 = precis.relu %a : tensor<?xf32>
  return
}

// -----

func.func @where_types(%c: tensor<4xi1>, %a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+2 {{where branches differ in element type}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = precis.where %c, %a, %b : (tensor<4xi1>, tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return
}

// -----

func.func @compare_types(%a: tensor<4xf32>, %b: tensor<4xi64>) {
  // expected-error @+1 {{requires the same element type for all operands}}
  %0 = precis.compare eq, %a, %b : (tensor<4xf32>, tensor<4xi64>) -> tensor<4xi1>
  return
}

// -----

func.func @cast_shape(%a: tensor<4xf32>) {
  // expected-error @+1 {{requires the same shape for all operands and results}}
  %0 = precis.cast %a : tensor<4xf32> to tensor<5xbf16>
  return
}

// -----

func.func @dropout_ratio(%a: tensor<4xf32>) {
  // expected-error @+1 {{expects ratio in [0, 1), got 1}}
  %0:2 = precis.dropout %a {ratio = 1.0 : f32} : (tensor<4xf32>) -> (tensor<4xf32>, tensor<4xi1>)
  return
}

// -----

func.func @reshape_count(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{cannot reshape 'tensor<2x3xf32>' to 'tensor<7xf32>': element counts differ}}
  %0 = precis.reshape %a : tensor<2x3xf32> to tensor<7xf32>
  return
}

// -----

func.func @transpose_repeat(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{permutation repeats dimension 0}}
  %0 = precis.transpose %a {perm = array<i64: 0, 0>} : (tensor<2x3xf32>) -> tensor<2x2xf32>
  return
}

// -----

func.func @transpose_rank(%a: tensor<2x3xf32>) {
  // expected-error @+2 {{transpose permutation has 3 entries for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = precis.transpose %a {perm = array<i64: 0, 1, 2>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @concat_mismatch(%a: tensor<2x3xf32>, %b: tensor<3x3xf32>) {
  // expected-error @+2 {{concat inputs differ outside the axis}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = precis.concat %a, %b {axis = 1 : i64} : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @concat_axis(%a: tensor<2x3xf32>) {
  // expected-error @+2 {{concat axis 2 out of range for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = precis.concat %a {axis = 2 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @split_cover(%a: tensor<4x6xf32>) {
  // expected-error @+1 {{results cover 5 of the axis' 6 entries}}
  %0:2 = precis.split %a {axis = 1 : i64} : (tensor<4x6xf32>) -> (tensor<4x2xf32>, tensor<4x3xf32>)
  return
}

// -----

func.func @slice_step(%a: tensor<4xf32>) {
  // expected-error @+1 {{slice step is zero in dimension 0}}
  %0 = precis.slice %a {start = array<i64: 0>, limit = array<i64: 4>, step = array<i64: 0>} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @slice_bounds(%a: tensor<4xf32>) {
  // expected-error @+1 {{slice bounds [0, 6) out of range for dimension 0 of size 4}}
  %0 = precis.slice %a {start = array<i64: 0>, limit = array<i64: 6>, step = array<i64: 1>} : (tensor<4xf32>) -> tensor<6xf32>
  return
}

// -----

func.func @gather_axis(%a: tensor<4x8xf32>, %i: tensor<3xi64>) {
  // expected-error @+2 {{gather axis 2 out of range}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = precis.gather %a, %i {axis = 2 : i64} : (tensor<4x8xf32>, tensor<3xi64>) -> tensor<3x8xf32>
  return
}

// -----

func.func @gather_indices(%a: tensor<4x8xf32>, %i: tensor<3xf32>) {
  // expected-error @+1 {{operand #1 must be statically shaped tensor of 32-bit signless integer or 64-bit signless integer values}}
  %0 = precis.gather %a, %i : (tensor<4x8xf32>, tensor<3xf32>) -> tensor<3x8xf32>
  return
}

// -----

func.func @expand_shape(%a: tensor<2x4xf32>) {
  // expected-error @+1 {{cannot broadcast 'tensor<2x4xf32>' to 'tensor<3x4xf32>'}}
  %0 = precis.expand %a : tensor<2x4xf32> to tensor<3x4xf32>
  return
}

// -----

func.func @reduce_axis(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{reduction axis 2 out of range}}
  %0 = precis.reduce_sum %a {axes = array<i64: 2>} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @reduce_twice(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{reduces dimension 1 twice}}
  %0 = precis.reduce_mean %a {axes = array<i64: 1, -1>} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  return
}

// -----

func.func @softmax_axis(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{axis 2 out of range}}
  %0 = precis.softmax %a {axis = 2 : i64} : tensor<4x8xf32>
  return
}

// -----

func.func @layer_norm_scale(%a: tensor<4x8xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{does not broadcast to the normalised dimensions [8]}}
  %0 = precis.layer_norm %a, %s : (tensor<4x8xf32>, tensor<4xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @batch_norm_channels(%x: tensor<2x3x4x4xf32>, %c: tensor<3xf32>, %d: tensor<4xf32>) {
  // expected-error @+1 {{per-channel operands must be [3], got 'tensor<4xf32>'}}
  %0:3 = precis.batch_norm %x, %c, %c, %c, %d : (tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<4xf32>) -> (tensor<2x3x4x4xf32>, tensor<3xf32>, tensor<4xf32>)
  return
}

// -----

func.func @pool_rank(%x: tensor<3x4x4xf32>) {
  // expected-error @+2 {{2-D pooling expects an NCHW input}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = precis.max_pool2d %x {kernel = array<i64: 2, 2>} : (tensor<3x4x4xf32>) -> tensor<3x2x2xf32>
  return
}

// -----

func.func @pool_pads(%x: tensor<1x1x4x4xf32>) {
  // expected-error @+1 {{pads must be non-negative and smaller than the kernel}}
  %0 = precis.avg_pool2d %x {kernel = array<i64: 2, 2>, pads = array<i64: 2, 0, 0, 0>} : (tensor<1x1x4x4xf32>) -> tensor<1x1x5x3xf32>
  return
}

// -----

func.func @global_pool_rank(%x: tensor<4x8xf32>) {
  // expected-error @+2 {{global pooling expects N, C and spatial dimensions}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = precis.global_avg_pool %x : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @loss_labels(%s: tensor<8x10xf32>, %l: tensor<4xi64>) {
  // expected-error @+1 {{labels 'tensor<4xi64>' do not match scores 'tensor<8x10xf32>' (expected [8])}}
  %0:2 = precis.softmax_cross_entropy mean %s, %l : (tensor<8x10xf32>, tensor<4xi64>) -> (tensor<f32>, tensor<8x10xf32>)
  return
}

// -----

func.func @loss_weights(%s: tensor<8x10xf32>, %l: tensor<8xi64>, %w: tensor<8xf32>) {
  // expected-error @+1 {{weights must be [10], got 'tensor<8xf32>'}}
  %0 = precis.nll_loss mean %s, %l, %w : (tensor<8x10xf32>, tensor<8xi64>, tensor<8xf32>) -> tensor<f32>
  return
}

// -----

func.func @loss_reduced_shape(%s: tensor<8x10xf32>, %l: tensor<8xi64>) {
  // expected-error @+2 {{inferred type(s) 'tensor<f32>' are incompatible with return type(s) of operation 'tensor<8xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = precis.nll_loss mean %s, %l : (tensor<8x10xf32>, tensor<8xi64>) -> tensor<8xf32>
  return
}

// -----

func.func @parameter_name() {
  // expected-error @+1 {{expects a non-empty parameter name}}
  %0 = precis.parameter "" = dense<1.0> : tensor<2xf32>
  return
}

// -----

func.func @conv_grad_input_geometry(%dy: tensor<2x8x4x4xf32>, %w: tensor<8x2x3x3xf32>) {
  // expected-error @+1 {{gradient spatial size does not match the convolution geometry}}
  %0 = precis.conv2d_grad_input %dy, %w {groups = 2 : i64, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<2x8x4x4xf32>, tensor<8x2x3x3xf32>) -> tensor<2x4x9x9xf32>
  return
}

// -----

func.func @conv_grad_weight_channels(%x: tensor<2x4x9x9xf32>, %dy: tensor<2x8x7x7xf32>) {
  // expected-error @+1 {{channels do not match the weight and groups 1}}
  %0 = precis.conv2d_grad_weight %x, %dy : (tensor<2x4x9x9xf32>, tensor<2x8x7x7xf32>) -> tensor<8x2x3x3xf32>
  return
}

// -----

func.func @max_pool_grad_shape(%dy: tensor<1x2x2x2xf32>, %x: tensor<1x2x5x5xf32>) {
  // expected-error @+1 {{gradient shape does not match the pooled shape of the input}}
  %0 = precis.max_pool2d_grad %dy, %x {kernel = array<i64: 2, 2>} : (tensor<1x2x2x2xf32>, tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32>
  return
}

// -----

func.func @gather_grad_shape(%dy: tensor<8x32xf32>, %ids: tensor<8x16xi64>) {
  // expected-error @+1 {{gradient shape must be data[:axis] + indices + data[axis+1:]}}
  %0 = precis.gather_grad %dy, %ids : (tensor<8x32xf32>, tensor<8x16xi64>) -> tensor<64x32xf32>
  return
}

// -----

func.func @nll_loss_grad_reduction(%dl: tensor<8xf32>, %t: tensor<8xi64>) {
  // expected-error @+1 {{gradient shape does not match the reduction}}
  %0 = precis.nll_loss_grad mean %dl, %t : (tensor<8xf32>, tensor<8xi64>) -> tensor<8x10xf32>
  return
}

// -----

func.func @avg_pool_grad_shape(%dy: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{gradient shape does not match the pooled shape of the result}}
  %0 = precis.avg_pool2d_grad %dy {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x5x5xf32>
  return
}

// -----

func.func @slice_grad_outside(%dy: tensor<3xf32>) {
  // expected-error @+1 {{slice of dimension 0 leaves the result}}
  %0 = precis.slice_grad %dy {start = array<i64: 2>, limit = array<i64: 8>, step = array<i64: 2>} : (tensor<3xf32>) -> tensor<6xf32>
  return
}

// -----

func.func @sgd_momentum_without_buffer(%p: tensor<4xf32>, %s: tensor<f32>) -> tensor<4xf32> {
  // expected-error @+1 {{expects a momentum buffer operand and result exactly when momentum != 0}}
  %0 = precis.sgd_update %p, %p, %s, %s {momentum = 0.9 : f32} : (tensor<4xf32>, tensor<4xf32>, tensor<f32>, tensor<f32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @sgd_nesterov_dampening(%p: tensor<4xf32>, %s: tensor<f32>) -> tensor<4xf32> {
  // expected-error @+1 {{nesterov momentum requires a momentum and zero dampening}}
  %0:2 = precis.sgd_update %p, %p, %s, %s, %p {momentum = 0.9 : f32, dampening = 0.1 : f32, nesterov = true} : (tensor<4xf32>, tensor<4xf32>, tensor<f32>, tensor<f32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  return %0#0 : tensor<4xf32>
}

// -----

func.func @sgd_grad_shape(%p: tensor<4xf32>, %g: tensor<5xf32>, %s: tensor<f32>) -> tensor<4xf32> {
  // expected-error @+1 {{expects gradient and state of the parameter's type 'tensor<4xf32>', got 'tensor<5xf32>'}}
  %0 = precis.sgd_update %p, %g, %s, %s : (tensor<4xf32>, tensor<5xf32>, tensor<f32>, tensor<f32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @adam_bf16(%p: tensor<4xbf16>, %s: tensor<f32>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor of 32-bit float values}}
  %0:3 = precis.adam_update %p, %p, %p, %p, %s, %s : (tensor<4xbf16>, tensor<4xbf16>, tensor<4xbf16>, tensor<4xbf16>, tensor<f32>, tensor<f32>) -> (tensor<4xbf16>, tensor<4xbf16>, tensor<4xbf16>)
  return
}

// -----

func.func @adam_beta(%p: tensor<4xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{expects betas in [0, 1), got 1}}
  %0:3 = precis.adam_update %p, %p, %p, %p, %s, %s {beta2 = 1.0 : f32} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<f32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @adam_step_not_scalar(%p: tensor<4xf32>, %s: tensor<1xf32>) {
  // expected-error @+1 {{operand #4 must be 0D tensor of 32-bit float values}}
  %0:3 = precis.adam_update %p, %p, %p, %p, %s, %s : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<1xf32>, tensor<1xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func @fusion_yield_type(%x: tensor<4xf32>) -> tensor<4xbf16> {
  // expected-error @+1 {{yields 'tensor<4xf32>' but its results are 'tensor<4xbf16>'}}
  %r = precis.fusion elementwise (%x : tensor<4xf32>) -> tensor<4xbf16> {
  ^bb0(%a: tensor<4xf32>):
    %0 = precis.relu %a : tensor<4xf32>
    precis.yield %0 : tensor<4xf32>
  }
  return %r : tensor<4xbf16>
}

// -----

func.func @fusion_gemm_epilogue(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{expects an epilogue exactly when its kind is gemm}}
  %r = precis.fusion elementwise bias (%x : tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<4xf32>):
    %0 = precis.relu %a : tensor<4xf32>
    precis.yield %0 : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @fusion_arguments(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{expects one body argument per operand, got 0 for 1}}
  %r = precis.fusion elementwise (%x : tensor<4xf32>) -> tensor<4xf32> {
    %0 = precis.constant dense<1.0> : tensor<4xf32>
    precis.yield %0 : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @mod_float_needs_fmod(%a: tensor<4xf32>) {
  // expected-error @+1 {{on floats requires fmod = true}}
  %0 = precis.mod %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @is_nan_result_shape(%a: tensor<4xf32>) {
  // expected-error @+1 {{requires the same shape for all operands and results}}
  %0 = precis.is_nan %a : tensor<4xf32> -> tensor<3xi1>
  return
}

// -----

func.func @is_nan_result_type(%a: tensor<4xf32>) {
  // expected-error @+1 {{result #0 must be}}
  %0 = precis.is_nan %a : tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @pad_count(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{needs 2 * rank = 4 pads, got 2}}
  %0 = precis.pad %a {pads = array<i64: 1, 1>} : (tensor<4x8xf32>) -> tensor<6x8xf32>
  return
}

// -----

func.func @pad_negative(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{pads of dimension 0 are negative (-1, 0)}}
  %0 = precis.pad %a {pads = array<i64: -1, 0, 0, 0>} : (tensor<4x8xf32>) -> tensor<3x8xf32>
  return
}

// -----

func.func @pad_result_shape(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{result dimension 1 is 8, expected 9}}
  %0 = precis.pad %a {pads = array<i64: 0, 0, 0, 1>} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @pad_reflect_too_far(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{reflect pads of dimension 0 (4, 0) must be smaller than its size 4}}
  %0 = precis.pad %a mode = reflect {pads = array<i64: 4, 0, 0, 0>} : (tensor<4x8xf32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @trilu_rank(%a: tensor<4xf32>) {
  // expected-error @+1 {{needs a rank >= 2 operand}}
  %0 = precis.trilu %a : tensor<4xf32>
  return
}

// -----

func.func @cumsum_axis(%a: tensor<4xf32>) {
  // expected-error @+1 {{axis 1 out of range for rank 1}}
  %0 = precis.cumsum %a {axis = 1 : i64} : tensor<4xf32>
  return
}

// -----

func.func @gather_elements_shape(%a: tensor<4x8xf32>, %i: tensor<4x3xi64>) {
  // expected-error @+1 {{result must have the indices' shape and the data's element type}}
  %0 = precis.gather_elements %a, %i {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x3xi64>) -> tensor<4x8xf32>
  return
}

// -----

func.func @gather_elements_rank(%a: tensor<4x8xf32>, %i: tensor<3xi64>) {
  // expected-error @+1 {{indices rank 1 differs from data rank 2}}
  %0 = precis.gather_elements %a, %i {axis = 0 : i64} : (tensor<4x8xf32>, tensor<3xi64>) -> tensor<3xf32>
  return
}

// -----

func.func @gather_elements_extent(%a: tensor<4x8xf32>, %i: tensor<5x2xi64>) {
  // expected-error @+1 {{indices dimension 0 (5) exceeds the data's (4)}}
  %0 = precis.gather_elements %a, %i {axis = 1 : i64} : (tensor<4x8xf32>, tensor<5x2xi64>) -> tensor<5x2xf32>
  return
}

// -----

func.func @gather_elements_axis(%a: tensor<4x8xf32>, %i: tensor<4x2xi64>) {
  // expected-error @+1 {{axis 2 out of range for rank 2}}
  %0 = precis.gather_elements %a, %i {axis = 2 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>) -> tensor<4x2xf32>
  return
}

// -----

func.func @gather_elements_grad_shape(%g: tensor<4x3xf32>, %i: tensor<4x2xi64>) {
  // expected-error @+1 {{gradient must have the indices' shape and the result's element type}}
  %0 = precis.gather_elements_grad %g, %i {axis = 1 : i64} : (tensor<4x3xf32>, tensor<4x2xi64>) -> tensor<4x8xf32>
  return
}

// -----

func.func @gather_nd_width(%a: tensor<4x8xf32>, %i: tensor<3x3xi64>) {
  // expected-error @+1 {{indices must be [..., k] with 1 <= k <= 2}}
  %0 = precis.gather_nd %a, %i : (tensor<4x8xf32>, tensor<3x3xi64>) -> tensor<3xf32>
  return
}

// -----

func.func @gather_nd_result(%a: tensor<4x8xf32>, %i: tensor<3x1xi64>) {
  // expected-error @+1 {{result must be 'tensor<3x8xf32>'}}
  %0 = precis.gather_nd %a, %i : (tensor<4x8xf32>, tensor<3x1xi64>) -> tensor<3xf32>
  return
}

// -----

func.func @scatter_nd_updates(%a: tensor<4x8xf32>, %i: tensor<3x2xi64>, %u: tensor<3x8xf32>) {
  // expected-error @+1 {{updates must be 'tensor<3xf32>'}}
  %0 = precis.scatter_nd none %a, %i, %u : (tensor<4x8xf32>, tensor<3x2xi64>, tensor<3x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @scatter_nd_bool_add(%a: tensor<4xi1>, %i: tensor<1x1xi64>, %u: tensor<1xi1>) {
  // expected-error @+1 {{cannot add booleans}}
  %0 = precis.scatter_nd add %a, %i, %u : (tensor<4xi1>, tensor<1x1xi64>, tensor<1xi1>) -> tensor<4xi1>
  return
}

// -----

func.func @argmax_axis(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{axis 2 out of range for rank 2}}
  %0 = precis.argmax %a {axis = 2 : i64} : (tensor<4x8xf32>) -> tensor<4x8xi64>
  return
}

// -----

func.func @argmin_shape(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{result must be 'tensor<4xi64>'}}
  %0 = precis.argmin %a {axis = 1 : i64, keepdims = false} : (tensor<4x8xf32>) -> tensor<4x1xi64>
  return
}

// -----

func.func @topk_k(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{k 9 out of range for a dimension of size 8}}
  %0:2 = precis.topk %a {axis = 1 : i64, k = 9 : i64} : (tensor<4x8xf32>) -> (tensor<4x9xf32>, tensor<4x9xi64>)
  return
}

// -----

func.func @topk_results(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{results must be 'tensor<4x2xf32>' and its i64 indices}}
  %0:2 = precis.topk %a {axis = 1 : i64, k = 2 : i64} : (tensor<4x8xf32>) -> (tensor<4x3xf32>, tensor<4x3xi64>)
  return
}

// -----

func.func @all_reduce_types(%a: tensor<4xf32>) {
  // expected-error @+1 {{expects one result per operand, of its type}}
  %0 = precis.all_reduce %a : tensor<4xf32> -> tensor<5xf32>
  return
}

// -----

func.func @all_reduce_mean_int(%a: tensor<4xi64>) {
  // expected-error @+1 {{mean of integer operand 'tensor<4xi64>'}}
  %0 = precis.all_reduce %a {reduction = 1 : i32} : tensor<4xi64> -> tensor<4xi64>
  return
}

// -----

func.func @all_reduce_communicator(%a: tensor<4xf32>) {
  // expected-error @+1 {{has communicator 'rows'; the only communicator is "world"}}
  %0 = precis.all_reduce %a {communicator = "rows"} : tensor<4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @shard_shares(%a: tensor<10xf32>) {
  // expected-error @+1 {{expects 10 elements to be a whole number of shares of 4}}
  %0 = precis.shard %a : tensor<10xf32> -> tensor<4xf32>
  return
}

// -----

func.func @all_gather_rank(%a: tensor<2x2xf32>) {
  // expected-error @+1 {{expects rank-1 tensors}}
  %0 = precis.all_gather %a : tensor<2x2xf32> -> tensor<8xf32>
  return
}

// -----

func.func @resize_scales(%x: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{expects 4 scales, got 2}}
  %0 = precis.resize %x {scales = array<f64: 2.0, 2.0>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x8x8xf32>
  return
}

// -----

func.func @resize_mode(%x: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{mode 'bicubic' is not 'nearest', 'linear' or 'cubic'}}
  %0 = precis.resize %x {mode = "bicubic", scales = array<f64: 1.0, 1.0, 2.0, 2.0>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x8x8xf32>
  return
}

// -----

func.func @resize_coordinates(%x: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{unknown coordinate_transformation_mode 'tf_crop_and_resize'}}
  %0 = precis.resize %x {coordinate_transformation_mode = "tf_crop_and_resize", scales = array<f64: 1.0, 1.0, 2.0, 2.0>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x8x8xf32>
  return
}

// -----

func.func @resize_grad_rank(%dy: tensor<2x8x8xf32>) {
  // expected-error @+1 {{must have the same rank}}
  %0 = precis.resize_grad %dy {scales = array<f64: 1.0, 2.0, 2.0>} : (tensor<2x8x8xf32>) -> tensor<1x2x4x4xf32>
  return
}

// -----

func.func @resize_scale_positive(%x: tensor<4x4xf32>) {
  // expected-error @+1 {{of axis 1 must be positive}}
  %0 = precis.resize %x {scales = array<f64: 1.0, 0.0>} : (tensor<4x4xf32>) -> tensor<4x1xf32>
  return
}

// -----

func.func @rotary_dim_odd(%x: tensor<2x8xf32>, %c: tensor<2x3xf32>) {
  // expected-error @+1 {{rotary_dim 7 must be even and at most the last dimension 8}}
  %0 = precis.rotary %x, %c, %c {rotary_dim = 7 : i64} : (tensor<2x8xf32>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @attention_heads(%q: tensor<1x3x4x8xf32>, %k: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{query heads 3 are not a multiple of the key/value heads 2}}
  %0:2 = precis.attention %q, %k, %k {scale = 1.0 : f32} : tensor<1x3x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32> -> tensor<1x3x4x8xf32>, tensor<1x3x4xf32>
  return
}

// -----

func.func @rotary_cache_width(%x: tensor<2x8xf32>, %c: tensor<2x3xf32>) {
  // expected-error @+1 {{caches 'tensor<2x3xf32>' must end in 4 (per pair) or 8 (per channel)}}
  %0 = precis.rotary %x, %c, %c : (tensor<2x8xf32>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @attention_head_size(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x6xf32>) {
  // expected-error @+1 {{query head size 8 differs from the key's 6}}
  %0:2 = precis.attention %q, %k, %k {scale = 1.0 : f32} : tensor<1x2x4x8xf32>, tensor<1x2x4x6xf32>, tensor<1x2x4x6xf32> -> tensor<1x2x4x6xf32>, tensor<1x2x4xf32>
  return
}

// -----

func.func @rotary_cache_broadcast(%x: tensor<2x8xf32>, %c: tensor<3x4xf32>) {
  // expected-error @+1 {{caches 'tensor<3x4xf32>' do not broadcast to [2, 4]}}
  %0 = precis.rotary %x, %c, %c : (tensor<2x8xf32>, tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @attention_mask(%q: tensor<1x2x4x8xf32>, %m: tensor<3x4xf32>) {
  // expected-error @+1 {{mask 'tensor<3x4xf32>' does not broadcast to [1, 2, 4, 4]}}
  %0:2 = precis.attention %q, %q, %q, %m {scale = 1.0 : f32} : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<3x4xf32> -> tensor<1x2x4x8xf32>, tensor<1x2x4xf32>
  return
}

// -----

func.func @rotary_caches_differ(%x: tensor<2x8xf32>, %c: tensor<2x4xf32>, %s: tensor<1x4xf32>) {
  // expected-error @+1 {{cos 'tensor<2x4xf32>' and sin 'tensor<1x4xf32>' differ}}
  %0 = precis.rotary %x, %c, %s : (tensor<2x8xf32>, tensor<2x4xf32>, tensor<1x4xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @attention_result(%q: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{logsumexp 'tensor<1x2xf32>' is not [1, 2, 4]}}
  %0:2 = precis.attention %q, %q, %q {scale = 1.0 : f32} : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32> -> tensor<1x2x4x8xf32>, tensor<1x2xf32>
  return
}
