//===- RuntimeTest.cpp - loading, validating and running artifacts ---------===//
//
// Sessions on small hand-built artifacts: results against a reference, the caller-facing
// errors (inputs, functions, parameters), and one test per artifact validation rule, each
// checking the error code and that the message names the culprit.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include "precis/runtime/Communicator.h"
#include "precis/runtime/Session.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <unistd.h>

using namespace precis::rt;
using namespace precis::rt::testing;
namespace schema = precis::schema;

namespace {

Tensor f32Tensor(std::vector<int64_t> shape, std::vector<float> values) {
  Tensor t;
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(float));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

std::vector<float> floats(const Tensor &t) {
  return std::vector<float>(t.as<float>(), t.as<float>() + t.numElements());
}

std::string tempPath(const std::string &name) {
  return ::testing::TempDir() + "/precis_rt_" + std::to_string(::getpid()) + "_" + name;
}

void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), bytes.size());
}

std::unique_ptr<Session> load(const std::string &bytes, SessionOptions options = {}) {
  std::unique_ptr<Session> s;
  Status st = Session::createFromMemory(bytes.data(), bytes.size(), options, &s);
  EXPECT_TRUE(st.isOk()) << st.message();
  return s;
}

Status loadStatus(const std::string &bytes, SessionOptions options = {}) {
  std::unique_ptr<Session> s;
  return Session::createFromMemory(bytes.data(), bytes.size(), options, &s);
}

const std::vector<float> kX = {0.5f, 1, -4, 5, -1, 2, -2, 0};

#define EXPECT_STATUS(expr, code_, substring)                                                      \
  do {                                                                                             \
    Status st_ = (expr);                                                                           \
    EXPECT_EQ(st_.code(), StatusCode::code_) << st_.message();                                     \
    EXPECT_NE(st_.message().find(substring), std::string::npos)                                    \
        << "message: " << st_.message() << "\nexpected to contain: " << (substring);               \
  } while (0)

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

TEST(RuntimeSession, RunsForwardFromMemory) {
  auto s = load(makeMlpArtifact());
  ASSERT_TRUE(s);
  std::vector<Tensor> out;
  Status st = s->run("forward", {f32Tensor({2, 4}, kX)}, &out);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(out.size(), 2u);
  std::vector<float> y, z;
  mlpReference(kX, &y, &z);
  EXPECT_EQ(out[0].dtype, DType::F32);
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(floats(out[0]), y);
  EXPECT_EQ(out[1].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(floats(out[1]), z);

  // A second run reuses the arena and gives the same answer; a second function shares it.
  ASSERT_TRUE(s->run("forward", {f32Tensor({2, 4}, kX)}, &out).isOk());
  EXPECT_EQ(floats(out[1]), z);
  ASSERT_TRUE(s->run("relu_only", {f32Tensor({2, 4}, kX)}, &out).isOk());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(floats(out[0]), (std::vector<float>{0.5f, 1, 0, 5, 0, 2, 0, 0}));
}

TEST(RuntimeSession, RunsAgainIntoTheSameOutputStorage) {
  // A loop that hands the same vector back (TrainingSession does) gets its results in the
  // storage it already has: no allocation, no zeroing, per run.
  auto s = load(makeMlpArtifact());
  ASSERT_TRUE(s);
  std::vector<Tensor> out;
  ASSERT_TRUE(s->run("forward", {f32Tensor({2, 4}, kX)}, &out).isOk());
  ASSERT_EQ(out.size(), 2u);
  const uint8_t *y = out[0].data.data(), *z = out[1].data.data();
  std::fill(out[1].data.begin(), out[1].data.end(), uint8_t{0xFF}); // overwritten by the run
  ASSERT_TRUE(s->run("forward", {f32Tensor({2, 4}, kX)}, &out).isOk());
  EXPECT_EQ(out[0].data.data(), y);
  EXPECT_EQ(out[1].data.data(), z);
  std::vector<float> yRef, zRef;
  mlpReference(kX, &yRef, &zRef);
  EXPECT_EQ(floats(out[0]), yRef);
  EXPECT_EQ(floats(out[1]), zRef);
  // A failed run leaves the outputs as they were.
  EXPECT_FALSE(s->run("forward", {f32Tensor({2, 3}, {1, 2, 3, 4, 5, 6})}, &out).isOk());
  EXPECT_EQ(floats(out[1]), zRef);
}

TEST(RuntimeSession, RunsFromFile) {
  const std::string path = tempPath("mlp.precis");
  writeFile(path, makeMlpArtifact());
  std::unique_ptr<Session> s;
  Status st = Session::createFromFile(path, {}, &s);
  ASSERT_TRUE(st.isOk()) << st.message();
  std::vector<Tensor> out;
  ASSERT_TRUE(s->run("forward", {f32Tensor({2, 4}, kX)}, &out).isOk());
  std::vector<float> y, z;
  mlpReference(kX, &y, &z);
  EXPECT_EQ(floats(out[1]), z);
  std::remove(path.c_str());
}

TEST(RuntimeSession, MissingFileIsNotFound) {
  std::unique_ptr<Session> s;
  EXPECT_STATUS(Session::createFromFile("/nonexistent/model.precis", {}, &s), NotFound,
                "/nonexistent/model.precis");
  EXPECT_STATUS(Session::createFromFile("/", {}, &s), IoError, "not a regular file");
}

TEST(RuntimeSession, Introspection) {
  auto s = load(makeMlpArtifact());
  EXPECT_EQ(s->listFunctions(), (std::vector<std::string>{"forward", "relu_only"}));
  const FunctionInfo *f = s->findFunction("forward");
  ASSERT_TRUE(f);
  ASSERT_EQ(f->inputs.size(), 1u);
  EXPECT_EQ(f->inputs[0].name, "x");
  EXPECT_EQ(f->inputs[0].dtype, DType::F32);
  EXPECT_EQ(f->inputs[0].shape, (std::vector<int64_t>{2, 4}));
  ASSERT_EQ(f->outputs.size(), 2u);
  EXPECT_EQ(f->outputs[1].name, "z");
  EXPECT_EQ(s->findFunction("backward"), nullptr);
  ASSERT_EQ(s->parameters().size(), 2u);
  EXPECT_EQ(s->parameters()[0].name, "w");
  EXPECT_EQ(s->parameters()[1].name, "b");
  EXPECT_EQ(s->arenaBytes(), 192u);
  EXPECT_EQ(s->parameterBytes(), 8 * 4 + 12 * 4u);
  EXPECT_EQ(s->copiedParameterBytes(), 0u);
  EXPECT_EQ(s->producer(), "precis test");
  EXPECT_EQ(s->target(), "cpu");
}

TEST(RuntimeSession, ZeroSizedTensors) {
  schema::Manifest m;
  m.set_target("cpu");
  m.set_arena_size(0);
  addValue(m, DType::F32, {0, 4}, "x")->set_input(0);
  addValue(m, DType::F32, {0, 4}, "y")->set_arena_offset(0);
  schema::Function *f = m.add_functions();
  f->set_name("f");
  f->add_inputs(0);
  addOp(*f, "relu", {0}, {1});
  f->add_outputs(1);
  auto s = load(serialize(m, {}));
  ASSERT_TRUE(s);
  TensorView x{nullptr, DType::F32, {0, 4}};
  std::vector<Tensor> out;
  Status st = s->run("f", std::vector<TensorView>{x}, &out);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{0, 4}));
  EXPECT_TRUE(out[0].data.empty());
}

