//===- GradientKernelsTest.cpp - backward kernels against fp64 references --===//
//
// The backward kernels of the autodiff pass (conv2d_grad_input, conv2d_grad_weight,
// max_pool2d_grad, avg_pool2d_grad, slice_grad, gather_grad, nll_loss_grad) on random inputs, in
// f64, f32 and bf16, against references written here in double. The references are the *gather*
// form of each adjoint (for every result element, sum the forward terms that touch it), while the
// kernels scatter, so the two share no index arithmetic. Inputs are drawn fresh each run; the seed
// is printed with every failure and PRECIS_TEST_SEED=<seed> replays it.
//
// Tolerance: |got - ref| <= rel * |ref| + acc * sum|terms|, with acc the compute type's unit
// roundoff times the number of terms (a bound on any summation order) and rel one ulp of the
// output format.
//
// The convolution gradients run oneDNN primitives; ConvGradientSweep also compares them, over a
// sweep of geometries (strides, pads, dilations, groups, depthwise) in f32, bf16 and f16, with
// the direct loops they replaced (Gradients.cpp), run in the same dtype and in f64.
//
//===----------------------------------------------------------------------===//

#include "KernelTestUtil.h"
#include "cpu/Kernel.h"
#include "cpu/KernelSupport.h"

#include "precis/runtime/numerics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>

using namespace precis;
using namespace precis::rt;
using namespace precis::rt::testing;

namespace {

Buffer indexBuffer(std::vector<int64_t> shape, const std::vector<int64_t> &values) {
  Buffer b{DType::I64, shape, std::vector<uint8_t>(values.size() * 8)};
  std::memcpy(b.bytes.data(), values.data(), b.bytes.size());
  return b;
}

Buffer output(DType dtype, std::vector<int64_t> shape) {
  return {dtype, shape, std::vector<uint8_t>(count(shape) * dtypeSize(dtype))};
}

double load(const Buffer &b, int64_t i) {
  if (b.dtype == DType::F64)
    return reinterpret_cast<const double *>(b.bytes.data())[i];
  if (b.dtype == DType::F32)
    return reinterpret_cast<const float *>(b.bytes.data())[i];
  if (b.dtype == DType::F16)
    return fp16_to_float(reinterpret_cast<const uint16_t *>(b.bytes.data())[i]);
  return bf16_to_float(reinterpret_cast<const uint16_t *>(b.bytes.data())[i]);
}

std::vector<double> uniform(std::mt19937_64 &rng, int64_t n) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (double &x : v)
    x = u(rng);
  return v;
}

/// Unit roundoff of the compute type and one ulp (relative) of the output format.
double unitRoundoff(DType d) { return d == DType::F64 ? 0x1p-53 : 0x1p-24; }
double outputUlp(DType d) { return d == DType::F64 ? 0x1p-52 : d == DType::F32 ? 0x1p-23 : 0x1p-8; }

Attrs makeAttrs(std::map<std::string, AttrValue> m) { return Attrs(std::move(m)); }
AttrValue ints(std::vector<int64_t> v) {
  AttrValue a;
  a.kind = AttrValue::Kind::Ints;
  a.ints = std::move(v);
  return a;
}
AttrValue integer(int64_t v) {
  AttrValue a;
  a.i = v;
  return a;
}

/// Runs kernel `kind` and compares every result element with `ref` (value, sum of |terms|,
/// term count).
struct Ref {
  double value = 0, magnitude = 0;
  int64_t terms = 0;
  void add(double t) {
    value += t;
    magnitude += std::fabs(t);
    ++terms;
  }
};

