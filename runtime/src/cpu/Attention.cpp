//===- Attention.cpp - attention and attention_grad ------------------------===//
//
// Scaled dot-product attention, computed flash-style: for each query row the keys are visited
// in blocks of kBlock, and the softmax is accumulated online (running maximum m, running
// denominator l, running weighted sum of values o, rescaled by exp(m_old - m_new) when the
// maximum grows). Only one block of scores per query row exists at any time, never the
// [Sq, Skv] matrix. Scores, the softmax and every accumulation run in fp32 (fp64 for f64
// tensors) whatever the operand dtype; operands are decoded once into fp32 copies (keys
// transposed to [D, Skv] so the score loop runs over contiguous keys) and results are rounded
// once when stored. The forward op also writes logsumexp = m + log(l) per row (f32, or f64).
//
// The backward recomputes each block's probabilities from logsumexp:
//   p = exp(s - lse), dp = dO . v, ds = p * (dp - delta), delta = rowsum(dO * O),
//   dQ += scale * ds K, dK += scale * ds^T Q, dV += p^T dO,
// one task per (batch, key/value head), so the query heads sharing a key/value head
// accumulate dK and dV without races.
//
// A row whose keys are all masked (-inf) gets a zero result, logsumexp -inf and zero
// gradients.
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"

#include "precis/runtime/FastMath.h"

#include <cmath>

namespace precis::rt::cpu {
namespace {

constexpr int64_t kBlock = 64;

/// exp in the compute type: FastMath's vectorizable fastExp for float (1 ulp), libm for double.
inline float expC(float x) { return fastExp(x); }
inline double expC(double x) { return std::exp(x); }

/// The float tensor decoded to the compute type C.
template <typename C> std::vector<C> decode(const TensorView &t) {
  if constexpr (std::is_same_v<C, double>) {
    if (t.dtype == DType::F64) {
      const double *p = static_cast<const double *>(t.data);
      return std::vector<double>(p, p + t.numElements());
    }
    std::vector<float> f = toFloatVector(t);
    return std::vector<double>(f.begin(), f.end());
  } else {
    return toFloatVector(t);
  }
}

template <typename C>
void store(const KernelContext &ctx, const std::vector<C> &v, const TensorView &out) {
  if constexpr (std::is_same_v<C, double>) {
    if (out.dtype == DType::F64) {
      std::copy(v.begin(), v.end(), static_cast<double *>(out.data));
      return;
    }
    std::vector<float> f(v.begin(), v.end());
    storeFloats(ctx, f.data(), static_cast<int64_t>(f.size()), out);
  } else {
    storeFloats(ctx, v.data(), static_cast<int64_t>(v.size()), out);
  }
}

/// Shapes and attributes shared by the forward and backward kernels.
struct Dims {
  int64_t B, H, Hkv, Sq, Skv, D, Dv, group;
  double scale;
  bool causal;
  std::vector<int64_t> maskStrides; // empty without a mask
};

Status attentionDims(const char *kind, const TensorView &q, const TensorView &k,
                     const TensorView &v, const TensorView *mask, const Attrs &attrs, Dims &d) {
  if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4)
    return badShape(kind, "query, key and value must have rank 4");
  d.B = q.shape[0], d.H = q.shape[1], d.Sq = q.shape[2], d.D = q.shape[3];
  d.Hkv = k.shape[1], d.Skv = k.shape[2], d.Dv = v.shape[3];
  if (k.shape[0] != d.B || v.shape[0] != d.B || k.shape[3] != d.D || v.shape[1] != d.Hkv ||
      v.shape[2] != d.Skv || d.Hkv == 0 || d.H % d.Hkv != 0)
    return badShape(kind, "query " + shapeString(q.shape) + ", key " + shapeString(k.shape) +
                              " and value " + shapeString(v.shape) + " do not agree");
  d.group = d.H / d.Hkv;
  d.scale = attrs.getFloat("scale", 1.0);
  d.causal = attrs.getInt("is_causal", 0) != 0;
  d.maskStrides.clear();
  if (mask && !broadcastStrides(mask->shape, {d.B, d.H, d.Sq, d.Skv}, d.maskStrides))
    return badShape(kind, "mask " + shapeString(mask->shape) + " does not broadcast to " +
                              shapeString({d.B, d.H, d.Sq, d.Skv}));
  return Status::ok();
}

/// The keys of row i that the causal mask leaves: [0, end).
int64_t keyEnd(const Dims &d, int64_t i) {
  return d.causal ? std::min<int64_t>(d.Skv, i + 1) : d.Skv;
}

/// Scores of query row `q` (length D) against keys [j0, j0 + n) of the transposed keys `kt`
/// ([D, Skv]), scaled and masked, into s[0, n).
template <typename C>
void blockScores(const Dims &d, const C *q, const C *kt, const C *maskRow, int64_t maskStride,
                 int64_t j0, int64_t n, C *s) {
  for (int64_t j = 0; j < n; ++j)
    s[j] = 0;
  for (int64_t c = 0; c < d.D; ++c) {
    const C qc = q[c];
    const C *kr = kt + c * d.Skv + j0;
    for (int64_t j = 0; j < n; ++j)
      s[j] += qc * kr[j];
  }
  const C scale = static_cast<C>(d.scale);
  for (int64_t j = 0; j < n; ++j)
    s[j] *= scale;
  if (maskRow)
    for (int64_t j = 0; j < n; ++j)
      s[j] += maskRow[(j0 + j) * maskStride];
}

/// Transposes the keys of every (batch, kv head): [.., Skv, D] -> [.., D, Skv].
template <typename C> std::vector<C> transposeKeys(const std::vector<C> &k, const Dims &d) {
  std::vector<C> kt(k.size());
  for (int64_t bh = 0; bh < d.B * d.Hkv; ++bh)
    for (int64_t j = 0; j < d.Skv; ++j)
      for (int64_t c = 0; c < d.D; ++c)
        kt[(bh * d.D + c) * d.Skv + j] = k[(bh * d.Skv + j) * d.D + c];
  return kt;
}

/// The mask row of (b, h, i): a pointer to its first key, and the key stride in `stride`.
template <typename C>
const C *maskRowOf(const Dims &d, const std::vector<C> &mask, int64_t b, int64_t h, int64_t i,
                   int64_t &stride) {
  if (d.maskStrides.empty())
    return nullptr;
  stride = d.maskStrides[3];
  return mask.data() + b * d.maskStrides[0] + h * d.maskStrides[1] + i * d.maskStrides[2];
}

} // namespace

