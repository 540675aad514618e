//===- CollectiveKernelsTest.cpp - all_reduce on the CPU backend ----------===//
//
// The all_reduce kernel against references computed in the test, through a communicator that
// simulates a world of several ranks inside one process: it holds the other ranks' values of
// every operand and combines them with the caller's exactly as MPI would (Sum: the ranks'
// values added in rank order, in the element type; Mean: that sum divided by the rank count;
// Max). The real MPI communicator is tested across processes in CommunicatorTest. And
// training-mode dropout, whose mask is indexed by the element's place in the whole batch.
// Inputs are drawn fresh each run; PRECIS_TEST_SEED=<seed> replays a failure.
//
//===----------------------------------------------------------------------===//

#include "cpu/Kernel.h"

#include "precis/runtime/Communicator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace precis::rt;

namespace {

uint64_t testSeed() {
  if (const char *env = std::getenv("PRECIS_TEST_SEED"))
    return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

/// Rank `rank` of a simulated world: others[k][call] holds the values the other ranks pass to
/// the call-th allReduce (ranks other than `rank`, in rank order).
class SimulatedWorld : public Communicator {
public:
  SimulatedWorld(int rank, int size) : rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char *backend() const override { return "simulated"; }
  bool deviceMemory() const override { return false; }
  Status allReduce(void *data, size_t count, DType dtype, Reduction op, void *) override {
    if (calls >= others.size())
      return internalError("more all-reduce calls than the test prepared");
    const std::vector<std::vector<double>> &rest = others[calls++];
    for (size_t i = 0; i < count; ++i) {
      auto combine = [&](auto *p) {
        using T = std::remove_pointer_t<decltype(p)>;
        // Rank order: ranks below this one, this one, ranks above.
        T acc{};
        bool first = true;
        for (int r = 0, k = 0; r < size_; ++r) {
          T v = r == rank_ ? p[i] : static_cast<T>(rest[k++][i]);
          if (first)
            acc = v;
          else
            acc = op == Reduction::Max ? std::max(acc, v) : static_cast<T>(acc + v);
          first = false;
        }
        if (op == Reduction::Mean)
          acc = static_cast<T>(acc / static_cast<T>(size_));
        p[i] = acc;
      };
      switch (dtype) {
      case DType::F32:
        combine(static_cast<float *>(data));
        break;
      case DType::F64:
        combine(static_cast<double *>(data));
        break;
      case DType::I64:
        combine(static_cast<int64_t *>(data));
        break;
      case DType::I32:
        combine(static_cast<int32_t *>(data));
        break;
      default:
        return invalidArgument("dtype");
      }
    }
    return Status::ok();
  }
  /// Other ranks' shares are shares[k] (ranks other than this one, in rank order).
  Status allGather(const void *send, void *recv, size_t count, DType dtype, void *) override {
    if (dtype != DType::F32)
      return invalidArgument("dtype");
    auto *out = static_cast<float *>(recv);
    for (int r = 0; r < size_; ++r)
      for (size_t i = 0; i < count; ++i)
        out[r * count + i] = r == rank_ ? static_cast<const float *>(send)[i]
                                        : static_cast<float>(shares[r < rank_ ? r : r - 1][i]);
    ++gathers;
    return Status::ok();
  }
  Status broadcast(void *, size_t, int, void *) override { return unimplemented("broadcast"); }
  Status barrier() override { return Status::ok(); }
  [[noreturn]] void abort(int code) override { std::exit(code); }

  std::vector<std::vector<std::vector<double>>> others;
  std::vector<std::vector<double>> shares;
  size_t calls = 0, gathers = 0;

private:
  int rank_, size_;
};

Attrs reductionAttr(int64_t kind) {
  AttrValue a;
  a.kind = AttrValue::Kind::Int;
  a.i = kind;
  return Attrs({{"reduction", a}});
}

TEST(CollectiveKernels, AllReduceCombinesEveryOperandAcrossRanks) {
  const uint64_t seed = testSeed();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> real(-4.0f, 4.0f);
  std::uniform_int_distribution<int64_t> integer(-1000, 1000);
  KernelFn fn = findCpuKernel("all_reduce");
  ASSERT_NE(fn, nullptr);
  for (int64_t kind : {0, 1, 2}) {
    const auto op = static_cast<Reduction>(kind);
    const int size = 3, rank = 1;
    SimulatedWorld world(rank, size);
    // Operands: f32[5, 7] and (not for mean) i64[3] or f32 scalar.
    std::vector<float> a(35), aOut(35);
    for (float &x : a)
      x = real(rng);
    std::vector<int64_t> b(3), bOut(3);
    for (int64_t &x : b)
      x = integer(rng);
    std::vector<std::vector<double>> othersA(size - 1, std::vector<double>(35)),
        othersB(size - 1, std::vector<double>(3));
    for (auto &row : othersA)
      for (double &x : row)
        x = real(rng); // f32 values, stored exactly
    for (auto &row : othersB)
      for (double &x : row)
        x = static_cast<double>(integer(rng));
    world.others = {othersA};
    std::vector<TensorView> inputs{{a.data(), DType::F32, {5, 7}}};
    std::vector<TensorView> outputs{{aOut.data(), DType::F32, {5, 7}}};
    if (op != Reduction::Mean) {
      world.others.push_back(othersB);
      inputs.push_back({b.data(), DType::I64, {3}});
      outputs.push_back({bOut.data(), DType::I64, {3}});
    }
    KernelContext ctx;
    ctx.communicator = &world;
    ASSERT_TRUE(fn(ctx, inputs, outputs, reductionAttr(kind)).isOk());
    EXPECT_EQ(world.calls, inputs.size());
    // References: rank order 0 (others[0]), 1 (this rank), 2 (others[1]), in the element type.
    for (size_t i = 0; i < a.size(); ++i) {
      float v0 = static_cast<float>(othersA[0][i]), v2 = static_cast<float>(othersA[1][i]);
      float want = op == Reduction::Max ? std::max(std::max(v0, a[i]), v2) : (v0 + a[i]) + v2;
      if (op == Reduction::Mean)
        want /= 3.0f;
      ASSERT_EQ(aOut[i], want) << "element " << i << " (PRECIS_TEST_SEED=" << seed << ")";
    }
    if (op != Reduction::Mean)
      for (size_t i = 0; i < b.size(); ++i) {
        int64_t v0 = static_cast<int64_t>(othersB[0][i]), v2 = static_cast<int64_t>(othersB[1][i]);
        int64_t want = op == Reduction::Max ? std::max(std::max(v0, b[i]), v2) : v0 + b[i] + v2;
        ASSERT_EQ(bOut[i], want) << "element " << i << " (PRECIS_TEST_SEED=" << seed << ")";
      }
  }
}

TEST(CollectiveKernels, AllReduceInAWorldOfOneIsTheIdentity) {
  KernelFn fn = findCpuKernel("all_reduce");
  ASSERT_NE(fn, nullptr);
  std::vector<float> a{1.5f, -2.0f, 3.25f}, out(3);
  std::vector<TensorView> inputs{{a.data(), DType::F32, {3}}};
  std::vector<TensorView> outputs{{out.data(), DType::F32, {3}}};
  for (int64_t kind : {0, 1, 2}) {
    std::fill(out.begin(), out.end(), 0.0f);
    ASSERT_TRUE(fn(KernelContext{}, inputs, outputs, reductionAttr(kind)).isOk());
    EXPECT_EQ(out, a);
  }
}

TEST(CollectiveKernels, AllReduceRejectsWhatItCannotRun) {
  KernelFn fn = findCpuKernel("all_reduce");
  std::vector<float> a(3), out(4);
  std::vector<TensorView> inputs{{a.data(), DType::F32, {3}}};
  std::vector<TensorView> shapes{{out.data(), DType::F32, {4}}};
  Status s = fn(KernelContext{}, inputs, shapes, reductionAttr(0));
  EXPECT_FALSE(s.isOk());
  std::vector<TensorView> same{{out.data(), DType::F32, {3}}};
  s = fn(KernelContext{}, inputs, same, reductionAttr(7));
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("unknown reduction 7"), std::string::npos) << s.message();
}

TEST(CollectiveKernels, ShardTakesThisRanksShareAndAllGatherJoinsThem) {
  const uint64_t seed = testSeed();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> real(-4.0f, 4.0f);
  KernelFn shard = findCpuKernel("shard"), gather = findCpuKernel("all_gather");
  ASSERT_NE(shard, nullptr);
  ASSERT_NE(gather, nullptr);
  const int size = 3;
  const int64_t share = 7;
  std::vector<float> flat(share * size);
  for (float &x : flat)
    x = real(rng);
  for (int rank = 0; rank < size; ++rank) {
    SimulatedWorld world(rank, size);
    KernelContext ctx;
    ctx.communicator = &world;
    std::vector<float> mine(share);
    std::vector<TensorView> in{{flat.data(), DType::F32, {share * size}}};
    std::vector<TensorView> out{{mine.data(), DType::F32, {share}}};
    ASSERT_TRUE(shard(ctx, in, out, Attrs()).isOk());
    for (int64_t i = 0; i < share; ++i)
      ASSERT_EQ(mine[i], flat[rank * share + i]) << "rank " << rank << " element " << i;
    // The other ranks hold their shares of `flat`: all_gather gives `flat` back.
    for (int r = 0; r < size; ++r)
      if (r != rank)
        world.shares.emplace_back(flat.begin() + r * share, flat.begin() + (r + 1) * share);
    std::vector<float> all(share * size);
    std::vector<TensorView> gin{{mine.data(), DType::F32, {share}}};
    std::vector<TensorView> gout{{all.data(), DType::F32, {share * size}}};
    ASSERT_TRUE(gather(ctx, gin, gout, Attrs()).isOk());
    EXPECT_EQ(world.gathers, 1u);
    EXPECT_EQ(all, flat) << "rank " << rank << " (PRECIS_TEST_SEED=" << seed << ")";
  }
  // A world of one: the whole tensor is the one share.
  std::vector<float> copy(flat.size());
  std::vector<TensorView> in{{flat.data(), DType::F32, {share * size}}};
  std::vector<TensorView> out{{copy.data(), DType::F32, {share * size}}};
  ASSERT_TRUE(shard(KernelContext{}, in, out, Attrs()).isOk());
  EXPECT_EQ(copy, flat);
  // Shares that do not divide the whole: compiled for another number of ranks.
  SimulatedWorld two(0, 2);
  KernelContext ctx;
  ctx.communicator = &two;
  std::vector<float> small(share);
  std::vector<TensorView> wrong{{small.data(), DType::F32, {share}}};
  Status s = shard(ctx, in, wrong, Attrs());
  EXPECT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("another number of ranks"), std::string::npos) << s.message();
}

