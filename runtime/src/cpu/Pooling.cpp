//===- Pooling.cpp - 2-D max and average pooling ---------------------------===//
//
// NCHW pooling with ONNX MaxPool / AveragePool semantics (PyTorch's, which ONNX Runtime
// follows): output position o reads input rows o * stride - pad_top + i * dilation for
// i < kernel; padded positions never win a max (they are -inf) and, for the average, count in
// the divisor only with count_include_pad, and then only inside the explicit padding: window
// positions that ceil_mode pushes past H + pad_bottom never count. With ceil_mode the output
// size rounds up, except that a window may not start past H + pad_top (the last one is then
// dropped). The result shape is checked against these rules. Maxima propagate NaN; sums
// accumulate in double.
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

namespace precis::rt::cpu {
namespace {

struct PoolGeometry {
  int64_t N, C, H, W, OH, OW;
  int64_t kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
};

int64_t pooledSize(int64_t in, int64_t padBegin, int64_t padEnd, int64_t k, int64_t s, int64_t d,
                   bool ceilMode) {
  const int64_t span = in + padBegin + padEnd - d * (k - 1) - 1;
  if (span < 0)
    return 0;
  int64_t out = (ceilMode ? (span + s - 1) / s : span / s) + 1;
  if (ceilMode && (out - 1) * s >= in + padBegin)
    --out;
  return out;
}

Status poolGeometry(const char *kind, const TensorView &in, const TensorView &out,
                    const Attrs &attrs, bool hasDilation, PoolGeometry &g) {
  if (in.rank() != 4 || out.rank() != 4)
    return badShape(kind, "expects rank-4 NCHW input and result");
  const std::vector<int64_t> k = attrs.getInts("kernel", {});
  const std::vector<int64_t> s = attrs.getInts("strides", {1, 1});
  const std::vector<int64_t> p = attrs.getInts("pads", {0, 0, 0, 0});
  const std::vector<int64_t> d =
      hasDilation ? attrs.getInts("dilations", {1, 1}) : std::vector<int64_t>{1, 1};
  if (k.size() != 2 || s.size() != 2 || p.size() != 4 || d.size() != 2)
    return badShape(kind, "kernel, strides, dilations need 2 values and pads 4");
  if (k[0] < 1 || k[1] < 1 || s[0] < 1 || s[1] < 1 || d[0] < 1 || d[1] < 1 || p[0] < 0 ||
      p[1] < 0 || p[2] < 0 || p[3] < 0)
    return badShape(kind, "kernel, strides and dilations must be positive, pads non-negative");
  const bool ceilMode = attrs.getInt("ceil_mode", 0) != 0;
  g = {in.shape[0], in.shape[1], in.shape[2], in.shape[3], out.shape[2], out.shape[3], k[0], k[1],
       s[0],        s[1],        p[0],        p[1],        p[2],         p[3],         d[0], d[1]};
  const int64_t eh = pooledSize(g.H, g.pt, g.pb, g.kh, g.sh, g.dh, ceilMode);
  const int64_t ew = pooledSize(g.W, g.pl, g.pr, g.kw, g.sw, g.dw, ceilMode);
  if (out.shape[0] != g.N || out.shape[1] != g.C || eh != g.OH || ew != g.OW)
    return badShape(kind, "result shape " + shapeString(out.shape) + " should be " +
                              shapeString({g.N, g.C, eh, ew}));
  return Status::ok();
}

/// The output columns [lo, hi) whose window column j reads inside the input: 0 <= ow * sw -
/// pl + j * dw < W.
std::pair<int64_t, int64_t> validColumns(const PoolGeometry &g, int64_t j) {
  const int64_t off = g.pl - j * g.dw; // w = ow * sw - off
  int64_t lo = off > 0 ? (off + g.sw - 1) / g.sw : 0;
  int64_t hi = g.W - 1 + off >= 0 ? (g.W - 1 + off) / g.sw + 1 : 0;
  lo = std::min(lo, g.OW);
  hi = std::max(lo, std::min(hi, g.OW));
  return {lo, hi};
}

/// Row by row: for each window position (i, j), in the order i then j, every output column of
/// the row is updated at once, so the inner loop has no bounds checks. Each output sees the
/// same values in the same order as a loop over its own window would, so ties (-0 against +0)
/// and NaN resolve the same way: the first NaN wins and stays, otherwise the first maximum.
template <typename T>
void maxPoolLoop(const KernelContext &ctx, const PoolGeometry &g, const TensorView &in,
                 const TensorView &out) {
  using S = typename T::S;
  using C = typename T::C;
  using E = typename T::E;
  const S *px = static_cast<const S *>(in.data);
  S *po = static_cast<S *>(out.data);
  std::vector<std::pair<int64_t, int64_t>> cols(static_cast<size_t>(g.kw));
  for (int64_t j = 0; j < g.kw; ++j)
    cols[j] = validColumns(g, j);
  const int64_t work = g.OH * g.OW * g.kh * g.kw;
  parallelFor(ctx, g.N * g.C, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(work, 1)),
              [&](int64_t b, int64_t e) {
                std::vector<C> row(static_cast<size_t>(g.OW));
                for (int64_t plane = b; plane < e; ++plane) {
                  const S *x = px + plane * g.H * g.W;
                  S *y = po + plane * g.OH * g.OW;
                  for (int64_t oh = 0; oh < g.OH; ++oh) {
                    std::fill(row.begin(), row.end(), -std::numeric_limits<C>::infinity());
                    C *m = row.data();
                    for (int64_t i = 0; i < g.kh; ++i) {
                      const int64_t h = oh * g.sh - g.pt + i * g.dh;
                      if (h < 0 || h >= g.H)
                        continue;
                      for (int64_t j = 0; j < g.kw; ++j) {
                        const int64_t base = h * g.W + j * g.dw - g.pl;
                        const int64_t lo = cols[j].first, hi = cols[j].second;
                        for (int64_t ow = lo; ow < hi; ++ow) {
                          const C v = E::load(x[base + ow * g.sw]);
                          m[ow] = (v > m[ow] || v != v) && m[ow] == m[ow] ? v : m[ow];
                        }
                      }
                    }
                    for (int64_t ow = 0; ow < g.OW; ++ow)
                      y[oh * g.OW + ow] = E::store(m[ow]);
                  }
                }
              });
}

template <typename T>
void avgPoolLoop(const KernelContext &ctx, const PoolGeometry &g, bool countIncludePad,
                 const TensorView &in, const TensorView &out) {
  using S = typename T::S;
  using C = typename T::C;
  using E = typename T::E;
  const S *px = static_cast<const S *>(in.data);
  S *po = static_cast<S *>(out.data);
  const int64_t work = g.OH * g.OW * g.kh * g.kw;
  parallelFor(ctx, g.N * g.C, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(work, 1)),
              [&](int64_t b, int64_t e) {
                for (int64_t plane = b; plane < e; ++plane) {
                  const S *x = px + plane * g.H * g.W;
                  S *y = po + plane * g.OH * g.OW;
                  for (int64_t oh = 0; oh < g.OH; ++oh) {
                    const int64_t h0 = oh * g.sh - g.pt;
                    const int64_t hPadEnd = std::min(h0 + g.kh, g.H + g.pb);
                    const int64_t hs = std::max<int64_t>(h0, 0), he = std::min(h0 + g.kh, g.H);
                    for (int64_t ow = 0; ow < g.OW; ++ow) {
                      const int64_t w0 = ow * g.sw - g.pl;
                      const int64_t wPadEnd = std::min(w0 + g.kw, g.W + g.pr);
                      const int64_t ws = std::max<int64_t>(w0, 0), we = std::min(w0 + g.kw, g.W);
                      double sum = 0.0;
                      for (int64_t h = hs; h < he; ++h)
                        for (int64_t w = ws; w < we; ++w)
                          sum += static_cast<double>(E::load(x[h * g.W + w]));
                      const int64_t count = countIncludePad ? (hPadEnd - h0) * (wPadEnd - w0)
                                                            : std::max<int64_t>(he - hs, 0) *
                                                                  std::max<int64_t>(we - ws, 0);
                      y[oh * g.OW + ow] =
                          E::store(static_cast<C>(sum / static_cast<double>(count)));
                    }
                  }
                }
              });
}

} // namespace

