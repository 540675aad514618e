//===- ResizeTaps.h - the source positions of precis.resize ----------*- C++ -*-===//
//
// Where each output coordinate of precis.resize reads its input along one axis, as the ONNX
// Resize specification defines it. The CPU kernels and the CUDA emitter (which bakes the
// taps into its kernels as constants) both call `resizeTaps`, so the two backends interpolate
// from the same positions and weights. Plain C++17, no dependencies: NVRTC never sees it.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_RESIZETAPS_H
#define PRECIS_RUNTIME_RESIZETAPS_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace precis {

/// Output coordinate `o` reads `(1 - weight) * input[lo] + weight * input[hi]` along the axis
/// (nearest: lo == hi, weight 0).
struct ResizeTap {
  int64_t lo = 0, hi = 0;
  double weight = 0;
};

inline bool isResizeMode(const std::string &m) {
  return m == "nearest" || m == "linear" || m == "cubic";
}

inline bool isResizeCoordinateMode(const std::string &m) {
  return m == "half_pixel" || m == "half_pixel_symmetric" || m == "pytorch_half_pixel" ||
         m == "align_corners" || m == "asymmetric" || m == "tf_half_pixel_for_nn";
}

/// ONNX's four nearest modes, and "legacy": Resize 10 and Upsample, which truncate when an
/// axis grows and round up when it shrinks.
inline bool isResizeNearestMode(const std::string &m) {
  return m == "round_prefer_floor" || m == "round_prefer_ceil" || m == "floor" || m == "ceil" ||
         m == "legacy";
}

/// The input coordinate of output coordinate `o` (ONNX Resize's coordinate_transformation_mode).
/// `scale` is the axis's scale (output over input length when sizes were given); the resized
/// length the formulas divide by is `in * scale`, which need not be an integer.
inline double resizeSourceCoordinate(int64_t o, int64_t in, int64_t out, double scale,
                                     const std::string &coordinateMode) {
  const double x = static_cast<double>(o);
  const double resized = static_cast<double>(in) * scale;
  if (coordinateMode == "align_corners")
    return resized <= 1 ? 0.0 : x * static_cast<double>(in - 1) / (resized - 1);
  if (coordinateMode == "asymmetric")
    return x / scale;
  if (coordinateMode == "tf_half_pixel_for_nn")
    return (x + 0.5) / scale;
  if (coordinateMode == "pytorch_half_pixel")
    return resized > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
  if (coordinateMode == "half_pixel_symmetric") {
    const double adjustment = static_cast<double>(out) / resized;
    const double center = static_cast<double>(in) / 2;
    return center * (1 - adjustment) + (x + 0.5) / scale - 0.5;
  }
  return (x + 0.5) / scale - 0.5; // half_pixel
}

/// The nearest and linear taps of every output coordinate of one axis of `in` -> `out`
/// elements (resizeTable gives every mode's).
inline std::vector<ResizeTap> resizeTaps(int64_t in, int64_t out, double scale,
                                         const std::string &mode, const std::string &coordinateMode,
                                         const std::string &nearestMode) {
  std::vector<ResizeTap> taps(static_cast<size_t>(out));
  auto clampIndex = [&](double i) {
    return i < 0 ? int64_t(0) : i > double(in - 1) ? in - 1 : static_cast<int64_t>(i);
  };
  for (int64_t o = 0; o < out; ++o) {
    ResizeTap &t = taps[static_cast<size_t>(o)];
    const double x = resizeSourceCoordinate(o, in, out, scale, coordinateMode);
    const double fl = std::floor(x);
    if (mode == "linear") {
      t.lo = clampIndex(fl);
      t.hi = clampIndex(fl + 1);
      t.weight = t.lo == t.hi ? 0.0 : x - fl;
      continue;
    }
    double i;
    if (nearestMode == "floor")
      i = fl;
    else if (nearestMode == "ceil")
      i = std::ceil(x);
    else if (nearestMode == "legacy")
      i = scale < 1 ? std::ceil(x) : std::trunc(x);
    else if (x - fl == 0.5)
      i = nearestMode == "round_prefer_ceil" ? fl + 1 : fl;
    else
      i = std::round(x);
    t.lo = t.hi = clampIndex(i);
  }
  return taps;
}

/// The interpolation of one axis of every mode: output coordinate `o` is
///   sum over c < count of weight[o * count + c] * input[index[o * count + c]],
/// the taps in increasing source position (indices clamped to the input).
struct ResizeTable {
  int64_t count = 0;
  std::vector<int64_t> index;
  std::vector<double> weight;
};

/// Everything of precis.resize that decides the taps of one axis besides its sizes and scale.
struct ResizeFilter {
  std::string mode = "nearest", coordinateMode = "half_pixel", nearestMode = "round_prefer_floor";
  double cubicCoeffA = -0.75;  ///< cubic_coeff_a
  bool excludeOutside = false; ///< taps outside the input get weight 0, the rest renormalised
  bool antialias = false;      ///< linear and cubic: the filter widens by 1 / scale when shrinking
};

