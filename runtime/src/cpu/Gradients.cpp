//===- Gradients.cpp - backward kernels the autodiff pass emits -----------===//
//
// max_pool2d_grad, avg_pool2d_grad, slice_grad, gather_grad and nll_loss_grad: the adjoints that
// no composition of forward kernels expresses exactly (PrecisOps.td states each op's semantics),
// and the direct loops of conv2d_grad_input and conv2d_grad_weight (whose kernels run oneDNN in
// Contraction.cpp; the loops are their f64 path, fallback and test reference). Every float
// operand and the result share one dtype; sums accumulate in the compute type (fp32, fp64 for
// f64) and the result is rounded once.
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"

#include <cmath>
#include <cstring>

namespace precis::rt::cpu {
namespace {

bool sameFloat(const TensorView &a, const TensorView &b) {
  return isFloat(a.dtype) && a.dtype == b.dtype;
}

} // namespace

Status convGradDims(const char *kind, const std::vector<int64_t> &x, const std::vector<int64_t> &w,
                    const std::vector<int64_t> &y, const Attrs &attrs, ConvDims &d) {
  if (x.size() != 4 || w.size() != 4 || y.size() != 4)
    return badShape(kind, "expects rank-4 input, weight and gradient");
  const auto s = attrs.getInts("strides", {1, 1}), p = attrs.getInts("pads", {0, 0, 0, 0}),
             dl = attrs.getInts("dilations", {1, 1});
  const int64_t groups = attrs.getInt("groups", 1);
  if (s.size() != 2 || p.size() != 4 || dl.size() != 2 || groups < 1 || s[0] < 1 || s[1] < 1 ||
      dl[0] < 1 || dl[1] < 1)
    return badShape(kind, "bad strides, pads, dilations or groups");
  d = {x[0],   x[1], x[2], x[3], w[0], w[1],  w[2],  w[3], y[2], y[3],
       groups, s[0], s[1], p[0], p[1], dl[0], dl[1], p[2], p[3]};
  if (d.C != d.Cg * groups || d.O % groups || y[0] != d.N || y[1] != d.O)
    return badShape(kind, "channels of input, weight and gradient do not match");
  for (int i = 0; i < 2; ++i) {
    const int64_t out = (x[2 + i] + p[i] + p[2 + i] - dl[i] * (w[2 + i] - 1) - 1) / s[i] + 1;
    if (out != y[2 + i])
      return badShape(kind, "gradient spatial size does not match the convolution");
  }
  return Status::ok();
}

Status conv2dGradInputLoops(const KernelContext &ctx, const TensorView &G, const TensorView &Wt,
                            const TensorView &out, const ConvDims &d) {
  auto unsupported = [&] {
    return unsupportedDtypes("conv2d_grad_input", {G, Wt}, std::vector<TensorView>{out});
  };
  return visitFloat(out.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using C = typename T::C;
    using E = typename T::E;
    const auto *g = static_cast<const typename T::S *>(G.data);
    const auto *w = static_cast<const typename T::S *>(Wt.data);
    auto *dx = static_cast<typename T::S *>(out.data);
    const int64_t Og = d.O / d.groups, plane = d.H * d.W;
    parallelFor(ctx, d.N, 1, [&](int64_t b, int64_t e) {
      std::vector<C> acc(static_cast<size_t>(d.C * plane));
      for (int64_t n = b; n < e; ++n) {
        std::fill(acc.begin(), acc.end(), C(0));
        for (int64_t o = 0; o < d.O; ++o) {
          const int64_t c0 = (o / Og) * d.Cg;
          for (int64_t oh = 0; oh < d.OH; ++oh)
            for (int64_t ow = 0; ow < d.OW; ++ow) {
              const C gv = E::load(g[((n * d.O + o) * d.OH + oh) * d.OW + ow]);
              for (int64_t c = 0; c < d.Cg; ++c)
                for (int64_t i = 0; i < d.KH; ++i) {
                  const int64_t h = oh * d.sh - d.pt + i * d.dh;
                  if (h < 0 || h >= d.H)
                    continue;
                  for (int64_t j = 0; j < d.KW; ++j) {
                    const int64_t x = ow * d.sw - d.pl + j * d.dw;
                    if (x < 0 || x >= d.W)
                      continue;
                    acc[(c0 + c) * plane + h * d.W + x] +=
                        gv * E::load(w[((o * d.Cg + c) * d.KH + i) * d.KW + j]);
                  }
                }
            }
        }
        for (int64_t k = 0; k < d.C * plane; ++k)
          dx[n * d.C * plane + k] = E::store(acc[k]);
      }
    });
    return Status::ok();
  });
}

