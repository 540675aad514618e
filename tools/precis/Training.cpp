//===- Training.cpp - data batches and checkpoints for `precis train` -----===//
//
// See Training.h. Checkpoints are ordinary .npz files (np.load reads them); the checksum
// entry makes a flipped bit or a truncated copy an error instead of a silently different run.
//
//===----------------------------------------------------------------------===//

#include "Training.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace precis::train {

using rt::Status;

static std::string typeOf(const rt::Tensor &t) { return rt::typeString(t.dtype, t.shape); }

Status Dataset::open(const std::string &path, const std::vector<rt::TensorInfo> &inputs,
                     Dataset *out) {
  std::vector<rt::NamedTensor> named;
  PRECIS_RETURN_IF_ERROR(rt::readNpz(path, &named));
  Dataset data;
  data.inputs_ = inputs;
  for (const rt::TensorInfo &in : inputs) {
    auto it = std::find_if(named.begin(), named.end(),
                           [&](const rt::NamedTensor &t) { return t.name == in.name; });
    if (it == named.end()) {
      std::string have;
      for (const rt::NamedTensor &t : named)
        have += (have.empty() ? "" : ", ") + t.name;
      return rt::invalidArgument(path + " has no array '" + in.name + "' for the model input '" +
                                 in.name + "' (" + rt::typeString(in.dtype, in.shape) +
                                 "); it has: " + (have.empty() ? "nothing" : have));
    }
    const rt::Tensor &a = it->tensor;
    if (in.shape.empty())
      return rt::invalidArgument("model input '" + in.name +
                                 "' is a scalar; it has no batch "
                                 "dimension to feed rows of " +
                                 path + " into");
    bool sameRow = a.dtype == in.dtype && a.shape.size() == in.shape.size() &&
                   std::equal(in.shape.begin() + 1, in.shape.end(), a.shape.begin() + 1);
    if (!sameRow)
      return rt::invalidArgument(
          path + ": array '" + in.name + "' is " + typeOf(a) + "; the model input needs rows of " +
          rt::typeString(in.dtype, std::vector<int64_t>(in.shape.begin() + 1, in.shape.end())));
    if (!data.arrays_.empty() && a.shape[0] != data.rows_)
      return rt::invalidArgument(path + ": array '" + in.name + "' has " +
                                 std::to_string(a.shape[0]) + " rows, '" + inputs[0].name +
                                 "' has " + std::to_string(data.rows_));
    data.rows_ = a.shape[0];
    data.batchSize_ = in.shape[0];
    data.arrays_.push_back(a);
  }
  if (data.rows_ < data.batchSize_)
    return rt::invalidArgument("batch size " + std::to_string(data.batchSize_) +
                               " is larger than the " + std::to_string(data.rows_) + " rows of " +
                               path);
  data.order_.resize(static_cast<size_t>(data.rows_));
  for (int64_t i = 0; i < data.rows_; ++i)
    data.order_[i] = i;
  *out = std::move(data);
  return Status::ok();
}

void Dataset::shuffle(uint64_t seed) {
  uint64_t state = seed;
  auto next = [&] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  for (int64_t i = rows_ - 1; i > 0; --i)
    std::swap(order_[i], order_[next() % static_cast<uint64_t>(i + 1)]);
}

void Dataset::batch(int64_t index, std::vector<rt::Tensor> *out) const {
  out->resize(arrays_.size());
  for (size_t k = 0; k < arrays_.size(); ++k) {
    const rt::Tensor &a = arrays_[k];
    rt::Tensor &t = (*out)[k];
    t.dtype = inputs_[k].dtype;
    t.shape = inputs_[k].shape;
    t.data.resize(t.view().byteSize());
    const size_t rowBytes = t.data.size() / static_cast<size_t>(batchSize_);
    for (int64_t r = 0; r < batchSize_; ++r) {
      int64_t row = order_[static_cast<size_t>((index * batchSize_ + r) % rows_)];
      std::memcpy(t.data.data() + r * rowBytes, a.data.data() + row * rowBytes, rowBytes);
    }
  }
}

uint64_t checksum(const std::vector<rt::NamedTensor> &arrays) {
  uint64_t h = 0xCBF29CE484222325ull;
  auto mix = [&](const void *p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      h ^= static_cast<const uint8_t *>(p)[i];
      h *= 0x100000001B3ull;
    }
  };
  for (const rt::NamedTensor &a : arrays) {
    mix(a.name.data(), a.name.size());
    int32_t dtype = static_cast<int32_t>(a.tensor.dtype);
    uint64_t rank = a.tensor.shape.size();
    mix(&dtype, sizeof dtype);
    mix(&rank, sizeof rank);
    mix(a.tensor.shape.data(), rank * sizeof(int64_t));
    mix(a.tensor.data.data(), a.tensor.data.size());
  }
  return h;
}

