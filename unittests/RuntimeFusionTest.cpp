//===- RuntimeFusionTest.cpp - chunk-wise element-wise groups --------------===//
//
// The executor's element-wise groups (runtime/src/cpu/ChunkedGroups.h) must change nothing but
// speed: every artifact here runs with SessionOptions::fuseElementwise on (1 and 3 threads)
// and off, and the outputs must agree bit for bit. The chains cover scalar operands of rank 0
// and 1, bf16 round trips, compare + where, integer arithmetic, an intermediate that is also a
// function output (not grouped), arena slots shared in place (grouped) and shifted (not
// grouped), and sizes below, at and past the chunk length.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include "precis/runtime/Session.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace precis::rt {
namespace {

using testing::addOp;
using testing::addValue;
using testing::bytesOf;
using testing::serialize;

/// An op the compiler marks element-wise (schema::Op::elementwise, from the op's `PerElement`
/// trait): the executor groups only those.
schema::Op *addElementwiseOp(schema::Function &f, const std::string &kind,
                             std::vector<uint32_t> inputs, std::vector<uint32_t> outputs,
                             const std::string &node = "") {
  schema::Op *op = addOp(f, kind, std::move(inputs), std::move(outputs), node);
  op->set_elementwise(true);
  return op;
}

/// Builds a manifest whose arena values each get their own 64-byte aligned slot.
struct Builder {
  schema::Manifest m;
  uint64_t arena = 0;

  Builder() {
    m.set_producer("precis test");
    m.set_target("cpu");
  }
  uint32_t value(DType t, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    addValue(m, t, shape)->set_arena_offset(arena);
    arena += (static_cast<uint64_t>(n) * dtypeSize(t) + 63) / 64 * 64;
    return static_cast<uint32_t>(m.values_size() - 1);
  }
  uint32_t valueAt(DType t, std::vector<int64_t> shape, uint64_t offset) {
    addValue(m, t, shape)->set_arena_offset(offset);
    return static_cast<uint32_t>(m.values_size() - 1);
  }
  uint32_t input(DType t, std::vector<int64_t> shape, const std::string &name, int ordinal) {
    addValue(m, t, shape, name)->set_input(ordinal);
    return static_cast<uint32_t>(m.values_size() - 1);
  }
  uint32_t blob(DType t, std::vector<int64_t> shape, const std::string &name, int index) {
    addValue(m, t, shape, name)->set_blob(index);
    return static_cast<uint32_t>(m.values_size() - 1);
  }
  std::string finish(const std::vector<std::string> &blobs) {
    m.set_arena_size(std::max<uint64_t>(arena, 64));
    return serialize(m, blobs);
  }
};

std::vector<float> randomFloats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float &x : v)
    x = dist(rng);
  // Values the narrow formats and the special cases care about.
  const float specials[] = {0.0f, -0.0f, 1e-40f, 3.4e38f, -7.5f, INFINITY, -INFINITY, NAN};
  for (size_t i = 0; i < v.size() && i < 64; i += 8)
    v[i] = specials[(i / 8) % 8];
  return v;
}

Tensor tensorOf(DType t, std::vector<int64_t> shape, const std::string &bytes) {
  Tensor r;
  r.dtype = t;
  r.shape = std::move(shape);
  r.data.assign(bytes.begin(), bytes.end());
  return r;
}

/// Runs `function` of `artifact` fused (1 and 3 threads) and unfused; expects equal bytes.
void expectFusionInvisible(const std::string &artifact, const std::string &function,
                           const std::vector<Tensor> &inputs, size_t expectedGroups) {
  SessionOptions plain;
  plain.numThreads = 1;
  plain.fuseElementwise = false;
  std::unique_ptr<Session> reference;
  ASSERT_TRUE(Session::createFromMemory(artifact.data(), artifact.size(), plain, &reference).isOk());
  EXPECT_EQ(reference->elementwiseGroupCount(), 0u);
  std::vector<Tensor> expected;
  Status s = reference->run(function, inputs, &expected);
  ASSERT_TRUE(s.isOk()) << s.message();

  for (int threads : {1, 3}) {
    SessionOptions fused;
    fused.numThreads = threads;
    std::unique_ptr<Session> session;
    ASSERT_TRUE(Session::createFromMemory(artifact.data(), artifact.size(), fused, &session).isOk());
    EXPECT_EQ(session->elementwiseGroupCount(), expectedGroups) << function;
    for (int repeat = 0; repeat < 2; ++repeat) {
      std::vector<Tensor> got;
      s = session->run(function, inputs, &got);
      ASSERT_TRUE(s.isOk()) << s.message();
      ASSERT_EQ(got.size(), expected.size());
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].shape, expected[i].shape);
        ASSERT_EQ(got[i].data.size(), expected[i].data.size());
        EXPECT_EQ(std::memcmp(got[i].data.data(), expected[i].data.data(), got[i].data.size()), 0)
            << function << " output " << i << " with " << threads << " threads";
      }
    }
  }
}