Status conv2dGradWeightLoops(const KernelContext &ctx, const TensorView &X, const TensorView &G,
                             const TensorView &out, const ConvDims &d) {
  auto unsupported = [&] {
    return unsupportedDtypes("conv2d_grad_weight", {X, G}, std::vector<TensorView>{out});
  };
  return visitFloat(out.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using C = typename T::C;
    using E = typename T::E;
    const auto *g = static_cast<const typename T::S *>(G.data);
    const auto *x = static_cast<const typename T::S *>(X.data);
    auto *dw = static_cast<typename T::S *>(out.data);
    const int64_t Og = d.O / d.groups;
    parallelFor(ctx, d.O, 1, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const int64_t c0 = (o / Og) * d.Cg;
        for (int64_t c = 0; c < d.Cg; ++c)
          for (int64_t i = 0; i < d.KH; ++i)
            for (int64_t j = 0; j < d.KW; ++j) {
              C acc = 0;
              for (int64_t n = 0; n < d.N; ++n)
                for (int64_t oh = 0; oh < d.OH; ++oh) {
                  const int64_t h = oh * d.sh - d.pt + i * d.dh;
                  if (h < 0 || h >= d.H)
                    continue;
                  for (int64_t ow = 0; ow < d.OW; ++ow) {
                    const int64_t xw = ow * d.sw - d.pl + j * d.dw;
                    if (xw < 0 || xw >= d.W)
                      continue;
                    acc += E::load(g[((n * d.O + o) * d.OH + oh) * d.OW + ow]) *
                           E::load(x[((n * d.C + c0 + c) * d.H + h) * d.W + xw]);
                  }
                }
              dw[((o * d.Cg + c) * d.KH + i) * d.KW + j] = E::store(acc);
            }
      }
    });
    return Status::ok();
  });
}

PRECIS_CPU_KERNEL(maxPool2dGradKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("max_pool2d_grad", inputs, outputs, 2, 2, 1));
  const TensorView &G = inputs[0], &X = inputs[1], &out = outputs[0];
  if (!sameFloat(G, X) || !sameFloat(G, out))
    return unsupportedDtypes("max_pool2d_grad", inputs, outputs);
  if (X.rank() != 4 || G.rank() != 4 || out.shape != X.shape || G.shape[0] != X.shape[0] ||
      G.shape[1] != X.shape[1])
    return badShape("max_pool2d_grad",
                    "expects NCHW gradient and input, result of the input's shape");
  const auto k = attrs.getInts("kernel", {}), s = attrs.getInts("strides", {1, 1}),
             p = attrs.getInts("pads", {0, 0, 0, 0}), dl = attrs.getInts("dilations", {1, 1});
  if (k.size() != 2 || s.size() != 2 || p.size() != 4 || dl.size() != 2)
    return badShape("max_pool2d_grad", "kernel, strides, dilations need 2 values and pads 4");
  const int64_t H = X.shape[2], W = X.shape[3], OH = G.shape[2], OW = G.shape[3];
  auto unsupported = [&] { return unsupportedDtypes("max_pool2d_grad", inputs, outputs); };
  return visitFloat(out.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using C = typename T::C;
    using E = typename T::E;
    const auto *g = static_cast<const typename T::S *>(G.data);
    const auto *x = static_cast<const typename T::S *>(X.data);
    auto *dx = static_cast<typename T::S *>(out.data);
    parallelFor(ctx, X.shape[0] * X.shape[1], 1, [&](int64_t b, int64_t e) {
      std::vector<C> acc(static_cast<size_t>(H * W));
      for (int64_t plane = b; plane < e; ++plane) {
        std::fill(acc.begin(), acc.end(), C(0));
        const auto *xp = x + plane * H * W;
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            // The forward kernel's choice: the first maximum in window order (NaN wins).
            C m = -std::numeric_limits<C>::infinity();
            int64_t arg = -1;
            for (int64_t i = 0; i < k[0]; ++i) {
              const int64_t h = oh * s[0] - p[0] + i * dl[0];
              if (h < 0 || h >= H)
                continue;
              for (int64_t j = 0; j < k[1]; ++j) {
                const int64_t w = ow * s[1] - p[1] + j * dl[1];
                if (w < 0 || w >= W)
                  continue;
                const C v = E::load(xp[h * W + w]);
                if (arg < 0 || ((v > m || v != v) && m == m))
                  m = v, arg = h * W + w;
              }
            }
            if (arg >= 0)
              acc[arg] += E::load(g[(plane * OH + oh) * OW + ow]);
          }
        for (int64_t i = 0; i < H * W; ++i)
          dx[plane * H * W + i] = E::store(acc[i]);
      }
    });
    return Status::ok();
  });
}

