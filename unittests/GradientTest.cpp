//===- GradientTest.cpp - autodiff against central finite differences ------===//
//
// The numerics gate of the autodiff pass: for every differentiable op, a tiny f64 `@forward`
// applies the op to random trainable parameters and projects the result to a scalar loss,
// `reduce_sum(mul(out, R))` with a fixed random R. `precis-autodiff` builds `@gradients`,
// which is compiled with buildArtifact and run on the CPU runtime; each gradient entry is
// compared with the central difference (f(x + h) - f(x - h)) / 2h, h = 1e-6 max(1, |x|), where
// f is `@forward` run through the runtime with the parameter overwritten (setParameter).
//
// The example models (fp32) are checked end to end the same way along random directions:
// <grad, v> against (f(theta + h v) - f(theta - h v)) / 2h on their first batch.
//
// Inputs are drawn fresh each run (away from kinks for relu, abs, max, min and the max
// reductions and poolings, positive where the op needs it); the seed is printed with every
// failure and PRECIS_TEST_SEED=<seed> replays it. The default tolerance, |ad - fd| <=
// 1e-6 |fd| + 1e-7, covers the O(h^2) truncation and the O(eps |f| / h) rounding of the
// difference quotient for losses of order 10.
//
//===----------------------------------------------------------------------===//

#include "CompilerTestUtil.h"

#include "precis/Import/OnnxImporter.h"
#include "precis/InitAll.h"
#include "precis/Target/Artifact.h"
#include "precis/runtime/Npy.h"
#include "precis/runtime/Session.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>

namespace {

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

std::string typeOf(const std::vector<int64_t> &shape) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += std::to_string(d) + "x";
  return s + "f64>";
}

int64_t count(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string denseOf(const std::vector<double> &v) {
  std::ostringstream os;
  os.precision(17);
  os << "dense<[";
  for (size_t i = 0; i < v.size(); ++i)
    os << (i ? ", " : "") << v[i];
  os << "]>";
  return os.str();
}

std::vector<double> draw(std::mt19937_64 &rng, const Param &p) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> v(static_cast<size_t>(count(p.shape)));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (p.domain) {
    case Domain::Normal:
      v[i] = 2 * u(rng) - 1;
      break;
    case Domain::Positive:
      v[i] = 0.5 + 1.5 * u(rng);
      break;
    case Domain::AwayFromZero:
      v[i] = (0.2 + 0.8 * u(rng)) * (u(rng) < 0.5 ? -1 : 1);
      break;
    case Domain::Small:
      v[i] = 0.2 * u(rng) - 0.1;
      break;
    case Domain::Distinct:
      v[i] = 0.1 * static_cast<double>(i) - 0.05 * static_cast<double>(v.size()) + 0.02 * u(rng);
      break;
    }
  }
  if (p.domain == Domain::Distinct)
    std::shuffle(v.begin(), v.end(), rng);
  return v;
}

std::string replaceAll(std::string s, const std::string &from, const std::string &to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
  return s;
}

/// The module text: @forward with the parameters as `precis.parameter` ops, values flat.
std::string moduleText(const Case &c, const std::vector<std::vector<double>> &values,
                       const std::vector<double> &projection) {
  std::ostringstream os;
  os << "func.func @forward() -> tensor<f64> {\n";
  for (size_t k = 0; k < c.params.size(); ++k) {
    const auto &shape = c.params[k].shape;
    std::vector<int64_t> flat{count(shape)};
    os << "  %flat" << k << " = precis.parameter \"p" << k << "\" = " << denseOf(values[k]) << " : "
       << typeOf(flat) << "\n";
    os << "  %p" << k << " = precis.reshape %flat" << k << " : " << typeOf(flat) << " to "
       << typeOf(shape) << "\n";
  }
  std::string body = c.body;
  for (size_t k = 0; k < c.params.size(); ++k)
    body = replaceAll(body, "{p" + std::to_string(k) + "}", typeOf(c.params[k].shape));
  body = replaceAll(body, "{out}", typeOf(c.out));
  os << body << "\n";
  std::vector<int64_t> flatOut{count(c.out)};
  os << "  %rflat = precis.constant " << denseOf(projection) << " : " << typeOf(flatOut) << "\n";
  os << "  %r = precis.reshape %rflat : " << typeOf(flatOut) << " to " << typeOf(c.out) << "\n";
  os << "  %m = precis.mul %out, %r : (" << typeOf(c.out) << ", " << typeOf(c.out) << ") -> "
     << typeOf(c.out) << "\n";
  os << "  %loss = precis.reduce_sum %m {axes = array<i64>, keepdims = false} : (" << typeOf(c.out)
     << ") -> tensor<f64>\n";
  os << "  return %loss : tensor<f64>\n}\n";
  return os.str();
}

