//===- Elementwise.cpp - element-wise CPU kernels --------------------------===//
//
// Binary arithmetic with NumPy broadcasting, unary math, compare / not / where, dropout, and
// rotary embedding (pairs of channels rotated by cached angles).
// Every element is read with an exact decode to its compute type (float for the narrow
// formats, double for f64, the integer itself for i32 / i64), computed, and written back
// rounded to nearest even (numerics.h). exp, tanh, sigmoid, erf and gelu compute float with
// the vectorizable approximations of FastMath.h (accuracy bounds there), double with libm.
//
// Loops: same-shape operands run as one flat loop; broadcasting goes through a collapsed
// LoopNest whose innermost row is specialised for the unit-stride / broadcast-scalar cases
// (which is what a bias add over the trailing dimension becomes). Rows are split across at
// most ctx.numThreads OpenMP threads once a loop is long enough to pay for them.
//
// Integer arithmetic wraps (two's complement); integer division truncates toward zero,
// INT_MIN / -1 wraps to INT_MIN, and division by zero is an InvalidArgument error.
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"
#include "precis/runtime/Communicator.h"
#include "precis/runtime/FastMath.h"

#include <atomic>
#include <cmath>

namespace precis::rt::cpu {
namespace {

//===----------------------------------------------------------------------===//
// Loop drivers.
//===----------------------------------------------------------------------===//

/// out[i] = op(a[i'], b[i'']) with broadcasting; `TI` is the input tag, `EO` the output Elem.
template <typename TI, typename EO, typename Op>
void binaryLoop(const KernelContext &ctx, const TensorView &a, const TensorView &b,
                const TensorView &out, const Op &op, int64_t grain) {
  using SI = typename TI::S;
  using EI = typename TI::E;
  using SO = typename EO::S;
  const SI *pa = static_cast<const SI *>(a.data);
  const SI *pb = static_cast<const SI *>(b.data);
  SO *po = static_cast<SO *>(out.data);
  const int64_t n = out.numElements();
  if (a.shape == out.shape && b.shape == out.shape) {
    parallelFor(ctx, n, grain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        po[i] = EO::store(op(EI::load(pa[i]), EI::load(pb[i])));
    });
    return;
  }
  std::vector<int64_t> sa, sb;
  broadcastStrides(a.shape, out.shape, sa);
  broadcastStrides(b.shape, out.shape, sb);
  const LoopNest nest = makeLoopNest(out.shape, {contiguousStrides(out.shape), sa, sb});
  forEachRow(ctx, nest, grain, [&](int64_t m, const int64_t *off, const int64_t *step) {
    SO *o = po + off[0];
    const SI *x = pa + off[1];
    const SI *y = pb + off[2];
    const int64_t s0 = step[0], s1 = step[1], s2 = step[2];
    if (s0 == 1 && s1 == 1 && s2 == 1) {
      for (int64_t j = 0; j < m; ++j)
        o[j] = EO::store(op(EI::load(x[j]), EI::load(y[j])));
    } else if (s0 == 1 && s1 == 1 && s2 == 0) {
      const auto yv = EI::load(*y);
      for (int64_t j = 0; j < m; ++j)
        o[j] = EO::store(op(EI::load(x[j]), yv));
    } else if (s0 == 1 && s1 == 0 && s2 == 1) {
      const auto xv = EI::load(*x);
      for (int64_t j = 0; j < m; ++j)
        o[j] = EO::store(op(xv, EI::load(y[j])));
    } else {
      for (int64_t j = 0; j < m; ++j)
        o[j * s0] = EO::store(op(EI::load(x[j * s1]), EI::load(y[j * s2])));
    }
  });
}

/// out[i] = op(in[i]), same shape. `Buffered` float computations (FastMath.h's functions) go
/// through a small float buffer: decode, compute, encode, three simple loops, so that the
/// compute loop vectorizes even where the format's decoder or encoder does not. f32 too: GCC 12
/// leaves the loop `out[i] = op(in[i])` scalar for them ("control flow in loop": their selects
/// are not if-converted there) but vectorizes the loop over the buffer. Cheap ops keep the
/// direct loop, which the buffer's copies would slow down. The per-element arithmetic is the
/// same either way.
template <typename T, bool Buffered = false, typename Op>
void unaryLoop(const KernelContext &ctx, const TensorView &in, const TensorView &out, const Op &op,
               int64_t grain) {
  using S = typename T::S;
  using E = typename T::E;
  using C = typename T::C;
  const S *pi = static_cast<const S *>(in.data);
  S *po = static_cast<S *>(out.data);
  parallelFor(ctx, out.numElements(), grain, [&](int64_t begin, int64_t end) {
    if constexpr (Buffered && std::is_same_v<C, float>) {
      constexpr int64_t kBlock = 512;
      float buf[kBlock];
      for (int64_t b = begin; b < end; b += kBlock) {
        const int64_t m = std::min(kBlock, end - b);
        for (int64_t j = 0; j < m; ++j)
          buf[j] = E::load(pi[b + j]);
        for (int64_t j = 0; j < m; ++j)
          buf[j] = op(buf[j]);
        for (int64_t j = 0; j < m; ++j)
          po[b + j] = E::store(buf[j]);
      }
    } else {
      for (int64_t i = begin; i < end; ++i)
        po[i] = E::store(op(E::load(pi[i])));
    }
  });
}

Status checkBroadcast(const char *kind, const std::vector<TensorView> &operands,
                      const TensorView &out) {
  std::vector<int64_t> strides;
  for (const TensorView &t : operands)
    if (!broadcastStrides(t.shape, out.shape, strides))
      return badShape(kind, "operand shape " + shapeString(t.shape) +
                                " does not broadcast to the result shape " +
                                shapeString(out.shape));
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Binary arithmetic.
//===----------------------------------------------------------------------===//

template <typename C> using Unsigned = std::make_unsigned_t<C>;

struct AddOp {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(static_cast<Unsigned<C>>(a) + static_cast<Unsigned<C>>(b));
    else
      return a + b;
  }
};
struct SubOp {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(static_cast<Unsigned<C>>(a) - static_cast<Unsigned<C>>(b));
    else
      return a - b;
  }
};
struct MulOp {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(static_cast<Unsigned<C>>(a) * static_cast<Unsigned<C>>(b));
    else
      return a * b;
  }
};
struct DivOp {
  std::atomic<bool> *divByZero;
  template <typename C> C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>) {
      if (b == 0) {
        divByZero->store(true, std::memory_order_relaxed);
        return 0;
      }
      if (b == -1)
        return static_cast<C>(Unsigned<C>(0) - static_cast<Unsigned<C>>(a));
      return a / b;
    } else {
      return a / b;
    }
  }
};
/// NaN-propagating maximum / minimum.
struct MaxOp {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (!std::is_integral_v<C>)
      if (a != a || b != b)
        return a + b;
    return a > b ? a : b;
  }
};
struct MinOp {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (!std::is_integral_v<C>)
      if (a != a || b != b)
        return a + b;
    return a < b ? a : b;
  }
};
struct PowOp {
  template <typename C> C operator()(C a, C b) const { return std::pow(a, b); }
};
/// ONNX Mod. `fmod`: the remainder of truncated division (C fmod, exact for floats); else
/// that of floor division, the sign of the divisor (integers only). Integer division by
/// zero is flagged; x % -1 is 0 (INT_MIN % -1 would trap).
struct ModOp {
  bool fmod;
  std::atomic<bool> *divByZero;
  template <typename C> C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>) {
      if (b == 0) {
        divByZero->store(true, std::memory_order_relaxed);
        return 0;
      }
      C r = b == -1 ? C(0) : static_cast<C>(a % b);
      if (!fmod && r != 0 && (r < 0) != (b < 0))
        r = static_cast<C>(r + b);
      return r;
    } else {
      return std::fmod(a, b);
    }
  }
};

