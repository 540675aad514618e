//===- Kernel.cpp - CPU kernel registry, attributes, shared helpers -------===//
//
// The kind -> kernel table behind findCpuKernel, the typed attribute lookups, dtype names and
// sizes, and the shape / loop helpers that KernelSupport.h declares.
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"

#include <algorithm>
#include <utility>

namespace precis::rt {

//===----------------------------------------------------------------------===//
// DType and Attrs.
//===----------------------------------------------------------------------===//

size_t dtypeSize(DType t) {
  switch (t) {
  case DType::F64:
  case DType::I64:
    return 8;
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::F8E4M3FN:
  case DType::F8E5M2:
  case DType::I8:
  case DType::U8:
  case DType::Bool:
    return 1;
  case DType::Unspecified:
    return 0;
  }
  return 0;
}

const char *dtypeName(DType t) {
  switch (t) {
  case DType::Unspecified:
    return "unspecified";
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::F8E4M3FN:
    return "f8E4M3FN";
  case DType::F8E5M2:
    return "f8E5M2";
  case DType::F64:
    return "f64";
  case DType::I64:
    return "i64";
  case DType::I32:
    return "i32";
  case DType::I8:
    return "i8";
  case DType::U8:
    return "ui8";
  case DType::Bool:
    return "i1";
  }
  return "invalid";
}

// A value stored under the other numeric kind converts (an integral F32Attr written as an int,
// a bool read as a float); a value of an unrelated kind reads as the default.
int64_t Attrs::getInt(std::string_view name, int64_t dflt) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end())
    return dflt;
  const AttrValue &v = it->second;
  if (v.kind == AttrValue::Kind::Int)
    return v.i;
  if (v.kind == AttrValue::Kind::Float)
    return static_cast<int64_t>(v.f);
  return dflt;
}

double Attrs::getFloat(std::string_view name, double dflt) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end())
    return dflt;
  const AttrValue &v = it->second;
  if (v.kind == AttrValue::Kind::Float)
    return v.f;
  if (v.kind == AttrValue::Kind::Int)
    return static_cast<double>(v.i);
  return dflt;
}

std::vector<int64_t> Attrs::getInts(std::string_view name, std::vector<int64_t> dflt) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end())
    return dflt;
  const AttrValue &v = it->second;
  if (v.kind == AttrValue::Kind::Ints)
    return v.ints;
  if (v.kind == AttrValue::Kind::Int)
    return {v.i};
  return dflt;
}

std::vector<double> Attrs::getFloats(std::string_view name, std::vector<double> dflt) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end())
    return dflt;
  const AttrValue &v = it->second;
  if (v.kind == AttrValue::Kind::Floats)
    return v.floats;
  if (v.kind == AttrValue::Kind::Float)
    return {v.f};
  return dflt;
}

std::string Attrs::getString(std::string_view name, std::string dflt) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end() || it->second.kind != AttrValue::Kind::String)
    return dflt;
  return it->second.s;
}

//===----------------------------------------------------------------------===//
// Registry.
//===----------------------------------------------------------------------===//