class FusionSizes : public ::testing::TestWithParam<std::vector<int64_t>> {};

// One long chain of every flavour: a scalar input of rank 0, a constant of shape [1], gelu,
// a bf16 round trip with math in bf16, compare + where against the scalar, and more math.
TEST_P(FusionSizes, FloatChainIsBitIdentical) {
  const std::vector<int64_t> shape = GetParam();
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  Builder b;
  const uint32_t x = b.input(DType::F32, shape, "x", 0);
  const uint32_t s = b.input(DType::F32, {}, "s", 1);
  // A single-element constant: shape [1] where it broadcasts to the chain, [] otherwise.
  const uint32_t c = b.blob(DType::F32, shape.empty() ? std::vector<int64_t>{}
                                                      : std::vector<int64_t>{1}, "c", 0);
  const uint32_t t1 = b.value(DType::F32, shape), t2 = b.value(DType::F32, shape),
                 t3 = b.value(DType::F32, shape), t4 = b.value(DType::BF16, shape),
                 t5 = b.value(DType::BF16, shape), t6 = b.value(DType::BF16, shape),
                 t7 = b.value(DType::F32, shape), m = b.value(DType::Bool, shape),
                 t8 = b.value(DType::F32, shape), t9 = b.value(DType::F32, shape),
                 y = b.value(DType::F32, shape), z = b.value(DType::BF16, shape);
  schema::Function *f = b.m.add_functions();
  f->set_name("chain");
  f->add_inputs(x);
  f->add_inputs(s);
  addElementwiseOp(*f, "mul", {x, s}, {t1});
  addElementwiseOp(*f, "add", {c, t1}, {t2});
  (*addElementwiseOp(*f, "gelu", {t2}, {t3})->mutable_attrs())["approximation"].set_i(1);
  addElementwiseOp(*f, "cast", {t3}, {t4});
  addElementwiseOp(*f, "tanh", {t4}, {t5});
  addElementwiseOp(*f, "mul", {t5, t4}, {t6});
  addElementwiseOp(*f, "cast", {t6}, {t7});
  (*addElementwiseOp(*f, "compare", {t7, s}, {m})->mutable_attrs())["kind"].set_i(3);
  addElementwiseOp(*f, "where", {m, t7, s}, {t8});
  addElementwiseOp(*f, "sigmoid", {t8}, {t9});
  addElementwiseOp(*f, "div", {t9, x}, {y});
  addElementwiseOp(*f, "cast", {t9}, {z}); // a second result read by nobody inside
  f->add_outputs(y);
  f->add_outputs(z);
  const std::string artifact = b.finish({bytesOf(std::vector<float>{0.25f})});

  const std::vector<float> xv = randomFloats(n, 1);
  const std::vector<float> sv = {0.5f};
  expectFusionInvisible(artifact, "chain",
                        {tensorOf(DType::F32, shape, bytesOf(xv)),
                         tensorOf(DType::F32, {}, bytesOf(sv))},
                        1);
}

// Integer arithmetic (wrapping) with a single-element operand, then a cast to float and a
// leaky relu.
TEST_P(FusionSizes, IntegerChainIsBitIdentical) {
  const std::vector<int64_t> shape = GetParam();
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  Builder b;
  const uint32_t x = b.input(DType::I32, shape, "x", 0);
  const uint32_t k = b.blob(DType::I32, shape.empty() ? std::vector<int64_t>{}
                                                      : std::vector<int64_t>{1}, "k", 0);
  const uint32_t t1 = b.value(DType::I32, shape), t2 = b.value(DType::I32, shape),
                 t3 = b.value(DType::I32, shape), t4 = b.value(DType::F32, shape),
                 y = b.value(DType::F32, shape);
  schema::Function *f = b.m.add_functions();
  f->set_name("ints");
  f->add_inputs(x);
  addElementwiseOp(*f, "mul", {x, k}, {t1});
  addElementwiseOp(*f, "add", {t1, x}, {t2});
  addElementwiseOp(*f, "max", {t2, k}, {t3});
  addElementwiseOp(*f, "cast", {t3}, {t4});
  (*addElementwiseOp(*f, "leaky_relu", {t4}, {y})->mutable_attrs())["alpha"].set_f(0.125);
  f->add_outputs(y);
  const std::string artifact = b.finish({bytesOf(std::vector<int32_t>{-1000003})});

  std::vector<int32_t> xv(static_cast<size_t>(n));
  std::mt19937 rng(7);
  for (int32_t &v : xv)
    v = static_cast<int32_t>(rng());
  expectFusionInvisible(artifact, "ints", {tensorOf(DType::I32, shape, bytesOf(xv))}, 1);
}

