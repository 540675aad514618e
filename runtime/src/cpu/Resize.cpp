//===- Resize.cpp - resize and resize_grad ---------------------------------===//
//
// precis.resize reads, for every output element, the product over its axes of the taps
// precis::resizeTable (ResizeTaps.h, shared with the CUDA emitter) gives each coordinate: one
// (nearest), two (linear), four (cubic) or more (antialias).
// resize_grad is its adjoint written as a gather: every input element sums the output
// gradients that read it, weighted as they read it, in a fixed order (no scatter, no atomics,
// so the result does not depend on the thread count). Sums accumulate in the compute type.
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"
#include "precis/runtime/ResizeTaps.h"

#include <cmath>
#include <string>
#include <vector>

namespace precis::rt::cpu {
namespace {

/// The per-axis taps of a resize from `in` to `out`, and the axes whose taps are not the
/// identity (only those are looped over).
struct ResizePlan {
  std::vector<ResizeTable> taps;
  std::vector<int> active;
};

Status resizePlan(const char *kind, const std::vector<int64_t> &in, const std::vector<int64_t> &out,
                  const Attrs &attrs, ResizePlan &plan) {
  if (in.size() != out.size())
    return badShape(kind, "input " + shapeString(in) + " and result " + shapeString(out) +
                              " differ in rank");
  std::vector<double> scales = attrs.getFloats("scales", {});
  if (scales.size() != in.size())
    return badShape(kind, "expects one scale per axis");
  ResizeFilter f;
  f.mode = attrs.getString("mode", "nearest");
  f.coordinateMode = attrs.getString("coordinate_transformation_mode", "half_pixel");
  f.nearestMode = attrs.getString("nearest_mode", "round_prefer_floor");
  f.cubicCoeffA = attrs.getFloat("cubic_coeff_a", -0.75);
  f.excludeOutside = attrs.getInt("exclude_outside", 0) != 0;
  f.antialias = attrs.getInt("antialias", 0) != 0;
  if (!isResizeMode(f.mode) || !isResizeCoordinateMode(f.coordinateMode) ||
      !isResizeNearestMode(f.nearestMode))
    return badShape(kind, "unknown mode '" + f.mode + "', '" + f.coordinateMode + "' or '" +
                              f.nearestMode + "'");
  if (!std::isfinite(f.cubicCoeffA))
    return badShape(kind, "cubic_coeff_a must be finite");
  plan.taps.clear();
  plan.active.clear();
  for (size_t a = 0; a < in.size(); ++a) {
    if (in[a] < 1 || out[a] < 1 || !(scales[a] > 0))
      return badShape(kind, "empty axis or non-positive scale");
    plan.taps.push_back(resizeTable(in[a], out[a], scales[a], f));
    if (!isIdentityTable(plan.taps[a], in[a], out[a]))
      plan.active.push_back(static_cast<int>(a));
  }
  return Status::ok();
}

/// For resize_grad: per axis, the (output coordinate, weight) pairs reading each input
/// coordinate, in CSR form (begin[i] .. begin[i + 1] into `entries`).
struct Readers {
  std::vector<int64_t> begin;
  std::vector<std::pair<int64_t, double>> entries;
};

Readers readersOf(const ResizeTable &taps, int64_t in, int64_t out) {
  std::vector<std::vector<std::pair<int64_t, double>>> lists(static_cast<size_t>(in));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c = 0; c < taps.count; ++c) {
      const size_t k = static_cast<size_t>(o * taps.count + c);
      if (taps.weight[k] != 0)
        lists[taps.index[k]].push_back({o, taps.weight[k]});
    }
  Readers r;
  r.begin.push_back(0);
  for (auto &l : lists) {
    r.entries.insert(r.entries.end(), l.begin(), l.end());
    r.begin.push_back(static_cast<int64_t>(r.entries.size()));
  }
  return r;
}

} // namespace

