//===- numerics.h - One definition of low-precision numerics ----*- C++ -*-===//
//
// float32 <-> bf16 / fp16 / fp8 (E4M3FN, E5M2) conversions, bit for bit the
// ones CUDA performs. Everything that rounds a number in precis comes here: the
// compiler's constant folding, the CPU backend's emulation, and the generated
// CUDA kernels. The header is self-contained and compiles as host C++17, as
// CUDA C++ under nvcc, and under NVRTC (which has no standard headers).
//
// Semantics (the spec is the host code of CUDA 13's cuda_bf16.hpp,
// cuda_fp16.hpp and cuda_fp8.hpp, whose device paths use the cvt instructions
// named below; see the references at each function):
//
//   encode  float -> bits, round to nearest, ties to even, fp32 subnormal
//           inputs are exact inputs (no flush to zero); a result that
//           underflows keeps the input's sign (-1e-30f -> -0).
//     bf16, fp16      overflow goes to +-inf (|x| >= max + ulp(max)/2), like
//                     __float2bfloat16_rn / __float2half_rn.
//     fp8 E4M3FN/E5M2 saturate to +-max finite: every |x| > max, +-inf
//                     included, gives +-max, like __nv_cvt_float_to_fp8(x,
//                     __NV_SATFINITE, __NV_E4M3 / __NV_E5M2), the
//                     __nv_fp8_e4m3 / __nv_fp8_e5m2 constructors, and
//                     cvt.rn.satfinite.{e4m3x2,e5m2x2}.f32.
//     NaN             any NaN, either sign, any payload, gives the one
//                     canonical positive NaN of the format: bf16 0x7FFF,
//                     fp16 0x7FFF, E4M3FN 0x7F, E5M2 0x7F.
//   decode  bits -> float is exact (every value of these formats is an fp32).
//     NaN             bf16 keeps its bits (x << 16, like __bfloat162float);
//                     fp16 and fp8 NaNs give the canonical fp32 NaN 0x7FFFFFFF
//                     (like __half2float, and CUDA's fp8 -> half -> float).
//
// Bit layouts (sign | exponent | mantissa, bias):
//   fp32    1 | 8 | 23  bias 127
//   bf16    1 | 8 |  7  bias 127  the high half of an fp32; inf, NaN like fp32
//   fp16    1 | 5 | 10  bias 15   max 65504; exponent 31 is inf / NaN
//   E4M3FN  1 | 4 |  3  bias 7    max 448; no inf; NaN only S.1111.111
//   E5M2    1 | 5 |  2  bias 15   max 57344; the high byte of an fp16
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_NUMERICS_H
#define PRECIS_RUNTIME_NUMERICS_H

#if defined(__CUDACC__)
#define PRECIS_HD __host__ __device__
#else
#define PRECIS_HD
#endif

#if !defined(__CUDACC_RTC__)
#include <cstdint>
#include <cstring>
#endif

