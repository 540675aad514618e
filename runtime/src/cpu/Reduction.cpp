//===- Reduction.cpp - reductions, softmax, global pooling ------------------===//
//
// reduce_sum / reduce_mean / reduce_max over any set of axes, softmax and log_softmax along one
// axis, global average / max pooling (a reduction over the spatial axes), and all_finite (a
// logical reduction over every element of every operand, for loss scaling).
//
// Accumulation: float sums (the narrow formats, f32 and f64 alike) accumulate in double and
// are rounded once at the end, first to the compute type and then to the storage type; integer
// sums accumulate in int64 with wrap-around and integer means truncate. Maxima propagate NaN;
// an empty reduction gives 0 (sum), NaN (mean of floats), 0 (mean of integers) or -inf /
// the lowest integer (max).
//
// Layout: the input's dimensions are collapsed into alternating kept / reduced groups. When the
// innermost group is reduced, every output element is an independent contiguous reduction and
// threads split the outputs; when it is kept, outputs are processed in tiles of that group so
// each reduced step reads a contiguous run.
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"

#include <cmath>

namespace precis::rt::cpu {
namespace {

/// The input viewed as kept and reduced dimension groups (size-1 dimensions dropped).
struct ReducePlan {
  std::vector<int64_t> keptShape, keptStrides; // outer .. inner, strides in input elements
  std::vector<int64_t> redShape, redStrides;
  bool innerReduced = false;
  int64_t redCount = 1; // elements reduced into each output
  int64_t outCount = 1;
};

ReducePlan makePlan(const std::vector<int64_t> &shape, const std::vector<bool> &reduced) {
  ReducePlan p;
  const std::vector<int64_t> strides = contiguousStrides(shape);
  int last = -1; // 0 kept, 1 reduced: the flag of the previous group
  for (size_t d = 0; d < shape.size(); ++d) {
    const bool r = reduced[d];
    (r ? p.redCount : p.outCount) *= shape[d];
    if (shape[d] == 1)
      continue;
    auto &sh = r ? p.redShape : p.keptShape;
    auto &st = r ? p.redStrides : p.keptStrides;
    if (last == int(r)) { // contiguous with the previous dimension of the same kind: merge
      sh.back() *= shape[d];
      st.back() = strides[d];
    } else {
      sh.push_back(shape[d]);
      st.push_back(strides[d]);
    }
    last = int(r);
  }
  p.innerReduced = last == 1;
  return p;
}

/// Float sums: double accumulator.
template <typename C> struct SumF {
  static constexpr bool kDoubleSum = true;
  using A = double;
  static A init() { return 0.0; }
  static A add(A a, C v) { return a + static_cast<double>(v); }
  static C finish(A a, int64_t) { return static_cast<C>(a); }
};
template <typename C> struct MeanF {
  static constexpr bool kDoubleSum = true;
  using A = double;
  static A init() { return 0.0; }
  static A add(A a, C v) { return a + static_cast<double>(v); }
  static C finish(A a, int64_t n) { return static_cast<C>(a / static_cast<double>(n)); }
};
/// Integer sums wrap in 64 bits.
template <typename C> struct SumI {
  static constexpr bool kDoubleSum = false;
  using A = uint64_t;
  static A init() { return 0; }
  static A add(A a, C v) { return a + static_cast<uint64_t>(static_cast<int64_t>(v)); }
  static C finish(A a, int64_t) { return static_cast<C>(a); }
};
template <typename C> struct MeanI {
  static constexpr bool kDoubleSum = false;
  using A = uint64_t;
  static A init() { return 0; }
  static A add(A a, C v) { return a + static_cast<uint64_t>(static_cast<int64_t>(v)); }
  static C finish(A a, int64_t n) {
    return n == 0 ? C(0) : static_cast<C>(static_cast<int64_t>(a) / n);
  }
};
template <typename C> struct MaxR {
  static constexpr bool kDoubleSum = false;
  using A = C;
  static A init() {
    if constexpr (std::is_integral_v<C>)
      return std::numeric_limits<C>::lowest();
    else
      return -std::numeric_limits<C>::infinity();
  }
  static A add(A a, C v) {
    if constexpr (!std::is_integral_v<C>)
      if (v != v || a != a)
        return a + v;
    return v > a ? v : a;
  }
  static C finish(A a, int64_t) { return a; }
};

/// Reduces `in` into `out` following `plan` with reducer R.
template <typename T, typename R>
void reduceLoop(const KernelContext &ctx, const ReducePlan &plan, const TensorView &in,
                const TensorView &out) {
  using S = typename T::S;
  using E = typename T::E;
  using A = typename R::A;
  const S *px = static_cast<const S *>(in.data);
  S *po = static_cast<S *>(out.data);
  const int nk = static_cast<int>(plan.keptShape.size());
  const int nr = static_cast<int>(plan.redShape.size());
  const int64_t count = plan.redCount;
  if (plan.outCount == 0)
    return;

  // Calls f(offset) for every reduced position except the innermost `skip` group(s).
  auto forEachReduced = [&](int groups, auto &&f) {
    if (groups == 0) {
      f(int64_t(0));
      return;
    }
    std::vector<int64_t> idx(groups, 0);
    int64_t off = 0;
    while (true) {
      f(off);
      int d = groups - 1;
      for (; d >= 0; --d) {
        ++idx[d];
        off += plan.redStrides[d];
        if (idx[d] < plan.redShape[d])
          break;
        off -= idx[d] * plan.redStrides[d];
        idx[d] = 0;
      }
      if (d < 0)
        return;
    }
  };
  // Input offset of kept index `k` (row-major over the kept groups, optionally leaving out the
  // innermost group).
  auto keptOffset = [&](int64_t k, int groups) {
    int64_t off = 0;
    for (int d = groups - 1; d >= 0; --d) {
      off += (k % plan.keptShape[d]) * plan.keptStrides[d];
      k /= plan.keptShape[d];
    }
    return off;
  };

  if (count == 0 || nr == 0 || plan.innerReduced) {
    // One independent reduction per output; the innermost reduced group (if any) is a
    // contiguous run of `len` elements.
    const int64_t len = nr > 0 ? plan.redShape[nr - 1] : 1;
    const int64_t grain = std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(count, 1));
    parallelFor(ctx, plan.outCount, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const S *base = px + keptOffset(o, nk);
        A acc = R::init();
        if (count > 0) {
          forEachReduced(nr > 0 ? nr - 1 : 0, [&](int64_t off) {
            const S *row = base + off;
            if constexpr (R::kDoubleSum) {
              // Four independent chains: the adds pipeline instead of waiting on each other.
              A a0 = 0, a1 = 0, a2 = 0, a3 = 0;
              int64_t j = 0;
              for (; j + 4 <= len; j += 4) {
                a0 += static_cast<double>(E::load(row[j]));
                a1 += static_cast<double>(E::load(row[j + 1]));
                a2 += static_cast<double>(E::load(row[j + 2]));
                a3 += static_cast<double>(E::load(row[j + 3]));
              }
              for (; j < len; ++j)
                a0 += static_cast<double>(E::load(row[j]));
              acc += (a0 + a1) + (a2 + a3);
            } else {
              for (int64_t j = 0; j < len; ++j)
                acc = R::add(acc, E::load(row[j]));
            }
          });
        }
        po[o] = E::store(R::finish(acc, count));
      }
    });
    return;
  }

  // The innermost group is kept: tiles of it accumulate side by side.
  constexpr int64_t kTile = 256;
  const int64_t inner = plan.keptShape[nk - 1];
  const int64_t tiles = (inner + kTile - 1) / kTile;
  const int64_t outerCount = plan.outCount / inner;
  const int64_t grain = std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(count * kTile, 1));
  parallelFor(ctx, outerCount * tiles, grain, [&](int64_t b, int64_t e) {
    A acc[kTile];
    for (int64_t w = b; w < e; ++w) {
      const int64_t p = w / tiles, t = w % tiles;
      const int64_t j0 = t * kTile, tn = std::min(kTile, inner - j0);
      const S *base = px + keptOffset(p, nk - 1) + j0;
      for (int64_t j = 0; j < tn; ++j)
        acc[j] = R::init();
      forEachReduced(nr, [&](int64_t off) {
        const S *row = base + off;
        for (int64_t j = 0; j < tn; ++j)
          acc[j] = R::add(acc[j], E::load(row[j]));
      });
      S *o = po + p * inner + j0;
      for (int64_t j = 0; j < tn; ++j)
        o[j] = E::store(R::finish(acc[j], count));
    }
  });
}

