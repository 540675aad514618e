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
// Memory: one activation arena of arenaBytes() per session, allocated at creation; parameters
// and constants are used in place from the memory-mapped file unless copied (see
// SessionOptions::copyParameters and setParameter). Inputs are borrowed for the duration of
// run(); outputs are copies the caller owns.
//
// Thread-safety: a Session is not thread-safe (run() uses the session's arena); use one
// session per thread, or serialise calls. Distinct sessions share nothing and may run
// concurrently, including sessions of the same artifact. The const accessors may be called
// concurrently with each other.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SESSION_H
#define PRECIS_RUNTIME_SESSION_H

#include "precis/runtime/Status.h"
#include "precis/runtime/Tensor.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace precis::rt {

struct SessionOptions {
  /// The backend to run on; "cpu" is the one this build has.
  std::string backend = "cpu";
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
};

/// The name and type of a function input or output, or of a parameter.
struct TensorInfo {
  std::string name; ///< ONNX name; may be empty for outputs that had none
  DType dtype = DType::Unspecified;
  std::vector<int64_t> shape;
};

struct FunctionInfo {
  std::string name;
  std::vector<TensorInfo> inputs, outputs;
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
  /// its results. Errors: NotFound (no such function), InvalidArgument (input count, dtype,
  /// shape), or a kernel's status prefixed with the op kind and ONNX node name.
  Status run(std::string_view function, const std::vector<TensorView> &inputs,
             std::vector<Tensor> *outputs);
  Status run(std::string_view function, const std::vector<Tensor> &inputs,
             std::vector<Tensor> *outputs);

  /// Parameters (named constants and weights) in artifact order; valid while the session lives.
  const std::vector<TensorInfo> &parameters() const;
  /// Copies the current value of parameter `name` into `*out`.
  Status getParameter(std::string_view name, Tensor *out) const;
  /// Overwrites parameter `name` with `value` (same dtype and shape); later runs see it.
  Status setParameter(std::string_view name, const TensorView &value);

  /// Bytes of the activation arena (the plan's peak activation memory).
  uint64_t arenaBytes() const;
  /// Bytes of parameters and constants the artifact's values use (mapped or copied).
  uint64_t parameterBytes() const;
  /// Bytes of parameters copied into private memory (copyParameters, setParameter).
  uint64_t copiedParameterBytes() const;
  /// Element-wise groups the session runs chunk-wise, over all functions (0 when
  /// SessionOptions::fuseElementwise is false).
  size_t elementwiseGroupCount() const;
  /// The manifest's producer ("precis <version>") and target ("cpu").
  const std::string &producer() const;
  const std::string &target() const;

  struct Impl;

private:
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace precis::rt

#endif // PRECIS_RUNTIME_SESSION_H
