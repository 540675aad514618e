//===- Training.cpp - data batches and checkpoints for training ----------===//
//
// See Training.h. Checkpoints are ordinary .npz files (np.load reads them); the checksum
// entry makes a flipped bit or a truncated copy an error instead of a silently different run.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Training.h"
#include "precis/runtime/Random.h"

#include "precis/schema/Names.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
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

void Dataset::shuffle(int64_t seed) {
  for (int64_t i = 0; i < rows_; ++i)
    order_[static_cast<size_t>(i)] = i;
  if (seed < 0)
    return;
  SplitMix64 random(static_cast<uint64_t>(seed));
  for (int64_t i = rows_ - 1; i > 0; --i)
    std::swap(order_[i], order_[random.next() % static_cast<uint64_t>(i + 1)]);
}

void Dataset::batch(int64_t index, std::vector<rt::Tensor> *out, int rank, int ranks) const {
  const int64_t first = (index * ranks + rank) * batchSize_;
  out->resize(arrays_.size());
  for (size_t k = 0; k < arrays_.size(); ++k) {
    const rt::Tensor &a = arrays_[k];
    rt::Tensor &t = (*out)[k];
    t.dtype = inputs_[k].dtype;
    t.shape = inputs_[k].shape;
    t.data.resize(t.view().byteSize());
    const size_t rowBytes = t.data.size() / static_cast<size_t>(batchSize_);
    for (int64_t r = 0; r < batchSize_; ++r) {
      int64_t row = order_[static_cast<size_t>((first + r) % rows_)];
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

static constexpr const char *kChecksumName = names::kChecksum;

Status checkSameOnEveryRank(Communicator &communicator, const std::string &what, uint64_t value) {
  std::vector<uint64_t> all(static_cast<size_t>(communicator.size()));
  PRECIS_RETURN_IF_ERROR(communicator.allGather(&value, all.data(), 1, DType::I64));
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      return invalidArgument("rank " + std::to_string(r) + " of " + std::to_string(all.size()) +
                             " differs from rank 0 in its " + what +
                             ": every rank of a data-parallel job must run the same");
  return Status::ok();
}

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

//===----------------------------------------------------------------------===//
// TrainingSession
//===----------------------------------------------------------------------===//

TrainingSession::~TrainingSession() = default;

static Tensor zerosLike(const TensorInfo &info) {
  Tensor t{info.dtype, info.shape, {}};
  t.data.assign(t.view().byteSize(), 0);
  return t;
}

static Tensor scalarI64(int64_t value) {
  Tensor t{DType::I64, {1}, std::vector<uint8_t>(8)};
  std::memcpy(t.data.data(), &value, 8);
  return t;
}

static bool isF32Scalar(const TensorInfo &info) {
  return info.dtype == DType::F32 && zerosLike(info).data.size() == 4;
}

static bool isI64Scalar(const TensorInfo &info) {
  return info.dtype == DType::I64 && zerosLike(info).data.size() == 8;
}

Status TrainingSession::createFromFile(const std::string &path, const SessionOptions &options,
                                       std::unique_ptr<TrainingSession> *out) {
  // train_step takes the parameters as inputs from state_ (copied out in create()), so the
  // session's own copy stays where it was loaded (options.copyParameters, if asked for).
  std::unique_ptr<Session> session;
  PRECIS_RETURN_IF_ERROR(Session::createFromFile(path, options, &session));
  return create(std::move(session), path, options.communicator, out);
}

Status TrainingSession::createFromMemory(const void *data, size_t size,
                                         const SessionOptions &options,
                                         std::unique_ptr<TrainingSession> *out) {
  std::unique_ptr<Session> session;
  PRECIS_RETURN_IF_ERROR(Session::createFromMemory(data, size, options, &session));
  return create(std::move(session), "the artifact", options.communicator, out);
}

Status TrainingSession::create(std::unique_ptr<Session> session, const std::string &what,
                               std::shared_ptr<Communicator> communicator,
                               std::unique_ptr<TrainingSession> *out) {
  std::unique_ptr<TrainingSession> ts(new TrainingSession());
  ts->session_ = std::move(session);
  ts->communicator_ = std::move(communicator);
  const FunctionInfo *info = ts->session_->findFunction(names::kTrainStep);
  if (!info)
    return invalidArgument(what + " has no '" + names::kTrainStep +
                           "': compile it with 'precis compile --train'");
  if (ts->distributed()) {
    // Every rank must run the same step, and that step must combine the ranks' gradients:
    // without collectives the ranks would train as many different models.
    if (info->collectives == 0)
      return invalidArgument(what + "'s '" + names::kTrainStep + "' has no collectives, so " +
                             std::to_string(ts->communicator_->size()) +
                             " ranks would train apart: compile it with "
                             "'precis compile --train --data-parallel'");
    PRECIS_RETURN_IF_ERROR(checkSameOnEveryRank(
        *ts->communicator_, "artifact (model or compile flags)", ts->session_->fingerprint()));
  }
  ts->info_ = info;
  const size_t n = info->inputs.size();
  ts->state_.resize(n);
  ts->carried_.assign(n, false);
  ts->shareKind_.assign(n, "");
  ts->stepSlot_ = ts->lrSlot_ = ts->scaleSlot_ = n;
  for (size_t i = 0; i < n; ++i) {
    const TensorInfo &in = info->inputs[i];
    switch (in.role) {
    case Role::LearningRate:
      ts->lrSlot_ = i;
      break;
    case Role::DataInput:
      ts->batchSlots_.push_back(i);
      ts->batchInfos_.push_back(in);
      break;
    case Role::Parameter:
      ts->paramSlots_.push_back(i);
      ts->carried_[i] = true;
      PRECIS_RETURN_IF_ERROR(ts->session_->getParameter(in.name, &ts->state_[i]));
      break;
    case Role::Step:
      ts->stepSlot_ = i;
      [[fallthrough]];
    case Role::OptimizerState:
    case Role::LossScaleState:
    case Role::Fp8AmaxHistory:
    case Role::BatchNormStats:
    case Role::RngState:
      // Training state starts where the artifact says (zeros unless it records an initial
      // value, as the loss scale and the BatchNorm running statistics do).
      if (in.role == Role::LossScaleState && in.name == names::kLossScale && isF32Scalar(in))
        ts->scaleSlot_ = i;
      if (in.role == Role::OptimizerState && in.name.rfind(names::kZeroStatePrefix, 0) == 0)
        ts->shareKind_[i] = in.name.substr(std::strlen(names::kZeroStatePrefix));
      ts->carried_[i] = true;
      PRECIS_RETURN_IF_ERROR(ts->session_->initialValue(names::kTrainStep, i, &ts->state_[i]));
      break;
    case Role::None:
    case Role::Loss:
      return invalidArgument(what + ": '" + names::kTrainStep + "' input '" + in.name +
                             "' has no training role (an artifact written before precis "
                             "recorded roles: compile it again)");
    }
  }
  if (ts->stepSlot_ == n || ts->lrSlot_ == n || !isI64Scalar(info->inputs[ts->stepSlot_]) ||
      !isF32Scalar(info->inputs[ts->lrSlot_]))
    return invalidArgument(what + ": '" + names::kTrainStep +
                           "' has no i64 scalar step or no f32 scalar learning rate input");
  ts->lr_ = zerosLike(info->inputs[ts->lrSlot_]);
  ts->outputSlot_.assign(info->outputs.size(), n);
  ts->lossOutput_ = info->outputs.size();
  for (size_t o = 0; o < info->outputs.size(); ++o) {
    const TensorInfo &res = info->outputs[o];
    if (res.role == Role::Loss) {
      if (!isF32Scalar(res))
        return invalidArgument(what + ": '" + names::kTrainStep + "' loss is not an f32 scalar");
      ts->lossOutput_ = o;
      continue;
    }
    // The artifact loader checked that an update has its input's type and role.
    if (res.updates < 0 || !ts->carried_[static_cast<size_t>(res.updates)])
      return invalidArgument(what + ": '" + names::kTrainStep + "' output '" + res.name +
                             "' updates no state input");
    ts->outputSlot_[o] = static_cast<size_t>(res.updates);
  }
  if (ts->lossOutput_ == info->outputs.size())
    return invalidArgument(what + ": '" + names::kTrainStep + "' has no loss output");
  // ZeRO stage 1: S-element shares of P parameter elements fit exactly one number of ranks.
  int64_t flat = 0;
  for (size_t p : ts->paramSlots_)
    flat += zerosLike(info->inputs[p]).view().numElements();
  for (size_t i = 0; i < n; ++i) {
    if (ts->shareKind_[i].empty())
      continue;
    const TensorInfo &in = info->inputs[i];
    const int64_t ranks = ts->ranks();
    if (in.dtype != DType::F32 || in.shape.size() != 1 || in.shape[0] != (flat + ranks - 1) / ranks)
      return invalidArgument(
          what + ": its optimizer state is sharded (ZeRO stage 1) into shares of " +
          (in.shape.size() == 1 ? std::to_string(in.shape[0]) : std::string("?")) + " of the " +
          std::to_string(flat) + " parameter elements, which is not for this job of " +
          std::to_string(ranks) + " rank(s): compile it with --world-size " +
          std::to_string(ranks));
  }
  // What a step on a device brings back: the loss, and the scalars the loop reports every
  // step (the step count, the loss scale); the rest of the state stays on the device.
  ts->fetch_.assign(info->outputs.size(), false);
  for (size_t o = 0; o < info->outputs.size(); ++o)
    ts->fetch_[o] = o == ts->lossOutput_ || ts->outputSlot_[o] == ts->stepSlot_ ||
                    ts->outputSlot_[o] == ts->scaleSlot_;
  // On a device the state then stays in device memory between steps (Session::carryOutputs).
  PRECIS_RETURN_IF_ERROR(ts->carryState());
  *out = std::move(ts);
  return Status::ok();
}

/// Tells the session which outputs become which inputs (every output but the loss); called
/// again whenever the host's copy of the state changed, so the next run reads it.
Status TrainingSession::carryState() {
  std::vector<std::pair<size_t, size_t>> carries;
  for (size_t o = 0; o < outputSlot_.size(); ++o)
    if (o != lossOutput_)
      carries.push_back({o, outputSlot_[o]});
  return session_->carryOutputs(names::kTrainStep, carries);
}

const std::vector<TensorInfo> &TrainingSession::batchInputs() const { return batchInfos_; }

int TrainingSession::rank() const { return communicator_ ? communicator_->rank() : 0; }

int TrainingSession::ranks() const { return communicator_ ? communicator_->size() : 1; }

int64_t TrainingSession::stepCount() const { return *state_[stepSlot_].as<int64_t>(); }

bool TrainingSession::hasLossScale() const { return scaleSlot_ != state_.size(); }

float TrainingSession::lossScale() const {
  return hasLossScale() ? *state_[scaleSlot_].as<float>() : 1.0f;
}

std::string TrainingSession::logLine(int64_t step, float loss, bool skipped) const {
  char buffer[64];
  std::string line = "{\"loss\":";
  if (std::isfinite(loss)) {
    std::snprintf(buffer, sizeof buffer, "%.17g", static_cast<double>(loss));
    line += buffer;
  } else {
    line += "null,\"loss_nonfinite\":";
    line += std::isnan(loss) ? "\"nan\"" : loss > 0 ? "\"inf\"" : "\"-inf\"";
  }
  if (hasLossScale()) {
    std::snprintf(buffer, sizeof buffer, "%.17g", static_cast<double>(lossScale()));
    line += ",\"loss_scale\":";
    line += buffer;
  }
  if (skipped)
    line += ",\"skipped\":true";
  line += ",\"step\":" + std::to_string(step) + "}\n";
  return line;
}

Status TrainingSession::openData(const std::string &path, int64_t shuffleSeed) {
  if (resumed_ && shuffleSeed >= 0 && shuffleSeed != shuffleSeed_)
    return invalidArgument("shuffle seed " + std::to_string(shuffleSeed) +
                           " differs from the seed " + std::to_string(shuffleSeed_) +
                           " the checkpoint was trained with");
  auto data = std::make_unique<Dataset>();
  PRECIS_RETURN_IF_ERROR(Dataset::open(path, batchInfos_, data.get()));
  if (!resumed_)
    shuffleSeed_ = shuffleSeed < 0 ? -1 : shuffleSeed;
  data->shuffle(shuffleSeed_);
  data_ = std::move(data);
  return Status::ok();
}

Status TrainingSession::step(float lr, float *loss) {
  if (!data_)
    return invalidArgument("train step: no data set to take the batch from (openData)");
  std::vector<Tensor> batch;
  data_->batch(dataCursor_, &batch, rank(), ranks());
  std::vector<TensorView> views;
  for (const Tensor &t : batch)
    views.push_back(t.view());
  return step(views, lr, loss);
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
  // The state is carried (carryState): the CPU backend updates state_ where it lies, a
  // device keeps it; either way only the fetched outputs come back, so a step allocates
  // nothing the size of the model.
  std::vector<Tensor> &outputs = outputs_;
  PRECIS_RETURN_IF_ERROR(session_->run(names::kTrainStep, args, &outputs, fetch_));
  if (session_->onDevice())
    for (size_t o = 0; o < outputs.size(); ++o)
      if (o != lossOutput_ && fetch_[o])
        std::swap(state_[outputSlot_[o]], outputs[o]);
  stale_ = session_->onDevice();
  ++dataCursor_;
  if (loss)
    *loss = *outputs[lossOutput_].as<float>();
  return Status::ok();
}

/// Brings the state the device carried since the last step back into state_.
Status TrainingSession::syncState() const {
  if (!stale_)
    return Status::ok();
  for (size_t i = 0; i < state_.size(); ++i)
    if (carried_[i] && i != stepSlot_ && i != scaleSlot_) // those two are fetched every step
      PRECIS_RETURN_IF_ERROR(session_->carriedInput(names::kTrainStep, i, &state_[i]));
  stale_ = false;
  return Status::ok();
}

Status TrainingSession::getParameter(const std::string &name, Tensor *out) const {
  PRECIS_RETURN_IF_ERROR(syncState());
  for (size_t i = 0; i < state_.size(); ++i)
    if (info_->inputs[i].role == Role::Parameter && info_->inputs[i].name == name) {
      *out = state_[i];
      return Status::ok();
    }
  return notFound("no trained parameter '" + name + "'");
}

Status TrainingSession::getState(const std::string &name, Tensor *out) const {
  PRECIS_RETURN_IF_ERROR(syncState());
  for (size_t i = 0; i < state_.size(); ++i)
    if (carried_[i] && info_->inputs[i].name == name) {
      *out = state_[i];
      return Status::ok();
    }
  return notFound("no training state '" + name + "'");
}

Status TrainingSession::setParameter(const std::string &name, const TensorView &value) {
  // The next step uploads the whole state from the host again.
  PRECIS_RETURN_IF_ERROR(syncState());
  for (size_t i = 0; i < state_.size(); ++i)
    if (info_->inputs[i].role == Role::Parameter && info_->inputs[i].name == name) {
      Tensor &t = state_[i];
      if (value.dtype != t.dtype || value.shape != t.shape)
        return invalidArgument("parameter '" + name + "' is " + typeOf(t) + ", got " +
                               typeString(value.dtype, value.shape));
      std::memcpy(t.data.data(), value.data, t.data.size());
      return carryState();
    }
  return notFound("no trained parameter '" + name + "'");
}

Status TrainingSession::setDropoutSeed(uint64_t seed) {
  PRECIS_RETURN_IF_ERROR(syncState());
  for (size_t i = 0; i < state_.size(); ++i)
    if (carried_[i] && info_->inputs[i].role == Role::RngState) {
      Tensor &t = state_[i];
      if (t.dtype != DType::I64 || t.numElements() != 2)
        return invalidArgument("the RNG state '" + info_->inputs[i].name + "' is " + typeOf(t) +
                               ", expected i64[2] (seed, steps drawn)");
      t.as<int64_t>()[0] = static_cast<int64_t>(seed);
      return carryState();
    }
  return invalidArgument("this training step has no dropout seed to set: it draws no random "
                         "numbers (no training-mode Dropout)");
}

Status TrainingSession::gatherShares(size_t slot, const std::string &kind,
                                     std::vector<NamedTensor> *out) const {
  const Tensor &mine = state_[slot];
  const int64_t share = mine.view().numElements();
  Tensor all{DType::F32, {share * ranks()}, {}};
  all.data.resize(all.view().byteSize());
  if (distributed())
    PRECIS_RETURN_IF_ERROR(communicator_->allGather(mine.data.data(), all.data.data(),
                                                    static_cast<size_t>(share), DType::F32));
  else
    std::memcpy(all.data.data(), mine.data.data(), mine.data.size());
  size_t offset = 0;
  for (size_t p : paramSlots_) {
    const TensorInfo &param = info_->inputs[p];
    Tensor t = zerosLike(param);
    std::memcpy(t.data.data(), all.data.data() + offset, t.data.size());
    offset += t.data.size();
    out->push_back({param.name + "." + kind, std::move(t)});
  }
  return Status::ok();
}

Status TrainingSession::takeShare(size_t slot, const std::string &kind,
                                  const std::vector<NamedTensor> &arrays, const std::string &path,
                                  Tensor *out) const {
  const TensorInfo &in = info_->inputs[slot];
  const size_t shareBytes = static_cast<size_t>(in.shape[0]) * 4;
  std::vector<uint8_t> flat;
  for (size_t p : paramSlots_) {
    const TensorInfo &param = info_->inputs[p];
    const std::string name = param.name + "." + kind;
    auto it = std::find_if(arrays.begin(), arrays.end(),
                           [&](const NamedTensor &t) { return t.name == name; });
    if (it == arrays.end() || it->tensor.dtype != DType::F32 || it->tensor.shape != param.shape)
      return invalidArgument(path + " does not fit this model and optimizer: " +
                             (it == arrays.end()
                                  ? "no '" + name + "'"
                                  : "'" + name + "' is " + typeOf(it->tensor) + ", expected " +
                                        typeString(DType::F32, param.shape)));
    flat.insert(flat.end(), it->tensor.data.begin(), it->tensor.data.end());
  }
  flat.resize(shareBytes * static_cast<size_t>(ranks()), 0); // the zero padding
  *out = zerosLike(in);
  std::memcpy(out->data.data(), flat.data() + static_cast<size_t>(rank()) * shareBytes, shareBytes);
  return Status::ok();
}

Status TrainingSession::saveCheckpoint(const std::string &dir, std::string *path) const {
  // Sharded state: every rank sends its shares, rank 0 writes them as per-parameter state.
  PRECIS_RETURN_IF_ERROR(syncState());
  std::vector<NamedTensor> shares;
  for (size_t i = 0; i < state_.size(); ++i)
    if (carried_[i] && !shareKind_[i].empty())
      PRECIS_RETURN_IF_ERROR(gatherShares(i, shareKind_[i], &shares));
  if (rank() != 0) { // every rank holds the same state; rank 0 writes it
    if (path)
      path->clear();
    return Status::ok();
  }
  std::vector<NamedTensor> arrays;
  for (size_t i = 0; i < state_.size(); ++i)
    if (carried_[i] && shareKind_[i].empty())
      arrays.push_back({info_->inputs[i].name, state_[i]});
  for (NamedTensor &t : shares)
    arrays.push_back(std::move(t));
  arrays.push_back({names::kDataCursor, scalarI64(dataCursor_)});
  arrays.push_back({names::kShuffleSeed, scalarI64(shuffleSeed_)});
  std::string written;
  return writeCheckpoint(dir, dataCursor_, arrays, path ? path : &written);
}

/// In a data-parallel job rank 0 reads the checkpoint (the others may not see its file system)
/// and sends its status, its path and its arrays (as .npz bytes) to every rank.
Status TrainingSession::readCheckpointOnRank0(const std::string &pathOrDir,
                                              std::vector<NamedTensor> *saved, std::string *path) {
  if (!distributed())
    return readCheckpoint(pathOrDir, saved, path);
  Communicator &comm = *communicator_;
  Status status = rank() == 0 ? readCheckpoint(pathOrDir, saved, path) : Status::ok();
  std::string bytes;
  if (rank() == 0 && status) {
    std::vector<std::pair<std::string, TensorView>> entries;
    for (const NamedTensor &t : *saved)
      entries.emplace_back(t.name, t.tensor.view());
    status = serializeNpz(entries, &bytes);
  }
  // Header: status code, then the lengths of the message (or path) and of the arrays.
  const std::string &text = status ? *path : status.message();
  int64_t header[3] = {static_cast<int64_t>(status.code()), static_cast<int64_t>(text.size()),
                       static_cast<int64_t>(bytes.size())};
  PRECIS_RETURN_IF_ERROR(comm.broadcast(header, sizeof header, 0));
  std::string received = rank() == 0 ? text : std::string(static_cast<size_t>(header[1]), '\0');
  if (header[1] > 0)
    PRECIS_RETURN_IF_ERROR(comm.broadcast(received.data(), received.size(), 0));
  if (header[0] != static_cast<int64_t>(StatusCode::Ok))
    return Status(static_cast<StatusCode>(header[0]),
                  rank() == 0 ? received : "rank 0 could not read the checkpoint: " + received);
  bytes.resize(static_cast<size_t>(header[2]));
  if (header[2] > 0)
    PRECIS_RETURN_IF_ERROR(comm.broadcast(bytes.data(), bytes.size(), 0));
  *path = received;
  if (rank() != 0)
    PRECIS_RETURN_IF_ERROR(parseNpz(bytes.data(), bytes.size(), saved));
  return Status::ok();
}

Status TrainingSession::loadCheckpoint(const std::string &pathOrDir, std::string *pathOut) {
  std::vector<NamedTensor> saved;
  std::string path;
  PRECIS_RETURN_IF_ERROR(readCheckpointOnRank0(pathOrDir, &saved, &path));
  auto find = [&](const std::string &name) -> Tensor * {
    for (NamedTensor &t : saved)
      if (t.name == name)
        return &t.tensor;
    return nullptr;
  };
  std::vector<Tensor> next = state_;
  for (size_t i = 0; i < state_.size(); ++i) {
    if (!carried_[i])
      continue;
    if (!shareKind_[i].empty()) {
      PRECIS_RETURN_IF_ERROR(takeShare(i, shareKind_[i], saved, path, &next[i]));
      continue;
    }
    const TensorInfo &in = info_->inputs[i];
    Tensor *t = find(in.name);
    if (!t || t->dtype != in.dtype || t->shape != in.shape)
      return invalidArgument(
          path + " does not fit this model and optimizer: " +
          (t ? "'" + in.name + "' is " + typeOf(*t) + ", expected " + typeString(in.dtype, in.shape)
             : "no '" + in.name + "'"));
    next[i] = std::move(*t);
  }
  const Tensor *cursor = find(names::kDataCursor), *seed = find(names::kShuffleSeed);
  if (!cursor || !seed || cursor->dtype != DType::I64 || seed->dtype != DType::I64 ||
      cursor->numElements() != 1 || seed->numElements() != 1)
    return invalidArgument(path + " has no data cursor (" + names::kDataCursor + ", " +
                           names::kShuffleSeed + ")");
  state_ = std::move(next); // every carried array: nothing on the device is newer
  stale_ = false;
  dataCursor_ = *cursor->as<int64_t>();
  // A data set opened before takes the checkpoint's row order.
  if (data_ && *seed->as<int64_t>() != shuffleSeed_)
    data_->shuffle(*seed->as<int64_t>());
  shuffleSeed_ = *seed->as<int64_t>();
  resumed_ = true;
  if (pathOut)
    *pathOut = path;
  return carryState();
}

} // namespace precis::rt