TEST(RuntimeSession, OutputsMayBeInputsAndParameters) {
  schema::Manifest m;
  m.set_target("cpu");
  addValue(m, DType::F32, {2}, "x")->set_input(0);
  addValue(m, DType::F32, {2}, "p")->set_blob(0);
  schema::Function *f = m.add_functions();
  f->set_name("passthrough");
  f->add_inputs(0);
  f->add_outputs(0);
  f->add_outputs(1);
  auto s = load(serialize(m, {bytesOf(std::vector<float>{7, 8})}));
  ASSERT_TRUE(s);
  std::vector<Tensor> out;
  ASSERT_TRUE(s->run("passthrough", {f32Tensor({2}, {1, 2})}, &out).isOk());
  EXPECT_EQ(floats(out[0]), (std::vector<float>{1, 2}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{7, 8}));
}

//===----------------------------------------------------------------------===//
// Carried state
//===----------------------------------------------------------------------===//

/// step(p: f32[4], g: f32[4], count: f32[1], lr: f32[1]) -> (new_p = sgd_update(p, g, count,
/// lr), r = relu(new_p)), plus, with `readOldAfter`, a third output relu(p) computed after the
/// update. new_p is at arena offset 0.
std::string makeSgdArtifact(bool readOldAfter) {
  schema::Manifest m;
  m.set_target("cpu");
  m.set_arena_size(192);
  addValue(m, DType::F32, {4}, "p")->set_input(0);
  addValue(m, DType::F32, {4}, "g")->set_input(1);
  addValue(m, DType::F32, {1}, "count")->set_input(2);
  addValue(m, DType::F32, {1}, "lr")->set_input(3);
  addValue(m, DType::F32, {4}, "new_p")->set_arena_offset(0);
  addValue(m, DType::F32, {4}, "r")->set_arena_offset(64);
  addValue(m, DType::F32, {4}, "old")->set_arena_offset(128);
  schema::Function *f = m.add_functions();
  f->set_name("step");
  for (uint32_t i = 0; i < 4; ++i)
    f->add_inputs(i);
  addOp(*f, "sgd_update", {0, 1, 2, 3}, {4});
  addOp(*f, "relu", {4}, {5});
  f->add_outputs(4);
  f->add_outputs(5);
  if (readOldAfter) {
    addOp(*f, "relu", {0}, {6});
    f->add_outputs(6);
  }
  return serialize(m, {});
}

const std::vector<float> kP = {1, 1, 1, 1}, kG = {1, 2, 3, 4};
const std::vector<float> kNewP = {0.5f, 0, -0.5f, -1}; // p - 0.5 g

TEST(RuntimeCarriedState, WithoutCarriesInputsAreOnlyRead) {
  auto s = load(makeSgdArtifact(false));
  ASSERT_TRUE(s);
  Tensor p = f32Tensor({4}, kP), g = f32Tensor({4}, kG);
  Tensor count = f32Tensor({1}, {1}), lr = f32Tensor({1}, {0.5f});
  std::vector<Tensor> out;
  ASSERT_TRUE(s->run("step", {p.view(), g.view(), count.view(), lr.view()}, &out).isOk());
  EXPECT_EQ(floats(p), kP);
  EXPECT_EQ(floats(out[0]), kNewP);
  EXPECT_EQ(floats(out[1]), (std::vector<float>{0.5f, 0, 0, 0}));
}

TEST(RuntimeCarriedState, UpdatesTheCallersInputInPlace) {
  // A training loop's runs: the carried output lands in the caller's input, is not copied
  // out unless fetched, and the output vector's storage is reused from run to run.
  auto s = load(makeSgdArtifact(false));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->carryOutputs("step", {{0, 0}}).isOk());
  Tensor p = f32Tensor({4}, kP), g = f32Tensor({4}, kG);
  Tensor count = f32Tensor({1}, {1}), lr = f32Tensor({1}, {0.5f});
  const std::vector<TensorView> args = {p.view(), g.view(), count.view(), lr.view()};
  std::vector<Tensor> out;
  ASSERT_TRUE(s->run("step", args, &out, {false, true}).isOk());
  EXPECT_EQ(floats(p), kNewP);
  EXPECT_TRUE(out[0].data.empty());
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{0.5f, 0, 0, 0}));
  const uint8_t *r = out[1].data.data(), *pData = p.data.data();
  ASSERT_TRUE(s->run("step", args, &out, {false, true}).isOk());
  EXPECT_EQ(floats(p), (std::vector<float>{0, -1, -2, -3}));
  EXPECT_EQ(out[1].data.data(), r);
  EXPECT_EQ(p.data.data(), pData);
  EXPECT_TRUE(out[0].data.empty());
  // Fetched (or with no fetch list) a carried output comes back too.
  ASSERT_TRUE(s->run("step", args, &out).isOk());
  EXPECT_EQ(floats(p), (std::vector<float>{-0.5f, -2, -3.5f, -5}));
  EXPECT_EQ(floats(out[0]), floats(p));
}

