//===- Resize.cpp - resize and resize_grad ---------------------------------===//
//
// precis.resize reads, for every output element, the product over its axes of the one or two
// taps precis::resizeTaps (ResizeTaps.h, shared with the CUDA emitter) gives each coordinate.
// resize_grad is its adjoint written as a gather: every input element sums the output
// gradients that read it, weighted as they read it, in a fixed order (no scatter, no atomics,
// so the result does not depend on the thread count). Sums accumulate in the compute type.
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"
#include "precis/runtime/ResizeTaps.h"

#include <string>
#include <vector>

namespace precis::rt::cpu {
namespace {

/// The per-axis taps of a resize from `in` to `out`, and the axes whose taps are not the
/// identity (only those are looped over).
struct ResizePlan {
  std::vector<std::vector<ResizeTap>> taps;
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
  const std::string mode = attrs.getString("mode", "nearest"),
                    coord = attrs.getString("coordinate_transformation_mode", "half_pixel"),
                    nearest = attrs.getString("nearest_mode", "round_prefer_floor");
  if (!isResizeMode(mode) || !isResizeCoordinateMode(coord) || !isResizeNearestMode(nearest))
    return badShape(kind, "unknown mode '" + mode + "', '" + coord + "' or '" + nearest + "'");
  plan.taps.clear();
  plan.active.clear();
  for (size_t a = 0; a < in.size(); ++a) {
    if (in[a] < 1 || out[a] < 1 || !(scales[a] > 0))
      return badShape(kind, "empty axis or non-positive scale");
    plan.taps.push_back(resizeTaps(in[a], out[a], scales[a], mode, coord, nearest));
    bool identity = in[a] == out[a];
    for (int64_t o = 0; identity && o < out[a]; ++o)
      identity = plan.taps[a][o].lo == o && plan.taps[a][o].weight == 0;
    if (!identity)
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

Readers readersOf(const std::vector<ResizeTap> &taps, int64_t in) {
  std::vector<std::vector<std::pair<int64_t, double>>> lists(static_cast<size_t>(in));
  for (int64_t o = 0; o < static_cast<int64_t>(taps.size()); ++o) {
    const ResizeTap &t = taps[o];
    if (t.weight == 0) {
      lists[t.lo].push_back({o, 1.0});
      continue;
    }
    lists[t.lo].push_back({o, 1 - t.weight});
    lists[t.hi].push_back({o, t.weight});
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
        // Sum over the 2^k corners of the active axes; zero weights are skipped.
        C acc = 0;
        for (int corner = 0; corner < (1 << k); ++corner) {
          double w = 1;
          int64_t off = base;
          for (int j = 0; j < k && w != 0; ++j) {
            const int a = plan.active[j];
            const ResizeTap &tap = plan.taps[a][coord[a]];
            const bool high = (corner >> j) & 1;
            w *= high ? tap.weight : 1 - tap.weight;
            off += (high ? tap.hi : tap.lo) * inStrides[a];
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
    readers.push_back(readersOf(plan.taps[a], out.shape[a]));
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