KernelFn findCpuKernel(std::string_view kind) {
  using namespace cpu;
  // Sorted by kind for the binary search below; `constant` and `parameter` are data, not
  // kernels.
  static constexpr std::pair<std::string_view, KernelFn> kTable[] = {
      {"abs", absKernel},
      {"adam_update", adamUpdateKernel},
      {"add", addKernel},
      {"all_finite", allFiniteKernel},
      {"all_gather", allGatherKernel},
      {"all_reduce", allReduceKernel},
      {"argmax", argmaxKernel},
      {"argmin", argminKernel},
      {"attention", attentionKernel},
      {"attention_grad", attentionGradKernel},
      {"avg_pool2d", avgPool2dKernel},
      {"avg_pool2d_grad", avgPool2dGradKernel},
      {"batch_norm", batchNormKernel},
      {"cast", castKernel},
      {"compare", compareKernel},
      {"concat", concatKernel},
      {"conv2d", conv2dKernel},
      {"conv2d_grad_input", conv2dGradInputKernel},
      {"conv2d_grad_weight", conv2dGradWeightKernel},
      {"cos", cosKernel},
      {"cumsum", cumsumKernel},
      {"div", divKernel},
      {"dropout", dropoutKernel},
      {"erf", erfKernel},
      {"exp", expKernel},
      {"expand", expandKernel},
      {"gather", gatherKernel},
      {"gather_elements", gatherElementsKernel},
      {"gather_elements_grad", gatherElementsGradKernel},
      {"gather_grad", gatherGradKernel},
      {"gather_nd", gatherNdKernel},
      {"gelu", geluKernel},
      {"gemm", gemmKernel},
      {"global_avg_pool", globalAvgPoolKernel},
      {"global_max_pool", globalMaxPoolKernel},
      {"hard_sigmoid", hardSigmoidKernel},
      {"is_nan", isNanKernel},
      {"layer_norm", layerNormKernel},
      {"leaky_relu", leakyReluKernel},
      {"log", logKernel},
      {"log_softmax", logSoftmaxKernel},
      {"matmul", matmulKernel},
      {"max", maxKernel},
      {"max_pool2d", maxPool2dKernel},
      {"max_pool2d_grad", maxPool2dGradKernel},
      {"min", minKernel},
      {"mod", modKernel},
      {"mul", mulKernel},
      {"neg", negKernel},
      {"nll_loss", nllLossKernel},
      {"nll_loss_grad", nllLossGradKernel},
      {"not", notKernel},
      {"pad", padKernel},
      {"pow", powKernel},
      {"reciprocal", reciprocalKernel},
      {"reduce_max", reduceMaxKernel},
      {"reduce_mean", reduceMeanKernel},
      {"reduce_sum", reduceSumKernel},
      {"relu", reluKernel},
      {"reshape", reshapeKernel},
      {"resize", resizeKernel},
      {"resize_grad", resizeGradKernel},
      {"rotary", rotaryKernel},
      {"rsqrt", rsqrtKernel},
      {"scaled_matmul", scaledMatmulKernel},
      {"scatter_nd", scatterNdKernel},
      {"sgd_update", sgdUpdateKernel},
      {"shard", shardKernel},
      {"sigmoid", sigmoidKernel},
      {"sin", sinKernel},
      {"slice", sliceKernel},
      {"slice_grad", sliceGradKernel},
      {"softmax", softmaxKernel},
      {"softmax_cross_entropy", softmaxCrossEntropyKernel},
      {"softplus", softplusKernel},
      {"split", splitKernel},
      {"sqrt", sqrtKernel},
      {"sub", subKernel},
      {"tanh", tanhKernel},
      {"topk", topkKernel},
      {"transpose", transposeKernel},
      {"trilu", triluKernel},
      {"where", whereKernel},
  };
  auto it = std::lower_bound(std::begin(kTable), std::end(kTable), kind,
                             [](const auto &e, std::string_view k) { return e.first < k; });
  if (it == std::end(kTable) || it->first != kind)
    return nullptr;
  return it->second;
}

namespace cpu {

//===----------------------------------------------------------------------===//
// Float side inputs.
//===----------------------------------------------------------------------===//

float loadAsFloat(const TensorView &t, int64_t i) {
  switch (t.dtype) {
  case DType::F32:
    return static_cast<const float *>(t.data)[i];
  case DType::F64:
    return static_cast<float>(static_cast<const double *>(t.data)[i]);
  case DType::F16:
    return fp16_to_float(static_cast<const uint16_t *>(t.data)[i]);
  case DType::BF16:
    return bf16_to_float(static_cast<const uint16_t *>(t.data)[i]);
  case DType::F8E4M3FN:
    return fp8_e4m3fn_to_float(static_cast<const uint8_t *>(t.data)[i]);
  case DType::F8E5M2:
    return fp8_e5m2_to_float(static_cast<const uint8_t *>(t.data)[i]);
  default:
    return 0.0f;
  }
}

std::vector<float> toFloatVector(const TensorView &t) {
  const int64_t n = t.numElements();
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[i] = loadAsFloat(t, i);
  return v;
}

void storeFloats(const KernelContext &ctx, const float *src, int64_t n, const TensorView &out) {
  auto unsupported = [] { return Status::ok(); };
  (void)visitFloat(out.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    auto *o = static_cast<typename T::S *>(out.data);
    parallelFor(ctx, n, kGrainCheap, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        o[i] = T::E::store(static_cast<typename T::C>(src[i]));
    });
    return Status::ok();
  });
}