enum class ReduceKind { Sum, Mean, Max };

Status reduce(const char *kind, ReduceKind rk, const KernelContext &ctx, const TensorView &in,
              const TensorView &out, const std::vector<bool> &reduced,
              const std::vector<TensorView> &inputs, const std::vector<TensorView> &outputs) {
  if (in.dtype != out.dtype)
    return unsupportedDtypes(kind, inputs, outputs);
  const ReducePlan plan = makePlan(in.shape, reduced);
  if (plan.outCount != out.numElements())
    return badShape(kind, "result shape " + shapeString(out.shape) +
                              " does not match the reduction of " + shapeString(in.shape));
  auto unsupported = [&] { return unsupportedDtypes(kind, inputs, outputs); };
  return visitNumeric(in.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using C = typename T::C;
    constexpr bool isInt = std::is_integral_v<C>;
    switch (rk) {
    case ReduceKind::Sum:
      reduceLoop<T, std::conditional_t<isInt, SumI<C>, SumF<C>>>(ctx, plan, in, out);
      break;
    case ReduceKind::Mean:
      reduceLoop<T, std::conditional_t<isInt, MeanI<C>, MeanF<C>>>(ctx, plan, in, out);
      break;
    case ReduceKind::Max:
      reduceLoop<T, MaxR<C>>(ctx, plan, in, out);
      break;
    }
    return Status::ok();
  });
}