template <typename Op>
Status binaryArith(const char *kind, bool floatOnly, const KernelContext &ctx,
                   const std::vector<TensorView> &inputs, std::vector<TensorView> &outputs,
                   const Op &op) {
  PRECIS_RETURN_IF_ERROR(checkArity(kind, inputs, outputs, 2, 2, 1));
  const TensorView &a = inputs[0], &b = inputs[1], &out = outputs[0];
  if (a.dtype != b.dtype || a.dtype != out.dtype)
    return unsupportedDtypes(kind, inputs, outputs);
  PRECIS_RETURN_IF_ERROR(checkBroadcast(kind, inputs, out));
  auto unsupported = [&] { return unsupportedDtypes(kind, inputs, outputs); };
  auto body = [&](auto tag) {
    using T = decltype(tag);
    binaryLoop<T, typename T::E>(ctx, a, b, out, op, kGrainCheap);
    return Status::ok();
  };
  return floatOnly ? visitFloat(a.dtype, unsupported, body)
                   : visitNumeric(a.dtype, unsupported, body);
}

//===----------------------------------------------------------------------===//
// Unary math.
//===----------------------------------------------------------------------===//

struct NegOp {
  template <typename C> C operator()(C a) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(Unsigned<C>(0) - static_cast<Unsigned<C>>(a));
    else
      return -a;
  }
};
struct AbsOp {
  template <typename C> C operator()(C a) const {
    if constexpr (std::is_integral_v<C>)
      return a < 0 ? NegOp()(a) : a;
    else
      return std::fabs(a);
  }
};
struct ReluOp {
  template <typename C> C operator()(C a) const { return a < C(0) ? C(0) : a; } // NaN stays
};
struct LeakyReluOp {
  float alpha;
  template <typename C> C operator()(C a) const {
    return a >= C(0) ? a : static_cast<C>(alpha) * a;
  }
};
// The transcendental ops compute float (every narrow format) with FastMath.h's vectorizable
// approximations and double with libm.
struct GeluErfOp {
  template <typename C> C operator()(C x) const {
    if constexpr (std::is_same_v<C, float>)
      return fastGeluErf(x);
    else
      return C(0.5) * x * (C(1) + std::erf(x * C(0.70710678118654752440)));
  }
};
struct GeluTanhOp {
  template <typename C> C operator()(C x) const {
    if constexpr (std::is_same_v<C, float>) {
      return fastGeluTanh(x);
    } else {
      const C inner = C(0.79788456080286535588) * (x + C(0.044715) * x * x * x);
      return C(0.5) * x * (C(1) + std::tanh(inner));
    }
  }
};
struct TanhOp {
  template <typename C> C operator()(C x) const {
    if constexpr (std::is_same_v<C, float>)
      return fastTanh(x);
    else
      return std::tanh(x);
  }
};
/// 1 / (1 + e^-x), evaluated on the side where the exponential cannot overflow.
struct SigmoidOp {
  template <typename C> C operator()(C x) const {
    if constexpr (std::is_same_v<C, float>) {
      return fastSigmoid(x);
    } else {
      if (x >= C(0))
        return C(1) / (C(1) + std::exp(-x));
      const C e = std::exp(x);
      return e / (C(1) + e);
    }
  }
};
struct ErfOp {
  template <typename C> C operator()(C x) const {
    if constexpr (std::is_same_v<C, float>)
      return fastErf(x);
    else
      return std::erf(x);
  }
};
struct SqrtOp {
  template <typename C> C operator()(C x) const { return std::sqrt(x); }
};
struct ExpOp {
  template <typename C> C operator()(C x) const {
    if constexpr (std::is_same_v<C, float>)
      return fastExp(x);
    else
      return std::exp(x);
  }
};
struct LogOp {
  template <typename C> C operator()(C x) const { return std::log(x); }
};
struct RsqrtOp {
  template <typename C> C operator()(C x) const { return C(1) / std::sqrt(x); }
};
struct ReciprocalOp {
  template <typename C> C operator()(C x) const { return C(1) / x; }
};
/// max(x, 0) + log1p(exp(-|x|)) in the compute type; NaN stays NaN.
struct SoftplusOp {
  template <typename C> C operator()(C x) const {
    const C tail = std::log1p(std::exp(-std::fabs(x)));
    return x > C(0) ? x + tail : tail;
  }
};
struct SinOp {
  template <typename C> C operator()(C x) const { return std::sin(x); }
};
struct CosOp {
  template <typename C> C operator()(C x) const { return std::cos(x); }
};
/// max(0, min(1, alpha x + beta)) with alpha and beta the f32 attributes; NaN stays NaN.
struct HardSigmoidOp {
  float alpha, beta;
  template <typename C> C operator()(C x) const {
    const C v = static_cast<C>(alpha) * x + static_cast<C>(beta);
    return v < C(0) ? C(0) : v > C(1) ? C(1) : v;
  }
};

