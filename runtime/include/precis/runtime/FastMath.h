//===- FastMath.h - vectorizable float exp, tanh, erf, sigmoid, gelu -*- C++ -*-===//
//
// Branch-free float implementations of the transcendental functions of the element-wise
// kernels. libm's expf / tanhf / erff are calls GCC cannot vectorize, so a kernel calling them
// runs one element at a time; these are straight-line float and int32 arithmetic (selects
// instead of branches, bit casts through memcpy) that GCC 12 vectorizes at -O3 for any x86-64
// (SSE2 is enough; the loop's shape matters, see unaryLoop in Elementwise.cpp). They are plain
// C++: no FMA, no reassociation, so the result of an element never depends on the target, the
// vector width or where a loop was split.
//
// Accuracy (fp32): the max error in ulp of the result against the exact value, as asserted by
// unittests/cpu/FastMathTest.cpp over a sweep of the whole float line, every float near each
// formula switch and saturation point, and the special values (in brackets: the largest error
// seen over every 7th float). glibc's tanhf is a 2.1 ulp function, expf and erff 0.5 and 0.9.
//
//   fastExp      1 ulp  [0.98]  +inf from x > 88.7228, subnormal results rounded once, 0 below
//                               -103.972; NaN stays NaN
//   fastTanh     2 ulp  [1.32]  exactly +-1 from |x| >= 9.011 (and for +-inf); -0 and subnormal
//                               x are returned as they are
//   fastSigmoid  3 ulp  [2.37]  relative accuracy down to the subnormal results of x < -87.3
//   fastErf      2 ulp  [1.15]  exactly +-1 from |x| >= 3.919, as libm
//   GELU, tanh  10 ulp for x >= -2 [9.35 over every float of [-2, 16]; 0.5 x (1 + tanhf(u))
//                with glibc: 15.4], below that an absolute error under 3e-8: the rounding of
//                the inner argument u, amplified by 2|u| where the result is small
//   GELU, erf    4 ulp for x >= -1 [2.66 over every float of [-1, 16]; with glibc's erff:
//                2.63], below that under 1e-7 absolute: 1 + erf(x / sqrt(2)) cancels, as it
//                does with erff
//
// For double, the kernels keep calling libm.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_FASTMATH_H
#define PRECIS_RUNTIME_FASTMATH_H

// Generated CUDA kernels include this file too (after numerics.h, whose bit casts it uses), so
// that their element-wise math is this code, compiled with --fmad=false: the same operations
// in the same order, hence the same bits as on the CPU.
#include "precis/runtime/numerics.h"