namespace precis {

#if defined(__CUDACC_RTC__)
using uint8_t = unsigned char;
using uint16_t = unsigned short;
using uint32_t = unsigned int;
#else
using std::uint16_t;
using std::uint32_t;
using std::uint8_t;
#endif

/// Largest finite values.
constexpr float kBF16Max = 3.38953139e38f; // 0x7F7F = (2 - 2^-7) * 2^127
constexpr float kFP16Max = 65504.0f;       // 0x7BFF
constexpr float kFP8E4M3FNMax = 448.0f;    // 0x7E
constexpr float kFP8E5M2Max = 57344.0f;    // 0x7B

/// The NaN each encoder produces for every NaN input.
constexpr uint16_t kBF16NaN = 0x7FFF;
constexpr uint16_t kFP16NaN = 0x7FFF;
constexpr uint8_t kFP8E4M3FNNaN = 0x7F;
constexpr uint8_t kFP8E5M2NaN = 0x7F;

namespace detail {

PRECIS_HD inline uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

PRECIS_HD inline float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

constexpr uint32_t kF32Abs = 0x7FFFFFFFu;
constexpr uint32_t kF32Inf = 0x7F800000u;
constexpr uint32_t kF32CanonicalNaN = 0x7FFFFFFFu;

/// Shifts `v` right by `s` (1 <= s <= 31), rounding to nearest, ties to even.
///
/// The rounding trick, used by every encoder: adding half an output ulp minus
/// one, plus the bit that will become the result's lsb, carries into that lsb
/// exactly when the discarded bits are above half, or exactly half with an odd
/// lsb. Applied to a whole (rebiased) float bit pattern, a carry out of the
/// mantissa bumps the exponent, which is again the correctly rounded value,
/// up to and including the step from the largest finite value to inf.
PRECIS_HD inline uint32_t shift_right_rne(uint32_t v, uint32_t s) {
  return (v + ((1u << (s - 1)) - 1u) + ((v >> s) & 1u)) >> s;
}

/// Encodes fp32 into a narrower IEEE-style format with `Mant` mantissa bits
/// and exponent bias `Bias`, for formats whose exponent range lies inside
/// fp32's normal range (fp16, E4M3FN, E5M2). Returns the magnitude rounded to
/// nearest even and clamped to `MaxMag` (inf for fp16, max finite for the
/// satfinite fp8 formats), with the sign at bit `Bits - 1`; NaN gives `NaN`.
template <uint32_t Bits, uint32_t Mant, uint32_t Bias, uint32_t MaxMag,
          uint32_t NaN>
PRECIS_HD inline uint32_t encode_narrow(float x) {
  const uint32_t u = float_bits(x);
  const uint32_t a = u & kF32Abs;
  if (a > kF32Inf)
    return NaN;
  const uint32_t sign = (u >> 31) << (Bits - 1);
  const uint32_t rebias = (127u - Bias) << 23;
  uint32_t mag;
  if (a >= rebias + (1u << 23)) {
    // |x| >= 2^(1-Bias), the format's smallest normal: rebiasing the exponent
    // field gives the output encoding with 23 - Mant extra low bits.
    mag = shift_right_rne(a - rebias, 23u - Mant);
  } else {
    // Subnormal output: |x| / 2^(1-Bias-Mant) rounded to an integer, from the
    // 24-bit significand; shift >= 24 - Mant here. fp32 subnormal inputs get
    // the largest shift (their wrong implicit bit is harmless) and become 0.
    const uint32_t shift = 151u - Bias - Mant - (a >> 23);
    const uint32_t sig = (a & 0x7FFFFFu) | 0x800000u;
    mag = shift_right_rne(sig, shift < 31u ? shift : 31u);
  }
  mag = mag < MaxMag ? mag : MaxMag;
  return sign | mag;
}

/// Decodes a narrow format (layout as for encode_narrow). `IEEE` formats
/// reserve the top exponent for inf / NaN; the others (E4M3FN) have no inf
/// and a single NaN magnitude, all ones.
template <uint32_t Bits, uint32_t Mant, uint32_t Bias, bool IEEE>
PRECIS_HD inline float decode_narrow(uint32_t b) {
  const uint32_t magMask = (1u << (Bits - 1)) - 1u;
  const uint32_t sign = ((b >> (Bits - 1)) & 1u) << 31;
  const uint32_t mag = b & magMask;
  const uint32_t e = mag >> Mant;
  const uint32_t m = mag & ((1u << Mant) - 1u);
  const uint32_t eMax = magMask >> Mant;
  const bool isNaN = IEEE ? (e == eMax && m != 0) : mag == magMask;
  const bool isInf = IEEE && e == eMax && m == 0;
  // Every finite value is sig * 2^(max(e, 1) - Bias - Mant), where sig is m
  // plus the implicit bit of normals. Converting the small integer sig to float
  // is exact, and adding the scale to its exponent field keeps it a normal
  // fp32: no float arithmetic, so flush-to-zero modes cannot interfere, and
  // no branches, so loops of decodes vectorize (with GCC, only under
  // -fno-trapping-math: it will not speculate the conversion otherwise).
  // sig = 0 is masked to +0.
  const uint32_t sig = m | (e != 0 ? 1u << Mant : 0u);
  const uint32_t scale = (e != 0 ? e : 1u) - Bias - Mant; // mod 2^32
  const uint32_t value =
      (float_bits(static_cast<float>(static_cast<int>(sig))) + (scale << 23)) &
      (0u - static_cast<uint32_t>(sig != 0));
  uint32_t out = sign | value;
  out = isInf ? sign | kF32Inf : out;
  out = isNaN ? kF32CanonicalNaN : out;
  return bits_float(out);
}

} // namespace detail

//===----------------------------------------------------------------------===//
// bf16
//===----------------------------------------------------------------------===//

/// fp32 -> bf16, round to nearest even, overflow to inf, NaN -> 0x7FFF.
/// Matches __float2bfloat16_rn (cuda_bf16.hpp host path: NaN -> 0x7fff, then
/// `remainder > 0x80000000 || (== && odd)` rounding; cvt.rn.bf16.f32 on
/// sm_80+). bf16 has fp32's exponent range, so fp32 subnormals map to bf16
/// subnormals by the same rounding, and the rounding trick works on the whole
/// word.
PRECIS_HD inline uint16_t float_to_bf16(float x) {
  const uint32_t u = detail::float_bits(x);
  if ((u & detail::kF32Abs) > detail::kF32Inf)
    return kBF16NaN;
  return static_cast<uint16_t>(detail::shift_right_rne(u, 16));
}

/// bf16 -> fp32, exact; NaN payloads and signs are kept (bits << 16).
PRECIS_HD inline float bf16_to_float(uint16_t b) {
  return detail::bits_float(static_cast<uint32_t>(b) << 16);
}

//===----------------------------------------------------------------------===//
// fp16
//===----------------------------------------------------------------------===//

/// fp32 -> fp16 (IEEE binary16), round to nearest even, |x| >= 65520 -> inf,
/// NaN -> 0x7FFF. Matches __float2half_rn (cuda_fp16.hpp
/// __internal_float2half: NaN -> 0x7fff, overflow via 0x7bff + round up;
/// cvt.rn.f16.f32 on device).
PRECIS_HD inline uint16_t float_to_fp16(float x) {
  return static_cast<uint16_t>(
      detail::encode_narrow<16, 10, 15, 0x7C00, kFP16NaN>(x));
}

/// fp16 -> fp32, exact; NaN -> 0x7FFFFFFF (as __half2float's host path).
PRECIS_HD inline float fp16_to_float(uint16_t h) {
  return detail::decode_narrow<16, 10, 15, true>(h);
}

//===----------------------------------------------------------------------===//
// fp8
//===----------------------------------------------------------------------===//

/// fp32 -> FP8 E4M3FN, round to nearest even, saturating: |x| > 448 and +-inf
/// give +-448 (0x7E / 0xFE); NaN -> 0x7F whatever its sign. Matches
/// __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3) (cuda_fp8.hpp host
/// path: NaN is first made 0x7FFFFFFF, then __nv_cvt_double_to_fp8 returns
/// 0x7F; |x| > 464 -> 0x7E, and 464 itself ties to the even 0x7E), which is
/// cvt.rn.satfinite.e4m3x2.f32 on sm_89+.
PRECIS_HD inline uint8_t float_to_fp8_e4m3fn(float x) {
  return static_cast<uint8_t>(
      detail::encode_narrow<8, 3, 7, 0x7E, kFP8E4M3FNNaN>(x));
}

/// fp32 -> FP8 E5M2, round to nearest even, saturating: |x| > 57344 and +-inf
/// give +-57344 (0x7B / 0xFB); NaN -> 0x7F whatever its sign. Matches
/// __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2) (host path: the
/// canonical input NaN 0x7FFFFFFF becomes 0x7E | 0x3 = 0x7F; |x| >= 61440,
/// the tie that would round to inf, -> 0x7B), i.e. cvt.rn.satfinite.e5m2x2.f32.
PRECIS_HD inline uint8_t float_to_fp8_e5m2(float x) {
  return static_cast<uint8_t>(
      detail::encode_narrow<8, 2, 15, 0x7B, kFP8E5M2NaN>(x));
}

/// FP8 E4M3FN -> fp32, exact; 0x7F / 0xFF -> 0x7FFFFFFF.
PRECIS_HD inline float fp8_e4m3fn_to_float(uint8_t b) {
  return detail::decode_narrow<8, 3, 7, false>(b);
}

/// FP8 E5M2 -> fp32, exact; +-inf stay inf, NaNs -> 0x7FFFFFFF. (An E5M2 value
/// is the fp16 with the same high byte.)
PRECIS_HD inline float fp8_e5m2_to_float(uint8_t b) {
  return fp16_to_float(static_cast<uint16_t>(b << 8));
}

//===----------------------------------------------------------------------===//
// Round trips: the fp32 value a tensor element has after a cast to the format
// and back. The CPU backend uses these to emulate low-precision storage.
//===----------------------------------------------------------------------===//

PRECIS_HD inline float round_to_bf16(float x) {
  return bf16_to_float(float_to_bf16(x));
}
PRECIS_HD inline float round_to_fp16(float x) {
  return fp16_to_float(float_to_fp16(x));
}
PRECIS_HD inline float round_to_fp8_e4m3fn(float x) {
  return fp8_e4m3fn_to_float(float_to_fp8_e4m3fn(x));
}
PRECIS_HD inline float round_to_fp8_e5m2(float x) {
  return fp8_e5m2_to_float(float_to_fp8_e5m2(x));
}

//===----------------------------------------------------------------------===//
// Dropout's random stream: Philox4x32-10 (Salmon et al., SC'11; Random123's philox4x32 with
// 10 rounds), counter-based, so every element's draw is a pure function of where it is. The
// CPU kernel and the generated CUDA kernel both call dropout_uniform.
//===----------------------------------------------------------------------===//

/// One Philox4x32-10 block: encrypts counter `c` in place under key (k0, k1).
PRECIS_HD inline void philox4x32_10(uint32_t c[4], uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const unsigned long long p0 = 0xD2511F53ull * c[0], p1 = 0xCD9E8D57ull * c[2];
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k1;
    c[0] = n0;
    c[1] = static_cast<uint32_t>(p1);
    c[2] = n2;
    c[3] = static_cast<uint32_t>(p0);
  }
}

/// The uniform draw u in [0, 1) of element `i` of a dropout op: with g = i / 4 (below 2^32),
///   w = philox4x32_10(counter = {g, stream, lo32(step), hi32(step)},
///                     key = {lo32(seed), hi32(seed)})[i % 4]
///   u = (w >> 8) * 2^-24   (24 random bits, exact in float).
/// `seed` and `step` are the training step's RNG state (`--seed`, and the number of steps taken
/// before this one); `stream` tells the dropout ops of one model apart. The element is kept
/// when u >= ratio. In a data-parallel job `i` is the element's index in the whole batch
/// (rank * n + local index). docs/runtime.md states the same definition.
PRECIS_HD inline float dropout_uniform(unsigned long long seed, unsigned long long step,
                                       uint32_t stream, unsigned long long i) {
  uint32_t c[4] = {static_cast<uint32_t>(i >> 2), stream, static_cast<uint32_t>(step),
                   static_cast<uint32_t>(step >> 32)};
  philox4x32_10(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return static_cast<float>(c[i & 3] >> 8) * 5.9604644775390625e-08f; // 2^-24
}

} // namespace precis

#endif // PRECIS_RUNTIME_NUMERICS_H