/// The ops whose float arithmetic is FastMath.h's, run through unaryLoop's buffer.
template <typename Op>
constexpr bool kUsesFastMath =
    std::is_same_v<Op, GeluErfOp> || std::is_same_v<Op, GeluTanhOp> || std::is_same_v<Op, TanhOp> ||
    std::is_same_v<Op, SigmoidOp> || std::is_same_v<Op, ErfOp> || std::is_same_v<Op, ExpOp>;

template <typename Op>
Status unaryMath(const char *kind, bool floatOnly, int64_t grain, const KernelContext &ctx,
                 const std::vector<TensorView> &inputs, std::vector<TensorView> &outputs,
                 const Op &op) {
  PRECIS_RETURN_IF_ERROR(checkArity(kind, inputs, outputs, 1, 1, 1));
  const TensorView &in = inputs[0], &out = outputs[0];
  if (in.dtype != out.dtype)
    return unsupportedDtypes(kind, inputs, outputs);
  if (in.shape != out.shape)
    return badShape(kind, "result shape " + shapeString(out.shape) + " differs from input " +
                              shapeString(in.shape));
  auto unsupported = [&] { return unsupportedDtypes(kind, inputs, outputs); };
  auto body = [&](auto tag) {
    unaryLoop<decltype(tag), kUsesFastMath<Op>>(ctx, in, out, op, grain);
    return Status::ok();
  };
  return floatOnly ? visitFloat(in.dtype, unsupported, body)
                   : visitNumeric(in.dtype, unsupported, body);
}

