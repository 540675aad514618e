//===- OptimizerKernelsTest.cpp - sgd_update / adam_update against fp64 ----===//
//
// The optimizer kernels over several steps, each with a fresh random gradient, against a
// direct fp64 transcription of the PyTorch update formulas (PrecisOps.td; the references use
// the textbook `beta1 * m + (1 - beta1) * g` where the kernel uses torch's lerp, so the two do
// not share arithmetic). The kernel's outputs are fed back as the next step's inputs (in place,
// aliasing outputs to inputs, as the runtime does); the reference stays in fp64 throughout.
// Inputs are drawn fresh each run; PRECIS_TEST_SEED=<seed> replays a failure.
//
// Tolerance: |got - ref| <= 1e-5 * (1 + |ref|) for every parameter and state element after
// every step: each fp32 step rounds a handful of times (a few 6e-8 relative), the momentum
// buffer amplifies by at most 1 / (1 - momentum) = 10, over 8 steps.
//
//===----------------------------------------------------------------------===//

#include "cpu/Kernel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <ostream>
#include <random>
#include <string>

using namespace precis::rt;

namespace {

uint64_t testSeed() {
  if (const char *env = std::getenv("PRECIS_TEST_SEED"))
    return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

Attrs makeAttrs(const std::map<std::string, double> &floats,
                const std::map<std::string, int64_t> &ints) {
  std::map<std::string, AttrValue> values;
  for (auto &[k, v] : floats) {
    AttrValue a;
    a.kind = AttrValue::Kind::Float;
    a.f = v;
    values[k] = a;
  }
  for (auto &[k, v] : ints) {
    AttrValue a;
    a.kind = AttrValue::Kind::Int;
    a.i = v;
    values[k] = a;
  }
  return Attrs(values);
}

TensorView view(std::vector<float> &v, std::vector<int64_t> shape) {
  return {v.data(), DType::F32, std::move(shape)};
}

constexpr int kSteps = 8;
constexpr int64_t kRows = 37, kCols = 29; // odd sizes; > 1 thread chunk is not needed here

void expectClose(const std::vector<float> &got, const std::vector<double> &ref, const char *what,
                 int step, uint64_t seed) {
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::abs(got[i] - ref[i]), 1e-5 * (1 + std::abs(ref[i])))
        << what << "[" << i << "] after step " << step << ": got " << got[i] << ", want " << ref[i]
        << " (PRECIS_TEST_SEED=" << seed << ")";
}

struct SgdConfig {
  double momentum, dampening, weightDecay;
  bool nesterov;
};

void PrintTo(const SgdConfig &c, std::ostream *os) {
  *os << "momentum " << c.momentum << " dampening " << c.dampening << " weight_decay "
      << c.weightDecay << (c.nesterov ? " nesterov" : "");
}

class SgdUpdate : public ::testing::TestWithParam<SgdConfig> {};

TEST_P(SgdUpdate, MatchesFp64Reference) {
  const SgdConfig c = GetParam();
  const uint64_t seed = testSeed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  const int64_t n = kRows * kCols;
  const double lr = 0.05;
  std::vector<float> p(n), buf(n, 0.0f), g(n), step(1), lrv(1, static_cast<float>(lr));
  std::vector<double> rp(n), rbuf(n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    rp[i] = p[i] = static_cast<float>(normal(rng));
  const bool hasBuf = c.momentum != 0;
  std::map<std::string, double> floats{{"weight_decay", c.weightDecay}};
  if (hasBuf)
    floats.insert({{"momentum", c.momentum}, {"dampening", c.dampening}});
  const Attrs attrs = makeAttrs(floats, {{"nesterov", c.nesterov}});
  KernelFn kernel = findCpuKernel("sgd_update");
  ASSERT_NE(kernel, nullptr);
  for (int s = 1; s <= kSteps; ++s) {
    for (int64_t i = 0; i < n; ++i)
      g[i] = static_cast<float>(normal(rng));
    step[0] = static_cast<float>(s);
    std::vector<TensorView> in{view(p, {kRows, kCols}), view(g, {kRows, kCols}), view(step, {}),
                               view(lrv, {})};
    std::vector<TensorView> out{view(p, {kRows, kCols})};
    if (hasBuf) {
      in.push_back(view(buf, {kRows, kCols}));
      out.push_back(view(buf, {kRows, kCols}));
    }
    ASSERT_TRUE(kernel(KernelContext{4}, in, out, attrs).isOk());
    for (int64_t i = 0; i < n; ++i) {
      double d = g[i] + c.weightDecay * rp[i];
      if (hasBuf) {
        rbuf[i] = s == 1 ? d : c.momentum * rbuf[i] + (1 - c.dampening) * d;
        d = c.nesterov ? d + c.momentum * rbuf[i] : rbuf[i];
      }
      rp[i] -= lr * d;
    }
    expectClose(p, rp, "param", s, seed);
    if (hasBuf)
      expectClose(buf, rbuf, "momentum_buffer", s, seed);
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, SgdUpdate,
                         ::testing::Values(SgdConfig{0, 0, 0, false}, SgdConfig{0, 0, 1e-2, false},
                                           SgdConfig{0.9, 0, 0, false},
                                           SgdConfig{0.9, 0.3, 1e-3, false},
                                           SgdConfig{0.9, 0, 1e-2, true}));

struct AdamConfig {
  double beta1, beta2, eps, weightDecay;
  bool decoupled;
};

void PrintTo(const AdamConfig &c, std::ostream *os) {
  *os << "betas " << c.beta1 << ", " << c.beta2 << " eps " << c.eps << " weight_decay "
      << c.weightDecay << (c.decoupled ? " decoupled" : "");
}

class AdamUpdate : public ::testing::TestWithParam<AdamConfig> {};

TEST_P(AdamUpdate, MatchesFp64Reference) {
  const AdamConfig c = GetParam();
  const uint64_t seed = testSeed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  const int64_t n = kRows * kCols;
  const double lr = 1e-2;
  std::vector<float> p(n), m(n, 0.0f), v(n, 0.0f), g(n), step(1), lrv(1, static_cast<float>(lr));
  std::vector<double> rp(n), rm(n, 0.0), rv(n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    rp[i] = p[i] = static_cast<float>(normal(rng));
  const Attrs attrs = makeAttrs(
      {{"beta1", c.beta1}, {"beta2", c.beta2}, {"eps", c.eps}, {"weight_decay", c.weightDecay}},
      {{"decoupled", c.decoupled}});
  KernelFn kernel = findCpuKernel("adam_update");
  ASSERT_NE(kernel, nullptr);
  for (int s = 1; s <= kSteps; ++s) {
    for (int64_t i = 0; i < n; ++i)
      g[i] = static_cast<float>(normal(rng));
    step[0] = static_cast<float>(s);
    const std::vector<int64_t> shape{kRows, kCols};
    std::vector<TensorView> in{view(p, shape), view(g, shape), view(m, shape),
                               view(v, shape), view(step, {}), view(lrv, {})};
    std::vector<TensorView> out{view(p, shape), view(m, shape), view(v, shape)};
    ASSERT_TRUE(kernel(KernelContext{4}, in, out, attrs).isOk());
    const double bc1 = 1 - std::pow(c.beta1, s), bc2 = 1 - std::pow(c.beta2, s);
    for (int64_t i = 0; i < n; ++i) {
      double d = g[i];
      if (c.decoupled)
        rp[i] *= 1 - lr * c.weightDecay;
      else
        d += c.weightDecay * rp[i];
      rm[i] = c.beta1 * rm[i] + (1 - c.beta1) * d;
      rv[i] = c.beta2 * rv[i] + (1 - c.beta2) * d * d;
      const double denom = std::sqrt(rv[i]) / std::sqrt(bc2) + c.eps;
      rp[i] -= lr / bc1 * rm[i] / denom;
    }
    expectClose(p, rp, "param", s, seed);
    expectClose(m, rm, "exp_avg", s, seed);
    expectClose(v, rv, "exp_avg_sq", s, seed);
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, AdamUpdate,
                         ::testing::Values(AdamConfig{0.9, 0.999, 1e-8, 0, false},
                                           AdamConfig{0.9, 0.999, 1e-8, 1e-2, false},
                                           AdamConfig{0.8, 0.99, 1e-6, 1e-2, true},
                                           AdamConfig{0.9, 0.999, 1e-8, 0.1, true}));

TEST(OptimizerKernels, RejectsBadOperands) {
  std::vector<float> p(4), s(1, 1.0f);
  std::vector<TensorView> in{view(p, {4}), view(p, {4}), view(s, {}), view(s, {})};
  std::vector<TensorView> out{view(p, {4})};
  // momentum without a buffer operand
  EXPECT_FALSE(
      findCpuKernel("sgd_update")(KernelContext{}, in, out, makeAttrs({{"momentum", 0.9}}, {}))
          .isOk());
  // a gradient of another shape
  in[1] = view(p, {2, 2});
  EXPECT_FALSE(findCpuKernel("sgd_update")(KernelContext{}, in, out, Attrs()).isOk());
  // step 0 (adam's step counts this step)
  std::vector<float> zero(1, 0.0f);
  std::vector<TensorView> ain{view(p, {4}), view(p, {4}),   view(p, {4}),
                              view(p, {4}), view(zero, {}), view(s, {})};
  std::vector<TensorView> aout{view(p, {4}), view(p, {4}), view(p, {4})};
  EXPECT_FALSE(findCpuKernel("adam_update")(KernelContext{}, ain, aout, Attrs()).isOk());
}

} // namespace
