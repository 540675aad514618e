//===- CpuKernelsTest.cpp - CPU kernels against fp64 references -----------===//
//
// Every CPU kernel runs on random inputs and is compared with a reference written here, in
// double precision and independently of the kernel code (llm.c style: reference, validate).
// Inputs in a narrow format are drawn in that format, so the reference sees exactly the values
// the kernel sees. Each run draws fresh inputs; the seed is printed with every failure and
// PRECIS_TEST_SEED=<seed> replays it.
//
//===----------------------------------------------------------------------===//

#include "cpu/Kernel.h"
#include "cpu/KernelSupport.h" // philox4x32_10

#include "precis/runtime/numerics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>

using namespace precis;
using namespace precis::rt;

namespace {

//===----------------------------------------------------------------------===//
// Tolerances: the one table.
//
// An output element `a` passes against its fp64 reference `r` when
//
//   |a - r| <= abs + rel * |r| + ulps * ulp_out(r) + bound
//
// where ulp_out(r) is the spacing of the *output* format at |r| (0 for integers) and `bound`
// is 0 except for contractions (matmul, gemm, conv2d), where it is the classical worst case
// of K-term floating-point accumulation, gamma_K * sum_k |a_k * b_k| with gamma_K = K * 2^-24
// for fp32 accumulation (K * 2^-53 for f64), times |alpha| for gemm (Higham, Accuracy and
// Stability of Numerical Algorithms, Thm 3.1): it holds for any summation order, so the test
// cannot flake on oneDNN's blocking. "narrow" is bf16, f16, f8E4M3FN and f8E5M2: the kernel
// computes in fp32 and rounds once to the narrow format, so a correctly rounded result may
// move by one narrow ulp at most.
//===----------------------------------------------------------------------===//

struct Tol {
  double rel, abs, ulps;
};
enum class Cls {
  Exact,          // data movement, cast, compare, where, gather, max, min, neg, abs, relu,
                  // max_pool2d, reduce_max
  Arith,          // add sub mul div sqrt reciprocal: IEEE, rounded once in the compute type
  Transcendental, // exp log tanh sigmoid erf gelu pow rsqrt leaky_relu dropout: libm, or for
                  // float exp tanh sigmoid erf gelu FastMath.h (<= 3 ulp; gelu's bounds
                  // there), plus composition
  Reduction,      // reduce_sum reduce_mean avg_pool2d global pools: fp64 accumulation
  Softmax,        // softmax
  LogSoftmax,     // log_softmax
  Norm,           // layer_norm batch_norm: fp64 statistics
  Loss,           // softmax_cross_entropy nll_loss
  Contraction,    // matmul gemm conv2d: plus the gamma_K bound above; rel covers gemm's
                  // alpha / beta epilogue
};
struct TolRow {
  Cls cls;
  Tol f32, f64, narrow; // {rel, abs, ulps} by output dtype
};
// clang-format off
constexpr TolRow kTolerances[] = {
  // class               f32                 f64                   narrow (bf16 f16 fp8)
  {Cls::Exact,          {0,      0,     0  }, {0,     0,     0  }, {0,      0,     0}},
  {Cls::Arith,          {0,      0,     0.5}, {0,     0,     0.5}, {0,      0,     1}},
  {Cls::Transcendental, {2e-6,   1e-6,  0  }, {1e-14, 1e-14, 0  }, {2e-6,   1e-6,  1}},
  {Cls::Reduction,      {0,      1e-12, 1  }, {1e-13, 1e-10, 0  }, {0,      1e-12, 1}},
  {Cls::Softmax,        {2e-6,   1e-7,  0  }, {1e-14, 1e-15, 0  }, {2e-6,   1e-7,  1}},
  {Cls::LogSoftmax,     {1e-6,   2e-6,  0  }, {1e-14, 1e-14, 0  }, {1e-6,   2e-6,  1}},
  {Cls::Norm,           {1e-6,   1e-6,  0  }, {1e-13, 1e-13, 0  }, {1e-6,   1e-6,  1}},
  {Cls::Loss,           {1e-6,   1e-6,  0  }, {1e-13, 1e-13, 0  }, {1e-6,   1e-6,  1}},
  {Cls::Contraction,    {2.4e-7, 0,     0  }, {1e-15, 0,     0  }, {2.4e-7, 0,     1}},
};
// clang-format on

bool isNarrow(DType t) {
  return t == DType::BF16 || t == DType::F16 || t == DType::F8E4M3FN || t == DType::F8E5M2;
}

Tol tolFor(Cls c, DType out) {
  for (const TolRow &row : kTolerances)
    if (row.cls == c)
      return out == DType::F64 ? row.f64 : isNarrow(out) ? row.narrow : row.f32;
  return {0, 0, 0};
}

/// Spacing of `t`'s values at |r|.
double ulpOf(DType t, double r) {
  int p, emin;
  switch (t) {
  case DType::F32:
    p = 24, emin = -126;
    break;
  case DType::F64:
    p = 53, emin = -1022;
    break;
  case DType::F16:
    p = 11, emin = -14;
    break;
  case DType::BF16:
    p = 8, emin = -126;
    break;
  case DType::F8E4M3FN:
    p = 4, emin = -6;
    break;
  case DType::F8E5M2:
    p = 3, emin = -14;
    break;
  default:
    return 0;
  }
  if (!std::isfinite(r))
    return 0;
  const int e = r == 0 ? emin : std::max(std::ilogb(r), emin);
  return std::ldexp(1.0, e - (p - 1));
}

/// The contraction bound's gamma for K terms.
double gammaK(DType operand, int64_t K) {
  return static_cast<double>(K) * (operand == DType::F64 ? 0x1p-53 : 0x1p-24);
}

//===----------------------------------------------------------------------===//
// Tensors, attributes, running kernels.
//===----------------------------------------------------------------------===//

const DType kFloatTypes[] = {DType::F32, DType::F64,      DType::BF16,
                             DType::F16, DType::F8E4M3FN, DType::F8E5M2};
const DType kAllTypes[] = {DType::F32,      DType::F64,    DType::BF16, DType::F16,
                           DType::F8E4M3FN, DType::F8E5M2, DType::I64,  DType::I32,
                           DType::I8,       DType::U8,     DType::Bool};

bool isFloatType(DType t) { return t == DType::F32 || t == DType::F64 || isNarrow(t); }

int64_t numel(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

struct Tensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  Tensor() = default;
  Tensor(DType d, std::vector<int64_t> s)
      : dtype(d), shape(std::move(s)), bytes(static_cast<size_t>(numel(shape)) * dtypeSize(d)) {}
  int64_t size() const { return numel(shape); }
  TensorView view() { return TensorView{bytes.empty() ? nullptr : bytes.data(), dtype, shape}; }

  template <typename T> T load(int64_t i) const {
    T v;
    std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
    return v;
  }
  template <typename T> void put(int64_t i, T v) {
    std::memcpy(bytes.data() + i * sizeof(T), &v, sizeof(T));
  }
  /// Element i, decoded exactly.
  double get(int64_t i) const {
    switch (dtype) {
    case DType::F32:
      return load<float>(i);
    case DType::F64:
      return load<double>(i);
    case DType::F16:
      return fp16_to_float(load<uint16_t>(i));
    case DType::BF16:
      return bf16_to_float(load<uint16_t>(i));
    case DType::F8E4M3FN:
      return fp8_e4m3fn_to_float(load<uint8_t>(i));
    case DType::F8E5M2:
      return fp8_e5m2_to_float(load<uint8_t>(i));
    case DType::I64:
      return static_cast<double>(load<int64_t>(i));
    case DType::I32:
      return load<int32_t>(i);
    case DType::I8:
      return load<int8_t>(i);
    case DType::U8:
      return load<uint8_t>(i);
    case DType::Bool:
      return load<uint8_t>(i) != 0 ? 1.0 : 0.0;
    default:
      return 0;
    }
  }
  int64_t getInt(int64_t i) const {
    switch (dtype) {
    case DType::I64:
      return load<int64_t>(i);
    case DType::I32:
      return load<int32_t>(i);
    default:
      return static_cast<int64_t>(get(i));
    }
  }
  /// Stores v, rounded to the dtype (through float for the narrow formats).
  void set(int64_t i, double v) {
    switch (dtype) {
    case DType::F32:
      put<float>(i, static_cast<float>(v));
      break;
    case DType::F64:
      put<double>(i, v);
      break;
    case DType::F16:
      put<uint16_t>(i, float_to_fp16(static_cast<float>(v)));
      break;
    case DType::BF16:
      put<uint16_t>(i, float_to_bf16(static_cast<float>(v)));
      break;
    case DType::F8E4M3FN:
      put<uint8_t>(i, float_to_fp8_e4m3fn(static_cast<float>(v)));
      break;
    case DType::F8E5M2:
      put<uint8_t>(i, float_to_fp8_e5m2(static_cast<float>(v)));
      break;
    case DType::I64:
      put<int64_t>(i, static_cast<int64_t>(v));
      break;
    case DType::I32:
      put<int32_t>(i, static_cast<int32_t>(v));
      break;
    case DType::I8:
      put<int8_t>(i, static_cast<int8_t>(v));
      break;
    case DType::U8:
      put<uint8_t>(i, static_cast<uint8_t>(v));
      break;
    case DType::Bool:
      put<uint8_t>(i, v != 0 ? 1 : 0);
      break;
    default:
      break;
    }
  }
  std::vector<double> values() const {
    std::vector<double> v(static_cast<size_t>(size()));
    for (int64_t i = 0; i < size(); ++i)
      v[i] = get(i);
    return v;
  }
};

struct AttrBuilder {
  std::map<std::string, AttrValue> m;
  AttrBuilder &i(const std::string &n, int64_t v) {
    AttrValue a;
    a.kind = AttrValue::Kind::Int;
    a.i = v;
    m[n] = a;
    return *this;
  }
  AttrBuilder &f(const std::string &n, double v) {
    AttrValue a;
    a.kind = AttrValue::Kind::Float;
    a.f = v;
    m[n] = a;
    return *this;
  }
  AttrBuilder &ints(const std::string &n, std::vector<int64_t> v) {
    AttrValue a;
    a.kind = AttrValue::Kind::Ints;
    a.ints = std::move(v);
    m[n] = a;
    return *this;
  }
  operator Attrs() const { return Attrs(m); }
};
AttrBuilder attrs() { return {}; }

Status run(const char *kind, std::vector<Tensor *> ins, std::vector<Tensor *> outs,
           const Attrs &a = Attrs(), int threads = 2) {
  KernelFn fn = findCpuKernel(kind);
  if (!fn)
    return Status(StatusCode::NotFound, std::string("no kernel for ") + kind);
  std::vector<TensorView> iv, ov;
  for (Tensor *t : ins)
    iv.push_back(t->view());
  for (Tensor *t : outs)
    ov.push_back(t->view());
  KernelContext ctx;
  ctx.numThreads = threads;
  return fn(ctx, iv, ov, a);
}

#define ASSERT_OK(expr)                                                                            \
  do {                                                                                             \
    const ::precis::rt::Status s_ = (expr);                                                        \
    ASSERT_TRUE(s_.isOk()) << s_.message();                                                        \
  } while (0)

/// Compares `out` with `ref` under `tol` (plus a per-element `bound` when given).
void expectMatches(const Tensor &out, const std::vector<double> &ref, Tol tol,
                   const std::vector<double> &bound = {}, const std::string &what = "") {
  ASSERT_EQ(out.size(), static_cast<int64_t>(ref.size())) << what;
  int64_t bad = 0;
  for (int64_t i = 0; i < out.size(); ++i) {
    const double a = out.get(i), r = ref[i];
    double allowed = 0;
    bool ok;
    if (std::isnan(r) || std::isnan(a)) {
      ok = std::isnan(r) && std::isnan(a);
    } else if (std::isinf(r) || std::isinf(a)) {
      ok = a == r;
    } else {
      allowed = tol.abs + tol.rel * std::fabs(r) + tol.ulps * ulpOf(out.dtype, r) +
                (bound.empty() ? 0.0 : bound[i]);
      ok = std::fabs(a - r) <= allowed;
    }
    if (!ok && ++bad <= 5)
      ADD_FAILURE() << what << " [" << dtypeName(out.dtype) << "] element " << i << ": got " << a
                    << ", want " << r << " (allowed error " << allowed << ")";
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << out.size() << " elements out of tolerance";
}

std::vector<int64_t> unravel(int64_t i, const std::vector<int64_t> &shape) {
  std::vector<int64_t> idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = shape[d] ? i % shape[d] : 0;
    i = shape[d] ? i / shape[d] : 0;
  }
  return idx;
}
int64_t ravel(const std::vector<int64_t> &idx, const std::vector<int64_t> &shape) {
  int64_t i = 0;
  for (size_t d = 0; d < shape.size(); ++d)
    i = i * shape[d] + idx[d];
  return i;
}
/// Flat offset into `inShape` of the broadcast element at `outIdx` (right-aligned).
int64_t bcastOffset(const std::vector<int64_t> &outIdx, const std::vector<int64_t> &inShape) {
  const size_t off = outIdx.size() - inShape.size();
  int64_t i = 0;
  for (size_t d = 0; d < inShape.size(); ++d)
    i = i * inShape[d] + (inShape[d] == 1 ? 0 : outIdx[off + d]);
  return i;
}

//===----------------------------------------------------------------------===//
// The fixture: seeded randomness.
//===----------------------------------------------------------------------===//

uint64_t testSeed() {
  static const uint64_t seed = [] {
    if (const char *s = std::getenv("PRECIS_TEST_SEED"))
      return static_cast<uint64_t>(std::strtoull(s, nullptr, 10));
    return (static_cast<uint64_t>(std::random_device()()) << 32) ^ std::random_device()();
  }();
  return seed;
}

uint64_t testNameHash() {
  const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::hash<std::string>()(std::string(info->test_suite_name()) + "." + info->name());
}

class CpuKernels : public ::testing::Test {
protected:
  CpuKernels()
      : trace_(__FILE__, __LINE__, "replay with PRECIS_TEST_SEED=" + std::to_string(testSeed())),
        rng_(testSeed() ^ testNameHash()) {}

  double uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng_);
  }
  int64_t uniformInt(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  /// Random values in [lo, hi]: floats never (near) zero, integers uniform.
  Tensor random(DType t, std::vector<int64_t> shape, double lo = -4, double hi = 4) {
    Tensor x(t, std::move(shape));
    for (int64_t i = 0; i < x.size(); ++i) {
      if (t == DType::Bool) {
        x.set(i, uniformInt(0, 1));
      } else if (!isFloatType(t)) {
        x.set(i,
              static_cast<double>(uniformInt(static_cast<int64_t>(lo), static_cast<int64_t>(hi))));
      } else {
        double v = uniform(lo, hi);
        if (std::fabs(v) < 0.01)
          v = lo > 0 ? lo + 0.5 * (hi - lo) : 0.5;
        x.set(i, v);
      }
    }
    return x;
  }

  ::testing::ScopedTrace trace_;
  std::mt19937_64 rng_;
};

//===----------------------------------------------------------------------===//
// Registry, attributes, dtypes.
//===----------------------------------------------------------------------===//

TEST_F(CpuKernels, EveryOpInPrecisOpsTdHasAKernel) {
  std::ifstream in(PRECIS_OPS_TD);
  ASSERT_TRUE(in) << "cannot read " << PRECIS_OPS_TD;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string td = ss.str();
  // `def Precis_XOp : Precis_SomeClass<"mnemonic"`, possibly across a line break.
  std::set<std::string> kinds;
  for (size_t pos = td.find("\ndef Precis_"); pos != std::string::npos;
       pos = td.find("\ndef Precis_", pos + 1)) {
    const size_t open = td.find("<\"", pos), brace = td.find('{', pos);
    if (open == std::string::npos || open > brace)
      continue;
    const size_t close = td.find('"', open + 2);
    kinds.insert(td.substr(open + 2, close - open - 2));
  }
  EXPECT_GE(kinds.size(), 50u);
  for (const std::string &k : kinds) {
    // Values become blobs; fusion groups reach the CPU target inlined (docs/cuda.md).
    if (k == "constant" || k == "parameter" || k == "fusion" || k == "yield")
      EXPECT_EQ(findCpuKernel(k), nullptr) << k;
    else
      EXPECT_NE(findCpuKernel(k), nullptr) << "no CPU kernel for precis." << k;
  }
  EXPECT_EQ(findCpuKernel("no_such_op"), nullptr);
  EXPECT_EQ(findCpuKernel(""), nullptr);
}