//===----------------------------------------------------------------------===//
// Compare.
//===----------------------------------------------------------------------===//

template <int Kind> struct CmpOp {
  template <typename C> bool operator()(C a, C b) const {
    if constexpr (Kind == 0)
      return a == b;
    else if constexpr (Kind == 1)
      return a < b;
    else if constexpr (Kind == 2)
      return a <= b;
    else if constexpr (Kind == 3)
      return a > b;
    else
      return a >= b;
  }
};

//===----------------------------------------------------------------------===//
// Where.
//===----------------------------------------------------------------------===//

template <typename S>
void whereLoop(const KernelContext &ctx, const TensorView &cond, const TensorView &x,
               const TensorView &y, const TensorView &out) {
  const uint8_t *pc = static_cast<const uint8_t *>(cond.data);
  const S *px = static_cast<const S *>(x.data);
  const S *py = static_cast<const S *>(y.data);
  S *po = static_cast<S *>(out.data);
  std::vector<int64_t> sc, sx, sy;
  broadcastStrides(cond.shape, out.shape, sc);
  broadcastStrides(x.shape, out.shape, sx);
  broadcastStrides(y.shape, out.shape, sy);
  const LoopNest nest = makeLoopNest(out.shape, {contiguousStrides(out.shape), sc, sx, sy});
  forEachRow(ctx, nest, kGrainCheap, [&](int64_t m, const int64_t *off, const int64_t *step) {
    S *o = po + off[0];
    const uint8_t *c = pc + off[1];
    const S *a = px + off[2];
    const S *b = py + off[3];
    if (step[0] == 1 && step[1] == 1 && step[2] == 1 && step[3] == 1) {
      for (int64_t j = 0; j < m; ++j)
        o[j] = c[j] ? a[j] : b[j];
    } else {
      for (int64_t j = 0; j < m; ++j)
        o[j * step[0]] = c[j * step[1]] ? a[j * step[2]] : b[j * step[3]];
    }
  });
}

} // namespace

//===----------------------------------------------------------------------===//
// Kernels.
//===----------------------------------------------------------------------===//

PRECIS_CPU_KERNEL(addKernel) {
  (void)attrs;
  return binaryArith("add", false, ctx, inputs, outputs, AddOp{});
}
PRECIS_CPU_KERNEL(subKernel) {
  (void)attrs;
  return binaryArith("sub", false, ctx, inputs, outputs, SubOp{});
}
PRECIS_CPU_KERNEL(mulKernel) {
  (void)attrs;
  return binaryArith("mul", false, ctx, inputs, outputs, MulOp{});
}
PRECIS_CPU_KERNEL(divKernel) {
  (void)attrs;
  std::atomic<bool> divByZero{false};
  PRECIS_RETURN_IF_ERROR(binaryArith("div", false, ctx, inputs, outputs, DivOp{&divByZero}));
  if (divByZero.load())
    return invalidArgument("div: integer division by zero");
  return Status::ok();
}
PRECIS_CPU_KERNEL(maxKernel) {
  (void)attrs;
  return binaryArith("max", false, ctx, inputs, outputs, MaxOp{});
}
PRECIS_CPU_KERNEL(minKernel) {
  (void)attrs;
  return binaryArith("min", false, ctx, inputs, outputs, MinOp{});
}
PRECIS_CPU_KERNEL(powKernel) {
  (void)attrs;
  return binaryArith("pow", true, ctx, inputs, outputs, PowOp{});
}

