//===- Training.h - the training loop, its data and checkpoints ---*- C++ -*-===//
//
// The one training loop (TrainingSession) that `precis train`, `precis-rt train` and the C API
// run, and its pieces: a dataset read from an .npz whose arrays are named after the model's
// batch inputs, cut into batches of B rows in order (optionally after one seeded
// permutation), and checkpoints of the training state written atomically with a checksum, so
// every tool resumes every other tool's checkpoints. Nothing here needs MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_TRAINING_H
#define PRECIS_RUNTIME_TRAINING_H

#include "precis/runtime/Npy.h"
#include "precis/runtime/Session.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace precis::rt {

/// Rows of an .npz dataset, one array per batch input of the train step.
class Dataset {
public:
  /// Reads `path` and checks it holds an array for every one of `inputs` (the train step's
  /// batch inputs, whose leading dimension is the batch size), with the input's dtype, the
  /// same trailing dimensions, and at least as many rows as one batch; all arrays must have
  /// the same number of rows. Extra arrays are ignored.
  static rt::Status open(const std::string &path, const std::vector<rt::TensorInfo> &inputs,
                         Dataset *out);
  /// Orders the rows: their order in the file, permuted when `seed` >= 0 by Fisher-Yates from
  /// the last row down, swapping row i with row `splitmix64() % (i + 1)`, splitmix64 seeded
  /// with `seed` (the same permutation on every machine and every run).
  void shuffle(int64_t seed);
  /// Batch `index`: rows [index*B, (index+1)*B) modulo the row count, of every input, in the
  /// order given to open(). In a data-parallel job of `ranks` processes, batch `index` is
  /// ranks*B rows and rank `rank` takes its share, rows [(index*ranks + rank)*B,
  /// (index*ranks + rank + 1)*B).
  void batch(int64_t index, std::vector<rt::Tensor> *out, int rank = 0, int ranks = 1) const;
  int64_t rows() const { return rows_; }

private:
  std::vector<rt::Tensor> arrays_;
  std::vector<rt::TensorInfo> inputs_;
  std::vector<int64_t> order_; ///< data row of each logical row
  int64_t rows_ = 0, batchSize_ = 0;
};

/// 64-bit FNV-1a over every array's name, dtype, shape and bytes, in order.
uint64_t checksum(const std::vector<rt::NamedTensor> &arrays);

/// Checks that every rank of `communicator` passes the same `value` (a hash of what must agree
/// across a data-parallel job); InvalidArgument naming `what` and the first rank that differs
/// from rank 0 otherwise. Every rank must call it.
rt::Status checkSameOnEveryRank(Communicator &communicator, const std::string &what,
                                uint64_t value);

/// Writes `arrays` plus a "checksum" entry (i64[1], the bits of checksum(arrays)) to
/// `dir`/step-<step, 8 digits>.npz: a temporary file in `dir`, fsync, rename, fsync of `dir`,
/// so a crash never leaves a partial checkpoint under the final name. Creates `dir`.
rt::Status writeCheckpoint(const std::string &dir, int64_t step,
                           const std::vector<rt::NamedTensor> &arrays, std::string *path);

/// Reads the checkpoint with the highest step in `dir` into `*arrays` (without the checksum
/// entry) after verifying its checksum; InvalidArgument if it is damaged, NotFound if `dir`
/// has none.
rt::Status readLatestCheckpoint(const std::string &dir, std::vector<rt::NamedTensor> *arrays,
                                std::string *path);

/// Reads one checkpoint: `pathOrDir` is a step-*.npz file, or a directory whose latest
/// checkpoint is read (as readLatestCheckpoint). Verifies the checksum the same way.
rt::Status readCheckpoint(const std::string &pathOrDir, std::vector<rt::NamedTensor> *arrays,
                          std::string *path);

