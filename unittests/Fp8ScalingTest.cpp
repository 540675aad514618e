//===- Fp8ScalingTest.cpp - fp8 GEMMs against a host reference ------------===//
//
// Compiles small functions through precis-assign-precision (fp8), precis-insert-casts and
// precis-fp8-scaling and runs them on the CPU backend:
//
//  * current scaling: the GEMM equals the host reference built from numerics.h — scale =
//    448 / amax per operand, operands quantized with round-to-nearest-even and saturation,
//    products summed, multiplied by both descale factors, rounded once to bf16. The only
//    freedom is the fp32 summation order of the GEMM against the reference's fp64 sum, so each
//    element may differ by one bf16 rounding step (2^-8 relative) and no more;
//  * delayed scaling: over three steps the amax histories hold exactly the operands' amaxes,
//    newest first, and step 1 (an empty history) quantizes with scale 1.
//
// Inputs are drawn fresh on every run; the seed is printed on failure.
//
//===----------------------------------------------------------------------===//

#include "CompilerTestUtil.h"

#include "precis/runtime/numerics.h"

#include "mlir/Parser/Parser.h"
#include "gtest/gtest.h"

#include <cmath>
#include <random>

namespace {

using precis::rt::DType;
using precis::rt::Tensor;

Tensor randomTensor(std::mt19937 &rng, std::vector<int64_t> shape, float stddev) {
  Tensor t{DType::F32, shape, {}};
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  t.data.resize(static_cast<size_t>(n) * 4);
  std::normal_distribution<float> dist(0.0f, stddev);
  for (int64_t i = 0; i < n; ++i)
    t.as<float>()[i] = dist(rng);
  return t;
}

float amaxOf(const Tensor &t) {
  float m = 0;
  for (int64_t i = 0; i < t.numElements(); ++i)
    m = std::max(m, std::fabs(t.as<float>()[i]));
  return m;
}

constexpr const char *kForward = R"mlir(
func.func @forward(%a: tensor<16x32xf32> {precis.onnx_name = "a"},
                   %b: tensor<32x48xf32> {precis.onnx_name = "b"})
    -> (tensor<16x48xf32> {precis.onnx_name = "y"}) {
  %y = precis.matmul %a, %b : (tensor<16x32xf32>, tensor<32x48xf32>) -> tensor<16x48xf32>
  return %y : tensor<16x48xf32>
}
)mlir";

TEST(Fp8Scaling, CurrentScalingMatchesHostReference) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  precis::registerAllPasses(); // canonicalize
  precis::testing::TestCompiler compiler;
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kForward, &compiler.context);
  ASSERT_TRUE(module) << compiler.diagnostics;
  std::unique_ptr<precis::rt::Session> session;
  ASSERT_TRUE(compiler.compile(*module,
                               "precis-assign-precision{precision=fp8},precis-insert-casts,"
                               "canonicalize,precis-fp8-scaling{recipe=current}",
                               &session));
  // Wide ranges on purpose: unscaled, most of `a` would saturate and most of `b` underflow.
  Tensor a = randomTensor(rng, {16, 32}, 3000.0f), b = randomTensor(rng, {32, 48}, 1e-3f);
  std::vector<Tensor> outputs;
  ASSERT_TRUE(session->run("forward", std::vector<Tensor>{a, b}, &outputs).isOk());
  ASSERT_EQ(outputs.size(), 1u);

  const float sa = 448.0f / amaxOf(a), sb = 448.0f / amaxOf(b);
  const float descale = (1.0f / sa) * (1.0f / sb);
  for (int64_t m = 0; m < 16; ++m)
    for (int64_t n = 0; n < 48; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < 32; ++k)
        acc += double(precis::round_to_fp8_e4m3fn(a.as<float>()[m * 32 + k] * sa)) *
               double(precis::round_to_fp8_e4m3fn(b.as<float>()[k * 48 + n] * sb));
      const float want = precis::round_to_bf16(static_cast<float>(acc) * descale);
      const float got = outputs[0].as<float>()[m * 48 + n];
      ASSERT_LE(std::fabs(got - want), std::ldexp(std::fabs(want), -8) + 1e-30f)
          << "y[" << m << "," << n << "]";
    }
}