PRECIS_CPU_KERNEL(modKernel) {
  const bool fmod = attrs.getInt("fmod", 0) != 0;
  if (!inputs.empty() && isFloat(inputs[0].dtype) && !fmod)
    return invalidArgument("mod: floats require fmod = 1");
  std::atomic<bool> divByZero{false};
  PRECIS_RETURN_IF_ERROR(binaryArith("mod", false, ctx, inputs, outputs, ModOp{fmod, &divByZero}));
  if (divByZero.load())
    return invalidArgument("mod: integer division by zero");
  return Status::ok();
}

PRECIS_CPU_KERNEL(negKernel) {
  (void)attrs;
  return unaryMath("neg", false, kGrainCheap, ctx, inputs, outputs, NegOp{});
}
PRECIS_CPU_KERNEL(absKernel) {
  (void)attrs;
  return unaryMath("abs", false, kGrainCheap, ctx, inputs, outputs, AbsOp{});
}
PRECIS_CPU_KERNEL(reluKernel) {
  (void)attrs;
  return unaryMath("relu", true, kGrainCheap, ctx, inputs, outputs, ReluOp{});
}
PRECIS_CPU_KERNEL(leakyReluKernel) {
  const float alpha = static_cast<float>(attrs.getFloat("alpha", 0.01));
  return unaryMath("leaky_relu", true, kGrainCheap, ctx, inputs, outputs, LeakyReluOp{alpha});
}
PRECIS_CPU_KERNEL(geluKernel) {
  const int64_t approx = attrs.getInt("approximation", 0);
  if (approx == 1)
    return unaryMath("gelu", true, kGrainExpensive, ctx, inputs, outputs, GeluTanhOp{});
  if (approx != 0)
    return invalidArgument("gelu: unknown approximation " + std::to_string(approx));
  return unaryMath("gelu", true, kGrainExpensive, ctx, inputs, outputs, GeluErfOp{});
}
PRECIS_CPU_KERNEL(tanhKernel) {
  (void)attrs;
  return unaryMath("tanh", true, kGrainExpensive, ctx, inputs, outputs, TanhOp{});
}
PRECIS_CPU_KERNEL(sigmoidKernel) {
  (void)attrs;
  return unaryMath("sigmoid", true, kGrainExpensive, ctx, inputs, outputs, SigmoidOp{});
}
PRECIS_CPU_KERNEL(erfKernel) {
  (void)attrs;
  return unaryMath("erf", true, kGrainExpensive, ctx, inputs, outputs, ErfOp{});
}
PRECIS_CPU_KERNEL(sqrtKernel) {
  (void)attrs;
  return unaryMath("sqrt", true, kGrainCheap, ctx, inputs, outputs, SqrtOp{});
}
PRECIS_CPU_KERNEL(expKernel) {
  (void)attrs;
  return unaryMath("exp", true, kGrainExpensive, ctx, inputs, outputs, ExpOp{});
}
PRECIS_CPU_KERNEL(logKernel) {
  (void)attrs;
  return unaryMath("log", true, kGrainExpensive, ctx, inputs, outputs, LogOp{});
}
PRECIS_CPU_KERNEL(rsqrtKernel) {
  (void)attrs;
  return unaryMath("rsqrt", true, kGrainCheap, ctx, inputs, outputs, RsqrtOp{});
}
PRECIS_CPU_KERNEL(reciprocalKernel) {
  (void)attrs;
  return unaryMath("reciprocal", true, kGrainCheap, ctx, inputs, outputs, ReciprocalOp{});
}

PRECIS_CPU_KERNEL(softplusKernel) {
  (void)attrs;
  return unaryMath("softplus", true, kGrainExpensive, ctx, inputs, outputs, SoftplusOp{});
}
PRECIS_CPU_KERNEL(sinKernel) {
  (void)attrs;
  return unaryMath("sin", true, kGrainExpensive, ctx, inputs, outputs, SinOp{});
}
PRECIS_CPU_KERNEL(cosKernel) {
  (void)attrs;
  return unaryMath("cos", true, kGrainExpensive, ctx, inputs, outputs, CosOp{});
}
PRECIS_CPU_KERNEL(hardSigmoidKernel) {
  const float alpha = static_cast<float>(attrs.getFloat("alpha", 0.2));
  const float beta = static_cast<float>(attrs.getFloat("beta", 0.5));
  return unaryMath("hard_sigmoid", true, kGrainCheap, ctx, inputs, outputs,
                   HardSigmoidOp{alpha, beta});
}