namespace precis::rt::cpu {
#if defined(__CUDACC_RTC__)
using int32_t = int;
#else
using std::int32_t;
#endif
namespace fastmath_detail {

inline uint32_t bits(float f) { return precis::detail::float_bits(f); }
inline float fromBits(uint32_t u) { return precis::detail::bits_float(u); }
} // namespace fastmath_detail

/// e^x. Cody-Waite reduction x = n ln2 + r with |r| <= ln2 / 2 (n rounded with the 1.5 * 2^23
/// trick, ln2 split so n * ln2hi is exact), e^r = 1 + r + r^2 P(r) with P a degree-4 minimax
/// fit (relative error 4e-9 with float coefficients), then 2^n built in the exponent field.
/// 2^n is applied as two factors 2^(n/2) 2^(n - n/2), so that n from -150 to 128 needs no
/// special case: results past FLT_MAX round to +inf, subnormal results are rounded once, and
/// results under half the smallest subnormal become 0. NaN passes the clamps and propagates.
inline float fastExp(float x) {
  using namespace fastmath_detail;
  // Past these bounds the result is already +inf / 0; the clamp keeps n in [-150, 128].
  x = x > 88.8f ? 88.8f : x;
  x = x < -104.0f ? -104.0f : x;
  const float kRound = 0x1.8p23f;
  const float t = x * 0x1.715476p+0f + kRound; // x log2(e) rounded to an integer
  const float n = t - kRound;
  const float r = (x - n * 0x1.63p-1f) - n * -0x1.bd0106p-13f; // ln2hi = 0.693359375
  float p = 0x1.6a243ep-10f;
  p = p * r + 0x1.1239d6p-7f;
  p = p * r + 0x1.5558f2p-5f;
  p = p * r + 0x1.555492p-3f;
  p = p * r + 0x1.fffffcp-2f;
  p = (p * (r * r) + r) + 1.0f;
  const int32_t ni = static_cast<int32_t>(bits(t) - bits(kRound));
  const int32_t n1 = ni >> 1;
  const int32_t n2 = ni - n1;
  const float s1 = fromBits(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = fromBits(static_cast<uint32_t>(n2 + 127) << 23);
  return p * s1 * s2;
}

/// tanh(x). |x| <= 0.625: x + x s P(s), s = x^2, P a degree-5 minimax fit of
/// (tanh(x)/x - 1) / s (relative error 1e-9); |x| > 0.625: 1 - 2 / (e^(2|x|) + 1) with the
/// sign of x, where tanh >= 0.55 so the subtraction loses at most a bit. Large |x| gives
/// e = +inf and exactly +-1. Both halves are computed and one is selected; NaN takes the
/// first and propagates.
inline float fastTanh(float x) {
  using namespace fastmath_detail;
  const float ax = x < 0.0f ? -x : x;
  const float s = x * x;
  float p = 0x1.197b12p-9f;
  p = p * s + -0x1.0c2126p-7f;
  p = p * s + 0x1.6394d2p-6f;
  p = p * s + -0x1.b9ef7cp-5f;
  p = p * s + 0x1.11106cp-3f;
  p = p * s + -0x1.555554p-2f;
  // Below 2^-12 the polynomial's term is under a third of an ulp: x itself keeps -0 and the
  // subnormals exact.
  const float small = ax < 0x1p-12f ? x : x + x * (s * p);
  const float large = 1.0f - 2.0f / (fastExp(2.0f * ax) + 1.0f);
  const float signedLarge = fromBits(bits(large) | (bits(x) & 0x80000000u));
  return ax > 0.625f ? signedLarge : small;
}

/// 1 / (1 + e^-x), as e / (1 + e) with e = e^x for x < 0, so e^-|x| never overflows and the
/// small results of negative x keep their relative accuracy (down to the subnormals).
inline float fastSigmoid(float x) {
  const float ax = x < 0.0f ? -x : x;
  const float e = fastExp(-ax);
  const float num = x >= 0.0f ? 1.0f : e;
  return num / (1.0f + e);
}

/// erf(x). |x| <= 0.9: x + x Q(x^2), Q a degree-6 minimax fit of erf(x)/x - 1; |x| > 0.9:
/// 1 - e^R(|x|), R a degree-8 fit of log erfc(t) on [0.9, 4] in powers of t - 0.9 (erfc is
/// then relative-accurate, so 1 - erfc loses nothing), |x| clamped to 4 where erf is 1 in
/// float. Both halves are computed and one is selected; NaN takes the first and propagates.
inline float fastErf(float x) {
  using namespace fastmath_detail;
  const float ax = x < 0.0f ? -x : x;
  const float s = x * x;
  float q = 0x1.662502p-14f;
  q = q * s + -0x1.acf7f2p-11f;
  q = q * s + 0x1.5513f2p-8f;
  q = q * s + -0x1.b8162ap-6f;
  q = q * s + 0x1.ce2e60p-4f;
  q = q * s + -0x1.812744p-2f;
  q = q * s + 0x1.06eba8p-3f;
  const float small = x + x * q;
  const float u = (ax < 4.0f ? ax : 4.0f) - 0.9f;
  float r = -0x1.63c5a2p-21f;
  r = r * u + -0x1.1ef13ap-16f;
  r = r * u + 0x1.324394p-12f;
  r = r * u + -0x1.1cbbf0p-9f;
  r = r * u + 0x1.6b27b8p-7f;
  r = r * u + -0x1.770dfep-5f;
  r = r * u + -0x1.a8f7dep-1f;
  r = r * u + -0x1.3c5e82p+1f;
  r = r * u + -0x1.9816c2p+0f;
  const float large = 1.0f - fastExp(r);
  const float signedLarge = fromBits(bits(large) | (bits(x) & 0x80000000u));
  return ax > 0.9f ? signedLarge : small;
}

/// GELU, tanh form: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), evaluated as
/// x sigmoid(2u) (the same function), which has no cancellation for negative x where
/// 1 + tanh(u) is tiny. +inf gives +inf and -inf NaN, as the tanh form does.
inline float fastGeluTanh(float x) {
  const float u = 0.79788456080286535588f * (x + 0.044715f * x * x * x);
  return x * fastSigmoid(2.0f * u);
}

/// GELU, erf form: 0.5 x (1 + erf(x / sqrt(2))). For negative x the sum 1 + erf cancels, as it
/// does with libm's erff: 4 ulp down to x = -1, below that an absolute error under 1e-7.
inline float fastGeluErf(float x) {
  return 0.5f * x * (1.0f + fastErf(x * 0.70710678118654752440f));
}

} // namespace precis::rt::cpu

#endif // PRECIS_RUNTIME_FASTMATH_H
