//===- CudaDataParallelTest.cpp - a compiled data-parallel step on the CUDA executor ===//
//
// Models compiled with `precis compile --train --data-parallel --target cuda` (the MLP example
// in fp32 with small gradient buckets; test/Transforms/Inputs/data-parallel-fp8.mlir, two GEMMs
// of fp8 sizes, in fp8 with AdamW, whose amax histories are reduced with max; the MLP example
// with AdamW and its optimizer state sharded across two ranks, `--zero-stage 1 --world-size 2`,
// whose step has shard and all_gather ops), run through the CUDA executor without a
// communicator, with a host-memory one (as MPI) and with a device-memory one (as NCCL) of two
// ranks (TestCommunicator.h). The sharded step is compiled for two ranks: without a
// communicator it is refused at creation, naming a shard op.
//
// The ctest entry CudaDataParallelFake runs it on FakeCuda.cpp with
// PRECIS_FAKE_CUDA_ANY_KERNEL=1, where the generated kernels do nothing. What it proves there:
// every op of the compiled artifacts binds on the CUDA executor (all_reduce, shard and
// all_gather included); each all_reduce op of a function reaches the session's communicator
// once per operand per run, in op and operand order, with the element count, element type and
// reduction the artifact records, and each all_gather op once per run with its share's element
// count, on a stream (device memory) or through a host buffer (host memory); nothing reaches a
// world of one; and a function with a collective is never captured into a CUDA graph while one
// without is. shard makes no communicator call: that it binds with the sizes the artifact
// records (checked against the communicator's size) and runs is all this test sees of it. What
// it does not prove: the step's numbers (the kernels compute nothing on the fake;
// RuntimeCudaTest's AllReduce* and ShardAndAllGather* tests check values through a real kernel,
// including which share a rank takes) and anything about NCCL, MPI or a GPU. On a GPU (without the
// fake) the same test runs the real kernels; the graph count is then not observable and not
// checked.
//
//===----------------------------------------------------------------------===//

#include "TestCommunicator.h"

#include "Artifact.h"
#include "precis/runtime/Session.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cstdio>
#include <dlfcn.h>