TEST(RuntimeCarriedState, AnInputReadAfterItsUpdateKeepsItsOldValueThere) {
  // relu(p) runs after the update: it must see the old p, so the update cannot be in place;
  // the caller's p still holds the new value after the run.
  auto s = load(makeSgdArtifact(true));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->carryOutputs("step", {{0, 0}}).isOk());
  Tensor p = f32Tensor({4}, {1, -1, 2, -2}), g = f32Tensor({4}, kG);
  Tensor count = f32Tensor({1}, {1}), lr = f32Tensor({1}, {0.5f});
  std::vector<Tensor> out;
  ASSERT_TRUE(
      s->run("step", {p.view(), g.view(), count.view(), lr.view()}, &out, {false, true, true})
          .isOk());
  EXPECT_EQ(floats(out[2]), (std::vector<float>{1, 0, 2, 0}));
  EXPECT_EQ(floats(p), (std::vector<float>{0.5f, -2, 0.5f, -4}));
  EXPECT_TRUE(out[0].data.empty());
}

TEST(RuntimeCarriedState, CarriedInputsThatSwap) {
  // Outputs that are the inputs themselves, carried crosswise: both read before either is
  // overwritten.
  schema::Manifest m;
  m.set_target("cpu");
  addValue(m, DType::F32, {2}, "a")->set_input(0);
  addValue(m, DType::F32, {2}, "b")->set_input(1);
  schema::Function *f = m.add_functions();
  f->set_name("swap");
  f->add_inputs(0);
  f->add_inputs(1);
  f->add_outputs(1);
  f->add_outputs(0);
  auto s = load(serialize(m, {}));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->carryOutputs("swap", {{0, 0}, {1, 1}}).isOk());
  Tensor a = f32Tensor({2}, {1, 2}), b = f32Tensor({2}, {3, 4});
  std::vector<Tensor> out;
  ASSERT_TRUE(s->run("swap", {a.view(), b.view()}, &out, {false, false}).isOk());
  EXPECT_EQ(floats(a), (std::vector<float>{3, 4}));
  EXPECT_EQ(floats(b), (std::vector<float>{1, 2}));
  EXPECT_TRUE(out[0].data.empty());
  EXPECT_TRUE(out[1].data.empty());
}

TEST(RuntimeCarriedState, AnInputCarriedIntoTwiceIsAnError) {
  auto s = load(makeSgdArtifact(true));
  ASSERT_TRUE(s);
  EXPECT_STATUS(s->carryOutputs("step", {{0, 0}, {2, 0}}), InvalidArgument,
                "input 'p' is carried into more than once");
}

//===----------------------------------------------------------------------===//
// Caller errors
//===----------------------------------------------------------------------===//

TEST(RuntimeSession, InputMismatches) {
  auto s = load(makeMlpArtifact());
  std::vector<Tensor> out;
  EXPECT_STATUS(s->run("forward", {f32Tensor({2, 3}, std::vector<float>(6))}, &out),
                InvalidArgument, "input 'x' expects f32[2,4], got f32[2,3]");
  Tensor i32 = f32Tensor({2, 4}, kX);
  i32.dtype = DType::I32;
  EXPECT_STATUS(s->run("forward", {i32}, &out), InvalidArgument,
                "input 'x' expects f32[2,4], got i32[2,4]");
  EXPECT_STATUS(s->run("forward", std::vector<Tensor>{}, &out), InvalidArgument,
                "function 'forward' takes 1 inputs, got 0");
  EXPECT_STATUS(s->run("forward", {f32Tensor({2, 4}, kX), f32Tensor({2, 4}, kX)}, &out),
                InvalidArgument, "takes 1 inputs, got 2");
  TensorView noData{nullptr, DType::F32, {2, 4}};
  EXPECT_STATUS(s->run("forward", std::vector<TensorView>{noData}, &out), InvalidArgument,
                "input 'x' has no data");
  EXPECT_STATUS(s->run("backward", {f32Tensor({2, 4}, kX)}, &out), NotFound,
                "no function 'backward' (the artifact has: forward, relu_only)");
  // A failed run leaves the session usable.
  EXPECT_TRUE(s->run("forward", {f32Tensor({2, 4}, kX)}, &out).isOk());
}

TEST(RuntimeSession, KernelFailureNamesTheOp) {
  // Structurally valid, but add's operands disagree in shape: the kernel says so, the
  // session prefixes the op.
  schema::Manifest m;
  m.set_target("cpu");
  m.set_arena_size(64);
  addValue(m, DType::F32, {2, 4}, "x")->set_input(0);
  addValue(m, DType::F32, {4, 2}, "w")->set_blob(0);
  addValue(m, DType::F32, {2, 4})->set_arena_offset(0);
  schema::Function *f = m.add_functions();
  f->set_name("forward");
  f->add_inputs(0);
  addOp(*f, "add", {0, 1}, {2}, "Add_7");
  f->add_outputs(2);
  auto s = load(serialize(m, {bytesOf(std::vector<float>(8))}));
  ASSERT_TRUE(s);
  std::vector<Tensor> out;
  Status st = s->run("forward", {f32Tensor({2, 4}, kX)}, &out);
  EXPECT_FALSE(st.isOk());
  EXPECT_EQ(st.message().rfind("op 0 'add' (node \"Add_7\"): ", 0), 0u) << st.message();
}

