//===- TrainingSessionTest.cpp - training sessions on the MLP, via the C API -===//
//
// precis_training_session_* (and so precis::rt::TrainingSession under it): an AdamW artifact
// compiled at test time (`precis compile --train`), trained for five steps on rows [8i, 8i+8)
// of examples/mlp/data.npz: the losses match PyTorch's (examples/mlp/reference_losses.json),
// and a run resumed from a checkpoint written after step 3 reproduces steps 4 and 5 bit for
// bit. And the checkpoints of `precis train`, `precis-rt train` and the C API resume in each
// other. And precis_training_session_set_dropout_seed reseeds a precompiled artifact's dropout.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Training.h"
#include "precis/runtime/precis.h"

#include "RuntimeTestUtil.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

namespace {

using precis::rt::Status;

class TrainingSessionTest : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("training-session", dir));
    artifact = (dir + "/mlp.precis").str();
    std::string error;
    llvm::StringRef args[] = {PRECIS_BINARY, "compile", PRECIS_EXAMPLES_DIR "/mlp/model.onnx",
                              "-o",          artifact,  "--train",
                              "--optimizer", "adamw"};
    ASSERT_EQ(llvm::sys::ExecuteAndWait(PRECIS_BINARY, args, std::nullopt, {}, 0, 0, &error), 0)
        << error;
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }

  precis_training_session_t *open() {
    precis_training_session_t *ts = nullptr;
    precis_status_t st = precis_training_session_create_from_file(artifact.c_str(), nullptr, &ts);
    EXPECT_EQ(st, nullptr) << precis_status_message(st);
    precis_status_free(st);
    return ts;
  }

  /// Runs steps [first, last] (1-based) on rows [8(step-1), 8 step) through the C API and
  /// returns their losses.
  std::vector<float> train(precis_training_session_t *ts, int first, int last) {
    precis::rt::Dataset data;
    Status s = precis::rt::Dataset::open(
        PRECIS_EXAMPLES_DIR "/mlp/data.npz",
        {{"x", precis::rt::DType::F32, {8, 32}}, {"y", precis::rt::DType::I64, {8}}}, &data);
    EXPECT_TRUE(s.isOk()) << s.message();
    std::vector<float> losses;
    for (int step = first; step <= last; ++step) {
      std::vector<precis::rt::Tensor> batch;
      data.batch(step - 1, &batch);
      // Given in reverse order: the C API matches batch inputs by name.
      const char *names[] = {"y", "x"};
      precis_tensor_t inputs[2];
      for (int i = 0; i < 2; ++i) {
        precis::rt::Tensor &t = batch[1 - i];
        inputs[i] = {static_cast<precis_dtype_t>(t.dtype), t.shape.size(), t.shape.data(),
                     t.data.data(), t.data.size()};
      }
      float loss = NAN;
      precis_status_t st = precis_training_session_step(ts, names, inputs, 2, 1e-3f, &loss);
      EXPECT_EQ(st, nullptr) << precis_status_message(st);
      precis_status_free(st);
      losses.push_back(loss);
    }
    return losses;
  }

  llvm::SmallString<128> dir;
  std::string artifact;
};

/// The losses of a `--log` file, in order.
std::vector<float> logLosses(const std::string &path) {
  std::vector<float> losses;
  auto buffer = llvm::MemoryBuffer::getFile(path);
  EXPECT_TRUE(bool(buffer)) << path;
  if (!buffer)
    return losses;
  llvm::SmallVector<llvm::StringRef> lines;
  (*buffer)->getBuffer().split(lines, '\n', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef line : lines) {
    llvm::Expected<llvm::json::Value> entry = llvm::json::parse(line);
    EXPECT_TRUE(bool(entry)) << line.str();
    if (!entry) {
      llvm::consumeError(entry.takeError());
      continue;
    }
    losses.push_back(static_cast<float>(*entry->getAsObject()->getNumber("loss")));
  }
  return losses;
}

/// Runs `binary` with `args`; its exit code.
int runTool(llvm::StringRef binary, std::vector<std::string> args) {
  std::vector<llvm::StringRef> argv{binary};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string error;
  int rc = llvm::sys::ExecuteAndWait(binary, argv, std::nullopt, {}, 0, 0, &error);
  EXPECT_EQ(rc, 0) << binary.str() << ": " << error;
  return rc;
}

uint32_t bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}

