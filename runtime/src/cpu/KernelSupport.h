//===- KernelSupport.h - shared machinery of the CPU kernels -----*- C++ -*-===//
//
// What every CPU kernel file needs and nothing else: element-type traits that
// read any stored element as its compute type and write it back with the
// rounding numerics.h defines, dtype dispatch, shape and broadcasting helpers,
// a strided loop nest for N-ary element-wise loops, a thread-capped
// parallel-for, and the declarations of the kernels the registry lists.
//
// Internal to runtime/src/cpu; not installed.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SRC_CPU_KERNELSUPPORT_H
#define PRECIS_RUNTIME_SRC_CPU_KERNELSUPPORT_H

#include "cpu/Kernel.h"

#include "precis/runtime/numerics.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace precis::rt::cpu {

//===----------------------------------------------------------------------===//
// Element types.
//===----------------------------------------------------------------------===//

/// Storage type `S` and compute type `C` of a dtype, with `load` (exact) and
/// `store` (round to nearest even for the narrow float formats, numerics.h).
/// Narrow floats compute in float, f64 in double, integers in themselves and
/// bool as bool.
template <DType D> struct Elem;

template <> struct Elem<DType::F32> {
  using S = float;
  using C = float;
  static C load(S v) { return v; }
  static S store(C v) { return v; }
};
template <> struct Elem<DType::F64> {
  using S = double;
  using C = double;
  static C load(S v) { return v; }
  static S store(C v) { return v; }
};
template <> struct Elem<DType::F16> {
  using S = uint16_t;
  using C = float;
  static C load(S v) { return fp16_to_float(v); }
  static S store(C v) { return float_to_fp16(v); }
};
template <> struct Elem<DType::BF16> {
  using S = uint16_t;
  using C = float;
  static C load(S v) { return bf16_to_float(v); }
  static S store(C v) { return float_to_bf16(v); }
};
template <> struct Elem<DType::F8E4M3FN> {
  using S = uint8_t;
  using C = float;
  static C load(S v) { return fp8_e4m3fn_to_float(v); }
  static S store(C v) { return float_to_fp8_e4m3fn(v); }
};
template <> struct Elem<DType::F8E5M2> {
  using S = uint8_t;
  using C = float;
  static C load(S v) { return fp8_e5m2_to_float(v); }
  static S store(C v) { return float_to_fp8_e5m2(v); }
};
template <typename T> struct IntElem {
  using S = T;
  using C = T;
  static C load(S v) { return v; }
  static S store(C v) { return v; }
};
template <> struct Elem<DType::I64> : IntElem<int64_t> {};
template <> struct Elem<DType::I32> : IntElem<int32_t> {};
template <> struct Elem<DType::I8> : IntElem<int8_t> {};
template <> struct Elem<DType::U8> : IntElem<uint8_t> {};
/// Booleans are one byte; any non-zero byte reads as true, true writes as 1.
template <> struct Elem<DType::Bool> {
  using S = uint8_t;
  using C = bool;
  static C load(S v) { return v != 0; }
  static S store(C v) { return v ? 1 : 0; }
};

/// A dtype as a type, handed to the generic lambdas of the visit* functions.
template <DType D> struct Tag {
  static constexpr DType dtype = D;
  using E = Elem<D>;
  using S = typename E::S;
  using C = typename E::C;
};

inline bool isFloat(DType d) {
  return d == DType::F32 || d == DType::F64 || d == DType::F16 || d == DType::BF16 ||
         d == DType::F8E4M3FN || d == DType::F8E5M2;
}

inline bool isFp8(DType d) { return d == DType::F8E4M3FN || d == DType::F8E5M2; }

/// Calls `f(Tag<d>{})` for the float dtypes, `unsupported()` otherwise.
template <typename F, typename U> Status visitFloat(DType d, U &&unsupported, F &&f) {
  switch (d) {
  case DType::F32:
    return f(Tag<DType::F32>{});
  case DType::F64:
    return f(Tag<DType::F64>{});
  case DType::F16:
    return f(Tag<DType::F16>{});
  case DType::BF16:
    return f(Tag<DType::BF16>{});
  case DType::F8E4M3FN:
    return f(Tag<DType::F8E4M3FN>{});
  case DType::F8E5M2:
    return f(Tag<DType::F8E5M2>{});
  default:
    return unsupported();
  }
}

