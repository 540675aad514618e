//===- ResizeKernelsTest.cpp - resize and resize_grad against fp64 references ===//
//
// The resize kernels on random inputs, in f64, f32, f16 and bf16, against references written
// here in double from the ONNX Resize reference implementation's formulation (the neighbours
// of the source coordinate in an edge-padded axis, the left one preferred when the coordinate
// is an integer; cubic, antialias and exclude_outside with its coefficient functions and its
// search for the n nearest neighbours), so they share no code with ResizeTaps.h. resize is checked
// as a gather over the 2^k corners; resize_grad against the scatter form of its adjoint (each
// output gradient added to the inputs it read), while the kernel gathers. Inputs are drawn fresh
// each run; the seed is printed with every failure and PRECIS_TEST_SEED=<seed> replays it.
//
// Tolerance: |got - ref| <= ulp * |ref| + (terms + 1) * u * sum|terms| + w * u * sum|values|,
// u the compute type's unit roundoff, ulp one ulp (relative) of the output format, `values`
// the inputs the terms weight, and w = 0 for nearest and linear (exact weights: the same few
// operations here and in the kernel) or 16 for cubic and antialias, whose weights the kernel
// and the reference each compute in double by equivalent but different formulas (Horner or
// expanded, normalised once or twice), each good to a few roundings of the sum of the axis's
// weights rather than of itself; this matters only in f64.
//
//===----------------------------------------------------------------------===//

#include "KernelTestUtil.h"
#include "cpu/Kernel.h"

#include "precis/runtime/numerics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

using namespace precis;
using namespace precis::rt;
using namespace precis::rt::testing;

namespace {

double load(const Buffer &b, int64_t i) {
  if (b.dtype == DType::F64)
    return reinterpret_cast<const double *>(b.bytes.data())[i];
  if (b.dtype == DType::F32)
    return reinterpret_cast<const float *>(b.bytes.data())[i];
  const uint16_t h = reinterpret_cast<const uint16_t *>(b.bytes.data())[i];
  return b.dtype == DType::F16 ? fp16_to_float(h) : bf16_to_float(h);
}

double unitRoundoff(DType d) { return d == DType::F64 ? 0x1p-53 : 0x1p-24; }
double outputUlp(DType d) {
  return d == DType::F64 ? 0x1p-52 : d == DType::F32 ? 0x1p-23 : d == DType::F16 ? 0x1p-10 : 0x1p-7;
}

struct Ref {
  double value = 0, magnitude = 0, values = 0;
  int64_t terms = 0;
  /// Term `t`, the weighted `v`.
  void add(double t, double v) {
    value += t;
    magnitude += std::fabs(t);
    values += std::fabs(v);
    ++terms;
  }
};

/// One resize configuration.
struct Config {
  std::vector<int64_t> in, out;
  std::vector<double> scales;
  std::string mode = "nearest", coord = "half_pixel", nearest = "round_prefer_floor";
  double cubicA = -0.75;
  bool excludeOutside = false, antialias = false;

  /// The tolerance's allowance for the weights (see the file comment).
  int weightRoundings() const { return mode == "cubic" || antialias ? 16 : 0; }

  Attrs attrs() const {
    std::map<std::string, AttrValue> m;
    AttrValue s;
    s.kind = AttrValue::Kind::Floats;
    s.floats = scales;
    m["scales"] = s;
    AttrValue a;
    a.kind = AttrValue::Kind::Float;
    a.f = cubicA;
    m["cubic_coeff_a"] = a;
    for (auto [name, v] : {std::pair<std::string, bool>{"exclude_outside", excludeOutside},
                           {"antialias", antialias}}) {
      AttrValue b;
      b.kind = AttrValue::Kind::Int;
      b.i = v;
      m[name] = b;
    }
    for (auto [name, v] : {std::pair<std::string, std::string>{"mode", mode},
                           {"coordinate_transformation_mode", coord},
                           {"nearest_mode", nearest}}) {
      AttrValue a;
      a.kind = AttrValue::Kind::String;
      a.s = v;
      m[name] = a;
    }
    return Attrs(std::move(m));
  }