/// i1 result, true where the float element is a NaN (read in its own format).
PRECIS_CPU_KERNEL(isNanKernel) {
  (void)attrs;
  PRECIS_RETURN_IF_ERROR(checkArity("is_nan", inputs, outputs, 1, 1, 1));
  const TensorView &in = inputs[0], &out = outputs[0];
  if (out.dtype != DType::Bool)
    return unsupportedDtypes("is_nan", inputs, outputs);
  if (in.shape != out.shape)
    return badShape("is_nan", "result shape " + shapeString(out.shape) + " differs from input " +
                                  shapeString(in.shape));
  auto unsupported = [&] { return unsupportedDtypes("is_nan", inputs, outputs); };
  return visitFloat(in.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using S = typename T::S;
    const S *pi = static_cast<const S *>(in.data);
    uint8_t *po = static_cast<uint8_t *>(out.data);
    parallelFor(ctx, out.numElements(), kGrainCheap, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const auto v = T::E::load(pi[i]);
        po[i] = v != v ? 1 : 0;
      }
    });
    return Status::ok();
  });
}

PRECIS_CPU_KERNEL(compareKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("compare", inputs, outputs, 2, 2, 1));
  const TensorView &a = inputs[0], &b = inputs[1], &out = outputs[0];
  if (a.dtype != b.dtype || out.dtype != DType::Bool)
    return unsupportedDtypes("compare", inputs, outputs);
  PRECIS_RETURN_IF_ERROR(checkBroadcast("compare", inputs, out));
  const int64_t kind = attrs.getInt("kind", 0);
  if (kind < 0 || kind > 4)
    return invalidArgument("compare: unknown comparison kind " + std::to_string(kind));
  auto unsupported = [&] { return unsupportedDtypes("compare", inputs, outputs); };
  return visitAny(a.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using EO = Elem<DType::Bool>;
    switch (kind) {
    case 0:
      binaryLoop<T, EO>(ctx, a, b, out, CmpOp<0>{}, kGrainCheap);
      break;
    case 1:
      binaryLoop<T, EO>(ctx, a, b, out, CmpOp<1>{}, kGrainCheap);
      break;
    case 2:
      binaryLoop<T, EO>(ctx, a, b, out, CmpOp<2>{}, kGrainCheap);
      break;
    case 3:
      binaryLoop<T, EO>(ctx, a, b, out, CmpOp<3>{}, kGrainCheap);
      break;
    default:
      binaryLoop<T, EO>(ctx, a, b, out, CmpOp<4>{}, kGrainCheap);
      break;
    }
    return Status::ok();
  });
}

PRECIS_CPU_KERNEL(notKernel) {
  (void)attrs;
  PRECIS_RETURN_IF_ERROR(checkArity("not", inputs, outputs, 1, 1, 1));
  const TensorView &in = inputs[0], &out = outputs[0];
  if (in.dtype != DType::Bool || out.dtype != DType::Bool)
    return unsupportedDtypes("not", inputs, outputs);
  if (in.shape != out.shape)
    return badShape("not", "result shape differs from the input shape");
  unaryLoop<Tag<DType::Bool>>(
      ctx, in, out, [](bool v) { return !v; }, kGrainCheap);
  return Status::ok();
}

PRECIS_CPU_KERNEL(whereKernel) {
  (void)attrs;
  PRECIS_RETURN_IF_ERROR(checkArity("where", inputs, outputs, 3, 3, 1));
  const TensorView &c = inputs[0], &x = inputs[1], &y = inputs[2], &out = outputs[0];
  if (c.dtype != DType::Bool || x.dtype != y.dtype || x.dtype != out.dtype ||
      dtypeSize(x.dtype) == 0)
    return unsupportedDtypes("where", inputs, outputs);
  PRECIS_RETURN_IF_ERROR(checkBroadcast("where", inputs, out));
  if (out.numElements() == 0)
    return Status::ok();
  switch (dtypeSize(x.dtype)) {
  case 1:
    whereLoop<uint8_t>(ctx, c, x, y, out);
    break;
  case 2:
    whereLoop<uint16_t>(ctx, c, x, y, out);
    break;
  case 4:
    whereLoop<uint32_t>(ctx, c, x, y, out);
    break;
  default:
    whereLoop<uint64_t>(ctx, c, x, y, out);
    break;
  }
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Dropout.
//===----------------------------------------------------------------------===//

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  precis::philox4x32_10(ctr.data(), key[0], key[1]);
  return ctr;
}