/// Floats plus i32 and i64 (precis's NumericTensor).
template <typename F, typename U> Status visitNumeric(DType d, U &&unsupported, F &&f) {
  switch (d) {
  case DType::I64:
    return f(Tag<DType::I64>{});
  case DType::I32:
    return f(Tag<DType::I32>{});
  default:
    return visitFloat(d, unsupported, f);
  }
}

/// Every dtype.
template <typename F, typename U> Status visitAny(DType d, U &&unsupported, F &&f) {
  switch (d) {
  case DType::I8:
    return f(Tag<DType::I8>{});
  case DType::U8:
    return f(Tag<DType::U8>{});
  case DType::Bool:
    return f(Tag<DType::Bool>{});
  default:
    return visitNumeric(d, unsupported, f);
  }
}

/// Index tensors: i32 or i64.
template <typename F, typename U> Status visitIndex(DType d, U &&unsupported, F &&f) {
  switch (d) {
  case DType::I64:
    return f(Tag<DType::I64>{});
  case DType::I32:
    return f(Tag<DType::I32>{});
  default:
    return unsupported();
  }
}

/// Reads element `i` of a float tensor of any float dtype as float (f64 is
/// rounded to nearest). For small side inputs (bias, scale, weights), not hot
/// loops.
float loadAsFloat(const TensorView &t, int64_t i);
/// The whole float tensor decoded to float.
std::vector<float> toFloatVector(const TensorView &t);
/// Writes `n` floats to `out` (any float dtype), rounding with numerics.h;
/// multithreaded for large n.
void storeFloats(const KernelContext &ctx, const float *src, int64_t n, const TensorView &out);

//===----------------------------------------------------------------------===//
// Errors.
//===----------------------------------------------------------------------===//

/// "(bf16, f32) -> (f32)" for messages.
std::string dtypeList(const std::vector<TensorView> &inputs,
                      const std::vector<TensorView> &outputs);
std::string shapeString(const std::vector<int64_t> &shape);
/// Unimplemented: "cpu kernel '<kind>' does not support dtypes (...) -> (...)".
Status unsupportedDtypes(const char *kind, const std::vector<TensorView> &inputs,
                         const std::vector<TensorView> &outputs);
/// Checks the operand counts: at least `minIn` and at most `maxIn` inputs, at least `minOut`
/// outputs.
Status checkArity(const char *kind, const std::vector<TensorView> &inputs,
                  const std::vector<TensorView> &outputs, size_t minIn, size_t maxIn,
                  size_t minOut);
/// InvalidArgument with "<kind>: " prepended.
Status badShape(const char *kind, const std::string &what);

//===----------------------------------------------------------------------===//
// Shapes.
//===----------------------------------------------------------------------===//

int64_t product(const std::vector<int64_t> &dims, size_t begin, size_t end);
std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &shape);
/// Normalises `axis` in [-rank, rank) to [0, rank); false when out of range.
bool normalizeAxis(int64_t &axis, int64_t rank);
/// Element strides of `in` viewed with `outShape` under NumPy broadcasting (right-aligned,
/// stride 0 on broadcast dimensions). False when `in` does not broadcast to `outShape`.
bool broadcastStrides(const std::vector<int64_t> &inShape, const std::vector<int64_t> &outShape,
                      std::vector<int64_t> &strides);

/// gather_elements and its gradient: for each element of `indices` (the data's rank, other
/// dimensions at most the data's), its flat offset in a tensor of shape `dataShape` with the
/// index replacing the coordinate at `axis` (negative indices count from the end). An error
/// names the first index outside [-dim, dim) or a bad shape.
Status elementIndexOffsets(const char *kind, const TensorView &indices,
                           const std::vector<int64_t> &dataShape, int64_t axis,
                           std::vector<int64_t> &offsets);

/// gather_nd and scatter_nd: `indices` is [..., k] with 1 <= k <= rank(data); for each
/// k-tuple, the flat element offset in `dataShape` of the slice it addresses (negative indices
/// count from the end), and in `sliceSize` the elements of one slice (data.shape[k:]). An
/// error names the first index out of range or a bad shape.
Status tupleIndexOffsets(const char *kind, const TensorView &indices,
                         const std::vector<int64_t> &dataShape, std::vector<int64_t> &offsets,
                         int64_t &sliceSize);