  /// ONNX's coordinate transformation for output coordinate `x` of axis `a`.
  double original(int64_t a, int64_t x) const {
    const double s = scales[a], lin = double(in[a]), lout = s * lin, xr = double(x);
    if (coord == "half_pixel")
      return (xr + 0.5) / s - 0.5;
    if (coord == "half_pixel_symmetric") {
      const double adj = double(out[a]) / lout, center = lin / 2;
      return center * (1 - adj) + (xr + 0.5) / s - 0.5;
    }
    if (coord == "pytorch_half_pixel")
      return lout > 1 ? (xr + 0.5) / s - 0.5 : 0;
    if (coord == "align_corners")
      return lout <= 1 ? 0 : xr * (lin - 1) / (lout - 1);
    if (coord == "tf_half_pixel_for_nn")
      return (xr + 0.5) / s;
    return xr / s; // asymmetric
  }

  /// Cubic and antialiased coefficients, as onnx.reference's Resize computes them: the
  /// coefficient function of the ratio, then the n nearest indices of the axis padded by
  /// ceil(n / 2) edge elements on both sides (ties to the lower index), then exclude_outside.
  std::vector<std::pair<int64_t, double>> filterCoefficients(int64_t a, int64_t x) const {
    const double xo = original(a, x);
    const double ratio = xo == std::floor(xo) ? 1.0 : xo - std::floor(xo);
    const double A = cubicA;
    std::vector<double> c;
    if (mode == "cubic" && !antialias) {
      c = {((A * (ratio + 1) - 5 * A) * (ratio + 1) + 8 * A) * (ratio + 1) - 4 * A,
           ((A + 2) * ratio - (A + 3)) * ratio * ratio + 1,
           ((A + 2) * (1 - ratio) - (A + 3)) * (1 - ratio) * (1 - ratio) + 1,
           ((A * ((1 - ratio) + 1) - 5 * A) * ((1 - ratio) + 1) + 8 * A) * ((1 - ratio) + 1) -
               4 * A};
    } else if (mode == "cubic") {
      const double s = std::min(scales[a], 1.0);
      auto coeff = [&](double v) {
        v = std::fabs(v);
        if (v <= 1)
          return (A + 2) * v * v * v - (A + 3) * v * v + 1;
        if (v < 2)
          return A * v * v * v - 5 * A * v * v + 8 * A * v - 4 * A;
        return 0.0;
      };
      const int64_t start = int64_t(std::floor(-2 / s)) + 1, end = 2 - start;
      for (int64_t i = start; i < end; ++i)
        c.push_back(coeff(s * (double(i) - ratio)));
    } else { // linear antialias
      const double s = std::min(scales[a], 1.0);
      const int64_t start = int64_t(std::floor(-1 / s)) + 1, footprint = 2 - 2 * start;
      for (int64_t i = start; i < start + footprint; ++i)
        c.push_back(std::min(std::max(1 - std::fabs((double(i) - ratio) * s), 0.0), 1.0));
    }
    if (antialias) {
      double sum = 0;
      for (double v : c)
        sum += v;
      for (double &v : c)
        v /= sum;
    }
    const int64_t n = int64_t(c.size()), pad = (n + 1) / 2, padded = in[a] + 2 * pad;
    std::vector<int64_t> idx(static_cast<size_t>(padded));
    for (int64_t i = 0; i < padded; ++i)
      idx[i] = i;
    const double xp = xo + double(pad);
    std::stable_sort(idx.begin(), idx.end(), [&](int64_t p, int64_t q) {
      return std::fabs(xp - double(p)) < std::fabs(xp - double(q));
    });
    idx.resize(static_cast<size_t>(n));
    std::sort(idx.begin(), idx.end());
    if (excludeOutside) {
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) {
        const int64_t i = idx[k] - pad;
        if (i < 0 || i >= in[a])
          c[k] = 0;
        sum += c[k];
      }
      for (double &v : c)
        v /= sum;
    }
    std::vector<std::pair<int64_t, double>> r;
    for (int64_t k = 0; k < n; ++k)
      if (c[k] != 0)
        r.push_back({std::min(std::max<int64_t>(idx[k] - pad, 0), in[a] - 1), c[k]});
    return r;
  }

