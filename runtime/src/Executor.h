//===- Executor.h - the backend a Session runs its functions on --*- C++ -*-===//
//
// A Session checks a run's inputs against the artifact and hands the run to the executor of
// its backend: cpu::Executor (cpu/Executor.h, the default) or cuda::Executor
// (cuda/Executor.h). The session owns the artifact and the host bytes of the parameters and
// constants (mapped from the file, or private copies); an executor owns everything a run
// needs besides them (arena, kernels, device memory) and must not outlive either.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SRC_EXECUTOR_H
#define PRECIS_RUNTIME_SRC_EXECUTOR_H

#include "Status.h"
#include "precis/runtime/Tensor.h"

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace precis::rt {

class Executor {
public:
  virtual ~Executor() = default;

  /// Runs function `function` (index into artifact.functions()) on `inputs` (already checked
  /// against its signature) and replaces `*outputs` with host copies of its results.
  virtual Status run(size_t function, const std::vector<TensorView> &inputs,
                     std::vector<Tensor> *outputs) = 0;
  /// From the next run of `function` on, output carries[k].first becomes input
  /// carries[k].second of the following run (indices and types already checked). See
  /// Session::carryOutputs.
  virtual Status carryOutputs(size_t function,
                              const std::vector<std::pair<size_t, size_t>> &carries) = 0;
  /// Blob-backed value `value` (a parameter the session replaced) now has the bytes at `data`,
  /// the session's private copy, which lives as long as the executor.
  virtual Status updateBlob(uint32_t value, const void *data) = 0;
  /// Element-wise groups the executor runs chunk-wise, over all functions (the CPU backend's
  /// run-time fusion; 0 for a backend whose fusion happened at compile time).
  virtual size_t elementwiseGroupCount() const = 0;
};

} // namespace precis::rt

#endif // PRECIS_RUNTIME_SRC_EXECUTOR_H