Status reduceKernel(const char *kind, ReduceKind rk, const KernelContext &ctx,
                    const std::vector<TensorView> &inputs, std::vector<TensorView> &outputs,
                    const Attrs &attrs) {
  PRECIS_RETURN_IF_ERROR(checkArity(kind, inputs, outputs, 1, 1, 1));
  const TensorView &in = inputs[0], &out = outputs[0];
  const int64_t rank = in.rank();
  std::vector<int64_t> axes = attrs.getInts("axes", {});
  const bool keepdims = attrs.getInt("keepdims", 1) != 0;
  std::vector<bool> reduced(static_cast<size_t>(rank), axes.empty());
  for (int64_t a : axes) {
    if (!normalizeAxis(a, rank))
      return badShape(kind, "axis " + std::to_string(a) + " out of range for rank " +
                                std::to_string(rank));
    reduced[a] = true;
  }
  std::vector<int64_t> expect;
  for (int64_t d = 0; d < rank; ++d) {
    if (!reduced[d])
      expect.push_back(in.shape[d]);
    else if (keepdims)
      expect.push_back(1);
  }
  if (expect != out.shape)
    return badShape(kind,
                    "result shape " + shapeString(out.shape) + " should be " + shapeString(expect));
  return reduce(kind, rk, ctx, in, out, reduced, inputs, outputs);
}

Status globalPool(const char *kind, ReduceKind rk, const KernelContext &ctx,
                  const std::vector<TensorView> &inputs, std::vector<TensorView> &outputs) {
  PRECIS_RETURN_IF_ERROR(checkArity(kind, inputs, outputs, 1, 1, 1));
  const TensorView &in = inputs[0], &out = outputs[0];
  if (in.rank() < 2 || out.rank() != in.rank())
    return badShape(kind, "expects N x C x D1 ... input and result of the same rank");
  std::vector<bool> reduced(static_cast<size_t>(in.rank()), true);
  reduced[0] = reduced[1] = false;
  for (int64_t d = 0; d < in.rank(); ++d)
    if (out.shape[d] != (d < 2 ? in.shape[d] : 1))
      return badShape(kind, "result shape " + shapeString(out.shape) +
                                " should keep N and C and be 1 elsewhere");
  if (!isFloat(in.dtype))
    return unsupportedDtypes(kind, inputs, outputs);
  return reduce(kind, rk, ctx, in, out, reduced, inputs, outputs);
}

