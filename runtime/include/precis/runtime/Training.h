//===- Training.h - data batches and checkpoints for training -----*- C++ -*-===//
//
// The runtime-side pieces of the training loop (used by `precis train`): a dataset read from an
// .npz whose arrays are named after the model's batch inputs, cut into batches of B rows in
// order (optionally after one seeded permutation), and checkpoints of the training state
// written atomically with a checksum. Nothing here needs MLIR.
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
  /// Permutes the rows once: Fisher-Yates from the last row down, swapping row i with row
  /// `splitmix64() % (i + 1)`, splitmix64 seeded with `seed` (the same permutation on every
  /// machine and every run).
  void shuffle(uint64_t seed);
  /// Batch `index`: rows [index*B, (index+1)*B) modulo the row count, of every input, in the
  /// order given to open().
  void batch(int64_t index, std::vector<rt::Tensor> *out) const;
  int64_t rows() const { return rows_; }

private:
  std::vector<rt::Tensor> arrays_;
  std::vector<rt::TensorInfo> inputs_;
  std::vector<int64_t> order_; ///< data row of each logical row
  int64_t rows_ = 0, batchSize_ = 0;
};

/// 64-bit FNV-1a over every array's name, dtype, shape and bytes, in order.
uint64_t checksum(const std::vector<rt::NamedTensor> &arrays);

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

/// Whether a checkpoint array is training state rather than a model parameter: the optimizer
/// state (`*.momentum_buffer`, `*.exp_avg`, `*.exp_avg_sq`), `step`, the loss scaler's
/// `loss_scale` and `loss_scale.growth_tracker`, `data_cursor` and `shuffle_seed`.
bool isTrainingState(const std::string &name);

/// A training loop's state around an artifact compiled with `precis compile --train`: the
/// `train_step` function's parameters (initialised from the artifact's parameter blobs),
/// optimizer state (zeros), step (0) and loss scale (its initial value, Session::initialValue),
/// carried from one step() to the next. Not thread-safe:
/// one thread at a time per session; distinct sessions are independent.
class TrainingSession {
public:
  /// Loads `path` and checks its `train_step` follows the optimizer's contract (inputs named
  /// by parameter, optimizer state, "step", batch inputs, "lr"; outputs named after the input
  /// they update, and "loss").
  static Status createFromFile(const std::string &path, const SessionOptions &options,
                               std::unique_ptr<TrainingSession> *out);
  ~TrainingSession();
  TrainingSession(const TrainingSession &) = delete;
  TrainingSession &operator=(const TrainingSession &) = delete;

  /// The batch inputs of `train_step`, in the order step() takes them.
  const std::vector<TensorInfo> &batchInputs() const;
  /// Runs one step on `batch` (one view per batchInputs() entry, borrowed for the call) with
  /// learning rate `lr`; on success the state advances and `*loss` (if not null) is the loss
  /// of this batch before the update. On error the state is unchanged.
  Status step(const std::vector<TensorView> &batch, float lr, float *loss);
  /// Optimizer steps taken so far, the `step` state (restored by loadCheckpoint); with loss
  /// scaling, a step skipped for non-finite gradients does not count, as in torch.
  int64_t stepCount() const;

  /// Copies the current value of parameter `name` (its ONNX name) into `*out`.
  Status getParameter(const std::string &name, Tensor *out) const;
  /// Copies the current value of any carried input `name` into `*out`: a parameter or training
  /// state ("step", "loss_scale", "<param>.exp_avg", ...).
  Status getState(const std::string &name, Tensor *out) const;
  /// Overwrites parameter `name` with `value` (same dtype and shape).
  Status setParameter(const std::string &name, const TensorView &value);

  /// Writes parameters, optimizer state and step as `dir`/step-<step>.npz (writeCheckpoint).
  Status saveCheckpoint(const std::string &dir, std::string *path = nullptr) const;
  /// Restores the state from a checkpoint file or a directory's latest one (readCheckpoint);
  /// every carried array must be present with its dtype and shape, or nothing changes.
  Status loadCheckpoint(const std::string &pathOrDir);

private:
  TrainingSession() = default;
  std::unique_ptr<Session> session_;
  const FunctionInfo *info_ = nullptr;
  std::vector<Tensor> state_;      ///< per train_step input; empty for batch inputs and lr
  std::vector<bool> carried_;      ///< per train_step input: parameter, optimizer state, step
  std::vector<size_t> batchSlots_; ///< train_step input index of each batch input
  std::vector<TensorInfo> batchInfos_;
  std::vector<size_t> outputSlot_; ///< per output: the input it updates (loss: none)
  size_t stepSlot_ = 0, lrSlot_ = 0, lossOutput_ = 0;
  Tensor lr_;
};

} // namespace precis::rt

#endif // PRECIS_RUNTIME_TRAINING_H
