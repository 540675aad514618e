//===- Optimizer.cpp - sgd_update and adam_update --------------------------===//
//
// One optimizer step of one parameter, as PyTorch's single-tensor (non-foreach, non-fused)
// torch.optim.SGD / Adam / AdamW compute it: element-wise fp32 tensor math, with the per-step
// scalars (bias corrections, step size, 1 - lr * weight_decay) formed in fp64 as torch forms
// them in Python and rounded to fp32 where they meet a tensor. PrecisOps.td states the
// formulas. One pass over the elements; an output may alias its own input (the runtime updates
// state in place), since each element is read before it is written.
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"

#include <cmath>

namespace precis::rt::cpu {
namespace {

/// Every view is f32 and shaped like the first.
bool allF32Like(const TensorView &like, std::initializer_list<const TensorView *> views) {
  for (const TensorView *v : views)
    if (v->dtype != DType::F32 || v->shape != like.shape)
      return false;
  return true;
}

bool isF32Scalar(const TensorView &t) { return t.dtype == DType::F32 && t.numElements() == 1; }

constexpr int64_t kGrain = 1 << 14;

} // namespace

PRECIS_CPU_KERNEL(sgdUpdateKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("sgd_update", inputs, outputs, 4, 5, 1));
  const double momentum = attrs.getFloat("momentum", 0.0);
  const double dampening = attrs.getFloat("dampening", 0.0);
  const double weightDecay = attrs.getFloat("weight_decay", 0.0);
  const bool nesterov = attrs.getInt("nesterov", 0) != 0;
  const bool hasBuf = momentum != 0;
  if (inputs.size() != (hasBuf ? 5u : 4u) || outputs.size() != (hasBuf ? 2u : 1u))
    return badShape("sgd_update", "expects a momentum buffer operand and result exactly when "
                                  "momentum != 0");
  const TensorView &P = inputs[0], &G = inputs[1];
  if (!isF32Scalar(inputs[2]) || !isF32Scalar(inputs[3]) || !allF32Like(P, {&G, &outputs[0]}) ||
      (hasBuf && !allF32Like(P, {&inputs[4], &outputs[1]})))
    return unsupportedDtypes("sgd_update", inputs, outputs);
  const bool firstStep = *static_cast<const float *>(inputs[2].data) == 1.0f;
  const double lr = *static_cast<const float *>(inputs[3].data);
  const float wd = static_cast<float>(weightDecay), m = static_cast<float>(momentum),
              keep = static_cast<float>(1.0 - dampening), negLr = static_cast<float>(-lr);
  const float *p = static_cast<const float *>(P.data), *g = static_cast<const float *>(G.data);
  const float *buf = hasBuf ? static_cast<const float *>(inputs[4].data) : nullptr;
  float *newP = static_cast<float *>(outputs[0].data);
  float *newBuf = hasBuf ? static_cast<float *>(outputs[1].data) : nullptr;
  parallelFor(ctx, P.numElements(), kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float pv = p[i];
      float d = g[i];
      if (wd != 0)
        d = d + wd * pv;
      if (hasBuf) {
        const float b = firstStep ? d : buf[i] * m + keep * d;
        newBuf[i] = b;
        d = nesterov ? d + m * b : b;
      }
      newP[i] = pv + negLr * d;
    }
  });
  return Status::ok();
}

PRECIS_CPU_KERNEL(adamUpdateKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("adam_update", inputs, outputs, 6, 6, 3));
  const TensorView &P = inputs[0];
  if (!isF32Scalar(inputs[4]) || !isF32Scalar(inputs[5]) ||
      !allF32Like(P, {&inputs[1], &inputs[2], &inputs[3], &outputs[0], &outputs[1], &outputs[2]}))
    return unsupportedDtypes("adam_update", inputs, outputs);
  const double beta1 = attrs.getFloat("beta1", 0.9), beta2 = attrs.getFloat("beta2", 0.999);
  const double eps = attrs.getFloat("eps", 1e-8), weightDecay = attrs.getFloat("weight_decay", 0);
  const bool decoupled = attrs.getInt("decoupled", 0) != 0;
  const double step = *static_cast<const float *>(inputs[4].data);
  const double lr = *static_cast<const float *>(inputs[5].data);
  if (!(step >= 1))
    return badShape("adam_update", "step must be >= 1 (the count after this step)");
  // The scalars torch computes in Python doubles.
  const double biasC1 = 1 - std::pow(beta1, step), biasC2 = 1 - std::pow(beta2, step);
  const float stepSize = static_cast<float>(lr / biasC1);
  const float biasC2Sqrt = static_cast<float>(std::sqrt(biasC2));
  const float decay = static_cast<float>(1 - lr * weightDecay);
  const float wd = static_cast<float>(weightDecay), w1 = static_cast<float>(1 - beta1),
              b2 = static_cast<float>(beta2), w2 = static_cast<float>(1 - beta2),
              e = static_cast<float>(eps);
  const float *p = static_cast<const float *>(P.data);
  const float *g = static_cast<const float *>(inputs[1].data);
  const float *m = static_cast<const float *>(inputs[2].data);
  const float *v = static_cast<const float *>(inputs[3].data);
  float *newP = static_cast<float *>(outputs[0].data);
  float *newM = static_cast<float *>(outputs[1].data);
  float *newV = static_cast<float *>(outputs[2].data);
  parallelFor(ctx, P.numElements(), kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float pv = p[i], gv = g[i];
      if (decoupled)
        pv = pv * decay;
      else if (wd != 0)
        gv = gv + wd * pv;
      // exp_avg.lerp_(grad, 1 - beta1): torch's lerp for a weight below 0.5.
      const float mv = m[i] + w1 * (gv - m[i]);
      const float vv = v[i] * b2 + w2 * (gv * gv);
      const float denom = std::sqrt(vv) / biasC2Sqrt + e;
      newM[i] = mv;
      newV[i] = vv;
      newP[i] = pv + -stepSize * (mv / denom);
    }
  });
  return Status::ok();
}

} // namespace precis::rt::cpu
