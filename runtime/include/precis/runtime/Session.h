//===- Session.h - C++ API of the precis runtime -----------------*- C++ -*-===//
//
// A Session loads one .precis artifact, validates it, binds it to a backend and runs its
// functions ("forward", "train_step", ...). Example:
//
//   std::unique_ptr<precis::rt::Session> session;
//   PRECIS_RETURN_IF_ERROR(precis::rt::Session::createFromFile("mlp.precis", {}, &session));
//   std::vector<precis::rt::Tensor> outputs;
//   PRECIS_RETURN_IF_ERROR(session->run("forward", {x.view()}, &outputs));
//
// Memory: parameters and constants are used in place from the memory-mapped file unless
// copied (see SessionOptions::copyParameters and setParameter), and shared by every run. Each
// run computes in an activation arena of arenaBytes() taken from a pool the session keeps: one
// arena is allocated at creation, another whenever a run starts while all are in use, and at
// most one per hardware thread is kept between runs. Inputs are borrowed for the duration of
// run(); outputs are copies the caller owns.
//
// Thread-safety:
//   - run() may be called concurrently from any number of threads on one session: runs share
//     the weights and never each other's activations (on the cpu backend they overlap; the
//     cuda backend serialises them on its stream). Each run uses up to
//     SessionOptions::numThreads kernel threads of its own, so many concurrent callers
//     usually want numThreads = 1.
//   - The const accessors (functions(), parameters(), getParameter(), initialValue(),
//     carriedInput(), ...) may be called concurrently with each other and with run().
//   - setParameter() and carryOutputs() change the session: they must not overlap any other
//     call on the same session, run() included (call them before sharing the session between
//     threads, or serialise them against runs). A TrainingSession (Training.h) is a loop over
//     such state and is not thread-safe at all.
//   - Destroying a session must not overlap any call on it.
// Distinct sessions share nothing and may be used concurrently, including sessions of the same
// artifact.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SESSION_H
#define PRECIS_RUNTIME_SESSION_H

#include "precis/runtime/Communicator.h"
#include "precis/runtime/Status.h"
#include "precis/runtime/Tensor.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace precis::rt {

class Communicator;

struct SessionOptions {
  /// The backend to run on: "cpu", "cuda" (an NVIDIA GPU; Unavailable "no CUDA device: ..."
  /// without a driver or device, or when the runtime was built without CUDA), or "" for the
  /// one the artifact was compiled for (its target "cpu" or "cuda:sm_90a"). A backend that
  /// does not match the artifact's target is InvalidArgument.
  std::string backend;
  /// Threads the kernels may use; 0 means one per hardware thread.
  int numThreads = 0;
  /// Copy every parameter into private, writable memory at creation (training updates
  /// parameters in place). When false, parameters stay in the read-only mapping until
  /// setParameter replaces one, which copies just that one.
  bool copyParameters = false;
  /// Run chains of element-wise ops of one shape chunk by chunk, intermediates in per-thread
  /// scratch that stays in cache (the results are bit-identical either way; false runs every
  /// op over whole tensors, for comparison and debugging).
  bool fuseElementwise = true;
  /// After every op, scan its float outputs; the first op (in execution order) that writes a
  /// NaN or an infinity fails the run with StatusCode::NonFinite and a message naming the op
  /// (ONNX node, kind, phase: forward, backward or optimizer), the offending output's dtype
  /// and non-finite counts, and the range (min, max, non-finite count) of each float input.
  /// Element-wise chains then run op by op (fuseElementwise is ignored) so every intermediate
  /// is checked. Off by default; costs nothing when off.
  bool checkNumerics = false;
  /// The processes this session's collectives (`all_reduce` in a data-parallel training step)
  /// run across (Communicator.h); null: a world of one, where every collective is an identity.
  /// Shared: the caller may keep using it, and sessions of one job may share it. The CPU
  /// backend needs a host-memory one (MPI); the CUDA backend takes either (an NCCL one on its
  /// device, or MPI, staged through host memory).
  std::shared_ptr<Communicator> communicator;
};

/// What a `train_step` input or output is to a training loop, as the artifact records it
/// (schema::Value::Role); None elsewhere.
enum class Role {
  None,
  Parameter,      ///< a trained parameter
  OptimizerState, ///< momentum buffer, exp_avg, exp_avg_sq
  LossScaleState, ///< the dynamic loss scale and its growth tracker
  Fp8AmaxHistory, ///< an fp8 site's amax history
  DataInput,      ///< a batch input
  LearningRate,
  Step, ///< the optimizer step counter
  Loss,
  BatchNormStats, ///< a training-mode BatchNorm's running mean or variance
  RngState,       ///< training-mode dropout's (seed, steps drawn)
};

/// The name and type of a function input or output, or of a parameter.
struct TensorInfo {
  std::string name; ///< ONNX name; may be empty for outputs that had none
  DType dtype = DType::Unspecified;
  std::vector<int64_t> shape;
  Role role = Role::None;
  /// An output that carries state: the input (ordinal) it becomes in the next run; else -1.
  int64_t updates = -1;
};

