//===- Executor.h - the CPU backend of a Session -----------------*- C++ -*-===//
//
// A Session whose backend is "cpu" (the default) hands its runs to a cpu::Executor. Creation
// resolves every op's kernel (failing early, naming the op, when the backend lacks one),
// allocates the activation arena once and builds the kernel operand views of every op. A run
// then only binds the caller's inputs, points the views at the current value memory and calls
// the kernels in order: no allocation besides the output copies.
//
// Unless SessionOptions::fuseElementwise is off, creation also finds the runs of element-wise
// ops that ChunkedGroups.h evaluates chunk by chunk; a run executes each as one step.
//
// With SessionOptions::checkNumerics every op runs on its own and its float outputs are scanned
// right after it; the first NaN or infinity stops the run with a report on the op and the
// ranges of its inputs, which are still intact then (the planner never lets an op's results
// overwrite its own inputs).
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SRC_CPU_EXECUTOR_H
#define PRECIS_RUNTIME_SRC_CPU_EXECUTOR_H

#include "../Executor.h" // precis::rt::Executor, not this file

#include <cstdint>
#include <memory>
#include <vector>

namespace precis::rt {
class Artifact;
struct SessionOptions;
} // namespace precis::rt

namespace precis::rt::cpu {

/// The run-time side of a "cpu" artifact (see precis::rt::Executor for the contract). Runs
/// read every input from the caller; after carryOutputs they also write the carried outputs
/// into the caller's memory of the inputs they carry to (in place where the update allows it,
/// so that the output never takes arena memory), and return those only when fetched.
/// updateBlob points the value at the new bytes.
class Executor : public rt::Executor {
public:
  /// Binds `artifact` (validated; it outlives the executor) to the CPU kernels, with the
  /// session's numThreads (> 0 or 0 for one per hardware thread), fuseElementwise and
  /// checkNumerics. `blobData[v]` is the host memory of blob-backed value v (the session's
  /// current copy). Unimplemented naming the op for op kinds without a kernel.
  static Status create(const Artifact &artifact, const SessionOptions &options,
                       const std::vector<uint8_t *> &blobData, std::unique_ptr<Executor> *out);
};

} // namespace precis::rt::cpu

#endif // PRECIS_RUNTIME_SRC_CPU_EXECUTOR_H
