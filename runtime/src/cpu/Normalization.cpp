//===- Normalization.cpp - layer_norm and batch_norm -----------------------===//
//
// Statistics (means and variances) accumulate in double with a two-pass variance, whatever
// the input dtype; the normalisation itself runs in the compute type (float, or double for
// f64 inputs) and the result is rounded once to the output dtype.
//
// batch_norm follows ONNX BatchNormalization-15 and its reference implementation
// (onnx/reference/ops/op_batch_normalization.py): in training mode the batch mean and the
// *population* (biased) variance normalise the input, and
//   new_running_mean = momentum * running_mean + (1 - momentum) * batch_mean
//   new_running_var  = momentum * running_var  + (1 - momentum) * batch_var   (biased too)
// which is where ONNX differs from PyTorch (PyTorch's running_var uses the unbiased variance);
// the `unbiased_running_var` attribute selects PyTorch's rule (batch_var * n / (n - 1), n the
// element count per channel, for the running variance only).
// In inference mode the running statistics normalise and are returned unchanged.
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"

#include <cmath>

namespace precis::rt::cpu {
namespace {

void storeAsFloat(const TensorView &t, int64_t i, double v) {
  switch (t.dtype) {
  case DType::F64:
    static_cast<double *>(t.data)[i] = v;
    break;
  case DType::F32:
    static_cast<float *>(t.data)[i] = static_cast<float>(v);
    break;
  case DType::F16:
    static_cast<uint16_t *>(t.data)[i] = float_to_fp16(static_cast<float>(v));
    break;
  case DType::BF16:
    static_cast<uint16_t *>(t.data)[i] = float_to_bf16(static_cast<float>(v));
    break;
  case DType::F8E4M3FN:
    static_cast<uint8_t *>(t.data)[i] = float_to_fp8_e4m3fn(static_cast<float>(v));
    break;
  case DType::F8E5M2:
    static_cast<uint8_t *>(t.data)[i] = float_to_fp8_e5m2(static_cast<float>(v));
    break;
  default:
    break;
  }
}

double loadAsDouble(const TensorView &t, int64_t i) {
  if (t.dtype == DType::F64)
    return static_cast<const double *>(t.data)[i];
  return loadAsFloat(t, i);
}

/// `t` broadcast to `shape` and read into a vector of the compute type.
template <typename C>
bool broadcastVector(const TensorView &t, const std::vector<int64_t> &shape, std::vector<C> &v) {
  std::vector<int64_t> strides;
  if (!broadcastStrides(t.shape, shape, strides))
    return false;
  const int64_t n = product(shape, 0, shape.size());
  v.resize(static_cast<size_t>(n));
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0, r = i;
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      off += (r % shape[d]) * strides[d];
      r /= shape[d];
    }
    v[i] = static_cast<C>(loadAsDouble(t, off));
  }
  return true;
}

} // namespace

PRECIS_CPU_KERNEL(layerNormKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("layer_norm", inputs, outputs, 2, 3, 1));
  const TensorView &x = inputs[0], &scale = inputs[1], &out = outputs[0];
  const TensorView *bias = inputs.size() > 2 ? &inputs[2] : nullptr;
  if (x.dtype != out.dtype || !isFloat(scale.dtype) || (bias && !isFloat(bias->dtype)))
    return unsupportedDtypes("layer_norm", inputs, outputs);
  if (x.shape != out.shape)
    return badShape("layer_norm", "result shape differs from the input shape");
  int64_t axis = attrs.getInt("axis", -1);
  if (!normalizeAxis(axis, x.rank()))
    return badShape("layer_norm", "axis out of range");
  const double eps = attrs.getFloat("epsilon", 1e-5);
  const bool rms = attrs.getInt("rms", 0) != 0;
  const std::vector<int64_t> normShape(x.shape.begin() + axis, x.shape.end());
  const int64_t D = product(normShape, 0, normShape.size());
  const int64_t rows = product(x.shape, 0, axis);
  auto unsupported = [&] { return unsupportedDtypes("layer_norm", inputs, outputs); };
  return visitFloat(x.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using S = typename T::S;
    using C = typename T::C;
    using E = typename T::E;
    std::vector<C> g, bvec;
    if (!broadcastVector(scale, normShape, g))
      return badShape("layer_norm", "scale " + shapeString(scale.shape) +
                                        " does not broadcast to " + shapeString(normShape));
    if (bias && !broadcastVector(*bias, normShape, bvec))
      return badShape("layer_norm", "bias " + shapeString(bias->shape) + " does not broadcast to " +
                                        shapeString(normShape));
    if (!bias)
      bvec.assign(static_cast<size_t>(D), C(0));
    const S *px = static_cast<const S *>(x.data);
    S *po = static_cast<S *>(out.data);
    if (D == 0)
      return Status::ok();
    parallelFor(ctx, rows, std::max<int64_t>(1, kGrainCheap / D), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const S *xr = px + r * D;
        S *yr = po + r * D;
        double sum = 0.0;
        if (!rms)
          for (int64_t j = 0; j < D; ++j)
            sum += static_cast<double>(E::load(xr[j]));
        const double mean = sum / static_cast<double>(D);
        double sq = 0.0;
        for (int64_t j = 0; j < D; ++j) {
          const double d = static_cast<double>(E::load(xr[j])) - mean;
          sq += d * d;
        }
        const C m = static_cast<C>(mean);
        const C rstd = static_cast<C>(1.0 / std::sqrt(sq / static_cast<double>(D) + eps));
        for (int64_t j = 0; j < D; ++j)
          yr[j] = E::store((E::load(xr[j]) - m) * rstd * g[j] + bvec[j]);
      }
    });
    return Status::ok();
  });
}