TEST_F(TrainingSessionTest, MatchesPyTorchAndResumesBitIdentically) {
  auto buffer = llvm::MemoryBuffer::getFile(PRECIS_EXAMPLES_DIR "/mlp/reference_losses.json");
  ASSERT_TRUE(buffer);
  llvm::Expected<llvm::json::Value> reference = llvm::json::parse((*buffer)->getBuffer());
  ASSERT_TRUE(bool(reference));
  const llvm::json::Array *expected = reference->getAsObject()->getArray("adamw");
  ASSERT_TRUE(expected && expected->size() >= 5);

  precis_training_session_t *straight = open();
  ASSERT_TRUE(straight);
  std::vector<float> losses = train(straight, 1, 5);
  ASSERT_EQ(losses.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    double want = *(*expected)[i].getAsNumber();
    EXPECT_NEAR(losses[i], want, 1e-4 * std::abs(want)) << "step " << i + 1;
  }

  precis_training_session_t *first = open(), *resumed = open();
  ASSERT_TRUE(first && resumed);
  train(first, 1, 3);
  std::string ckpt = (dir + "/ckpt").str();
  precis_status_t st = precis_training_session_save_checkpoint(first, ckpt.c_str());
  ASSERT_EQ(st, nullptr) << precis_status_message(st);
  std::string file = ckpt + "/step-00000003.npz";
  st = precis_training_session_load_checkpoint(resumed, file.c_str());
  ASSERT_EQ(st, nullptr) << precis_status_message(st);
  std::vector<float> tail = train(resumed, 4, 5);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(bits(tail[0]), bits(losses[3]));
  EXPECT_EQ(bits(tail[1]), bits(losses[4]));

  // Parameters by ONNX name: the two runs agree, and set_parameter writes what get_parameter
  // reads.
  precis_tensor_t *a = nullptr, *b = nullptr;
  ASSERT_EQ(precis_training_session_get_parameter(straight, "fc1.weight", &a), nullptr);
  ASSERT_EQ(precis_training_session_get_parameter(resumed, "fc1.weight", &b), nullptr);
  ASSERT_EQ(a->byte_size, b->byte_size);
  EXPECT_EQ(std::memcmp(a->data, b->data, a->byte_size), 0);
  precis_tensors_free(b, 1);
  st = precis_training_session_get_parameter(first, "x", &b);
  EXPECT_EQ(precis_status_code(st), PRECIS_NOT_FOUND);
  precis_status_free(st);
  ASSERT_EQ(precis_training_session_set_parameter(first, "fc1.weight", a), nullptr);
  ASSERT_EQ(precis_training_session_get_parameter(first, "fc1.weight", &b), nullptr);
  EXPECT_EQ(std::memcmp(a->data, b->data, a->byte_size), 0);
  precis_tensors_free(a, 1);
  precis_tensors_free(b, 1);

  // A file that is not a checkpoint is refused, and leaves the session as it was.
  st = precis_training_session_load_checkpoint(resumed, artifact.c_str());
  EXPECT_NE(st, nullptr);
  precis_status_free(st);

  precis_training_session_release(straight);
  precis_training_session_release(first);
  precis_training_session_release(resumed);
}