static constexpr const char *kChecksumName = "checksum";

static Status syncPath(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return rt::ioError("cannot open '" + path + "' to sync it");
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::ok() : rt::ioError("cannot sync '" + path + "'");
}

Status writeCheckpoint(const std::string &dir, int64_t step,
                       const std::vector<rt::NamedTensor> &arrays, std::string *path) {
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return rt::ioError("cannot create '" + dir + "': " + ec.message());
  uint64_t sum = checksum(arrays);
  rt::Tensor sumTensor{rt::DType::I64, {1}, std::vector<uint8_t>(8)};
  std::memcpy(sumTensor.data.data(), &sum, 8);
  std::vector<std::pair<std::string, rt::TensorView>> entries;
  for (const rt::NamedTensor &a : arrays)
    entries.emplace_back(a.name, a.tensor.view());
  entries.emplace_back(kChecksumName, sumTensor.view());
  std::string bytes;
  PRECIS_RETURN_IF_ERROR(rt::serializeNpz(entries, &bytes));

  llvm::SmallString<256> final(dir);
  llvm::sys::path::append(final, llvm::formatv("step-{0:d8}.npz", step).str());
  llvm::SmallString<256> model(dir);
  llvm::sys::path::append(model, ".tmp-%%%%%%.npz");
  llvm::Expected<llvm::sys::fs::TempFile> temp = llvm::sys::fs::TempFile::create(model);
  if (!temp)
    return rt::ioError("cannot create a checkpoint in '" + dir +
                       "': " + llvm::toString(temp.takeError()));
  bool ok;
  {
    llvm::raw_fd_ostream os(temp->FD, /*shouldClose=*/false);
    os << bytes;
    os.flush();
    ok = !os.has_error() && ::fsync(temp->FD) == 0;
    os.clear_error();
  }
  if (!ok) {
    llvm::consumeError(temp->discard());
    return rt::ioError("cannot write a checkpoint in '" + dir + "'");
  }
  if (llvm::Error err = temp->keep(final))
    return rt::ioError("cannot write '" + final.str().str() +
                       "': " + llvm::toString(std::move(err)));
  PRECIS_RETURN_IF_ERROR(syncPath(dir));
  *path = final.str().str();
  return Status::ok();
}

/// Reads `file` and verifies its checksum entry.
static Status readCheckpointFile(const std::string &file, std::vector<rt::NamedTensor> *arrays,
                                 std::string *path) {
  *path = file;
  std::vector<rt::NamedTensor> named;
  if (Status s = rt::readNpz(*path, &named); !s)
    return rt::invalidArgument("damaged checkpoint " + s.message());
  if (named.empty() || named.back().name != kChecksumName ||
      named.back().tensor.dtype != rt::DType::I64 || named.back().tensor.data.size() != 8)
    return rt::invalidArgument("damaged checkpoint " + *path + ": no checksum entry");
  uint64_t stored;
  std::memcpy(&stored, named.back().tensor.data.data(), 8);
  named.pop_back();
  if (checksum(named) != stored)
    return rt::invalidArgument("damaged checkpoint " + *path +
                               ": checksum mismatch (the file was modified or corrupted)");
  *arrays = std::move(named);
  return Status::ok();
}

Status readLatestCheckpoint(const std::string &dir, std::vector<rt::NamedTensor> *arrays,
                            std::string *path) {
  std::error_code ec;
  std::string latest;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec)) {
    llvm::StringRef name = llvm::sys::path::filename(it->path());
    if (name.starts_with("step-") && name.ends_with(".npz") && name > latest)
      latest = name.str(); // zero-padded: the largest name is the latest step
  }
  if (ec)
    return rt::ioError("cannot read '" + dir + "': " + ec.message());
  if (latest.empty())
    return rt::notFound("no checkpoint (step-*.npz) in '" + dir + "'");
  llvm::SmallString<256> file(dir);
  llvm::sys::path::append(file, latest);
  return readCheckpointFile(file.str().str(), arrays, path);
}

Status readCheckpoint(const std::string &pathOrDir, std::vector<rt::NamedTensor> *arrays,
                      std::string *path) {
  if (llvm::sys::fs::is_directory(pathOrDir))
    return readLatestCheckpoint(pathOrDir, arrays, path);
  if (!llvm::sys::fs::exists(pathOrDir))
    return rt::notFound("no checkpoint '" + pathOrDir + "'");
  return readCheckpointFile(pathOrDir, arrays, path);
}

bool isTrainingState(const std::string &name) {
  llvm::StringRef n(name);
  return n == "step" || n == "data_cursor" || n == "shuffle_seed" ||
         n.ends_with(".momentum_buffer") || n.ends_with(".exp_avg") || n.ends_with(".exp_avg_sq");
}

} // namespace precis::train