/// Training mode keeps element i when precis::dropout_uniform(seed, step, stream, i) >= ratio
/// (numerics.h defines the stream; the generated CUDA kernel calls the same function), where
/// (seed, step) is the optional i64[2] input (the training step's RNG state; absent: 0, 0)
/// and `stream` the op's attribute. Kept elements are scaled by 1 / (1 - ratio) computed in
/// float; ratio >= 1 drops everything. The mask is 1 for kept elements. In a data-parallel
/// job rank r draws for element i the number of element r * n + i (n = the element count):
/// the element of the whole batch it holds when the leading axis is the batch, so ranks draw
/// distinct masks and N ranks of batch B draw those one process of batch N * B would.
PRECIS_CPU_KERNEL(dropoutKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("dropout", inputs, outputs, 1, 2, 1));
  const TensorView &in = inputs[0], &out = outputs[0];
  const TensorView *mask = outputs.size() > 1 ? &outputs[1] : nullptr;
  if (in.dtype != out.dtype || (mask && mask->dtype != DType::Bool))
    return unsupportedDtypes("dropout", inputs, outputs);
  if (in.shape != out.shape || (mask && mask->shape != in.shape))
    return badShape("dropout", "result and mask shapes must equal the input shape");
  uint64_t seed = 0, step = 0;
  if (inputs.size() > 1) {
    const TensorView &rng = inputs[1];
    if (rng.dtype != DType::I64 || rng.numElements() != 2)
      return badShape("dropout", "the RNG state must be i64[2] (seed, step)");
    seed = static_cast<uint64_t>(static_cast<const int64_t *>(rng.data)[0]);
    step = static_cast<uint64_t>(static_cast<const int64_t *>(rng.data)[1]);
  }
  const float ratio = static_cast<float>(attrs.getFloat("ratio", 0.5));
  const bool training = attrs.getInt("training", 0) != 0;
  const int64_t stream = attrs.getInt("stream", 0);
  if (!(ratio >= 0.0f))
    return invalidArgument("dropout: ratio must be >= 0");
  if (stream < 0 || stream > int64_t{0xFFFFFFFF})
    return invalidArgument("dropout: stream must fit 32 bits");
  const int64_t n = in.numElements();
  const int64_t rank = ctx.communicator ? ctx.communicator->rank() : 0;
  const int64_t first = rank * n; // this rank's first element of the whole batch
  if (n > (int64_t{1} << 34) || first > (int64_t{1} << 34) - n)
    return badShape("dropout", "more than 2^34 elements" +
                                   std::string(rank ? " over the data-parallel ranks" : "") +
                                   " (the stream counts groups of 4 in 32 bits)");
  uint8_t *m = mask ? static_cast<uint8_t *>(mask->data) : nullptr;
  auto unsupported = [&] { return unsupportedDtypes("dropout", inputs, outputs); };
  return visitFloat(in.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using S = typename T::S;
    using C = typename T::C;
    const S *pi = static_cast<const S *>(in.data);
    S *po = static_cast<S *>(out.data);
    if (!training || ratio == 0.0f) {
      if (po != pi)
        std::memcpy(po, pi, static_cast<size_t>(n) * sizeof(S));
      if (m)
        std::memset(m, 1, static_cast<size_t>(n));
      return Status::ok();
    }
    const bool dropAll = ratio >= 1.0f;
    const C scale = dropAll ? C(0) : static_cast<C>(1.0f / (1.0f - ratio));
    const std::array<uint32_t, 2> key = {static_cast<uint32_t>(seed),
                                         static_cast<uint32_t>(seed >> 32)};
    // Threads split on Philox blocks (4 elements of the whole batch) so each is generated once.
    const int64_t firstBlock = first / 4, blocks = (first + n + 3) / 4 - firstBlock;
    parallelFor(ctx, blocks, kGrainExpensive / 4, [&](int64_t gb, int64_t ge) {
      for (int64_t g = firstBlock + gb; g < firstBlock + ge; ++g) {
        const std::array<uint32_t, 4> r =
            philox4x32_10({static_cast<uint32_t>(g), static_cast<uint32_t>(stream),
                           static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32)},
                          key);
        for (int64_t j = 0; j < 4; ++j) {
          const int64_t i = g * 4 + j - first;
          if (i < 0 || i >= n)
            continue;
          const float u = static_cast<float>(r[j] >> 8) * 0x1p-24f;
          const bool keep = !dropAll && u >= ratio;
          po[i] = T::E::store(keep ? T::E::load(pi[i]) * scale : C(0));
          if (m)
            m[i] = keep ? 1 : 0;
        }
      }
    });
    return Status::ok();
  });
}