//===----------------------------------------------------------------------===//
// Errors.
//===----------------------------------------------------------------------===//

std::string dtypeList(const std::vector<TensorView> &inputs,
                      const std::vector<TensorView> &outputs) {
  std::string s = "(";
  for (size_t i = 0; i < inputs.size(); ++i)
    s += (i ? ", " : "") + std::string(dtypeName(inputs[i].dtype));
  s += ") -> (";
  for (size_t i = 0; i < outputs.size(); ++i)
    s += (i ? ", " : "") + std::string(dtypeName(outputs[i].dtype));
  return s + ")";
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + std::to_string(shape[i]);
  return s + "]";
}

Status unsupportedDtypes(const char *kind, const std::vector<TensorView> &inputs,
                         const std::vector<TensorView> &outputs) {
  return unimplemented(std::string("cpu kernel '") + kind + "' does not support dtypes " +
                       dtypeList(inputs, outputs));
}

Status checkArity(const char *kind, const std::vector<TensorView> &inputs,
                  const std::vector<TensorView> &outputs, size_t minIn, size_t maxIn,
                  size_t minOut) {
  if (inputs.size() < minIn || inputs.size() > maxIn || outputs.size() < minOut)
    return invalidArgument(std::string(kind) + ": expected " + std::to_string(minIn) +
                           (maxIn != minIn ? ".." + std::to_string(maxIn) : std::string()) +
                           " inputs and " + std::to_string(minOut) + " outputs, got " +
                           std::to_string(inputs.size()) + " and " +
                           std::to_string(outputs.size()));
  for (const TensorView &t : inputs)
    if (t.data == nullptr && t.numElements() != 0)
      return invalidArgument(std::string(kind) + ": null input buffer");
  for (const TensorView &t : outputs)
    if (t.data == nullptr && t.numElements() != 0)
      return invalidArgument(std::string(kind) + ": null output buffer");
  return Status::ok();
}

Status badShape(const char *kind, const std::string &what) {
  return invalidArgument(std::string(kind) + ": " + what);
}

//===----------------------------------------------------------------------===//
// Shapes and loops.
//===----------------------------------------------------------------------===//

Status elementIndexOffsets(const char *kind, const TensorView &indices,
                           const std::vector<int64_t> &dataShape, int64_t axis,
                           std::vector<int64_t> &offsets) {
  if (indices.dtype != DType::I64 && indices.dtype != DType::I32)
    return invalidArgument(std::string(kind) + ": indices must be i32 or i64");
  const int64_t rank = static_cast<int64_t>(dataShape.size());
  if (indices.rank() != rank || axis < 0 || axis >= rank)
    return badShape(kind, "indices " + shapeString(indices.shape) + " or axis " +
                              std::to_string(axis) + " do not fit data " + shapeString(dataShape));
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis && indices.shape[d] > dataShape[d])
      return badShape(kind, "indices " + shapeString(indices.shape) + " exceed data " +
                                shapeString(dataShape) + " in dimension " + std::to_string(d));
  const std::vector<int64_t> strides = contiguousStrides(dataShape);
  const int64_t n = indices.numElements(), dim = dataShape[axis];
  offsets.resize(static_cast<size_t>(n));
  std::vector<int64_t> coord(static_cast<size_t>(rank), 0);
  for (int64_t j = 0; j < n; ++j) {
    int64_t v = indices.dtype == DType::I64 ? static_cast<const int64_t *>(indices.data)[j]
                                            : static_cast<const int32_t *>(indices.data)[j];
    if (v < -dim || v >= dim)
      return invalidArgument(std::string(kind) + ": index " + std::to_string(v) + " at position " +
                             std::to_string(j) + " is out of range for axis " +
                             std::to_string(axis) + " of size " + std::to_string(dim));
    if (v < 0)
      v += dim;
    int64_t off = 0;
    for (int64_t d = 0; d < rank; ++d)
      off += (d == axis ? v : coord[d]) * strides[d];
    offsets[j] = off;
    for (int64_t d = rank - 1; d >= 0; --d)
      if (++coord[d] < indices.shape[d])
        break;
      else
        coord[d] = 0;
  }
  return Status::ok();
}