//===----------------------------------------------------------------------===//
// Collectives overlapping computation
//===----------------------------------------------------------------------===//

/// Rank 0 of a world of two whose started all-reduces finish only when waited for, and which
/// records every call: "start <values at the start>", "wait <ticket>" and "allReduce". As in
/// TestCommunicator.h the other rank holds this rank's values plus one, so a sum is 2 v + 1.
/// Combining at the wait, not at the start, also checks that nothing reads a result early.
class DeferredWorld final : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  const char *backend() const override { return "deferred"; }
  bool deviceMemory() const override { return false; }
  Status allReduce(void *data, size_t count, DType, Reduction, void *) override {
    log.push_back("allReduce");
    combine(static_cast<float *>(data), count);
    return Status::ok();
  }
  Status startAllReduce(void *data, size_t count, DType dtype, Reduction op, void *,
                        uint64_t *ticket) override {
    if (dtype != DType::F32 || op != Reduction::Sum)
      return invalidArgument("DeferredWorld: f32 sums only");
    std::string entry = "start";
    for (size_t i = 0; i < count; ++i)
      entry += " " + std::to_string(static_cast<const float *>(data)[i]).substr(0, 4);
    log.push_back(entry);
    started.push_back({static_cast<float *>(data), count});
    *ticket = started.size();
    return Status::ok();
  }
  Status wait(uint64_t ticket, void *) override {
    log.push_back("wait " + std::to_string(ticket));
    if (!failWait.empty())
      return internalError(failWait);
    // Tickets finish in order: this one and every earlier one not finished yet.
    for (; finished < ticket; ++finished)
      combine(started[finished].first, started[finished].second);
    return Status::ok();
  }
  Status allGather(const void *, void *, size_t, DType, void *) override {
    return unimplemented("DeferredWorld: allGather");
  }
  Status broadcast(void *, size_t, int, void *) override {
    return unimplemented("DeferredWorld: broadcast");
  }
  Status barrier() override { return Status::ok(); }
  [[noreturn]] void abort(int code) override { std::exit(code); }

  std::vector<std::string> log;
  std::string failWait; ///< when set, every wait fails with this message

private:
  static void combine(float *v, size_t count) {
    for (size_t i = 0; i < count; ++i)
      v[i] = v[i] + (v[i] + 1);
  }
  std::vector<std::pair<float *, size_t>> started;
  uint64_t finished = 0;
};

/// step(x f32[4], w f32[4]) -> u, the shape of a data-parallel backward pass with two
/// gradient buckets and an optimizer that reads both:
///   g0 = add(x, w);  r0 = all_reduce(g0)   (bucket 0)
///   g1 = add(x, x);  r1 = all_reduce(g1)   (bucket 1, computed while bucket 0 is reduced)
///   t = add(w, w)                          (the rest of the backward pass)
///   u = add(r0, r1)                        (the first reader of either)
/// -> (u, t)
std::string twoBucketArtifact() {
  schema::Manifest m;
  m.set_target("cpu");
  m.set_arena_size(384);
  addValue(m, DType::F32, {4}, "x")->set_input(0);
  addValue(m, DType::F32, {4}, "w")->set_input(1);
  for (uint64_t i = 0; i < 6; ++i)
    addValue(m, DType::F32, {4})->set_arena_offset(64 * i);
  schema::Function *f = m.add_functions();
  f->set_name("step");
  f->add_inputs(0);
  f->add_inputs(1);
  addOp(*f, "add", {0, 1}, {2}, "Add_g0");
  (*addOp(*f, "all_reduce", {2}, {3}, "AllReduce_0")->mutable_attrs())["reduction"].set_i(0);
  addOp(*f, "add", {0, 0}, {4}, "Add_g1");
  (*addOp(*f, "all_reduce", {4}, {5}, "AllReduce_1")->mutable_attrs())["reduction"].set_i(0);
  addOp(*f, "add", {1, 1}, {6}, "Add_t");
  addOp(*f, "add", {3, 5}, {7}, "Add_u");
  f->add_outputs(7);
  f->add_outputs(6);
  return serialize(m, {});
}

TEST(RuntimeCollectives, AllReduceOverlapsTheOpsAfterIt) {
  const std::string bytes = twoBucketArtifact();
  const std::vector<float> x = {1, 2, 3, 4}, w = {0.5f, 0.5f, 0.5f, 0.5f};
  std::vector<float> want(4);
  for (int i = 0; i < 4; ++i) {
    const float g0 = x[i] + w[i], g1 = x[i] + x[i];
    want[i] = (g0 + (g0 + 1)) + (g1 + (g1 + 1));
  }
  for (bool checkNumerics : {false, true}) {
    SCOPED_TRACE(checkNumerics ? "check-numerics" : "default");
    auto comm = std::make_shared<DeferredWorld>();
    SessionOptions options;
    options.communicator = comm;
    options.checkNumerics = checkNumerics;
    auto s = load(bytes, options);
    ASSERT_TRUE(s);
    for (int step = 0; step < 2; ++step) {
      std::vector<Tensor> out;
      Status st = s->run("step", {f32Tensor({4}, x), f32Tensor({4}, w)}, &out);
      ASSERT_TRUE(st.isOk()) << st.message();
      EXPECT_EQ(floats(out[0]), want);
    }
    // Bucket 1 is computed (its values at its start are 2x) and started before bucket 0 is
    // waited for, and both are waited for right before their reader. Under check-numerics,
    // which scans each result right after its op, every all-reduce finishes inside its op.
    const std::string bucket0 = "start 1.50 2.50 3.50 4.50", bucket1 = "start 2.00 4.00 6.00 8.00";
    const std::vector<std::string> expected =
        checkNumerics ? std::vector<std::string>(4, "allReduce")
                      : std::vector<std::string>{bucket0, bucket1, "wait 1", "wait 2", // step 0
                                                 bucket0, bucket1, "wait 3", "wait 4"};
    EXPECT_EQ(comm->log, expected);
  }
}

