//===- Executor.h - the CUDA backend of a Session ----------------*- C++ -*-===//
//
// A Session whose backend is "cuda" hands its runs to a cuda::Executor. The executor owns the
// device side of the session: the primary context of device 0, one stream, one device arena of
// the artifact's arena_size, the parameters and constants (uploaded once at creation), one
// device buffer per function input, the loaded kernel modules and the cuBLASLt plans of every
// GEMM. A function's first run executes its ops one by one (so an error names its op) and
// captures them into a CUDA graph; later runs upload the inputs, replay the graph and download
// the outputs. A function with collectives (`all_reduce`, data-parallel training; `shard` and
// `all_gather`, ZeRO stage 1) is never captured: it runs op by op every time (see Executor.cpp).
//
// This header needs no CUDA headers: in a build without the toolkit, create() says so.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SRC_CUDA_EXECUTOR_H
#define PRECIS_RUNTIME_SRC_CUDA_EXECUTOR_H

#include "../Executor.h" // precis::rt::Executor, not this file

#include <cstdint>
#include <memory>
#include <vector>

namespace precis::rt {
class Artifact;
class Communicator;
} // namespace precis::rt

namespace precis::rt::cuda {

/// Whether this build has the CUDA backend (the toolkit's headers were found).
bool builtWithCuda();

/// The run-time side of a "cuda:<arch>" artifact (see precis::rt::Executor for the contract).
/// carryOutputs: after each run, copies output carries[k].first into the device buffer of input
/// carries[k].second, and uploads those inputs no more: the first run after the call still reads
/// them from the caller. updateBlob uploads the new bytes.
class Executor : public rt::Executor {
public:
  /// Binds `artifact` (validated; it outlives the executor) to the first CUDA device.
  /// `blobData[v]` is the host memory of blob-backed value v (the session's current copy).
  /// Unavailable "no CUDA device: <reason>" without a usable driver or device, or in a build
  /// without CUDA; Unimplemented naming the op for op kinds the backend cannot run.
  /// `communicator` (may be null: a world of one) runs the `all_reduce` and `all_gather` ops: on
  /// the executor's stream for a device-memory one (NCCL, which must be on this device), staged
  /// through host memory for a host-memory one (MPI); its rank and size say which share a `shard`
  /// takes. InvalidArgument naming the op when a step's shares do not divide by its size (the
  /// step was compiled for another number of ranks).
  static Status create(const Artifact &artifact, const std::vector<uint8_t *> &blobData,
                       std::shared_ptr<Communicator> communicator, std::unique_ptr<Executor> *out);

  /// Generated kernels fuse at compile time: no groups are formed at run time.
  size_t elementwiseGroupCount() const override { return 0; }
};

} // namespace precis::rt::cuda

#endif // PRECIS_RUNTIME_SRC_CUDA_EXECUTOR_H