Status tupleIndexOffsets(const char *kind, const TensorView &indices,
                         const std::vector<int64_t> &dataShape, std::vector<int64_t> &offsets,
                         int64_t &sliceSize) {
  if (indices.dtype != DType::I64 && indices.dtype != DType::I32)
    return invalidArgument(std::string(kind) + ": indices must be i32 or i64");
  const int64_t rank = static_cast<int64_t>(dataShape.size());
  const int64_t k = indices.rank() ? indices.shape.back() : 0;
  if (k < 1 || k > rank)
    return badShape(kind, "indices " + shapeString(indices.shape) +
                              " must be [..., k] with 1 <= k <= " + std::to_string(rank));
  const std::vector<int64_t> strides = contiguousStrides(dataShape);
  sliceSize = product(dataShape, static_cast<size_t>(k), dataShape.size());
  const int64_t tuples = indices.numElements() / k;
  offsets.assign(static_cast<size_t>(tuples), 0);
  for (int64_t t = 0; t < tuples; ++t)
    for (int64_t j = 0; j < k; ++j) {
      int64_t v = indices.dtype == DType::I64
                      ? static_cast<const int64_t *>(indices.data)[t * k + j]
                      : static_cast<const int32_t *>(indices.data)[t * k + j];
      const int64_t dim = dataShape[j];
      if (v < -dim || v >= dim)
        return invalidArgument(std::string(kind) + ": index " + std::to_string(v) + " of tuple " +
                               std::to_string(t) + " is out of range for dimension " +
                               std::to_string(j) + " of size " + std::to_string(dim));
      offsets[t] += (v < 0 ? v + dim : v) * strides[j];
    }
  return Status::ok();
}

int64_t product(const std::vector<int64_t> &dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < dims.size(); ++i)
    p *= dims[i];
  return p;
}

std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

bool normalizeAxis(int64_t &axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return false;
  if (axis < 0)
    axis += rank;
  return true;
}

bool broadcastStrides(const std::vector<int64_t> &inShape, const std::vector<int64_t> &outShape,
                      std::vector<int64_t> &strides) {
  const size_t inRank = inShape.size(), outRank = outShape.size();
  if (inRank > outRank)
    return false;
  strides.assign(outRank, 0);
  const std::vector<int64_t> cs = contiguousStrides(inShape);
  for (size_t i = 0; i < inRank; ++i) {
    const size_t o = outRank - inRank + i;
    if (inShape[i] == outShape[o])
      strides[o] = inShape[i] == 1 ? 0 : cs[i];
    else if (inShape[i] == 1)
      strides[o] = 0;
    else
      return false;
  }
  return true;
}

LoopNest makeLoopNest(const std::vector<int64_t> &shape,
                      const std::vector<std::vector<int64_t>> &operandStrides) {
  LoopNest nest;
  nest.numOperands = static_cast<int>(operandStrides.size());
  const int K = nest.numOperands;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1)
      continue;
    std::array<int64_t, LoopNest::kMaxOperands> s{};
    for (int k = 0; k < K; ++k)
      s[k] = operandStrides[k][d];
    // Merge into the previous dimension when, for every operand, stepping the previous
    // dimension once equals stepping this one shape[d] times.
    if (!nest.shape.empty()) {
      bool merge = true;
      for (int k = 0; k < K && merge; ++k)
        merge = nest.strides.back()[k] == s[k] * shape[d];
      if (merge) {
        nest.shape.back() *= shape[d];
        nest.strides.back() = s;
        continue;
      }
    }
    nest.shape.push_back(shape[d]);
    nest.strides.push_back(s);
  }
  return nest;
}