PRECIS_CPU_KERNEL(avgPool2dGradKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("avg_pool2d_grad", inputs, outputs, 1, 1, 1));
  const TensorView &G = inputs[0], &out = outputs[0];
  if (!sameFloat(G, out))
    return unsupportedDtypes("avg_pool2d_grad", inputs, outputs);
  if (out.rank() != 4 || G.rank() != 4 || G.shape[0] != out.shape[0] || G.shape[1] != out.shape[1])
    return badShape("avg_pool2d_grad", "expects NCHW gradient and result");
  const auto k = attrs.getInts("kernel", {}), s = attrs.getInts("strides", {1, 1}),
             p = attrs.getInts("pads", {0, 0, 0, 0});
  if (k.size() != 2 || s.size() != 2 || p.size() != 4)
    return badShape("avg_pool2d_grad", "kernel and strides need 2 values and pads 4");
  const bool countIncludePad = attrs.getInt("count_include_pad", 0) != 0;
  const int64_t H = out.shape[2], W = out.shape[3], OH = G.shape[2], OW = G.shape[3];
  auto unsupported = [&] { return unsupportedDtypes("avg_pool2d_grad", inputs, outputs); };
  return visitFloat(out.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using C = typename T::C;
    using E = typename T::E;
    const auto *g = static_cast<const typename T::S *>(G.data);
    auto *dx = static_cast<typename T::S *>(out.data);
    parallelFor(ctx, out.shape[0] * out.shape[1], 1, [&](int64_t b, int64_t e) {
      std::vector<C> acc(static_cast<size_t>(H * W));
      for (int64_t plane = b; plane < e; ++plane) {
        std::fill(acc.begin(), acc.end(), C(0));
        for (int64_t oh = 0; oh < OH; ++oh) {
          // The forward kernel's window and divisor (Pooling.cpp).
          const int64_t h0 = oh * s[0] - p[0], hPadEnd = std::min(h0 + k[0], H + p[2]);
          const int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h0 + k[0], H);
          for (int64_t ow = 0; ow < OW; ++ow) {
            const int64_t w0 = ow * s[1] - p[1], wPadEnd = std::min(w0 + k[1], W + p[3]);
            const int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w0 + k[1], W);
            const int64_t count =
                countIncludePad ? (hPadEnd - h0) * (wPadEnd - w0)
                                : std::max<int64_t>(he - hs, 0) * std::max<int64_t>(we - ws, 0);
            if (count <= 0)
              continue;
            const C share = E::load(g[(plane * OH + oh) * OW + ow]) / static_cast<C>(count);
            for (int64_t h = hs; h < he; ++h)
              for (int64_t w = ws; w < we; ++w)
                acc[h * W + w] += share;
          }
        }
        for (int64_t i = 0; i < H * W; ++i)
          dx[plane * H * W + i] = E::store(acc[i]);
      }
    });
    return Status::ok();
  });
}

