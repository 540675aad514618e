//===- FastMathTest.cpp - accuracy of the CPU kernels' float exp, tanh, erf ------===//
//
// Checks the error bounds FastMath.h documents, in ulp of the result against a double
// reference (libm in double, then measured in the float spacing at the reference): a sweep
// over every sign and exponent of the float line (every 509th bit pattern, so all exponents and
// a spread of mantissas), every float within 2^16 ulp of each point where an implementation
// switches formula or saturates, and the special values (zeros, infinities, NaN, the largest
// float, subnormals).
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/FastMath.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace precis::rt::cpu;

namespace {

float fromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
uint32_t toBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

/// |got - ref| in units of the float spacing at |ref| (2^-149 below FLT_MIN). A reference
/// that rounds to an infinity must be met exactly, as must a NaN; an infinite result for a
/// finite reference is an infinite error.
double ulpError(float got, double ref) {
  if (std::isnan(ref))
    return std::isnan(got) ? 0 : INFINITY;
  const float rounded = static_cast<float>(ref);
  if (std::isinf(rounded) || std::isinf(got))
    return got == rounded ? 0 : INFINITY;
  const double a = std::fabs(ref);
  const int e = a == 0 ? -126 : std::max(std::ilogb(a), -126);
  return std::fabs(static_cast<double>(got) - ref) / std::ldexp(1.0, e - 23);
}

/// The inputs: the strided sweep over all bit patterns, then the windows around `points`.
std::vector<float> inputs(const std::vector<float> &points) {
  std::vector<float> xs;
  for (uint64_t u = 0; u <= 0xFFFFFFFFu; u += 509)
    xs.push_back(fromBits(static_cast<uint32_t>(u)));
  for (float p : points)
    for (float s : {p, -p}) {
      const uint32_t b = toBits(s);
      for (uint32_t d = 0; d <= (1u << 16); ++d) {
        xs.push_back(fromBits(b + d));
        xs.push_back(fromBits(b - d));
      }
    }
  return xs;
}

struct Worst {
  double ulps = 0;
  float x = 0;
};

/// The largest ulp error of `f` against `ref` over `xs` restricted to `keep`.
template <typename F, typename R, typename Keep>
Worst worstError(const std::vector<float> &xs, F f, R ref, Keep keep) {
  Worst w;
  for (float x : xs) {
    if (!keep(x))
      continue;
    const double e = ulpError(f(x), ref(static_cast<double>(x)));
    if (!(e <= w.ulps)) {
      w.ulps = e;
      w.x = x;
    }
  }
  return w;
}

std::string where(const Worst &w) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "max %.3f ulp at x = %a (%.9g)", w.ulps, w.x, w.x);
  return buf;
}

const auto kAll = [](float) { return true; };