void check(const char *kind, std::vector<TensorView> inputs, Buffer &out, const Attrs &attrs,
           const std::vector<Ref> &ref) {
  KernelFn fn = findCpuKernel(kind);
  ASSERT_NE(fn, nullptr) << kind;
  std::vector<TensorView> outputs{out.view()};
  KernelContext ctx;
  ctx.numThreads = 2;
  Status s = fn(ctx, inputs, outputs, attrs);
  ASSERT_TRUE(s.isOk()) << s.message();
  ASSERT_EQ(static_cast<int64_t>(ref.size()), count(out.shape));
  for (size_t i = 0; i < ref.size(); ++i) {
    const double got = load(out, static_cast<int64_t>(i));
    const double tol = outputUlp(out.dtype) * std::fabs(ref[i].value) +
                       (ref[i].terms + 1) * unitRoundoff(out.dtype) * ref[i].magnitude;
    EXPECT_LE(std::fabs(got - ref[i].value), tol)
        << kind << " " << dtypeName(out.dtype) << " [" << i << "]: got " << got << ", want "
        << ref[i].value;
  }
}

class GradientKernels : public ::testing::TestWithParam<DType> {
protected:
  void SetUp() override {
    seed_ = testSeed();
    rng_.seed(seed_);
  }
  std::string trace() const {
    return "seed " + std::to_string(seed_) + " (PRECIS_TEST_SEED replays it)";
  }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

/// Convolution geometry shared by the two conv tests: groups 2, stride 2, asymmetric pads,
/// dilation (1, 2).
struct Conv {
  int64_t N = 2, C = 4, H = 7, W = 8, O = 6, groups = 2, KH = 3, KW = 2;
  int64_t sh = 2, sw = 1, pt = 1, pl = 0, pb = 0, pr = 2, dh = 1, dw = 2;
  int64_t Cg() const { return C / groups; }
  int64_t OH() const { return (H + pt + pb - dh * (KH - 1) - 1) / sh + 1; }
  int64_t OW() const { return (W + pl + pr - dw * (KW - 1) - 1) / sw + 1; }
  Attrs attrs() const {
    return makeAttrs({{"strides", ints({sh, sw})},
                      {"pads", ints({pt, pl, pb, pr})},
                      {"dilations", ints({dh, dw})},
                      {"groups", integer(groups)}});
  }
  /// Calls f(n, o, oh, ow, c (absolute), i, j, h, w) for every term of the forward conv.
  template <typename F> void forEachTerm(F &&f) const {
    const int64_t Og = O / groups;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t oh = 0; oh < OH(); ++oh)
          for (int64_t ow = 0; ow < OW(); ++ow)
            for (int64_t c = 0; c < Cg(); ++c)
              for (int64_t i = 0; i < KH; ++i)
                for (int64_t j = 0; j < KW; ++j) {
                  const int64_t h = oh * sh - pt + i * dh, w = ow * sw - pl + j * dw;
                  if (h >= 0 && h < H && w >= 0 && w < W)
                    f(n, o, oh, ow, (o / Og) * Cg() + c, c, i, j, h, w);
                }
  }
};

TEST_P(GradientKernels, Conv2dGradInput) {
  SCOPED_TRACE(trace());
  const DType dt = GetParam();
  Conv g;
  auto gv = uniform(rng_, g.N * g.O * g.OH() * g.OW());
  auto wv = uniform(rng_, g.O * g.Cg() * g.KH * g.KW);
  Buffer G = floatBuffer(dt, {g.N, g.O, g.OH(), g.OW()}, gv);
  Buffer Wt = floatBuffer(dt, {g.O, g.Cg(), g.KH, g.KW}, wv);
  Buffer out = output(dt, {g.N, g.C, g.H, g.W});
  // Gather form: result element (n, c, h, w) collects the terms that read input (n, c, h, w).
  std::vector<Ref> ref(static_cast<size_t>(count(out.shape)));
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t h = 0; h < g.H; ++h)
        for (int64_t w = 0; w < g.W; ++w) {
          Ref &r = ref[((n * g.C + c) * g.H + h) * g.W + w];
          const int64_t Og = g.O / g.groups, grp = c / g.Cg();
          for (int64_t o = grp * Og; o < (grp + 1) * Og; ++o)
            for (int64_t i = 0; i < g.KH; ++i)
              for (int64_t j = 0; j < g.KW; ++j) {
                const int64_t ohs = h + g.pt - i * g.dh, ows = w + g.pl - j * g.dw;
                if (ohs < 0 || ows < 0 || ohs % g.sh || ows % g.sw)
                  continue;
                const int64_t oh = ohs / g.sh, ow = ows / g.sw;
                if (oh >= g.OH() || ow >= g.OW())
                  continue;
                r.add(gv[((n * g.O + o) * g.OH() + oh) * g.OW() + ow] *
                      wv[((o * g.Cg() + c % g.Cg()) * g.KH + i) * g.KW + j]);
              }
        }
  check("conv2d_grad_input", {G.view(), Wt.view()}, out, g.attrs(), ref);
}