PRECIS_CPU_KERNEL(maxPool2dKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("max_pool2d", inputs, outputs, 1, 1, 1));
  const TensorView &in = inputs[0], &out = outputs[0];
  if (in.dtype != out.dtype)
    return unsupportedDtypes("max_pool2d", inputs, outputs);
  PoolGeometry g;
  PRECIS_RETURN_IF_ERROR(poolGeometry("max_pool2d", in, out, attrs, true, g));
  auto unsupported = [&] { return unsupportedDtypes("max_pool2d", inputs, outputs); };
  return visitFloat(in.dtype, unsupported, [&](auto tag) {
    maxPoolLoop<decltype(tag)>(ctx, g, in, out);
    return Status::ok();
  });
}

PRECIS_CPU_KERNEL(avgPool2dKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("avg_pool2d", inputs, outputs, 1, 1, 1));
  const TensorView &in = inputs[0], &out = outputs[0];
  if (in.dtype != out.dtype)
    return unsupportedDtypes("avg_pool2d", inputs, outputs);
  PoolGeometry g;
  PRECIS_RETURN_IF_ERROR(poolGeometry("avg_pool2d", in, out, attrs, false, g));
  const bool countIncludePad = attrs.getInt("count_include_pad", 0) != 0;
  auto unsupported = [&] { return unsupportedDtypes("avg_pool2d", inputs, outputs); };
  return visitFloat(in.dtype, unsupported, [&](auto tag) {
    avgPoolLoop<decltype(tag)>(ctx, g, countIncludePad, in, out);
    return Status::ok();
  });
}

} // namespace precis::rt::cpu