/// softmax (log = false) or log_softmax along the middle dimension of [outer, n, inner].
template <typename T>
void softmaxLoop(const KernelContext &ctx, const TensorView &in, const TensorView &out,
                 int64_t outer, int64_t n, int64_t inner, bool log) {
  using S = typename T::S;
  using C = typename T::C;
  using E = typename T::E;
  const S *px = static_cast<const S *>(in.data);
  S *po = static_cast<S *>(out.data);
  const int64_t grain = std::max<int64_t>(1, kGrainExpensive / std::max<int64_t>(n, 1));
  parallelFor(ctx, outer * inner, grain, [&](int64_t b, int64_t e) {
    std::vector<C> ex(static_cast<size_t>(n));
    for (int64_t w = b; w < e; ++w) {
      const int64_t base = (w / inner) * n * inner + w % inner;
      const S *x = px + base;
      S *y = po + base;
      C mx = -std::numeric_limits<C>::infinity();
      for (int64_t k = 0; k < n; ++k) {
        const C v = E::load(x[k * inner]);
        mx = (v > mx || v != v) ? v : mx;
      }
      // Shift by the row maximum for stability; an infinite maximum would turn every finite
      // entry into x - inf, so such rows are not shifted.
      const C shift = std::isinf(mx) ? C(0) : mx;
      double sum = 0.0;
      for (int64_t k = 0; k < n; ++k) {
        ex[k] = std::exp(E::load(x[k * inner]) - shift);
        sum += static_cast<double>(ex[k]);
      }
      if (log) {
        const C lse = static_cast<C>(std::log(sum));
        for (int64_t k = 0; k < n; ++k)
          y[k * inner] = E::store(E::load(x[k * inner]) - shift - lse);
      } else {
        const C inv = static_cast<C>(1.0 / sum);
        for (int64_t k = 0; k < n; ++k)
          y[k * inner] = E::store(ex[k] * inv);
      }
    }
  });
}

Status softmaxCommon(const char *kind, bool log, const KernelContext &ctx,
                     const std::vector<TensorView> &inputs, std::vector<TensorView> &outputs,
                     const Attrs &attrs) {
  PRECIS_RETURN_IF_ERROR(checkArity(kind, inputs, outputs, 1, 1, 1));
  const TensorView &in = inputs[0], &out = outputs[0];
  if (in.dtype != out.dtype)
    return unsupportedDtypes(kind, inputs, outputs);
  if (in.shape != out.shape)
    return badShape(kind, "result shape differs from the input shape");
  int64_t axis = attrs.getInt("axis", -1);
  if (!normalizeAxis(axis, in.rank()))
    return badShape(kind, "axis out of range");
  const int64_t outer = product(in.shape, 0, axis);
  const int64_t n = in.shape[axis];
  const int64_t inner = product(in.shape, axis + 1, in.shape.size());
  auto unsupported = [&] { return unsupportedDtypes(kind, inputs, outputs); };
  return visitFloat(in.dtype, unsupported, [&](auto tag) {
    softmaxLoop<decltype(tag)>(ctx, in, out, outer, n, inner, log);
    return Status::ok();
  });
}

} // namespace

namespace {
/// cumsum's accumulator: f64 for floats, the unsigned type (wrapping) for integers.
template <typename C, bool = std::is_integral_v<C>> struct CumSumAcc {
  using type = double;
};
template <typename C> struct CumSumAcc<C, true> {
  using type = std::make_unsigned_t<C>;
};
} // namespace

/// Cumulative sum along `axis`: floats accumulate in f64 (every partial sum rounded once to
/// the element type), integers wrap. One (outer, inner) line per iteration.
PRECIS_CPU_KERNEL(cumsumKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("cumsum", inputs, outputs, 1, 1, 1));
  const TensorView &in = inputs[0], &out = outputs[0];
  if (in.dtype != out.dtype)
    return unsupportedDtypes("cumsum", inputs, outputs);
  if (in.shape != out.shape)
    return badShape("cumsum", "result shape " + shapeString(out.shape) + " differs from input " +
                                  shapeString(in.shape));
  int64_t axis = attrs.getInt("axis", 0);
  if (!normalizeAxis(axis, in.rank()))
    return badShape("cumsum", "axis out of range");
  const bool exclusive = attrs.getInt("exclusive", 0) != 0;
  const bool reverse = attrs.getInt("reverse", 0) != 0;
  const int64_t n = in.shape[axis];
  const int64_t inner = product(in.shape, axis + 1, in.shape.size());
  const int64_t outer = product(in.shape, 0, axis);
  auto unsupported = [&] { return unsupportedDtypes("cumsum", inputs, outputs); };
  return visitNumeric(in.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using S = typename T::S;
    using C = typename T::C;
    using A = typename CumSumAcc<C>::type;
    const S *pi = static_cast<const S *>(in.data);
    S *po = static_cast<S *>(out.data);
    parallelFor(ctx, outer * inner, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(n, 1)),
                [&](int64_t begin, int64_t end) {
                  for (int64_t line = begin; line < end; ++line) {
                    const int64_t o = line / inner, e = line % inner;
                    A acc = 0;
                    for (int64_t s = 0; s < n; ++s) {
                      const int64_t i = reverse ? n - 1 - s : s;
                      const int64_t at = (o * n + i) * inner + e;
                      const A x = static_cast<A>(T::E::load(pi[at]));
                      if (!exclusive)
                        acc += x;
                      po[at] = T::E::store(static_cast<C>(acc));
                      if (exclusive)
                        acc += x;
                    }
                  }
                });
    return Status::ok();
  });
}