TEST(RuntimeCollectives, AllReduceReadByTheNextOpRunsInsideIt) {
  // Nothing runs between such an all-reduce and its reader: it is not handed to the
  // communicator's thread (the last bucket, or the only one).
  schema::Manifest m;
  m.set_target("cpu");
  m.set_arena_size(192);
  addValue(m, DType::F32, {4}, "x")->set_input(0);
  for (uint64_t i = 0; i < 3; ++i)
    addValue(m, DType::F32, {4})->set_arena_offset(64 * i);
  schema::Function *f = m.add_functions();
  f->set_name("step");
  f->add_inputs(0);
  addOp(*f, "add", {0, 0}, {1}, "Add_g");
  (*addOp(*f, "all_reduce", {1}, {2}, "AllReduce_0")->mutable_attrs())["reduction"].set_i(0);
  addOp(*f, "add", {2, 2}, {3}, "Add_u");
  f->add_outputs(3);
  auto comm = std::make_shared<DeferredWorld>();
  SessionOptions options;
  options.communicator = comm;
  auto s = load(serialize(m, {}), options);
  ASSERT_TRUE(s);
  std::vector<Tensor> out;
  Status st = s->run("step", {f32Tensor({4}, {1, 2, 3, 4})}, &out);
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_EQ(floats(out[0]), std::vector<float>({10, 18, 26, 34})); // 2 (2x + (2x + 1))
  EXPECT_EQ(comm->log, std::vector<std::string>{"allReduce"});
}

TEST(RuntimeCollectives, AFailedWaitNamesTheAllReduce) {
  auto comm = std::make_shared<DeferredWorld>();
  comm->failWait = "the peer went away";
  SessionOptions options;
  options.communicator = comm;
  auto s = load(twoBucketArtifact(), options);
  ASSERT_TRUE(s);
  std::vector<Tensor> out;
  Status st = s->run("step", {f32Tensor({4}, {1, 2, 3, 4}), f32Tensor({4}, {1, 2, 3, 4})}, &out);
  EXPECT_EQ(st.code(), StatusCode::Internal);
  EXPECT_NE(st.message().find("op 1 'all_reduce' (node \"AllReduce_0\")"), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("the peer went away"), std::string::npos) << st.message();
  // Every started all-reduce was waited for before the run gave its memory back.
  EXPECT_EQ(comm->log.back(), "wait 2");
}

TEST(RuntimeSession, Parameters) {
  const std::string bytes = makeMlpArtifact();
  auto s = load(bytes);
  auto other = load(bytes);
  Tensor w;
  ASSERT_TRUE(s->getParameter("w", &w).isOk());
  EXPECT_EQ(floats(w), mlpW());
  EXPECT_STATUS(s->getParameter("nope", &w), NotFound, "no parameter 'nope'");

  // Replace w; runs see it, the other session does not.
  std::vector<float> w2(8, 10.0f);
  ASSERT_TRUE(s->setParameter("w", f32Tensor({2, 4}, w2).view()).isOk());
  EXPECT_EQ(s->copiedParameterBytes(), 32u);
  ASSERT_TRUE(s->getParameter("w", &w).isOk());
  EXPECT_EQ(floats(w), w2);
  std::vector<Tensor> out;
  ASSERT_TRUE(s->run("forward", {f32Tensor({2, 4}, kX)}, &out).isOk());
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(floats(out[0])[i], std::max(kX[i] + 10.0f, 0.0f));
  ASSERT_TRUE(other->getParameter("w", &w).isOk());
  EXPECT_EQ(floats(w), mlpW());

  EXPECT_STATUS(s->setParameter("w", f32Tensor({8}, w2).view()), InvalidArgument,
                "parameter 'w' is f32[2,4], got f32[8]");
  EXPECT_STATUS(s->setParameter("nope", f32Tensor({8}, w2).view()), NotFound, "nope");
}

/// The reference artifact with parameter w (blob 0) stored without bytes: `init` instead.
std::string generatedWArtifact(const schema::ParamInit &init) {
  schema::Manifest m = mlpManifest();
  schema::Blob *w = m.add_blobs();
  *w->mutable_init() = init;
  w->set_size(32);
  m.add_blobs();
  return serialize(m, {"", bytesOf(mlpB())});
}

schema::ParamInit uniformInit(uint64_t seed, double bound) {
  schema::ParamInit init;
  init.set_kind(schema::ParamInit::UNIFORM);
  init.set_seed(seed);
  init.set_bound(bound);
  return init;
}

TEST(RuntimeSession, GeneratedParameters) {
  const std::string bytes = generatedWArtifact(uniformInit(42, 0.5));
  auto s = load(bytes);
  auto again = load(bytes);
  ASSERT_TRUE(s && again);
  Tensor w, w2;
  ASSERT_TRUE(s->getParameter("w", &w).isOk());
  ASSERT_TRUE(again->getParameter("w", &w2).isOk());
  EXPECT_EQ(w.data, w2.data); // every load gives the same bytes

  // The rule of artifact.proto, written out independently.
  std::vector<float> expected;
  for (uint64_t i = 0; i < 8; ++i) {
    uint64_t z = 42 + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    expected.push_back(static_cast<float>((2 * std::ldexp(double(z >> 40), -24) - 1) * 0.5));
  }
  EXPECT_EQ(floats(w), expected);
  for (float x : floats(w))
    EXPECT_TRUE(x >= -0.5f && x < 0.5f) << x;
  ASSERT_TRUE(s->getParameter("b", &w2).isOk());
  EXPECT_EQ(floats(w2), mlpB()); // other blobs keep their bytes

  std::vector<Tensor> out;
  ASSERT_TRUE(s->run("forward", {f32Tensor({2, 4}, kX)}, &out).isOk());
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(floats(out[0])[i], std::max(kX[i] + expected[i], 0.0f));

  // Another seed, other values; a constant fills every element.
  auto other = load(generatedWArtifact(uniformInit(43, 0.5)));
  ASSERT_TRUE(other->getParameter("w", &w2).isOk());
  EXPECT_NE(w.data, w2.data);
  schema::ParamInit ones;
  ones.set_kind(schema::ParamInit::CONSTANT);
  ones.set_value(1.0);
  auto constant = load(generatedWArtifact(ones));
  ASSERT_TRUE(constant->getParameter("w", &w2).isOk());
  EXPECT_EQ(floats(w2), std::vector<float>(8, 1.0f));
}