uint64_t testSeed() {
  if (const char *env = std::getenv("PRECIS_TEST_SEED"))
    return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

precis::rt::Tensor f64Tensor(const std::vector<int64_t> &shape, const std::vector<double> &v) {
  precis::rt::Tensor t;
  t.dtype = precis::rt::DType::F64;
  t.shape = shape;
  t.data.resize(v.size() * sizeof(double));
  std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

class Gradient : public ::testing::TestWithParam<Case> {};

TEST_P(Gradient, MatchesFiniteDifferences) {
  const Case &c = GetParam();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (PRECIS_TEST_SEED replays it)");
  std::mt19937_64 rng(seed);
  std::vector<std::vector<double>> values;
  for (const Param &p : c.params)
    values.push_back(draw(rng, p));
  std::vector<double> projection = draw(rng, Param{c.out, Domain::Normal});

  precis::testing::TestCompiler compiler;
  const std::string text = moduleText(c, values, projection);
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, &compiler.context);
  ASSERT_TRUE(module) << compiler.diagnostics << text;
  std::unique_ptr<precis::rt::Session> session;
  ASSERT_TRUE(compiler.compile(*module, "precis-autodiff", &session)) << text;
  precis::rt::Status status;

  // Gradients at the drawn point. @gradients takes the flat parameters in initializer order.
  std::vector<precis::rt::Tensor> args, outputs;
  for (size_t k = 0; k < c.params.size(); ++k)
    args.push_back(f64Tensor({count(c.params[k].shape)}, values[k]));
  status = session->run("gradients", args, &outputs);
  ASSERT_TRUE(status.isOk()) << status.message();
  ASSERT_EQ(outputs.size(), c.params.size() + 1);

  auto lossAt = [&](size_t k, const std::vector<double> &v) {
    precis::rt::Tensor t = f64Tensor({count(c.params[k].shape)}, v);
    EXPECT_TRUE(session->setParameter("p" + std::to_string(k), t.view()).isOk());
    std::vector<precis::rt::Tensor> out;
    precis::rt::Status s = session->run("forward", std::vector<precis::rt::Tensor>{}, &out);
    EXPECT_TRUE(s.isOk()) << s.message();
    return s.isOk() ? out[0].as<double>()[0] : NAN;
  };
  for (size_t k = 0; k < c.params.size(); ++k) {
    const double *grad = outputs[k + 1].as<double>();
    ASSERT_EQ(outputs[k + 1].numElements(), count(c.params[k].shape));
    std::vector<double> v = values[k];
    for (size_t i = 0; i < v.size(); ++i) {
      const double x = values[k][i], h = c.step * std::max(1.0, std::fabs(x));
      v[i] = x + h;
      const double up = lossAt(k, v);
      v[i] = x - h;
      const double down = lossAt(k, v);
      v[i] = x;
      const double fd = (up - down) / (2 * h);
      EXPECT_LE(std::fabs(grad[i] - fd), c.rel * std::fabs(fd) + c.abs)
          << c.name << ": d loss / d p" << k << "[" << i << "] autodiff " << grad[i]
          << ", finite difference " << fd;
    }
    lossAt(k, values[k]); // restore
  }
}

std::string caseName(const ::testing::TestParamInfo<Case> &info) { return info.param.name; }

/// A unary element-wise op `mnemonic` on a [2, 3] parameter.
Case unary(const std::string &mnemonic, Domain domain = Domain::Normal,
           const std::string &attrs = "") {
  return {mnemonic + (attrs.empty() ? "" : "_attrs"),
          {{{2, 3}, domain}},
          {2, 3},
          "  %out = precis." + mnemonic + " %p0 " + attrs + ": {p0}"};
}

/// A broadcasting binary op on [2, 3] and [3] (or [2, 1]) parameters.
Case binary(const std::string &mnemonic, std::vector<int64_t> rhs, Domain l = Domain::Normal,
            Domain r = Domain::Normal) {
  std::string suffix;
  for (int64_t d : rhs)
    suffix += "_" + std::to_string(d);
  return {mnemonic + suffix,
          {{{2, 3}, l}, {rhs, r}},
          {2, 3},
          "  %out = precis." + mnemonic + " %p0, %p1 : ({p0}, {p1}) -> {out}"};
}

std::vector<Case> allCases() {
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
      {"where",
       {{{2, 3}}, {{3}}},
       {2, 3},
       "  %c = precis.constant dense<[[true, false, true], [false, false, true]]> : "
       "tensor<2x3xi1>\n"
       "  %out = precis.where %c, %p0, %p1 : (tensor<2x3xi1>, {p0}, {p1}) -> {out}"},
      {"dropout_training",
       {{{4, 5}}},
       {4, 5},
       "  %out, %mask = precis.dropout %p0 {ratio = 0.25 : f32, seed = 7 : i64, training = "
       "true} : ({p0}) -> ({out}, tensor<4x5xi1>)"},
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

INSTANTIATE_TEST_SUITE_P(Ops, Gradient, ::testing::ValuesIn(allCases()), caseName);

//===----------------------------------------------------------------------===//
// The example models end to end, in fp32: a directional derivative along a random direction
// through every trainable parameter. fp32 losses carry ~1e-6 of rounding noise, so the step
// is 1e-3 and the tolerance 1e-2 relative (+ 2e-3 absolute). Only the smooth models (GELU,
// softmax, layer norm) qualify: a 1e-3 step through the CNN crosses enough ReLU and max-pool
// kinks to move the difference quotient by percents, so its layer stack is checked in f64
// instead (the `cnn_stack` case above).
//===----------------------------------------------------------------------===//

class ExampleGradients : public ::testing::TestWithParam<const char *> {};

TEST_P(ExampleGradients, DirectionalDerivativeMatchesFiniteDifference) {
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (PRECIS_TEST_SEED replays it)");
  std::mt19937_64 rng(seed);
  std::string dir = std::string(PRECIS_EXAMPLES_DIR) + "/" + GetParam();
  precis::testing::TestCompiler compiler;
  auto module = compiler.importModel(dir + "/model.onnx");
  ASSERT_TRUE(module) << compiler.diagnostics;
  std::unique_ptr<precis::rt::Session> session;
  ASSERT_TRUE(compiler.compile(*module, "precis-autodiff", &session));
  precis::rt::Status status;

  // @gradients(batch inputs..., params...) with the parameters' initial values.
  auto fn = module->lookupSymbol<mlir::func::FuncOp>("gradients");
  ASSERT_TRUE(fn);
  std::vector<precis::rt::NamedTensor> batch;
  ASSERT_TRUE(precis::rt::readNpz(dir + "/batch0.npz", &batch).isOk());
  std::vector<precis::rt::Tensor> args;
  std::vector<std::string> params;
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    if (auto p = fn.getArgAttrOfType<mlir::StringAttr>(i, "precis.param_name")) {
      params.push_back(p.str());
      precis::rt::Tensor t;
      ASSERT_TRUE(session->getParameter(p.str(), &t).isOk()) << p.str();
      args.push_back(std::move(t));
      continue;
    }
    auto name = fn.getArgAttrOfType<mlir::StringAttr>(i, "precis.onnx_name");
    ASSERT_TRUE(name);
    auto it = std::find_if(batch.begin(), batch.end(),
                           [&](auto &t) { return t.name == name.getValue(); });
    ASSERT_NE(it, batch.end()) << name.str();
    args.push_back(it->tensor);
  }
  const size_t numInputs = args.size() - params.size();
  ASSERT_FALSE(params.empty());
  std::vector<precis::rt::Tensor> outputs;
  status = session->run("gradients", args, &outputs);
  ASSERT_TRUE(status.isOk()) << status.message();
  ASSERT_EQ(outputs.size(), params.size() + 1);

  // <grad, v> in double, and the loss at theta +- h v through @forward.
  std::normal_distribution<double> normal;
  std::vector<std::vector<float>> direction;
  double directional = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    const precis::rt::Tensor &g = outputs[k + 1];
    ASSERT_EQ(g.shape, args[numInputs + k].shape) << params[k];
    std::vector<float> v(static_cast<size_t>(g.numElements()));
    for (size_t i = 0; i < v.size(); ++i) {
      v[i] = static_cast<float>(normal(rng));
      directional += static_cast<double>(g.as<float>()[i]) * v[i];
    }
    direction.push_back(std::move(v));
  }
  std::vector<precis::rt::Tensor> forwardInputs(args.begin(), args.begin() + numInputs);
  const double h = 1e-3;
  auto lossAt = [&](double scale) {
    for (size_t k = 0; k < params.size(); ++k) {
      precis::rt::Tensor t = args[numInputs + k];
      for (size_t i = 0; i < direction[k].size(); ++i)
        t.as<float>()[i] += static_cast<float>(scale * direction[k][i]);
      EXPECT_TRUE(session->setParameter(params[k], t.view()).isOk()) << params[k];
    }
    std::vector<precis::rt::Tensor> out;
    precis::rt::Status s = session->run("forward", forwardInputs, &out);
    EXPECT_TRUE(s.isOk()) << s.message();
    return s.isOk() ? static_cast<double>(out[0].as<float>()[0]) : NAN;
  };
  const double fd = (lossAt(h) - lossAt(-h)) / (2 * h);
  EXPECT_LE(std::fabs(directional - fd), 1e-2 * std::fabs(fd) + 2e-3)
      << GetParam() << ": <grad, v> " << directional << ", finite difference " << fd;
  EXPECT_GT(std::fabs(directional), 1e-3) << "degenerate direction";
}

INSTANTIATE_TEST_SUITE_P(Examples, ExampleGradients, ::testing::Values("mlp", "gpt"));

} // namespace