namespace {
/// argmax / argmin along `axis` into i64; ties to the first index (the last with
/// select_last_index); a NaN wins and the first (last) NaN is kept.
Status argReduceKernel(const char *kind, bool max, const KernelContext &ctx,
                       const std::vector<TensorView> &inputs,
                       const std::vector<TensorView> &outputs, const Attrs &attrs) {
  PRECIS_RETURN_IF_ERROR(checkArity(kind, inputs, outputs, 1, 1, 1));
  const TensorView &in = inputs[0], &out = outputs[0];
  if (out.dtype != DType::I64)
    return unsupportedDtypes(kind, inputs, outputs);
  int64_t axis = attrs.getInt("axis", 0);
  if (in.rank() == 0 || !normalizeAxis(axis, in.rank()))
    return badShape(kind, "axis out of range");
  std::vector<int64_t> expect = in.shape;
  if (attrs.getInt("keepdims", 1) != 0)
    expect[axis] = 1;
  else
    expect.erase(expect.begin() + axis);
  if (out.shape != expect)
    return badShape(kind,
                    "result shape " + shapeString(out.shape) + " should be " + shapeString(expect));
  const bool last = attrs.getInt("select_last_index", 0) != 0;
  const int64_t n = in.shape[axis];
  if (n == 0)
    return badShape(kind, "the reduced dimension is empty");
  const int64_t inner = product(in.shape, axis + 1, in.shape.size());
  const int64_t outer = product(in.shape, 0, axis);
  auto unsupported = [&] { return unsupportedDtypes(kind, inputs, outputs); };
  return visitNumeric(in.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using S = typename T::S;
    using C = typename T::C;
    const S *pi = static_cast<const S *>(in.data);
    int64_t *po = static_cast<int64_t *>(out.data);
    parallelFor(ctx, outer * inner, std::max<int64_t>(1, kGrainCheap / n),
                [&](int64_t begin, int64_t end) {
                  for (int64_t line = begin; line < end; ++line) {
                    const int64_t o = line / inner, e = line % inner;
                    int64_t best = 0;
                    C bv = T::E::load(pi[o * n * inner + e]);
                    for (int64_t i = 1; i < n; ++i) {
                      const C v = T::E::load(pi[(o * n + i) * inner + e]);
                      const bool vNan = v != v, bNan = bv != bv;
                      // Strictly better, or as good and `last` asks for the later one.
                      const bool better = bNan ? false : vNan || (max ? v > bv : v < bv);
                      const bool tie = bNan ? vNan : (!vNan && v == bv);
                      if (better || (last && tie)) {
                        best = i;
                        bv = v;
                      }
                    }
                    po[line] = best;
                  }
                });
    return Status::ok();
  });
}
} // namespace

