//===- Loss.cpp - softmax_cross_entropy and nll_loss -----------------------===//
//
// ONNX SoftmaxCrossEntropyLoss / NegativeLogLikelihoodLoss, matching the ONNX reference
// implementations: with the per-entry weight w = weights[label] (1 without weights) and w = 0
// for entries whose label is ignore_index,
//   none: loss[n, d...] = -w * logp[n, label, d...]
//   sum:  sum of those
//   mean: sum / sum(w)  (the plain mean when there are neither weights nor an ignore_index;
//                        NaN when every entry is ignored, as in the reference)
// A label outside [0, C) that is not ignore_index is an InvalidArgument error. log-softmax
// runs in the compute type with a double-accumulated denominator; the loss sums accumulate in
// double.
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"

#include <cmath>

namespace precis::rt::cpu {
namespace {

struct LossSetup {
  int64_t N = 0, C = 0, D = 1; // input viewed as [N, C, D]
  int64_t reduction = 2;
  bool hasIgnore = false;
  int64_t ignoreIndex = 0;
  std::vector<int64_t> labels; // N * D
  std::vector<double> weights; // C, or empty
};

Status setupLoss(const char *kind, const TensorView &in, const TensorView &target,
                 const TensorView *weights, const TensorView &loss, const Attrs &attrs,
                 LossSetup &s) {
  if (in.rank() < 2)
    return badShape(kind, "input must be N x C x D1 ...");
  s.N = in.shape[0];
  s.C = in.shape[1];
  s.D = product(in.shape, 2, in.shape.size());
  std::vector<int64_t> tshape{in.shape[0]};
  tshape.insert(tshape.end(), in.shape.begin() + 2, in.shape.end());
  if (target.shape != tshape)
    return badShape(kind, "labels shape " + shapeString(target.shape) + " should be " +
                              shapeString(tshape));
  if (weights && weights->numElements() != s.C)
    return badShape(kind, "weights must have C elements");
  s.reduction = attrs.getInt("reduction", 2);
  if (s.reduction < 0 || s.reduction > 2)
    return invalidArgument(std::string(kind) + ": unknown reduction " +
                           std::to_string(s.reduction));
  if (s.reduction == 0 ? loss.shape != tshape : loss.numElements() != 1)
    return badShape(kind,
                    "loss shape " + shapeString(loss.shape) + " does not match the reduction");
  s.hasIgnore = attrs.has("ignore_index");
  s.ignoreIndex = attrs.getInt("ignore_index", 0);
  const int64_t n = s.N * s.D;
  s.labels.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = target.dtype == DType::I64 ? static_cast<const int64_t *>(target.data)[i]
                                                 : static_cast<const int32_t *>(target.data)[i];
    if (!(s.hasIgnore && v == s.ignoreIndex) && (v < 0 || v >= s.C))
      return invalidArgument(std::string(kind) + ": label " + std::to_string(v) + " at position " +
                             std::to_string(i) + " is outside [0, " + std::to_string(s.C) + ")");
    s.labels[i] = v;
  }
  if (weights) {
    s.weights.resize(static_cast<size_t>(s.C));
    for (int64_t c = 0; c < s.C; ++c)
      s.weights[c] = weights->dtype == DType::F64 ? static_cast<const double *>(weights->data)[c]
                                                  : loadAsFloat(*weights, c);
  }
  return Status::ok();
}

/// Writes the loss from the per-entry values -logp[label] (`neg`, N * D of them).
template <typename TL>
void writeLoss(const LossSetup &s, const std::vector<double> &neg, const TensorView &loss) {
  using SL = typename TL::S;
  using CL = typename TL::C;
  SL *pl = static_cast<SL *>(loss.data);
  double total = 0.0, wsum = 0.0;
  for (int64_t i = 0; i < s.N * s.D; ++i) {
    const int64_t lab = s.labels[i];
    const bool ignored = s.hasIgnore && lab == s.ignoreIndex;
    const double w = ignored ? 0.0 : (s.weights.empty() ? 1.0 : s.weights[lab]);
    const double v = ignored ? 0.0 : w * neg[i];
    if (s.reduction == 0)
      pl[i] = TL::E::store(static_cast<CL>(v));
    total += v;
    wsum += w;
  }
  if (s.reduction == 1)
    pl[0] = TL::E::store(static_cast<CL>(total));
  else if (s.reduction == 2)
    pl[0] = TL::E::store(static_cast<CL>(total / wsum));
}

} // namespace

