//===- GradientCases.h - one small program per differentiable op -------*- C++ -*-===//
//
// The cases of the finite-difference gradient suite (GradientTest.cpp): each applies one op,
// or a short composition, to f64 parameters. The op coverage test (OpCoverageTest.cpp) reads
// them too, to require a gradient case for every differentiable op and to find an instance
// of each op to hand to the CUDA emitter.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_UNITTESTS_GRADIENTCASES_H
#define PRECIS_UNITTESTS_GRADIENTCASES_H

#include <cstdint>
#include <string>
#include <vector>

namespace precis::testing::gradient {

/// How a parameter's values are drawn.
enum class Domain {
  Normal,       // uniform in [-1, 1]
  Positive,     // uniform in [0.5, 2] (log, sqrt, rsqrt, reciprocal, pow base)
  AwayFromZero, // |x| in [0.2, 1], random sign (relu, abs, leaky_relu kinks at 0)
  Distinct,     // a shuffled ladder 0.1 apart (max reductions and pooling: no ties)
  Small,        // uniform in [-0.1, 0.1]: against AwayFromZero, max/min never tie
};

struct Param {
  std::vector<int64_t> shape;
  Domain domain = Domain::Normal;
};

/// One op under test. `body` uses %p0, %p1, ... (the parameters, f64) and defines `%out` of
/// shape `out`; `{pK}` in it is replaced by the type of parameter K.
struct Case {
  std::string name;
  std::vector<Param> params;
  std::vector<int64_t> out;
  std::string body;
  double rel = 1e-6, abs = 1e-7;
  /// Relative step of the central difference.
  double step = 1e-6;
};

inline std::string typeOf(const std::vector<int64_t> &shape) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += std::to_string(d) + "x";
  return s + "f64>";
}

