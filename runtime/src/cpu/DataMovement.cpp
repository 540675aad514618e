//===- DataMovement.cpp - reshape, transpose, concat, split, slice, gather, pad ... -===//
//
// Kernels that move elements without looking at their values, so they work on every dtype by
// element size. Each one validates the shapes it is given against its attributes (a bad
// artifact must produce an error, never an out-of-bounds access) and then runs as contiguous
// memcpy blocks or a strided copy (KernelSupport.h's stridedCopy).
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"

namespace precis::rt::cpu {
namespace {

void parallelMemcpy(const KernelContext &ctx, void *dst, const void *src, size_t bytes) {
  if (dst == src || bytes == 0)
    return;
  parallelFor(ctx, static_cast<int64_t>(bytes), int64_t(1) << 20, [&](int64_t b, int64_t e) {
    std::memcpy(static_cast<char *>(dst) + b, static_cast<const char *>(src) + b,
                static_cast<size_t>(e - b));
  });
}

Status sameDtype(const char *kind, const std::vector<TensorView> &inputs,
                 const std::vector<TensorView> &outputs) {
  for (const TensorView &t : inputs)
    if (t.dtype != outputs[0].dtype || dtypeSize(t.dtype) == 0)
      return unsupportedDtypes(kind, inputs, outputs);
  for (const TensorView &t : outputs)
    if (t.dtype != outputs[0].dtype)
      return unsupportedDtypes(kind, inputs, outputs);
  return Status::ok();
}

/// Result element `o` of pad: the source offset in the input, or -1 for the constant fill.
/// `mode` 0 constant, 1 reflect, 2 edge.
template <typename S>
void padLoop(const KernelContext &ctx, const TensorView &in, const TensorView &out,
             const std::vector<int64_t> &pads, int64_t mode, S fill) {
  const S *pi = static_cast<const S *>(in.data);
  S *po = static_cast<S *>(out.data);
  const int64_t rank = in.rank();
  const std::vector<int64_t> inStrides = contiguousStrides(in.shape);
  const int64_t cols = rank ? out.shape[rank - 1] : 1;
  const int64_t rows = cols ? out.numElements() / cols : 0;
  parallelFor(ctx, rows, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(cols, 1)),
              [&](int64_t begin, int64_t end) {
                std::vector<int64_t> idx(static_cast<size_t>(rank));
                for (int64_t r = begin; r < end; ++r) {
                  // The row's outer coordinates and their source offset.
                  int64_t rest = r, base = 0;
                  bool inside = true;
                  for (int64_t d = rank - 2; d >= 0; --d) {
                    int64_t i = rest % out.shape[d] - pads[d];
                    rest /= out.shape[d];
                    const int64_t n = in.shape[d];
                    if (i < 0 || i >= n) {
                      if (mode == 0)
                        inside = false;
                      else if (mode == 1)
                        i = i < 0 ? -i : 2 * (n - 1) - i;
                      else
                        i = i < 0 ? 0 : n - 1;
                    }
                    base += i * inStrides[d];
                  }
                  S *o = po + r * cols;
                  if (rank == 0) {
                    o[0] = pi[0];
                    continue;
                  }
                  const int64_t n = in.shape[rank - 1], lo = pads[rank - 1];
                  for (int64_t j = 0; j < cols; ++j) {
                    int64_t i = j - lo;
                    if (i < 0 || i >= n) {
                      if (mode == 0) {
                        o[j] = fill;
                        continue;
                      }
                      i = mode == 1 ? (i < 0 ? -i : 2 * (n - 1) - i) : (i < 0 ? 0 : n - 1);
                    }
                    o[j] = inside ? pi[base + i] : fill;
                  }
                }
              });
}

} // namespace

