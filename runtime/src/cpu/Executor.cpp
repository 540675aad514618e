//===- Executor.cpp - running artifacts on the CPU kernels ----------------===//
//
// Memory: the activation arena is one anonymous mapping of the artifact's arena_size, values at
// their planned offsets; blob values point at the session's host bytes; function inputs point at
// the caller's memory for the duration of a run only. Every op's kernel operand views are built
// at creation, so a run only refreshes their data pointers.
//
//===----------------------------------------------------------------------===//

#include "cpu/Executor.h"

#include "Artifact.h"
#include "ChunkedGroups.h"
#include "cpu/Kernel.h"
#include "cpu/KernelSupport.h"
#include "precis/runtime/Session.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sys/mman.h>
#include <thread>

namespace precis::rt::cpu {

namespace {

/// A kernel with its operand views; the views' data pointers are refreshed on every run.
struct BoundOp {
  KernelFn fn = nullptr;
  const OpDesc *desc = nullptr;
  std::string ref; // "op 3 'matmul' (node "MatMul_0")" for error messages
  std::vector<TensorView> inputs, outputs;
};

/// What check-numerics reports about one float tensor.
struct FloatRange {
  double min = INFINITY, max = -INFINITY; ///< over the finite elements
  int64_t nan = 0, inf = 0, count = 0;
  int64_t nonFinite() const { return nan + inf; }
};

FloatRange scanFloats(const TensorView &t) {
  FloatRange r;
  r.count = static_cast<int64_t>(t.numElements());
  (void)visitFloat(
      t.dtype, [] { return Status::ok(); },
      [&](auto tag) {
        using T = decltype(tag);
        const auto *p = static_cast<const typename T::S *>(t.data);
        for (int64_t i = 0; i < r.count; ++i) {
          const double v = static_cast<double>(T::E::load(p[i]));
          if (std::isnan(v))
            ++r.nan;
          else if (std::isinf(v))
            ++r.inf;
          else {
            r.min = std::min(r.min, v);
            r.max = std::max(r.max, v);
          }
        }
        return Status::ok();
      });
  return r;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

const char *phaseName(Phase p) {
  switch (p) {
  case Phase::Forward:
    return "forward";
  case Phase::Backward:
    return "backward (gradient)";
  case Phase::Optimizer:
    return "optimizer";
  }
  return "?";
}

/// NonFinite naming `op` when one of its float outputs has a NaN or an infinity.
Status checkFinite(const std::string &function, const BoundOp &op) {
  for (size_t o = 0; o < op.outputs.size(); ++o) {
    const TensorView &out = op.outputs[o];
    if (!isFloat(out.dtype))
      continue;
    const FloatRange r = scanFloats(out);
    if (!r.nonFinite())
      continue;
    std::string m = "check-numerics: function " + singleQuoted(function) + " " + op.ref + ", " +
                    phaseName(op.desc->phase) + " phase, output #" + std::to_string(o) + " in " +
                    dtypeName(out.dtype) + " (" + typeString(out.dtype, out.shape) + ") has " +
                    std::to_string(r.inf) + " inf and " + std::to_string(r.nan) + " NaN of " +
                    std::to_string(r.count) + " elements; inputs:";
    bool any = false;
    for (size_t i = 0; i < op.inputs.size(); ++i) {
      const TensorView &in = op.inputs[i];
      if (!isFloat(in.dtype))
        continue;
      const FloatRange ir = scanFloats(in);
      m += std::string(any ? ";" : "") + " #" + std::to_string(i) + " " +
           typeString(in.dtype, in.shape) + " ";
      m += ir.count == ir.nonFinite() ? std::string("no finite values")
                                      : "min " + number(ir.min) + " max " + number(ir.max);
      m += ", " + std::to_string(ir.nonFinite()) + " non-finite";
      any = true;
    }
    if (!any)
      m += " none in floating point";
    return nonFinite(m);
  }
  return Status::ok();
}

class CpuExecutor final : public Executor {
public:
  explicit CpuExecutor(const Artifact &artifact) : artifact_(artifact) {}
  ~CpuExecutor() override;

  Status init(const SessionOptions &options, const std::vector<uint8_t *> &blobData);
  Status run(size_t function, const std::vector<TensorView> &inputs,
             std::vector<Tensor> *outputs) override;
  Status carryOutputs(size_t, const std::vector<std::pair<size_t, size_t>> &) override {
    return Status::ok();
  }
  Status updateBlob(uint32_t value, const void *data) override {
    // Blobs are only read: the const_cast just fits them into valueData_.
    valueData_[value] = const_cast<uint8_t *>(static_cast<const uint8_t *>(data));
    return Status::ok();
  }
  size_t elementwiseGroupCount() const override;

private:
  const Artifact &artifact_;
  KernelContext context_;
  bool checkNumerics_ = false;

  uint8_t *arena_ = nullptr; // anonymous mapping of artifact_.arenaSize() bytes
  /// Where each value's bytes are now: arena and blob values from creation on, function
  /// inputs while a run binds them.
  std::vector<uint8_t *> valueData_;

  std::vector<std::vector<BoundOp>> ops_;             // per function
  std::vector<std::vector<ElementwiseGroup>> groups_; // per function, in op order
  std::vector<AlignedBuffer> scratch_;                // per thread, for the groups
  std::vector<uint8_t *> scratchPointers_;
};

CpuExecutor::~CpuExecutor() {
  if (arena_)
    ::munmap(arena_, artifact_.arenaSize());
}

Status CpuExecutor::init(const SessionOptions &options, const std::vector<uint8_t *> &blobData) {
  checkNumerics_ = options.checkNumerics;
  context_.numThreads = options.numThreads
                            ? options.numThreads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  // Kernels first: an artifact the backend cannot run fails before any allocation.
  const auto &functions = artifact_.functions();
  ops_.resize(functions.size());
  for (size_t f = 0; f < functions.size(); ++f) {
    const FunctionDesc &fd = functions[f];
    for (size_t k = 0; k < fd.ops.size(); ++k) {
      const OpDesc &od = fd.ops[k];
      BoundOp op;
      op.desc = &od;
      op.ref = "op " + std::to_string(k) + " " + singleQuoted(od.kind);
      if (!od.name.empty())
        op.ref += " (node " + quoted(od.name) + ")";
      op.fn = findCpuKernel(od.kind);
      if (!op.fn)
        return unimplemented("function " + singleQuoted(fd.name) + " " + op.ref +
                             ": the cpu backend has no kernel for " + singleQuoted(od.kind));
      ops_[f].push_back(std::move(op));
    }
  }

  const uint64_t arenaSize = artifact_.arenaSize();
  if (arenaSize > 0) {
    // An anonymous mapping: page-aligned, zeroed, committed only when touched, and a clean
    // failure (not an abort) when the size is absurd.
    void *p = arenaSize > SIZE_MAX ? MAP_FAILED
                                   : ::mmap(nullptr, arenaSize, PROT_READ | PROT_WRITE,
                                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
      return internalError("cannot allocate the " + std::to_string(arenaSize) +
                           "-byte activation arena");
    arena_ = static_cast<uint8_t *>(p);
  }
  const auto &values = artifact_.values();
  valueData_.assign(values.size(), nullptr);
  for (uint32_t i = 0; i < values.size(); ++i) {
    if (values[i].storage == Storage::Arena)
      valueData_[i] = arena_ + values[i].offset;
    else if (values[i].storage == Storage::Blob)
      valueData_[i] = blobData[i];
  }
  for (size_t f = 0; f < functions.size(); ++f) {
    for (BoundOp &op : ops_[f]) {
      for (uint32_t idx : op.desc->inputs)
        op.inputs.push_back({nullptr, values[idx].dtype, values[idx].shape});
      for (uint32_t idx : op.desc->outputs)
        op.outputs.push_back({nullptr, values[idx].dtype, values[idx].shape});
    }
  }

  groups_.resize(functions.size());
  if (options.fuseElementwise && !options.checkNumerics) {
    uint64_t scratchBytes = 0;
    for (size_t f = 0; f < functions.size(); ++f) {
      std::vector<KernelFn> kernels;
      for (const BoundOp &op : ops_[f])
        kernels.push_back(op.fn);
      groups_[f] = findElementwiseGroups(values, functions[f], kernels);
      for (ElementwiseGroup &g : groups_[f]) {
        bindThreads(g, context_.numThreads);
        scratchBytes = std::max(scratchBytes, g.scratchBytes);
      }
    }
    if (scratchBytes) {
      for (int t = 0; t < context_.numThreads; ++t) {
        scratch_.push_back(allocateAligned(scratchBytes));
        if (!scratch_.back())
          return internalError("cannot allocate " + std::to_string(scratchBytes) +
                               " bytes of element-wise scratch");
        scratchPointers_.push_back(scratch_.back().get());
      }
    }
  }
  return Status::ok();
}

Status CpuExecutor::run(size_t f, const std::vector<TensorView> &inputs,
                        std::vector<Tensor> *outputs) {
  const FunctionDesc &fd = artifact_.functions()[f];
  const auto &values = artifact_.values();
  for (size_t p = 0; p < inputs.size(); ++p)
    valueData_[fd.inputs[p]] = static_cast<uint8_t *>(inputs[p].data);
  Status status;
  std::vector<BoundOp> &ops = ops_[f];
  std::vector<ElementwiseGroup> &groups = groups_[f];
  size_t nextGroup = 0;
  for (size_t k = 0; k < ops.size();) {
    if (nextGroup < groups.size() && groups[nextGroup].firstOp == k) {
      ElementwiseGroup &g = groups[nextGroup++];
      size_t failed = 0;
      status = runElementwiseGroup(g, context_.numThreads, valueData_, scratchPointers_, &failed);
      if (!status.isOk()) {
        status = withContext(status, ops[k + failed].ref);
        break;
      }
      k += g.ops.size();
      continue;
    }
    BoundOp &op = ops[k++];
    for (size_t i = 0; i < op.inputs.size(); ++i)
      op.inputs[i].data = valueData_[op.desc->inputs[i]];
    for (size_t i = 0; i < op.outputs.size(); ++i)
      op.outputs[i].data = valueData_[op.desc->outputs[i]];
    status = op.fn(context_, op.inputs, op.outputs, op.desc->attrs);
    if (!status.isOk()) {
      status = withContext(status, op.ref);
      break;
    }
    if (checkNumerics_ && !(status = checkFinite(fd.name, op)).isOk())
      break;
  }
  if (status.isOk()) {
    std::vector<Tensor> results(fd.outputs.size());
    for (size_t p = 0; p < fd.outputs.size(); ++p) {
      const ValueDesc &v = values[fd.outputs[p]];
      Tensor &t = results[p];
      t.dtype = v.dtype;
      t.shape = v.shape;
      t.data.resize(v.byteSize);
      if (v.byteSize)
        std::memcpy(t.data.data(), valueData_[fd.outputs[p]], v.byteSize);
    }
    *outputs = std::move(results);
  }
  // Unbind the caller's memory: nothing may point at it after the call.
  for (uint32_t idx : fd.inputs)
    valueData_[idx] = nullptr;
  for (BoundOp &op : ops)
    for (TensorView &view : op.inputs)
      view.data = nullptr;
  return status;
}

size_t CpuExecutor::elementwiseGroupCount() const {
  size_t n = 0;
  for (const auto &groups : groups_)
    n += groups.size();
  return n;
}

} // namespace

Status Executor::create(const Artifact &artifact, const SessionOptions &options,
                        const std::vector<uint8_t *> &blobData, std::unique_ptr<Executor> *out) {
  auto executor = std::make_unique<CpuExecutor>(artifact);
  PRECIS_RETURN_IF_ERROR(executor->init(options, blobData));
  *out = std::move(executor);
  return Status::ok();
}

} // namespace precis::rt::cpu