PRECIS_CPU_KERNEL(attentionKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("attention", inputs, outputs, 3, 4, 2));
  const TensorView &q = inputs[0], &k = inputs[1], &v = inputs[2];
  const TensorView *mask = inputs.size() > 3 ? &inputs[3] : nullptr;
  const TensorView &out = outputs[0], &lse = outputs[1];
  for (const TensorView *t : {&q, &k, &v, mask, &out})
    if (t && !isFloat(t->dtype))
      return unsupportedDtypes("attention", inputs, outputs);
  if (lse.dtype != DType::F64 && lse.dtype != DType::F32)
    return unsupportedDtypes("attention", inputs, outputs);
  Dims d;
  PRECIS_RETURN_IF_ERROR(attentionDims("attention", q, k, v, mask, attrs, d));
  if (out.shape != std::vector<int64_t>{d.B, d.H, d.Sq, d.Dv} ||
      lse.shape != std::vector<int64_t>{d.B, d.H, d.Sq})
    return badShape("attention", "result " + shapeString(out.shape) + " or logsumexp " +
                                     shapeString(lse.shape) + " do not match the operands");
  auto run = [&](auto zero) {
    using C = decltype(zero);
    const std::vector<C> Q = decode<C>(q), KT = transposeKeys(decode<C>(k), d), V = decode<C>(v);
    const std::vector<C> M = mask ? decode<C>(*mask) : std::vector<C>();
    std::vector<C> O(static_cast<size_t>(d.B * d.H * d.Sq * d.Dv));
    std::vector<C> L(static_cast<size_t>(d.B * d.H * d.Sq));
    const int64_t rows = d.B * d.H * d.Sq;
    const C inf = std::numeric_limits<C>::infinity();
    parallelFor(ctx, rows, std::max<int64_t>(1, 64 / std::max<int64_t>(1, d.Skv / 64)),
                [&](int64_t begin, int64_t end) {
                  std::vector<C> s(kBlock), acc(static_cast<size_t>(d.Dv));
                  for (int64_t r = begin; r < end; ++r) {
                    const int64_t i = r % d.Sq, bh = r / d.Sq, h = bh % d.H, b = bh / d.H;
                    const int64_t kvh = b * d.Hkv + h / d.group;
                    const C *qr = Q.data() + r * d.D, *kt = KT.data() + kvh * d.D * d.Skv;
                    const C *vh = V.data() + kvh * d.Skv * d.Dv;
                    int64_t ms = 0;
                    const C *mrow = maskRowOf(d, M, b, h, i, ms);
                    C m = -inf, l = 0;
                    std::fill(acc.begin(), acc.end(), C(0));
                    const int64_t jEnd = keyEnd(d, i);
                    for (int64_t j0 = 0; j0 < jEnd; j0 += kBlock) {
                      const int64_t n = std::min(kBlock, jEnd - j0);
                      blockScores(d, qr, kt, mrow, ms, j0, n, s.data());
                      C bm = -inf;
                      for (int64_t j = 0; j < n; ++j)
                        bm = std::max(bm, s[j]);
                      if (bm == -inf)
                        continue; // every key of the block is masked
                      if (bm > m) {
                        const C corr = m == -inf ? C(0) : expC(m - bm);
                        l *= corr;
                        for (int64_t c = 0; c < d.Dv; ++c)
                          acc[c] *= corr;
                        m = bm;
                      }
                      for (int64_t j = 0; j < n; ++j)
                        s[j] = expC(s[j] - m);
                      for (int64_t j = 0; j < n; ++j) {
                        const C p = s[j];
                        l += p;
                        const C *vr = vh + (j0 + j) * d.Dv;
                        for (int64_t c = 0; c < d.Dv; ++c)
                          acc[c] += p * vr[c];
                      }
                    }
                    C *o = O.data() + r * d.Dv;
                    if (l > 0) {
                      const C inv = C(1) / l;
                      for (int64_t c = 0; c < d.Dv; ++c)
                        o[c] = acc[c] * inv;
                      L[r] = m + std::log(l);
                    } else {
                      for (int64_t c = 0; c < d.Dv; ++c)
                        o[c] = 0;
                      L[r] = -inf;
                    }
                  }
                });
    store(ctx, O, out);
    store(ctx, L, lse);
    return Status::ok();
  };
  return q.dtype == DType::F64 ? run(double(0)) : run(float(0));
}