TEST(RuntimeValidation, GeneratedParameters) {
  schema::ParamInit bad = uniformInit(1, -1);
  EXPECT_STATUS(loadStatus(generatedWArtifact(bad)), InvalidArtifact,
                "blob 0: init bound -1.000000 / value 0.000000 must be finite");
  bad = uniformInit(1, 1);
  bad.set_kind(static_cast<schema::ParamInit::Kind>(5));
  EXPECT_STATUS(loadStatus(generatedWArtifact(bad)), InvalidArtifact, "unknown init kind 5");
  const std::string good = generatedWArtifact(uniformInit(1, 1));
  EXPECT_STATUS(loadStatus(rewriteManifest(
                    good, [](schema::Manifest &m) { m.mutable_blobs(0)->set_offset(64); })),
                InvalidArtifact, "blob 0 is generated (init) but has data offset 64");
  EXPECT_STATUS(loadStatus(rewriteManifest(
                    good, [](schema::Manifest &m) { m.mutable_values(1)->set_name(""); })),
                InvalidArtifact, "only a floating-point parameter may be, not a constant");
  EXPECT_STATUS(loadStatus(rewriteManifest(good,
                                           [](schema::Manifest &m) {
                                             m.mutable_values(1)->mutable_type()->set_dtype(
                                                 schema::I32);
                                           })),
                InvalidArtifact, "parameter may be, not i32[2,4]");
  EXPECT_STATUS(loadStatus(rewriteManifest(
                    good, [](schema::Manifest &m) { m.mutable_values(0)->set_initial_blob(0); })),
                InvalidArtifact, "an initial value must hold bytes");
  EXPECT_STATUS(loadStatus(rewriteManifest(
                    good, [](schema::Manifest &m) { m.mutable_blobs(0)->set_size(16); })),
                InvalidArtifact, "blob 0 holds 16 bytes, but f32[2,4] needs 32");
}

TEST(RuntimeSession, CopyParametersFromFile) {
  const std::string path = tempPath("copy.precis");
  writeFile(path, makeMlpArtifact());
  SessionOptions options;
  options.copyParameters = true;
  options.numThreads = 2;
  std::unique_ptr<Session> s;
  ASSERT_TRUE(Session::createFromFile(path, options, &s).isOk());
  EXPECT_EQ(s->copiedParameterBytes(), s->parameterBytes());
  ASSERT_TRUE(s->setParameter("b", f32Tensor({4, 3}, std::vector<float>(12, 0)).view()).isOk());
  std::vector<Tensor> out;
  ASSERT_TRUE(s->run("forward", {f32Tensor({2, 4}, kX)}, &out).isOk());
  EXPECT_EQ(floats(out[1]), std::vector<float>(6, 0.0f));
  std::remove(path.c_str());
}

TEST(RuntimeSession, Options) {
  const std::string bytes = makeMlpArtifact();
  SessionOptions tpu;
  tpu.backend = "tpu";
  EXPECT_STATUS(loadStatus(bytes, tpu), Unavailable, "backend 'tpu' is not available");
  SessionOptions threads;
  threads.numThreads = -1;
  EXPECT_STATUS(loadStatus(bytes, threads), InvalidArgument, "numThreads");

  schema::Manifest m = mlpManifest();
  m.set_target("cuda:sm_90a");
  SessionOptions cpu;
  cpu.backend = "cpu";
  EXPECT_STATUS(loadStatus(serialize(m, {bytesOf(mlpW()), bytesOf(mlpB())}), cpu), InvalidArgument,
                "compiled for target 'cuda:sm_90a', not for backend 'cpu'");
  // (the CUDA backend's own selection tests are in RuntimeCudaTest.cpp)
}

//===----------------------------------------------------------------------===//
// Validation: one test per rule
//===----------------------------------------------------------------------===//

/// Loads the reference artifact after `edit` changed its manifest.
Status loadEdited(const std::function<void(schema::Manifest &)> &edit) {
  schema::Manifest m = mlpManifest();
  edit(m);
  return loadStatus(serialize(m, {bytesOf(mlpW()), bytesOf(mlpB())}));
}

/// Loads the reference artifact after `edit` changed its bytes.
Status loadPatched(const std::function<void(std::string &)> &edit) {
  std::string bytes = makeMlpArtifact();
  edit(bytes);
  return loadStatus(bytes);
}

TEST(RuntimeValidation, Header) {
  EXPECT_STATUS(loadStatus("PRECIS"), InvalidArtifact, "shorter than the 24-byte header");
  EXPECT_STATUS(loadPatched([](std::string &b) { b[0] = 'X'; }), InvalidArtifact, "bad magic");
  EXPECT_STATUS(loadPatched([](std::string &b) { b[8] = 2; }), InvalidArtifact,
                "format version 2; this runtime reads version 1");
  EXPECT_STATUS(loadPatched([](std::string &b) { b[12] = 1; }), InvalidArtifact,
                "reserved header field");
  EXPECT_STATUS(loadPatched([](std::string &b) { b[23] = 0x7F; }), InvalidArtifact,
                "extends past the end of the file");
  EXPECT_STATUS(loadPatched([](std::string &b) { b[24] = '\xFF'; }), InvalidArtifact,
                "does not parse");
  EXPECT_STATUS(loadPatched([](std::string &b) {
                  const uint64_t m = static_cast<uint8_t>(b[16]) | static_cast<uint8_t>(b[17]) << 8;
                  b[24 + m] = 1; // first padding byte
                }),
                InvalidArtifact, "nonzero padding byte");
  // A file cut inside the padding before the data section.
  schema::Manifest m;
  m.set_target("cpu");
  schema::Function *f = m.add_functions();
  f->set_name("empty");
  std::string noBlobs = serialize(m, {});
  ASSERT_TRUE(loadStatus(noBlobs).isOk());
  noBlobs.pop_back();
  EXPECT_STATUS(loadStatus(noBlobs), InvalidArtifact, "before the data section");
}

