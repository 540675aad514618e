//===- TrainReferenceTest.cpp - `precis train` against PyTorch's losses ----===//
//
// For every example and optimizer, runs `precis train` for 40 steps (batches of 8 rows in
// order) and compares its per-step losses with the ones PyTorch recorded from the same initial
// weights and batches (examples/<model>/reference_losses.json, written by
// scripts/torch_reference_losses.py; CI has no torch). Tolerance: 1e-4 relative per step, with
// an absolute floor of 1e-6 for losses that have reached zero.
//
//===----------------------------------------------------------------------===//

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "gtest/gtest.h"

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
};

std::string caseName(const ::testing::TestParamInfo<Case> &info) {
  return std::string(info.param.model) + "_" + info.param.optimizer;
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

class TrainReference : public ::testing::TestWithParam<Case> {};

TEST_P(TrainReference, LossesMatchPyTorch) {
  const Case &c = GetParam();
  const std::string dir = std::string(PRECIS_EXAMPLES_DIR) + "/" + c.model;
  llvm::SmallString<128> log;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("train-reference", "jsonl", log));
  std::vector<std::string> argv = {
      PRECIS_BINARY, "train", dir + "/model.onnx", "--data", dir + "/data.npz",
      "--steps",     "40",    "--batch-size",      "8",      "--optimizer",
      c.optimizer,   "--log", log.str().str()};
  argv.insert(argv.end(), c.flags.begin(), c.flags.end());
  std::vector<llvm::StringRef> args(argv.begin(), argv.end());
  std::string error;
  int rc = llvm::sys::ExecuteAndWait(PRECIS_BINARY, args, std::nullopt, {}, 0, 0, &error);
  ASSERT_EQ(rc, 0) << llvm::join(argv, " ") << error;

  std::optional<llvm::json::Value> reference = readJson(dir + "/reference_losses.json");
  ASSERT_TRUE(reference);
  const llvm::json::Array *expected = reference->getAsObject()->getArray(c.optimizer);
  ASSERT_TRUE(expected);
  auto lines = llvm::MemoryBuffer::getFile(log);
  ASSERT_TRUE(lines);
  llvm::SmallVector<llvm::StringRef> rows;
  llvm::StringRef((*lines)->getBuffer()).split(rows, '\n', -1, /*KeepEmpty=*/false);
  ASSERT_EQ(rows.size(), expected->size());
  for (size_t i = 0; i < rows.size(); ++i) {
    llvm::Expected<llvm::json::Value> row = llvm::json::parse(rows[i]);
    ASSERT_TRUE(bool(row)) << llvm::toString(row.takeError());
    std::optional<double> loss = row->getAsObject()->getNumber("loss");
    std::optional<int64_t> step = row->getAsObject()->getInteger("step");
    std::optional<double> want = (*expected)[i].getAsNumber();
    ASSERT_TRUE(loss && step && want);
    EXPECT_EQ(*step, static_cast<int64_t>(i + 1));
    EXPECT_LE(std::fabs(*loss - *want), 1e-4 * std::fabs(*want) + 1e-6)
        << c.model << " " << c.optimizer << " step " << i + 1 << ": precis " << *loss << ", torch "
        << *want;
  }
  llvm::sys::fs::remove(log);
}

INSTANTIATE_TEST_SUITE_P(Examples, TrainReference,
                         ::testing::Values(Case{"mlp", "sgd", {"--lr", "0.1", "--momentum", "0.9"}},
                                           Case{"mlp", "adamw", {"--lr", "1e-3"}},
                                           Case{"cnn", "sgd", {"--lr", "0.1", "--momentum", "0.9"}},
                                           Case{"cnn", "adamw", {"--lr", "1e-3"}},
                                           Case{"gpt", "sgd", {"--lr", "0.1", "--momentum", "0.9"}},
                                           Case{"gpt", "adamw", {"--lr", "1e-3"}}),
                         caseName);

} // namespace