  /// The (input index, coefficient) pairs output coordinate `x` of axis `a` reads, as the ONNX
  /// reference computes them: two neighbours of an edge-padded axis (or filterCoefficients).
  std::vector<std::pair<int64_t, double>> coefficients(int64_t a, int64_t x) const {
    if (mode == "cubic" || (mode == "linear" && antialias))
      return filterCoefficients(a, x);
    const double xo = original(a, x);
    const double fl = std::floor(xo);
    const bool integral = xo == fl;
    const double ratio = integral ? 1.0 : xo - fl;
    // Neighbours: floor and floor + 1, or x - 1 and x for an integral coordinate.
    const int64_t left = integral ? int64_t(xo) - 1 : int64_t(fl);
    auto clampIndex = [&](int64_t i) { return std::min(std::max<int64_t>(i, 0), in[a] - 1); };
    double c0, c1;
    if (mode == "linear") {
      c0 = 1 - ratio;
      c1 = ratio;
    } else if (integral) {
      c0 = 0;
      c1 = 1;
    } else if (nearest == "round_prefer_floor") {
      c0 = ratio <= 0.5;
      c1 = ratio > 0.5;
    } else if (nearest == "round_prefer_ceil") {
      c0 = ratio < 0.5;
      c1 = ratio >= 0.5;
    } else if (nearest == "floor") {
      c0 = 1;
      c1 = 0;
    } else if (nearest == "ceil") {
      c0 = 0;
      c1 = 1;
    } else { // legacy: truncate when the axis grows, round up when it shrinks
      const bool shrinks = scales[a] < 1;
      c0 = shrinks ? 0 : 1;
      c1 = shrinks ? 1 : 0;
      if (!shrinks && xo < 0) { // truncation toward zero of a negative coordinate
        c0 = 0;
        c1 = 1;
      }
    }
    std::vector<std::pair<int64_t, double>> r;
    if (c0 != 0)
      r.push_back({clampIndex(left), c0});
    if (c1 != 0)
      r.push_back({clampIndex(left + 1), c1});
    return r;
  }

  /// Calls f(output flat index, input flat index, weight) for every term of the resize.
  template <typename F> void forEachTerm(F &&f) const {
    const int rank = static_cast<int>(in.size());
    std::vector<int64_t> inStrides(rank, 1);
    for (int a = rank - 2; a >= 0; --a)
      inStrides[a] = inStrides[a + 1] * in[a + 1];
    std::vector<int64_t> coord(rank);
    for (int64_t t = 0; t < count(out); ++t) {
      int64_t rest = t;
      for (int a = rank - 1; a >= 0; --a) {
        coord[a] = rest % out[a];
        rest /= out[a];
      }
      std::vector<std::pair<int64_t, double>> terms = {{0, 1.0}};
      for (int a = 0; a < rank; ++a) {
        std::vector<std::pair<int64_t, double>> next;
        for (auto [off, w] : terms)
          for (auto [i, c] : coefficients(a, coord[a]))
            next.push_back({off + i * inStrides[a], w * c});
        terms = next;
      }
      for (auto [off, w] : terms)
        f(t, off, w);
    }
  }
};

std::vector<double> uniform(std::mt19937_64 &rng, int64_t n) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (double &x : v)
    x = u(rng);
  return v;
}