TEST_P(GradientKernels, Conv2dGradWeight) {
  SCOPED_TRACE(trace());
  const DType dt = GetParam();
  Conv g;
  auto xv = uniform(rng_, g.N * g.C * g.H * g.W);
  auto gv = uniform(rng_, g.N * g.O * g.OH() * g.OW());
  Buffer X = floatBuffer(dt, {g.N, g.C, g.H, g.W}, xv);
  Buffer G = floatBuffer(dt, {g.N, g.O, g.OH(), g.OW()}, gv);
  Buffer out = output(dt, {g.O, g.Cg(), g.KH, g.KW});
  std::vector<Ref> ref(static_cast<size_t>(count(out.shape)));
  g.forEachTerm([&](int64_t n, int64_t o, int64_t oh, int64_t ow, int64_t cAbs, int64_t c,
                    int64_t i, int64_t j, int64_t h, int64_t w) {
    ref[((o * g.Cg() + c) * g.KH + i) * g.KW + j].add(
        gv[((n * g.O + o) * g.OH() + oh) * g.OW() + ow] *
        xv[((n * g.C + cAbs) * g.H + h) * g.W + w]);
  });
  check("conv2d_grad_weight", {X.view(), G.view()}, out, g.attrs(), ref);
}

TEST_P(GradientKernels, MaxPool2dGrad) {
  SCOPED_TRACE(trace());
  const DType dt = GetParam();
  // 3x3 windows, stride 2, pad 1: windows overlap, so an input can win several windows.
  const int64_t N = 2, C = 3, H = 6, W = 5, K = 3, S = 2, P = 1;
  const int64_t OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
  auto xv = uniform(rng_, N * C * H * W);
  auto gv = uniform(rng_, N * C * OH * OW);
  Buffer X = floatBuffer(dt, {N, C, H, W}, xv);
  Buffer G = floatBuffer(dt, {N, C, OH, OW}, gv);
  Buffer out = output(dt, {N, C, H, W});
  std::vector<Ref> ref(static_cast<size_t>(count(out.shape)));
  for (int64_t plane = 0; plane < N * C; ++plane)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        // The first maximum in window order (ties: bf16 inputs can tie).
        int64_t best = -1;
        for (int64_t i = 0; i < K; ++i)
          for (int64_t j = 0; j < K; ++j) {
            const int64_t h = oh * S - P + i, w = ow * S - P + j;
            if (h < 0 || h >= H || w < 0 || w >= W)
              continue;
            const int64_t idx = plane * H * W + h * W + w;
            if (best < 0 || xv[idx] > xv[best])
              best = idx;
          }
        ref[best].add(gv[(plane * OH + oh) * OW + ow]);
      }
  check("max_pool2d_grad", {G.view(), X.view()}, out,
        makeAttrs(
            {{"kernel", ints({K, K})}, {"strides", ints({S, S})}, {"pads", ints({P, P, P, P})}}),
        ref);
}