/// The training loop around an artifact compiled with `precis compile --train`, the one that
/// `precis train`, `precis-rt train` and the C API all run: the `train_step` function's
/// parameters (initialised from the artifact's parameter blobs), optimizer state (zeros), step
/// (0), loss scale and fp8 state (their initial values, Session::initialValue), carried from
/// one step to the next; a data set with its cursor and shuffle seed; checkpoints of all of it.
/// Every input and output is recognised by the role the artifact records for it
/// (TensorInfo::role), never by its name. Not thread-safe: one thread at a time per session;
/// distinct sessions are independent.
///
/// Batches: step i of a run (counting from 0, across resumes) takes Dataset batch i, rows
/// [i*B, (i+1)*B) modulo the row count after the optional permutation. The data cursor counts
/// batches taken by either form of step(); with loss scaling, a step skipped for non-finite
/// gradients advances the cursor but not the optimizer's step counter, as in torch.
///
/// Data-parallel (SessionOptions::communicator with more than one rank; docs/distributed.md):
/// every rank creates its session from the same artifact, compiled with --data-parallel
/// (checked at creation: an artifact without collectives, or one whose fingerprint differs
/// between ranks, is InvalidArgument), and calls the same methods in the same order. Step i
/// takes batch i of N*B rows, of which rank r trains on rows [(i*N + r)*B, (i*N + r + 1)*B), so
/// N ranks of batch B see exactly the rows one process of batch N*B would; the data cursor
/// counts these global batches, so a checkpoint resumes with any number of ranks. Rank 0 reads
/// checkpoints and sends them to the others; only rank 0 writes them. With the optimizer state
/// sharded (ZeRO stage 1: state inputs "zero1.<kind>", this rank's share of the flattened
/// per-parameter state) the job must have the number of ranks the step was compiled for, and
/// checkpoints still hold the whole per-parameter state ("<param>.<kind>"): saveCheckpoint
/// gathers the shares (so every rank must call it), loadCheckpoint takes this rank's share.
class TrainingSession {
public:
  /// Loads `path` and checks its `train_step` follows the optimizer's contract: every input
  /// has a role (parameter, optimizer / loss-scale / fp8 state, step, data input, learning
  /// rate), every output but the loss updates a state input of its type.
  static Status createFromFile(const std::string &path, const SessionOptions &options,
                               std::unique_ptr<TrainingSession> *out);
  /// The same from `size` bytes at `data` (copied; see Session::createFromMemory).
  static Status createFromMemory(const void *data, size_t size, const SessionOptions &options,
                                 std::unique_ptr<TrainingSession> *out);
  ~TrainingSession();
  TrainingSession(const TrainingSession &) = delete;
  TrainingSession &operator=(const TrainingSession &) = delete;

  /// The batch inputs of `train_step`, in the order step() takes them.
  const std::vector<TensorInfo> &batchInputs() const;
  /// The signature of `train_step`, every input and output with its role (the parameters are
  /// its Role::Parameter inputs); valid while the session lives.
  const FunctionInfo &trainStep() const { return *info_; }

  /// Reads the data set at `path` (Dataset::open) that step(lr, loss) takes its batches from,
  /// and permutes its rows with `shuffleSeed` (Dataset::shuffle) when it is >= 0. After
  /// loadCheckpoint, the checkpoint's seed holds: a `shuffleSeed` >= 0 that differs from it
  /// is InvalidArgument, and -1 means the checkpoint's.
  Status openData(const std::string &path, int64_t shuffleSeed = -1);
  /// Runs one step on the next batch of the data set (openData) with learning rate `lr`.
  Status step(float lr, float *loss);
  /// Runs one step on `batch` (one view per batchInputs() entry, borrowed for the call) with
  /// learning rate `lr`; on success the state advances and `*loss` (if not null) is the loss
  /// of this batch before the update. An error found before the step runs (a batch of the
  /// wrong shape or type) leaves the state unchanged; an error inside the run (a kernel's, or a
  /// non-finite value under checkNumerics) may leave it partly updated, since the CPU backend
  /// updates the state where it lies: load the last checkpoint to go on.
  Status step(const std::vector<TensorView> &batch, float lr, float *loss);
  /// Optimizer steps taken so far, the `step` state (restored by loadCheckpoint); with loss
  /// scaling, a step skipped for non-finite gradients does not count, as in torch.
  int64_t stepCount() const;
  /// Batches taken so far (restored by loadCheckpoint): the index of the next batch.
  int64_t dataCursor() const { return dataCursor_; }
  /// The seed the data set's rows were permuted with, or -1 for none.
  int64_t shuffleSeed() const { return shuffleSeed_; }
  /// This process's rank and the number of ranks (0 and 1 without a communicator).
  int rank() const;
  int ranks() const;
  /// Whether the step scales its loss dynamically (fp16), and the current scale (after the
  /// last step's update, as torch's scaler.get_scale()).
  bool hasLossScale() const;
  float lossScale() const;
  /// One line of a training log (`precis train --log`, `precis-rt train --log`), a JSON object
  /// with its keys in this order and a newline:
  ///   "loss"            the step's loss, or null when it is not finite (JSON has no NaN);
  ///   "loss_nonfinite"  then "nan", "inf" or "-inf" (absent for a finite loss);
  ///   "loss_scale"      with loss scaling, the scale after this step's update;
  ///   "skipped"         true when the optimizer skipped the step (non-finite gradients);
  ///   "step"            `step`.
  /// Numbers have 17 significant digits, so a float reads back exactly.
  std::string logLine(int64_t step, float loss, bool skipped) const;

