//===- TrainCliTest.cpp - batches and checkpoints of `precis train` --------===//
//
// The runtime-side helpers of the train subcommand (precis/runtime/Training.h): batches wrap
// around the data in order, the shuffle is a fixed permutation, checkpoints round-trip and a
// checkpoint whose arrays no longer match its checksum is refused even when the zip itself is
// intact (the lit test covers a flipped byte, which the zip CRC already catches).
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Training.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "gtest/gtest.h"

#include <algorithm>
#include <numeric>

namespace {

using precis::rt::DType;
using precis::rt::NamedTensor;
using precis::rt::Tensor;

Tensor iota(DType dtype, std::vector<int64_t> shape) {
  Tensor t{dtype, std::move(shape), {}};
  t.data.resize(t.view().byteSize());
  for (int64_t i = 0; i < t.numElements(); ++i) {
    if (dtype == DType::F32)
      t.as<float>()[i] = static_cast<float>(i);
    else
      t.as<int64_t>()[i] = i;
  }
  return t;
}

struct TempDir {
  TempDir() { EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("precis-train", path)); }
  ~TempDir() { llvm::sys::fs::remove_directories(path); }
  std::string file(const std::string &name) const {
    llvm::SmallString<128> p(path);
    llvm::sys::path::append(p, name);
    return p.str().str();
  }
  llvm::SmallString<128> path;
};

/// A dataset of 5 rows: x f32[5,2] = 0..9, y i64[5] = 0..4, fed to inputs of batch 2.
precis::rt::Dataset fiveRows(const TempDir &dir) {
  Tensor x = iota(DType::F32, {5, 2}), y = iota(DType::I64, {5});
  std::string path = dir.file("data.npz");
  EXPECT_TRUE(precis::rt::writeNpz(path, {{"y", y.view()}, {"x", x.view()}}).isOk());
  precis::rt::Dataset data;
  precis::rt::Status s = precis::rt::Dataset::open(
      path, {{"x", DType::F32, {2, 2}}, {"y", DType::I64, {2}}}, &data);
  EXPECT_TRUE(s.isOk()) << s.message();
  return data;
}

TEST(TrainData, BatchesWrapAroundInOrder) {
  TempDir dir;
  precis::rt::Dataset data = fiveRows(dir);
  std::vector<Tensor> batch;
  data.batch(2, &batch); // rows 4, 0
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(batch[1].as<int64_t>()[0], 4);
  EXPECT_EQ(batch[1].as<int64_t>()[1], 0);
  EXPECT_EQ(batch[0].as<float>()[0], 8.0f);
  EXPECT_EQ(batch[0].as<float>()[3], 1.0f);
}

TEST(TrainData, ShuffleIsAFixedPermutation) {
  TempDir dir;
  precis::rt::Dataset a = fiveRows(dir), b = fiveRows(dir);
  a.shuffle(7);
  b.shuffle(7);
  std::vector<int64_t> rowsA, rowsB;
  std::vector<Tensor> batch;
  for (int64_t i = 0; i < 5; ++i) {
    a.batch(i, &batch); // batch i starts at row 2i mod 5: every row once over i = 0..4
    rowsA.push_back(batch[1].as<int64_t>()[0]);
    b.batch(i, &batch);
    rowsB.push_back(batch[1].as<int64_t>()[0]);
  }
  EXPECT_EQ(rowsA, rowsB);
  std::vector<int64_t> sorted = rowsA;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(TrainData, MissingArrayAndShortDataAreErrors) {
  TempDir dir;
  fiveRows(dir);
  precis::rt::Dataset data;
  precis::rt::Status s =
      precis::rt::Dataset::open(dir.file("data.npz"), {{"image", DType::F32, {2, 2}}}, &data);
  EXPECT_NE(s.message().find("has no array 'image'"), std::string::npos) << s.message();
  s = precis::rt::Dataset::open(dir.file("data.npz"), {{"y", DType::I64, {8}}}, &data);
  EXPECT_NE(s.message().find("batch size 8 is larger than the 5 rows"), std::string::npos)
      << s.message();
  s = precis::rt::Dataset::open(dir.file("data.npz"), {{"y", DType::F32, {2}}}, &data);
  EXPECT_NE(s.message().find("array 'y' is i64[5]"), std::string::npos) << s.message();
}

TEST(TrainCheckpoint, RoundTripsAndPicksTheLatest) {
  TempDir dir;
  std::vector<NamedTensor> state = {{"w", iota(DType::F32, {3, 4})},
                                    {"step", iota(DType::F32, {})}};
  std::string path;
  ASSERT_TRUE(precis::rt::writeCheckpoint(dir.path.str().str(), 9, state, &path).isOk());
  state[0].tensor.as<float>()[0] = 42.0f;
  ASSERT_TRUE(precis::rt::writeCheckpoint(dir.path.str().str(), 10, state, &path).isOk());
  EXPECT_EQ(llvm::sys::path::filename(path), "step-00000010.npz");

  std::vector<NamedTensor> loaded;
  std::string loadedPath;
  precis::rt::Status s =
      precis::rt::readLatestCheckpoint(dir.path.str().str(), &loaded, &loadedPath);
  ASSERT_TRUE(s.isOk()) << s.message();
  EXPECT_EQ(loadedPath, path);
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[0].name, "w");
  EXPECT_EQ(loaded[0].tensor.data, state[0].tensor.data);
  EXPECT_EQ(precis::rt::checksum(loaded), precis::rt::checksum(state));
}

TEST(TrainCheckpoint, ChangedArraysAreRefused) {
  TempDir dir;
  std::vector<NamedTensor> state = {{"w", iota(DType::F32, {3, 4})}};
  std::string path;
  ASSERT_TRUE(precis::rt::writeCheckpoint(dir.path.str().str(), 1, state, &path).isOk());
  // Rewrite the archive with one element changed and the old checksum: a valid zip.
  std::vector<NamedTensor> arrays;
  ASSERT_TRUE(precis::rt::readNpz(path, &arrays).isOk());
  arrays[0].tensor.as<float>()[5] += 1.0f;
  std::vector<std::pair<std::string, precis::rt::TensorView>> entries;
  for (const NamedTensor &a : arrays)
    entries.emplace_back(a.name, a.tensor.view());
  ASSERT_TRUE(precis::rt::writeNpz(path, entries).isOk());

  std::vector<NamedTensor> loaded;
  std::string loadedPath;
  precis::rt::Status s =
      precis::rt::readLatestCheckpoint(dir.path.str().str(), &loaded, &loadedPath);
  EXPECT_NE(s.message().find("checksum mismatch"), std::string::npos) << s.message();

  // Without the checksum entry.
  entries.pop_back();
  ASSERT_TRUE(precis::rt::writeNpz(path, entries).isOk());
  s = precis::rt::readLatestCheckpoint(dir.path.str().str(), &loaded, &loadedPath);
  EXPECT_NE(s.message().find("no checksum entry"), std::string::npos) << s.message();

  TempDir empty;
  s = precis::rt::readLatestCheckpoint(empty.path.str().str(), &loaded, &loadedPath);
  EXPECT_NE(s.message().find("no checkpoint"), std::string::npos) << s.message();
}

} // namespace