TEST_P(GradientKernels, AvgPool2dGrad) {
  SCOPED_TRACE(trace());
  const DType dt = GetParam();
  // 3x3 windows, stride 2, pads (1, 0, 0, 1), ceil mode: partial windows at both ends.
  const int64_t N = 1, C = 2, H = 6, W = 5, K = 3, S = 2, pt = 1, pl = 0, pb = 0, pr = 1;
  auto pooled = [&](int64_t in, int64_t a, int64_t b) {
    int64_t span = in + a + b - K, out = (span + S - 1) / S + 1;
    return (out - 1) * S >= in + a ? out - 1 : out;
  };
  const int64_t OH = pooled(H, pt, pb), OW = pooled(W, pl, pr);
  for (bool includePad : {false, true}) {
    SCOPED_TRACE(includePad ? "count_include_pad" : "exclude pad");
    auto gv = uniform(rng_, N * C * OH * OW);
    Buffer G = floatBuffer(dt, {N, C, OH, OW}, gv);
    Buffer out = output(dt, {N, C, H, W});
    std::vector<Ref> ref(static_cast<size_t>(count(out.shape)));
    for (int64_t plane = 0; plane < N * C; ++plane)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w)
          for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
              const int64_t h0 = oh * S - pt, w0 = ow * S - pl;
              if (h < h0 || h >= h0 + K || w < w0 || w >= w0 + K)
                continue;
              int64_t n = 0;
              for (int64_t i = h0; i < h0 + K; ++i)
                for (int64_t j = w0; j < w0 + K; ++j)
                  n += includePad ? (i >= -pt && i < H + pb && j >= -pl && j < W + pr)
                                  : (i >= 0 && i < H && j >= 0 && j < W);
              ref[plane * H * W + h * W + w].add(gv[(plane * OH + oh) * OW + ow] / n);
            }
    AttrValue ceil = integer(1), include = integer(includePad ? 1 : 0);
    check("avg_pool2d_grad", {G.view()}, out,
          makeAttrs({{"kernel", ints({K, K})},
                     {"strides", ints({S, S})},
                     {"pads", ints({pt, pl, pb, pr})},
                     {"ceil_mode", ceil},
                     {"count_include_pad", include}}),
          ref);
  }
}

TEST_P(GradientKernels, SliceGrad) {
  SCOPED_TRACE(trace());
  const DType dt = GetParam();
  // [5, 6] sliced rows 4, 2, 0 (step -2) and columns 1, 4 (step 3).
  const std::vector<int64_t> start = {4, 1}, limit = {-1, 6}, step = {-2, 3};
  auto gv = uniform(rng_, 6);
  Buffer G = floatBuffer(dt, {3, 2}, gv);
  Buffer out = output(dt, {5, 6});
  std::vector<Ref> ref(30);
  for (int64_t r = 0; r < 5; ++r)
    for (int64_t c = 0; c < 6; ++c) {
      const int64_t dr = r - start[0], dc = c - start[1];
      if (dr % step[0] || dc % step[1])
        continue;
      const int64_t kr = dr / step[0], kc = dc / step[1];
      if (kr >= 0 && kr < 3 && kc >= 0 && kc < 2)
        ref[r * 6 + c].add(gv[kr * 2 + kc]);
    }
  check("slice_grad", {G.view()}, out,
        makeAttrs({{"start", ints(start)}, {"limit", ints(limit)}, {"step", ints(step)}}), ref);
}

TEST_P(GradientKernels, GatherGrad) {
  SCOPED_TRACE(trace());
  const DType dt = GetParam();
  // data [3, 5, 2] gathered along axis 1 by [2, 4] indices with repeats and negatives.
  const std::vector<int64_t> idx = {0, 4, -1, 2, 2, 2, -5, 1};
  auto gv = uniform(rng_, 3 * 8 * 2);
  Buffer G = floatBuffer(dt, {3, 2, 4, 2}, gv);
  Buffer I = indexBuffer({2, 4}, idx);
  Buffer out = output(dt, {3, 5, 2});
  std::vector<Ref> ref(30);
  for (int64_t o = 0; o < 3; ++o)
    for (int64_t a = 0; a < 5; ++a)
      for (int64_t in = 0; in < 2; ++in)
        for (int64_t j = 0; j < 8; ++j)
          if ((idx[j] + 5) % 5 == a)
            ref[(o * 5 + a) * 2 + in].add(gv[(o * 8 + j) * 2 + in]);
  check("gather_grad", {G.view(), I.view()}, out, makeAttrs({{"axis", integer(1)}}), ref);
}

