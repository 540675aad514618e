//===- TrainingSessionTest.cpp - training sessions on the MLP, via the C API -===//
//
// precis_training_session_* (and so precis::rt::TrainingSession under it): an AdamW artifact compiled at test time (`precis compile --train`), trained for
// five steps on rows [8i, 8i+8) of examples/mlp/data.npz: the losses match PyTorch's
// (examples/mlp/reference_losses.json), and a run resumed from a checkpoint written after
// step 3 reproduces steps 4 and 5 bit for bit.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Training.h"
#include "precis/runtime/precis.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "gtest/gtest.h"

#include <cmath>
#include <cstring>

namespace {

using precis::rt::Status;

class TrainingSessionTest : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("training-session", dir));
    artifact = (dir + "/mlp.precis").str();
    std::string error;
    llvm::StringRef args[] = {PRECIS_BINARY, "compile", PRECIS_EXAMPLES_DIR "/mlp/model.onnx",
                              "-o", artifact, "--train", "--optimizer", "adamw"};
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
    Status s = precis::rt::Dataset::open(PRECIS_EXAMPLES_DIR "/mlp/data.npz",
                                         {{"x", precis::rt::DType::F32, {8, 32}},
                                          {"y", precis::rt::DType::I64, {8}}},
                                         &data);
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

} // namespace