/// A loop nest over an output shape with up to four operands (operand 0 is usually the
/// output), each with its own element strides. `collapse` merges dimensions that are
/// contiguous for every operand and drops size-1 dimensions, so the innermost loop is as long
/// as possible.
struct LoopNest {
  static constexpr int kMaxOperands = 4;
  int numOperands = 0;
  std::vector<int64_t> shape;
  std::vector<std::array<int64_t, kMaxOperands>> strides; // per dimension
};
LoopNest makeLoopNest(const std::vector<int64_t> &shape,
                      const std::vector<std::vector<int64_t>> &operandStrides);

//===----------------------------------------------------------------------===//
// Threads.
//===----------------------------------------------------------------------===//

/// Element counts below which a loop stays on one thread; a thread gets at least this much.
constexpr int64_t kGrainCheap = 1 << 15;     // add, copy, compare
constexpr int64_t kGrainExpensive = 1 << 12; // exp, tanh, erf, pow

inline int threadBudget(const KernelContext &ctx) {
  return ctx.numThreads < 1 ? 1 : ctx.numThreads;
}

/// Runs `fn(begin, end)` over [0, n) split into contiguous static chunks on at most
/// ctx.numThreads threads, each chunk at least `grain` long. `fn` must not throw.
template <typename Fn>
void parallelFor(const KernelContext &ctx, int64_t n, int64_t grain, Fn &&fn) {
  if (n <= 0)
    return;
  int64_t nt = std::min<int64_t>(threadBudget(ctx), (n + grain - 1) / std::max<int64_t>(grain, 1));
#ifdef _OPENMP
  if (nt > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(static_cast<int>(nt))
    {
      const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t begin = n * t / T, end = n * (t + 1) / T;
      if (begin < end)
        fn(begin, end);
    }
    return;
  }
#endif
  (void)nt;
  fn(int64_t(0), n);
}

/// Runs `fn(n, offsets, steps)` over every innermost row of `nest`, or a piece of one: `n`
/// elements, operand k starting at element offsets[k] and advancing by steps[k]. The
/// elements (not just the rows) are split across threads, so a single long row is shared too;
/// `grain` is in elements.
template <typename Fn>
void forEachRow(const KernelContext &ctx, const LoopNest &nest, int64_t grain, Fn &&fn) {
  const int rank = static_cast<int>(nest.shape.size());
  const int K = nest.numOperands;
  std::array<int64_t, LoopNest::kMaxOperands> steps{};
  if (rank == 0) {
    std::array<int64_t, LoopNest::kMaxOperands> offs{};
    fn(int64_t(1), offs.data(), steps.data());
    return;
  }
  const int64_t inner = nest.shape[rank - 1];
  if (inner == 0)
    return;
  for (int k = 0; k < K; ++k)
    steps[k] = nest.strides[rank - 1][k];
  const int64_t total = product(nest.shape, 0, rank);
  parallelFor(ctx, total, grain, [&](int64_t begin, int64_t end) {
    // Odometer over the outer dimensions, started at the row holding element `begin`.
    std::vector<int64_t> idx(rank, 0);
    std::array<int64_t, LoopNest::kMaxOperands> offs{};
    int64_t r = begin / inner;
    int64_t col = begin % inner;
    for (int d = rank - 2; d >= 0; --d) {
      idx[d] = r % nest.shape[d];
      r /= nest.shape[d];
      for (int k = 0; k < K; ++k)
        offs[k] += idx[d] * nest.strides[d][k];
    }
    int64_t pos = begin;
    while (pos < end) {
      const int64_t n = std::min(inner - col, end - pos);
      std::array<int64_t, LoopNest::kMaxOperands> o = offs;
      for (int k = 0; k < K; ++k)
        o[k] += col * steps[k];
      fn(n, o.data(), steps.data());
      pos += n;
      col = 0;
      for (int d = rank - 2; d >= 0; --d) {
        ++idx[d];
        for (int k = 0; k < K; ++k)
          offs[k] += nest.strides[d][k];
        if (idx[d] < nest.shape[d])
          break;
        for (int k = 0; k < K; ++k)
          offs[k] -= idx[d] * nest.strides[d][k];
        idx[d] = 0;
      }
    }
  });
}