/// Keys' cubic convolution kernel with parameter `a` at distance `x` >= 0.
inline double resizeCubicWeight(double x, double a) {
  if (x <= 1)
    return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2)
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/// The taps of every output coordinate of one axis, as the ONNX reference implementation
/// (onnx.reference's Resize) computes them. With `x` the source coordinate and `left` the
/// input coordinate at or below it (`x - left` in (0, 1]; an integer `x` counts as the right
/// end of [x - 1, x]), output coordinate o reads:
/// - nearest and linear (without antialias): resizeTaps's one or two taps;
/// - cubic: the four inputs left - 1 .. left + 2, weighted by the cubic kernel of their
///   distance to `x` (cubic_coeff_a);
/// - antialias (linear or cubic, on an axis with scale s < 1, else as s = 1): the inputs
///   left + i for i in [1 - 1/s', 1/s'] widened to whole steps (1/s' = 1 / min(s, 1) times
///   the filter's support: 1 for linear, 2 for cubic), each weighted by the filter at
///   `s' * (i - (x - left))`, normalised to sum 1.
/// Inputs outside the axis read the edge (their index is clamped); with `excludeOutside`
/// their weight is 0 instead and the weights are renormalised to sum 1.
inline ResizeTable resizeTable(int64_t in, int64_t out, double scale, const ResizeFilter &f) {
  ResizeTable t;
  const bool general = f.mode == "cubic" || (f.antialias && f.mode == "linear");
  if (!general) {
    std::vector<ResizeTap> taps =
        resizeTaps(in, out, scale, f.mode, f.coordinateMode, f.nearestMode);
    t.count = f.mode == "linear" ? 2 : 1;
    for (const ResizeTap &tap : taps) {
      t.index.push_back(tap.lo);
      if (t.count == 1) {
        t.weight.push_back(1.0);
        continue;
      }
      t.weight.push_back(1 - tap.weight);
      t.index.push_back(tap.hi);
      t.weight.push_back(tap.weight);
    }
    return t;
  }
  const bool cubic = f.mode == "cubic";
  const double a = f.cubicCoeffA;
  const double s = f.antialias ? std::min(scale, 1.0) : 1.0;
  // The first tap relative to `left`; the taps are symmetric about `left + 1/2`.
  const int64_t start = f.antialias
                            ? static_cast<int64_t>(std::floor((cubic ? -2.0 : -1.0) / s)) + 1
                            : (cubic ? -1 : 0);
  t.count = 2 - 2 * start;
  t.index.resize(static_cast<size_t>(out * t.count));
  t.weight.resize(static_cast<size_t>(out * t.count));
  for (int64_t o = 0; o < out; ++o) {
    const double x = resizeSourceCoordinate(o, in, out, scale, f.coordinateMode);
    const double fl = std::floor(x);
    const double ratio = x == fl ? 1.0 : x - fl;
    const int64_t left = static_cast<int64_t>(x - ratio);
    double *w = &t.weight[static_cast<size_t>(o * t.count)];
    int64_t *idx = &t.index[static_cast<size_t>(o * t.count)];
    if (cubic && !f.antialias) {
      // The reference's four coefficients, each written out as it does.
      const double r1 = ratio + 1, q = 1 - ratio, q1 = q + 1;
      w[0] = ((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a;
      w[1] = ((a + 2) * ratio - (a + 3)) * ratio * ratio + 1;
      w[2] = ((a + 2) * q - (a + 3)) * q * q + 1;
      w[3] = ((a * q1 - 5 * a) * q1 + 8 * a) * q1 - 4 * a;
    } else {
      double sum = 0;
      for (int64_t c = 0; c < t.count; ++c) {
        const double d = std::fabs(s * (static_cast<double>(start + c) - ratio));
        w[c] = cubic ? resizeCubicWeight(d, a) : std::min(std::max(1 - d, 0.0), 1.0);
        sum += w[c];
      }
      for (int64_t c = 0; c < t.count; ++c)
        w[c] /= sum;
    }
    double kept = 0;
    for (int64_t c = 0; c < t.count; ++c) {
      const int64_t i = left + start + c;
      if (f.excludeOutside && (i < 0 || i >= in))
        w[c] = 0;
      kept += w[c];
      idx[c] = i < 0 ? 0 : i >= in ? in - 1 : i;
    }
    if (f.excludeOutside)
      for (int64_t c = 0; c < t.count; ++c)
        w[c] /= kept;
  }
  return t;
}

/// Whether a table maps every output coordinate to the input coordinate of the same index.
inline bool isIdentityTable(const ResizeTable &t, int64_t in, int64_t out) {
  if (in != out)
    return false;
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c = 0; c < t.count; ++c) {
      const size_t k = static_cast<size_t>(o * t.count + c);
      if (t.weight[k] != 0 && (t.index[k] != o || t.weight[k] != 1))
        return false;
    }
  return true;
}

} // namespace precis

#endif // PRECIS_RUNTIME_RESIZETAPS_H