/// Each matrix of the last two dimensions keeps `j - i >= k` (upper) or `j - i <= k`; the
/// rest is zero, which is all-zero bytes in every dtype.
PRECIS_CPU_KERNEL(triluKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("trilu", inputs, outputs, 1, 1, 1));
  PRECIS_RETURN_IF_ERROR(sameDtype("trilu", inputs, outputs));
  const TensorView &in = inputs[0], &out = outputs[0];
  if (in.rank() < 2 || in.shape != out.shape)
    return badShape("trilu", "needs rank >= 2 and a result of the input's shape, got " +
                                 shapeString(in.shape) + " -> " + shapeString(out.shape));
  const bool upper = attrs.getInt("upper", 1) != 0;
  const int64_t k = attrs.getInt("k", 0);
  const int64_t cols = in.shape.back(), rows = in.shape[in.shape.size() - 2];
  const int64_t numRows = cols ? out.numElements() / cols : 0;
  const size_t es = dtypeSize(in.dtype);
  const char *src = static_cast<const char *>(in.data);
  char *dst = static_cast<char *>(out.data);
  parallelFor(ctx, numRows, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(cols, 1)),
              [&](int64_t begin, int64_t end) {
                for (int64_t r = begin; r < end; ++r) {
                  const int64_t i = r % rows;
                  // Kept columns: [max(0, i + k), cols) upper, [0, min(cols, i + k + 1)) lower.
                  const int64_t lo = upper ? std::clamp<int64_t>(i + k, 0, cols) : 0;
                  const int64_t hi = upper ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
                  char *o = dst + static_cast<size_t>(r * cols) * es;
                  const char *x = src + static_cast<size_t>(r * cols) * es;
                  std::memset(o, 0, static_cast<size_t>(lo) * es);
                  if (hi > lo && o != x)
                    std::memmove(o + lo * es, x + lo * es, static_cast<size_t>(hi - lo) * es);
                  std::memset(o + hi * es, 0, static_cast<size_t>(cols - hi) * es);
                }
              });
  return Status::ok();
}

/// `pads` [begins..., ends...] non-negative; `mode` 0 constant (`value`, converted to the
/// element type as a cast does), 1 reflect, 2 edge.
PRECIS_CPU_KERNEL(padKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("pad", inputs, outputs, 1, 1, 1));
  PRECIS_RETURN_IF_ERROR(sameDtype("pad", inputs, outputs));
  const TensorView &in = inputs[0], &out = outputs[0];
  const int64_t rank = in.rank();
  const std::vector<int64_t> pads = attrs.getInts("pads", {});
  const int64_t mode = attrs.getInt("mode", 0);
  const double value = attrs.getFloat("value", 0.0);
  if (mode < 0 || mode > 2)
    return invalidArgument("pad: unknown mode " + std::to_string(mode));
  if (static_cast<int64_t>(pads.size()) != 2 * rank || out.rank() != rank)
    return badShape("pad", "needs 2 pads per dimension and a result of the input's rank");
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t b = pads[d], e = pads[d + rank], n = in.shape[d];
    if (b < 0 || e < 0 || out.shape[d] != b + n + e)
      return badShape("pad", "result shape " + shapeString(out.shape) + " is not the input " +
                                 shapeString(in.shape) + " padded by the pads");
    if (b + e > 0 && ((mode == 1 && (b >= n || e >= n)) || (mode == 2 && n == 0)))
      return badShape("pad", "reflect or edge pads out of range for dimension " +
                                 std::to_string(d) + " of size " + std::to_string(n));
  }
  if (out.numElements() == 0)
    return Status::ok();
  auto unsupported = [&] { return unsupportedDtypes("pad", inputs, outputs); };
  return visitAny(in.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using C = typename T::C;
    padLoop<typename T::S>(ctx, in, out, pads, mode, T::E::store(static_cast<C>(value)));
    return Status::ok();
  });
}

PRECIS_CPU_KERNEL(reshapeKernel) {
  (void)attrs;
  PRECIS_RETURN_IF_ERROR(checkArity("reshape", inputs, outputs, 1, 1, 1));
  PRECIS_RETURN_IF_ERROR(sameDtype("reshape", inputs, outputs));
  if (inputs[0].numElements() != outputs[0].numElements())
    return badShape("reshape", "element counts differ: " + shapeString(inputs[0].shape) + " to " +
                                   shapeString(outputs[0].shape));
  parallelMemcpy(ctx, outputs[0].data, inputs[0].data, inputs[0].byteSize());
  return Status::ok();
}

PRECIS_CPU_KERNEL(expandKernel) {
  (void)attrs;
  PRECIS_RETURN_IF_ERROR(checkArity("expand", inputs, outputs, 1, 1, 1));
  PRECIS_RETURN_IF_ERROR(sameDtype("expand", inputs, outputs));
  const TensorView &in = inputs[0], &out = outputs[0];
  std::vector<int64_t> strides;
  if (!broadcastStrides(in.shape, out.shape, strides))
    return badShape("expand",
                    shapeString(in.shape) + " does not broadcast to " + shapeString(out.shape));
  stridedCopy(ctx, out.data, in.data, dtypeSize(in.dtype), out.shape, 0, strides);
  return Status::ok();
}