TEST_F(CpuKernels, AttrsAndDtypes) {
  Attrs a = attrs().i("n", 3).f("x", 0.5).ints("v", {1, -2}).i("b", 1);
  EXPECT_EQ(a.getInt("n", 7), 3);
  EXPECT_EQ(a.getInt("missing", 7), 7);
  EXPECT_DOUBLE_EQ(a.getFloat("x", 1.0), 0.5);
  EXPECT_DOUBLE_EQ(a.getFloat("n", 1.0), 3.0); // an int read as float
  EXPECT_EQ(a.getInts("v", {}), (std::vector<int64_t>{1, -2}));
  EXPECT_EQ(a.getInts("n", {}), (std::vector<int64_t>{3}));
  EXPECT_EQ(a.getInts("missing", {9}), (std::vector<int64_t>{9}));
  EXPECT_EQ(a.getString("n", "d"), "d");
  EXPECT_TRUE(a.has("b"));
  EXPECT_FALSE(a.has("c"));
  const std::pair<DType, size_t> sizes[] = {
      {DType::F32, 4},      {DType::F64, 8},    {DType::F16, 2},  {DType::BF16, 2},
      {DType::F8E4M3FN, 1}, {DType::F8E5M2, 1}, {DType::I64, 8},  {DType::I32, 4},
      {DType::I8, 1},       {DType::U8, 1},     {DType::Bool, 1}, {DType::Unspecified, 0}};
  for (auto [t, s] : sizes)
    EXPECT_EQ(dtypeSize(t), s) << dtypeName(t);
  EXPECT_STREQ(dtypeName(DType::BF16), "bf16");
  EXPECT_STREQ(dtypeName(DType::F8E4M3FN), "f8E4M3FN");
  EXPECT_STREQ(dtypeName(DType::Bool), "i1");
}

//===----------------------------------------------------------------------===//
// Binary element-wise.
//===----------------------------------------------------------------------===//

struct BinaryShapes {
  std::vector<int64_t> a, b, out;
};
const BinaryShapes kBinaryShapes[] = {
    {{3, 5, 7}, {3, 5, 7}, {3, 5, 7}}, // same shape
    {{6, 9}, {9}, {6, 9}},             // bias add over the trailing dimension
    {{5, 1}, {1, 7}, {5, 7}},          // outer broadcast
    {{}, {4, 6}, {4, 6}},              // scalar lhs
    {{2, 1, 4}, {3, 1}, {2, 3, 4}},    // ranks differ
    {{300, 257}, {257}, {300, 257}},   // large: rows split across threads
    {{70001}, {}, {70001}},            // one long row split across threads
    {{2, 0, 3}, {3}, {2, 0, 3}},       // empty
};

struct BinaryOp {
  const char *kind;
  Cls cls;
  double (*f)(double, double);
  int64_t (*fi)(int64_t, int64_t); // nullptr: float only
  double alo, ahi, blo, bhi;
  bool nonzeroRhs;
};
const BinaryOp kBinaryOps[] = {
    {"add", Cls::Arith, [](double a, double b) { return a + b; },
     [](int64_t a, int64_t b) { return a + b; }, -4, 4, -4, 4, false},
    {"sub", Cls::Arith, [](double a, double b) { return a - b; },
     [](int64_t a, int64_t b) { return a - b; }, -4, 4, -4, 4, false},
    {"mul", Cls::Arith, [](double a, double b) { return a * b; },
     [](int64_t a, int64_t b) { return a * b; }, -4, 4, -4, 4, false},
    {"div", Cls::Arith, [](double a, double b) { return a / b; },
     [](int64_t a, int64_t b) { return a / b; }, -4, 4, -4, 4, true},
    {"max", Cls::Exact, [](double a, double b) { return std::max(a, b); },
     [](int64_t a, int64_t b) { return std::max(a, b); }, -4, 4, -4, 4, false},
    {"min", Cls::Exact, [](double a, double b) { return std::min(a, b); },
     [](int64_t a, int64_t b) { return std::min(a, b); }, -4, 4, -4, 4, false},
    {"pow", Cls::Transcendental, [](double a, double b) { return std::pow(a, b); }, nullptr, 0.5, 2,
     -2, 2, false},
};

TEST_F(CpuKernels, BinaryArithmeticAllDtypesAndBroadcasts) {
  const DType types[] = {DType::F32,      DType::F64,    DType::BF16, DType::F16,
                         DType::F8E4M3FN, DType::F8E5M2, DType::I64,  DType::I32};
  for (const BinaryOp &op : kBinaryOps)
    for (DType t : types) {
      const bool isInt = !isFloatType(t);
      if (isInt && !op.fi)
        continue;
      for (const BinaryShapes &s : kBinaryShapes) {
        SCOPED_TRACE(std::string(op.kind) + " " + dtypeName(t) + " " +
                     std::to_string(numel(s.out)) + " elements");
        Tensor a = isInt ? random(t, s.a, -100, 100) : random(t, s.a, op.alo, op.ahi);
        Tensor b = isInt ? random(t, s.b, -100, 100) : random(t, s.b, op.blo, op.bhi);
        if (op.nonzeroRhs)
          for (int64_t i = 0; i < b.size(); ++i)
            if (std::fabs(b.get(i)) < 0.25)
              b.set(i, isInt ? 7 : 0.75);
        Tensor out(t, s.out);
        ASSERT_OK(run(op.kind, {&a, &b}, {&out}));
        std::vector<double> ref(static_cast<size_t>(out.size()));
        for (int64_t i = 0; i < out.size(); ++i) {
          const std::vector<int64_t> idx = unravel(i, s.out);
          const int64_t ia = bcastOffset(idx, s.a), ib = bcastOffset(idx, s.b);
          ref[i] = isInt ? static_cast<double>(op.fi(a.getInt(ia), b.getInt(ib)))
                         : op.f(a.get(ia), b.get(ib));
        }
        expectMatches(out, ref, isInt ? Tol{0, 0, 0} : tolFor(op.cls, t), {}, op.kind);
      }
    }
}

TEST_F(CpuKernels, IntegerArithmeticWrapsTruncatesAndRejectsDivisionByZero) {
  Tensor a(DType::I32, {4}), b(DType::I32, {4}), out(DType::I32, {4});
  const int32_t av[] = {std::numeric_limits<int32_t>::max(), -7, 7,
                        std::numeric_limits<int32_t>::min()};
  const int32_t bv[] = {1, 2, -2, -1};
  for (int i = 0; i < 4; ++i) {
    a.put<int32_t>(i, av[i]);
    b.put<int32_t>(i, bv[i]);
  }
  ASSERT_OK(run("add", {&a, &b}, {&out}));
  EXPECT_EQ(out.load<int32_t>(0), std::numeric_limits<int32_t>::min());
  ASSERT_OK(run("div", {&a, &b}, {&out}));
  EXPECT_EQ(out.load<int32_t>(1), -3); // truncation toward zero
  EXPECT_EQ(out.load<int32_t>(2), -3);
  EXPECT_EQ(out.load<int32_t>(3), std::numeric_limits<int32_t>::min()); // INT_MIN / -1 wraps
  b.put<int32_t>(2, 0);
  const Status st = run("div", {&a, &b}, {&out});
  EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
  EXPECT_NE(st.message().find("division by zero"), std::string::npos) << st.message();
}

TEST_F(CpuKernels, MaxMinPropagateNaN) {
  Tensor a(DType::F32, {3}), b(DType::F32, {3}), out(DType::F32, {3});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float av[] = {nan, 1, 2}, bv[] = {1, nan, 3};
  for (int i = 0; i < 3; ++i) {
    a.put<float>(i, av[i]);
    b.put<float>(i, bv[i]);
  }
  for (const char *k : {"max", "min"}) {
    ASSERT_OK(run(k, {&a, &b}, {&out}));
    EXPECT_TRUE(std::isnan(out.get(0))) << k;
    EXPECT_TRUE(std::isnan(out.get(1))) << k;
    EXPECT_EQ(out.get(2), std::string(k) == "max" ? 3 : 2);
  }
}