struct FunctionInfo {
  std::string name;
  std::vector<TensorInfo> inputs, outputs;
  /// Collectives (`all_reduce`, `all_gather`, `shard`) the function runs across
  /// SessionOptions::communicator: a data-parallel training step has some (precis compile
  /// --data-parallel).
  size_t collectives = 0;
};

class Session {
public:
  /// Loads the artifact at `path` (memory-mapped; the file must not change while the session
  /// lives) and validates it.
  static Status createFromFile(const std::string &path, const SessionOptions &options,
                               std::unique_ptr<Session> *out);
  /// Loads an artifact from `size` bytes at `data`, which are copied: the caller may free
  /// them when this returns.
  static Status createFromMemory(const void *data, size_t size, const SessionOptions &options,
                                 std::unique_ptr<Session> *out);
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  /// Function names, in artifact order.
  std::vector<std::string> listFunctions() const;
  /// Signatures of every function, in artifact order; valid while the session lives.
  const std::vector<FunctionInfo> &functions() const;
  /// The signature of `name`, or nullptr.
  const FunctionInfo *findFunction(std::string_view name) const;

  /// Runs `function` on `inputs` (one per function input, in order, matching its dtype and
  /// shape exactly; borrowed for the call, only read) and replaces `*outputs` with copies of
  /// its results. Thread-safe: concurrent runs of one session are allowed (see the file
  /// comment). Errors: NotFound (no such function), InvalidArgument (input count, dtype,
  /// shape), or a kernel's status prefixed with the op kind and ONNX node name.
  Status run(std::string_view function, const std::vector<TensorView> &inputs,
             std::vector<Tensor> *outputs);
  Status run(std::string_view function, const std::vector<Tensor> &inputs,
             std::vector<Tensor> *outputs);
  /// As run(), but only the outputs `fetch` marks (one flag per output; empty: all) among those
  /// carried (carryOutputs) come back; the other carried outputs come back without data, so
  /// carried state need not cross to the host (a device) or be copied (the CPU) every run.
  /// Outputs that are not carried always come back.
  Status run(std::string_view function, const std::vector<TensorView> &inputs,
             std::vector<Tensor> *outputs, const std::vector<bool> &fetch);

  /// State that stays in device memory between runs (a train_step's parameters and optimizer
  /// state on the cuda backend): after every run of `function`, output carries[k].first
  /// becomes input carries[k].second of the next run without a round trip through the host,
  /// and the caller's data for those inputs is ignored — except by the first run after this
  /// call, so call it again after changing the state on the host. Outputs are still returned
  /// (unless a fetching run() leaves them out). InvalidArgument for indices out of range,
  /// types that differ, or an input carried into twice. The CPU backend always reads the
  /// caller's inputs and, instead, writes every carried output into the caller's memory of
  /// its input (which must be writable and belong to no other input): the state is updated
  /// where it lies, in place where the op computing it allows (an optimizer update), so the
  /// new state takes no memory of its own.
  Status carryOutputs(std::string_view function,
                      const std::vector<std::pair<size_t, size_t>> &carries);

  /// Whether runs execute on a device (the cuda backend), which keeps carried state apart
  /// from the caller's memory (carryOutputs, carriedInput).
  bool onDevice() const;
  /// The current value of input `input` of `function` as the device holds it: after
  /// carryOutputs and a run, the state carried into it. Unimplemented on the CPU backend,
  /// where inputs are the caller's memory.
  Status carriedInput(std::string_view function, size_t input, Tensor *out) const;

  /// The value input `input` of `function` starts from, for training state the caller carries
  /// between runs (`train_step`'s optimizer state, step, loss scale): the initial value the
  /// artifact records for it, or zeros when it records none. NotFound / InvalidArgument for a
  /// bad function name or index.
  Status initialValue(std::string_view function, size_t input, Tensor *out) const;

  /// Parameters (named constants and weights) in artifact order; valid while the session lives.
  const std::vector<TensorInfo> &parameters() const;
  /// Copies the current value of parameter `name` into `*out`.
  Status getParameter(std::string_view name, Tensor *out) const;
  /// Overwrites parameter `name` with `value` (same dtype and shape); later runs see it.
  Status setParameter(std::string_view name, const TensorView &value);

  /// Bytes of one activation arena (the plan's peak activation memory); every run in flight
  /// uses one.
  uint64_t arenaBytes() const;
  /// Bytes of parameters and constants the artifact's values use (mapped or copied).
  uint64_t parameterBytes() const;
  /// Bytes of parameters copied into private memory (copyParameters, setParameter).
  uint64_t copiedParameterBytes() const;
  /// Element-wise groups the session runs chunk-wise, over all functions (0 when
  /// SessionOptions::fuseElementwise is false).
  size_t elementwiseGroupCount() const;
  /// The manifest's producer ("precis <version>") and target ("cpu", "cuda:sm_90a").
  const std::string &producer() const;
  const std::string &target() const;
  /// 64-bit FNV-1a of the artifact's bytes: the ranks of a data-parallel job compare it to
  /// make sure they all run the same model compiled the same way.
  uint64_t fingerprint() const;

  struct Impl;

private:
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace precis::rt

#endif // PRECIS_RUNTIME_SESSION_H