PRECIS_CPU_KERNEL(transposeKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("transpose", inputs, outputs, 1, 1, 1));
  PRECIS_RETURN_IF_ERROR(sameDtype("transpose", inputs, outputs));
  const TensorView &in = inputs[0], &out = outputs[0];
  const int64_t rank = in.rank();
  std::vector<int64_t> dflt(static_cast<size_t>(rank));
  for (int64_t i = 0; i < rank; ++i)
    dflt[i] = rank - 1 - i; // ONNX's default: reverse the dimensions
  const std::vector<int64_t> perm = attrs.getInts("perm", dflt);
  if (static_cast<int64_t>(perm.size()) != rank || out.rank() != rank)
    return badShape("transpose", "perm and result rank must equal the input rank");
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  const std::vector<int64_t> inStrides = contiguousStrides(in.shape);
  std::vector<int64_t> srcStrides(static_cast<size_t>(rank));
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t p = perm[i];
    if (p < 0 || p >= rank || seen[p])
      return badShape("transpose", "perm is not a permutation");
    seen[p] = true;
    if (out.shape[i] != in.shape[p])
      return badShape("transpose", "result shape " + shapeString(out.shape) +
                                       " does not match the permuted input " +
                                       shapeString(in.shape));
    srcStrides[i] = inStrides[p];
  }
  stridedCopy(ctx, out.data, in.data, dtypeSize(in.dtype), out.shape, 0, srcStrides);
  return Status::ok();
}

PRECIS_CPU_KERNEL(concatKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("concat", inputs, outputs, 1, SIZE_MAX, 1));
  PRECIS_RETURN_IF_ERROR(sameDtype("concat", inputs, outputs));
  const TensorView &out = outputs[0];
  int64_t axis = attrs.getInt("axis", 0);
  if (!normalizeAxis(axis, out.rank()))
    return badShape("concat", "axis out of range");
  int64_t total = 0;
  for (const TensorView &t : inputs) {
    if (t.rank() != out.rank())
      return badShape("concat", "operand ranks differ");
    for (int64_t d = 0; d < out.rank(); ++d)
      if (d != axis && t.shape[d] != out.shape[d])
        return badShape("concat", "operand shape " + shapeString(t.shape) +
                                      " does not match the result " + shapeString(out.shape));
    total += t.shape[axis];
  }
  if (total != out.shape[axis])
    return badShape("concat", "operand sizes along the axis do not sum to the result's");
  const size_t esize = dtypeSize(out.dtype);
  const int64_t outer = product(out.shape, 0, axis);
  const int64_t inner = product(out.shape, axis + 1, out.shape.size());
  const int64_t outRow = out.shape[axis] * inner; // elements per outer index in the result
  std::vector<int64_t> offsets; // element offset of each input inside a result row
  int64_t off = 0;
  for (const TensorView &t : inputs) {
    offsets.push_back(off);
    off += t.shape[axis] * inner;
  }
  const int64_t numIn = static_cast<int64_t>(inputs.size());
  parallelFor(ctx, outer * numIn, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(outRow, 1)),
              [&](int64_t b, int64_t e) {
                for (int64_t w = b; w < e; ++w) {
                  const int64_t o = w / numIn, k = w % numIn;
                  const int64_t chunk = inputs[k].shape[axis] * inner;
                  if (chunk == 0) // an empty operand may have no data pointer
                    continue;
                  std::memcpy(static_cast<char *>(out.data) + (o * outRow + offsets[k]) * esize,
                              static_cast<const char *>(inputs[k].data) + o * chunk * esize,
                              static_cast<size_t>(chunk) * esize);
                }
              });
  return Status::ok();
}

