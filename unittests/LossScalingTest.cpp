//===- LossScalingTest.cpp - precis-loss-scaling trained end to end ---------===//
//
// A linear classifier's training step, compiled with and without precis-loss-scaling and run
// through TrainingSession (so the scale starts from the initial value the artifact records).
// In fp32 a power-of-two scale is exact: every loss and every parameter equals the unscaled
// run's, bit for bit, while the scaler counts clean steps and grows on schedule. A scale so
// large that the scaled gradients overflow skips the step (parameters, optimizer state and
// step counter unchanged) and halves the scale, as torch's GradScaler does.
//
//===----------------------------------------------------------------------===//

#include "CompilerTestUtil.h"

#include "precis/runtime/Training.h"

#include "mlir/Parser/Parser.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"

#include <cstring>

namespace {

using precis::rt::DType;
using precis::rt::Tensor;
using precis::rt::TensorView;
using precis::rt::TrainingSession;

constexpr const char *kModel = R"mlir(
func.func @forward(%x: tensor<4x3xf32> {precis.onnx_name = "x"},
                   %t: tensor<4xi64> {precis.onnx_name = "t"})
    -> (tensor<f32> {precis.onnx_name = "loss"}) {
  %w = precis.parameter "fc.weight" = dense<[[0.5, -0.25, 0.125], [-0.5, 0.75, 0.3]]> : tensor<2x3xf32>
  %b = precis.parameter "fc.bias" = dense<[0.1, -0.2]> : tensor<2xf32>
  %y = precis.gemm %x, %w, %b {transpose_b = true}
      : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %l, %lp = precis.softmax_cross_entropy mean %y, %t
      : (tensor<4x2xf32>, tensor<4xi64>) -> (tensor<f32>, tensor<4x2xf32>)
  return %l : tensor<f32>
}
)mlir";

class LossScalingTest : public ::testing::Test {
protected:
  void SetUp() override { ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("loss-scaling", dir)); }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }

  /// The training step of kModel built by `pipeline`, as a TrainingSession.
  std::unique_ptr<TrainingSession> open(const std::string &pipeline) {
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(kModel, &compiler.context);
    EXPECT_TRUE(module) << compiler.diagnostics;
    mlir::PassManager pm(&compiler.context);
    EXPECT_TRUE(mlir::succeeded(mlir::parsePassPipeline(pipeline, pm))) << pipeline;
    EXPECT_TRUE(mlir::succeeded(pm.run(*module))) << compiler.diagnostics;
    const std::string path = (dir + "/step-" + std::to_string(artifacts++) + ".precis").str();
    EXPECT_TRUE(mlir::succeeded(precis::writeArtifactFile(*module, {}, path)))
        << compiler.diagnostics;
    std::unique_ptr<TrainingSession> session;
    precis::rt::SessionOptions options;
    options.numThreads = 2;
    precis::rt::Status s = TrainingSession::createFromFile(path, options, &session);
    EXPECT_TRUE(s.isOk()) << s.message();
    return session;
  }

  /// Batch `i`: deterministic rows, inputs scaled by `magnitude`.
  static std::vector<Tensor> batch(int i, float magnitude = 1) {
    Tensor x{DType::F32, {4, 3}, std::vector<uint8_t>(48)};
    Tensor t{DType::I64, {4}, std::vector<uint8_t>(32)};
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 3; ++c)
        x.as<float>()[r * 3 + c] =
            magnitude * static_cast<float>(((i * 7 + r * 5 + c * 3) % 11) - 5) / 4;
      t.as<int64_t>()[r] = (i + r) % 2;
    }
    return {x, t};
  }

  static float step(TrainingSession &ts, const std::vector<Tensor> &b, float lr = 0.1f) {
    float loss = 0;
    precis::rt::Status s = ts.step({b[0].view(), b[1].view()}, lr, &loss);
    EXPECT_TRUE(s.isOk()) << s.message();
    return loss;
  }

  static float scalar(const TrainingSession &ts, const std::string &name) {
    Tensor t;
    precis::rt::Status s = ts.getState(name, &t);
    EXPECT_TRUE(s.isOk()) << s.message();
    return s.isOk() ? *t.as<float>() : NAN;
  }

  static std::vector<uint8_t> bytes(const TrainingSession &ts, const std::string &name) {
    Tensor t;
    precis::rt::Status s = ts.getState(name, &t);
    EXPECT_TRUE(s.isOk()) << s.message();
    return t.data;
  }

  precis::testing::TestCompiler compiler;
  llvm::SmallString<128> dir;
  int artifacts = 0;
};

constexpr const char *kAdam = "precis-autodiff,precis-optimizer{optimizer=adam}";