// An intermediate that is also a function output stays out of any group; so does one read
// after a non-element-wise op. Here nothing can be grouped.
TEST_P(FusionSizes, ExposedIntermediatesAreNotGrouped) {
  const std::vector<int64_t> shape = GetParam();
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  Builder b;
  const uint32_t x = b.input(DType::F32, shape, "x", 0);
  const uint32_t t1 = b.value(DType::F32, shape), t2 = b.value(DType::F32, shape),
                 t3 = b.value(DType::F32, shape), t4 = b.value(DType::F32, shape);
  schema::Function *f = b.m.add_functions();
  f->set_name("exposed");
  f->add_inputs(x);
  addElementwiseOp(*f, "relu", {x}, {t1});     // t1: a function output, read by neg
  addElementwiseOp(*f, "neg", {t1}, {t2});     // t2: read by the reshape, outside any run
  addOp(*f, "reshape", {t2}, {t3}); // not marked element-wise
  addElementwiseOp(*f, "exp", {t3}, {t4});
  f->add_outputs(t1);
  f->add_outputs(t4);
  const std::string artifact = b.finish({});
  expectFusionInvisible(artifact, "exposed",
                        {tensorOf(DType::F32, shape, bytesOf(randomFloats(n, 2)))}, 0);
}

// Ops that share only inputs form a group too (no scratch at all).
TEST_P(FusionSizes, IndependentResults) {
  const std::vector<int64_t> shape = GetParam();
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  Builder b;
  const uint32_t x = b.input(DType::F32, shape, "x", 0);
  const uint32_t y1 = b.value(DType::F32, shape), y2 = b.value(DType::F16, shape);
  schema::Function *f = b.m.add_functions();
  f->set_name("independent");
  f->add_inputs(x);
  addElementwiseOp(*f, "sqrt", {x}, {y1});
  addElementwiseOp(*f, "cast", {x}, {y2});
  f->add_outputs(y1);
  f->add_outputs(y2);
  const std::string artifact = b.finish({});
  expectFusionInvisible(artifact, "independent",
                        {tensorOf(DType::F32, shape, bytesOf(randomFloats(n, 4)))}, 1);
}

// Arena slots shared across the group: a result written in place over a dead operand (same
// offset, same element size) is grouped; one shifted against it is not, because chunks
// would overwrite elements another chunk has yet to read.
TEST_P(FusionSizes, SharedArenaSlots) {
  const std::vector<int64_t> shape = GetParam();
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  const uint64_t bytes = (static_cast<uint64_t>(n) * 4 + 63) / 64 * 64;
  for (uint64_t shift : {uint64_t(0), uint64_t(64)}) {
    Builder b;
    const uint32_t x = b.input(DType::F32, shape, "x", 0);
    const uint32_t a = b.valueAt(DType::F32, shape, 0);
    const uint32_t t = b.valueAt(DType::F32, shape, bytes + 64);
    const uint32_t y = b.valueAt(DType::F32, shape, shift);
    b.arena = 2 * bytes + 128;
    schema::Function *f = b.m.add_functions();
    f->set_name("shared");
    f->add_inputs(x);
    addOp(*f, "reshape", {x}, {a});
    addElementwiseOp(*f, "exp", {a}, {t}); // a dies here
    addElementwiseOp(*f, "add", {t, x}, {y});
    f->add_outputs(y);
    const std::string artifact = b.finish({});
    expectFusionInvisible(artifact, "shared",
                          {tensorOf(DType::F32, shape, bytesOf(randomFloats(n, 3)))},
                          shift == 0 || shift >= static_cast<uint64_t>(n) * 4 ? 1 : 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, FusionSizes,
                         ::testing::Values(std::vector<int64_t>{1}, std::vector<int64_t>{},
                                           std::vector<int64_t>{7},
                                           std::vector<int64_t>{2, 4099},
                                           std::vector<int64_t>{16384},
                                           std::vector<int64_t>{3, 16384 + 5},
                                           std::vector<int64_t>{100003}));

TEST(Fusion, KernelErrorsNameTheOp) {
  // Integer division by zero inside a group fails with the op's node name.
  Builder b;
  const uint32_t x = b.input(DType::I32, {40000}, "x", 0);
  const uint32_t t = b.value(DType::I32, {40000}), y = b.value(DType::I32, {40000});
  schema::Function *f = b.m.add_functions();
  f->set_name("f");
  f->add_inputs(x);
  addElementwiseOp(*f, "neg", {x}, {t}, "Neg_0");
  addElementwiseOp(*f, "div", {x, t}, {y}, "Div_1");
  f->add_outputs(y);
  const std::string artifact = b.finish({});
  std::unique_ptr<Session> session;
  SessionOptions options;
  options.numThreads = 2;
  ASSERT_TRUE(Session::createFromMemory(artifact.data(), artifact.size(), options, &session).isOk());
  EXPECT_EQ(session->elementwiseGroupCount(), 1u);
  std::vector<int32_t> xv(40000, 3);
  xv[39999] = 0;
  std::vector<Tensor> out;
  const Status s = session->run("f", {tensorOf(DType::I32, {40000}, bytesOf(xv))}, &out);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("Div_1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("division by zero"), std::string::npos) << s.message();
}

} // namespace
} // namespace precis::rt