PRECIS_CPU_KERNEL(splitKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("split", inputs, outputs, 1, 1, 1));
  PRECIS_RETURN_IF_ERROR(sameDtype("split", inputs, outputs));
  const TensorView &in = inputs[0];
  int64_t axis = attrs.getInt("axis", 0);
  if (!normalizeAxis(axis, in.rank()))
    return badShape("split", "axis out of range");
  int64_t total = 0;
  for (const TensorView &t : outputs) {
    if (t.rank() != in.rank())
      return badShape("split", "result ranks differ from the input's");
    for (int64_t d = 0; d < in.rank(); ++d)
      if (d != axis && t.shape[d] != in.shape[d])
        return badShape("split", "result shape " + shapeString(t.shape) +
                                     " does not match the input " + shapeString(in.shape));
    total += t.shape[axis];
  }
  if (total != in.shape[axis])
    return badShape("split", "result sizes along the axis do not sum to the input's");
  const size_t esize = dtypeSize(in.dtype);
  const int64_t outer = product(in.shape, 0, axis);
  const int64_t inner = product(in.shape, axis + 1, in.shape.size());
  const int64_t inRow = in.shape[axis] * inner;
  std::vector<int64_t> offsets;
  int64_t off = 0;
  for (const TensorView &t : outputs) {
    offsets.push_back(off);
    off += t.shape[axis] * inner;
  }
  const int64_t numOut = static_cast<int64_t>(outputs.size());
  parallelFor(ctx, outer * numOut, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(inRow, 1)),
              [&](int64_t b, int64_t e) {
                for (int64_t w = b; w < e; ++w) {
                  const int64_t o = w / numOut, k = w % numOut;
                  const int64_t chunk = outputs[k].shape[axis] * inner;
                  if (chunk == 0) // an empty result may have no data pointer
                    continue;
                  std::memcpy(static_cast<char *>(outputs[k].data) + o * chunk * esize,
                              static_cast<const char *>(in.data) + (o * inRow + offsets[k]) * esize,
                              static_cast<size_t>(chunk) * esize);
                }
              });
  return Status::ok();
}

/// Dimension d takes start[d] + i * step[d] for i in [0, count) where count is the number of
/// such indices short of limit[d] (beyond it for negative steps; limit -1 then means "through
/// index 0"). Every index taken must lie in [0, dim).
PRECIS_CPU_KERNEL(sliceKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("slice", inputs, outputs, 1, 1, 1));
  PRECIS_RETURN_IF_ERROR(sameDtype("slice", inputs, outputs));
  const TensorView &in = inputs[0], &out = outputs[0];
  const int64_t rank = in.rank();
  const std::vector<int64_t> start = attrs.getInts("start", {});
  const std::vector<int64_t> limit = attrs.getInts("limit", {});
  const std::vector<int64_t> step = attrs.getInts("step", {});
  if (static_cast<int64_t>(start.size()) != rank || static_cast<int64_t>(limit.size()) != rank ||
      static_cast<int64_t>(step.size()) != rank || out.rank() != rank)
    return badShape("slice", "start, limit, step and the result must have the input's rank");
  const std::vector<int64_t> inStrides = contiguousStrides(in.shape);
  std::vector<int64_t> srcStrides(static_cast<size_t>(rank));
  int64_t base = 0;
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t s = step[d];
    if (s == 0)
      return badShape("slice", "step 0 in dimension " + std::to_string(d));
    const int64_t span = s > 0 ? limit[d] - start[d] : start[d] - limit[d];
    const int64_t mag = s > 0 ? s : -s;
    const int64_t count = span <= 0 ? 0 : (span + mag - 1) / mag;
    if (count != out.shape[d])
      return badShape("slice", "dimension " + std::to_string(d) + " takes " +
                                   std::to_string(count) + " elements but the result has " +
                                   std::to_string(out.shape[d]));
    if (count > 0) {
      const int64_t last = start[d] + (count - 1) * s;
      if (start[d] < 0 || start[d] >= in.shape[d] || last < 0 || last >= in.shape[d])
        return badShape("slice", "dimension " + std::to_string(d) + " reads outside [0, " +
                                     std::to_string(in.shape[d]) + ")");
    }
    base += (count > 0 ? start[d] : 0) * inStrides[d];
    srcStrides[d] = s * inStrides[d];
  }
  stridedCopy(ctx, out.data, in.data, dtypeSize(in.dtype), out.shape, base, srcStrides);
  return Status::ok();
}

