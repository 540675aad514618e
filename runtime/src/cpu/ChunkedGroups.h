//===- ChunkedGroups.h - element-wise op runs evaluated chunk by chunk -*- C++ -*-===//
//
// The CPU executor's fusion of element-wise chains (docs/design.md decision 7). At session creation
// findElementwiseGroups picks maximal runs of consecutive element-wise ops of one shape whose
// intermediates die inside the run; runElementwiseGroup then evaluates such a run a chunk of
// elements at a time, calling the ordinary kernels on [chunk]-shaped views, so intermediates
// live in small per-thread scratch buffers that stay in L2 instead of making a round trip
// through the arena. Chunks run in parallel, each kernel on one thread.
//
// The results are bit-identical to running the ops one by one: the same kernels compute every
// element with the same per-element math, and every element's ops run in the original order.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SRC_CHUNKEDGROUPS_H
#define PRECIS_RUNTIME_SRC_CHUNKEDGROUPS_H

#include "Artifact.h"

#include <cstdint>
#include <vector>

namespace precis::rt {

/// Where one operand of a grouped op lives during a chunk.
struct GroupOperand {
  enum class Kind : uint8_t {
    Full,    ///< a value of the group's shape: its memory, offset to the chunk
    Scalar,  ///< a single-element value, passed whole with shape [1]
    Scratch, ///< an intermediate: `scratchOffset` into the thread's scratch buffer
  } kind = Kind::Full;
  uint32_t value = 0;
  DType dtype = DType::Unspecified;
  uint64_t scratchOffset = 0;
};

struct GroupOp {
  KernelFn fn = nullptr;
  const Attrs *attrs = nullptr;
  std::vector<GroupOperand> inputs, outputs;
};

/// Ops [firstOp, firstOp + ops.size()) of a function, run chunk-wise.
struct ElementwiseGroup {
  size_t firstOp = 0;
  int64_t numElements = 0;   ///< elements of every op's result
  int64_t chunkElements = 0; ///< elements per chunk (a multiple of 64, except for tiny groups)
  uint64_t scratchBytes = 0; ///< per thread
  std::vector<GroupOp> ops;
};

/// The mutable side of running one group: kernel operand views per thread and op, built once
/// (bindThreads) so a run does not allocate; their data pointers only point at memory while
/// the group runs. Groups are shared by concurrent runs of a session, so every run brings
/// its own GroupThreads (the executor keeps one per group in each run state).
struct GroupThreads {
  struct Thread {
    std::vector<std::vector<TensorView>> inputs, outputs;
    Status status;
    size_t failedOp = 0;
  };
  std::vector<Thread> threads;
};

/// The groups of `fn`, in op order. `kernels[k]` is op k's kernel.
std::vector<ElementwiseGroup> findElementwiseGroups(const std::vector<ValueDesc> &values,
                                                    const FunctionDesc &fn,
                                                    const std::vector<KernelFn> &kernels);

/// The views for running `group` on up to `numThreads` threads.
GroupThreads bindThreads(const ElementwiseGroup &group, int numThreads);

/// Runs `group` over the values' memory with `views` (from bindThreads for this group; used
/// by one run at a time); `scratch[t]` is thread t's buffer of at least group.scratchBytes
/// bytes (64-byte aligned). On failure `*failedOp` is the index, within the group, of an op
/// whose kernel failed.
Status runElementwiseGroup(const ElementwiseGroup &group, GroupThreads &views, int numThreads,
                           const std::vector<uint8_t *> &valueData,
                           const std::vector<uint8_t *> &scratch, size_t *failedOp);

} // namespace precis::rt

#endif // PRECIS_RUNTIME_SRC_CHUNKEDGROUPS_H