// Data-parallel dropout: rank r of N draws for its n elements the mask a world of one draws
// for elements [r n, (r + 1) n) of the whole N n (the whole batch, when the batch leads), for
// sizes that do and do not split Philox's blocks of four; so the ranks' masks differ.
TEST(CollectiveKernels, DropoutDrawsEachRanksPartOfTheWholeBatch) {
  const uint64_t seed = testSeed();
  std::mt19937_64 rng(seed);
  KernelFn fn = findCpuKernel("dropout");
  ASSERT_NE(fn, nullptr);
  std::map<std::string, AttrValue> m;
  m["ratio"].kind = AttrValue::Kind::Float;
  m["ratio"].f = 0.4;
  m["training"].i = 1;
  m["stream"].i = 3;
  const Attrs attrs(std::move(m));
  int64_t state[2] = {static_cast<int64_t>(rng() >> 1), 17};
  for (int64_t n : {int64_t{4096}, int64_t{1001}, int64_t{3}}) {
    const int size = 3;
    std::vector<float> whole(static_cast<size_t>(size * n)), wholeOut(whole.size());
    std::vector<uint8_t> wholeMask(whole.size());
    for (float &x : whole)
      x = static_cast<float>(rng() % 1000) / 100.0f + 1.0f;
    KernelContext one;
    one.numThreads = 2;
    std::vector<TensorView> in{{whole.data(), DType::F32, {size * n}}, {state, DType::I64, {2}}},
        out{{wholeOut.data(), DType::F32, {size * n}}, {wholeMask.data(), DType::Bool, {size * n}}};
    Status s = fn(one, in, out, attrs);
    ASSERT_TRUE(s.isOk()) << s.message();
    std::vector<std::vector<uint8_t>> masks;
    for (int r = 0; r < size; ++r) {
      SimulatedWorld world(r, size);
      KernelContext ctx;
      ctx.numThreads = 2;
      ctx.communicator = &world;
      std::vector<float> part(whole.begin() + r * n, whole.begin() + (r + 1) * n), y(n);
      std::vector<uint8_t> mask(n);
      std::vector<TensorView> pin{{part.data(), DType::F32, {n}}, {state, DType::I64, {2}}},
          pout{{y.data(), DType::F32, {n}}, {mask.data(), DType::Bool, {n}}};
      s = fn(ctx, pin, pout, attrs);
      ASSERT_TRUE(s.isOk()) << s.message();
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(mask[i], wholeMask[r * n + i])
            << "seed " << seed << " n " << n << " rank " << r << " element " << i;
        ASSERT_EQ(y[i], wholeOut[r * n + i]) << "seed " << seed << " n " << n << " rank " << r;
      }
      masks.push_back(mask);
    }
    if (n >= 1000)
      EXPECT_NE(masks[0], masks[1]) << "seed " << seed;
  }
}

} // namespace
