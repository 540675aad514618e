//===- AttentionKernelsTest.cpp - attention kernels against fp64 references ===//
//
// attention and attention_grad on random inputs (grouped-query heads, several key blocks and a
// partial last block, broadcast additive masks with -inf entries, causal masks with Sq != Skv,
// fully masked rows) in f64, f32, bf16 and f16, against a straightforward reference written
// here in double that materialises the whole score matrix. Inputs are drawn fresh each run;
// the seed is printed with every failure and PRECIS_TEST_SEED=<seed> replays it.
//
// The references see exactly the stored (rounded) operands. Tolerance per element:
//   |got - ref| <= u_out * |ref| + c * max|ref|
// u_out is the unit roundoff of the result format (the kernel rounds once when storing:
// 2^-8 bf16, 2^-11 f16, 2^-24 f32), and c covers the kernel's fp32 accumulation over the
// keys (online softmax rescaling, blocked sums): 2e-5 for fp32 compute (f32, bf16, f16
// operands), 1e-12 for f64 (computed in double, logsumexp stored in f64). The gradients get 5e-5
// (fp32) for their longer sums (every query row of every head in the group).
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
#include <limits>
#include <random>
#include <string>

using namespace precis;
using namespace precis::rt;
using namespace precis::rt::testing;

namespace {

Buffer zeros(DType dtype, std::vector<int64_t> shape) {
  return {dtype, shape, std::vector<uint8_t>(count(shape) * dtypeSize(dtype))};
}

double readAt(const Buffer &b, int64_t i) {
  const uint8_t *p = b.bytes.data() + i * dtypeSize(b.dtype);
  switch (b.dtype) {
  case DType::F64: {
    double v;
    std::memcpy(&v, p, 8);
    return v;
  }
  case DType::F32: {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  case DType::F16: {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return fp16_to_float(v);
  }
  default: {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return bf16_to_float(v);
  }
  }
}

double unitRoundoff(DType d) {
  switch (d) {
  case DType::F64:
    return 0x1p-53;
  case DType::F32:
    return 0x1p-24;
  case DType::F16:
    return 0x1p-11;
  default:
    return 0x1p-8;
  }
}

struct Case {
  int64_t B, H, Hkv, Sq, Skv, D, Dv;
  bool causal;
  /// Mask shape ([] for none); entries are random in [-2, 2], a fraction -inf, and with
  /// `maskRow` one query row masked whole.
  std::vector<int64_t> maskShape;
  bool maskRow;
};

struct Reference {
  std::vector<double> out, lse, dq, dk, dv;
};

/// The fp64 reference: full scores, softmax, products; gradients by the textbook formulas.
Reference reference(const Case &c, double scale, const std::vector<double> &q,
                    const std::vector<double> &k, const std::vector<double> &v,
                    const std::vector<double> &mask, const std::vector<double> &go) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<int64_t> ms;
  if (!c.maskShape.empty())
    cpu::broadcastStrides(c.maskShape, {c.B, c.H, c.Sq, c.Skv}, ms);
  Reference r;
  r.out.assign(c.B * c.H * c.Sq * c.Dv, 0.0);
  r.lse.assign(c.B * c.H * c.Sq, -inf);
  r.dq.assign(q.size(), 0.0);
  r.dk.assign(k.size(), 0.0);
  r.dv.assign(v.size(), 0.0);
  const int64_t g = c.H / c.Hkv;
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.H; ++h) {
      const int64_t kvh = b * c.Hkv + h / g;
      for (int64_t i = 0; i < c.Sq; ++i) {
        const int64_t row = (b * c.H + h) * c.Sq + i;
        std::vector<double> s(c.Skv);
        double m = -inf;
        for (int64_t j = 0; j < c.Skv; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < c.D; ++d)
            dot += q[row * c.D + d] * k[(kvh * c.Skv + j) * c.D + d];
          s[j] = dot * scale;
          if (!ms.empty())
            s[j] += mask[b * ms[0] + h * ms[1] + i * ms[2] + j * ms[3]];
          if (c.causal && j > i)
            s[j] = -inf;
          m = std::max(m, s[j]);
        }
        if (m == -inf)
          continue;
        double l = 0;
        for (int64_t j = 0; j < c.Skv; ++j)
          l += std::exp(s[j] - m);
        r.lse[row] = m + std::log(l);
        std::vector<double> p(c.Skv);
        for (int64_t j = 0; j < c.Skv; ++j) {
          p[j] = std::exp(s[j] - m) / l;
          for (int64_t d = 0; d < c.Dv; ++d)
            r.out[row * c.Dv + d] += p[j] * v[(kvh * c.Skv + j) * c.Dv + d];
        }
        // Gradients: dp = dO V^T, ds = p (dp - sum(p dp)).
        std::vector<double> dp(c.Skv, 0.0);
        double pdp = 0;
        for (int64_t j = 0; j < c.Skv; ++j) {
          for (int64_t d = 0; d < c.Dv; ++d)
            dp[j] += go[row * c.Dv + d] * v[(kvh * c.Skv + j) * c.Dv + d];
          pdp += p[j] * dp[j];
        }
        for (int64_t j = 0; j < c.Skv; ++j) {
          const double ds = p[j] * (dp[j] - pdp) * scale;
          for (int64_t d = 0; d < c.Dv; ++d)
            r.dv[(kvh * c.Skv + j) * c.Dv + d] += p[j] * go[row * c.Dv + d];
          for (int64_t d = 0; d < c.D; ++d) {
            r.dq[row * c.D + d] += ds * k[(kvh * c.Skv + j) * c.D + d];
            r.dk[(kvh * c.Skv + j) * c.D + d] += ds * q[row * c.D + d];
          }
        }
      }
    }
  return r;
}

