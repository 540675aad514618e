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
  /// against its signature) and replaces `*outputs` with host copies of its results (on
  /// success only; a backend may reuse the storage of tensors already there).
  virtual Status run(size_t function, const std::vector<TensorView> &inputs,
                     std::vector<Tensor> *outputs) = 0;
  /// As run(), but of the carried outputs (carryOutputs) only those `fetch` marks (one flag
  /// per output, checked) come back, the others without data; by default every output comes
  /// back.
  virtual Status runFetching(size_t function, const std::vector<TensorView> &inputs,
                             std::vector<Tensor> *outputs, const std::vector<bool> &fetch) {
    return run(function, inputs, outputs);
  }
  /// Copies the bytes input `input` of `function` holds where the executor keeps them (after
  /// carryOutputs and a run: the state carried into it) into `*out`. Unimplemented where the
  /// inputs are the caller's memory.
  virtual Status readInput(size_t function, size_t input, Tensor *out) {
    return unimplemented("this backend keeps no inputs: they are the caller's memory");
  }
  /// From the next run of `function` on, output carries[k].first becomes input
  /// carries[k].second of the following run (indices, types, and that no input is carried
  /// into twice, already checked). See Session::carryOutputs.
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
