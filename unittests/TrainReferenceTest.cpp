//===- TrainReferenceTest.cpp - `precis train` against PyTorch's losses ----===//
//
// For every example and optimizer, runs `precis train` for 40 steps (batches of 8 rows in
// order) and compares its per-step losses with the ones PyTorch recorded from the same initial
// weights and batches (examples/<model>/reference_losses.json, written by
// scripts/torch_reference_losses.py; CI has no torch). Tolerance: 1e-4 relative per step, with
// an absolute floor of 1e-6 for losses that have reached zero. The model zoo's committed
// subset (test/models/<family>-<exporter>/, written by scripts/model-zoo --write-tests) runs
// the same comparison: 10 AdamW steps of 2 rows, within 1e-5 relative per step.
//
// The same runs with --precision bf16, fp16 and fp8 must end close to PyTorch's fp32 final
// loss: within 2 % (bf16, fp16) or 5 % (fp8) relative. fp16 runs with dynamic loss scaling;
// when it skips a step (scaled gradients overflowed) the run only has to train (see below). Where
// the fp32 run has converged to (almost) zero — its final loss below 1 % of the first step's — a
// relative comparison of two near-zero numbers says nothing, and the bound is the same fraction of
// the first loss.
//
//===----------------------------------------------------------------------===//

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace {

struct Case {
  const char *model;
  const char *optimizer;
  std::vector<std::string> flags;
  /// Where `model`'s directory is, how long it trains and how close it must stay to PyTorch:
  /// the examples train 40 steps of 8 rows within 1e-4; the model zoo's subset (test/models,
  /// written by scripts/model-zoo --write-tests) trains 10 steps of 2 rows within 1e-5.
  std::string root = PRECIS_EXAMPLES_DIR;
  int steps = 40;
  int batch = 8;
  double tolerance = 1e-4;
};

void PrintTo(const Case &c, std::ostream *os) { *os << c.model << " " << c.optimizer; }

std::string caseName(const ::testing::TestParamInfo<Case> &info) {
  std::string name = std::string(info.param.model) + "_" + info.param.optimizer;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

/// The whole file as JSON; a failed expectation and null if it is missing or malformed.
std::optional<llvm::json::Value> readJson(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    ADD_FAILURE() << "cannot read " << path;
    return std::nullopt;
  }
  llvm::Expected<llvm::json::Value> value = llvm::json::parse((*buffer)->getBuffer());
  if (!value) {
    ADD_FAILURE() << path << ": " << llvm::toString(value.takeError());
    return std::nullopt;
  }
  return std::move(*value);
}

/// Runs `precis train` on a model for `c.steps` steps of `c.batch` rows with `flags`; the per-step
/// losses (and, when `scales` is given, the loss scale of each step, 0 without loss scaling), or a
/// failed expectation and an empty vector.
std::vector<double> trainLosses(const Case &c, const std::vector<std::string> &extra,
                                std::vector<double> *scales = nullptr) {
  const std::string dir = c.root + "/" + c.model;
  llvm::SmallString<128> log;
  if (llvm::sys::fs::createTemporaryFile("train-reference", "jsonl", log)) {
    ADD_FAILURE() << "cannot create a temporary file";
    return {};
  }
  std::vector<std::string> argv = {PRECIS_BINARY,
                                   "train",
                                   dir + "/model.onnx",
                                   "--data",
                                   dir + "/data.npz",
                                   "--steps",
                                   std::to_string(c.steps),
                                   "--batch-size",
                                   std::to_string(c.batch),
                                   "--optimizer",
                                   c.optimizer,
                                   "--log",
                                   log.str().str()};
  argv.insert(argv.end(), c.flags.begin(), c.flags.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::vector<llvm::StringRef> args(argv.begin(), argv.end());
  std::string error;
  int rc = llvm::sys::ExecuteAndWait(PRECIS_BINARY, args, std::nullopt, {}, 0, 0, &error);
  std::vector<double> losses;
  auto lines = llvm::MemoryBuffer::getFile(log);
  llvm::sys::fs::remove(log);
  if (rc != 0 || !lines) {
    ADD_FAILURE() << llvm::join(argv, " ") << " failed: " << error;
    return {};
  }
  llvm::SmallVector<llvm::StringRef> rows;
  llvm::StringRef((*lines)->getBuffer()).split(rows, '\n', -1, /*KeepEmpty=*/false);
  for (size_t i = 0; i < rows.size(); ++i) {
    llvm::Expected<llvm::json::Value> row = llvm::json::parse(rows[i]);
    if (!row) {
      ADD_FAILURE() << llvm::toString(row.takeError());
      return {};
    }
    std::optional<double> loss = row->getAsObject()->getNumber("loss");
    std::optional<int64_t> step = row->getAsObject()->getInteger("step");
    if (!loss || !step || *step != static_cast<int64_t>(i + 1)) {
      ADD_FAILURE() << "bad log row " << rows[i].str();
      return {};
    }
    losses.push_back(*loss);
    if (scales)
      scales->push_back(row->getAsObject()->getNumber("loss_scale").value_or(0));
  }
  return losses;
}

/// PyTorch's fp32 losses for `c`.
std::vector<double> referenceLosses(const Case &c) {
  const std::string dir = c.root + "/" + c.model;
  std::optional<llvm::json::Value> reference = readJson(dir + "/reference_losses.json");
  std::vector<double> out;
  if (!reference)
    return out;
  if (const llvm::json::Array *expected = reference->getAsObject()->getArray(c.optimizer))
    for (const llvm::json::Value &v : *expected)
      out.push_back(v.getAsNumber().value_or(NAN));
  return out;
}

class TrainReference : public ::testing::TestWithParam<Case> {};

TEST_P(TrainReference, LossesMatchPyTorch) {
  const Case &c = GetParam();
  std::vector<double> losses = trainLosses(c, {});
  std::vector<double> expected = referenceLosses(c);
  ASSERT_EQ(losses.size(), static_cast<size_t>(c.steps));
  ASSERT_EQ(losses.size(), expected.size());
  for (size_t i = 0; i < losses.size(); ++i)
    EXPECT_LE(std::fabs(losses[i] - expected[i]), c.tolerance * std::fabs(expected[i]) + 1e-6)
        << c.model << " " << c.optimizer << " step " << i + 1 << ": precis " << losses[i]
        << ", torch " << expected[i];
}

class LowPrecisionTrain : public ::testing::TestWithParam<std::tuple<Case, const char *>> {};

TEST_P(LowPrecisionTrain, FinalLossCloseToFp32) {
  const auto &[c, precision] = GetParam();
  const double tolerance = std::string(precision) == "fp8" ? 0.05 : 0.02;
  std::vector<double> scales;
  std::vector<double> losses = trainLosses(c, {"--precision", precision}, &scales);
  std::vector<double> expected = referenceLosses(c);
  ASSERT_EQ(losses.size(), 40u);
  ASSERT_EQ(expected.size(), 40u);
  for (size_t i = 0; i < losses.size(); ++i)
    ASSERT_TRUE(std::isfinite(losses[i])) << precision << " step " << i + 1;
  // fp16 trains under dynamic loss scaling, which skips a step whose scaled gradients
  // overflow, as torch's GradScaler does. A skipped step puts the run on another trajectory,
  // and on a run as unstable as the CNN's with SGD (lr 0.1, momentum 0.9: its fp32 loss swings
  // between 1e-9 and 2.5) where it ends is then no measure of precision. Such a run must
  // train as the fp32 run does — reach a loss below 1 % of its first — not end where it ends.
  bool skipped = false;
  for (size_t i = 1; i < scales.size(); ++i)
    skipped |= scales[i] < scales[i - 1];
  if (skipped) {
    const double best = *std::min_element(losses.begin(), losses.end());
    const double fp32Best = *std::min_element(expected.begin(), expected.end());
    EXPECT_LT(best, 0.01 * losses.front())
        << c.model << " " << c.optimizer << " " << precision
        << ": with skipped steps the run did not train (fp32 reaches " << fp32Best << ")";
    return;
  }
  const double want = expected.back(), got = losses.back();
  const double scale = want < 0.01 * expected.front() ? expected.front() : want;
  EXPECT_LE(std::fabs(got - want), tolerance * scale)
      << c.model << " " << c.optimizer << " " << precision << ": final loss " << got
      << ", fp32 (PyTorch) " << want;
}

const Case kCases[] = {Case{"mlp", "sgd", {"--lr", "0.1", "--momentum", "0.9"}},
                       Case{"mlp", "adamw", {"--lr", "1e-3"}},
                       Case{"cnn", "sgd", {"--lr", "0.1", "--momentum", "0.9"}},
                       Case{"cnn", "adamw", {"--lr", "1e-3"}},
                       Case{"gpt", "sgd", {"--lr", "0.1", "--momentum", "0.9"}},
                       Case{"gpt", "adamw", {"--lr", "1e-3"}}};

INSTANTIATE_TEST_SUITE_P(Examples, TrainReference, ::testing::ValuesIn(kCases), caseName);

// The model zoo's committed subset (docs/models.md): torchvision and Hugging Face models as
// PyTorch exported them, AdamW(lr=1e-3) against torch.optim.AdamW.
Case zooCase(const char *model) {
  Case c{model, "adamw", {"--lr", "1e-3"}};
  c.root = PRECIS_MODELS_DIR;
  c.steps = 10;
  c.batch = 2;
  c.tolerance = 1e-5;
  return c;
}

INSTANTIATE_TEST_SUITE_P(ModelZoo, TrainReference,
                         ::testing::Values(zooCase("resnet-tiny-torchscript"),
                                           zooCase("gpt2-torchscript"),
                                           zooCase("convnext-dynamo-noopt")),
                         caseName);

INSTANTIATE_TEST_SUITE_P(Examples, LowPrecisionTrain,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::Values("bf16", "fp16", "fp8")),
                         [](const ::testing::TestParamInfo<std::tuple<Case, const char *>> &info) {
                           const Case &c = std::get<0>(info.param);
                           return std::string(c.model) + "_" + c.optimizer + "_" +
                                  std::get<1>(info.param);
                         });

} // namespace