PRECIS_CPU_KERNEL(attentionGradKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("attention_grad", inputs, outputs, 6, 7, 3));
  const TensorView &q = inputs[0], &k = inputs[1], &v = inputs[2], &o = inputs[3], &lse = inputs[4],
                   &go = inputs[5];
  const TensorView *mask = inputs.size() > 6 ? &inputs[6] : nullptr;
  for (const TensorView *t : std::initializer_list<const TensorView *>{
           &q, &k, &v, &o, &go, mask, &outputs[0], &outputs[1], &outputs[2]})
    if (t && !isFloat(t->dtype))
      return unsupportedDtypes("attention_grad", inputs, outputs);
  if (lse.dtype != DType::F64 && lse.dtype != DType::F32)
    return unsupportedDtypes("attention_grad", inputs, outputs);
  Dims d;
  PRECIS_RETURN_IF_ERROR(attentionDims("attention_grad", q, k, v, mask, attrs, d));
  const std::vector<int64_t> oShape{d.B, d.H, d.Sq, d.Dv};
  if (o.shape != oShape || go.shape != oShape ||
      lse.shape != std::vector<int64_t>{d.B, d.H, d.Sq} || outputs[0].shape != q.shape ||
      outputs[1].shape != k.shape || outputs[2].shape != v.shape)
    return badShape("attention_grad", "result, logsumexp, grad or gradient shapes do not "
                                      "match the operands");
  auto run = [&](auto zero) {
    using C = decltype(zero);
    const std::vector<C> Q = decode<C>(q), K = decode<C>(k), KT = transposeKeys(K, d);
    const std::vector<C> V = decode<C>(v), GO = decode<C>(go), Ov = decode<C>(o);
    const std::vector<C> M = mask ? decode<C>(*mask) : std::vector<C>();
    // V transposed like the keys: dp = dO . v runs over contiguous keys.
    Dims dv = d;
    dv.D = d.Dv;
    const std::vector<C> VT = transposeKeys(V, dv);
    const std::vector<C> L = decode<C>(lse);
    std::vector<C> dQ(Q.size()), dK(K.size(), C(0)), dV(V.size(), C(0));
    const C scale = static_cast<C>(d.scale);
    parallelFor(ctx, d.B * d.Hkv, 1, [&](int64_t begin, int64_t end) {
      std::vector<C> s(kBlock), dp(kBlock), dq(static_cast<size_t>(d.D));
      for (int64_t kvh = begin; kvh < end; ++kvh) {
        const int64_t b = kvh / d.Hkv, hk = kvh % d.Hkv;
        const C *kt = KT.data() + kvh * d.D * d.Skv, *kh = K.data() + kvh * d.Skv * d.D;
        const C *vt = VT.data() + kvh * d.Dv * d.Skv;
        C *dk = dK.data() + kvh * d.Skv * d.D, *dvh = dV.data() + kvh * d.Skv * d.Dv;
        for (int64_t h = hk * d.group; h < (hk + 1) * d.group; ++h)
          for (int64_t i = 0; i < d.Sq; ++i) {
            const int64_t r = (b * d.H + h) * d.Sq + i;
            const C *qr = Q.data() + r * d.D, *gor = GO.data() + r * d.Dv;
            const C *orow = Ov.data() + r * d.Dv;
            std::fill(dq.begin(), dq.end(), C(0));
            const C lr = L[r];
            if (lr != -std::numeric_limits<C>::infinity()) {
              C delta = 0;
              for (int64_t c = 0; c < d.Dv; ++c)
                delta += gor[c] * orow[c];
              int64_t ms = 0;
              const C *mrow = maskRowOf(d, M, b, h, i, ms);
              const int64_t jEnd = keyEnd(d, i);
              for (int64_t j0 = 0; j0 < jEnd; j0 += kBlock) {
                const int64_t n = std::min(kBlock, jEnd - j0);
                blockScores(d, qr, kt, mrow, ms, j0, n, s.data());
                for (int64_t j = 0; j < n; ++j)
                  s[j] = expC(s[j] - lr); // probabilities
                for (int64_t j = 0; j < n; ++j)
                  dp[j] = 0;
                for (int64_t c = 0; c < d.Dv; ++c) {
                  const C g = gor[c];
                  const C *vr = vt + c * d.Skv + j0;
                  for (int64_t j = 0; j < n; ++j)
                    dp[j] += g * vr[j];
                }
                for (int64_t j = 0; j < n; ++j) {
                  const C p = s[j], ds = p * (dp[j] - delta) * scale;
                  C *dvr = dvh + (j0 + j) * d.Dv;
                  for (int64_t c = 0; c < d.Dv; ++c)
                    dvr[c] += p * gor[c];
                  const C *kr = kh + (j0 + j) * d.D;
                  C *dkr = dk + (j0 + j) * d.D;
                  for (int64_t c = 0; c < d.D; ++c) {
                    dq[c] += ds * kr[c];
                    dkr[c] += ds * qr[c];
                  }
                }
              }
            }
            std::copy(dq.begin(), dq.end(), dQ.begin() + r * d.D);
          }
      }
    });
    store(ctx, dQ, outputs[0]);
    store(ctx, dK, outputs[1]);
    store(ctx, dV, outputs[2]);
    return Status::ok();
  };
  return q.dtype == DType::F64 ? run(double(0)) : run(float(0));
}

} // namespace precis::rt::cpu