TEST_P(GradientKernels, GatherElementsGrad) {
  SCOPED_TRACE(trace());
  const DType dt = GetParam();
  // data [3, 5] read along axis 1 by [2, 4] indices (a row short of the data) with repeats
  // and negatives; row 2 of the data receives nothing.
  const std::vector<int64_t> idx = {0, 4, -1, 4, 2, 2, -5, 1};
  auto gv = uniform(rng_, 8);
  Buffer G = floatBuffer(dt, {2, 4}, gv);
  Buffer I = indexBuffer({2, 4}, idx);
  Buffer out = output(dt, {3, 5});
  std::vector<Ref> ref(15);
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 5; ++c)
      for (int64_t j = 0; j < 4; ++j)
        if (r < 2 && (idx[r * 4 + j] + 5) % 5 == c)
          ref[r * 5 + c].add(gv[r * 4 + j]);
  check("gather_elements_grad", {G.view(), I.view()}, out, makeAttrs({{"axis", integer(1)}}), ref);
}

TEST_P(GradientKernels, NllLossGrad) {
  SCOPED_TRACE(trace());
  const DType dt = GetParam();
  // [N=3, C=4, D=2] with class weights and ignore_index 1, for each reduction.
  const std::vector<int64_t> labels = {0, 1, 3, 3, 1, 2};
  std::vector<double> wv = {0.5, 2.0, 1.5, 0.25};
  for (int64_t reduction : {0, 1, 2}) {
    SCOPED_TRACE("reduction " + std::to_string(reduction));
    auto gv = uniform(rng_, reduction == 0 ? 6 : 1);
    Buffer G =
        floatBuffer(dt, reduction == 0 ? std::vector<int64_t>{3, 2} : std::vector<int64_t>{}, gv);
    Buffer T = indexBuffer({3, 2}, labels);
    Buffer Wt = floatBuffer(dt, {4}, wv);
    Buffer out = output(dt, {3, 4, 2});
    double wsum = 0;
    for (int64_t l : labels)
      wsum += l == 1 ? 0.0 : wv[l];
    std::vector<Ref> ref(24);
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t c = 0; c < 4; ++c)
        for (int64_t d = 0; d < 2; ++d) {
          const int64_t l = labels[n * 2 + d];
          const double g = gv[reduction == 0 ? n * 2 + d : 0];
          if (c == l && l != 1)
            ref[(n * 4 + c) * 2 + d].add(-wv[l] * g / (reduction == 2 ? wsum : 1.0));
        }
    check("nll_loss_grad", {G.view(), T.view(), Wt.view()}, out,
          makeAttrs({{"reduction", integer(reduction)}, {"ignore_index", integer(1)}}), ref);
  }
}

//===----------------------------------------------------------------------===//
// The convolution gradients' oneDNN primitives against the direct loops.
//===----------------------------------------------------------------------===//

/// One convolution of the sweep; `Conv` above is the geometry of the gather-form tests.
struct ConvCase {
  const char *name;
  int64_t N, C, H, W, O, groups, KH, KW, sh, sw, pt, pl, pb, pr, dh, dw;
  int64_t OH() const { return (H + pt + pb - dh * (KH - 1) - 1) / sh + 1; }
  int64_t OW() const { return (W + pl + pr - dw * (KW - 1) - 1) / sw + 1; }
  Attrs attrs() const {
    return makeAttrs({{"strides", ints({sh, sw})},
                      {"pads", ints({pt, pl, pb, pr})},
                      {"dilations", ints({dh, dw})},
                      {"groups", integer(groups)}});
  }
};