/// result[o, j, i] = data[o, idx[j], i] with data viewed as [outer, dim, inner]; negative
/// indices count from the end; any index outside [-dim, dim) fails the whole op before a
/// single element is written.
PRECIS_CPU_KERNEL(gatherKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("gather", inputs, outputs, 2, 2, 1));
  const TensorView &data = inputs[0], &idx = inputs[1], &out = outputs[0];
  if (data.dtype != out.dtype || dtypeSize(data.dtype) == 0 ||
      (idx.dtype != DType::I64 && idx.dtype != DType::I32))
    return unsupportedDtypes("gather", inputs, outputs);
  int64_t axis = attrs.getInt("axis", 0);
  if (!normalizeAxis(axis, data.rank()))
    return badShape("gather", "axis out of range");
  std::vector<int64_t> expect(data.shape.begin(), data.shape.begin() + axis);
  expect.insert(expect.end(), idx.shape.begin(), idx.shape.end());
  expect.insert(expect.end(), data.shape.begin() + axis + 1, data.shape.end());
  if (expect != out.shape)
    return badShape("gather",
                    "result shape " + shapeString(out.shape) + " should be " + shapeString(expect));
  const int64_t dim = data.shape[axis];
  const int64_t n = idx.numElements();
  std::vector<int64_t> index(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    const int64_t v = idx.dtype == DType::I64 ? static_cast<const int64_t *>(idx.data)[j]
                                              : static_cast<const int32_t *>(idx.data)[j];
    if (v < -dim || v >= dim)
      return invalidArgument("gather: index " + std::to_string(v) + " at position " +
                             std::to_string(j) + " is out of range for axis " +
                             std::to_string(axis) + " of size " + std::to_string(dim));
    index[j] = v < 0 ? v + dim : v;
  }
  const size_t esize = dtypeSize(data.dtype);
  const int64_t outer = product(data.shape, 0, axis);
  const int64_t inner = product(data.shape, axis + 1, data.shape.size());
  const size_t rowBytes = static_cast<size_t>(inner) * esize;
  const char *src = static_cast<const char *>(data.data);
  char *dst = static_cast<char *>(out.data);
  if (rowBytes == 0) // nothing to copy, and an empty tensor may have no data pointer
    return Status::ok();
  parallelFor(ctx, outer * n, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(inner, 1)),
              [&](int64_t b, int64_t e) {
                for (int64_t w = b; w < e; ++w) {
                  const int64_t o = w / std::max<int64_t>(n, 1), j = w % std::max<int64_t>(n, 1);
                  std::memcpy(dst + w * rowBytes, src + (o * dim + index[j]) * rowBytes, rowBytes);
                }
              });
  return Status::ok();
}

/// result[j] = data[offset of j] (elementIndexOffsets): every index is checked before a
/// single element is written.
PRECIS_CPU_KERNEL(gatherElementsKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("gather_elements", inputs, outputs, 2, 2, 1));
  const TensorView &data = inputs[0], &idx = inputs[1], &out = outputs[0];
  if (data.dtype != out.dtype || dtypeSize(data.dtype) == 0 ||
      (idx.dtype != DType::I64 && idx.dtype != DType::I32))
    return unsupportedDtypes("gather_elements", inputs, outputs);
  if (out.shape != idx.shape)
    return badShape("gather_elements", "result shape " + shapeString(out.shape) +
                                           " differs from the indices' " + shapeString(idx.shape));
  std::vector<int64_t> offsets;
  PRECIS_RETURN_IF_ERROR(
      elementIndexOffsets("gather_elements", idx, data.shape, attrs.getInt("axis", 0), offsets));
  const size_t esize = dtypeSize(data.dtype);
  const char *src = static_cast<const char *>(data.data);
  char *dst = static_cast<char *>(out.data);
  parallelFor(ctx, static_cast<int64_t>(offsets.size()), kGrainCheap, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j)
      std::memcpy(dst + j * esize, src + offsets[j] * esize, esize);
  });
  return Status::ok();
}