PRECIS_CPU_KERNEL(sliceGradKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("slice_grad", inputs, outputs, 1, 1, 1));
  const TensorView &G = inputs[0], &out = outputs[0];
  if (G.dtype != out.dtype || G.rank() != out.rank())
    return unsupportedDtypes("slice_grad", inputs, outputs);
  const int64_t rank = out.rank();
  const auto start = attrs.getInts("start", {}), limit = attrs.getInts("limit", {}),
             step = attrs.getInts("step", {});
  if (static_cast<int64_t>(start.size()) != rank || static_cast<int64_t>(limit.size()) != rank ||
      static_cast<int64_t>(step.size()) != rank)
    return badShape("slice_grad", "start, limit and step must have the result's rank");
  const std::vector<int64_t> strides = contiguousStrides(out.shape);
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t n = G.shape[d], last = start[d] + (n - 1) * step[d];
    if (step[d] == 0 ||
        (n > 0 && (start[d] < 0 || start[d] >= out.shape[d] || last < 0 || last >= out.shape[d])))
      return badShape("slice_grad", "dimension " + std::to_string(d) + " writes outside [0, " +
                                        std::to_string(out.shape[d]) + ")");
  }
  const size_t esize = dtypeSize(out.dtype);
  std::memset(out.data, 0, out.byteSize()); // zero is all-zero bytes in every dtype
  const int64_t n = G.numElements();
  const auto *src = static_cast<const uint8_t *>(G.data);
  auto *dst = static_cast<uint8_t *>(out.data);
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int64_t d = 0; d < rank; ++d)
      off += (start[d] + idx[d] * step[d]) * strides[d];
    std::memcpy(dst + off * esize, src + i * esize, esize);
    for (int64_t d = rank - 1; d >= 0; --d)
      if (++idx[d] < G.shape[d])
        break;
      else
        idx[d] = 0;
  }
  (void)ctx;
  return Status::ok();
}

PRECIS_CPU_KERNEL(gatherGradKernel) {
  (void)ctx;
  PRECIS_RETURN_IF_ERROR(checkArity("gather_grad", inputs, outputs, 2, 2, 1));
  const TensorView &G = inputs[0], &I = inputs[1], &out = outputs[0];
  if (!sameFloat(G, out) || (I.dtype != DType::I64 && I.dtype != DType::I32))
    return unsupportedDtypes("gather_grad", inputs, outputs);
  int64_t axis = attrs.getInt("axis", 0);
  if (!normalizeAxis(axis, out.rank()))
    return badShape("gather_grad", "axis out of range");
  std::vector<int64_t> expected(out.shape.begin(), out.shape.begin() + axis);
  expected.insert(expected.end(), I.shape.begin(), I.shape.end());
  expected.insert(expected.end(), out.shape.begin() + axis + 1, out.shape.end());
  if (G.shape != expected)
    return badShape("gather_grad", "gradient shape " + shapeString(G.shape) + " should be " +
                                       shapeString(expected));
  const int64_t outer = product(out.shape, 0, axis), A = out.shape[axis],
                inner = product(out.shape, axis + 1, out.shape.size()), J = I.numElements();
  auto unsupported = [&] { return unsupportedDtypes("gather_grad", inputs, outputs); };
  return visitFloat(out.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using C = typename T::C;
    using E = typename T::E;
    const auto *g = static_cast<const typename T::S *>(G.data);
    auto *dx = static_cast<typename T::S *>(out.data);
    std::vector<C> acc(static_cast<size_t>(outer * A * inner), C(0));
    for (int64_t j = 0; j < J; ++j) {
      int64_t idx = I.dtype == DType::I64 ? static_cast<const int64_t *>(I.data)[j]
                                          : static_cast<const int32_t *>(I.data)[j];
      if (idx < -A || idx >= A)
        return invalidArgument("gather_grad: index " + std::to_string(idx) + " out of range [" +
                               std::to_string(-A) + ", " + std::to_string(A) + ")");
      if (idx < 0)
        idx += A;
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i)
          acc[(o * A + idx) * inner + i] += E::load(g[(o * J + j) * inner + i]);
    }
    for (size_t i = 0; i < acc.size(); ++i)
      dx[i] = E::store(acc[i]);
    return Status::ok();
  });
}