TEST(RuntimeValidation, Values) {
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_values(1)->mutable_type()->set_dtype(static_cast<schema::DType>(99));
                }),
                InvalidArtifact, "value 1 (\"w\"): unknown dtype 99");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_values(1)->mutable_type()->set_dtype(schema::DTYPE_UNSPECIFIED);
                }),
                InvalidArtifact, "unknown dtype 0");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_values(2)->mutable_type()->set_shape(0, -2);
                }),
                InvalidArtifact, "value 2: negative dimension -2 at axis 0");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  auto *t = m.mutable_values(2)->mutable_type();
                  t->set_shape(0, int64_t(1) << 40);
                  t->set_shape(1, int64_t(1) << 40);
                }),
                InvalidArtifact, "element count overflows");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  auto *t = m.mutable_values(2)->mutable_type();
                  t->set_shape(0, int64_t(1) << 31);
                  t->set_shape(1, int64_t(1) << 31);
                }),
                InvalidArtifact, "overflows"); // 2^62 elements * 4 bytes
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_values(2)->clear_storage(); }),
                InvalidArtifact, "value 2: no storage");
}

TEST(RuntimeValidation, Blobs) {
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_values(4)->set_blob(7); }),
                InvalidArtifact, "value 4 (\"b\"): blob index 7 out of range (2 blobs)");
  EXPECT_STATUS(
      loadStatus(rewriteManifest(
          makeMlpArtifact(), [](schema::Manifest &m) { m.mutable_blobs(1)->set_offset(4096); })),
      InvalidArtifact,
      "value 4 (\"b\"): blob 1 [offset 4096, size 48] extends past the data section "
      "(112 bytes)");
  EXPECT_STATUS(
      loadStatus(rewriteManifest(makeMlpArtifact(),
                                 [](schema::Manifest &m) { m.mutable_blobs(1)->set_offset(32); })),
      InvalidArtifact, "value 4 (\"b\"): blob 1 offset 32 is not a multiple of 64");
  EXPECT_STATUS(loadStatus(rewriteManifest(makeMlpArtifact(),
                                           [](schema::Manifest &m) {
                                             m.mutable_blobs(1)->set_offset(
                                                 ~uint64_t(63)); // offset + size wraps
                                           })),
                InvalidArtifact, "extends past the data section");
  EXPECT_STATUS(loadStatus(rewriteManifest(makeMlpArtifact(),
                                           [](schema::Manifest &m) {
                                             m.add_blobs()->set_offset(
                                                 128); // unused blobs are checked too
                                             m.mutable_blobs(2)->set_size(1);
                                           })),
                InvalidArtifact, "blob 2 [offset 128, size 1] extends past the data section");
  EXPECT_STATUS(
      loadEdited([](schema::Manifest &m) { m.mutable_values(4)->mutable_type()->set_shape(0, 3); }),
      InvalidArtifact, "value 4 (\"b\"): blob 1 holds 48 bytes, but f32[3,3] needs 36");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_values(4)->set_name("w"); }),
                InvalidArtifact, "value 4 (\"w\"): parameter name is also used by value 1");
}

TEST(RuntimeValidation, InitialValuesAndPhases) {
  // A training-state input may start from a blob of its own type; zeros otherwise.
  std::unique_ptr<Session> s = load(rewriteManifest(
      makeMlpArtifact(), [](schema::Manifest &m) { m.mutable_values(0)->set_initial_blob(0); }));
  ASSERT_TRUE(s);
  Tensor init;
  ASSERT_TRUE(s->initialValue("forward", 0, &init).isOk());
  EXPECT_EQ(floats(init), mlpW());
  ASSERT_TRUE(s->initialValue("relu_only", 0, &init).isOk()); // the same value
  EXPECT_EQ(floats(init), mlpW());
  std::unique_ptr<Session> plain = load(makeMlpArtifact());
  ASSERT_TRUE(plain->initialValue("forward", 0, &init).isOk());
  EXPECT_EQ(floats(init), std::vector<float>(8, 0.0f));
  EXPECT_STATUS(plain->initialValue("forward", 1, &init), InvalidArgument, "has 1 inputs");
  EXPECT_STATUS(plain->initialValue("backward", 0, &init), NotFound, "no function 'backward'");

  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_values(0)->set_initial_blob(7); }),
                InvalidArtifact, "value 0 (\"x\"): initial value blob 7 out of range (2 blobs)");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_values(0)->set_initial_blob(1); }),
                InvalidArtifact,
                "value 0 (\"x\"): initial value blob 1 holds 48 bytes, but f32[2,4] needs 32");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_values(4)->set_initial_blob(0); }),
                InvalidArtifact, "value 4 (\"b\"): only function inputs have an initial value");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_functions(0)->mutable_ops(1)->set_phase(static_cast<schema::Phase>(9));
                }),
                InvalidArtifact, "has unknown phase 9");
}