PRECIS_CPU_KERNEL(batchNormKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("batch_norm", inputs, outputs, 5, 5, 1));
  const TensorView &x = inputs[0], &scale = inputs[1], &bias = inputs[2];
  const TensorView &runMean = inputs[3], &runVar = inputs[4];
  const TensorView &y = outputs[0];
  for (const TensorView &t : inputs)
    if (!isFloat(t.dtype))
      return unsupportedDtypes("batch_norm", inputs, outputs);
  for (const TensorView &t : outputs)
    if (!isFloat(t.dtype))
      return unsupportedDtypes("batch_norm", inputs, outputs);
  if (x.dtype != y.dtype)
    return unsupportedDtypes("batch_norm", inputs, outputs);
  if (x.rank() < 2 || y.shape != x.shape)
    return badShape("batch_norm", "expects an N x C x ... input and a result of its shape");
  const int64_t N = x.shape[0], Cn = x.shape[1];
  const int64_t S = product(x.shape, 2, x.shape.size());
  for (size_t i = 1; i < inputs.size(); ++i)
    if (inputs[i].numElements() != Cn)
      return badShape("batch_norm", "scale, bias and running statistics must have C elements");
  for (size_t i = 1; i < outputs.size(); ++i)
    if (outputs[i].numElements() != Cn)
      return badShape("batch_norm", "running statistics results must have C elements");
  const bool training = attrs.getInt("training", 0) != 0;
  const double eps = attrs.getFloat("epsilon", 1e-5);
  const double momentum = attrs.getFloat("momentum", 0.9);
  const double count = static_cast<double>(N * S);
  const double bessel =
      attrs.getInt("unbiased_running_var", 0) != 0 && count > 1 ? count / (count - 1) : 1.0;

  std::vector<double> mean(static_cast<size_t>(Cn)), var(static_cast<size_t>(Cn));
  auto unsupported = [&] { return unsupportedDtypes("batch_norm", inputs, outputs); };
  return visitFloat(x.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using St = typename T::S;
    using Ct = typename T::C;
    using E = typename T::E;
    const St *px = static_cast<const St *>(x.data);
    St *py = static_cast<St *>(y.data);
    if (training) {
      parallelFor(ctx, Cn, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(N * S, 1)),
                  [&](int64_t b, int64_t e) {
                    for (int64_t c = b; c < e; ++c) {
                      double sum = 0.0;
                      for (int64_t n = 0; n < N; ++n) {
                        const St *p = px + (n * Cn + c) * S;
                        for (int64_t s = 0; s < S; ++s)
                          sum += static_cast<double>(E::load(p[s]));
                      }
                      const double m = count > 0 ? sum / count : 0.0;
                      double sq = 0.0;
                      for (int64_t n = 0; n < N; ++n) {
                        const St *p = px + (n * Cn + c) * S;
                        for (int64_t s = 0; s < S; ++s) {
                          const double d = static_cast<double>(E::load(p[s])) - m;
                          sq += d * d;
                        }
                      }
                      mean[c] = m;
                      var[c] = count > 0 ? sq / count : 0.0;
                    }
                  });
    } else {
      for (int64_t c = 0; c < Cn; ++c) {
        mean[c] = loadAsDouble(runMean, c);
        var[c] = loadAsDouble(runVar, c);
      }
    }
    // y = (x - mean) * (scale / sqrt(var + eps)) + bias
    std::vector<Ct> m(static_cast<size_t>(Cn)), a(static_cast<size_t>(Cn)),
        bb(static_cast<size_t>(Cn));
    for (int64_t c = 0; c < Cn; ++c) {
      m[c] = static_cast<Ct>(mean[c]);
      a[c] = static_cast<Ct>(loadAsDouble(scale, c) / std::sqrt(var[c] + eps));
      bb[c] = static_cast<Ct>(loadAsDouble(bias, c));
    }
    parallelFor(ctx, N * Cn, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(S, 1)),
                [&](int64_t b, int64_t e) {
                  for (int64_t w = b; w < e; ++w) {
                    const int64_t c = w % Cn;
                    const St *p = px + w * S;
                    St *q = py + w * S;
                    for (int64_t s = 0; s < S; ++s)
                      q[s] = E::store((E::load(p[s]) - m[c]) * a[c] + bb[c]);
                  }
                });
    for (int64_t c = 0; c < Cn; ++c) {
      const double rm = loadAsDouble(runMean, c), rv = loadAsDouble(runVar, c);
      const double nm = training ? momentum * rm + (1.0 - momentum) * mean[c] : rm;
      const double nv = training ? momentum * rv + (1.0 - momentum) * var[c] * bessel : rv;
      if (outputs.size() > 1)
        storeAsFloat(outputs[1], c, nm);
      if (outputs.size() > 2)
        storeAsFloat(outputs[2], c, nv);
    }
    return Status::ok();
  });
}

} // namespace precis::rt::cpu