// The loop knows the step's inputs by the roles the artifact records; an artifact written
// before roles existed still loads as a Session, but training it asks for a recompile.
TEST_F(TrainingSessionTest, TrainingNeedsRoles) {
  auto buffer = llvm::MemoryBuffer::getFile(artifact);
  ASSERT_TRUE(bool(buffer));
  const std::string roleless = precis::rt::testing::rewriteManifest(
      (*buffer)->getBuffer().str(), [](precis::schema::Manifest &m) {
        for (precis::schema::Value &v : *m.mutable_values()) {
          v.clear_role();
          v.clear_updates();
        }
      });
  std::unique_ptr<precis::rt::Session> session;
  Status s = precis::rt::Session::createFromMemory(roleless.data(), roleless.size(), {}, &session);
  ASSERT_TRUE(s.isOk()) << s.message();
  std::unique_ptr<precis::rt::TrainingSession> ts;
  s = precis::rt::TrainingSession::createFromMemory(roleless.data(), roleless.size(), {}, &ts);
  EXPECT_EQ(s.code(), precis::rt::StatusCode::InvalidArgument);
  EXPECT_NE(s.message().find("has no training role"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("compile it again"), std::string::npos) << s.message();
}

// The compiler places each optimizer update of a parameter or its state after every other
// activation of the arena (the CPU runtime computes those in the caller's state, so that end
// of the arena stays untouched in a training loop).
TEST_F(TrainingSessionTest, OptimizerUpdatesArePlannedLast) {
  auto buffer = llvm::MemoryBuffer::getFile(artifact);
  ASSERT_TRUE(bool(buffer));
  precis::schema::Manifest m;
  (void)precis::rt::testing::rewriteManifest((*buffer)->getBuffer().str(),
                                             [&](precis::schema::Manifest &in) { m = in; });
  auto bytes = [&](const precis::schema::Value &v) {
    precis::rt::TensorView t{
        nullptr, static_cast<precis::rt::DType>(v.type().dtype()),
        std::vector<int64_t>(v.type().shape().begin(), v.type().shape().end())};
    return static_cast<uint64_t>(t.byteSize());
  };
  std::set<uint32_t> updates;
  for (const precis::schema::Function &f : m.functions()) {
    if (f.name() != "train_step")
      continue;
    for (const precis::schema::Op &op : f.ops())
      if (op.kind() == "adam_update")
        for (uint32_t out : op.outputs())
          if (std::count(f.outputs().begin(), f.outputs().end(), out))
            updates.insert(out);
  }
  ASSERT_EQ(updates.size(), 18u); // the MLP's 6 parameters, each with 2 moments
  uint64_t othersEnd = 0, updatesBegin = UINT64_MAX;
  for (int i = 0; i < m.values_size(); ++i) {
    const precis::schema::Value &v = m.values(i);
    if (!v.has_arena_offset())
      continue;
    if (updates.count(static_cast<uint32_t>(i)))
      updatesBegin = std::min(updatesBegin, v.arena_offset());
    else
      othersEnd = std::max(othersEnd, v.arena_offset() + bytes(v));
  }
  EXPECT_GE(updatesBegin, othersEnd);
}

// One training loop, one checkpoint format: a run handed from `precis train` to `precis-rt
// train` to the C API and back to `precis train`, checkpoint by checkpoint, shuffled, takes
// the same batches and reproduces an uninterrupted run's losses bit for bit.
TEST_F(TrainingSessionTest, EveryToolResumesEveryOthersCheckpoints) {
  const std::string data = PRECIS_EXAMPLES_DIR "/mlp/data.npz";
  const std::string common[] = {"--data", data, "--lr", "0.001"};
  auto args = [&](std::vector<std::string> extra) {
    std::vector<std::string> all{artifact};
    all.insert(all.end(), std::begin(common), std::end(common));
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  };
  auto train = [&](const char *tool, std::vector<std::string> extra) {
    std::vector<std::string> all = args(extra);
    all.insert(all.begin(), "train");
    return runTool(tool, all);
  };
  const std::string straight = (dir + "/straight.jsonl").str();
  ASSERT_EQ(train(PRECIS_BINARY,
                  {"--steps", "8", "--shuffle", "7", "--num-threads", "2", "--log", straight}),
            0);
  std::vector<float> expected = logLosses(straight);
  ASSERT_EQ(expected.size(), 8u);

  // Steps 1-2: precis train; 3-4: precis-rt train; 5-6: the C API; 7-8: precis train.
  const std::string a = (dir + "/a").str(), b = (dir + "/b").str();
  const std::string log1 = (dir + "/1.jsonl").str(), log2 = (dir + "/2.jsonl").str(),
                    log4 = (dir + "/4.jsonl").str();
  ASSERT_EQ(train(PRECIS_BINARY, {"--steps", "2", "--shuffle", "7", "--num-threads", "2",
                                  "--checkpoint-dir", a, "--log", log1}),
            0);
  ASSERT_EQ(train(PRECIS_RT_BINARY, {"--steps", "4", "--resume", a, "--log", log2}), 0);

  precis_training_session_t *ts = open();
  ASSERT_TRUE(ts);
  precis_status_t st = precis_training_session_load_checkpoint(ts, a.c_str());
  ASSERT_EQ(st, nullptr) << precis_status_message(st);
  EXPECT_EQ(precis_training_session_data_cursor(ts), 4);
  st = precis_training_session_open_data(ts, data.c_str(), -1);
  ASSERT_EQ(st, nullptr) << precis_status_message(st);
  std::vector<float> losses = logLosses(log1);
  for (float l : logLosses(log2))
    losses.push_back(l);
  for (int i = 0; i < 2; ++i) {
    float loss = NAN;
    st = precis_training_session_step_next(ts, 1e-3f, &loss);
    ASSERT_EQ(st, nullptr) << precis_status_message(st);
    losses.push_back(loss);
  }
  st = precis_training_session_save_checkpoint(ts, b.c_str());
  ASSERT_EQ(st, nullptr) << precis_status_message(st);
  precis_training_session_release(ts);

  ASSERT_EQ(
      train(PRECIS_BINARY, {"--steps", "8", "--resume", b, "--num-threads", "2", "--log", log4}),
      0);
  for (float l : logLosses(log4))
    losses.push_back(l);
  ASSERT_EQ(losses.size(), expected.size());
  for (size_t i = 0; i < losses.size(); ++i)
    EXPECT_EQ(bits(losses[i]), bits(expected[i])) << "step " << i + 1;
  EXPECT_TRUE(llvm::sys::fs::exists(b + "/step-00000008.npz"));
}

// precis_training_session_set_dropout_seed: an artifact compiled with --seed 5 and reseeded
// to 6 trains as one compiled with --seed 6 does, bit for bit; the same seed reproduces the
// losses, another seed changes them; a step without dropout has no seed to set.
TEST_F(TrainingSessionTest, SetDropoutSeed) {
  const std::string model = PRECIS_EXAMPLES_DIR "/../test/e2e/Inputs/dropout-mlp.onnxtxt";
  const std::string data = PRECIS_EXAMPLES_DIR "/../test/e2e/Inputs/dropout-data.npz";
  auto compile = [&](const char *seed) {
    std::string out = (dir + "/dropout-" + seed + ".precis").str();
    EXPECT_EQ(runTool(PRECIS_BINARY, {"compile", model, "-o", out, "--train", "--seed", seed}), 0);
    return out;
  };
  const std::string seed5 = compile("5"), seed6 = compile("6");
  auto losses = [&](const std::string &path, int64_t seed) {
    precis_training_session_t *ts = nullptr;
    precis_status_t st = precis_training_session_create_from_file(path.c_str(), nullptr, &ts);
    EXPECT_EQ(st, nullptr) << precis_status_message(st);
    std::vector<float> out;
    if (!ts)
      return out;
    if (seed >= 0) {
      st = precis_training_session_set_dropout_seed(ts, static_cast<uint64_t>(seed));
      EXPECT_EQ(st, nullptr) << precis_status_message(st);
    }
    st = precis_training_session_open_data(ts, data.c_str(), -1);
    EXPECT_EQ(st, nullptr) << precis_status_message(st);
    for (int i = 0; i < 4; ++i) {
      float loss = NAN;
      st = precis_training_session_step_next(ts, 0.01f, &loss);
      EXPECT_EQ(st, nullptr) << precis_status_message(st);
      out.push_back(loss);
    }
    precis_training_session_release(ts);
    return out;
  };
  std::vector<float> compiled6 = losses(seed6, -1), reseeded6 = losses(seed5, 6),
                     again6 = losses(seed5, 6), compiled5 = losses(seed5, -1);
  ASSERT_EQ(compiled6.size(), 4u);
  ASSERT_EQ(reseeded6.size(), 4u);
  ASSERT_EQ(compiled5.size(), 4u);
  for (size_t i = 0; i < compiled6.size(); ++i) {
    EXPECT_EQ(bits(reseeded6[i]), bits(compiled6[i])) << "step " << i + 1;
    EXPECT_EQ(bits(again6[i]), bits(reseeded6[i])) << "step " << i + 1;
    EXPECT_NE(bits(compiled5[i]), bits(compiled6[i])) << "step " << i + 1;
  }

  precis_training_session_t *mlp = open();
  ASSERT_TRUE(mlp);
  precis_status_t st = precis_training_session_set_dropout_seed(mlp, 1);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(precis_status_code(st), PRECIS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(precis_status_message(st)).find("no dropout seed"), std::string::npos)
      << precis_status_message(st);
  precis_status_free(st);
  st = precis_training_session_set_dropout_seed(nullptr, 1);
  EXPECT_NE(st, nullptr);
  precis_status_free(st);
  precis_training_session_release(mlp);
}

} // namespace