TEST(RuntimeValidation, TrainingRoles) {
  // A state output names the input it becomes, of its type and role.
  auto carried = [](schema::Manifest &m) {
    m.mutable_values(0)->set_role(schema::Value::OPTIMIZER_STATE);
    m.mutable_values(3)->set_role(schema::Value::OPTIMIZER_STATE);
    m.mutable_values(3)->set_updates(0);
  };
  std::unique_ptr<Session> s = load(rewriteManifest(makeMlpArtifact(), carried));
  ASSERT_TRUE(s);
  const FunctionInfo *forward = s->findFunction("forward");
  EXPECT_EQ(forward->inputs[0].role, Role::OptimizerState);
  EXPECT_EQ(forward->outputs[0].role, Role::OptimizerState);
  EXPECT_EQ(forward->outputs[0].updates, 0);
  EXPECT_EQ(forward->outputs[1].role, Role::None);
  EXPECT_EQ(forward->outputs[1].updates, -1);

  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_values(0)->set_role(static_cast<schema::Value::Role>(42));
                }),
                InvalidArtifact, "value 0 (\"x\"): unknown role 42");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_values(3)->set_updates(1); }),
                InvalidArtifact, "updates input 1, but the function has 1");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_values(5)->set_updates(0); }),
                InvalidArtifact, "which differs in type or role");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_values(3)->set_role(schema::Value::OPTIMIZER_STATE);
                  m.mutable_values(3)->set_updates(0);
                }),
                InvalidArtifact, "which differs in type or role");
}

TEST(RuntimeValidation, Arena) {
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_values(3)->set_arena_offset(32); }),
                InvalidArtifact, "value 3 (\"y\"): arena offset 32 is not a multiple of 64");
  EXPECT_STATUS(
      loadEdited([](schema::Manifest &m) { m.mutable_values(5)->set_arena_offset(192); }),
      InvalidArtifact,
      "value 5 (\"z\"): arena range [offset 192, size 24] extends past the arena (192 bytes)");
  EXPECT_STATUS(
      loadEdited([](schema::Manifest &m) { m.mutable_values(5)->set_arena_offset(~uint64_t(63)); }),
      InvalidArtifact, "extends past the arena");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.set_arena_size(100); }), InvalidArtifact,
                "extends past the arena (100 bytes)");
}

TEST(RuntimeValidation, Functions) {
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.clear_functions(); }), InvalidArtifact,
                "the artifact has no functions");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_functions(1)->set_name(""); }),
                InvalidArtifact, "function 1 has no name");
  EXPECT_STATUS(
      loadEdited([](schema::Manifest &m) { m.mutable_functions(1)->set_name("forward"); }),
      InvalidArtifact, "two functions are named \"forward\"");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_functions(0)->set_inputs(0, 9); }),
                InvalidArtifact,
                "function \"forward\" input 0: value index 9 out of range (6 values)");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_functions(0)->set_inputs(0, 1); }),
                InvalidArtifact, "input 0 is value 1 (\"w\"), whose storage is not `input`");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_values(0)->set_input(1); }),
                InvalidArtifact, "input 0 is value 0 (\"x\"), whose input ordinal is 1");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.mutable_functions(0)->add_outputs(6); }),
                InvalidArtifact, "function \"forward\" output 2: value index 6 out of range");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_functions(1)->add_outputs(5); // z: written only by forward
                }),
                InvalidArtifact,
                "function \"relu_only\" output 1 (value 5 (\"z\")) is never written");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  addValue(m, DType::F32, {2, 4}, "x2")->set_input(1);
                  m.mutable_functions(1)->add_outputs(6);
                }),
                InvalidArtifact, "output 1 is value 6 (\"x2\"), an input it does not take");
}

TEST(RuntimeValidation, Ops) {
  EXPECT_STATUS(
      loadEdited([](schema::Manifest &m) { m.mutable_functions(0)->mutable_ops(1)->set_kind(""); }),
      InvalidArtifact, "function \"forward\" op 1 (node \"Relu_1\") has no kind");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_functions(0)->mutable_ops(2)->set_inputs(1, 60);
                }),
                InvalidArtifact,
                "function \"forward\" op 2 \"matmul\" (node \"MatMul_2\") operand 1: value index "
                "60 out of range (6 values)");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_functions(0)->mutable_ops(0)->set_outputs(0, 60);
                }),
                InvalidArtifact, "result 0: value index 60 out of range");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_functions(0)->mutable_ops(0)->set_inputs(0, 3); // y before relu
                }),
                InvalidArtifact,
                "op 0 \"add\" (node \"Add_0\") reads value 3 (\"y\") before any op writes it");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_functions(0)->mutable_ops(0)->set_outputs(0, 1);
                }),
                InvalidArtifact, "writes value 1 (\"w\"), which is a blob, not an arena value");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_functions(0)->mutable_ops(0)->set_outputs(0, 0);
                }),
                InvalidArtifact, "writes value 0 (\"x\"), which is a function input");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  addValue(m, DType::F32, {2, 4}, "other")->set_input(1);
                  m.mutable_functions(1)->mutable_ops(0)->set_inputs(0, 6);
                }),
                InvalidArtifact,
                "reads value 6 (\"other\"), an input that function \"relu_only\" does not take");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  (*m.mutable_functions(0)->mutable_ops(0)->mutable_attrs())["alpha"];
                }),
                InvalidArtifact, "op 0 \"add\" (node \"Add_0\") attribute \"alpha\": has no value");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) {
                  m.mutable_functions(0)->mutable_ops(2)->set_kind("frobnicate");
                }),
                Unimplemented,
                "function 'forward' op 2 'frobnicate' (node \"MatMul_2\"): the cpu backend has no "
                "kernel for 'frobnicate'");
  EXPECT_STATUS(loadEdited([](schema::Manifest &m) { m.set_target(""); }), InvalidArtifact,
                "names no target");
}

TEST(RuntimeValidation, NamesAreEscaped) {
  Status st = loadEdited([](schema::Manifest &m) {
    m.mutable_values(2)->set_name(std::string("a\"\n\x01", 4) + std::string(200, 'n'));
    m.mutable_values(2)->clear_storage();
  });
  EXPECT_EQ(st.code(), StatusCode::InvalidArtifact);
  EXPECT_NE(st.message().find("value 2 (\"a\\\"\\x0a\\x01nnn"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("...\")"), std::string::npos) << st.message();
}

} // namespace