void expectClose(const char *what, const Buffer &got, const std::vector<double> &ref, double c,
                 uint64_t seed) {
  double maxRef = 0;
  for (double x : ref)
    if (std::isfinite(x))
      maxRef = std::max(maxRef, std::abs(x));
  const double u = unitRoundoff(got.dtype);
  int bad = 0;
  for (size_t i = 0; i < ref.size() && bad < 5; ++i) {
    const double x = readAt(got, static_cast<int64_t>(i));
    if (std::isinf(ref[i]) && x == ref[i])
      continue;
    const double tol = u * std::abs(ref[i]) + c * maxRef;
    if (!(std::abs(x - ref[i]) <= tol)) {
      ADD_FAILURE() << what << "[" << i << "] = " << x << ", reference " << ref[i] << ", tolerance "
                    << tol << " (PRECIS_TEST_SEED=" << seed << ")";
      ++bad;
    }
  }
}

void runCase(const Case &c, DType dtype) {
  const uint64_t seed = testSeed();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uni(-1.0, 1.0);
  auto random = [&](int64_t n, double amp) {
    std::vector<double> x(n);
    for (double &e : x)
      e = amp * uni(rng);
    return x;
  };
  const std::vector<int64_t> qs{c.B, c.H, c.Sq, c.D}, ks{c.B, c.Hkv, c.Skv, c.D},
      vs{c.B, c.Hkv, c.Skv, c.Dv}, os{c.B, c.H, c.Sq, c.Dv}, ls{c.B, c.H, c.Sq};
  std::vector<double> q = random(count(qs), 2.0), k = random(count(ks), 2.0),
                      v = random(count(vs), 1.0), go = random(count(os), 1.0), mask;
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.D));
  Buffer Q = floatBuffer(dtype, qs, q), K = floatBuffer(dtype, ks, k),
         V = floatBuffer(dtype, vs, v);
  Buffer GO = floatBuffer(dtype, os, go), M;
  if (!c.maskShape.empty()) {
    mask = random(count(c.maskShape), 2.0);
    for (size_t i = 0; i < mask.size(); ++i)
      if (i % 7 == 3)
        mask[i] = -std::numeric_limits<double>::infinity();
    if (c.maskRow) { // the mask's row 1 masked whole
      const int64_t n = c.maskShape.back();
      for (int64_t j = 0; j < n; ++j)
        mask[n + j] = -std::numeric_limits<double>::infinity();
    }
    M = floatBuffer(dtype, c.maskShape, mask);
  }
  Reference ref = reference(c, scale, q, k, v, mask, go);

  Attrs attrs({{"scale", AttrValue{AttrValue::Kind::Float, 0, scale}},
               {"is_causal", AttrValue{AttrValue::Kind::Int, c.causal ? 1 : 0}}});
  KernelContext ctx;
  ctx.numThreads = 2;
  const DType lseType = dtype == DType::F64 ? DType::F64 : DType::F32;
  Buffer O = zeros(dtype, os), L = zeros(lseType, ls);
  std::vector<TensorView> in{Q.view(), K.view(), V.view()};
  if (!c.maskShape.empty())
    in.push_back(M.view());
  std::vector<TensorView> out{O.view(), L.view()};
  Status st = findCpuKernel("attention")(ctx, in, out, attrs);
  ASSERT_TRUE(st.isOk()) << st.message();
  const bool f64 = dtype == DType::F64;
  expectClose("attention result", O, ref.out, f64 ? 1e-12 : 2e-5, seed);
  expectClose("attention logsumexp", L, ref.lse, f64 ? 1e-12 : 2e-6, seed);

  // The backward from the reference forward (rounded as the forward op would store it).
  std::vector<double> oRef = ref.out, lRef = ref.lse;
  Buffer Oin = floatBuffer(dtype, os, oRef), Lin = floatBuffer(lseType, ls, lRef);
  Buffer DQ = zeros(dtype, qs), DK = zeros(dtype, ks), DV = zeros(dtype, vs);
  std::vector<TensorView> gin{Q.view(), K.view(), V.view(), Oin.view(), Lin.view(), GO.view()};
  if (!c.maskShape.empty())
    gin.push_back(M.view());
  std::vector<TensorView> gout{DQ.view(), DK.view(), DV.view()};
  st = findCpuKernel("attention_grad")(ctx, gin, gout, attrs);
  ASSERT_TRUE(st.isOk()) << st.message();
  // O and logsumexp are rounded inputs here; for low-precision dtypes the rounding of O
  // (delta = rowsum(dO * O)) adds u_out relative error to each ds, which the u_out term of the
  // tolerance does not cover for cancelling sums: allow 2 u_out of max|ref| for them.
  const double gc = f64 ? 1e-10 : 5e-5 + 2 * (dtype == DType::F32 ? 0.0 : unitRoundoff(dtype));
  expectClose("attention_grad dq", DQ, ref.dq, gc, seed);
  expectClose("attention_grad dk", DK, ref.dk, gc, seed);
  expectClose("attention_grad dv", DV, ref.dv, f64 ? 1e-12 : 5e-5, seed);
}