/// result[t, e] = data[slice of tuple t][e] (tupleIndexOffsets), by element size: every index
/// is checked before a single element is written.
PRECIS_CPU_KERNEL(gatherNdKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("gather_nd", inputs, outputs, 2, 2, 1));
  const TensorView &data = inputs[0], &idx = inputs[1], &out = outputs[0];
  if (data.dtype != out.dtype || dtypeSize(data.dtype) == 0 ||
      (idx.dtype != DType::I64 && idx.dtype != DType::I32))
    return unsupportedDtypes("gather_nd", inputs, outputs);
  std::vector<int64_t> offsets;
  int64_t slice = 0;
  PRECIS_RETURN_IF_ERROR(tupleIndexOffsets("gather_nd", idx, data.shape, offsets, slice));
  std::vector<int64_t> expect(idx.shape.begin(), idx.shape.end() - 1);
  expect.insert(expect.end(), data.shape.end() - (data.rank() - idx.shape.back()),
                data.shape.end());
  if (out.shape != expect)
    return badShape("gather_nd",
                    "result shape " + shapeString(out.shape) + " should be " + shapeString(expect));
  const size_t rowBytes = static_cast<size_t>(slice) * dtypeSize(data.dtype);
  if (rowBytes == 0)
    return Status::ok();
  const char *src = static_cast<const char *>(data.data);
  char *dst = static_cast<char *>(out.data);
  parallelFor(
      ctx, static_cast<int64_t>(offsets.size()),
      std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(slice, 1)), [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t)
          std::memcpy(dst + t * rowBytes, src + offsets[t] * dtypeSize(data.dtype), rowBytes);
      });
  return Status::ok();
}

namespace {
/// scatter_nd add's sum: floats in the compute type, rounded once per update; integers wrap.
template <typename C> C scatterAdd(C a, C b) {
  if constexpr (std::is_integral_v<C>)
    return static_cast<C>(static_cast<std::make_unsigned_t<C>>(a) +
                          static_cast<std::make_unsigned_t<C>>(b));
  else
    return a + b;
}
} // namespace

/// result = data, then the slice of each tuple in order replaced by (`reduction` 0) or added to
/// (1) the tuple's slice of `updates`. Every index is checked before a single element is
/// written.
PRECIS_CPU_KERNEL(scatterNdKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("scatter_nd", inputs, outputs, 3, 3, 1));
  const TensorView &data = inputs[0], &idx = inputs[1], &upd = inputs[2], &out = outputs[0];
  const int64_t reduction = attrs.getInt("reduction", 0);
  if (data.dtype != out.dtype || upd.dtype != out.dtype || dtypeSize(data.dtype) == 0 ||
      (idx.dtype != DType::I64 && idx.dtype != DType::I32))
    return unsupportedDtypes("scatter_nd", inputs, outputs);
  if (reduction != 0 && reduction != 1)
    return invalidArgument("scatter_nd: unknown reduction " + std::to_string(reduction));
  if (out.shape != data.shape)
    return badShape("scatter_nd", "result shape " + shapeString(out.shape) +
                                      " differs from the data's " + shapeString(data.shape));
  std::vector<int64_t> offsets;
  int64_t slice = 0;
  PRECIS_RETURN_IF_ERROR(tupleIndexOffsets("scatter_nd", idx, data.shape, offsets, slice));
  std::vector<int64_t> expect(idx.shape.begin(), idx.shape.end() - 1);
  expect.insert(expect.end(), data.shape.end() - (data.rank() - idx.shape.back()),
                data.shape.end());
  if (upd.shape != expect)
    return badShape("scatter_nd", "updates shape " + shapeString(upd.shape) + " should be " +
                                      shapeString(expect));
  const size_t esize = dtypeSize(data.dtype);
  parallelMemcpy(ctx, out.data, data.data, static_cast<size_t>(data.numElements()) * esize);
  if (reduction == 0) {
    const size_t rowBytes = static_cast<size_t>(slice) * esize;
    for (size_t t = 0; rowBytes && t < offsets.size(); ++t) // in order: the last tuple wins
      std::memcpy(static_cast<char *>(out.data) + offsets[t] * esize,
                  static_cast<const char *>(upd.data) + t * rowBytes, rowBytes);
    return Status::ok();
  }
  auto unsupported = [&] { return unsupportedDtypes("scatter_nd", inputs, outputs); };
  return visitNumeric(out.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using S = typename T::S;
    const S *pu = static_cast<const S *>(upd.data);
    S *po = static_cast<S *>(out.data);
    for (size_t t = 0; t < offsets.size(); ++t)
      for (int64_t e = 0; e < slice; ++e) {
        S &o = po[offsets[t] + e];
        o = T::E::store(scatterAdd(T::E::load(o), T::E::load(pu[t * slice + e])));
      }
    return Status::ok();
  });
}

} // namespace precis::rt::cpu
