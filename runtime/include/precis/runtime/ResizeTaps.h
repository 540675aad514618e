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

inline bool isResizeMode(const std::string &m) { return m == "nearest" || m == "linear"; }

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

/// The taps of every output coordinate of one axis of `in` -> `out` elements.
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

} // namespace precis

#endif // PRECIS_RUNTIME_RESIZETAPS_H