inline int64_t count(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// A unary element-wise op `mnemonic` on a [2, 3] parameter.
inline Case unary(const std::string &mnemonic, Domain domain = Domain::Normal,
                  const std::string &attrs = "") {
  return {mnemonic + (attrs.empty() ? "" : "_attrs"),
          {{{2, 3}, domain}},
          {2, 3},
          "  %out = precis." + mnemonic + " %p0 " + attrs + ": {p0}"};
}

/// A broadcasting binary op on [2, 3] and [3] (or [2, 1]) parameters.
inline Case binary(const std::string &mnemonic, std::vector<int64_t> rhs,
                   Domain l = Domain::Normal, Domain r = Domain::Normal) {
  std::string suffix;
  for (int64_t d : rhs)
    suffix += "_" + std::to_string(d);
  return {mnemonic + suffix,
          {{{2, 3}, l}, {rhs, r}},
          {2, 3},
          "  %out = precis." + mnemonic + " %p0, %p1 : ({p0}, {p1}) -> {out}"};
}

/// Every case of the suite.
inline std::vector<Case> allCases() {
  std::vector<Case> cases = {
      // Contractions.
      {"matmul_batch_broadcast",
       {{{2, 3, 4}}, {{4, 5}}},
       {2, 3, 5},
       "  %out = precis.matmul %p0, %p1 {acc_type = f64} : ({p0}, {p1}) -> {out}"},
      {"matmul_transposed",
       {{{1, 4, 3}}, {{2, 5, 4}}},
       {2, 3, 5},
       "  %out = precis.matmul %p0, %p1 {acc_type = f64, transpose_lhs = true, "
       "transpose_rhs = true} : ({p0}, {p1}) -> {out}"},
      {"gemm_transpose_b_bias",
       {{{3, 4}}, {{5, 4}}, {{5}}},
       {3, 5},
       "  %out = precis.gemm %p0, %p1, %p2 {acc_type = f64, alpha = 0.75 : f32, beta = 1.5 : "
       "f32, transpose_b = true} : ({p0}, {p1}, {p2}) -> {out}"},
      {"gemm_transpose_a_column_c",
       {{{4, 3}}, {{4, 5}}, {{3, 1}}},
       {3, 5},
       "  %out = precis.gemm %p0, %p1, %p2 {acc_type = f64, transpose_a = true} : ({p0}, {p1}, "
       "{p2}) -> {out}"},
      {"conv2d_groups_stride_pad",
       {{{2, 2, 5, 5}}, {{4, 1, 3, 3}}, {{4}}},
       {2, 4, 3, 3},
       "  %out = precis.conv2d %p0, %p1, %p2 {acc_type = f64, groups = 2 : i64, pads = "
       "array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : ({p0}, {p1}, {p2}) -> {out}"},
      {"conv2d_dilated_asymmetric_pad",
       {{{1, 3, 6, 5}}, {{2, 3, 2, 3}}},
       {1, 2, 5, 5},
       "  %out = precis.conv2d %p0, %p1 {acc_type = f64, dilations = array<i64: 2, 1>, pads = "
       "array<i64: 1, 0, 0, 2>} : ({p0}, {p1}) -> {out}"},
      // ConvTranspose: the conv2d input gradient as a forward op (output_padding 1).
      {"conv2d_grad_input_groups_stride",
       {{{1, 4, 3, 3}}, {{4, 1, 3, 3}}},
       {1, 2, 6, 6},
       "  %out = precis.conv2d_grad_input %p0, %p1 {acc_type = f64, groups = 2 : i64, pads = "
       "array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : ({p0}, {p1}) -> {out}"},
      // Element-wise.
      binary("add", {3}),
      binary("add", {2, 1}),
      binary("sub", {3}),
      binary("mul", {2, 1}),
      binary("div", {3}, Domain::Normal, Domain::Positive),
      binary("pow", {3}, Domain::Positive, Domain::Normal),
      unary("neg"),
      unary("abs", Domain::AwayFromZero),
      unary("relu", Domain::AwayFromZero),
      unary("leaky_relu", Domain::AwayFromZero, "{alpha = 0.2 : f32} "),
      unary("gelu"),
      unary("gelu", Domain::Normal, "approximation = tanh "),
      unary("tanh"),
      unary("sigmoid"),
      unary("erf"),
      unary("exp"),
      unary("log", Domain::Positive),
      unary("sqrt", Domain::Positive),
      unary("rsqrt", Domain::Positive),
      unary("reciprocal", Domain::Positive),
      unary("sin"),
      unary("softplus"),
      unary("cos"),
      // Kinks at x = -0.25 and 0.25, away from the drawn |x| >= 0.2 only by the draw; both
      // flat sides and the slope are hit.
      unary("hard_sigmoid", Domain::AwayFromZero, "{alpha = 2.0 : f32, beta = 0.5 : f32} "),
      {"pad_constant",
       {{{2, 3}}},
       {3, 6},
       "  %out = precis.pad %p0 {pads = array<i64: 1, 2, 0, 1>, value = 0.5 : f64} : ({p0}) -> "
       "{out}"},
      {"trilu_lower",
       {{{2, 3, 4}}},
       {2, 3, 4},
       "  %out = precis.trilu %p0 {upper = false, k = 1 : i64} : {p0}"},
      // rotary: per-pair caches broadcast over the heads, per-channel caches with a partial
      // rotation, interleaved pairs.
      {"rotary_per_pair",
       {{{2, 3, 4, 6}}, {{2, 1, 4, 3}}, {{2, 1, 4, 3}}},
       {2, 3, 4, 6},
       "  %out = precis.rotary %p0, %p1, %p2 : ({p0}, {p1}, {p2}) -> {out}"},
      {"rotary_per_channel_partial",
       {{{2, 3, 8}}, {{3, 4}}, {{3, 4}}},
       {2, 3, 8},
       "  %out = precis.rotary %p0, %p1, %p2 {rotary_dim = 4 : i64} : ({p0}, {p1}, {p2}) -> "
       "{out}"},
      {"rotary_interleaved",
       {{{3, 8}}, {{3, 3}}, {{3, 3}}},
       {3, 8},
       "  %out = precis.rotary %p0, %p1, %p2 {interleaved = true, rotary_dim = 6 : i64} : ({p0}, "
       "{p1}, {p2}) -> {out}"},
      {"rotary_interleaved_per_channel",
       {{{2, 3, 6}}, {{3, 6}}, {{3, 6}}},
       {2, 3, 6},
       "  %out = precis.rotary %p0, %p1, %p2 {interleaved = true} : ({p0}, {p1}, {p2}) -> {out}"},
      {"cumsum_exclusive_reverse",
       {{{2, 3, 4}}},
       {2, 3, 4},
       "  %out = precis.cumsum %p0 {axis = 1 : i64, exclusive = true, reverse = true} : {p0}"},
      {"cumsum", {{{2, 5}}}, {2, 5}, "  %out = precis.cumsum %p0 {axis = 1 : i64} : {p0}"},
      {"mod_fmod_broadcast",
       {{{2, 3}}, {{3}, Domain::Positive}},
       {2, 3},
       "  %s = precis.constant dense<3.0> : tensor<f64>\n"
       "  %a = precis.mul %p0, %s : ({p0}, tensor<f64>) -> {p0}\n"
       "  %out = precis.mod %a, %p1 {fmod = true} : ({p0}, {p1}) -> {out}"},
      {"where",
       {{{2, 3}}, {{3}}},
       {2, 3},
       "  %c = precis.constant dense<[[true, false, true], [false, false, true]]> : "
       "tensor<2x3xi1>\n"
       "  %out = precis.where %c, %p0, %p1 : (tensor<2x3xi1>, {p0}, {p1}) -> {out}"},
      {"dropout_training",
       {{{4, 5}}},
       {4, 5},
       "  %rng = precis.constant dense<[7, 3]> : tensor<2xi64>\n"
       "  %out, %mask = precis.dropout %p0, %rng {ratio = 0.25 : f32, stream = 1 : i64, training = "
       "true} : ({p0}, tensor<2xi64>) -> ({out}, tensor<4x5xi1>)"},
      {"dropout_inference",
       {{{4, 5}}},
       {4, 5},
       "  %out, %mask = precis.dropout %p0 {ratio = 0.25 : f32} : ({p0}) -> ({out}, "
       "tensor<4x5xi1>)"},
      // Through f32 and back: the loss is piecewise constant at f32 resolution (2^-24
      // relative), so the difference quotient needs a wide step; the loss is linear in x, so
      // the step costs no truncation error.
      {"cast_through_f32",
       {{{2, 3}}},
       {2, 3},
       "  %n = precis.cast %p0 : {p0} to tensor<2x3xf32>\n"
       "  %out = precis.cast %n : tensor<2x3xf32> to {out}",
       1e-4,
       1e-6,
       1e-2},
      // Data movement.
      {"reshape", {{{2, 6}}}, {3, 4}, "  %out = precis.reshape %p0 : {p0} to {out}"},
      {"transpose",
       {{{2, 3, 4}}},
       {4, 2, 3},
       "  %out = precis.transpose %p0 {perm = array<i64: 2, 0, 1>} : ({p0}) -> {out}"},
      {"concat",
       {{{2, 3}}, {{2, 2}}},
       {2, 5},
       "  %out = precis.concat %p0, %p1 {axis = 1 : i64} : ({p0}, {p1}) -> {out}"},
      {"split_one_result_used",
       {{{4, 6}}},
       {4, 4},
       "  %s:2 = precis.split %p0 {axis = 1 : i64} : ({p0}) -> (tensor<4x2xf64>, {out})\n"
       "  %out = precis.mul %s#1, %s#1 : ({out}, {out}) -> {out}"},
      {"slice_strided_negative_step",
       {{{4, 5}}},
       {2, 2},
       "  %out = precis.slice %p0 {start = array<i64: 3, 1>, limit = array<i64: -1, 5>, step = "
       "array<i64: -2, 3>} : ({p0}) -> {out}"},
      {"gather_repeated_indices",
       {{{5, 3}}},
       {2, 3, 3},
       "  %i = precis.constant dense<[[0, 4, 4], [-1, 2, 0]]> : tensor<2x3xi64>\n"
       "  %out = precis.gather %p0, %i {axis = 0 : i64} : ({p0}, tensor<2x3xi64>) -> {out}"},
      {"gather_axis1",
       {{{2, 4}}},
       {2, 3},
       "  %i = precis.constant dense<[3, 1, 3]> : tensor<3xi32>\n"
       "  %out = precis.gather %p0, %i {axis = 1 : i64} : ({p0}, tensor<3xi32>) -> {out}"},
      {"gather_elements_repeated_indices",
       {{{3, 4}}},
       {2, 4},
       "  %i = precis.constant dense<[[0, 2, -1, 1], [0, 2, 1, 1]]> : tensor<2x4xi64>\n"
       "  %out = precis.gather_elements %p0, %i {axis = 0 : i64} : ({p0}, tensor<2x4xi64>) -> "
       "{out}"},
      {"gather_elements_axis1",
       {{{3, 4}}},
       {2, 3},
       "  %i = precis.constant dense<[[3, 3, 0], [1, -4, 2]]> : tensor<2x3xi32>\n"
       "  %out = precis.gather_elements %p0, %i {axis = 1 : i64} : ({p0}, tensor<2x3xi32>) -> "
       "{out}"},
      {"gather_nd_repeated_tuples",
       {{{3, 4, 2}}},
       {3, 2},
       "  %i = precis.constant dense<[[0, 1], [2, -1], [0, 1]]> : tensor<3x2xi64>\n"
       "  %out = precis.gather_nd %p0, %i : ({p0}, tensor<3x2xi64>) -> {out}"},
      {"scatter_nd_none",
       {{{4, 3}}, {{2, 3}}},
       {4, 3},
       "  %i = precis.constant dense<[[3], [-3]]> : tensor<2x1xi64>\n"
       "  %out = precis.scatter_nd none %p0, %i, %p1 : ({p0}, tensor<2x1xi64>, {p1}) -> {out}"},
      {"scatter_nd_add_repeated_tuples",
       {{{3, 4}}, {{3}}},
       {3, 4},
       "  %i = precis.constant dense<[[0, 1], [2, -1], [0, 1]]> : tensor<3x2xi32>\n"
       "  %out = precis.scatter_nd add %p0, %i, %p1 : ({p0}, tensor<3x2xi32>, {p1}) -> {out}"},
      {"topk_values",
       {{{3, 5}, Domain::Distinct}},
       {3, 2},
       "  %out, %i = precis.topk %p0 {axis = 1 : i64, k = 2 : i64} : ({p0}) -> ({out}, "
       "tensor<3x2xi64>)"},
      {"topk_smallest_axis0",
       {{{4, 3}, Domain::Distinct}},
       {3, 3},
       "  %out, %i = precis.topk %p0 {axis = 0 : i64, k = 3 : i64, largest = false} : ({p0}) -> "
       "({out}, tensor<3x3xi64>)"},
      {"expand", {{{3, 1}}}, {2, 3, 4}, "  %out = precis.expand %p0 : {p0} to {out}"},
      // Reductions and normalisation.
      {"reduce_sum",
       {{{2, 3, 4}}},
       {2, 4},
       "  %out = precis.reduce_sum %p0 {axes = array<i64: 1>, keepdims = false} : ({p0}) -> "
       "{out}"},
      {"reduce_mean_keepdims",
       {{{2, 3, 4}}},
       {1, 3, 1},
       "  %out = precis.reduce_mean %p0 {axes = array<i64: 0, -1>} : ({p0}) -> {out}"},
      {"reduce_max",
       {{{3, 4}, Domain::Distinct}},
       {3},
       "  %out = precis.reduce_max %p0 {axes = array<i64: 1>, keepdims = false} : ({p0}) -> "
       "{out}"},
      {"softmax", {{{2, 3, 4}}}, {2, 3, 4}, "  %out = precis.softmax %p0 {axis = -1 : i64} : {p0}"},
      {"log_softmax",
       {{{2, 3, 4}}},
       {2, 3, 4},
       "  %out = precis.log_softmax %p0 {axis = 1 : i64} : {p0}"},
      {"layer_norm",
       {{{2, 3, 4}}, {{4}}, {{4}}},
       {2, 3, 4},
       "  %out = precis.layer_norm %p0, %p1, %p2 {axis = -1 : i64, epsilon = 1.0e-5 : f32} : "
       "({p0}, {p1}, {p2}) -> {out}"},
      {"layer_norm_two_axes_no_bias",
       {{{2, 3, 4}}, {{3, 4}}},
       {2, 3, 4},
       "  %out = precis.layer_norm %p0, %p1 {axis = 1 : i64, epsilon = 1.0e-3 : f32} : ({p0}, "
       "{p1}) -> {out}"},
      {"layer_norm_rms",
       {{{2, 3, 4}}, {{4}}},
       {2, 3, 4},
       "  %out = precis.layer_norm %p0, %p1 {axis = -1 : i64, epsilon = 1.0e-5 : f32, rms = true} "
       ": ({p0}, {p1}) -> {out}"},
      {"layer_norm_rms_two_axes_bias",
       {{{2, 3, 4}}, {{3, 4}}, {{4}}},
       {2, 3, 4},
       "  %out = precis.layer_norm %p0, %p1, %p2 {axis = 1 : i64, epsilon = 1.0e-3 : f32, rms = "
       "true} : ({p0}, {p1}, {p2}) -> {out}"},
      // Pooling.
      {"max_pool2d",
       {{{1, 2, 5, 5}, Domain::Distinct}},
       {1, 2, 3, 3},
       "  %out = precis.max_pool2d %p0 {kernel = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, "
       "1>, strides = array<i64: 2, 2>} : ({p0}) -> {out}"},
      {"avg_pool2d_exclude_pad_ceil",
       {{{1, 2, 5, 5}}},
       {1, 2, 3, 3},
       "  %out = precis.avg_pool2d %p0 {ceil_mode = true, kernel = array<i64: 3, 3>, pads = "
       "array<i64: 1, 1, 0, 0>, strides = array<i64: 2, 2>} : ({p0}) -> {out}"},
      {"avg_pool2d_include_pad",
       {{{1, 2, 5, 5}}},
       {1, 2, 3, 3},
       "  %out = precis.avg_pool2d %p0 {count_include_pad = true, kernel = array<i64: 3, 3>, "
       "pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : ({p0}) -> {out}"},
      // Resize.
      {"resize_linear_half_pixel_up",
       {{{1, 2, 3, 4}}},
       {1, 2, 5, 7},
       "  %out = precis.resize %p0 {mode = \"linear\", scales = array<f64: 1.0, 1.0, "
       "1.6666666666666667, 1.75>} : ({p0}) -> {out}"},
      {"resize_linear_align_corners_down",
       {{{1, 1, 5, 6}}},
       {1, 1, 3, 4},
       "  %out = precis.resize %p0 {coordinate_transformation_mode = \"align_corners\", mode = "
       "\"linear\", scales = array<f64: 1.0, 1.0, 0.6, 0.6666666666666666>} : ({p0}) -> {out}"},
      {"resize_linear_pytorch_half_pixel_last_axis",
       {{{2, 3, 5}}},
       {2, 3, 3},
       "  %out = precis.resize %p0 {coordinate_transformation_mode = \"pytorch_half_pixel\", "
       "mode = \"linear\", scales = array<f64: 1.0, 1.0, 0.6>} : ({p0}) -> {out}"},
      {"resize_nearest_asymmetric",
       {{{1, 2, 3, 3}}},
       {1, 2, 7, 5},
       "  %out = precis.resize %p0 {coordinate_transformation_mode = \"asymmetric\", "
       "nearest_mode = \"round_prefer_ceil\", scales = array<f64: 1.0, 1.0, 2.3333333333333335, "
       "1.6666666666666667>} : ({p0}) -> {out}"},
      {"resize_cubic_half_pixel",
       {{{1, 2, 4, 5}}},
       {1, 2, 7, 3},
       "  %out = precis.resize %p0 {mode = \"cubic\", scales = array<f64: 1.0, 1.0, 1.75, 0.6>} "
       ": ({p0}) -> {out}"},
      {"resize_cubic_exclude_outside_align_corners",
       {{{1, 1, 5, 4}}},
       {1, 1, 3, 7},
       "  %out = precis.resize %p0 {coordinate_transformation_mode = \"align_corners\", "
       "cubic_coeff_a = -5.000000e-01 : f64, exclude_outside = true, mode = \"cubic\", scales = "
       "array<f64: 1.0, 1.0, 0.6, 1.75>} : ({p0}) -> {out}"},
      {"resize_linear_antialias_down",
       {{{1, 2, 9, 4}}},
       {1, 2, 3, 5},
       "  %out = precis.resize %p0 {antialias = true, mode = \"linear\", scales = array<f64: 1.0, "
       "1.0, 0.3333333333333333, 1.25>} : ({p0}) -> {out}"},
      {"resize_cubic_antialias_down",
       {{{1, 1, 8, 6}}},
       {1, 1, 3, 4},
       "  %out = precis.resize %p0 {antialias = true, mode = \"cubic\", scales = array<f64: 1.0, "
       "1.0, 0.375, 0.6666666666666666>} : ({p0}) -> {out}"},
      // Attention: grouped query heads (2 per key/value head), a constant additive mask.
      {"attention_grouped_mask",
       {{{1, 2, 3, 4}}, {{1, 1, 5, 4}}, {{1, 1, 5, 3}}},
       {1, 2, 3, 3},
       "  %mask = precis.constant dense<[[0.0, -1.0, 0.5, 0.0, -0.25]]> : tensor<1x5xf64>\n"
       "  %out, %lse = precis.attention %p0, %p1, %p2, %mask {scale = 0.5 : f32} : {p0}, {p1}, "
       "{p2}, tensor<1x5xf64> -> {out}, tensor<1x2x3xf64>"},
      {"attention_causal",
       {{{2, 2, 4, 3}}, {{2, 2, 4, 3}}, {{2, 2, 4, 2}}},
       {2, 2, 4, 2},
       "  %out, %lse = precis.attention %p0, %p1, %p2 {scale = 0.7 : f32, is_causal = true} : "
       "{p0}, {p1}, {p2} -> {out}, tensor<2x2x4xf64>"},
      {"batch_norm_training",
       {{{3, 2, 2, 2}}, {{2}}, {{2}}},
       {3, 2, 2, 2},
       "  %rm = precis.constant dense<[0.1, -0.2]> : tensor<2xf64>\n"
       "  %rv = precis.constant dense<[1.5, 0.5]> : tensor<2xf64>\n"
       "  %out, %nm, %nv = precis.batch_norm %p0, %p1, %p2, %rm, %rv {epsilon = 1.0e-3 : f32, "
       "training = true} : ({p0}, {p1}, {p2}, tensor<2xf64>, tensor<2xf64>) -> ({out}, "
       "tensor<2xf64>, tensor<2xf64>)"},
      {"batch_norm_inference",
       {{{3, 2, 2}}, {{2}}, {{2}}},
       {3, 2, 2},
       "  %rm = precis.constant dense<[0.1, -0.2]> : tensor<2xf64>\n"
       "  %rv = precis.constant dense<[1.5, 0.5]> : tensor<2xf64>\n"
       "  %out, %nm, %nv = precis.batch_norm %p0, %p1, %p2, %rm, %rv : ({p0}, {p1}, {p2}, "
       "tensor<2xf64>, tensor<2xf64>) -> ({out}, tensor<2xf64>, tensor<2xf64>)"},
      {"global_avg_pool",
       {{{2, 3, 2, 2}}},
       {2, 3, 1, 1},
       "  %out = precis.global_avg_pool %p0 : ({p0}) -> {out}"},
      {"global_max_pool",
       {{{2, 3, 2, 2}, Domain::Distinct}},
       {2, 3, 1, 1},
       "  %out = precis.global_max_pool %p0 : ({p0}) -> {out}"},
      // Losses.
      {"softmax_cross_entropy_mean_weights_ignore",
       {{{4, 3}}},
       {},
       "  %t = precis.constant dense<[0, 2, 1, 2]> : tensor<4xi64>\n"
       "  %w = precis.constant dense<[0.5, 2.0, 1.5]> : tensor<3xf64>\n"
       "  %out, %lp = precis.softmax_cross_entropy mean %p0, %t, %w {ignore_index = 1 : i64} "
       ": ({p0}, tensor<4xi64>, tensor<3xf64>) -> (tensor<f64>, {p0})"},
      {"softmax_cross_entropy_none_spatial",
       {{{2, 3, 2}}},
       {2, 2},
       "  %t = precis.constant dense<[[0, 2], [1, 1]]> : tensor<2x2xi64>\n"
       "  %out, %lp = precis.softmax_cross_entropy none %p0, %t : ({p0}, tensor<2x2xi64>) -> "
       "({out}, {p0})"},
      {"softmax_cross_entropy_sum_and_log_prob",
       {{{3, 4}}},
       {3, 4},
       "  %t = precis.constant dense<[3, 0, 1]> : tensor<3xi64>\n"
       "  %l, %lp = precis.softmax_cross_entropy sum %p0, %t : ({p0}, tensor<3xi64>) -> "
       "(tensor<f64>, {p0})\n"
       "  %out = precis.mul %lp, %l : ({p0}, tensor<f64>) -> {out}"},
      {"nll_loss_none_ignore_index",
       {{{3, 4, 2}}},
       {3, 2},
       "  %t = precis.constant dense<[[0, 2], [3, 2], [2, 1]]> : tensor<3x2xi32>\n"
       "  %out = precis.nll_loss none %p0, %t {ignore_index = 2 : i64} : ({p0}, tensor<3x2xi32>) "
       "-> {out}"},
      {"nll_loss_mean_weights",
       {{{4, 3}}},
       {},
       "  %t = precis.constant dense<[0, 2, 1, 2]> : tensor<4xi64>\n"
       "  %w = precis.constant dense<[0.5, 2.0, 1.5]> : tensor<3xf64>\n"
       "  %out = precis.nll_loss mean %p0, %t, %w : ({p0}, tensor<4xi64>, tensor<3xf64>) -> "
       "tensor<f64>"},
      // Compositions: the example CNN's layer stack in miniature.
      {"cnn_stack",
       {{{2, 1, 6, 6}}, {{4, 1, 3, 3}}, {{4}}, {{3, 4, 3, 3}}, {{3}}, {{5, 27}}, {{5}}},
       {},
       "  %c1 = precis.conv2d %p0, %p1, %p2 {acc_type = f64, pads = array<i64: 1, 1, 1, 1>} : "
       "({p0}, {p1}, {p2}) -> tensor<2x4x6x6xf64>\n"
       "  %r1 = precis.relu %c1 : tensor<2x4x6x6xf64>\n"
       "  %m1 = precis.max_pool2d %r1 {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>} : "
       "(tensor<2x4x6x6xf64>) -> tensor<2x4x3x3xf64>\n"
       "  %c2 = precis.conv2d %m1, %p3, %p4 {acc_type = f64, pads = array<i64: 1, 1, 1, 1>} : "
       "(tensor<2x4x3x3xf64>, {p3}, {p4}) -> tensor<2x3x3x3xf64>\n"
       "  %r2 = precis.relu %c2 : tensor<2x3x3x3xf64>\n"
       "  %f = precis.reshape %r2 : tensor<2x3x3x3xf64> to tensor<2x27xf64>\n"
       "  %y = precis.gemm %f, %p5, %p6 {acc_type = f64, transpose_b = true} : "
       "(tensor<2x27xf64>, {p5}, {p6}) -> tensor<2x5xf64>\n"
       "  %t = precis.constant dense<[3, 1]> : tensor<2xi64>\n"
       "  %out, %lp = precis.softmax_cross_entropy mean %y, %t {ignore_index = -100 : i64} : "
       "(tensor<2x5xf64>, tensor<2xi64>) -> (tensor<f64>, tensor<2x5xf64>)"},
  };
  // Ops whose gradient holds only away from ties and kinks.
  cases.push_back(binary("max", {3}, Domain::AwayFromZero, Domain::Small));
  cases.push_back(binary("min", {2, 1}, Domain::Small, Domain::AwayFromZero));
  return cases;
}

} // namespace precis::testing::gradient

#endif // PRECIS_UNITTESTS_GRADIENTCASES_H