TEST_F(CpuKernels, ModFloatAndIntegerWithBroadcast) {
  const std::vector<int64_t> as = {6, 1, 7}, bs = {5, 1}, os = {6, 5, 7};
  // Floats, fmod = 1: the truncated remainder is exact in every format (reference: fmod of
  // the decoded values in double).
  for (DType t : kFloatTypes)
    for (double sign : {1.0, -1.0}) {
      SCOPED_TRACE(std::string(dtypeName(t)) + (sign > 0 ? " +" : " -"));
      Tensor a = random(t, as, -20, 20), b = random(t, bs, 0.5 * sign, 4 * sign), out(t, os);
      if (sign < 0)
        b = random(t, bs, -4, -0.5);
      ASSERT_OK(run("mod", {&a, &b}, {&out}, attrs().i("fmod", 1)));
      std::vector<double> ref;
      for (int64_t i = 0; i < out.size(); ++i) {
        const auto idx = unravel(i, os);
        ref.push_back(std::fmod(a.get(bcastOffset(idx, as)), b.get(bcastOffset(idx, bs))));
      }
      expectMatches(out, ref, tolFor(Cls::Exact, t), {}, "mod fmod");
    }
  // Integers: fmod = 1 takes the dividend's sign, fmod = 0 the divisor's (Python %).
  for (DType t : {DType::I32, DType::I64})
    for (int fmod : {0, 1}) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " fmod " + std::to_string(fmod));
      Tensor a = random(t, as, -1000, 1000), b = random(t, bs, -9, 9), out(t, os);
      for (int64_t i = 0; i < b.size(); ++i)
        if (b.get(i) == 0)
          b.set(i, i % 2 ? -1 : 7);
      ASSERT_OK(run("mod", {&a, &b}, {&out}, attrs().i("fmod", fmod)));
      std::vector<double> ref;
      for (int64_t i = 0; i < out.size(); ++i) {
        const auto idx = unravel(i, os);
        const int64_t x = static_cast<int64_t>(a.get(bcastOffset(idx, as)));
        const int64_t y = static_cast<int64_t>(b.get(bcastOffset(idx, bs)));
        int64_t r = x - y * (x / y); // C++ division truncates
        if (!fmod && r != 0 && (r < 0) != (y < 0))
          r += y;
        ref.push_back(static_cast<double>(r));
      }
      expectMatches(out, ref, {0, 0, 0}, {}, "mod int");
    }
  // INT_MIN % -1 is 0, not a trap.
  Tensor m(DType::I64, {1}), n(DType::I64, {1}), r(DType::I64, {1});
  m.put<int64_t>(0, std::numeric_limits<int64_t>::min());
  n.put<int64_t>(0, -1);
  ASSERT_OK(run("mod", {&m, &n}, {&r}));
  EXPECT_EQ(r.get(0), 0);
  // Errors: integer division by zero; floats without fmod.
  Tensor z(DType::I64, {1}), i(DType::I64, {1}), o(DType::I64, {1});
  i.put<int64_t>(0, 5);
  const Status st = run("mod", {&i, &z}, {&o});
  EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
  EXPECT_NE(st.message().find("division by zero"), std::string::npos) << st.message();
  Tensor f = random(DType::F32, {4}), g = random(DType::F32, {4}), fo(DType::F32, {4});
  EXPECT_EQ(run("mod", {&f, &g}, {&fo}).code(), StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, PadEveryModeAndDtype) {
  // Reference: per result coordinate, the input coordinate i - begin, out of range filled
  // with the value (constant), mirrored without the border (reflect) or clamped (edge).
  const std::vector<int64_t> in = {3, 4, 5};
  const std::vector<int64_t> pads = {1, 0, 4, 2, 3, 0};
  std::vector<int64_t> os;
  for (size_t d = 0; d < in.size(); ++d)
    os.push_back(pads[d] + in[d] + pads[d + in.size()]);
  for (DType t : kAllTypes)
    for (int64_t mode : {0, 1, 2}) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " mode " + std::to_string(mode));
      Tensor x = random(t, in, -50, 50), y(t, os);
      const double value = t == DType::Bool ? 1 : t == DType::U8 ? 7 : -3;
      ASSERT_OK(
          run("pad", {&x}, {&y}, attrs().ints("pads", pads).i("mode", mode).f("value", value)));
      std::vector<double> ref;
      for (int64_t i = 0; i < y.size(); ++i) {
        auto idx = unravel(i, os);
        bool inside = true;
        for (size_t d = 0; d < in.size(); ++d) {
          int64_t j = idx[d] - pads[d];
          const int64_t n = in[d];
          if (j < 0 || j >= n) {
            if (mode == 0)
              inside = false;
            else if (mode == 1)
              j = j < 0 ? -j : 2 * (n - 1) - j;
            else
              j = j < 0 ? 0 : n - 1;
          }
          idx[d] = j;
        }
        ref.push_back(inside ? x.get(ravel(idx, in)) : value);
      }
      expectMatches(y, ref, {0, 0, 0}, {}, "pad");
    }
  // Bad attributes are errors, not out-of-bounds reads.
  Tensor x = random(DType::F32, {3}), y(DType::F32, {7});
  EXPECT_EQ(run("pad", {&x}, {&y}, attrs().ints("pads", {3, 1}).i("mode", 1)).code(),
            StatusCode::InvalidArgument);
  EXPECT_EQ(run("pad", {&x}, {&y}, attrs().ints("pads", {1, 1})).code(),
            StatusCode::InvalidArgument);
  Tensor z(DType::F32, {5});
  EXPECT_EQ(run("pad", {&x}, {&z}, attrs().ints("pads", {-1, 3})).code(),
            StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, TriluEveryDtypeAndDiagonal) {
  // Reference: element (.., i, j) kept where j - i >= k (upper) or <= k (lower), else 0.
  const std::vector<int64_t> shape = {2, 5, 7};
  for (DType t : kAllTypes)
    for (int upper : {0, 1})
      for (int64_t k : {-6, -1, 0, 2, 8}) {
        SCOPED_TRACE(std::string(dtypeName(t)) + " upper " + std::to_string(upper) + " k " +
                     std::to_string(k));
        Tensor x = random(t, shape, -50, 50), y(t, shape);
        ASSERT_OK(run("trilu", {&x}, {&y}, attrs().i("upper", upper).i("k", k)));
        std::vector<double> ref;
        for (int64_t n = 0; n < x.size(); ++n) {
          const auto idx = unravel(n, shape);
          const int64_t d = idx[2] - idx[1];
          ref.push_back((upper ? d >= k : d <= k) ? x.get(n) : 0.0);
        }
        expectMatches(y, ref, {0, 0, 0}, {}, "trilu");
      }
  Tensor v = random(DType::F32, {4}), w(DType::F32, {4});
  EXPECT_EQ(run("trilu", {&v}, {&w}).code(), StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, ArgMaxArgMinTiesAndNaN) {
  // Reference: a scan in double with the same rule (ties to the first index, or the last with
  // select_last_index; a NaN wins). Values are drawn from a few integers so ties are common.
  const std::vector<int64_t> shape = {3, 6, 5};
  for (DType t : {DType::F32, DType::BF16, DType::F64, DType::I32, DType::I64})
    for (int64_t axis : {0, 1, 2})
      for (int flags = 0; flags < 8; ++flags) {
        const bool max = flags & 1, last = flags & 2, keep = flags & 4;
        SCOPED_TRACE(std::string(dtypeName(t)) + " axis " + std::to_string(axis) + " flags " +
                     std::to_string(flags));
        Tensor x(t, shape);
        for (int64_t i = 0; i < x.size(); ++i)
          x.set(i, static_cast<double>(uniformInt(-3, 3)));
        if (isFloatType(t)) {
          x.set(7, std::nan(""));
          x.set(40, std::nan(""));
        }
        std::vector<int64_t> os = shape;
        if (keep)
          os[axis] = 1;
        else
          os.erase(os.begin() + axis);
        Tensor y(DType::I64, os);
        ASSERT_OK(run(max ? "argmax" : "argmin", {&x}, {&y},
                      attrs().i("axis", axis).i("keepdims", keep).i("select_last_index", last)));
        std::vector<double> ref;
        for (int64_t i = 0; i < y.size(); ++i) {
          auto c = unravel(i, os);
          if (!keep)
            c.insert(c.begin() + axis, 0);
          int64_t best = -1;
          double bv = 0;
          for (int64_t j = 0; j < shape[axis]; ++j) {
            c[axis] = j;
            const double v = x.get(ravel(c, shape));
            bool take = best < 0;
            if (!take && !std::isnan(bv))
              take = std::isnan(v) || (max ? v > bv : v < bv) || (last && v == bv);
            else if (!take)
              take = last && std::isnan(v);
            if (take) {
              best = j;
              bv = v;
            }
          }
          ref.push_back(static_cast<double>(best));
        }
        expectMatches(y, ref, {0, 0, 0}, {}, max ? "argmax" : "argmin");
      }
  Tensor x = random(DType::F32, {4, 3}), bad(DType::I64, {4}), f32(DType::F32, {4});
  EXPECT_EQ(run("argmax", {&x}, {&bad}, attrs().i("axis", 1)).code(),
            StatusCode::InvalidArgument); // keepdims defaults to 1: the shape is [4, 1]
  EXPECT_EQ(run("argmax", {&x}, {&f32}, attrs().i("axis", 1).i("keepdims", 0)).code(),
            StatusCode::Unimplemented);
  EXPECT_EQ(run("argmin", {&x}, {&bad}, attrs().i("axis", 2)).code(), StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, TopKOrderTiesAndNaN) {
  // Reference: a stable sort in double of each line (descending, or ascending unless largest;
  // NaN above every number; ties by index). Tie-heavy data with NaNs in the float types.
  const std::vector<int64_t> shape = {3, 7, 4};
  for (DType t : {DType::F32, DType::BF16, DType::F64, DType::I32, DType::I64})
    for (int64_t axis : {0, 1, 2})
      for (bool largest : {true, false}) {
        const int64_t n = shape[axis];
        for (int64_t k : {int64_t(0), int64_t(1), n / 2, n}) {
          SCOPED_TRACE(std::string(dtypeName(t)) + " axis " + std::to_string(axis) + " k " +
                       std::to_string(k) + (largest ? " largest" : " smallest"));
          Tensor x(t, shape);
          for (int64_t i = 0; i < x.size(); ++i)
            x.set(i, static_cast<double>(uniformInt(-4, 4)));
          if (isFloatType(t)) {
            x.set(5, std::nan(""));
            x.set(30, std::nan(""));
          }
          std::vector<int64_t> os = shape;
          os[axis] = k;
          Tensor v(t, os), ix(DType::I64, os);
          ASSERT_OK(run("topk", {&x}, {&v, &ix},
                        attrs().i("axis", axis).i("k", k).i("largest", largest)));
          std::vector<double> refV(static_cast<size_t>(v.size())), refI(refV.size());
          for (int64_t i = 0; i < v.size(); ++i) {
            auto c = unravel(i, os);
            const int64_t r = c[axis];
            std::vector<std::pair<double, int64_t>> line;
            for (int64_t j = 0; j < n; ++j) {
              c[axis] = j;
              line.push_back({x.get(ravel(c, shape)), j});
            }
            auto key = [&](double d) {
              return std::isnan(d) ? (largest ? -1e300 : 1e300) : (largest ? -d : d);
            };
            std::stable_sort(line.begin(), line.end(), [&](const auto &a, const auto &b) {
              return key(a.first) < key(b.first);
            });
            refV[i] = line[r].first;
            refI[i] = static_cast<double>(line[r].second);
          }
          expectMatches(v, refV, {0, 0, 0}, {}, "topk values");
          expectMatches(ix, refI, {0, 0, 0}, {}, "topk indices");
        }
      }
  Tensor x = random(DType::F32, {4, 3}), v(DType::F32, {4, 4}), i(DType::I64, {4, 4});
  EXPECT_EQ(run("topk", {&x}, {&v, &i}, attrs().i("axis", 1).i("k", 4)).code(),
            StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, CumSumEveryDirection) {
  // Reference: fp64 running sums (integers exact); floats in the Reduction class (the kernel
  // accumulates in f64 and rounds each partial sum once).
  const std::vector<int64_t> shape = {3, 6, 5};
  for (DType t : {DType::F32, DType::F64, DType::BF16, DType::F16, DType::I32, DType::I64})
    for (int64_t axis : {0, 1, 2})
      for (int flags = 0; flags < 4; ++flags) {
        const bool exclusive = flags & 1, reverse = flags & 2;
        SCOPED_TRACE(std::string(dtypeName(t)) + " axis " + std::to_string(axis) + " flags " +
                     std::to_string(flags));
        Tensor x = random(t, shape, -20, 20), y(t, shape);
        ASSERT_OK(run("cumsum", {&x}, {&y},
                      attrs().i("axis", axis).i("exclusive", exclusive).i("reverse", reverse)));
        std::vector<double> ref(static_cast<size_t>(x.size()));
        for (int64_t i = 0; i < x.size(); ++i) {
          auto idx = unravel(i, shape);
          const int64_t at = idx[axis];
          double acc = 0;
          for (int64_t j = 0; j < shape[axis]; ++j) {
            const bool take =
                reverse ? (exclusive ? j > at : j >= at) : (exclusive ? j < at : j <= at);
            idx[axis] = j;
            if (take)
              acc += x.get(ravel(idx, shape));
          }
          ref[i] = acc;
        }
        expectMatches(y, ref, isFloatType(t) ? tolFor(Cls::Reduction, t) : Tol{0, 0, 0}, {},
                      "cumsum");
      }
  Tensor v = random(DType::F32, {4}), w(DType::F32, {4});
  EXPECT_EQ(run("cumsum", {&v}, {&w}, attrs().i("axis", 1)).code(), StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, BinaryRejectsBadShapesAndDtypes) {
  Tensor a = random(DType::F32, {3, 4}), b = random(DType::F32, {5}), out(DType::F32, {3, 4});
  EXPECT_EQ(run("add", {&a, &b}, {&out}).code(), StatusCode::InvalidArgument);
  Tensor i8a(DType::I8, {4}), i8b(DType::I8, {4}), i8o(DType::I8, {4});
  const Status st = run("add", {&i8a, &i8b}, {&i8o});
  EXPECT_EQ(st.code(), StatusCode::Unimplemented);
  EXPECT_NE(st.message().find("'add'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("(i8, i8) -> (i8)"), std::string::npos) << st.message();
  Tensor f = random(DType::F32, {4}), h = random(DType::BF16, {4}), o(DType::F32, {4});
  EXPECT_EQ(run("mul", {&f, &h}, {&o}).code(), StatusCode::Unimplemented);
  Tensor ia = random(DType::I64, {4}), ib = random(DType::I64, {4}), io(DType::I64, {4});
  EXPECT_EQ(run("pow", {&ia, &ib}, {&io}).code(), StatusCode::Unimplemented);
}

//===----------------------------------------------------------------------===//
// Unary element-wise.
//===----------------------------------------------------------------------===//

double gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double geluTanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

struct UnaryOp {
  const char *kind;
  Cls cls;
  double (*f)(double);
  double lo, hi;
  bool integers; // also defined on i32 / i64
  int64_t approximation = -1;
};
const UnaryOp kUnaryOps[] = {
    {"neg", Cls::Exact, [](double x) { return -x; }, -4, 4, true},
    {"abs", Cls::Exact, [](double x) { return std::fabs(x); }, -4, 4, true},
    {"relu", Cls::Exact, [](double x) { return x < 0 ? 0.0 : x; }, -4, 4, false},
    {"tanh", Cls::Transcendental, [](double x) { return std::tanh(x); }, -5, 5, false},
    {"sigmoid", Cls::Transcendental, [](double x) { return 1 / (1 + std::exp(-x)); }, -20, 20,
     false},
    {"erf", Cls::Transcendental, [](double x) { return std::erf(x); }, -3, 3, false},
    {"sqrt", Cls::Arith, [](double x) { return std::sqrt(x); }, 0.01, 9, false},
    {"exp", Cls::Transcendental, [](double x) { return std::exp(x); }, -4, 4, false},
    {"log", Cls::Transcendental, [](double x) { return std::log(x); }, 0.01, 100, false},
    {"rsqrt", Cls::Transcendental, [](double x) { return 1 / std::sqrt(x); }, 0.01, 9, false},
    {"reciprocal", Cls::Arith, [](double x) { return 1 / x; }, 0.1, 8, false},
    {"sin", Cls::Transcendental, [](double x) { return std::sin(x); }, -10, 10, false},
    {"cos", Cls::Transcendental, [](double x) { return std::cos(x); }, -10, 10, false},
    {"softplus", Cls::Transcendental, [](double x) { return std::log1p(std::exp(x)); }, -30, 30,
     false},
    {"gelu", Cls::Transcendental, gelu, -5, 5, false, 0},
    {"gelu", Cls::Transcendental, geluTanh, -5, 5, false, 1},
};

TEST_F(CpuKernels, UnaryMathAllFloatDtypes) {
  for (const UnaryOp &op : kUnaryOps) {
    std::vector<DType> types(std::begin(kFloatTypes), std::end(kFloatTypes));
    if (op.integers) {
      types.push_back(DType::I64);
      types.push_back(DType::I32);
    }
    for (DType t : types)
      for (const std::vector<int64_t> &shape : {std::vector<int64_t>{7, 13}, {50000}}) {
        SCOPED_TRACE(std::string(op.kind) + " " + dtypeName(t));
        const bool isInt = !isFloatType(t);
        Tensor x = isInt ? random(t, shape, -1000, 1000) : random(t, shape, op.lo, op.hi);
        Tensor y(t, shape);
        Attrs a =
            op.approximation >= 0 ? Attrs(attrs().i("approximation", op.approximation)) : Attrs();
        ASSERT_OK(run(op.kind, {&x}, {&y}, a));
        std::vector<double> ref(static_cast<size_t>(x.size()));
        for (int64_t i = 0; i < x.size(); ++i)
          ref[i] = op.f(x.get(i));
        expectMatches(y, ref, isInt ? Tol{0, 0, 0} : tolFor(op.cls, t), {}, op.kind);
      }
  }
}

TEST_F(CpuKernels, LeakyReluUsesAlpha) {
  for (DType t : kFloatTypes) {
    Tensor x = random(t, {64}), y(t, {64});
    ASSERT_OK(run("leaky_relu", {&x}, {&y}, attrs().f("alpha", 0.2)));
    const double alpha = static_cast<float>(0.2);
    std::vector<double> ref;
    for (double v : x.values())
      ref.push_back(v >= 0 ? v : alpha * v);
    expectMatches(y, ref, tolFor(Cls::Transcendental, t), {}, "leaky_relu");
    // default alpha 0.01
    ASSERT_OK(run("leaky_relu", {&x}, {&y}));
    ref.clear();
    for (double v : x.values())
      ref.push_back(v >= 0 ? v : static_cast<double>(0.01f) * v);
    expectMatches(y, ref, tolFor(Cls::Transcendental, t), {}, "leaky_relu default");
  }
}

TEST_F(CpuKernels, HardSigmoidUsesAlphaAndBeta) {
  // Reference: max(0, min(1, alpha x + beta)) in double with the f32 attribute values. The
  // kernel rounds the product and the sum in the compute type: Transcendental's absolute
  // term covers the cancellation near 0.
  for (DType t : kFloatTypes)
    for (auto [alpha, beta] :
         {std::pair(0.2, 0.5), std::pair(1.0 / 6.0, 0.5), std::pair(0.7, -0.1)}) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " alpha " + std::to_string(alpha));
      Tensor x = random(t, {1000}, -6, 6), y(t, {1000});
      ASSERT_OK(run("hard_sigmoid", {&x}, {&y}, attrs().f("alpha", alpha).f("beta", beta)));
      const double a = static_cast<float>(alpha), b = static_cast<float>(beta);
      std::vector<double> ref;
      for (double v : x.values())
        ref.push_back(std::max(0.0, std::min(1.0, a * v + b)));
      expectMatches(y, ref, tolFor(Cls::Transcendental, t), {}, "hard_sigmoid");
    }
  // Defaults alpha 0.2, beta 0.5; NaN stays NaN; the clamps are exact.
  Tensor x(DType::F32, {4}), y(DType::F32, {4});
  const float xs[] = {std::numeric_limits<float>::quiet_NaN(), -100.f, 100.f, 0.f};
  for (int i = 0; i < 4; ++i)
    x.put<float>(i, xs[i]);
  ASSERT_OK(run("hard_sigmoid", {&x}, {&y}));
  EXPECT_TRUE(std::isnan(y.get(0)));
  EXPECT_EQ(y.get(1), 0.0);
  EXPECT_EQ(y.get(2), 1.0);
  EXPECT_EQ(y.get(3), 0.5);
}

TEST_F(CpuKernels, IsNanEveryFloatDtype) {
  // Reference: exact decode of each format; planted NaNs and infinities where the format has
  // them (f8E4M3FN has no infinity).
  for (DType t : kFloatTypes) {
    SCOPED_TRACE(dtypeName(t));
    Tensor x = random(t, {5000}), y(DType::Bool, {5000});
    for (int64_t i = 0; i < x.size(); i += 7)
      x.set(i, std::numeric_limits<double>::quiet_NaN());
    if (t != DType::F8E4M3FN)
      for (int64_t i = 3; i < x.size(); i += 11)
        x.set(i, i % 2 ? std::numeric_limits<double>::infinity()
                       : -std::numeric_limits<double>::infinity());
    ASSERT_OK(run("is_nan", {&x}, {&y}));
    std::vector<double> ref;
    for (double v : x.values())
      ref.push_back(std::isnan(v) ? 1 : 0);
    expectMatches(y, ref, {0, 0, 0}, {}, "is_nan");
  }
  Tensor x = random(DType::F32, {4}), wrongType(DType::F32, {4}), wrongShape(DType::Bool, {3});
  EXPECT_EQ(run("is_nan", {&x}, {&wrongType}).code(), StatusCode::Unimplemented);
  EXPECT_EQ(run("is_nan", {&x}, {&wrongShape}).code(), StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, SigmoidAndExpAtExtremes) {
  Tensor x(DType::F32, {4}), y(DType::F32, {4});
  const float xs[] = {-200.f, 200.f, -90.f, 90.f};
  for (int i = 0; i < 4; ++i)
    x.put<float>(i, xs[i]);
  ASSERT_OK(run("sigmoid", {&x}, {&y}));
  EXPECT_EQ(y.get(0), 0.0);
  EXPECT_EQ(y.get(1), 1.0);
  EXPECT_FALSE(std::isnan(y.get(2)));
  ASSERT_OK(run("exp", {&x}, {&y}));
  EXPECT_TRUE(std::isinf(y.get(1)));
  Tensor h(DType::F16, {1}), hy(DType::F16, {1});
  h.set(0, 12.0); // e^12 > 65504: fp16 overflow is inf, as on a GPU
  ASSERT_OK(run("exp", {&h}, {&hy}));
  EXPECT_TRUE(std::isinf(hy.get(0)));
}

//===----------------------------------------------------------------------===//
// compare, not, where.
//===----------------------------------------------------------------------===//

TEST_F(CpuKernels, CompareAllKindsAllDtypes) {
  const std::vector<int64_t> as = {4, 1, 5}, bs = {3, 1}, os = {4, 3, 5};
  for (DType t : kAllTypes)
    for (int kind = 0; kind <= 4; ++kind) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " kind " + std::to_string(kind));
      // Few distinct values, so equality happens often.
      auto draw = [&](const std::vector<int64_t> &shape) {
        Tensor x(t, shape);
        for (int64_t i = 0; i < x.size(); ++i)
          x.set(i, t == DType::Bool ? uniformInt(0, 1)
                   : t == DType::U8
                       ? uniformInt(0, 3)
                       : 0.5 * static_cast<double>(uniformInt(-3, 3)) * (isFloatType(t) ? 1 : 2));
        return x;
      };
      Tensor a = draw(as), b = draw(bs), out(DType::Bool, os);
      ASSERT_OK(run("compare", {&a, &b}, {&out}, attrs().i("kind", kind)));
      std::vector<double> ref;
      for (int64_t i = 0; i < out.size(); ++i) {
        const auto idx = unravel(i, os);
        const double x = a.get(bcastOffset(idx, as)), y = b.get(bcastOffset(idx, bs));
        const bool r = kind == 0   ? x == y
                       : kind == 1 ? x < y
                       : kind == 2 ? x <= y
                       : kind == 3 ? x > y
                                   : x >= y;
        ref.push_back(r ? 1 : 0);
      }
      expectMatches(out, ref, {0, 0, 0}, {}, "compare");
    }
}

TEST_F(CpuKernels, CompareWithNaNIsFalse) {
  Tensor a(DType::F32, {2}), b(DType::F32, {2}), out(DType::Bool, {2});
  a.put<float>(0, std::numeric_limits<float>::quiet_NaN());
  a.put<float>(1, 1.f);
  b.put<float>(0, 1.f);
  b.put<float>(1, std::numeric_limits<float>::quiet_NaN());
  for (int kind = 0; kind <= 4; ++kind) {
    ASSERT_OK(run("compare", {&a, &b}, {&out}, attrs().i("kind", kind)));
    EXPECT_EQ(out.get(0), 0) << kind;
    EXPECT_EQ(out.get(1), 0) << kind;
  }
}

TEST_F(CpuKernels, NotAndWhere) {
  Tensor c = random(DType::Bool, {4, 1, 5}), nc(DType::Bool, {4, 1, 5});
  ASSERT_OK(run("not", {&c}, {&nc}));
  for (int64_t i = 0; i < c.size(); ++i)
    EXPECT_EQ(nc.get(i), 1 - c.get(i));
  const std::vector<int64_t> xs = {3, 5}, ys = {}, os = {4, 3, 5};
  for (DType t :
       {DType::F32, DType::BF16, DType::F64, DType::I64, DType::Bool, DType::I8, DType::F8E5M2}) {
    Tensor x = random(t, xs, -50, 50), y = random(t, ys, -50, 50), out(t, os);
    ASSERT_OK(run("where", {&c, &x, &y}, {&out}));
    std::vector<double> ref;
    for (int64_t i = 0; i < out.size(); ++i) {
      const auto idx = unravel(i, os);
      ref.push_back(c.get(bcastOffset(idx, c.shape)) ? x.get(bcastOffset(idx, xs))
                                                     : y.get(bcastOffset(idx, ys)));
    }
    expectMatches(out, ref, {0, 0, 0}, {}, std::string("where ") + dtypeName(t));
  }
  // Large, all same shape: the unit-stride path across threads.
  Tensor cc = random(DType::Bool, {100000}), x = random(DType::F32, {100000}),
         y = random(DType::F32, {100000}), out(DType::F32, {100000});
  ASSERT_OK(run("where", {&cc, &x, &y}, {&out}));
  for (int64_t i = 0; i < out.size(); ++i)
    ASSERT_EQ(out.get(i), cc.get(i) ? x.get(i) : y.get(i)) << i;
}

TEST_F(CpuKernels, AllFiniteOverEveryOperandAndFloatDtype) {
  // Reference: no element of any operand is a NaN or an infinity (exact decode of each
  // format). Each trial plants a NaN, +inf or -inf (where the format has one) at a random
  // element of a random operand, or nothing.
  const DType dtypes[] = {DType::F32, DType::F64, DType::F16, DType::BF16, DType::F8E4M3FN,
                          DType::F8E5M2};
  for (int trial = 0; trial < 60; ++trial) {
    std::vector<Tensor> ins;
    for (int k = 0; k < 3; ++k)
      ins.push_back(random(dtypes[(trial + k) % 6], {static_cast<int64_t>(1 + trial % 7), 5}));
    const int plant = trial % 4; // 0: none, 1: NaN, 2: +inf, 3: -inf
    if (plant) {
      Tensor &t = ins[trial % 3];
      // Conversions to fp8 saturate (numerics.h), so plant NaN there.
      const bool hasInf = t.dtype != DType::F8E4M3FN && t.dtype != DType::F8E5M2;
      t.set((trial * 7) % t.size(), plant == 1 || !hasInf ? NAN : plant == 2 ? INFINITY : -INFINITY);
    }
    bool ref = true;
    for (const Tensor &t : ins)
      for (int64_t i = 0; i < t.size(); ++i)
        ref = ref && std::isfinite(t.get(i));
    EXPECT_EQ(ref, plant == 0) << trial;
    Tensor out(DType::Bool, {});
    std::vector<Tensor *> ptrs = {&ins[0], &ins[1], &ins[2]};
    ASSERT_OK(run("all_finite", ptrs, {&out}));
    EXPECT_EQ(out.get(0), ref ? 1.0 : 0.0) << trial;
  }
  // No operands: true. A non-float operand or a non-scalar result is an error.
  Tensor out(DType::Bool, {});
  ASSERT_OK(run("all_finite", {}, {&out}));
  EXPECT_EQ(out.get(0), 1.0);
  Tensor ints = random(DType::I64, {3}), wide(DType::Bool, {2});
  EXPECT_FALSE(run("all_finite", {&ints}, {&out}).isOk());
  Tensor f = random(DType::F32, {3});
  EXPECT_FALSE(run("all_finite", {&f}, {&wide}).isOk());
}

//===----------------------------------------------------------------------===//
// cast.
//===----------------------------------------------------------------------===//

/// v rounded to nearest even into a format with p significand bits, minimum normal exponent
/// emin and largest finite value maxf; beyond maxf: inf, or maxf when `satfinite`.
double roundToFormat(double v, int p, int emin, double maxf, bool satfinite) {
  if (std::isnan(v))
    return v;
  if (std::isinf(v))
    return satfinite ? std::copysign(maxf, v) : v;
  if (v == 0)
    return v;
  const int e = std::max(std::ilogb(v), emin);
  const double q = std::ldexp(1.0, e - (p - 1));
  double r = std::nearbyint(v / q) * q;
  if (std::fabs(r) > maxf)
    return satfinite ? std::copysign(maxf, v) : std::copysign(INFINITY, v);
  if (r == 0)
    r = std::copysign(0.0, v);
  return r;
}

/// The value cast semantics give `v` (exactly a value of dtype `from`) in dtype `to`.
double castReference(double v, DType from, DType to) {
  auto sat = [&](double lo, double hi) {
    if (std::isnan(v))
      return 0.0;
    const double t = std::trunc(v);
    return t < lo ? lo : t > hi ? hi : t;
  };
  auto wrap = [&](int bits, bool isSigned) {
    // Only for integral v within int64.
    const uint64_t u = static_cast<uint64_t>(static_cast<int64_t>(v));
    const uint64_t m = bits == 64 ? u : u & ((uint64_t(1) << bits) - 1);
    if (isSigned && bits < 64 && (m >> (bits - 1)))
      return static_cast<double>(static_cast<int64_t>(m) - (int64_t(1) << bits));
    return isSigned ? static_cast<double>(static_cast<int64_t>(m)) : static_cast<double>(m);
  };
  switch (to) {
  case DType::F32:
    return static_cast<float>(v);
  case DType::F64:
    return v;
  case DType::BF16:
    return roundToFormat(v, 8, -126, 3.38953139e38, false);
  case DType::F16:
    return roundToFormat(v, 11, -14, 65504, false);
  case DType::F8E4M3FN:
    return roundToFormat(v, 4, -6, 448, true);
  case DType::F8E5M2:
    return roundToFormat(v, 3, -14, 57344, true);
  case DType::Bool:
    return v != 0 ? 1 : 0; // NaN != 0
  default:
    break;
  }
  // Integer targets: floats saturate and truncate; integers wrap.
  const bool integral = !isFloatType(from);
  switch (to) {
  case DType::I64:
    return integral ? v : sat(-9223372036854775808.0, 9223372036854775807.0);
  case DType::I32:
    return integral ? wrap(32, true) : sat(-2147483648.0, 2147483647.0);
  case DType::I8:
    return integral ? wrap(8, true) : sat(-128, 127);
  case DType::U8:
    return integral ? wrap(8, false) : sat(0, 255);
  default:
    return 0;
  }
}

TEST_F(CpuKernels, CastExhaustive16BitAndRandomFloatBitsMatchNumerics) {
  // Every bf16 and fp16 pattern -> f32 decodes exactly; f32 -> bf16 / f16 re-encodes it.
  for (DType narrow : {DType::BF16, DType::F16}) {
    Tensor in(narrow, {65536}), wide(DType::F32, {65536}), back(narrow, {65536});
    for (int64_t i = 0; i < 65536; ++i)
      in.put<uint16_t>(i, static_cast<uint16_t>(i));
    ASSERT_OK(run("cast", {&in}, {&wide}));
    ASSERT_OK(run("cast", {&wide}, {&back}));
    for (int64_t i = 0; i < 65536; ++i) {
      const uint16_t b = static_cast<uint16_t>(i);
      const float want = narrow == DType::BF16 ? bf16_to_float(b) : fp16_to_float(b);
      const uint32_t got = wide.load<uint32_t>(i);
      uint32_t wantBits;
      std::memcpy(&wantBits, &want, 4);
      ASSERT_EQ(got, wantBits) << dtypeName(narrow) << " pattern " << i;
      const uint16_t re = narrow == DType::BF16 ? float_to_bf16(want) : float_to_fp16(want);
      ASSERT_EQ(back.load<uint16_t>(i), re) << dtypeName(narrow) << " pattern " << i;
    }
  }
  // Every fp8 pattern -> f32.
  for (DType f8 : {DType::F8E4M3FN, DType::F8E5M2}) {
    Tensor in(f8, {256}), wide(DType::F32, {256});
    for (int64_t i = 0; i < 256; ++i)
      in.put<uint8_t>(i, static_cast<uint8_t>(i));
    ASSERT_OK(run("cast", {&in}, {&wide}));
    for (int64_t i = 0; i < 256; ++i) {
      const float want = f8 == DType::F8E4M3FN ? fp8_e4m3fn_to_float(static_cast<uint8_t>(i))
                                               : fp8_e5m2_to_float(static_cast<uint8_t>(i));
      EXPECT_EQ(std::memcmp(wide.bytes.data() + 4 * i, &want, 4), 0) << i;
    }
  }
  // Random f32 bit patterns (NaNs, infinities, subnormals included) -> every narrow format.
  const int64_t n = 200000;
  Tensor f(DType::F32, {n});
  for (int64_t i = 0; i < n; ++i)
    f.put<uint32_t>(i, static_cast<uint32_t>(rng_()));
  for (DType t : {DType::BF16, DType::F16, DType::F8E4M3FN, DType::F8E5M2}) {
    Tensor out(t, {n});
    ASSERT_OK(run("cast", {&f}, {&out}));
    for (int64_t i = 0; i < n; ++i) {
      const float x = f.load<float>(i);
      uint32_t want = 0, got = 0;
      switch (t) {
      case DType::BF16:
        want = float_to_bf16(x);
        got = out.load<uint16_t>(i);
        break;
      case DType::F16:
        want = float_to_fp16(x);
        got = out.load<uint16_t>(i);
        break;
      case DType::F8E4M3FN:
        want = float_to_fp8_e4m3fn(x);
        got = out.load<uint8_t>(i);
        break;
      default:
        want = float_to_fp8_e5m2(x);
        got = out.load<uint8_t>(i);
        break;
      }
      ASSERT_EQ(got, want) << dtypeName(t) << " of f32 bits " << f.load<uint32_t>(i);
    }
  }
}

TEST_F(CpuKernels, CastAllDtypePairs) {
  for (DType from : kAllTypes) {
    // Values that exist in `from`, specials included.
    std::vector<double> vals;
    if (isFloatType(from)) {
      const double specials[] = {0.0,  -0.0,  1.0,      -1.0,      0.5,    -0.9,
                                 1.9,  127.5, -128.7,   255.5,     300.25, -300.25,
                                 1e10, -1e10, INFINITY, -INFINITY, NAN};
      for (double v : specials)
        vals.push_back(v);
      for (int i = 0; i < 200; ++i)
        vals.push_back(uniform(-300, 300));
    } else if (from == DType::Bool) {
      vals = {0, 1, 1, 0};
    } else if (from == DType::U8) {
      vals = {0, 1, 127, 128, 255};
      for (int i = 0; i < 50; ++i)
        vals.push_back(static_cast<double>(uniformInt(0, 255)));
    } else {
      vals = {0, 1, -1, 127, -128, 128, -129, 255, 256, 300, -300};
      if (from != DType::I8)
        vals.push_back(70000), vals.push_back(-70000);
      if (from == DType::I64)
        vals.push_back(1099511627777.0); // 2^40 + 1: exact in double, not in float
      for (int i = 0; i < 50; ++i)
        vals.push_back(static_cast<double>(uniformInt(-300, 300)));
    }
    Tensor in(from, {static_cast<int64_t>(vals.size())});
    for (size_t i = 0; i < vals.size(); ++i)
      in.set(static_cast<int64_t>(i), vals[i]);
    for (DType to : kAllTypes) {
      SCOPED_TRACE(std::string("cast ") + dtypeName(from) + " -> " + dtypeName(to));
      Tensor out(to, in.shape);
      ASSERT_OK(run("cast", {&in}, {&out}));
      std::vector<double> ref;
      for (int64_t i = 0; i < in.size(); ++i)
        ref.push_back(from == to ? in.get(i) : castReference(in.get(i), from, to));
      expectMatches(out, ref, {0, 0, 0}, {}, "cast");
      // Signed zero survives float -> float.
      if (isFloatType(from) && isFloatType(to)) {
        EXPECT_TRUE(std::signbit(out.get(1))) << "-0 lost its sign";
      }
    }
  }
}

TEST_F(CpuKernels, CastRoundsOnceFromF64AndFromIntegers) {
  // 1 + 2^-8 + 2^-40 lies just above a bf16 tie; via float it would land on the tie and round
  // to even (1.0). Correct: 1 + 2^-7.
  Tensor d(DType::F64, {2}), b(DType::BF16, {2});
  d.put<double>(0, 1.0 + 0x1p-8 + 0x1p-40);
  d.put<double>(1, -(1.0 + 0x1p-8 + 0x1p-40));
  ASSERT_OK(run("cast", {&d}, {&b}));
  EXPECT_EQ(b.get(0), 1.0078125);
  EXPECT_EQ(b.get(1), -1.0078125);
  // 2^24 + 2^16 + 1 -> bf16: float rounding would make it the tie 2^24 + 2^16 (-> 2^24).
  Tensor i(DType::I64, {1}), ib(DType::BF16, {1});
  i.put<int64_t>(0, (int64_t(1) << 24) + (int64_t(1) << 16) + 1);
  ASSERT_OK(run("cast", {&i}, {&ib}));
  EXPECT_EQ(ib.get(0), 16777216.0 + 131072.0);
  // Beyond 2^53 too: 2^60 + 2^52 + 1 -> bf16 rounds up (above the tie 2^60 + 2^52).
  i.put<int64_t>(0, (int64_t(1) << 60) + (int64_t(1) << 52) + 1);
  ASSERT_OK(run("cast", {&i}, {&ib}));
  EXPECT_EQ(ib.get(0), std::ldexp(1.0, 60) + std::ldexp(1.0, 53));
  // f64 -> f16 overflow and fp8 saturation.
  Tensor big(DType::F64, {3}), h(DType::F16, {3}), e4(DType::F8E4M3FN, {3});
  big.put<double>(0, 65519.99);
  big.put<double>(1, 65520.0);
  big.put<double>(2, -1e300);
  ASSERT_OK(run("cast", {&big}, {&h}));
  ASSERT_OK(run("cast", {&big}, {&e4}));
  EXPECT_EQ(h.get(0), 65504.0);
  EXPECT_TRUE(std::isinf(h.get(1)));
  EXPECT_EQ(h.get(2), -INFINITY);
  EXPECT_EQ(e4.get(0), 448.0);
  EXPECT_EQ(e4.get(2), -448.0);
}

TEST_F(CpuKernels, CastFloatToIntSaturatesAndTruncates) {
  Tensor f(DType::F32, {6}), i32(DType::I32, {6}), u8(DType::U8, {6}), bl(DType::Bool, {6});
  const float vals[] = {3e9f, -3e9f, std::numeric_limits<float>::quiet_NaN(), -1.9f, 300.f, -0.0f};
  for (int k = 0; k < 6; ++k)
    f.put<float>(k, vals[k]);
  ASSERT_OK(run("cast", {&f}, {&i32}));
  ASSERT_OK(run("cast", {&f}, {&u8}));
  ASSERT_OK(run("cast", {&f}, {&bl}));
  EXPECT_EQ(i32.load<int32_t>(0), std::numeric_limits<int32_t>::max());
  EXPECT_EQ(i32.load<int32_t>(1), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(i32.load<int32_t>(2), 0);
  EXPECT_EQ(i32.load<int32_t>(3), -1);
  EXPECT_EQ(u8.load<uint8_t>(3), 0);
  EXPECT_EQ(u8.load<uint8_t>(4), 255);
  EXPECT_EQ(bl.load<uint8_t>(2), 1); // NaN is true
  EXPECT_EQ(bl.load<uint8_t>(5), 0); // -0 is false
}

//===----------------------------------------------------------------------===//
// dropout.
//===----------------------------------------------------------------------===//

TEST_F(CpuKernels, PhiloxKnownAnswers) {
  // Random123's kat_vectors for philox4x32 with 10 rounds.
  using A4 = std::array<uint32_t, 4>;
  EXPECT_EQ(cpu::philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (A4{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(cpu::philox4x32_10({~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}),
            (A4{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(cpu::philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                               {0xa4093822, 0x299f31d0}),
            (A4{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

/// The reference stream of precis.dropout (PrecisOps.td), written out from its definition:
/// element i of stream `stream` at step `step` under `seed`.
double referenceUniform(uint64_t seed, uint64_t step, uint32_t stream, int64_t i) {
  const auto r =
      cpu::philox4x32_10({static_cast<uint32_t>(i / 4), stream, static_cast<uint32_t>(step),
                          static_cast<uint32_t>(step >> 32)},
                         {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
  return static_cast<double>(r[i % 4] >> 8) * 0x1p-24;
}

TEST_F(CpuKernels, DropoutUniformIsTheDocumentedStream) {
  // numerics.h's dropout_uniform, which the generated CUDA kernel calls, against the
  // reference written from the op's description (Philox checked by the known answers above).
  for (int k = 0; k < 1000; ++k) {
    const uint64_t seed = rng_(), step = k < 500 ? rng_() % 1000 : rng_();
    const uint32_t stream = static_cast<uint32_t>(rng_());
    const int64_t i = static_cast<int64_t>(rng_() % (uint64_t{1} << 34));
    ASSERT_EQ(static_cast<double>(precis::dropout_uniform(seed, step, stream, i)),
              referenceUniform(seed, step, stream, i))
        << seed << " " << step << " " << stream << " " << i;
  }
}

TEST_F(CpuKernels, DropoutTrainingFollowsTheDocumentedStream) {
  const int64_t n = 100003;
  const double ratio = 0.3;
  const int64_t seed = static_cast<int64_t>(rng_() >> 1), step = 41;
  const uint32_t stream = 2;
  Tensor rng(DType::I64, {2});
  rng.put<int64_t>(0, seed);
  rng.put<int64_t>(1, step);
  auto a = [&](int64_t s) { return attrs().f("ratio", ratio).i("training", 1).i("stream", s); };
  for (DType t : {DType::F32, DType::BF16, DType::F64}) {
    Tensor x = random(t, {n}), y(t, {n}), mask(DType::Bool, {n});
    ASSERT_OK(run("dropout", {&x, &rng}, {&y, &mask}, a(stream)));
    const float scale = 1.0f / (1.0f - static_cast<float>(ratio));
    int64_t kept = 0;
    std::vector<double> ref(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const bool keep = referenceUniform(static_cast<uint64_t>(seed), step, stream, i) >=
                        static_cast<float>(ratio);
      ASSERT_EQ(mask.get(i), keep ? 1 : 0) << i;
      kept += keep;
      ref[i] = keep ? x.get(i) * scale : 0.0;
    }
    expectMatches(y, ref, tolFor(Cls::Transcendental, t), {}, "dropout");
    // The kept fraction of n Bernoulli(1 - ratio) draws: within 5 standard deviations
    // (sqrt(ratio (1 - ratio) / n) = 0.00145), which a correct stream misses with
    // probability < 1e-6.
    EXPECT_NEAR(static_cast<double>(kept) / n, 1 - ratio, 5 * std::sqrt(ratio * (1 - ratio) / n));
    // Same state, other thread count: identical. Another stream, step or seed: another mask,
    // and the masks of two steps agree on about ratio^2 + (1 - ratio)^2 of the elements (they
    // are independent), not more.
    Tensor y1(t, {n}), m1(DType::Bool, {n}), m2(DType::Bool, {n});
    ASSERT_OK(run("dropout", {&x, &rng}, {&y1, &m1}, a(stream), 1));
    EXPECT_EQ(y1.bytes, y.bytes);
    ASSERT_OK(run("dropout", {&x, &rng}, {&y1, &m2}, a(stream + 1)));
    EXPECT_NE(m2.bytes, mask.bytes);
    for (int which = 0; which < 2; ++which) {
      Tensor other(DType::I64, {2});
      other.put<int64_t>(0, seed + (which == 0));
      other.put<int64_t>(1, step + (which == 1));
      ASSERT_OK(run("dropout", {&x, &other}, {&y1, &m2}, a(stream)));
      int64_t same = 0;
      for (int64_t i = 0; i < n; ++i)
        same += m2.get(i) == mask.get(i);
      const double p = ratio * ratio + (1 - ratio) * (1 - ratio);
      EXPECT_NEAR(static_cast<double>(same) / n, p, 5 * std::sqrt(p * (1 - p) / n)) << which;
    }
  }
  // Without the RNG state the stream is seed 0, step 0.
  Tensor x = random(DType::F32, {n}), y(DType::F32, {n}), mask(DType::Bool, {n});
  ASSERT_OK(run("dropout", {&x}, {&y, &mask}, a(0)));
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(mask.get(i), referenceUniform(0, 0, 0, i) >= static_cast<float>(ratio) ? 1 : 0);
  // A malformed state is an error.
  Tensor bad(DType::I64, {3});
  EXPECT_FALSE(run("dropout", {&x, &bad}, {&y, &mask}, a(0)).isOk());
}

TEST_F(CpuKernels, DropoutInferenceIsIdentity) {
  Tensor x = random(DType::F16, {3, 7}), y(DType::F16, {3, 7}), mask(DType::Bool, {3, 7});
  ASSERT_OK(run("dropout", {&x}, {&y, &mask}, attrs().f("ratio", 0.5)));
  EXPECT_EQ(y.bytes, x.bytes);
  for (int64_t i = 0; i < mask.size(); ++i)
    EXPECT_EQ(mask.get(i), 1);
  ASSERT_OK(run("dropout", {&x}, {&y, &mask}, attrs().f("ratio", 1.0).i("training", 1)));
  for (int64_t i = 0; i < y.size(); ++i)
    EXPECT_EQ(y.get(i), 0.0);
}

//===----------------------------------------------------------------------===//
// Data movement.
//===----------------------------------------------------------------------===//

TEST_F(CpuKernels, ReshapeAndExpand) {
  Tensor x = random(DType::BF16, {2, 3, 4}), y(DType::BF16, {6, 4});
  ASSERT_OK(run("reshape", {&x}, {&y}));
  EXPECT_EQ(x.bytes, y.bytes);
  Tensor bad(DType::BF16, {5, 5});
  EXPECT_EQ(run("reshape", {&x}, {&bad}).code(), StatusCode::InvalidArgument);
  for (DType t : {DType::F32, DType::I64, DType::Bool, DType::F16}) {
    Tensor e = random(t, {3, 1, 4}), out(t, {2, 3, 5, 4});
    ASSERT_OK(run("expand", {&e}, {&out}));
    std::vector<double> ref;
    for (int64_t i = 0; i < out.size(); ++i)
      ref.push_back(e.get(bcastOffset(unravel(i, out.shape), e.shape)));
    expectMatches(out, ref, {0, 0, 0}, {}, "expand");
  }
  Tensor e = random(DType::F32, {3}), out(DType::F32, {4});
  EXPECT_EQ(run("expand", {&e}, {&out}).code(), StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, TransposeAllElementSizes) {
  const std::vector<std::vector<int64_t>> perms = {{1, 0, 2}, {2, 0, 1}, {2, 1, 0}, {0, 1, 2}};
  // Small shapes take the row-copy path, the larger one the tiled transpose.
  for (const std::vector<int64_t> &shape : {std::vector<int64_t>{3, 4, 5}, {3, 40, 33}})
    for (DType t : {DType::F32, DType::F64, DType::BF16, DType::U8})
      for (const auto &perm : perms) {
        Tensor x = random(t, shape, -100, 100);
        std::vector<int64_t> os = {shape[perm[0]], shape[perm[1]], shape[perm[2]]};
        Tensor y(t, os);
        ASSERT_OK(run("transpose", {&x}, {&y}, attrs().ints("perm", perm)));
        std::vector<double> ref;
        for (int64_t i = 0; i < y.size(); ++i) {
          const auto oi = unravel(i, os);
          std::vector<int64_t> ii(3);
          for (int d = 0; d < 3; ++d)
            ii[perm[d]] = oi[d];
          ref.push_back(x.get(ravel(ii, shape)));
        }
        expectMatches(y, ref, {0, 0, 0}, {}, "transpose");
      }
  // A large 2-D transpose across threads, and the default (reversed) permutation.
  Tensor x = random(DType::F32, {300, 257}), y(DType::F32, {257, 300});
  ASSERT_OK(run("transpose", {&x}, {&y}));
  for (int64_t r = 0; r < 257; ++r)
    for (int64_t c = 0; c < 300; ++c)
      ASSERT_EQ(y.get(r * 300 + c), x.get(c * 257 + r));
  Tensor z(DType::F32, {257, 300});
  EXPECT_EQ(run("transpose", {&x}, {&z}, attrs().ints("perm", {0, 0})).code(),
            StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, ConcatAndSplit) {
  for (int64_t axis : {0, 1, -1}) {
    const int64_t ax = axis < 0 ? axis + 3 : axis;
    std::vector<std::vector<int64_t>> shapes;
    for (int64_t len : {2, 3, 1}) {
      std::vector<int64_t> s = {4, 5, 6};
      s[ax] = len;
      shapes.push_back(s);
    }
    std::vector<int64_t> os = {4, 5, 6};
    os[ax] = 6;
    for (DType t : {DType::F32, DType::I32, DType::F8E4M3FN}) {
      Tensor a = random(t, shapes[0], -9, 9), b = random(t, shapes[1], -9, 9),
             c = random(t, shapes[2], -9, 9), out(t, os);
      ASSERT_OK(run("concat", {&a, &b, &c}, {&out}, attrs().i("axis", axis)));
      std::vector<double> ref;
      for (int64_t i = 0; i < out.size(); ++i) {
        auto idx = unravel(i, os);
        const Tensor *src = &a;
        if (idx[ax] >= 5) {
          src = &c;
          idx[ax] -= 5;
        } else if (idx[ax] >= 2) {
          src = &b;
          idx[ax] -= 2;
        }
        ref.push_back(src->get(ravel(idx, src->shape)));
      }
      expectMatches(out, ref, {0, 0, 0}, {}, "concat");
      Tensor sa(t, shapes[0]), sb(t, shapes[1]), sc(t, shapes[2]);
      ASSERT_OK(run("split", {&out}, {&sa, &sb, &sc}, attrs().i("axis", axis)));
      EXPECT_EQ(sa.bytes, a.bytes);
      EXPECT_EQ(sb.bytes, b.bytes);
      EXPECT_EQ(sc.bytes, c.bytes);
    }
  }
  Tensor a = random(DType::F32, {2, 3}), b = random(DType::F32, {2, 4}), out(DType::F32, {4, 3});
  EXPECT_EQ(run("concat", {&a, &b}, {&out}, attrs().i("axis", 0)).code(),
            StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, SliceWithPositiveAndNegativeSteps) {
  struct Case {
    std::vector<int64_t> start, limit, step, out;
  };
  const std::vector<int64_t> shape = {5, 6, 7};
  const Case cases[] = {
      {{1, 0, 6}, {4, 6, -1}, {2, 1, -1}, {2, 6, 7}},  // reverse the last dim through 0
      {{4, 5, 0}, {0, -1, 7}, {-2, -2, 3}, {2, 3, 3}}, // negative steps, stride 3
      {{0, 2, 3}, {5, 3, 4}, {1, 1, 1}, {5, 1, 1}},
      {{2, 0, 0}, {2, 6, 7}, {1, 1, 1}, {0, 6, 7}}, // empty
  };
  for (DType t : {DType::F32, DType::F16, DType::I64})
    for (const Case &c : cases) {
      Tensor x = random(t, shape, -50, 50), y(t, c.out);
      ASSERT_OK(run("slice", {&x}, {&y},
                    attrs().ints("start", c.start).ints("limit", c.limit).ints("step", c.step)));
      std::vector<double> ref;
      for (int64_t i = 0; i < y.size(); ++i) {
        auto idx = unravel(i, c.out);
        for (int d = 0; d < 3; ++d)
          idx[d] = c.start[d] + idx[d] * c.step[d];
        ref.push_back(x.get(ravel(idx, shape)));
      }
      expectMatches(y, ref, {0, 0, 0}, {}, "slice");
    }
  Tensor x = random(DType::F32, {5}), y(DType::F32, {3});
  // Reads past the end, a count that disagrees with the result, a zero step: all errors.
  EXPECT_EQ(
      run("slice", {&x}, {&y}, attrs().ints("start", {3}).ints("limit", {9}).ints("step", {1}))
          .code(),
      StatusCode::InvalidArgument);
  EXPECT_EQ(
      run("slice", {&x}, {&y}, attrs().ints("start", {0}).ints("limit", {2}).ints("step", {1}))
          .code(),
      StatusCode::InvalidArgument);
  EXPECT_EQ(
      run("slice", {&x}, {&y}, attrs().ints("start", {0}).ints("limit", {3}).ints("step", {0}))
          .code(),
      StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, GatherWithNegativeIndicesAndErrors) {
  for (DType it : {DType::I64, DType::I32})
    for (int64_t axis : {0, 1, -1}) {
      const std::vector<int64_t> ds = {5, 4, 3};
      const int64_t ax = axis < 0 ? axis + 3 : axis;
      const int64_t dim = ds[ax];
      Tensor data = random(DType::BF16, ds), idx(it, {2, 3});
      for (int64_t i = 0; i < idx.size(); ++i)
        idx.set(i, static_cast<double>(uniformInt(-dim, dim - 1)));
      idx.set(0, -1);
      std::vector<int64_t> os(ds.begin(), ds.begin() + ax);
      os.push_back(2);
      os.push_back(3);
      os.insert(os.end(), ds.begin() + ax + 1, ds.end());
      Tensor out(DType::BF16, os);
      ASSERT_OK(run("gather", {&data, &idx}, {&out}, attrs().i("axis", axis)));
      std::vector<double> ref;
      for (int64_t i = 0; i < out.size(); ++i) {
        const auto oi = unravel(i, os);
        std::vector<int64_t> di(oi.begin(), oi.begin() + ax);
        int64_t j = idx.getInt(oi[ax] * 3 + oi[ax + 1]);
        di.push_back(j < 0 ? j + dim : j);
        di.insert(di.end(), oi.begin() + ax + 2, oi.end());
        ref.push_back(data.get(ravel(di, ds)));
      }
      expectMatches(out, ref, {0, 0, 0}, {}, "gather");
      for (int64_t badIndex : {dim, -dim - 1}) {
        idx.set(4, static_cast<double>(badIndex));
        const Status st = run("gather", {&data, &idx}, {&out}, attrs().i("axis", axis));
        EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
        EXPECT_NE(st.message().find("out of range"), std::string::npos) << st.message();
        idx.set(4, 0);
      }
    }
  Tensor data = random(DType::F32, {4}), idx(DType::F32, {1}), out(DType::F32, {1});
  EXPECT_EQ(run("gather", {&data, &idx}, {&out}).code(), StatusCode::Unimplemented);
}

TEST_F(CpuKernels, GatherElementsEveryAxisAndErrors) {
  // Reference: result[c] = data[c with c[axis] = idx[c]], computed coordinate-wise.
  const std::vector<int64_t> ds = {4, 5, 3};
  for (DType dt : {DType::F32, DType::BF16, DType::I64})
    for (DType it : {DType::I64, DType::I32})
      for (int64_t axis : {0, 1, 2}) {
        SCOPED_TRACE(std::string(dtypeName(dt)) + " axis " + std::to_string(axis));
        std::vector<int64_t> is = {3, 4, 2}; // other dimensions at most the data's
        is[axis] = 6;                        // more indices than the axis: repeats
        const int64_t dim = ds[axis];
        Tensor data = random(dt, ds, -9, 9), idx(it, is), out(dt, is);
        for (int64_t i = 0; i < idx.size(); ++i)
          idx.set(i, static_cast<double>(uniformInt(-dim, dim - 1)));
        ASSERT_OK(run("gather_elements", {&data, &idx}, {&out}, attrs().i("axis", axis)));
        std::vector<double> ref;
        for (int64_t i = 0; i < out.size(); ++i) {
          auto c = unravel(i, is);
          const int64_t j = idx.getInt(i);
          c[axis] = j < 0 ? j + dim : j;
          ref.push_back(data.get(ravel(c, ds)));
        }
        expectMatches(out, ref, {0, 0, 0}, {}, "gather_elements");
        for (int64_t bad : {dim, -dim - 1}) {
          idx.set(5, static_cast<double>(bad));
          const Status st = run("gather_elements", {&data, &idx}, {&out}, attrs().i("axis", axis));
          EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
          EXPECT_NE(st.message().find("out of range"), std::string::npos) << st.message();
          idx.set(5, 0);
        }
      }
  // Indices wider than the data off the axis, a result shape that is not the indices'.
  Tensor data = random(DType::F32, {2, 3}), wide(DType::I64, {3, 3}), idx(DType::I64, {2, 2});
  Tensor out3(DType::F32, {3, 3}), out2(DType::F32, {2, 3});
  EXPECT_EQ(run("gather_elements", {&data, &wide}, {&out3}, attrs().i("axis", 1)).code(),
            StatusCode::InvalidArgument);
  EXPECT_EQ(run("gather_elements", {&data, &idx}, {&out2}, attrs().i("axis", 1)).code(),
            StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, GatherNdAndScatterNdEveryWidth) {
  // References: coordinate-wise reads and an in-order scatter, in double.
  const std::vector<int64_t> ds = {4, 3, 5};
  for (DType dt : {DType::F32, DType::BF16, DType::I64, DType::I32})
    for (DType it : {DType::I64, DType::I32})
      for (int64_t k = 1; k <= 3; ++k) {
        SCOPED_TRACE(std::string(dtypeName(dt)) + " k " + std::to_string(k));
        const int64_t tuples = 6;
        std::vector<int64_t> sliceShape(ds.begin() + k, ds.end()), os = {2, 3};
        os.insert(os.end(), sliceShape.begin(), sliceShape.end());
        int64_t slice = 1;
        for (int64_t d : sliceShape)
          slice *= d;
        Tensor data = random(dt, ds, -9, 9), idx(it, {2, 3, k});
        for (int64_t i = 0; i < idx.size(); ++i) {
          const int64_t dim = ds[i % k];
          idx.set(i, static_cast<double>(uniformInt(-dim, dim - 1)));
        }
        // The flat offset of each tuple's slice in the data.
        std::vector<int64_t> base(tuples);
        for (int64_t t = 0; t < tuples; ++t) {
          std::vector<int64_t> c(3, 0);
          for (int64_t j = 0; j < k; ++j) {
            const int64_t v = idx.getInt(t * k + j);
            c[j] = v < 0 ? v + ds[j] : v;
          }
          base[t] = ravel(c, ds);
        }
        Tensor gathered(dt, os);
        ASSERT_OK(run("gather_nd", {&data, &idx}, {&gathered}));
        std::vector<double> ref;
        for (int64_t t = 0; t < tuples; ++t)
          for (int64_t e = 0; e < slice; ++e)
            ref.push_back(data.get(base[t] + e));
        expectMatches(gathered, ref, {0, 0, 0}, {}, "gather_nd");

        Tensor updates = random(dt, os, -9, 9);
        for (int64_t reduction : {0, 1}) {
          Tensor out(dt, ds);
          ASSERT_OK(run("scatter_nd", {&data, &idx, &updates}, {&out},
                        attrs().i("reduction", reduction)));
          std::vector<double> sref(static_cast<size_t>(data.size()));
          for (int64_t i = 0; i < data.size(); ++i)
            sref[i] = data.get(i);
          // Each add is rounded to the element type, as the kernel stores every partial sum.
          Tensor rounding(dt, {1});
          for (int64_t t = 0; t < tuples; ++t)
            for (int64_t e = 0; e < slice; ++e) {
              rounding.set(0, (reduction ? sref[base[t] + e] : 0.0) + updates.get(t * slice + e));
              sref[base[t] + e] = rounding.get(0);
            }
          expectMatches(out, sref,
                        reduction && isFloatType(dt) ? tolFor(Cls::Arith, dt) : Tol{0, 0, 0}, {},
                        "scatter_nd");
        }
        for (int64_t bad : {ds[0], -ds[0] - 1}) {
          idx.set(0, static_cast<double>(bad));
          Tensor out(dt, ds);
          const Status st = run("scatter_nd", {&data, &idx, &updates}, {&out});
          EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
          EXPECT_NE(st.message().find("out of range"), std::string::npos) << st.message();
          EXPECT_EQ(run("gather_nd", {&data, &idx}, {&gathered}).code(),
                    StatusCode::InvalidArgument);
          idx.set(0, 0);
        }
      }
  // A tuple wider than the data's rank; updates of the wrong shape; an unknown reduction.
  Tensor data = random(DType::F32, {2, 3}), wide(DType::I64, {1, 3}), idx(DType::I64, {2, 1});
  Tensor out(DType::F32, {2, 3}), one(DType::F32, {1}), upd = random(DType::F32, {2, 2}),
                                                        good = random(DType::F32, {2, 3});
  EXPECT_EQ(run("gather_nd", {&data, &wide}, {&one}).code(), StatusCode::InvalidArgument);
  EXPECT_EQ(run("scatter_nd", {&data, &idx, &upd}, {&out}).code(), StatusCode::InvalidArgument);
  EXPECT_EQ(run("scatter_nd", {&data, &idx, &good}, {&out}, attrs().i("reduction", 2)).code(),
            StatusCode::InvalidArgument);
}

//===----------------------------------------------------------------------===//
// Reductions.
//===----------------------------------------------------------------------===//

std::vector<double> refReduce(const Tensor &x, const std::vector<int64_t> &axesIn, int kind,
                              std::vector<int64_t> &outShape, bool keepdims) {
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<bool> red(static_cast<size_t>(rank), axesIn.empty());
  for (int64_t a : axesIn)
    red[a < 0 ? a + rank : a] = true;
  std::vector<int64_t> kept;
  outShape.clear();
  for (int64_t d = 0; d < rank; ++d) {
    if (!red[d])
      kept.push_back(x.shape[d]);
    if (!red[d] || keepdims)
      outShape.push_back(red[d] ? 1 : x.shape[d]);
  }
  const int64_t n = numel(kept);
  const bool isInt = !isFloatType(x.dtype);
  std::vector<double> acc(static_cast<size_t>(n), kind == 2 ? -INFINITY : 0.0);
  std::vector<int64_t> iacc(static_cast<size_t>(n), kind == 2 ? INT64_MIN : 0);
  std::vector<int64_t> cnt(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < x.size(); ++i) {
    const auto idx = unravel(i, x.shape);
    std::vector<int64_t> k;
    for (int64_t d = 0; d < rank; ++d)
      if (!red[d])
        k.push_back(idx[d]);
    const int64_t o = ravel(k, kept);
    if (kind == 2) {
      acc[o] = std::max(acc[o], x.get(i));
      iacc[o] = std::max(iacc[o], x.getInt(i));
    } else {
      acc[o] += x.get(i);
      iacc[o] += x.getInt(i);
    }
    ++cnt[o];
  }
  for (int64_t o = 0; o < n; ++o) {
    if (isInt)
      acc[o] = static_cast<double>(kind == 1 ? iacc[o] / cnt[o] : iacc[o]);
    else if (kind == 1)
      acc[o] /= static_cast<double>(cnt[o]);
  }
  return acc;
}

TEST_F(CpuKernels, ReduceSumMeanMaxOverAxesAndKeepdims) {
  const char *kinds[] = {"reduce_sum", "reduce_mean", "reduce_max"};
  const std::vector<std::vector<int64_t>> axesSets = {{},     {0},    {1},      {-1},
                                                      {0, 2}, {1, 2}, {0, 1, 2}};
  for (int kind = 0; kind < 3; ++kind)
    for (DType t : {DType::F32, DType::F64, DType::BF16, DType::F16, DType::I64, DType::I32})
      for (const auto &axes : axesSets)
        for (bool keep : {true, false}) {
          SCOPED_TRACE(std::string(kinds[kind]) + " " + dtypeName(t) + " axes " +
                       std::to_string(axes.size()) + " keepdims " + std::to_string(keep));
          Tensor x = isFloatType(t) ? random(t, {5, 6, 7}) : random(t, {5, 6, 7}, -1000, 1000);
          std::vector<int64_t> os;
          const std::vector<double> ref = refReduce(x, axes, kind, os, keep);
          Tensor y(t, os);
          ASSERT_OK(run(kinds[kind], {&x}, {&y}, attrs().ints("axes", axes).i("keepdims", keep)));
          expectMatches(y, ref, kind == 2 ? Tol{0, 0, 0} : tolFor(Cls::Reduction, t), {},
                        kinds[kind]);
        }
}

TEST_F(CpuKernels, ReduceLargeBothLayoutsAndThreadIndependent) {
  // Axis 0 of [1000, 300] (kept inner dimension: tiled path) and axis 1 (contiguous rows).
  for (int64_t axis : {0, 1}) {
    Tensor x = random(DType::F32, {1000, 300});
    std::vector<int64_t> os;
    const std::vector<double> ref = refReduce(x, {axis}, 0, os, false);
    Tensor y1(DType::F32, os), y2(DType::F32, os);
    ASSERT_OK(run("reduce_sum", {&x}, {&y1}, attrs().ints("axes", {axis}).i("keepdims", 0), 1));
    ASSERT_OK(run("reduce_sum", {&x}, {&y2}, attrs().ints("axes", {axis}).i("keepdims", 0), 2));
    expectMatches(y2, ref, tolFor(Cls::Reduction, DType::F32), {}, "reduce_sum large");
    EXPECT_EQ(y1.bytes, y2.bytes) << "result depends on the thread count";
  }
  // Wrong result shape.
  Tensor x = random(DType::F32, {4, 5}), y(DType::F32, {4});
  EXPECT_EQ(run("reduce_sum", {&x}, {&y}, attrs().ints("axes", {1}).i("keepdims", 1)).code(),
            StatusCode::InvalidArgument);
}

TEST_F(CpuKernels, GlobalPools) {
  for (DType t : {DType::F32, DType::BF16, DType::F64}) {
    Tensor x = random(t, {2, 3, 4, 5}), avg(t, {2, 3, 1, 1}), mx(t, {2, 3, 1, 1});
    ASSERT_OK(run("global_avg_pool", {&x}, {&avg}));
    ASSERT_OK(run("global_max_pool", {&x}, {&mx}));
    std::vector<int64_t> os;
    expectMatches(avg, refReduce(x, {2, 3}, 1, os, true), tolFor(Cls::Reduction, t), {},
                  "global_avg_pool");
    expectMatches(mx, refReduce(x, {2, 3}, 2, os, true), {0, 0, 0}, {}, "global_max_pool");
  }
}

//===----------------------------------------------------------------------===//
// softmax, log_softmax, layer_norm, batch_norm.
//===----------------------------------------------------------------------===//

TEST_F(CpuKernels, SoftmaxAndLogSoftmaxAlongAnyAxis) {
  const std::vector<int64_t> shape = {4, 5, 6};
  for (bool log : {false, true})
    for (DType t : {DType::F32, DType::F64, DType::BF16, DType::F16})
      for (int64_t axis : {-1, 0, 1}) {
        const int64_t ax = axis < 0 ? axis + 3 : axis;
        Tensor x = random(t, shape, -8, 8);
        if (t == DType::F32 || t == DType::F64)
          x.set(0, 1000.0); // stability: a naive exp overflows
        Tensor y(t, shape);
        ASSERT_OK(run(log ? "log_softmax" : "softmax", {&x}, {&y}, attrs().i("axis", axis)));
        std::vector<double> ref(static_cast<size_t>(x.size()));
        for (int64_t i = 0; i < x.size(); ++i) {
          auto idx = unravel(i, shape);
          double mx = -INFINITY;
          for (int64_t k = 0; k < shape[ax]; ++k) {
            idx[ax] = k;
            mx = std::max(mx, x.get(ravel(idx, shape)));
          }
          double sum = 0;
          for (int64_t k = 0; k < shape[ax]; ++k) {
            idx[ax] = k;
            sum += std::exp(x.get(ravel(idx, shape)) - mx);
          }
          ref[i] = log ? x.get(i) - mx - std::log(sum) : std::exp(x.get(i) - mx) / sum;
        }
        expectMatches(y, ref, tolFor(log ? Cls::LogSoftmax : Cls::Softmax, t), {},
                      log ? "log_softmax" : "softmax");
      }
}

TEST_F(CpuKernels, LayerNorm) {
  struct Case {
    std::vector<int64_t> shape;
    int64_t axis;
    std::vector<int64_t> scaleShape;
    bool bias;
  };
  const Case cases[] = {{{3, 4, 5}, -1, {5}, true},
                        {{3, 4, 5}, 1, {4, 5}, true},
                        {{3, 4, 5}, 1, {5}, false},
                        {{64, 768}, -1, {768}, true}};
  // rms: RMSNorm (no mean subtracted), as ONNX RMSNormalization.
  for (bool rms : {false, true})
  for (DType t : {DType::F32, DType::F64, DType::BF16})
    for (const Case &c : cases) {
      Tensor x = random(t, c.shape), g = random(DType::F32, c.scaleShape, 0.5, 1.5),
             b = random(DType::F32, c.scaleShape, -1, 1), y(t, c.shape);
      const double eps = 1e-5;
      std::vector<Tensor *> ins = {&x, &g};
      if (c.bias)
        ins.push_back(&b);
      ASSERT_OK(run("layer_norm", ins, {&y},
                    attrs().i("axis", c.axis).f("epsilon", eps).i("rms", rms ? 1 : 0)));
      const int64_t ax = c.axis < 0 ? c.axis + static_cast<int64_t>(c.shape.size()) : c.axis;
      const std::vector<int64_t> ns(c.shape.begin() + ax, c.shape.end());
      const int64_t D = numel(ns), rows = x.size() / D;
      std::vector<double> ref;
      for (int64_t r = 0; r < rows; ++r) {
        double mean = 0, var = 0;
        for (int64_t j = 0; j < D && !rms; ++j)
          mean += x.get(r * D + j) / D;
        for (int64_t j = 0; j < D; ++j)
          var += (x.get(r * D + j) - mean) * (x.get(r * D + j) - mean) / D;
        for (int64_t j = 0; j < D; ++j) {
          const auto ji = unravel(j, ns);
          const double gv = g.get(bcastOffset(ji, c.scaleShape));
          const double bv = c.bias ? b.get(bcastOffset(ji, c.scaleShape)) : 0.0;
          ref.push_back((x.get(r * D + j) - mean) / std::sqrt(var + eps) * gv + bv);
        }
      }
      expectMatches(y, ref, tolFor(Cls::Norm, t), {}, rms ? "layer_norm rms" : "layer_norm");
    }
}

// rotary: half-split and interleaved pairs, per-pair and per-channel caches, partial rotation,
// broadcast caches. Each result is x1 c - x2 s (or x2 c + x1 s) rounded once: the allowed
// error is the two products' and the difference's rounding, 2^-24 (2^-53 for f64) times
// |x1 c| + |x2 s| each, plus one output ulp.
TEST_F(CpuKernels, Rotary) {
  struct Case {
    std::vector<int64_t> shape, cacheShape;
    int64_t rotaryDim;
    bool interleaved;
  };
  const Case cases[] = {{{2, 3, 4, 8}, {2, 1, 4, 4}, 0, false},  // per pair, over heads
                        {{2, 3, 4, 8}, {2, 1, 4, 8}, 0, false},  // per channel (HF)
                        {{2, 3, 4, 8}, {4, 4}, 0, true},         // interleaved, per pair
                        {{2, 4, 3, 10}, {2, 4, 1, 6}, 6, false}, // partial, per channel
                        {{2, 4, 3, 10}, {2, 4, 1, 3}, 6, true},  // partial, interleaved
                        {{5, 16}, {5, 16}, 0, true}};            // interleaved, per channel
  for (DType t : {DType::F32, DType::F64, DType::BF16, DType::F16})
    for (const Case &c : cases) {
      Tensor x = random(t, c.shape), cs = random(t, c.cacheShape, -1, 1),
             sn = random(t, c.cacheShape, -1, 1), y(t, c.shape);
      ASSERT_OK(run("rotary", {&x, &cs, &sn}, {&y},
                    attrs().i("rotary_dim", c.rotaryDim).i("interleaved", c.interleaved)));
      const int64_t width = c.shape.back(), rot = c.rotaryDim ? c.rotaryDim : width;
      const int64_t half = rot / 2, cw = c.cacheShape.back();
      std::vector<double> ref(static_cast<size_t>(x.size())), bound(ref.size(), 0.0);
      const double unit = t == DType::F64 ? 0x1p-53 : 0x1p-24;
      for (int64_t i = 0; i < x.size(); ++i) {
        std::vector<int64_t> idx = unravel(i, c.shape);
        const int64_t j = idx.back();
        if (j >= rot) {
          ref[i] = x.get(i);
          continue;
        }
        // Position within the pair and the partner channel.
        const bool first = c.interleaved ? j % 2 == 0 : j < half;
        const int64_t pair = c.interleaved ? j / 2 : j % half;
        const int64_t partner =
            c.interleaved ? (first ? j + 1 : j - 1) : (first ? j + half : j - half);
        idx.back() = cw == half ? pair : j;
        const int64_t cOff = bcastOffset(idx, c.cacheShape);
        const double xj = x.get(i), xp = x.get(i - j + partner);
        const double cv = cs.get(cOff), sv = sn.get(cOff);
        ref[i] = first ? xj * cv - xp * sv : xj * cv + xp * sv;
        bound[i] = 2 * unit * (std::fabs(xj * cv) + std::fabs(xp * sv));
      }
      expectMatches(y, ref, tolFor(Cls::Arith, t), bound, "rotary");
    }
}

TEST_F(CpuKernels, BatchNormTrainingFollowsOnnxAndInferenceUsesRunningStats) {
  for (DType t : {DType::F32, DType::F64, DType::BF16})
    for (const std::vector<int64_t> &shape : {std::vector<int64_t>{3, 4, 5, 6}, {8, 4}}) {
      const int64_t N = shape[0], C = shape[1], S = numel(shape) / (N * C);
      Tensor x = random(t, shape, -3, 5), sc = random(DType::F32, {C}, 0.5, 1.5),
             bi = random(DType::F32, {C}), rm = random(DType::F32, {C}),
             rv = random(DType::F32, {C}, 0.5, 2);
      const double eps = 1e-3, momentum = 0.8;
      // unbiased: PyTorch's running variance, batch_var * n / (n - 1); normalising unchanged.
      for (auto [training, unbiased] : {std::pair{true, false}, {false, false}, {true, true}}) {
        Tensor y(t, shape), nm(DType::F32, {C}), nv(DType::F32, {C});
        ASSERT_OK(run("batch_norm", {&x, &sc, &bi, &rm, &rv}, {&y, &nm, &nv},
                      attrs()
                          .f("epsilon", eps)
                          .f("momentum", momentum)
                          .i("training", training)
                          .i("unbiased_running_var", unbiased)));
        const double bessel = unbiased ? double(N * S) / double(N * S - 1) : 1.0;
        std::vector<double> ref(static_cast<size_t>(x.size())), refM, refV;
        for (int64_t c = 0; c < C; ++c) {
          double mean = rm.get(c), var = rv.get(c);
          if (training) {
            mean = var = 0;
            for (int64_t n = 0; n < N; ++n)
              for (int64_t s = 0; s < S; ++s)
                mean += x.get((n * C + c) * S + s) / (N * S);
            for (int64_t n = 0; n < N; ++n)
              for (int64_t s = 0; s < S; ++s) {
                const double d = x.get((n * C + c) * S + s) - mean;
                var += d * d / (N * S); // population variance, as ONNX
              }
          }
          for (int64_t n = 0; n < N; ++n)
            for (int64_t s = 0; s < S; ++s) {
              const int64_t i = (n * C + c) * S + s;
              ref[i] = (x.get(i) - mean) / std::sqrt(var + eps) * sc.get(c) + bi.get(c);
            }
          refM.push_back(training ? momentum * rm.get(c) + (1 - momentum) * mean : rm.get(c));
          refV.push_back(training ? momentum * rv.get(c) + (1 - momentum) * var * bessel
                                  : rv.get(c));
        }
        expectMatches(y, ref, tolFor(Cls::Norm, t), {}, "batch_norm y");
        expectMatches(nm, refM, tolFor(Cls::Norm, DType::F32), {}, "batch_norm running mean");
        expectMatches(nv, refV, tolFor(Cls::Norm, DType::F32), {}, "batch_norm running var");
      }
    }
}

//===----------------------------------------------------------------------===//
// Pooling.
//===----------------------------------------------------------------------===//

int64_t pooledSize(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pe, int64_t d, bool ceil) {
  // ONNX reference: get_output_shape_explicit_padding.
  const double size = static_cast<double>(in + pb + pe - d * (k - 1) - 1) / s + 1;
  int64_t out =
      ceil ? static_cast<int64_t>(std::ceil(size)) : static_cast<int64_t>(std::floor(size));
  if (ceil && (out - 1) * s >= in + pb)
    --out;
  return out;
}

TEST_F(CpuKernels, MaxAndAvgPool2d) {
  struct Case {
    int64_t H, W, kh, kw, sh, sw;
    std::vector<int64_t> pads; // top left bottom right
    int64_t dh, dw;
    bool ceil;
  };
  const Case cases[] = {
      {8, 8, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1, false},
      {7, 7, 2, 2, 2, 2, {0, 0, 0, 0}, 1, 1, true}, // ceil adds a partial window
      {7, 9, 3, 3, 2, 2, {1, 1, 1, 1}, 1, 1, true},
      {6, 6, 3, 2, 1, 2, {1, 0, 2, 1}, 1, 1, false}, // asymmetric pads
      {9, 9, 3, 3, 2, 1, {2, 1, 2, 1}, 2, 2, false}, // dilation (max only)
      {5, 5, 2, 2, 2, 2, {1, 1, 1, 1}, 1, 1, true},  // ceil's extra window dropped
  };
  for (DType t : {DType::F32, DType::BF16, DType::F64})
    for (const Case &c : cases)
      for (bool isMax : {true, false})
        for (bool cip : {false, true}) {
          if (!isMax && (c.dh != 1 || c.dw != 1))
            continue;
          if (isMax && cip)
            continue;
          const int64_t OH = pooledSize(c.H, c.kh, c.sh, c.pads[0], c.pads[2], c.dh, c.ceil);
          const int64_t OW = pooledSize(c.W, c.kw, c.sw, c.pads[1], c.pads[3], c.dw, c.ceil);
          Tensor x = random(t, {2, 3, c.H, c.W}), y(t, {2, 3, OH, OW});
          AttrBuilder a = attrs()
                              .ints("kernel", {c.kh, c.kw})
                              .ints("strides", {c.sh, c.sw})
                              .ints("pads", c.pads)
                              .i("ceil_mode", c.ceil);
          if (isMax)
            a.ints("dilations", {c.dh, c.dw});
          else
            a.i("count_include_pad", cip);
          ASSERT_OK(run(isMax ? "max_pool2d" : "avg_pool2d", {&x}, {&y}, a));
          std::vector<double> ref;
          for (int64_t p = 0; p < 6; ++p)
            for (int64_t oh = 0; oh < OH; ++oh)
              for (int64_t ow = 0; ow < OW; ++ow) {
                double m = -INFINITY, sum = 0;
                int64_t valid = 0, padded = 0;
                for (int64_t i = 0; i < c.kh; ++i)
                  for (int64_t j = 0; j < c.kw; ++j) {
                    const int64_t h = oh * c.sh - c.pads[0] + i * c.dh;
                    const int64_t w = ow * c.sw - c.pads[1] + j * c.dw;
                    const bool inPadded = h >= -c.pads[0] && h < c.H + c.pads[2] &&
                                          w >= -c.pads[1] && w < c.W + c.pads[3];
                    padded += inPadded;
                    if (h < 0 || h >= c.H || w < 0 || w >= c.W)
                      continue;
                    const double v = x.get((p * c.H + h) * c.W + w);
                    m = std::max(m, v);
                    sum += v;
                    ++valid;
                  }
                ref.push_back(isMax ? m : sum / static_cast<double>(cip ? padded : valid));
              }
          expectMatches(y, ref, isMax ? Tol{0, 0, 0} : tolFor(Cls::Reduction, t), {},
                        isMax ? "max_pool2d" : "avg_pool2d");
        }
  Tensor x = random(DType::F32, {1, 1, 7, 7}), y(DType::F32, {1, 1, 3, 3});
  EXPECT_EQ(run("max_pool2d", {&x}, {&y},
                attrs().ints("kernel", {2, 2}).ints("strides", {2, 2}).i("ceil_mode", 1))
                .code(),
            StatusCode::InvalidArgument); // ceil_mode gives 4 x 4
}

// max_pool2d walks output rows a window column at a time; it must give, bit for bit, what a
// loop over each output's own window (i, then j) with the kernel's NaN-propagating select
// gives, ties between -0 and +0 and NaN included.
TEST_F(CpuKernels, MaxPool2dMatchesPerWindowLoopBitForBit) {
  struct Case {
    int64_t H, W, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
    bool ceil;
  };
  const Case cases[] = {
      {16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false}, // ResNet's stem pool
      {7, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true},    // ceil, partial last window
      {9, 9, 3, 3, 2, 1, 2, 1, 2, 1, 2, 2, false},   // dilation, asymmetric strides
      {6, 6, 3, 2, 1, 2, 1, 0, 2, 1, 1, 1, false},   // asymmetric pads
      {5, 5, 2, 2, 3, 3, 0, 0, 0, 0, 1, 1, false},   // stride larger than the kernel
  };
  const double nonFinite[] = {NAN, -INFINITY, INFINITY};
  for (DType t : {DType::F32, DType::BF16, DType::F64})
    for (const Case &c : cases) {
      const int64_t OH = pooledSize(c.H, c.kh, c.sh, c.pt, c.pb, c.dh, c.ceil);
      const int64_t OW = pooledSize(c.W, c.kw, c.sw, c.pl, c.pr, c.dw, c.ceil);
      Tensor x = random(t, {2, 3, c.H, c.W}, -2, 2), y(t, {2, 3, OH, OW});
      // Many exact ties, signed zeros and a few NaNs and infinities.
      for (int64_t i = 0; i < x.size(); ++i) {
        const int64_t r = uniformInt(0, 19);
        if (r < 4)
          x.set(i, r % 2 ? -0.0 : 0.0);
        else if (r < 7)
          x.set(i, 1.5);
        else if (r == 7)
          x.set(i, nonFinite[uniformInt(0, 2)]);
      }
      ASSERT_OK(run("max_pool2d", {&x}, {&y},
                    attrs()
                        .ints("kernel", {c.kh, c.kw})
                        .ints("strides", {c.sh, c.sw})
                        .ints("pads", {c.pt, c.pl, c.pb, c.pr})
                        .ints("dilations", {c.dh, c.dw})
                        .i("ceil_mode", c.ceil)));
      Tensor ref(t, {2, 3, OH, OW});
      for (int64_t p = 0; p < 6; ++p)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            double m = -INFINITY;
            for (int64_t i = 0; i < c.kh; ++i)
              for (int64_t j = 0; j < c.kw; ++j) {
                const int64_t h = oh * c.sh - c.pt + i * c.dh;
                const int64_t w = ow * c.sw - c.pl + j * c.dw;
                if (h < 0 || h >= c.H || w < 0 || w >= c.W)
                  continue;
                const double v = x.get((p * c.H + h) * c.W + w);
                m = (v > m || v != v) && m == m ? v : m;
              }
            ref.set((p * OH + oh) * OW + ow, m);
          }
      EXPECT_EQ(y.bytes, ref.bytes)
          << dtypeName(t) << " " << c.H << "x" << c.W << " kernel " << c.kh << "x" << c.kw;
    }
}

//===----------------------------------------------------------------------===//
// Losses.
//===----------------------------------------------------------------------===//

TEST_F(CpuKernels, SoftmaxCrossEntropyAndNllLoss) {
  for (const std::vector<int64_t> &shape : {std::vector<int64_t>{8, 10}, {3, 5, 4}})
    for (DType t : {DType::F32, DType::BF16, DType::F64})
      for (int64_t reduction : {0, 1, 2})
        for (bool useWeights : {false, true})
          for (bool useIgnore : {false, true}) {
            SCOPED_TRACE("reduction " + std::to_string(reduction) + " weights " +
                         std::to_string(useWeights) + " ignore " + std::to_string(useIgnore) + " " +
                         dtypeName(t));
            const int64_t N = shape[0], C = shape[1], D = numel(shape) / (N * C);
            std::vector<int64_t> ls = {N};
            ls.insert(ls.end(), shape.begin() + 2, shape.end());
            Tensor x = random(t, shape, -5, 5), labels(DType::I64, ls),
                   w = random(DType::F32, {C}, 0.2, 2.0);
            const int64_t ignore = 2;
            for (int64_t i = 0; i < labels.size(); ++i)
              labels.set(i, static_cast<double>(uniformInt(0, C - 1)));
            labels.set(0, ignore);
            std::vector<int64_t> lossShape = reduction == 0 ? ls : std::vector<int64_t>{};
            Tensor loss(DType::F32, lossShape), logp(t, shape), nll(DType::F32, lossShape);
            AttrBuilder a = attrs().i("reduction", reduction);
            if (useIgnore)
              a.i("ignore_index", ignore);
            std::vector<Tensor *> ins = {&x, &labels};
            if (useWeights)
              ins.push_back(&w);
            ASSERT_OK(run("softmax_cross_entropy", ins, {&loss, &logp}, a));
            // nll_loss on the kernel's own log_prob (decoded exactly).
            std::vector<Tensor *> nllIns = {&logp, &labels};
            if (useWeights)
              nllIns.push_back(&w);
            ASSERT_OK(run("nll_loss", nllIns, {&nll}, a));

            std::vector<double> refLogp(static_cast<size_t>(x.size()));
            for (int64_t n = 0; n < N; ++n)
              for (int64_t d = 0; d < D; ++d) {
                double mx = -INFINITY, sum = 0;
                for (int64_t c = 0; c < C; ++c)
                  mx = std::max(mx, x.get((n * C + c) * D + d));
                for (int64_t c = 0; c < C; ++c)
                  sum += std::exp(x.get((n * C + c) * D + d) - mx);
                for (int64_t c = 0; c < C; ++c)
                  refLogp[(n * C + c) * D + d] = x.get((n * C + c) * D + d) - mx - std::log(sum);
              }
            expectMatches(logp, refLogp, tolFor(Cls::LogSoftmax, t), {}, "log_prob");
            auto lossRef = [&](const std::vector<double> &lp) {
              std::vector<double> per;
              double total = 0, wsum = 0;
              for (int64_t n = 0; n < N; ++n)
                for (int64_t d = 0; d < D; ++d) {
                  const int64_t lab = labels.getInt(n * D + d);
                  const bool ign = useIgnore && lab == ignore;
                  const double wt = ign ? 0 : useWeights ? w.get(lab) : 1.0;
                  const double v = ign ? 0 : -wt * lp[(n * C + lab) * D + d];
                  per.push_back(v);
                  total += v;
                  wsum += wt;
                }
              if (reduction == 1)
                return std::vector<double>{total};
              if (reduction == 2)
                return std::vector<double>{total / wsum};
              return per;
            };
            expectMatches(loss, lossRef(refLogp), tolFor(Cls::Loss, DType::F32), {},
                          "softmax_cross_entropy");
            expectMatches(nll, lossRef(logp.values()), tolFor(Cls::Loss, DType::F32), {},
                          "nll_loss");
          }
  // A label outside [0, C) that is not ignore_index is an error.
  Tensor x = random(DType::F32, {2, 3}), labels(DType::I32, {2}), loss(DType::F32, {});
  labels.set(0, 1);
  labels.set(1, 3);
  EXPECT_EQ(run("softmax_cross_entropy", {&x, &labels}, {&loss}, attrs().i("reduction", 2)).code(),
            StatusCode::InvalidArgument);
  EXPECT_EQ(run("nll_loss", {&x, &labels}, {&loss}, attrs().i("reduction", 1)).code(),
            StatusCode::InvalidArgument);
  labels.set(1, -100);
  EXPECT_TRUE(
      run("nll_loss", {&x, &labels}, {&loss}, attrs().i("reduction", 2).i("ignore_index", -100))
          .isOk());
}

//===----------------------------------------------------------------------===//
// Contractions.
//===----------------------------------------------------------------------===//

/// Reference batched matmul with broadcasting: ref and sum_k |a b| per element.
void refMatmul(const Tensor &A, const Tensor &B, bool ta, bool tb, const std::vector<int64_t> &os,
               std::vector<double> &ref, std::vector<double> &absSum) {
  const int64_t ra = static_cast<int64_t>(A.shape.size());
  const int64_t ro = static_cast<int64_t>(os.size());
  const int64_t M = os[ro - 2], N = os[ro - 1];
  const int64_t K = ta ? A.shape[ra - 2] : A.shape[ra - 1];
  const std::vector<int64_t> ab(A.shape.begin(), A.shape.end() - 2),
      bb(B.shape.begin(), B.shape.end() - 2);
  const std::vector<int64_t> ob(os.begin(), os.end() - 2);
  ref.assign(static_cast<size_t>(numel(os)), 0.0);
  absSum.assign(ref.size(), 0.0);
  for (int64_t i = 0; i < numel(os); ++i) {
    const auto idx = unravel(i, os);
    const std::vector<int64_t> bi(idx.begin(), idx.end() - 2);
    const int64_t m = idx[ro - 2], n = idx[ro - 1];
    const int64_t aOff = bcastOffset(bi, ab) * M * K, bOff = bcastOffset(bi, bb) * K * N;
    for (int64_t k = 0; k < K; ++k) {
      const double a = A.get(aOff + (ta ? k * M + m : m * K + k));
      const double b = B.get(bOff + (tb ? n * K + k : k * N + n));
      ref[i] += a * b;
      absSum[i] += std::fabs(a * b);
    }
  }
}

struct MatmulCase {
  std::vector<int64_t> a, b, out;
  bool ta, tb;
};
const MatmulCase kMatmulCases[] = {
    {{7, 9}, {9, 5}, {7, 5}, false, false},
    {{9, 7}, {9, 5}, {7, 5}, true, false},
    {{7, 9}, {5, 9}, {7, 5}, false, true},
    {{9, 7}, {5, 9}, {7, 5}, true, true},
    {{3, 4, 6}, {3, 6, 5}, {3, 4, 5}, false, false},       // batched
    {{2, 1, 4, 6}, {3, 6, 5}, {2, 3, 4, 5}, false, false}, // broadcast batch dims
    {{2, 3, 4, 6}, {6, 5}, {2, 3, 4, 5}, false, false},    // shared rhs: folded into M
    {{4, 6}, {3, 5, 6}, {3, 4, 5}, false, true},           // shared lhs, transposed rhs
    {{3, 6, 4}, {1, 5, 6}, {3, 4, 5}, true, true},
    {{96, 160}, {160, 112}, {96, 112}, false, false}, // multi-threaded
};

TEST_F(CpuKernels, MatmulAllOperandTypesTransposesAndBatches) {
  for (DType in : kFloatTypes)
    for (DType out : {DType::F32, in}) {
      for (const MatmulCase &c : kMatmulCases) {
        SCOPED_TRACE(std::string("matmul ") + dtypeName(in) + " -> " + dtypeName(out) + " " +
                     std::to_string(c.ta) + std::to_string(c.tb) + " out " +
                     std::to_string(numel(c.out)));
        Tensor A = random(in, c.a, -2, 2), B = random(in, c.b, -2, 2), Y(out, c.out);
        ASSERT_OK(run("matmul", {&A, &B}, {&Y},
                      attrs().i("transpose_lhs", c.ta).i("transpose_rhs", c.tb)));
        std::vector<double> ref, absSum;
        refMatmul(A, B, c.ta, c.tb, c.out, ref, absSum);
        const int64_t K = c.ta ? c.a[c.a.size() - 2] : c.a.back();
        for (double &s : absSum)
          s *= gammaK(in, K);
        expectMatches(Y, ref, tolFor(Cls::Contraction, out), absSum, "matmul");
      }
    }
}

TEST_F(CpuKernels, ScaledMatmulFp8TransposesAndBatches) {
  // (A x B) * sa * sb for fp8 operands, E4M3 and E5M2 mixed: the operands decode exactly and
  // the fp32 sum is scaled once and rounded once to the result type; the reference is the
  // fp64 product of the decoded operands, times the descale factors.
  const std::pair<DType, DType> pairs[] = {{DType::F8E4M3FN, DType::F8E4M3FN},
                                           {DType::F8E5M2, DType::F8E4M3FN},
                                           {DType::F8E4M3FN, DType::F8E5M2}};
  for (auto [da, db] : pairs)
    for (DType out : {DType::F32, DType::BF16})
      for (const MatmulCase &c : kMatmulCases) {
        SCOPED_TRACE(std::string("scaled_matmul ") + dtypeName(da) + " x " + dtypeName(db) +
                     " -> " + dtypeName(out) + " " + std::to_string(c.ta) +
                     std::to_string(c.tb));
        Tensor A = random(da, c.a, -8, 8), B = random(db, c.b, -8, 8), Y(out, c.out);
        Tensor sa(DType::F32, {}), sb(DType::F32, {});
        sa.set(0, 0.015625 * uniformInt(1, 64));
        sb.set(0, 0.25 * uniformInt(1, 16));
        ASSERT_OK(run("scaled_matmul", {&A, &B, &sa, &sb}, {&Y},
                      attrs().i("transpose_lhs", c.ta).i("transpose_rhs", c.tb)));
        std::vector<double> ref, absSum;
        refMatmul(A, B, c.ta, c.tb, c.out, ref, absSum);
        const double scale = sa.get(0) * sb.get(0);
        const int64_t K = c.ta ? c.a[c.a.size() - 2] : c.a.back();
        for (size_t i = 0; i < ref.size(); ++i) {
          ref[i] *= scale;
          absSum[i] *= scale * gammaK(DType::F32, K);
        }
        expectMatches(Y, ref, tolFor(Cls::Contraction, out), absSum, "scaled_matmul");
      }
  // Not fp8, or a non-scalar descale: errors.
  Tensor A = random(DType::BF16, {4, 4}), B = random(DType::BF16, {4, 4}), Y(DType::F32, {4, 4});
  Tensor s(DType::F32, {}), wide(DType::F32, {2});
  s.set(0, 1.0);
  EXPECT_FALSE(run("scaled_matmul", {&A, &B, &s, &s}, {&Y}).isOk());
  Tensor A8 = random(DType::F8E4M3FN, {4, 4}), B8 = random(DType::F8E4M3FN, {4, 4});
  EXPECT_FALSE(run("scaled_matmul", {&A8, &B8, &wide, &s}, {&Y}).isOk());
}

TEST_F(CpuKernels, MatmulBf16ProductsAreExactInFp32) {
  // bf16 x bf16 products are exact in fp32; with |values| powers of two and few terms, the
  // fp32 sum is exact too, so the result equals the fp64 reference bit for bit.
  Tensor A(DType::BF16, {16, 8}), B(DType::BF16, {8, 16}), Y(DType::F32, {16, 16});
  for (int64_t i = 0; i < A.size(); ++i)
    A.set(i, std::ldexp(uniformInt(0, 1) ? 1.0 : -1.0, static_cast<int>(uniformInt(-4, 4))));
  for (int64_t i = 0; i < B.size(); ++i)
    B.set(i, std::ldexp(1.0 + uniformInt(0, 127) / 128.0, static_cast<int>(uniformInt(-3, 3))));
  ASSERT_OK(run("matmul", {&A, &B}, {&Y}));
  std::vector<double> ref, absSum;
  refMatmul(A, B, false, false, {16, 16}, ref, absSum);
  expectMatches(Y, ref, {0, 0, 0}, {}, "bf16 matmul exact");
}

TEST_F(CpuKernels, Bf16ContractionsKeepSubnormals) {
  // AVX512-BF16 flushes subnormal inputs, products and partial sums; the kernels must not.
  // Row 0 of A holds a bf16 subnormal (2^-130) in the first case and 2^-100 against B's 2^-40
  // (an fp32-subnormal product) in the second; every other value is O(1).
  for (int c = 0; c < 2; ++c) {
    Tensor A = random(DType::BF16, {4, 8}, 0.5, 2), B = random(DType::BF16, {8, 6}, 0.5, 2);
    for (int64_t k = 0; k < 8; ++k)
      A.set(k, std::ldexp(1.0 + k / 8.0, c == 0 ? -130 : -100));
    if (c == 1)
      for (int64_t n = 0; n < 6; ++n)
        B.set(n, std::ldexp(1.0, -40));
    Tensor Y(DType::F32, {4, 6});
    ASSERT_OK(run("matmul", {&A, &B}, {&Y}));
    std::vector<double> ref, absSum;
    refMatmul(A, B, false, false, {4, 6}, ref, absSum);
    for (double &v : absSum)
      v *= gammaK(DType::BF16, 8);
    for (int64_t n = 0; n < 6; ++n)
      EXPECT_NE(Y.get(n), 0.0) << "flushed to zero, case " << c;
    expectMatches(Y, ref, tolFor(Cls::Contraction, DType::F32), absSum, "bf16 subnormal matmul");
    // The same product as a 1x1 convolution: X [1, 8, 1, 4] = A^T, weights [6, 8, 1, 1] = B^T.
    Tensor X(DType::BF16, {1, 8, 1, 4}), W(DType::BF16, {6, 8, 1, 1}), Z(DType::F32, {1, 6, 1, 4});
    for (int64_t m = 0; m < 4; ++m)
      for (int64_t k = 0; k < 8; ++k)
        X.set(k * 4 + m, A.get(m * 8 + k));
    for (int64_t n = 0; n < 6; ++n)
      for (int64_t k = 0; k < 8; ++k)
        W.set(n * 8 + k, B.get(k * 6 + n));
    ASSERT_OK(run("conv2d", {&X, &W}, {&Z}));
    for (int64_t n = 0; n < 6; ++n)
      for (int64_t m = 0; m < 4; ++m) {
        const double r = ref[m * 6 + n];
        EXPECT_LE(std::fabs(Z.get(n * 4 + m) - r), absSum[m * 6 + n] + 0x1p-24 * std::fabs(r))
            << "conv case " << c << " m " << m << " n " << n;
      }
  }
}

TEST_F(CpuKernels, MatmulErrors) {
  Tensor A = random(DType::F32, {4, 5}), B = random(DType::F32, {6, 3}), Y(DType::F32, {4, 3});
  EXPECT_EQ(run("matmul", {&A, &B}, {&Y}).code(), StatusCode::InvalidArgument);
  Tensor Bb = random(DType::BF16, {5, 3});
  const Status st = run("matmul", {&A, &Bb}, {&Y});
  EXPECT_EQ(st.code(), StatusCode::Unimplemented);
  EXPECT_NE(st.message().find("'matmul'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("(f32, bf16) -> (f32)"), std::string::npos) << st.message();
  Tensor B2 = random(DType::F32, {5, 3});
  EXPECT_EQ(run("matmul", {&A, &B2}, {&Y}, attrs().i("acc_type", static_cast<int64_t>(DType::F16)))
                .code(),
            StatusCode::Unimplemented);
  EXPECT_TRUE(
      run("matmul", {&A, &B2}, {&Y}, attrs().i("acc_type", static_cast<int64_t>(DType::F32)))
          .isOk());
  // K = 0: an all-zero result.
  Tensor A0(DType::F32, {3, 0}), B0(DType::F32, {0, 2}), Y0(DType::F32, {3, 2});
  Y0.set(0, 5);
  ASSERT_OK(run("matmul", {&A0, &B0}, {&Y0}));
  for (int64_t i = 0; i < Y0.size(); ++i)
    EXPECT_EQ(Y0.get(i), 0.0);
}

TEST_F(CpuKernels, GemmAlphaBetaTransposesAndBroadcastC) {
  const int64_t M = 13, K = 17, N = 11;
  const std::vector<std::vector<int64_t>> cShapes = {{}, {N}, {M, 1}, {M, N}, {1, N}};
  for (DType t : {DType::F32, DType::BF16, DType::F64, DType::F16})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (int cs = -1; cs < static_cast<int>(cShapes.size()); ++cs) {
          Tensor A = random(t, ta ? std::vector<int64_t>{K, M} : std::vector<int64_t>{M, K}, -2, 2);
          Tensor B = random(t, tb ? std::vector<int64_t>{N, K} : std::vector<int64_t>{K, N}, -2, 2);
          Tensor Cm = random(DType::F32, cs < 0 ? std::vector<int64_t>{} : cShapes[cs]);
          Tensor Y(t, {M, N});
          const double alpha = 0.75, beta = -1.5;
          std::vector<Tensor *> ins = {&A, &B};
          if (cs >= 0)
            ins.push_back(&Cm);
          ASSERT_OK(run(
              "gemm", ins, {&Y},
              attrs().f("alpha", alpha).f("beta", beta).i("transpose_a", ta).i("transpose_b", tb)));
          std::vector<double> ref, absSum;
          refMatmul(A, B, ta, tb, {M, N}, ref, absSum);
          for (int64_t i = 0; i < M * N; ++i) {
            ref[i] *= alpha;
            absSum[i] *= alpha * gammaK(t, K);
            if (cs >= 0) {
              const double c = Cm.get(bcastOffset(unravel(i, {M, N}), cShapes[cs]));
              ref[i] += beta * c;
              absSum[i] += std::fabs(beta * c) * 0x1p-24; // rounding of beta * c
            }
          }
          expectMatches(Y, ref, tolFor(Cls::Contraction, t), absSum, "gemm");
        }
}

TEST_F(CpuKernels, Conv2dGroupsStridesPadsDilations) {
  struct Case {
    int64_t N, C, H, W, O, KH, KW, G;
    std::vector<int64_t> strides, pads, dilations;
    bool bias;
  };
  const Case cases[] = {
      {2, 3, 9, 9, 4, 3, 3, 1, {1, 1}, {1, 1, 1, 1}, {1, 1}, true},
      {2, 4, 10, 8, 6, 3, 3, 2, {2, 2}, {1, 0, 2, 1}, {1, 1}, true},    // groups, asymmetric pads
      {1, 4, 9, 9, 4, 3, 3, 4, {1, 2}, {2, 2, 2, 2}, {2, 2}, false},    // depthwise, dilation
      {1, 2, 7, 7, 3, 1, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, false},    // 1x1
      {2, 16, 16, 16, 32, 3, 3, 1, {1, 1}, {1, 1, 1, 1}, {1, 1}, true}, // larger, threaded
  };
  for (DType t : kFloatTypes)
    for (DType out : {DType::F32, t})
      for (const Case &c : cases) {
        SCOPED_TRACE(std::string("conv2d ") + dtypeName(t) + " -> " + dtypeName(out) +
                     " G=" + std::to_string(c.G));
        const int64_t OH =
            (c.H + c.pads[0] + c.pads[2] - c.dilations[0] * (c.KH - 1) - 1) / c.strides[0] + 1;
        const int64_t OW =
            (c.W + c.pads[1] + c.pads[3] - c.dilations[1] * (c.KW - 1) - 1) / c.strides[1] + 1;
        Tensor X = random(t, {c.N, c.C, c.H, c.W}, -2, 2);
        Tensor Wt = random(t, {c.O, c.C / c.G, c.KH, c.KW}, -1, 1);
        Tensor Bs = random(DType::F32, {c.O}), Y(out, {c.N, c.O, OH, OW});
        std::vector<Tensor *> ins = {&X, &Wt};
        if (c.bias)
          ins.push_back(&Bs);
        ASSERT_OK(run("conv2d", ins, {&Y},
                      attrs()
                          .ints("strides", c.strides)
                          .ints("pads", c.pads)
                          .ints("dilations", c.dilations)
                          .i("groups", c.G)));
        std::vector<double> ref, absSum;
        const int64_t cg = c.C / c.G, og = c.O / c.G, K = cg * c.KH * c.KW;
        for (int64_t n = 0; n < c.N; ++n)
          for (int64_t o = 0; o < c.O; ++o)
            for (int64_t oh = 0; oh < OH; ++oh)
              for (int64_t ow = 0; ow < OW; ++ow) {
                double acc = c.bias ? Bs.get(o) : 0.0, as = std::fabs(acc);
                for (int64_t ci = 0; ci < cg; ++ci)
                  for (int64_t i = 0; i < c.KH; ++i)
                    for (int64_t j = 0; j < c.KW; ++j) {
                      const int64_t h = oh * c.strides[0] - c.pads[0] + i * c.dilations[0];
                      const int64_t w = ow * c.strides[1] - c.pads[1] + j * c.dilations[1];
                      if (h < 0 || h >= c.H || w < 0 || w >= c.W)
                        continue;
                      const double p = X.get(((n * c.C + (o / og) * cg + ci) * c.H + h) * c.W + w) *
                                       Wt.get(((o * cg + ci) * c.KH + i) * c.KW + j);
                      acc += p;
                      as += std::fabs(p);
                    }
                ref.push_back(acc);
                absSum.push_back(as * gammaK(t, K + 1));
              }
        expectMatches(Y, ref, tolFor(Cls::Contraction, out), absSum, "conv2d");
      }
  Tensor X = random(DType::F32, {1, 3, 5, 5}), Wt = random(DType::F32, {4, 2, 3, 3}),
         Y(DType::F32, {1, 4, 3, 3});
  EXPECT_EQ(run("conv2d", {&X, &Wt}, {&Y}).code(), StatusCode::InvalidArgument); // C mismatch
}

// Products below 2^16 multiply-adds with K <= 512 run on one thread whatever the budget; that
// is only sound because oneDNN splits no sum over K across threads at such sizes, so one and
// several threads give the same bits. Checked here on both sides of the threshold.
TEST_F(CpuKernels, SmallMatmulsGiveTheSameBitsOnOneAndSeveralThreads) {
  const int64_t shapes[][3] = {{8, 32, 64},  {8, 64, 10}, {1, 512, 64}, {16, 64, 63},
                               {64, 64, 64}, {8, 512, 64}, {128, 512, 96}};
  for (const auto &mkn : shapes) {
    const int64_t M = mkn[0], K = mkn[1], N = mkn[2];
    Tensor A = random(DType::F32, {M, K}), B = random(DType::F32, {K, N});
    Tensor Y1(DType::F32, {M, N}), Y2(DType::F32, {M, N}), Y4(DType::F32, {M, N});
    ASSERT_OK(run("matmul", {&A, &B}, {&Y1}, Attrs(), 1));
    ASSERT_OK(run("matmul", {&A, &B}, {&Y2}, Attrs(), 2));
    ASSERT_OK(run("matmul", {&A, &B}, {&Y4}, Attrs(), 4));
    EXPECT_EQ(Y1.bytes, Y2.bytes) << M << "x" << K << "x" << N;
    EXPECT_EQ(Y1.bytes, Y4.bytes) << M << "x" << K << "x" << N;
  }
}

// The oneDNN kernels keep each created primitive, its memory objects and a stream per thread
// across calls, pointing them at every call's buffers: repeated calls on fresh buffers, and
// calls from several threads at once, must give the first call's bits.
TEST_F(CpuKernels, OneDnnKernelsReuseStateAcrossBuffersAndThreads) {
  struct Call {
    const char *kind;
    std::vector<Tensor> ins;
    Tensor out;
    Attrs attrs;
  };
  std::vector<Call> calls;
  calls.push_back(
      {"gemm",
       {random(DType::F32, {5, 7}), random(DType::F32, {9, 7}), random(DType::F32, {9})},
       Tensor(DType::F32, {5, 9}),
       attrs().i("transpose_b", 1).f("alpha", 0.5)});
  calls.push_back({"matmul",
                   {random(DType::F32, {3, 4, 6}), random(DType::F32, {6, 8})},
                   Tensor(DType::F32, {3, 4, 8}),
                   Attrs()});
  calls.push_back({"conv2d",
                   {random(DType::F32, {2, 3, 8, 8}), random(DType::F32, {5, 3, 3, 3}),
                    random(DType::F32, {5})},
                   Tensor(DType::F32, {2, 5, 8, 8}),
                   attrs().ints("pads", {1, 1, 1, 1})});
  // One call on fresh copies of the inputs; its result, or the failure.
  auto once = [](const Call &c, Tensor *out) {
    std::vector<Tensor> ins = c.ins;
    std::vector<Tensor *> ptrs;
    for (Tensor &t : ins)
      ptrs.push_back(&t);
    *out = Tensor(c.out.dtype, c.out.shape);
    return run(c.kind, ptrs, {out}, c.attrs);
  };
  for (Call &c : calls)
    ASSERT_OK(once(c, &c.out));
  for (const Call &c : calls)
    for (int i = 0; i < 3; ++i) {
      Tensor y;
      ASSERT_OK(once(c, &y));
      EXPECT_EQ(y.bytes, c.out.bytes) << c.kind << ", call " << i + 2;
    }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i)
        for (const Call &c : calls) {
          Tensor y;
          if (!once(c, &y).isOk() || y.bytes != c.out.bytes)
            ++mismatches[t];
        }
    });
  for (std::thread &t : threads)
    t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

} // namespace
