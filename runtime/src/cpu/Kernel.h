//===- Kernel.h - CPU backend kernel interface -------------------*- C++ -*-===//
//
// The contract between the CPU executor and its kernels. One kernel per precis op kind (the
// op's name without the dialect prefix, as the artifact's Op.kind records it); a kernel reads
// its inputs, writes its preallocated outputs and returns a Status. Kernels never allocate
// their outputs and never keep pointers past the call.
//
// Numerics: kernels compute in fp32 (fp64 for f64 tensors) and round at exactly the points a
// GPU does — when reading a low-precision operand (exact decode) and when writing a
// low-precision result (round to nearest even via numerics.h); contractions accumulate in fp32.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SRC_CPU_KERNEL_H
#define PRECIS_RUNTIME_SRC_CPU_KERNEL_H

#include "Status.h"
#include "precis/runtime/Tensor.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace precis::rt {

// DType, dtypeSize, dtypeName and TensorView live in precis/runtime/Tensor.h: the public C++
// API shares them.

/// One attribute value, as the artifact stores it.
struct AttrValue {
  enum class Kind { Int, Float, String, Ints, Floats } kind = Kind::Int;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
};

/// The attributes of one op, with typed lookups that fall back to the op's documented default.
class Attrs {
public:
  Attrs() = default;
  explicit Attrs(std::map<std::string, AttrValue> values) : values_(std::move(values)) {}

  bool has(std::string_view name) const { return values_.count(std::string(name)) != 0; }
  int64_t getInt(std::string_view name, int64_t dflt) const;
  double getFloat(std::string_view name, double dflt) const;
  std::vector<int64_t> getInts(std::string_view name, std::vector<int64_t> dflt) const;
  std::vector<double> getFloats(std::string_view name, std::vector<double> dflt) const;
  std::string getString(std::string_view name, std::string dflt) const;

private:
  std::map<std::string, AttrValue> values_;
};

class Communicator;

/// Per-call context: thread budget and scratch memory the executor owns.
struct KernelContext {
  int numThreads = 1;
  /// The processes the session's collectives run across (SessionOptions::communicator);
  /// null for a world of one.
  Communicator *communicator = nullptr;
  /// Where all_reduce leaves the tickets of the all-reduces it starts
  /// (Communicator::startAllReduce) for the executor, which waits for them before the first op
  /// that reads their results. Null: all_reduce finishes its all-reduces before it returns.
  std::vector<uint64_t> *started = nullptr;
};

using KernelFn = Status (*)(const KernelContext &ctx, const std::vector<TensorView> &inputs,
                            std::vector<TensorView> &outputs, const Attrs &attrs);

/// The kernel for `kind`, or nullptr when the CPU backend has none.
KernelFn findCpuKernel(std::string_view kind);

} // namespace precis::rt

#endif // PRECIS_RUNTIME_SRC_CPU_KERNEL_H