double refSigmoid(double x) { return 1 / (1 + std::exp(-x)); }
/// Both GELU references are written without cancellation, so that they stay accurate where
/// the float results are tiny.
double refGeluTanh(double x) {
  const double u = std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x);
  return x / (1 + std::exp(-2 * u));
}
double refGeluErf(double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kDenorm = 0x1p-140f, kDenormMin = 0x1p-149f;

TEST(FastMath, ExpWithin1Ulp) {
  // Overflow, the start of the subnormal results, underflow to 0, the range reduction's
  // rounding boundary.
  const std::vector<float> xs = inputs({0x1.62e42ep+6f, 87.3365479f, 0x1.9fe368p+6f, 0.34657359f});
  const Worst w = worstError(
      xs, fastExp, [](double x) { return std::exp(x); }, kAll);
  EXPECT_LE(w.ulps, 1.0) << where(w);
}

TEST(FastMath, ExpSpecialValues) {
  EXPECT_EQ(fastExp(0.0f), 1.0f);
  EXPECT_EQ(fastExp(-0.0f), 1.0f);
  EXPECT_EQ(fastExp(kDenorm), 1.0f);
  EXPECT_EQ(fastExp(kInf), kInf);
  EXPECT_EQ(fastExp(-kInf), 0.0f);
  EXPECT_EQ(fastExp(FLT_MAX), kInf);
  EXPECT_EQ(fastExp(-FLT_MAX), 0.0f);
  // The last float with a finite e^x and the first that overflows; the last float whose e^x
  // rounds up to the smallest subnormal (e^x = 0.500004 * 2^-149) and the next (0.499997).
  EXPECT_TRUE(std::isfinite(fastExp(0x1.62e42ep+6f)));
  EXPECT_EQ(fastExp(0x1.62e430p+6f), kInf);
  EXPECT_EQ(fastExp(-0x1.9fe366p+6f), kDenormMin);
  EXPECT_EQ(fastExp(-0x1.9fe36ap+6f), 0.0f);
  EXPECT_TRUE(std::isnan(fastExp(kNaN)));
  EXPECT_TRUE(std::isnan(fastExp(-kNaN)));
}

TEST(FastMath, TanhWithin2Ulp) {
  const std::vector<float> xs = inputs({0.625f, 0.0004f, 7.90531111f, 9.0f});
  const Worst w = worstError(
      xs, fastTanh, [](double x) { return std::tanh(x); }, kAll);
  EXPECT_LE(w.ulps, 2.0) << where(w);
}

TEST(FastMath, TanhSpecialValues) {
  EXPECT_EQ(toBits(fastTanh(0.0f)), toBits(0.0f));
  EXPECT_EQ(toBits(fastTanh(-0.0f)), toBits(-0.0f));
  EXPECT_EQ(fastTanh(kDenorm), kDenorm);
  EXPECT_EQ(fastTanh(-kDenorm), -kDenorm);
  EXPECT_EQ(fastTanh(kInf), 1.0f);
  EXPECT_EQ(fastTanh(-kInf), -1.0f);
  EXPECT_EQ(fastTanh(FLT_MAX), 1.0f);
  EXPECT_EQ(fastTanh(-FLT_MAX), -1.0f);
  EXPECT_EQ(fastTanh(10.0f), 1.0f);
  EXPECT_TRUE(std::isnan(fastTanh(kNaN)));
}

TEST(FastMath, SigmoidWithin3Ulp) {
  const std::vector<float> xs = inputs({87.3365479f, 103.972084f, 16.6355324f});
  const Worst w = worstError(xs, fastSigmoid, refSigmoid, kAll);
  EXPECT_LE(w.ulps, 3.0) << where(w);
}

TEST(FastMath, SigmoidSpecialValues) {
  EXPECT_EQ(fastSigmoid(0.0f), 0.5f);
  EXPECT_EQ(fastSigmoid(-0.0f), 0.5f);
  EXPECT_EQ(fastSigmoid(kInf), 1.0f);
  EXPECT_EQ(fastSigmoid(-kInf), 0.0f);
  EXPECT_EQ(fastSigmoid(200.0f), 1.0f);
  EXPECT_EQ(fastSigmoid(-200.0f), 0.0f);
  EXPECT_GT(fastSigmoid(-90.0f), 0.0f); // a subnormal, not 0
  EXPECT_TRUE(std::isnan(fastSigmoid(kNaN)));
}

TEST(FastMath, ErfWithin2Ulp) {
  const std::vector<float> xs = inputs({0.9f, 3.9192059f, 4.0f});
  const Worst w = worstError(
      xs, fastErf, [](double x) { return std::erf(x); }, kAll);
  EXPECT_LE(w.ulps, 2.0) << where(w);
}

TEST(FastMath, ErfSpecialValues) {
  EXPECT_EQ(toBits(fastErf(0.0f)), toBits(0.0f));
  EXPECT_EQ(toBits(fastErf(-0.0f)), toBits(-0.0f));
  EXPECT_EQ(fastErf(kInf), 1.0f);
  EXPECT_EQ(fastErf(-kInf), -1.0f);
  EXPECT_EQ(fastErf(FLT_MAX), 1.0f);
  EXPECT_EQ(fastErf(-5.0f), -1.0f);
  EXPECT_LE(ulpError(fastErf(kDenorm), std::erf(static_cast<double>(kDenorm))), 1.0);
  EXPECT_TRUE(std::isnan(fastErf(kNaN)));
}

TEST(FastMath, GeluTanh) {
  const std::vector<float> xs = inputs({0.625f, 3.0f});
  // Relative accuracy where the result is not tiny; below that, the rounding of the inner
  // argument u (a relative error of u amplified by 2|u|) dominates, and the absolute error
  // is what matters.
  const Worst w = worstError(xs, fastGeluTanh, refGeluTanh, [](float x) { return x >= -2.0f; });
  EXPECT_LE(w.ulps, 10.0) << where(w);
  for (float x : xs) {
    if (std::isfinite(x) && x < -2.0f) {
      ASSERT_LE(std::fabs(fastGeluTanh(x) - refGeluTanh(x)), 3e-8) << "x = " << x;
    }
  }
  EXPECT_EQ(fastGeluTanh(kInf), kInf);
  EXPECT_EQ(fastGeluTanh(0.0f), 0.0f);
  EXPECT_EQ(fastGeluTanh(-20.0f), 0.0f);
  EXPECT_TRUE(std::isnan(fastGeluTanh(kNaN)));
}

TEST(FastMath, GeluErf) {
  const std::vector<float> xs = inputs({0.9f * 1.41421356f, 4.0f * 1.41421356f});
  // 1 + erf(x / sqrt(2)) cancels for negative x (as with libm's erf): relative accuracy for
  // x >= -1, an absolute bound below.
  const Worst w = worstError(xs, fastGeluErf, refGeluErf, [](float x) { return x >= -1.0f; });
  EXPECT_LE(w.ulps, 4.0) << where(w);
  for (float x : xs) {
    if (std::isfinite(x) && x < -1.0f) {
      ASSERT_LE(std::fabs(fastGeluErf(x) - refGeluErf(x)), 1e-7) << "x = " << x;
    }
  }
  EXPECT_EQ(fastGeluErf(kInf), kInf);
  EXPECT_EQ(fastGeluErf(0.0f), 0.0f);
  EXPECT_TRUE(std::isnan(fastGeluErf(kNaN)));
}

} // namespace