class AttentionKernel : public ::testing::TestWithParam<DType> {};

TEST_P(AttentionKernel, GroupedNoMask) {
  runCase({2, 4, 2, 37, 150, 16, 8, false, {}, false}, GetParam());
}
TEST_P(AttentionKernel, CausalSelf) {
  runCase({1, 3, 3, 130, 130, 8, 8, true, {}, false}, GetParam());
}
TEST_P(AttentionKernel, CausalShortQuery) {
  // Sq < Skv: the causal mask is aligned to the top left (key j <= query i).
  runCase({2, 2, 1, 5, 70, 8, 4, true, {}, false}, GetParam());
}
TEST_P(AttentionKernel, BroadcastMaskWithMaskedRow) {
  runCase({2, 4, 2, 9, 90, 8, 8, false, {2, 1, 9, 90}, true}, GetParam());
}
TEST_P(AttentionKernel, KeyPaddingMaskAndCausal) {
  runCase({2, 2, 2, 20, 20, 4, 4, true, {2, 1, 1, 20}, false}, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AttentionKernel,
                         ::testing::Values(DType::F64, DType::F32, DType::BF16, DType::F16),
                         [](const auto &info) { return std::string(dtypeName(info.param)); });

TEST(AttentionKernelErrors, BadShapes) {
  std::vector<double> a(2 * 2 * 3 * 4, 0.5), b(2 * 2 * 5 * 6, 0.5);
  Buffer Q = floatBuffer(DType::F32, {2, 2, 3, 4}, a), K = floatBuffer(DType::F32, {2, 2, 5, 6}, b);
  Buffer O = zeros(DType::F32, {2, 2, 3, 6}), L = zeros(DType::F32, {2, 2, 3});
  std::vector<TensorView> in{Q.view(), K.view(), K.view()}, out{O.view(), L.view()};
  KernelContext ctx;
  Status st = findCpuKernel("attention")(ctx, in, out, Attrs());
  EXPECT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("do not agree"), std::string::npos) << st.message();
}

} // namespace