PRECIS_CPU_KERNEL(resizeKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("resize", inputs, outputs, 1, 1, 1));
  const TensorView &X = inputs[0], &out = outputs[0];
  if (!isFloat(X.dtype) || X.dtype != out.dtype)
    return unsupportedDtypes("resize", inputs, outputs);
  ResizePlan plan;
  PRECIS_RETURN_IF_ERROR(resizePlan("resize", X.shape, out.shape, attrs, plan));
  const int rank = static_cast<int>(X.shape.size());
  const std::vector<int64_t> inStrides = contiguousStrides(X.shape);
  const int64_t total = product(out.shape, 0, out.shape.size());
  const int k = static_cast<int>(plan.active.size());
  int64_t corners = 1;
  for (int a : plan.active)
    corners *= plan.taps[a].count;
  auto unsupported = [&] { return unsupportedDtypes("resize", inputs, outputs); };
  return visitFloat(out.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using C = typename T::C;
    using E = typename T::E;
    const auto *x = static_cast<const typename T::S *>(X.data);
    auto *y = static_cast<typename T::S *>(out.data);
    parallelFor(ctx, total, 1024, [&](int64_t b, int64_t e) {
      std::vector<int64_t> coord(static_cast<size_t>(rank));
      for (int64_t t = b; t < e; ++t) {
        int64_t rest = t, base = 0;
        for (int a = rank - 1; a >= 0; --a) {
          coord[a] = rest % out.shape[a];
          rest /= out.shape[a];
        }
        for (int a = 0; a < rank; ++a)
          base += coord[a] * inStrides[a];
        for (int j = 0; j < k; ++j)
          base -= coord[plan.active[j]] * inStrides[plan.active[j]];
        // Sum over the corners of the active axes' taps (digit j of `corner`, the first axis
        // fastest, picks the tap on active axis j); zero weights are skipped.
        C acc = 0;
        for (int64_t corner = 0; corner < corners; ++corner) {
          double w = 1;
          int64_t off = base, rest = corner;
          for (int j = 0; j < k && w != 0; ++j) {
            const ResizeTable &taps = plan.taps[plan.active[j]];
            const size_t tap =
                static_cast<size_t>(coord[plan.active[j]] * taps.count + rest % taps.count);
            rest /= taps.count;
            w *= taps.weight[tap];
            off += taps.index[tap] * inStrides[plan.active[j]];
          }
          if (w != 0)
            acc += static_cast<C>(w) * E::load(x[off]);
        }
        y[t] = E::store(acc);
      }
    });
    return Status::ok();
  });
}

PRECIS_CPU_KERNEL(resizeGradKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("resize_grad", inputs, outputs, 1, 1, 1));
  const TensorView &G = inputs[0], &out = outputs[0];
  if (!isFloat(G.dtype) || G.dtype != out.dtype)
    return unsupportedDtypes("resize_grad", inputs, outputs);
  ResizePlan plan;
  PRECIS_RETURN_IF_ERROR(resizePlan("resize_grad", out.shape, G.shape, attrs, plan));
  const int rank = static_cast<int>(out.shape.size());
  const int k = static_cast<int>(plan.active.size());
  std::vector<Readers> readers;
  for (int a : plan.active)
    readers.push_back(readersOf(plan.taps[a], out.shape[a], G.shape[a]));
  const std::vector<int64_t> gStrides = contiguousStrides(G.shape);
  const int64_t total = product(out.shape, 0, out.shape.size());
  auto unsupported = [&] { return unsupportedDtypes("resize_grad", inputs, outputs); };
  return visitFloat(out.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using C = typename T::C;
    using E = typename T::E;
    const auto *g = static_cast<const typename T::S *>(G.data);
    auto *dx = static_cast<typename T::S *>(out.data);
    parallelFor(ctx, total, 1024, [&](int64_t b, int64_t e) {
      std::vector<int64_t> coord(static_cast<size_t>(rank)), pos(static_cast<size_t>(k));
      for (int64_t t = b; t < e; ++t) {
        int64_t rest = t, base = 0;
        for (int a = rank - 1; a >= 0; --a) {
          coord[a] = rest % out.shape[a];
          rest /= out.shape[a];
        }
        for (int a = 0; a < rank; ++a)
          base += coord[a] * gStrides[a];
        bool empty = false;
        for (int j = 0; j < k; ++j) {
          const int a = plan.active[j];
          base -= coord[a] * gStrides[a];
          pos[j] = readers[j].begin[coord[a]];
          empty = empty || pos[j] == readers[j].begin[coord[a] + 1];
        }
        C acc = 0;
        // An odometer over the readers of each active axis, the last axis fastest.
        while (!empty) {
          double w = 1;
          int64_t off = base;
          for (int j = 0; j < k; ++j) {
            const auto &entry = readers[j].entries[pos[j]];
            w *= entry.second;
            off += entry.first * gStrides[plan.active[j]];
          }
          acc += static_cast<C>(w) * E::load(g[off]);
          int j = k - 1;
          for (; j >= 0; --j) {
            const int a = plan.active[j];
            if (++pos[j] < readers[j].begin[coord[a] + 1])
              break;
            pos[j] = readers[j].begin[coord[a]];
          }
          if (j < 0)
            break;
        }
        if (k == 0)
          acc = E::load(g[base]);
        dx[t] = E::store(acc);
      }
    });
    return Status::ok();
  });
}

} // namespace precis::rt::cpu