TEST_F(LossScalingTest, PowerOfTwoScaleMatchesTheUnscaledRunBitForBit) {
  std::unique_ptr<TrainingSession> plain = open(kAdam);
  std::unique_ptr<TrainingSession> scaled = open(std::string(kAdam) + ",precis-loss-scaling");
  ASSERT_TRUE(plain && scaled);
  EXPECT_EQ(scalar(*scaled, "loss_scale"), 65536.0f);
  EXPECT_EQ(scalar(*scaled, "loss_scale.growth_tracker"), 0.0f);
  for (int i = 0; i < 6; ++i) {
    const std::vector<Tensor> b = batch(i);
    const float a = step(*plain, b), s = step(*scaled, b);
    EXPECT_EQ(std::memcmp(&a, &s, 4), 0) << "step " << i + 1 << ": " << a << " vs " << s;
  }
  for (const char *name : {"fc.weight", "fc.bias", "fc.weight.exp_avg", "fc.bias.exp_avg_sq"})
    EXPECT_EQ(bytes(*plain, name), bytes(*scaled, name)) << name;
  EXPECT_EQ(scaled->stepCount(), 6);
  EXPECT_EQ(scalar(*scaled, "loss_scale"), 65536.0f);
  EXPECT_EQ(scalar(*scaled, "loss_scale.growth_tracker"), 6.0f);

  // Checkpoints carry the scaler state.
  std::string path;
  ASSERT_TRUE(scaled->saveCheckpoint((dir + "/ckpt").str(), &path).isOk());
  std::vector<precis::rt::NamedTensor> saved;
  ASSERT_TRUE(precis::rt::readCheckpoint(path, &saved, &path).isOk());
  int found = 0;
  for (const precis::rt::NamedTensor &t : saved)
    found += t.name == "loss_scale" || t.name == "loss_scale.growth_tracker";
  EXPECT_EQ(found, 2);
}

TEST_F(LossScalingTest, ScaleGrowsEveryGrowthIntervalCleanSteps) {
  std::unique_ptr<TrainingSession> plain = open("precis-autodiff,precis-optimizer{momentum=0.9}");
  std::unique_ptr<TrainingSession> scaled =
      open("precis-autodiff,precis-optimizer{momentum=0.9},precis-loss-scaling{init-scale=1024 "
           "growth-interval=3 growth-factor=4}");
  ASSERT_TRUE(plain && scaled);
  const float expectedScale[] = {1024, 1024, 4096, 4096, 4096, 16384, 16384};
  const float expectedTracker[] = {1, 2, 0, 1, 2, 0, 1};
  for (int i = 0; i < 7; ++i) {
    const std::vector<Tensor> b = batch(i);
    const float a = step(*plain, b), s = step(*scaled, b);
    EXPECT_EQ(std::memcmp(&a, &s, 4), 0) << "step " << i + 1;
    EXPECT_EQ(scalar(*scaled, "loss_scale"), expectedScale[i]) << "step " << i + 1;
    EXPECT_EQ(scalar(*scaled, "loss_scale.growth_tracker"), expectedTracker[i]) << "step " << i + 1;
  }
  EXPECT_EQ(bytes(*plain, "fc.weight"), bytes(*scaled, "fc.weight"));
  EXPECT_EQ(bytes(*plain, "fc.weight.momentum_buffer"),
            bytes(*scaled, "fc.weight.momentum_buffer"));
}

TEST_F(LossScalingTest, OverflowSkipsTheStepAndHalvesTheScale) {
  std::unique_ptr<TrainingSession> plain = open(kAdam);
  std::unique_ptr<TrainingSession> scaled =
      open(std::string(kAdam) + ",precis-loss-scaling{init-scale=1e38}");
  ASSERT_TRUE(plain && scaled);
  // Inputs of magnitude ~50: the scaled weight gradient (~1e38 * 50 * 4) overflows f32.
  const std::vector<Tensor> b = batch(0, 50);
  const std::vector<uint8_t> w0 = bytes(*scaled, "fc.weight"), bias0 = bytes(*scaled, "fc.bias"),
                             m0 = bytes(*scaled, "fc.weight.exp_avg");
  const float expected = step(*plain, b);
  const float loss = step(*scaled, b);
  EXPECT_EQ(loss, expected); // the loss itself is never scaled
  EXPECT_EQ(bytes(*scaled, "fc.weight"), w0);
  EXPECT_EQ(bytes(*scaled, "fc.bias"), bias0);
  EXPECT_EQ(bytes(*scaled, "fc.weight.exp_avg"), m0);
  EXPECT_EQ(scaled->stepCount(), 0);
  EXPECT_EQ(scalar(*scaled, "loss_scale"), 5e37f);
  EXPECT_EQ(scalar(*scaled, "loss_scale.growth_tracker"), 0.0f);

  // Halving until the gradients fit; then the step runs (and counts as step 1, as in torch,
  // whose optimizer never saw the skipped ones).
  float scale = 5e37f;
  int skipped = 1;
  while (scaled->stepCount() == 0 && skipped < 40) {
    step(*scaled, b);
    if (scaled->stepCount() == 0) {
      scale *= 0.5f;
      ++skipped;
      EXPECT_EQ(scalar(*scaled, "loss_scale"), scale);
    }
  }
  EXPECT_EQ(scaled->stepCount(), 1);
  EXPECT_GT(skipped, 1);
  EXPECT_EQ(scalar(*scaled, "loss_scale"), scale);
  EXPECT_EQ(scalar(*scaled, "loss_scale.growth_tracker"), 1.0f);
  EXPECT_NE(bytes(*scaled, "fc.weight"), w0);
}

} // namespace