namespace {

using namespace precis::rt;
using precis::rt::testing::fakeGraphLaunches;
using precis::rt::testing::PeerCommunicator;

struct Expected {
  size_t count;
  DType dtype;
  Reduction op;
};

class CudaDataParallel : public ::testing::TestWithParam<const char *> {
protected:
  /// Compiled at build time (unittests/CMakeLists.txt): "mlp-fp32" with 0.01 MiB gradient
  /// buckets (several all_reduce ops), "gemm-fp8" with the default buckets, "mlp-zero1" with
  /// AdamW and ZeRO stage 1 for two ranks.
  std::string artifactPath() const {
    return std::string(PRECIS_DATA_PARALLEL_DIR) + "/" + GetParam() + ".precis";
  }
};

TEST_P(CudaDataParallel, AllReduceReachesTheCommunicator) {
  // What the artifact asks for, per function.
  const std::string path = artifactPath();
  std::unique_ptr<Artifact> artifact;
  Status st = Artifact::openFile(path, &artifact);
  ASSERT_TRUE(st.isOk()) << st.message();
  std::vector<std::vector<Expected>> expected;
  std::vector<std::vector<size_t>> gathers; // per function, each all_gather's share count
  std::vector<size_t> ops, shards;          // all_reduce and shard ops per function
  int64_t maxReduction = 0;
  auto elements = [&](uint32_t v) {
    int64_t n = 1;
    for (int64_t d : artifact->values()[v].shape)
      n *= d;
    return static_cast<size_t>(n);
  };
  for (const FunctionDesc &fd : artifact->functions()) {
    expected.emplace_back();
    gathers.emplace_back();
    ops.push_back(0);
    shards.push_back(0);
    for (const OpDesc &op : fd.ops) {
      if (op.kind == "shard") {
        ++shards.back();
        EXPECT_EQ(elements(op.inputs.at(0)), 2 * elements(op.outputs.at(0))) << fd.name;
      }
      if (op.kind == "all_gather") {
        gathers.back().push_back(elements(op.inputs.at(0)));
        EXPECT_EQ(elements(op.outputs.at(0)), 2 * gathers.back().back()) << fd.name;
      }
      if (op.kind != "all_reduce")
        continue;
      ++ops.back();
      maxReduction = std::max(maxReduction, op.attrs.getInt("reduction", 0));
      const auto reduction = static_cast<Reduction>(op.attrs.getInt("reduction", 0));
      for (uint32_t v : op.inputs) {
        const ValueDesc &value = artifact->values()[v];
        int64_t n = 1;
        for (int64_t d : value.shape)
          n *= d;
        expected.back().push_back({static_cast<size_t>(n), value.dtype, reduction});
      }
    }
  }
  const auto &functions = artifact->functions();
  const auto step = std::find_if(functions.begin(), functions.end(),
                                 [](const FunctionDesc &f) { return f.name == "train_step"; });
  ASSERT_NE(step, functions.end());
  const size_t stepIndex = static_cast<size_t>(step - functions.begin());
  const std::vector<Expected> &stepCalls = expected[stepIndex];
  EXPECT_GE(stepCalls.size(), 2u); // the loss and the gradients at least
  for (size_t f = 0; f < functions.size(); ++f)
    std::printf("%s: @%s has %zu all_reduce ops, %zu operands, %zu shard, %zu all_gather ops\n",
                GetParam(), functions[f].name.c_str(), ops[f], expected[f].size(), shards[f],
                gathers[f].size());
  const std::string model = GetParam();
  const bool zero = model == "mlp-zero1";
  if (model == "mlp-fp32") {
    EXPECT_GE(ops[stepIndex], 2u) << "small buckets: several all_reduce ops";
  } else if (model == "gemm-fp8") {
    EXPECT_EQ(maxReduction, 2) << "the fp8 amaxes are reduced with max";
  } else {
    EXPECT_GE(shards[stepIndex], 1u) << "ZeRO stage 1: the step shards";
    EXPECT_GE(gathers[stepIndex].size(), 1u) << "ZeRO stage 1: the step gathers";
  }
  auto collective = [&](size_t f) {
    return !expected[f].empty() || shards[f] != 0 || !gathers[f].empty();
  };

  struct Case {
    const char *name;
    int size; // 0: no communicator
    bool device;
  };
  for (const Case &c :
       {Case{"none", 0, false}, Case{"host memory", 2, false}, Case{"device memory", 2, true}}) {
    SCOPED_TRACE(c.name);
    auto comm = c.size ? std::make_shared<PeerCommunicator>(c.size, c.device) : nullptr;
    SessionOptions options;
    options.communicator = comm;
    std::unique_ptr<Session> s;
    st = Session::createFromFile(path, options, &s);
    if (st.code() == StatusCode::Unavailable)
      GTEST_SKIP() << st.message(); // no device and no FakeCuda.cpp: nothing to run on
    if (zero && !comm) {
      // Compiled for two ranks: a world of one is refused at creation, naming the op.
      EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
      EXPECT_NE(st.message().find("'shard'"), std::string::npos) << st.message();
      EXPECT_NE(st.message().find("elements are not 1 shares of"), std::string::npos)
          << st.message();
      continue;
    }
    ASSERT_TRUE(st.isOk()) << st.message(); // every op binds, all_reduce included
    ASSERT_TRUE(s->onDevice());

    for (size_t f = 0; f < functions.size(); ++f) {
      const FunctionDesc &fd = functions[f];
      SCOPED_TRACE("function " + fd.name);
      std::vector<Tensor> inputs(fd.inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i)
        ASSERT_TRUE(s->initialValue(fd.name, i, &inputs[i]).isOk());
      const size_t callsBefore = comm ? comm->calls.size() : 0;
      const size_t gathersBefore = comm ? comm->gathers.size() : 0;
      const long long graphsBefore = fakeGraphLaunches();
      constexpr int kRuns = 3;
      for (int run = 0; run < kRuns; ++run) {
        std::vector<Tensor> outputs;
        st = s->run(fd.name, inputs, &outputs);
        ASSERT_TRUE(st.isOk()) << "run " << run << ": " << st.message();
      }
      // Captured after the first run (replayed by the others) unless it has collectives.
      if (graphsBefore >= 0) {
        EXPECT_EQ(fakeGraphLaunches() - graphsBefore, collective(f) ? 0 : kRuns - 1);
      }
      if (!comm)
        continue;
      ASSERT_EQ(comm->calls.size() - callsBefore, kRuns * expected[f].size());
      for (size_t k = 0; k < kRuns * expected[f].size(); ++k) {
        const PeerCommunicator::Call &got = comm->calls[callsBefore + k];
        const Expected &want = expected[f][k % expected[f].size()];
        EXPECT_EQ(got.count, want.count) << "call " << k;
        EXPECT_EQ(got.dtype, want.dtype) << "call " << k;
        EXPECT_EQ(got.op, want.op) << "call " << k;
        EXPECT_EQ(got.stream != nullptr, c.device) << "call " << k;
        EXPECT_NE(got.data, nullptr) << "call " << k;
      }
      ASSERT_EQ(comm->gathers.size() - gathersBefore, kRuns * gathers[f].size());
      for (size_t k = 0; k < kRuns * gathers[f].size(); ++k) {
        const PeerCommunicator::Gather &got = comm->gathers[gathersBefore + k];
        EXPECT_EQ(got.count, gathers[f][k % gathers[f].size()]) << "gather " << k;
        EXPECT_EQ(got.dtype, DType::F32) << "gather " << k;
        EXPECT_EQ(got.stream != nullptr, c.device) << "gather " << k;
        EXPECT_NE(got.send, nullptr) << "gather " << k;
        EXPECT_NE(got.recv, nullptr) << "gather " << k;
      }
    }
    if (comm) {
      EXPECT_GE(comm->calls.size(), 3 * stepCalls.size());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Precisions, CudaDataParallel,
                         ::testing::Values("mlp-fp32", "gemm-fp8", "mlp-zero1"),
                         [](const ::testing::TestParamInfo<const char *> &p) {
                           std::string name = p.param;
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

} // namespace