/// Copies a strided view of `src` (element size `esize`, element offset `base`, per-dimension
/// element strides, possibly zero or negative) into the contiguous `dst` of shape `shape`.
void stridedCopy(const KernelContext &ctx, void *dst, const void *src, size_t esize,
                 const std::vector<int64_t> &shape, int64_t base,
                 const std::vector<int64_t> &srcStrides);

//===----------------------------------------------------------------------===//
// Kernels (one function per op kind; the registry in Kernel.cpp maps kinds to them).
//===----------------------------------------------------------------------===//

#define PRECIS_CPU_KERNEL(name)                                                                    \
  Status name(const KernelContext &ctx, const std::vector<TensorView> &inputs,                     \
              std::vector<TensorView> &outputs, const Attrs &attrs)

// Contraction.cpp (oneDNN)
PRECIS_CPU_KERNEL(matmulKernel);
PRECIS_CPU_KERNEL(gemmKernel);
PRECIS_CPU_KERNEL(scaledMatmulKernel);
PRECIS_CPU_KERNEL(conv2dKernel);
PRECIS_CPU_KERNEL(conv2dGradInputKernel);
PRECIS_CPU_KERNEL(conv2dGradWeightKernel);
// Elementwise.cpp
PRECIS_CPU_KERNEL(addKernel);
PRECIS_CPU_KERNEL(subKernel);
PRECIS_CPU_KERNEL(mulKernel);
PRECIS_CPU_KERNEL(divKernel);
PRECIS_CPU_KERNEL(maxKernel);
PRECIS_CPU_KERNEL(minKernel);
PRECIS_CPU_KERNEL(powKernel);
PRECIS_CPU_KERNEL(modKernel);
PRECIS_CPU_KERNEL(negKernel);
PRECIS_CPU_KERNEL(absKernel);
PRECIS_CPU_KERNEL(reluKernel);
PRECIS_CPU_KERNEL(leakyReluKernel);
PRECIS_CPU_KERNEL(geluKernel);
PRECIS_CPU_KERNEL(tanhKernel);
PRECIS_CPU_KERNEL(sigmoidKernel);
PRECIS_CPU_KERNEL(erfKernel);
PRECIS_CPU_KERNEL(sqrtKernel);
PRECIS_CPU_KERNEL(expKernel);
PRECIS_CPU_KERNEL(logKernel);
PRECIS_CPU_KERNEL(rsqrtKernel);
PRECIS_CPU_KERNEL(reciprocalKernel);
PRECIS_CPU_KERNEL(sinKernel);
PRECIS_CPU_KERNEL(softplusKernel);
PRECIS_CPU_KERNEL(cosKernel);
PRECIS_CPU_KERNEL(hardSigmoidKernel);
PRECIS_CPU_KERNEL(isNanKernel);
PRECIS_CPU_KERNEL(compareKernel);
PRECIS_CPU_KERNEL(notKernel);
PRECIS_CPU_KERNEL(whereKernel);
PRECIS_CPU_KERNEL(dropoutKernel);
PRECIS_CPU_KERNEL(rotaryKernel);
// Cast.cpp
PRECIS_CPU_KERNEL(castKernel);
// DataMovement.cpp
PRECIS_CPU_KERNEL(reshapeKernel);
PRECIS_CPU_KERNEL(transposeKernel);
PRECIS_CPU_KERNEL(padKernel);
PRECIS_CPU_KERNEL(triluKernel);
PRECIS_CPU_KERNEL(concatKernel);
PRECIS_CPU_KERNEL(splitKernel);
PRECIS_CPU_KERNEL(sliceKernel);
PRECIS_CPU_KERNEL(gatherKernel);
PRECIS_CPU_KERNEL(gatherElementsKernel);
PRECIS_CPU_KERNEL(gatherNdKernel);
PRECIS_CPU_KERNEL(scatterNdKernel);
PRECIS_CPU_KERNEL(expandKernel);
// Reduction.cpp
PRECIS_CPU_KERNEL(reduceSumKernel);
PRECIS_CPU_KERNEL(cumsumKernel);
PRECIS_CPU_KERNEL(topkKernel);
PRECIS_CPU_KERNEL(argmaxKernel);
PRECIS_CPU_KERNEL(argminKernel);
PRECIS_CPU_KERNEL(reduceMeanKernel);
PRECIS_CPU_KERNEL(reduceMaxKernel);
PRECIS_CPU_KERNEL(allFiniteKernel);
PRECIS_CPU_KERNEL(softmaxKernel);
PRECIS_CPU_KERNEL(logSoftmaxKernel);
PRECIS_CPU_KERNEL(globalAvgPoolKernel);
PRECIS_CPU_KERNEL(globalMaxPoolKernel);
// Normalization.cpp
PRECIS_CPU_KERNEL(layerNormKernel);
PRECIS_CPU_KERNEL(attentionKernel);
PRECIS_CPU_KERNEL(attentionGradKernel);
PRECIS_CPU_KERNEL(batchNormKernel);
// Pooling.cpp
PRECIS_CPU_KERNEL(maxPool2dKernel);
PRECIS_CPU_KERNEL(avgPool2dKernel);
// Loss.cpp
PRECIS_CPU_KERNEL(softmaxCrossEntropyKernel);
PRECIS_CPU_KERNEL(nllLossKernel);
// Gradients.cpp (backward ops of the autodiff pass)
PRECIS_CPU_KERNEL(maxPool2dGradKernel);
PRECIS_CPU_KERNEL(avgPool2dGradKernel);
PRECIS_CPU_KERNEL(sliceGradKernel);
PRECIS_CPU_KERNEL(gatherGradKernel);
PRECIS_CPU_KERNEL(gatherElementsGradKernel);
PRECIS_CPU_KERNEL(nllLossGradKernel);
// Optimizer.cpp (optimizer updates of the precis-optimizer pass)
PRECIS_CPU_KERNEL(sgdUpdateKernel);
PRECIS_CPU_KERNEL(adamUpdateKernel);
// Collective.cpp (collectives of the precis-data-parallel pass)
PRECIS_CPU_KERNEL(allReduceKernel);
PRECIS_CPU_KERNEL(allGatherKernel);
PRECIS_CPU_KERNEL(shardKernel);
// Resize.cpp
PRECIS_CPU_KERNEL(resizeKernel);
PRECIS_CPU_KERNEL(resizeGradKernel);

