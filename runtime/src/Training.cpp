//===- Training.cpp - data batches and checkpoints for training ----------===//
//
// See Training.h. Checkpoints are ordinary .npz files (np.load reads them); the checksum
// entry makes a flipped bit or a truncated copy an error instead of a silently different run.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Training.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>

namespace precis::rt {

namespace fs = std::filesystem;

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
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
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

  char name[32];
  std::snprintf(name, sizeof(name), "step-%08lld.npz", static_cast<long long>(step));
  std::string final = (fs::path(dir) / name).string();
  std::string temp = (fs::path(dir) / ".tmp-XXXXXX.npz").string();
  int fd = ::mkstemps(temp.data(), /*suffixlen=*/4);
  if (fd < 0)
    return rt::ioError("cannot create a checkpoint in '" + dir + "': " + std::strerror(errno));
  bool ok = true;
  for (size_t done = 0; ok && done < bytes.size();) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    ok = n > 0;
    if (ok)
      done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(temp.c_str());
    return rt::ioError("cannot write a checkpoint in '" + dir + "'");
  }
  if (::rename(temp.c_str(), final.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(temp.c_str());
    return rt::ioError("cannot write '" + final + "': " + why);
  }
  PRECIS_RETURN_IF_ERROR(syncPath(dir));
  *path = final;
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

static bool endsWith(const std::string &s, const char *suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

Status readLatestCheckpoint(const std::string &dir, std::vector<rt::NamedTensor> *arrays,
                            std::string *path) {
  std::error_code ec;
  std::string latest;
  for (fs::directory_iterator it(dir, ec), end; it != end && !ec; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind("step-", 0) == 0 && endsWith(name, ".npz") && name > latest)
      latest = name; // zero-padded: the largest name is the latest step
  }
  if (ec)
    return rt::ioError("cannot read '" + dir + "': " + ec.message());
  if (latest.empty())
    return rt::notFound("no checkpoint (step-*.npz) in '" + dir + "'");
  return readCheckpointFile((fs::path(dir) / latest).string(), arrays, path);
}

Status readCheckpoint(const std::string &pathOrDir, std::vector<rt::NamedTensor> *arrays,
                      std::string *path) {
  std::error_code ec;
  if (fs::is_directory(pathOrDir, ec))
    return readLatestCheckpoint(pathOrDir, arrays, path);
  if (!fs::exists(pathOrDir, ec))
    return rt::notFound("no checkpoint '" + pathOrDir + "'");
  return readCheckpointFile(pathOrDir, arrays, path);
}

bool isTrainingState(const std::string &n) {
  return n == "step" || n == "data_cursor" || n == "shuffle_seed" || n == "loss_scale" ||
         n == "loss_scale.growth_tracker" || endsWith(n, ".momentum_buffer") || endsWith(n, ".exp_avg") || endsWith(n, ".exp_avg_sq") ||
         endsWith(n, ".amax_history");
}

//===----------------------------------------------------------------------===//
// TrainingSession
//===----------------------------------------------------------------------===//

TrainingSession::~TrainingSession() = default;

/// train_step's (output, input) pairs that carry the state from one step to the next: every
/// output but the loss updates the input `outputSlot` names.
static std::vector<std::pair<size_t, size_t>> stateCarries(const std::vector<size_t> &outputSlot,
                                                            size_t lossOutput) {
  std::vector<std::pair<size_t, size_t>> carries;
  for (size_t o = 0; o < outputSlot.size(); ++o)
    if (o != lossOutput)
      carries.push_back({o, outputSlot[o]});
  return carries;
}

static Tensor zerosLike(const TensorInfo &info) {
  Tensor t{info.dtype, info.shape, {}};
  t.data.assign(t.view().byteSize(), 0);
  return t;
}

Status TrainingSession::createFromFile(const std::string &path, const SessionOptions &options,
                                       std::unique_ptr<TrainingSession> *out) {
  std::unique_ptr<TrainingSession> ts(new TrainingSession());
  SessionOptions opts = options;
  opts.copyParameters = true;
  PRECIS_RETURN_IF_ERROR(Session::createFromFile(path, opts, &ts->session_));
  const FunctionInfo *info = ts->session_->findFunction("train_step");
  if (!info)
    return invalidArgument(path + " has no 'train_step': compile it with 'precis compile --train'");
  ts->info_ = info;
  const size_t n = info->inputs.size();
  ts->state_.resize(n);
  ts->carried_.assign(n, false);
  ts->stepSlot_ = ts->lrSlot_ = n;
  for (size_t i = 0; i < n; ++i) {
    const TensorInfo &in = info->inputs[i];
    bool param = false;
    for (const TensorInfo &p : ts->session_->parameters())
      param = param || p.name == in.name;
    if (in.name == "lr") {
      ts->lrSlot_ = i;
    } else if (isTrainingState(in.name)) {
      // Optimizer state, step and loss scale start where the artifact says (zeros unless it
      // records an initial value).
      if (in.name == "step")
        ts->stepSlot_ = i;
      ts->carried_[i] = true;
      PRECIS_RETURN_IF_ERROR(ts->session_->initialValue("train_step", i, &ts->state_[i]));
    } else if (param) {
      ts->carried_[i] = true;
      PRECIS_RETURN_IF_ERROR(ts->session_->getParameter(in.name, &ts->state_[i]));
    } else {
      ts->batchSlots_.push_back(i);
      ts->batchInfos_.push_back(in);
    }
  }
  if (ts->stepSlot_ == n || ts->lrSlot_ == n || info->inputs[ts->stepSlot_].dtype != DType::F32 ||
      info->inputs[ts->lrSlot_].dtype != DType::F32 ||
      info->inputs[ts->lrSlot_].shape != info->inputs[ts->stepSlot_].shape ||
      zerosLike(info->inputs[ts->lrSlot_]).data.size() != 4)
    return invalidArgument(path + ": 'train_step' has no f32 scalar 'step' or 'lr' input");
  ts->lr_ = zerosLike(info->inputs[ts->lrSlot_]);
  ts->outputSlot_.assign(info->outputs.size(), n);
  ts->lossOutput_ = info->outputs.size();
  for (size_t o = 0; o < info->outputs.size(); ++o) {
    const TensorInfo &res = info->outputs[o];
    if (res.name == "loss") {
      if (res.dtype != DType::F32 || zerosLike(res).data.size() != 4)
        return invalidArgument(path + ": 'train_step' output 'loss' is not an f32 scalar");
      ts->lossOutput_ = o;
      continue;
    }
    for (size_t i = 0; i < n; ++i)
      if (ts->carried_[i] && info->inputs[i].name == res.name && info->inputs[i].dtype == res.dtype &&
          info->inputs[i].shape == res.shape)
        ts->outputSlot_[o] = i;
    if (ts->outputSlot_[o] == n)
      return invalidArgument(path + ": 'train_step' output '" + res.name + "' updates no input");
  }
  if (ts->lossOutput_ == info->outputs.size())
    return invalidArgument(path + ": 'train_step' has no 'loss' output");
  // On a device the state then stays in device memory between steps (Session::carryOutputs).
  PRECIS_RETURN_IF_ERROR(ts->session_->carryOutputs(
      "train_step", stateCarries(ts->outputSlot_, ts->lossOutput_)));
  *out = std::move(ts);
  return Status::ok();
}

const std::vector<TensorInfo> &TrainingSession::batchInputs() const { return batchInfos_; }

int64_t TrainingSession::stepCount() const {
  return static_cast<int64_t>(*state_[stepSlot_].as<float>());
}

Status TrainingSession::step(const std::vector<TensorView> &batch, float lr, float *loss) {
  if (batch.size() != batchSlots_.size())
    return invalidArgument("train step: expected " + std::to_string(batchSlots_.size()) +
                           " batch inputs, got " + std::to_string(batch.size()));
  std::vector<TensorView> args(state_.size());
  for (size_t i = 0; i < state_.size(); ++i)
    if (carried_[i])
      args[i] = state_[i].view();
  for (size_t b = 0; b < batch.size(); ++b)
    args[batchSlots_[b]] = batch[b];
  *lr_.as<float>() = lr;
  args[lrSlot_] = lr_.view();
  std::vector<Tensor> outputs;
  PRECIS_RETURN_IF_ERROR(session_->run("train_step", args, &outputs));
  for (size_t o = 0; o < outputs.size(); ++o)
    if (o != lossOutput_)
      state_[outputSlot_[o]] = std::move(outputs[o]);
  if (loss)
    *loss = *outputs[lossOutput_].as<float>();
  return Status::ok();
}

Status TrainingSession::getParameter(const std::string &name, Tensor *out) const {
  for (size_t i = 0; i < state_.size(); ++i)
    if (carried_[i] && info_->inputs[i].name == name && !isTrainingState(name)) {
      *out = state_[i];
      return Status::ok();
    }
  return notFound("no trained parameter '" + name + "'");
}

Status TrainingSession::getState(const std::string &name, Tensor *out) const {
  for (size_t i = 0; i < state_.size(); ++i)
    if (carried_[i] && info_->inputs[i].name == name) {
      *out = state_[i];
      return Status::ok();
    }
  return notFound("no training state '" + name + "'");
}

Status TrainingSession::setParameter(const std::string &name, const TensorView &value) {
  for (size_t i = 0; i < state_.size(); ++i)
    if (carried_[i] && info_->inputs[i].name == name && !isTrainingState(name)) {
      Tensor &t = state_[i];
      if (value.dtype != t.dtype || value.shape != t.shape)
        return invalidArgument("parameter '" + name + "' is " + typeOf(t) + ", got " +
                               typeString(value.dtype, value.shape));
      std::memcpy(t.data.data(), value.data, t.data.size());
      // The next step reads the state from the host again.
      return session_->carryOutputs("train_step", stateCarries(outputSlot_, lossOutput_));
    }
  return notFound("no trained parameter '" + name + "'");
}

Status TrainingSession::saveCheckpoint(const std::string &dir, std::string *path) const {
  std::vector<NamedTensor> arrays;
  for (size_t i = 0; i < state_.size(); ++i)
    if (carried_[i])
      arrays.push_back({info_->inputs[i].name, state_[i]});
  std::string written;
  return writeCheckpoint(dir, stepCount(), arrays, path ? path : &written);
}

Status TrainingSession::loadCheckpoint(const std::string &pathOrDir) {
  std::vector<NamedTensor> saved;
  std::string path;
  PRECIS_RETURN_IF_ERROR(readCheckpoint(pathOrDir, &saved, &path));
  std::vector<Tensor> next = state_;
  for (size_t i = 0; i < state_.size(); ++i) {
    if (!carried_[i])
      continue;
    const TensorInfo &in = info_->inputs[i];
    auto it = std::find_if(saved.begin(), saved.end(),
                           [&](const NamedTensor &t) { return t.name == in.name; });
    if (it == saved.end() || it->tensor.dtype != in.dtype || it->tensor.shape != in.shape)
      return invalidArgument(path + " does not fit this training step: " +
                             (it == saved.end() ? "no '" + in.name + "'"
                                                : "'" + in.name + "' is " + typeOf(it->tensor) +
                                                      ", expected " +
                                                      typeString(in.dtype, in.shape)));
    next[i] = std::move(it->tensor);
  }
  state_ = std::move(next);
  return session_->carryOutputs("train_step", stateCarries(outputSlot_, lossOutput_));
}

} // namespace precis::rt