/// The k first elements of each line along `axis` in topk's order: descending (ascending
/// unless `largest`), equal values by ascending index, a NaN above every number.
PRECIS_CPU_KERNEL(topkKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("topk", inputs, outputs, 1, 1, 2));
  const TensorView &in = inputs[0], &values = outputs[0], &indices = outputs[1];
  if (values.dtype != in.dtype || indices.dtype != DType::I64)
    return unsupportedDtypes("topk", inputs, outputs);
  int64_t axis = attrs.getInt("axis", -1);
  if (in.rank() == 0 || !normalizeAxis(axis, in.rank()))
    return badShape("topk", "axis out of range");
  const int64_t n = in.shape[axis], k = attrs.getInt("k", -1);
  if (k < 0 || k > n)
    return badShape("topk", "k " + std::to_string(k) + " out of range for a dimension of size " +
                                std::to_string(n));
  std::vector<int64_t> expect = in.shape;
  expect[axis] = k;
  if (values.shape != expect || indices.shape != expect)
    return badShape("topk", "result shapes " + shapeString(values.shape) + " and " +
                                shapeString(indices.shape) + " should be " + shapeString(expect));
  const bool largest = attrs.getInt("largest", 1) != 0;
  const int64_t inner = product(in.shape, axis + 1, in.shape.size());
  const int64_t outer = product(in.shape, 0, axis);
  auto unsupported = [&] { return unsupportedDtypes("topk", inputs, outputs); };
  return visitNumeric(in.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using S = typename T::S;
    using C = typename T::C;
    const S *pi = static_cast<const S *>(in.data);
    S *pv = static_cast<S *>(values.data);
    int64_t *px = static_cast<int64_t *>(indices.data);
    parallelFor(ctx, outer * inner, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(n, 1)),
                [&](int64_t begin, int64_t end) {
                  std::vector<std::pair<C, int64_t>> line(static_cast<size_t>(n));
                  auto before = [&](const std::pair<C, int64_t> &a,
                                    const std::pair<C, int64_t> &b) {
                    const bool an = a.first != a.first, bn = b.first != b.first;
                    if (an || bn) // NaN above every number; NaNs tie
                      return an == bn ? a.second < b.second : (largest ? an : bn);
                    if (a.first != b.first)
                      return largest ? a.first > b.first : a.first < b.first;
                    return a.second < b.second;
                  };
                  for (int64_t l = begin; l < end; ++l) {
                    const int64_t o = l / inner, e = l % inner;
                    for (int64_t i = 0; i < n; ++i)
                      line[i] = {T::E::load(pi[(o * n + i) * inner + e]), i};
                    std::partial_sort(line.begin(), line.begin() + k, line.end(), before);
                    for (int64_t r = 0; r < k; ++r) {
                      pv[(o * k + r) * inner + e] = pi[(o * n + line[r].second) * inner + e];
                      px[(o * k + r) * inner + e] = line[r].second;
                    }
                  }
                });
    return Status::ok();
  });
}

PRECIS_CPU_KERNEL(argmaxKernel) {
  return argReduceKernel("argmax", true, ctx, inputs, outputs, attrs);
}
PRECIS_CPU_KERNEL(argminKernel) {
  return argReduceKernel("argmin", false, ctx, inputs, outputs, attrs);
}

PRECIS_CPU_KERNEL(reduceSumKernel) {
  return reduceKernel("reduce_sum", ReduceKind::Sum, ctx, inputs, outputs, attrs);
}
PRECIS_CPU_KERNEL(reduceMeanKernel) {
  return reduceKernel("reduce_mean", ReduceKind::Mean, ctx, inputs, outputs, attrs);
}
PRECIS_CPU_KERNEL(reduceMaxKernel) {
  return reduceKernel("reduce_max", ReduceKind::Max, ctx, inputs, outputs, attrs);
}
PRECIS_CPU_KERNEL(globalAvgPoolKernel) {
  (void)attrs;
  return globalPool("global_avg_pool", ReduceKind::Mean, ctx, inputs, outputs);
}
PRECIS_CPU_KERNEL(globalMaxPoolKernel) {
  (void)attrs;
  return globalPool("global_max_pool", ReduceKind::Max, ctx, inputs, outputs);
}
PRECIS_CPU_KERNEL(allFiniteKernel) {
  (void)ctx;
  (void)attrs;
  PRECIS_RETURN_IF_ERROR(checkArity("all_finite", inputs, outputs, 0, SIZE_MAX, 1));
  const TensorView &out = outputs[0];
  if (out.dtype != DType::Bool || out.numElements() != 1)
    return unsupportedDtypes("all_finite", inputs, outputs);
  bool finite = true;
  for (const TensorView &in : inputs) {
    PRECIS_RETURN_IF_ERROR(visitFloat(
        in.dtype, [&] { return unsupportedDtypes("all_finite", inputs, outputs); },
        [&](auto tag) {
          using T = decltype(tag);
          const auto *p = static_cast<const typename T::S *>(in.data);
          const int64_t n = in.numElements();
          // Decoding is exact, so a narrow-format inf or NaN stays one.
          for (int64_t i = 0; i < n && finite; ++i)
            finite = std::isfinite(T::E::load(p[i]));
          return Status::ok();
        }));
    if (!finite)
      break;
  }
  *static_cast<uint8_t *>(out.data) = finite ? 1 : 0;
  return Status::ok();
}
PRECIS_CPU_KERNEL(softmaxKernel) {
  return softmaxCommon("softmax", false, ctx, inputs, outputs, attrs);
}
PRECIS_CPU_KERNEL(logSoftmaxKernel) {
  return softmaxCommon("log_softmax", true, ctx, inputs, outputs, attrs);
}

} // namespace precis::rt::cpu
