//===- Artifact.h - loading and validating .precis artifacts -----*- C++ -*-===//
//
// An Artifact is the bytes of a .precis file (mmapped, or copied from a caller's buffer) plus
// its manifest, checked and converted into plain descriptors the executor can use without
// further checks. Loading validates everything the manifest says before anything uses it:
// every index is in range, every offset and size lies inside the memory it names (with
// overflow-safe arithmetic), every value has a known dtype and a representable size, every
// function reads only values that are bound or written before the read. A bad artifact is an
// InvalidArtifact status naming what is wrong, never a crash or an out-of-bounds read.
//
// What loading cannot check is backend-specific (does the backend have a kernel for each op
// kind, do the operand shapes suit it): the executor checks the first, kernels the second.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SRC_ARTIFACT_H
#define PRECIS_RUNTIME_SRC_ARTIFACT_H

#include "Status.h"
#include "cpu/Kernel.h"
#include "precis/runtime/Session.h"
#include "precis/schema/ArtifactFormat.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace precis::rt {

using schema::kFormatVersion;

/// Where a value's bytes live.
enum class Storage {
  Arena, ///< activation: `offset` into the session's arena
  Blob,  ///< parameter or constant: `offset` into the data section (blob `index`)
  Input, ///< the `index`-th input of the function that reads it
};

struct ValueDesc {
  std::string name; ///< ONNX name; empty for temporaries
  DType dtype = DType::Unspecified;
  std::vector<int64_t> shape;
  uint64_t byteSize = 0;
  Storage storage = Storage::Arena;
  uint64_t offset = 0; ///< arena offset, or data-section offset of the blob
  uint32_t index = 0;  ///< blob index, or input ordinal
  /// Inputs only: whether a blob holds the initial value (training state that does not start
  /// at zero), and its data-section offset.
  bool hasInitialValue = false;
  uint64_t initialOffset = 0;
  /// Blobs only: the blob has no bytes in the file (schema::ParamInit); `offset` is into the
  /// memory the loader generated them in.
  bool generated = false;

  /// Function inputs and outputs: the training role, and for a state output the input
  /// ordinal it updates (-1: none).
  Role role = Role::None;
  int64_t updates = -1;

  /// A parameter is a named blob: it can be read and replaced by name.
  bool isParameter() const { return storage == Storage::Blob && !name.empty(); }
};

/// Where an op belongs in a training step (schema::Phase), for check-numerics messages.
enum class Phase { Forward, Backward, Optimizer };

struct OpDesc {
  std::string kind;
  std::string name; ///< the ONNX node it came from
  Phase phase = Phase::Forward;
  bool elementwise = false; ///< schema::Op::elementwise: the kernel may run on chunks
  std::vector<uint32_t> inputs, outputs;
  Attrs attrs;
};

/// A generated device kernel (CUDA targets): entry point, PTX and cubin images.
struct KernelDesc {
  std::string name;
  std::string ptx, cubin;
};

struct FunctionDesc {
  std::string name;
  std::vector<uint32_t> inputs, outputs;
  std::vector<OpDesc> ops;
};

/// Where the results of each all_reduce op of `fd` must be complete when an executor lets the
/// op's communication overlap the ops after it: the index of the first later op that reads one
/// of them, fd.ops.size() when only the function's caller does, or the next op's index when
/// one of them is never read (the planner may give its memory to the next op's values).
/// Entries of other ops are unused (their own index + 1).
std::vector<size_t> allReduceWaitPoints(const FunctionDesc &fd);

/// A loaded, validated artifact. Immutable after load.
class Artifact {
public:
  /// Maps the file at `path` read-only.
  static Status openFile(const std::string &path, std::unique_ptr<Artifact> *out);
  /// Copies `size` bytes at `data` (so the caller may free them on return, and blobs get the
  /// alignment the format promises whatever the buffer's alignment).
  static Status fromMemory(const void *data, size_t size, std::unique_ptr<Artifact> *out);
  ~Artifact();
  Artifact(const Artifact &) = delete;
  Artifact &operator=(const Artifact &) = delete;

  const std::string &producer() const { return producer_; }
  const std::string &target() const { return target_; }
  uint64_t arenaSize() const { return arenaSize_; }
  const std::vector<ValueDesc> &values() const { return values_; }
  const std::vector<FunctionDesc> &functions() const { return functions_; }
  /// Manifest.kernels (CUDA targets; empty otherwise). Checked by the backend that loads them.
  const std::vector<KernelDesc> &kernels() const { return kernels_; }
  /// Bytes of the distinct blobs the values use.
  uint64_t usedBlobBytes() const { return usedBlobBytes_; }
  /// 64-bit FNV-1a of the whole artifact's bytes (computed on each call).
  uint64_t fingerprint() const;
  /// The bytes of blob-backed value `v` (read-only memory when the file is mapped; for a
  /// parameter stored without bytes, the values generated from its ParamInit at load).
  const uint8_t *blobData(const ValueDesc &v) const {
    return (v.generated ? generated_ : dataSection_) + v.offset;
  }
  /// The initial value of input `v` (v.hasInitialValue), v.byteSize bytes.
  const uint8_t *initialData(const ValueDesc &v) const { return dataSection_ + v.initialOffset; }

private:
  Artifact() = default;
  Status parse(); // checks bytes_[0, size_) and fills the descriptors

  // The whole file: mapped (mapped_ true) or an owned heap copy.
  const uint8_t *bytes_ = nullptr;
  uint64_t size_ = 0;
  bool mapped_ = false;

  const uint8_t *dataSection_ = nullptr;
  uint64_t dataSize_ = 0;
  uint8_t *generated_ = nullptr; // owned: the generated parameters (ParamInit), 64-byte aligned
  std::string producer_, target_;
  uint64_t arenaSize_ = 0;
  uint64_t usedBlobBytes_ = 0;
  std::vector<ValueDesc> values_;
  std::vector<FunctionDesc> functions_;
  std::vector<KernelDesc> kernels_;
};

/// `s` quoted and escaped for a message (non-printable bytes as \xNN, long names cut).
std::string quoted(const std::string &s);
/// quoted(s) between single quotes, for names of functions, kinds and backends.
inline std::string singleQuoted(const std::string &s) {
  std::string q = quoted(s);
  q.front() = q.back() = '\'';
  return q;
}

struct FreeDeleter {
  void operator()(uint8_t *p) const { std::free(p); }
};
/// Heap memory with the alignment the format gives blobs (parameter copies, kernel scratch).
using AlignedBuffer = std::unique_ptr<uint8_t, FreeDeleter>;

/// `bytes` (at least one alignment unit) of AlignedBuffer, or null when out of memory.
inline AlignedBuffer allocateAligned(uint64_t bytes) {
  constexpr uint64_t kAlign = schema::kDataAlignment;
  const uint64_t rounded = std::max<uint64_t>(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
  return AlignedBuffer(static_cast<uint8_t *>(std::aligned_alloc(kAlign, rounded)));
}

} // namespace precis::rt

#endif // PRECIS_RUNTIME_SRC_ARTIFACT_H