/// dx[offset of j] += grad[j] from zero, in index order (elementIndexOffsets), accumulating
/// in the compute type.
PRECIS_CPU_KERNEL(gatherElementsGradKernel) {
  (void)ctx;
  PRECIS_RETURN_IF_ERROR(checkArity("gather_elements_grad", inputs, outputs, 2, 2, 1));
  const TensorView &G = inputs[0], &I = inputs[1], &out = outputs[0];
  if (!sameFloat(G, out) || (I.dtype != DType::I64 && I.dtype != DType::I32))
    return unsupportedDtypes("gather_elements_grad", inputs, outputs);
  if (G.shape != I.shape)
    return badShape("gather_elements_grad", "gradient shape " + shapeString(G.shape) +
                                                " differs from the indices' " +
                                                shapeString(I.shape));
  std::vector<int64_t> offsets;
  PRECIS_RETURN_IF_ERROR(
      elementIndexOffsets("gather_elements_grad", I, out.shape, attrs.getInt("axis", 0), offsets));
  auto unsupported = [&] { return unsupportedDtypes("gather_elements_grad", inputs, outputs); };
  return visitFloat(out.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using C = typename T::C;
    using E = typename T::E;
    const auto *g = static_cast<const typename T::S *>(G.data);
    auto *dx = static_cast<typename T::S *>(out.data);
    std::vector<C> acc(static_cast<size_t>(out.numElements()), C(0));
    for (size_t j = 0; j < offsets.size(); ++j)
      acc[offsets[j]] += E::load(g[j]);
    for (size_t i = 0; i < acc.size(); ++i)
      dx[i] = E::store(acc[i]);
    return Status::ok();
  });
}

PRECIS_CPU_KERNEL(nllLossGradKernel) {
  (void)ctx;
  PRECIS_RETURN_IF_ERROR(checkArity("nll_loss_grad", inputs, outputs, 2, 3, 1));
  const TensorView &G = inputs[0], &target = inputs[1], &out = outputs[0];
  const TensorView *weights = inputs.size() > 2 ? &inputs[2] : nullptr;
  if (!sameFloat(G, out) || (weights && !isFloat(weights->dtype)) ||
      (target.dtype != DType::I64 && target.dtype != DType::I32))
    return unsupportedDtypes("nll_loss_grad", inputs, outputs);
  if (out.rank() < 2)
    return badShape("nll_loss_grad", "result must be N x C x D1 ...");
  const int64_t N = out.shape[0], Cn = out.shape[1], D = product(out.shape, 2, out.shape.size());
  std::vector<int64_t> tshape{N};
  tshape.insert(tshape.end(), out.shape.begin() + 2, out.shape.end());
  const int64_t reduction = attrs.getInt("reduction", 2);
  if (target.shape != tshape || (reduction == 0 ? G.shape != tshape : G.numElements() != 1) ||
      (weights && weights->numElements() != Cn))
    return badShape("nll_loss_grad", "target, gradient or weights shape does not match");
  const bool hasIgnore = attrs.has("ignore_index");
  const int64_t ignoreIndex = attrs.getInt("ignore_index", 0);
  std::vector<int64_t> labels(static_cast<size_t>(N * D));
  std::vector<double> w(labels.size());
  double wsum = 0;
  for (int64_t i = 0; i < N * D; ++i) {
    const int64_t v = target.dtype == DType::I64 ? static_cast<const int64_t *>(target.data)[i]
                                                 : static_cast<const int32_t *>(target.data)[i];
    const bool ignored = hasIgnore && v == ignoreIndex;
    if (!ignored && (v < 0 || v >= Cn))
      return invalidArgument("nll_loss_grad: label " + std::to_string(v) + " is outside [0, " +
                             std::to_string(Cn) + ")");
    labels[i] = v;
    w[i] = ignored                        ? 0.0
           : !weights                     ? 1.0
           : weights->dtype == DType::F64 ? static_cast<const double *>(weights->data)[v]
                                          : static_cast<double>(loadAsFloat(*weights, v));
    wsum += w[i];
  }
  const double denom = reduction == 2 ? wsum : 1.0;
  auto unsupported = [&] { return unsupportedDtypes("nll_loss_grad", inputs, outputs); };
  return visitFloat(out.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using C = typename T::C;
    using E = typename T::E;
    const auto *g = static_cast<const typename T::S *>(G.data);
    auto *dx = static_cast<typename T::S *>(out.data);
    for (int64_t i = 0; i < out.numElements(); ++i)
      dx[i] = E::store(C(0));
    for (int64_t i = 0; i < N * D; ++i) {
      if (w[i] == 0.0)
        continue;
      const int64_t n = i / D, d = i % D;
      const double gv = static_cast<double>(E::load(g[reduction == 0 ? i : 0]));
      dx[(n * Cn + labels[i]) * D + d] = E::store(static_cast<C>(-w[i] * gv / denom));
    }
    return Status::ok();
  });
}

} // namespace precis::rt::cpu