//===----------------------------------------------------------------------===//
// Convolution gradients: validation and the reference loops (Gradients.cpp).
//===----------------------------------------------------------------------===//

/// Convolution geometry from the forward input `x`, weight `w` and output `y` shapes and the
/// op's strides, pads [top, left, bottom, right], dilations and groups.
struct ConvDims {
  int64_t N, C, H, W, O, Cg, KH, KW, OH, OW, groups;
  int64_t sh, sw, pt, pl, dh, dw, pb, pr;
};

/// Checks that `x`, `w`, `y` and `attrs` describe one convolution; `kind` names the op in errors.
Status convGradDims(const char *kind, const std::vector<int64_t> &x, const std::vector<int64_t> &w,
                    const std::vector<int64_t> &y, const Attrs &attrs, ConvDims &d);

/// conv2d_grad_input and conv2d_grad_weight as direct loops over the forward terms, in any
/// float dtype (G, W / X and the result share it), accumulating in the compute type and
/// rounding once. The kernels run oneDNN primitives; these loops are the f64 path, the
/// fallback for configurations oneDNN rejects and the tests' reference.
Status conv2dGradInputLoops(const KernelContext &ctx, const TensorView &G, const TensorView &Wt,
                            const TensorView &out, const ConvDims &d);
Status conv2dGradWeightLoops(const KernelContext &ctx, const TensorView &X, const TensorView &G,
                             const TensorView &out, const ConvDims &d);

/// Philox4x32-10 (Salmon et al., SC'11; Random123's philox4x32 with 10 rounds): the dropout
/// RNG, exposed for tests and for the CUDA code generator to mirror.
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

} // namespace precis::rt::cpu

#endif // PRECIS_RUNTIME_SRC_CPU_KERNELSUPPORT_H