void run(const char *kind, Buffer &in, Buffer &out, const Attrs &attrs, const std::vector<Ref> &ref,
         int threads, int weightRoundings) {
  KernelFn fn = findCpuKernel(kind);
  ASSERT_NE(fn, nullptr) << kind;
  std::vector<TensorView> inputs{in.view()}, outputs{out.view()};
  KernelContext ctx;
  ctx.numThreads = threads;
  Status s = fn(ctx, inputs, outputs, attrs);
  ASSERT_TRUE(s.isOk()) << s.message();
  for (size_t i = 0; i < ref.size(); ++i) {
    const double got = load(out, static_cast<int64_t>(i));
    const double tol = outputUlp(out.dtype) * std::fabs(ref[i].value) +
                       (ref[i].terms + 1) * unitRoundoff(out.dtype) * ref[i].magnitude +
                       weightRoundings * unitRoundoff(out.dtype) * ref[i].values;
    EXPECT_LE(std::fabs(got - ref[i].value), tol)
        << kind << " " << dtypeName(out.dtype) << " [" << i << "]: got " << got << ", want "
        << ref[i].value;
  }
}

std::vector<Config> configs() {
  std::vector<Config> c;
  c.push_back({{2, 3, 4, 5}, {2, 3, 7, 9}, {1, 1, 1.75, 1.8}, "linear"});
  c.push_back({{1, 2, 6, 7}, {1, 2, 4, 3}, {1, 1, 4.0 / 6, 3.0 / 7}, "linear", "align_corners"});
  c.push_back({{1, 2, 5, 4}, {1, 2, 3, 9}, {1, 1, 0.6, 2.25}, "linear", "pytorch_half_pixel"});
  c.push_back({{1, 1, 5, 4}, {1, 1, 8, 6}, {1, 1, 1.6, 1.5}, "linear", "half_pixel_symmetric"});
  c.push_back({{1, 2, 4, 5}, {1, 2, 9, 3}, {1, 1, 2.25, 0.6}, "linear", "asymmetric"});
  c.push_back({{3, 4, 5}, {3, 7, 5}, {1, 1.75, 1}, "linear"});
  for (std::string nearest : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"})
    for (std::string coord : {"half_pixel", "asymmetric", "align_corners", "tf_half_pixel_for_nn",
                              "pytorch_half_pixel", "half_pixel_symmetric"})
      c.push_back({{1, 2, 5, 6}, {1, 2, 8, 4}, {1, 1, 1.6, 4.0 / 6}, "nearest", coord, nearest});
  c.push_back({{1, 2, 3, 4}, {1, 2, 9, 2}, {1, 1, 3, 0.5}, "nearest", "asymmetric", "legacy"});
  // Cubic: up and down, every coordinate mode, another A, exclude_outside.
  for (std::string coord :
       {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "half_pixel_symmetric"})
    c.push_back({{1, 2, 5, 6}, {1, 2, 8, 4}, {1, 1, 1.6, 4.0 / 6}, "cubic", coord});
  c.push_back({{1, 1, 6, 5},
               {1, 1, 3, 9},
               {1, 1, 0.5, 1.8},
               "cubic",
               "half_pixel",
               "round_prefer_floor",
               -0.5,
               true});
  c.push_back({{2, 7, 3},
               {2, 4, 3},
               {1, 4.0 / 7, 1},
               "cubic",
               "align_corners",
               "round_prefer_floor",
               -0.5,
               false});
  // Antialias: linear and cubic, shrinking by factors up to 3 (up to 12 taps) and growing.
  c.push_back({{1, 2, 9, 8},
               {1, 2, 3, 5},
               {1, 1, 1.0 / 3, 0.625},
               "linear",
               "half_pixel",
               "round_prefer_floor",
               -0.75,
               false,
               true});
  c.push_back({{1, 2, 9, 4},
               {1, 2, 4, 7},
               {1, 1, 4.0 / 9, 1.75},
               "cubic",
               "half_pixel",
               "round_prefer_floor",
               -0.75,
               false,
               true});
  c.push_back({{1, 1, 10, 6},
               {1, 1, 4, 4},
               {1, 1, 0.4, 4.0 / 6},
               "cubic",
               "pytorch_half_pixel",
               "round_prefer_floor",
               -0.5,
               true,
               true});
  c.push_back({{1, 1, 7, 5},
               {1, 1, 3, 2},
               {1, 1, 3.0 / 7, 0.4},
               "linear",
               "align_corners",
               "round_prefer_floor",
               -0.75,
               true,
               true});
  return c;
}

class ResizeKernels : public ::testing::TestWithParam<DType> {
protected:
  void SetUp() override { rng_.seed(seed_ = testSeed()); }
  std::string trace() const {
    return "seed " + std::to_string(seed_) + " (PRECIS_TEST_SEED replays it)";
  }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

TEST_P(ResizeKernels, ResizeMatchesTheOnnxFormulation) {
  SCOPED_TRACE(trace());
  const DType dt = GetParam();
  for (const Config &c : configs()) {
    SCOPED_TRACE(c.mode + " " + c.coord + " " + c.nearest + " a=" + std::to_string(c.cubicA) +
                 (c.excludeOutside ? " exclude_outside" : "") + (c.antialias ? " antialias" : ""));
    auto xv = uniform(rng_, count(c.in));
    Buffer X = floatBuffer(dt, c.in, xv);
    std::vector<Ref> ref(static_cast<size_t>(count(c.out)));
    c.forEachTerm([&](int64_t o, int64_t i, double w) { ref[o].add(w * xv[i], xv[i]); });
    for (int threads : {1, 3}) {
      Buffer Y{dt, c.out, std::vector<uint8_t>(count(c.out) * dtypeSize(dt))};
      run("resize", X, Y, c.attrs(), ref, threads, c.weightRoundings());
    }
  }
}

TEST_P(ResizeKernels, ResizeGradIsTheScatterOfTheWeights) {
  SCOPED_TRACE(trace());
  const DType dt = GetParam();
  for (const Config &c : configs()) {
    SCOPED_TRACE(c.mode + " " + c.coord + " " + c.nearest + " a=" + std::to_string(c.cubicA) +
                 (c.excludeOutside ? " exclude_outside" : "") + (c.antialias ? " antialias" : ""));
    auto gv = uniform(rng_, count(c.out));
    Buffer G = floatBuffer(dt, c.out, gv);
    std::vector<Ref> ref(static_cast<size_t>(count(c.in)));
    c.forEachTerm([&](int64_t o, int64_t i, double w) { ref[i].add(w * gv[o], gv[o]); });
    for (int threads : {1, 3}) {
      Buffer DX{dt, c.in, std::vector<uint8_t>(count(c.in) * dtypeSize(dt))};
      run("resize_grad", G, DX, c.attrs(), ref, threads, c.weightRoundings());
    }
  }
}

TEST(ResizeKernelsErrors, BadAttributesAreStatusErrors) {
  Config c{{1, 1, 2, 2}, {1, 1, 4, 4}, {1, 1, 2}, "linear"};
  std::vector<double> xv(4, 1.0);
  Buffer X = floatBuffer(DType::F32, c.in, xv);
  Buffer Y{DType::F32, c.out, std::vector<uint8_t>(16 * 4)};
  std::vector<TensorView> inputs{X.view()}, outputs{Y.view()};
  KernelContext ctx;
  Status s = findCpuKernel("resize")(ctx, inputs, outputs, c.attrs());
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("one scale per axis"), std::string::npos) << s.message();
  c.scales = {1, 1, 2, 2};
  c.mode = "bicubic";
  s = findCpuKernel("resize")(ctx, inputs, outputs, c.attrs());
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("bicubic"), std::string::npos) << s.message();
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ResizeKernels,
                         ::testing::Values(DType::F64, DType::F32, DType::F16, DType::BF16),
                         [](const auto &info) { return std::string(dtypeName(info.param)); });

} // namespace