PRECIS_CPU_KERNEL(softmaxCrossEntropyKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("softmax_cross_entropy", inputs, outputs, 2, 3, 1));
  const TensorView &x = inputs[0], &labels = inputs[1], &loss = outputs[0];
  const TensorView *weights = inputs.size() > 2 ? &inputs[2] : nullptr;
  const TensorView *logProb = outputs.size() > 1 ? &outputs[1] : nullptr;
  if (!isFloat(x.dtype) || !isFloat(loss.dtype) || (weights && !isFloat(weights->dtype)) ||
      (labels.dtype != DType::I64 && labels.dtype != DType::I32) ||
      (logProb && logProb->dtype != x.dtype))
    return unsupportedDtypes("softmax_cross_entropy", inputs, outputs);
  if (logProb && logProb->shape != x.shape)
    return badShape("softmax_cross_entropy", "log_prob must have the scores' shape");
  LossSetup s;
  PRECIS_RETURN_IF_ERROR(setupLoss("softmax_cross_entropy", x, labels, weights, loss, attrs, s));
  std::vector<double> neg(static_cast<size_t>(s.N * s.D));
  auto unsupported = [&] { return unsupportedDtypes("softmax_cross_entropy", inputs, outputs); };
  PRECIS_RETURN_IF_ERROR(visitFloat(x.dtype, unsupported, [&](auto tag) {
    using T = decltype(tag);
    using S = typename T::S;
    using C = typename T::C;
    using E = typename T::E;
    const S *px = static_cast<const S *>(x.data);
    S *plp = logProb ? static_cast<S *>(logProb->data) : nullptr;
    const int64_t grain = std::max<int64_t>(1, kGrainExpensive / std::max<int64_t>(s.C, 1));
    parallelFor(ctx, s.N * s.D, grain, [&](int64_t b, int64_t e) {
      for (int64_t w = b; w < e; ++w) {
        const int64_t n = w / s.D, d = w % s.D;
        const S *row = px + n * s.C * s.D + d; // class c at row[c * D]
        C mx = -std::numeric_limits<C>::infinity();
        for (int64_t c = 0; c < s.C; ++c) {
          const C v = E::load(row[c * s.D]);
          mx = (v > mx || v != v) && mx == mx ? v : mx;
        }
        const C shift = std::isinf(mx) ? C(0) : mx;
        double sum = 0.0;
        for (int64_t c = 0; c < s.C; ++c)
          sum += static_cast<double>(std::exp(E::load(row[c * s.D]) - shift));
        const C lse = static_cast<C>(std::log(sum));
        if (plp) {
          S *lrow = plp + n * s.C * s.D + d;
          for (int64_t c = 0; c < s.C; ++c)
            lrow[c * s.D] = E::store(E::load(row[c * s.D]) - shift - lse);
        }
        const int64_t lab = s.labels[w];
        const bool ignored = s.hasIgnore && lab == s.ignoreIndex;
        neg[w] = ignored ? 0.0 : -static_cast<double>(E::load(row[lab * s.D]) - shift - lse);
      }
    });
    return Status::ok();
  }));
  return visitFloat(loss.dtype, unsupported, [&](auto tag) {
    writeLoss<decltype(tag)>(s, neg, loss);
    return Status::ok();
  });
}

PRECIS_CPU_KERNEL(nllLossKernel) {
  (void)ctx;
  PRECIS_RETURN_IF_ERROR(checkArity("nll_loss", inputs, outputs, 2, 3, 1));
  const TensorView &x = inputs[0], &target = inputs[1], &loss = outputs[0];
  const TensorView *weights = inputs.size() > 2 ? &inputs[2] : nullptr;
  if (!isFloat(x.dtype) || !isFloat(loss.dtype) || (weights && !isFloat(weights->dtype)) ||
      (target.dtype != DType::I64 && target.dtype != DType::I32))
    return unsupportedDtypes("nll_loss", inputs, outputs);
  LossSetup s;
  PRECIS_RETURN_IF_ERROR(setupLoss("nll_loss", x, target, weights, loss, attrs, s));
  std::vector<double> neg(static_cast<size_t>(s.N * s.D));
  for (int64_t w = 0; w < s.N * s.D; ++w) {
    const int64_t lab = s.labels[w];
    if (s.hasIgnore && lab == s.ignoreIndex)
      continue;
    const int64_t n = w / s.D, d = w % s.D;
    const int64_t i = (n * s.C + lab) * s.D + d;
    neg[w] = -(x.dtype == DType::F64 ? static_cast<const double *>(x.data)[i]
                                     : static_cast<double>(loadAsFloat(x, i)));
  }
  auto unsupported = [&] { return unsupportedDtypes("nll_loss", inputs, outputs); };
  return visitFloat(loss.dtype, unsupported, [&](auto tag) {
    writeLoss<decltype(tag)>(s, neg, loss);
    return Status::ok();
  });
}

} // namespace precis::rt::cpu
