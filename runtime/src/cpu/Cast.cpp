//===- Cast.cpp - element type conversion ----------------------------------===//
//
// `cast` between every pair of the twelve dtypes, each conversion rounded once:
//
//   narrow float / f32 -> any float   exact decode to float, then one RNE encode (numerics.h;
//                                     fp8 saturates, bf16 / fp16 overflow to inf)
//   f64 -> narrow float               one rounding from the double: the double is first rounded
//                                     to float *to odd*, which a following RNE encode to a
//                                     format with at most 22 fraction bits turns into the
//                                     correctly rounded result (Boldo & Melquiond), so there is
//                                     no double-rounding error
//   integer -> narrow float           the same, through an exact or round-to-odd double
//   integer -> f32 / f64              the hardware conversion (one RNE rounding)
//   float -> integer                  truncation toward zero, saturating at the target's range,
//                                     NaN -> 0 (CUDA's cvt.rzi.sat semantics; C++ leaves these
//                                     cases undefined, so they are defined here)
//   anything -> i1                    x != 0 (NaN is true)
//   integer -> integer, i1 -> any     two's complement wrap; true is 1
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"

#include <cmath>

namespace precis::rt::cpu {
namespace {

/// `d` rounded to float with round-to-odd: truncate toward zero and set the lowest significand
/// bit when the conversion was inexact. Infinities and NaN pass through; overflow gives the
/// largest finite float (odd), underflow the smallest subnormal with the sign of `d`.
float roundToOddFloat(double d) {
  if (std::isnan(d) || std::isinf(d))
    return static_cast<float>(d);
  float f = static_cast<float>(d); // RNE; may be inf on overflow
  if (static_cast<double>(f) == d)
    return f;
  if (std::isinf(f) || std::fabs(static_cast<double>(f)) > std::fabs(d))
    f = std::nextafter(f, 0.0f); // step toward zero: now the truncation
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  bits |= 1u;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// `v` as a double rounded to odd (exact when |v| < 2^53).
double int64ToDoubleOdd(int64_t v) {
  const uint64_t mag = v < 0 ? uint64_t(0) - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  if (mag < (uint64_t(1) << 53))
    return static_cast<double>(v);
  int shift = 0;
  while ((mag >> shift) >= (uint64_t(1) << 53))
    ++shift;
  const uint64_t sticky = (mag & ((uint64_t(1) << shift) - 1)) != 0 ? 1 : 0;
  const double d = std::ldexp(static_cast<double>((mag >> shift) | sticky), shift);
  return v < 0 ? -d : d;
}

template <typename I> I floatToIntSat(double x) {
  if (std::isnan(x))
    return 0;
  constexpr I lo = std::numeric_limits<I>::min(), hi = std::numeric_limits<I>::max();
  if (x <= static_cast<double>(lo))
    return lo;
  // (double)hi rounds up to 2^63 for int64; every double >= it saturates.
  if (x >= static_cast<double>(hi))
    return hi;
  return static_cast<I>(x); // truncates toward zero, in range
}

constexpr bool isNarrow(DType d) {
  return d == DType::F16 || d == DType::BF16 || d == DType::F8E4M3FN || d == DType::F8E5M2;
}
constexpr bool isFloatD(DType d) { return isNarrow(d) || d == DType::F32 || d == DType::F64; }

/// One element from `From` to `To`.
template <DType From, DType To> typename Elem<To>::S convert(typename Elem<From>::S s) {
  using EF = Elem<From>;
  using ET = Elem<To>;
  using ST = typename ET::S;
  if constexpr (To == DType::Bool) {
    return static_cast<ST>(EF::load(s) != typename EF::C(0) ? 1 : 0);
  } else if constexpr (isNarrow(From) || From == DType::F32) {
    const float f = EF::load(s);
    if constexpr (isFloatD(To))
      return ET::store(static_cast<typename ET::C>(f));
    else
      return floatToIntSat<ST>(f);
  } else if constexpr (From == DType::F64) {
    const double d = s;
    if constexpr (To == DType::F64)
      return d;
    else if constexpr (To == DType::F32)
      return static_cast<float>(d);
    else if constexpr (isNarrow(To))
      return ET::store(roundToOddFloat(d));
    else
      return floatToIntSat<ST>(d);
  } else {
    // Integer or bool source.
    const int64_t v = static_cast<int64_t>(EF::load(s));
    if constexpr (To == DType::F64)
      return static_cast<double>(v);
    else if constexpr (To == DType::F32)
      return static_cast<float>(v);
    else if constexpr (isNarrow(To))
      return ET::store(roundToOddFloat(int64ToDoubleOdd(v)));
    else
      return static_cast<ST>(static_cast<uint64_t>(v)); // wraps
  }
}

template <DType From, DType To>
void castLoop(const KernelContext &ctx, const TensorView &in, const TensorView &out) {
  using SF = typename Elem<From>::S;
  using ST = typename Elem<To>::S;
  const SF *pi = static_cast<const SF *>(in.data);
  ST *po = static_cast<ST *>(out.data);
  parallelFor(ctx, in.numElements(), kGrainCheap, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      po[i] = convert<From, To>(pi[i]);
  });
}

} // namespace

PRECIS_CPU_KERNEL(castKernel) {
  (void)attrs;
  PRECIS_RETURN_IF_ERROR(checkArity("cast", inputs, outputs, 1, 1, 1));
  const TensorView &in = inputs[0], &out = outputs[0];
  if (in.numElements() != out.numElements())
    return badShape("cast", "result shape " + shapeString(out.shape) + " differs from input " +
                                shapeString(in.shape));
  auto unsupported = [&] { return unsupportedDtypes("cast", inputs, outputs); };
  if (in.dtype == out.dtype && dtypeSize(in.dtype) != 0) {
    if (in.data != out.data)
      std::memcpy(out.data, in.data, in.byteSize());
    return Status::ok();
  }
  return visitAny(in.dtype, unsupported, [&](auto from) {
    return visitAny(out.dtype, unsupported, [&](auto to) {
      castLoop<decltype(from)::dtype, decltype(to)::dtype>(ctx, in, out);
      return Status::ok();
    });
  });
}

} // namespace precis::rt::cpu