const ConvCase kConvCases[] = {
    // name              N  C   H   W   O  grp KH KW sh sw pt pl pb pr dh dw
    {"3x3_pad1", 2, 8, 8, 8, 16, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"3x3_stride2", 2, 8, 9, 9, 8, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {"1x1_stride2", 3, 8, 8, 8, 16, 1, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1},
    {"7x7_stem", 2, 3, 16, 16, 8, 1, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1},
    {"dilated_asym_pads", 2, 4, 10, 11, 6, 1, 3, 2, 1, 2, 2, 0, 1, 3, 2, 1},
    {"groups2", 2, 4, 7, 8, 6, 2, 3, 2, 2, 1, 1, 0, 0, 2, 1, 2},
    {"depthwise", 2, 8, 6, 7, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"depthwise_x2_stride2", 1, 4, 9, 8, 8, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {"stride_over_kernel", 2, 5, 10, 9, 3, 1, 1, 2, 3, 2, 0, 0, 0, 1, 1, 1},
    {"unused_tail_rows", 1, 6, 8, 8, 4, 1, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1},
    {"wide_channels", 4, 64, 5, 5, 32, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
};

using ConvSweepParam = std::tuple<int, DType>;

class ConvGradientSweep : public ::testing::TestWithParam<ConvSweepParam> {
protected:
  void SetUp() override {
    seed_ = testSeed();
    rng_.seed(seed_);
  }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

/// Tolerance of a kernel result against the f64 loops on the same (rounded) operands: the
/// result is rounded once to the output format (one ulp, relative, plus half its smallest
/// subnormal step for f16) after an fp32 accumulation of `terms` products in some order, which
/// is off by at most (terms + 1) u sum|products| (u = 2^-24). The fp32-accumulating loops obey
/// the same bound, so the kernel and the loops of the kernel's own dtype may differ by twice it.
double convTolerance(DType dt, double ref, double magnitude, int64_t terms) {
  const double ulp = dt == DType::F32 ? 0x1p-23 : dt == DType::F16 ? 0x1p-10 : 0x1p-8;
  const double subnormal = dt == DType::F16 ? 0x1p-25 : 0.0;
  return ulp * std::fabs(ref) + subnormal + (terms + 1) * 0x1p-24 * magnitude;
}

/// Runs the kernel `kind` (oneDNN) and, on the same operands, the direct loops in `dt` and in
/// f64 (values and absolute values), and compares.
void checkConvGradient(const ConvCase &c, DType dt, std::mt19937_64 &rng, bool gradInput) {
  const int64_t Cg = c.C / c.groups, Og = c.O / c.groups;
  const std::vector<int64_t> xs{c.N, c.C, c.H, c.W}, ws{c.O, Cg, c.KH, c.KW},
      ys{c.N, c.O, c.OH(), c.OW()};
  // Operands: (dy, w) for the input gradient, (x, dy) for the weight gradient.
  const std::vector<int64_t> &aShape = gradInput ? ys : xs, &bShape = gradInput ? ws : ys,
                             &outShape = gradInput ? xs : ws;
  std::vector<double> av = uniform(rng, count(aShape)), bv = uniform(rng, count(bShape));
  Buffer A = floatBuffer(dt, aShape, av), B = floatBuffer(dt, bShape, bv);
  Buffer A64 = floatBuffer(DType::F64, aShape, av), B64 = floatBuffer(DType::F64, bShape, bv);
  std::vector<double> aAbs(av), bAbs(bv);
  for (double &v : aAbs)
    v = std::fabs(v);
  for (double &v : bAbs)
    v = std::fabs(v);
  Buffer AAbs = floatBuffer(DType::F64, aShape, aAbs), BAbs = floatBuffer(DType::F64, bShape, bAbs);
  Buffer got = output(dt, outShape), loops = output(dt, outShape);
  Buffer ref = output(DType::F64, outShape), mag = output(DType::F64, outShape);

  const char *kind = gradInput ? "conv2d_grad_input" : "conv2d_grad_weight";
  KernelFn fn = findCpuKernel(kind);
  ASSERT_NE(fn, nullptr);
  KernelContext ctx;
  ctx.numThreads = 2;
  std::vector<TensorView> outputs{got.view()};
  const Attrs attrs = c.attrs();
  Status s = fn(ctx, {A.view(), B.view()}, outputs, attrs);
  ASSERT_TRUE(s.isOk()) << s.message();
  cpu::ConvDims d;
  ASSERT_TRUE(cpu::convGradDims(kind, xs, ws, ys, attrs, d).isOk());
  auto runLoops = [&](Buffer &a, Buffer &b, Buffer &out) {
    return gradInput ? cpu::conv2dGradInputLoops(ctx, a.view(), b.view(), out.view(), d)
                     : cpu::conv2dGradWeightLoops(ctx, a.view(), b.view(), out.view(), d);
  };
  ASSERT_TRUE(runLoops(A, B, loops).isOk());
  ASSERT_TRUE(runLoops(A64, B64, ref).isOk());
  ASSERT_TRUE(runLoops(AAbs, BAbs, mag).isOk());
  const int64_t terms = gradInput ? Og * c.KH * c.KW : c.N * c.OH() * c.OW();
  for (int64_t i = 0; i < count(outShape); ++i) {
    const double r = load(ref, i), m = load(mag, i), tol = convTolerance(dt, r, m, terms);
    EXPECT_LE(std::fabs(load(got, i) - r), tol)
        << kind << " " << c.name << " " << dtypeName(dt) << " [" << i << "]: oneDNN "
        << load(got, i) << ", f64 loops " << r;
    EXPECT_LE(std::fabs(load(got, i) - load(loops, i)), 2 * tol)
        << kind << " " << c.name << " " << dtypeName(dt) << " [" << i << "]: oneDNN "
        << load(got, i) << ", " << dtypeName(dt) << " loops " << load(loops, i);
  }
}

TEST_P(ConvGradientSweep, InputGradientMatchesLoops) {
  SCOPED_TRACE("seed " + std::to_string(seed_) + " (PRECIS_TEST_SEED replays it)");
  checkConvGradient(kConvCases[std::get<0>(GetParam())], std::get<1>(GetParam()), rng_, true);
}

TEST_P(ConvGradientSweep, WeightGradientMatchesLoops) {
  SCOPED_TRACE("seed " + std::to_string(seed_) + " (PRECIS_TEST_SEED replays it)");
  checkConvGradient(kConvCases[std::get<0>(GetParam())], std::get<1>(GetParam()), rng_, false);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConvGradientSweep,
    ::testing::Combine(::testing::Range(0, static_cast<int>(std::size(kConvCases))),
                       ::testing::Values(DType::F32, DType::BF16, DType::F16)),
    [](const auto &info) {
      return std::string(kConvCases[std::get<0>(info.param)].name) + "_" +
             dtypeName(std::get<1>(info.param));
    });

TEST(GradientKernelErrors, RejectBadInputs) {
  std::vector<double> v(6, 1.0);
  Buffer G = floatBuffer(DType::F32, {2, 3}, v);
  Buffer I = indexBuffer({2}, {0, 7});
  Buffer out = output(DType::F32, {4, 3});
  std::vector<TensorView> outputs{out.view()};
  Status s = findCpuKernel("gather_grad")({}, {G.view(), I.view()}, outputs,
                                          makeAttrs({{"axis", integer(0)}}));
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("out of range"), std::string::npos) << s.message();
  Buffer T = indexBuffer({2}, {0, 9});
  Buffer dl = output(DType::F32, {});
  Buffer dx = output(DType::F32, {2, 4});
  std::vector<TensorView> dxs{dx.view()};
  s = findCpuKernel("nll_loss_grad")({}, {dl.view(), T.view()}, dxs, Attrs());
  EXPECT_FALSE(s.isOk());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, GradientKernels,
                         ::testing::Values(DType::F64, DType::F32, DType::BF16),
                         [](const auto &info) { return std::string(dtypeName(info.param)); });

} // namespace