//===----------------------------------------------------------------------===//
// Rotary embedding.
//===----------------------------------------------------------------------===//

/// precis.rotary: each row of the last dimension rotates its first `rot` channels as pairs
/// (x1, x2) (halves, or even/odd when interleaved) by the cached angles of that row, in the
/// compute type, each result rounded once; the other channels are copied.
PRECIS_CPU_KERNEL(rotaryKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("rotary", inputs, outputs, 3, 3, 1));
  const TensorView &x = inputs[0], &cosT = inputs[1], &sinT = inputs[2], &out = outputs[0];
  if (x.dtype != out.dtype || cosT.dtype != x.dtype || sinT.dtype != x.dtype)
    return unsupportedDtypes("rotary", inputs, outputs);
  if (x.rank() < 1 || out.shape != x.shape)
    return badShape("rotary", "needs a rank >= 1 input and a result of its shape, got " +
                                  shapeString(x.shape) + " -> " + shapeString(out.shape));
  const int64_t width = x.shape.back();
  int64_t rot = attrs.getInt("rotary_dim", 0);
  if (rot == 0)
    rot = width;
  if (rot < 0 || rot > width || rot % 2 != 0)
    return badShape("rotary", "rotary_dim " + std::to_string(rot) +
                                  " must be even and at most the last dimension " +
                                  std::to_string(width));
  const int64_t half = rot / 2;
  const bool interleaved = attrs.getInt("interleaved", 0) != 0;
  if (cosT.shape != sinT.shape || cosT.rank() < 1 || cosT.rank() > x.rank() ||
      (cosT.shape.back() != half && cosT.shape.back() != rot))
    return badShape("rotary", "caches " + shapeString(cosT.shape) + " and " +
                                  shapeString(sinT.shape) + " must be equal and end in " +
                                  std::to_string(half) + " or " + std::to_string(rot));
  const int64_t cacheWidth = cosT.shape.back();
  const bool perPair = cacheWidth == half;
  std::vector<int64_t> target(x.shape.begin(), x.shape.end() - 1), strides;
  target.push_back(cacheWidth);
  if (!broadcastStrides(cosT.shape, target, strides))
    return badShape("rotary", "caches " + shapeString(cosT.shape) + " do not broadcast to " +
                                  shapeString(target));
  const std::vector<int64_t> rowShape(x.shape.begin(), x.shape.end() - 1);
  const int64_t rows = product(rowShape, 0, rowShape.size());
  auto unsupported = [&] { return unsupportedDtypes("rotary", inputs, outputs); };
  return visitFloat(x.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using S = typename T::S;
    using C = typename T::C;
    using E = typename T::E;
    const S *px = static_cast<const S *>(x.data);
    const S *pc = static_cast<const S *>(cosT.data);
    const S *ps = static_cast<const S *>(sinT.data);
    S *py = static_cast<S *>(out.data);
    if (width == 0)
      return Status::ok();
    parallelFor(ctx, rows, std::max<int64_t>(1, kGrainCheap / width), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        // The row's offset in the caches: its coordinates under the broadcast strides.
        int64_t cacheRow = 0;
        for (int64_t d = static_cast<int64_t>(rowShape.size()) - 1, rest = r; d >= 0; --d) {
          cacheRow += (rest % rowShape[d]) * strides[d];
          rest /= rowShape[d];
        }
        const int64_t step = strides.back();
        const S *xr = px + r * width;
        S *yr = py + r * width;
        for (int64_t i = 0; i < half; ++i) {
          const int64_t a = interleaved ? 2 * i : i, o = interleaved ? 2 * i + 1 : i + half;
          const int64_t ca = cacheRow + (perPair ? i : a) * step;
          const int64_t co = cacheRow + (perPair ? i : o) * step;
          const C x1 = E::load(xr[a]), x2 = E::load(xr[o]);
          const C c1 = E::load(pc[ca]), s1 = E::load(ps[ca]);
          const C c2 = E::load(pc[co]), s2 = E::load(ps[co]);
          const C p1 = x1 * c1, q1 = x2 * s1, p2 = x2 * c2, q2 = x1 * s2;
          yr[a] = E::store(p1 - q1);
          yr[o] = E::store(p2 + q2);
        }
        std::copy(xr + rot, xr + width, yr + rot);
      }
    });
    return Status::ok();
  });
}

} // namespace precis::rt::cpu
