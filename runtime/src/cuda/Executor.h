//===- Executor.h - the CUDA backend of a Session ----------------*- C++ -*-===//
//
// A Session whose backend is "cuda" hands its runs to a cuda::Executor. The executor owns the
// device side of the session: the primary context of device 0, one stream, one device arena of
// the artifact's arena_size, the parameters and constants (uploaded once at creation), one
// device buffer per function input, the loaded kernel modules and the cuBLASLt plans of every
// GEMM. A function's first run executes its ops one by one (so an error names its op) and
// captures them into a CUDA graph; later runs upload the inputs, replay the graph and download
// the outputs.
//
// This header needs no CUDA headers: in a build without the toolkit, create() says so.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SRC_CUDA_EXECUTOR_H
#define PRECIS_RUNTIME_SRC_CUDA_EXECUTOR_H

#include "Status.h"
#include "precis/runtime/Tensor.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace precis::rt {
class Artifact;
}

namespace precis::rt::cuda {

/// Whether this build has the CUDA backend (the toolkit's headers were found).
bool builtWithCuda();

class Executor {
public:
  /// Binds `artifact` (validated; it outlives the executor) to the first CUDA device.
  /// `blobData[v]` is the host memory of blob-backed value v (the session's current copy).
  /// Unavailable "no CUDA device: <reason>" without a usable driver or device, or in a build
  /// without CUDA; Unimplemented naming the op for op kinds the backend cannot run.
  static Status create(const Artifact &artifact, const std::vector<uint8_t *> &blobData,
                       std::unique_ptr<Executor> *out);
  virtual ~Executor() = default;

  /// Runs function `function` (index into artifact.functions()) on `inputs` (already checked
  /// against its signature) and replaces `*outputs` with host copies of its results; with
  /// `fetch` (one flag per output), only of those it marks (the others get no data).
  virtual Status run(size_t function, const std::vector<TensorView> &inputs,
                     std::vector<Tensor> *outputs, const std::vector<bool> *fetch = nullptr) = 0;
  /// Copies the device buffer of input `input` of `function` (after carryOutputs and a run:
  /// the state carried into it) into `*out`.
  virtual Status readInput(size_t function, size_t input, Tensor *out) = 0;
  /// From the next run of `function` on, after each run, copies output carries[k].first into
  /// the device buffer of input carries[k].second, and uploads those inputs no more: the
  /// first run after this call still reads them from the caller. See Session::carryOutputs.
  virtual Status carryOutputs(size_t function,
                              const std::vector<std::pair<size_t, size_t>> &carries) = 0;
  /// Uploads the new bytes of blob-backed value `value` (a parameter the session replaced).
  virtual Status updateBlob(uint32_t value, const void *data) = 0;
};

} // namespace precis::rt::cuda

#endif // PRECIS_RUNTIME_SRC_CUDA_EXECUTOR_H