constexpr const char *kTrainStep = R"mlir(
func.func @train_step(%w: tensor<32x16xf32> {precis.param_name = "w"},
                      %step: tensor<f32> {precis.state_name = "step"},
                      %x: tensor<16x32xf32> {precis.onnx_name = "x"})
    -> (tensor<32x16xf32> {precis.updates = "w"}, tensor<f32> {precis.updates = "step"},
        tensor<f32> {precis.onnx_name = "loss"}) {
  %y = precis.matmul %x, %w : (tensor<16x32xf32>, tensor<32x16xf32>) -> tensor<16x16xf32>
  %l = precis.reduce_sum %y {axes = array<i64>, keepdims = false} : (tensor<16x16xf32>) -> tensor<f32>
  return %w, %step, %l : tensor<32x16xf32>, tensor<f32>, tensor<f32>
}
)mlir";

TEST(Fp8Scaling, DelayedScalingKeepsAmaxHistory) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  precis::registerAllPasses();
  precis::testing::TestCompiler compiler;
  auto module = mlir::parseSourceString<mlir::ModuleOp>(kTrainStep, &compiler.context);
  ASSERT_TRUE(module) << compiler.diagnostics;
  std::unique_ptr<precis::rt::Session> session;
  ASSERT_TRUE(compiler.compile(*module,
                               "precis-assign-precision{precision=fp8},precis-insert-casts,"
                               "canonicalize,precis-fp8-scaling{history=4}",
                               &session));
  const precis::rt::FunctionInfo *info = session->findFunction("train_step");
  ASSERT_TRUE(info);
  // (w, fp8.0.amax_history, fp8.1.amax_history, step, x): x is quantized first (lhs).
  ASSERT_EQ(info->inputs.size(), 5u);
  EXPECT_EQ(info->inputs[1].name, "fp8.0.amax_history");
  EXPECT_EQ(info->inputs[2].name, "fp8.1.amax_history");

  Tensor w = randomTensor(rng, {32, 16}, 0.5f);
  Tensor h0{DType::F32, {4}, std::vector<uint8_t>(16, 0)}, h1 = h0;
  Tensor step{DType::F32, {}, std::vector<uint8_t>(4, 0)};
  std::vector<float> xAmax;
  for (int t = 0; t < 3; ++t) {
    Tensor x = randomTensor(rng, {16, 32}, 1.0f + t);
    xAmax.insert(xAmax.begin(), amaxOf(x));
    std::vector<Tensor> out;
    ASSERT_TRUE(session->run("train_step", std::vector<Tensor>{w, h0, h1, step, x}, &out).isOk());
    // (w, history 0, history 1, step, loss)
    ASSERT_EQ(out.size(), 5u);
    h0 = out[1];
    h1 = out[2];
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(h0.as<float>()[i], i < xAmax.size() ? xAmax[i] : 0.0f) << "step " << t << " " << i;
      EXPECT_EQ(h1.as<float>()[i], i <= static_cast<size_t>(t) ? amaxOf(w) : 0.0f);
    }
    if (t == 0) {
      // An empty history gives scale 1: the operands are quantized unscaled.
      double sum = 0;
      for (int64_t m = 0; m < 16; ++m)
        for (int64_t n = 0; n < 16; ++n) {
          double acc = 0;
          for (int64_t k = 0; k < 32; ++k)
            acc += double(precis::round_to_fp8_e4m3fn(x.as<float>()[m * 32 + k])) *
                   double(precis::round_to_fp8_e4m3fn(w.as<float>()[k * 16 + n]));
          sum += precis::round_to_bf16(static_cast<float>(acc));
        }
      EXPECT_NEAR(out[4].as<float>()[0], sum, 1e-2 * (std::fabs(sum) + 1));
    }
  }
}

} // namespace