  /// Copies the current value of parameter `name` (its ONNX name) into `*out`.
  Status getParameter(const std::string &name, Tensor *out) const;
  /// Copies the current value of any carried input `name` into `*out`: a parameter or training
  /// state ("step", "loss_scale", "<param>.exp_avg", ...).
  Status getState(const std::string &name, Tensor *out) const;
  /// Overwrites parameter `name` with `value` (same dtype and shape).
  Status setParameter(const std::string &name, const TensorView &value);
  /// Sets the seed of training-mode dropout's Philox stream (the RNG_STATE input, [seed,
  /// steps drawn]; docs/runtime.md, "Dropout's random stream"): element 0 becomes `seed`, the
  /// count of steps drawn is kept (0 before the first step), so a fresh session draws the
  /// masks `precis train --seed` would. InvalidArgument when the step draws no random numbers
  /// (no training-mode dropout). In a data-parallel job every rank must set the same seed.
  Status setDropoutSeed(uint64_t seed);

  /// Writes every carried array under its `train_step` input name, then "data_cursor" and
  /// "shuffle_seed" (i64[1]), as `dir`/step-<dataCursor()>.npz (writeCheckpoint). In a
  /// data-parallel job only rank 0 writes; the other ranks return OK with `*path` empty.
  Status saveCheckpoint(const std::string &dir, std::string *path = nullptr) const;
  /// Restores the state, the data cursor and the shuffle seed from a checkpoint file or a
  /// directory's latest one (readCheckpoint), and `*path` (if not null) names the file read.
  /// Every carried array must be present with its dtype and shape, or nothing changes.
  Status loadCheckpoint(const std::string &pathOrDir, std::string *path = nullptr);

private:
  TrainingSession() = default;
  static Status create(std::unique_ptr<Session> session, const std::string &what,
                       std::shared_ptr<Communicator> communicator,
                       std::unique_ptr<TrainingSession> *out);
  bool distributed() const { return communicator_ && communicator_->size() > 1; }
  /// ZeRO stage 1: the whole per-parameter state of kind `kind` from the shares of state
  /// input `slot` (an all-gather), or this rank's share of it from `arrays`.
  Status gatherShares(size_t slot, const std::string &kind, std::vector<NamedTensor> *out) const;
  Status takeShare(size_t slot, const std::string &kind, const std::vector<NamedTensor> &arrays,
                   const std::string &path, Tensor *out) const;
  Status readCheckpointOnRank0(const std::string &pathOrDir, std::vector<NamedTensor> *saved,
                               std::string *path);
  Status carryState();
  Status syncState() const;
  std::unique_ptr<Session> session_;
  std::shared_ptr<Communicator> communicator_;
  const FunctionInfo *info_ = nullptr;
  /// Per train_step input; empty for batch inputs and lr. The CPU backend updates it in place
  /// every step (carryOutputs); on a device the state lives in device memory between steps
  /// and this copy is refreshed only when read (syncState).
  mutable std::vector<Tensor> state_;
  std::vector<Tensor> outputs_; ///< train_step's outputs: only the fetched ones have data
  mutable bool stale_ = false;
  std::vector<bool> fetch_;            ///< per output: copied to the host every step on a device
  std::vector<bool> carried_;          ///< per train_step input: parameter or training state
  std::vector<size_t> batchSlots_;     ///< train_step input index of each batch input
  std::vector<std::string> shareKind_; ///< per input: the kind of a ZeRO-1 share, else empty
  std::vector<size_t> paramSlots_;     ///< the parameter inputs, in order
  std::vector<TensorInfo> batchInfos_;
  std::vector<size_t> outputSlot_; ///< per output: the input it updates (loss: none)
  size_t stepSlot_ = 0, lrSlot_ = 0, lossOutput_ = 0, scaleSlot_ = 0;
  Tensor lr_;
  std::unique_ptr<Dataset> data_;
  int64_t dataCursor_ = 0, shuffleSeed_ = -1;
  bool resumed_ = false;
};

} // namespace precis::rt

#endif // PRECIS_RUNTIME_TRAINING_H