/// The transposing case of stridedCopy: the result's innermost dimension `l` is strided in the
/// source while another dimension `j` is the source's contiguous one. Copies 32 x 32 tiles of
/// (j, l) so both the reads and the writes stay within a few cache lines per tile.
template <typename T>
static void tiledTransposeCopy(const KernelContext &ctx, T *dst, const T *src, int64_t base,
                               const LoopNest &nest, int j) {
  constexpr int64_t kTile = 32;
  const int r = static_cast<int>(nest.shape.size());
  const int l = r - 1;
  const int64_t J = nest.shape[j], L = nest.shape[l];
  const int64_t oJ = nest.strides[j][0], sL = nest.strides[l][1];
  std::vector<int> others;
  for (int d = 0; d < l; ++d)
    if (d != j)
      others.push_back(d);
  int64_t outer = 1;
  for (int d : others)
    outer *= nest.shape[d];
  const int64_t jt = (J + kTile - 1) / kTile, lt = (L + kTile - 1) / kTile;
  parallelFor(ctx, outer * jt * lt, std::max<int64_t>(1, kGrainCheap / (kTile * kTile)),
              [&](int64_t b, int64_t e) {
                for (int64_t w = b; w < e; ++w) {
                  int64_t rest = w / (jt * lt);
                  const int64_t tj = (w / lt) % jt, tl = w % lt;
                  int64_t oOff = 0, sOff = base;
                  for (int k = static_cast<int>(others.size()) - 1; k >= 0; --k) {
                    const int d = others[k];
                    const int64_t i = rest % nest.shape[d];
                    rest /= nest.shape[d];
                    oOff += i * nest.strides[d][0];
                    sOff += i * nest.strides[d][1];
                  }
                  const int64_t j0 = tj * kTile, j1 = std::min(J, j0 + kTile);
                  const int64_t l0 = tl * kTile, l1 = std::min(L, l0 + kTile);
                  for (int64_t a = j0; a < j1; ++a) {
                    T *o = dst + oOff + a * oJ;
                    const T *s = src + sOff + a;
                    for (int64_t c = l0; c < l1; ++c)
                      o[c] = s[c * sL];
                  }
                }
              });
}

template <typename T>
static void stridedCopyTyped(const KernelContext &ctx, T *dst, const T *src,
                             const std::vector<int64_t> &shape, int64_t base,
                             const std::vector<int64_t> &srcStrides) {
  const LoopNest nest = makeLoopNest(shape, {contiguousStrides(shape), srcStrides});
  const int r = static_cast<int>(nest.shape.size());
  if (r >= 2 && nest.strides[r - 1][1] != 1 && nest.strides[r - 1][1] != 0 &&
      nest.shape[r - 1] >= 8) {
    for (int j = r - 2; j >= 0; --j)
      if (nest.strides[j][1] == 1 && nest.shape[j] >= 8)
        return tiledTransposeCopy(ctx, dst, src, base, nest, j);
  }
  forEachRow(ctx, nest, kGrainCheap, [&](int64_t n, const int64_t *off, const int64_t *step) {
    T *o = dst + off[0];
    const T *i = src + base + off[1];
    const int64_t s = step[1];
    if (s == 1)
      std::memcpy(o, i, static_cast<size_t>(n) * sizeof(T));
    else if (s == 0)
      std::fill(o, o + n, *i);
    else
      for (int64_t j = 0; j < n; ++j)
        o[j] = i[j * s];
  });
}

void stridedCopy(const KernelContext &ctx, void *dst, const void *src, size_t esize,
                 const std::vector<int64_t> &shape, int64_t base,
                 const std::vector<int64_t> &srcStrides) {
  if (product(shape, 0, shape.size()) == 0)
    return;
  switch (esize) {
  case 1:
    return stridedCopyTyped(ctx, static_cast<uint8_t *>(dst), static_cast<const uint8_t *>(src),
                            shape, base, srcStrides);
  case 2:
    return stridedCopyTyped(ctx, static_cast<uint16_t *>(dst), static_cast<const uint16_t *>(src),
                            shape, base, srcStrides);
  case 4:
    return stridedCopyTyped(ctx, static_cast<uint32_t *>(dst), static_cast<const uint32_t *>(src),
                            shape, base, srcStrides);
  default:
    return stridedCopyTyped(ctx, static_cast<uint64_t *>(dst), static_cast<const uint64_t *>(src),
                            shape, base, srcStrides);
  }
}

} // namespace cpu
} // namespace precis::rt
