//===- Executor.cpp - running artifacts on the CPU kernels ----------------===//
//
// Memory: a run's activation arena is one anonymous mapping of the artifact's arena_size, values
// at their planned offsets; blob values point at the session's host bytes; function inputs point
// at the caller's memory for the duration of a run only.
//
// Concurrency: what creation derives from the artifact (kernels, element-wise groups) is shared
// and only read by runs. Everything a run writes — the arena, where each value's bytes are, the
// kernel operand views, the groups' per-thread views and scratch — is a RunState, which a run
// takes from the executor's pool and gives back at its end, so runs of one session may overlap.
// A run finding the pool empty makes a new state; at most one per hardware thread is kept for
// reuse, so the pool grows to the number of runs that overlapped and no further. Every state's
// kernel operand views are built when it is made, so a run only refreshes their data pointers.
//
// Collectives: in a world of several ranks, an all_reduce op only starts its all-reduces
// (Communicator::startAllReduce, KernelContext::started) and the run goes on with the ops
// after it; it waits for them right before the first op that reads one of the all_reduce's
// results (found at creation from the op order), or at the end of the function for results
// only the caller reads (an all_reduce whose results the very next op reads runs to the end
// inside the op: nothing could overlap it). The data-parallel pass places each gradient bucket's
// all_reduce right after the bucket's last gradient and the optimizer reads them all, so a bucket's
// communication overlaps the rest of the backward pass. The results are those of a
// synchronous all-reduce: the same calls, and no op touches their memory before the wait (the
// planner keeps a value's memory to itself until its last reader). Under checkNumerics, whose
// scan reads every result right after its op, the all-reduces finish inside the op.
//
// Carried state (carryOutputs): a carried output is written into the caller's memory of the
// input it carries to, so a training step updates its state where it lies. Where the op that
// computes the output reads every element before writing it (the optimizer updates) and no
// later op reads the input, the op writes there directly and the output's arena slot is never
// touched; any other carried output is copied there after the last op. Either way a run then
// copies a carried output back to the caller only when fetched.
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
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <sys/mman.h>
#include <thread>

namespace precis::rt::cpu {

namespace {

/// An op's kernel, resolved at creation.
struct BoundOp {
  KernelFn fn = nullptr;
  const OpDesc *desc = nullptr;
  std::string ref; // "op 3 'matmul' (node "MatMul_0")" for error messages
};

/// An op's kernel operand views in one run state; their data pointers are refreshed on every
/// run.
struct OpViews {
  std::vector<TensorView> inputs, outputs;
};

/// Everything one run writes (see the file comment).
struct RunState {
  uint8_t *arena = nullptr; // anonymous mapping of arenaSize bytes
  uint64_t arenaSize = 0;
  /// Where each value's bytes are now: arena values from creation on, blob values from the
  /// start of each run (the executor's current blob pointers), function inputs while a run
  /// binds them.
  std::vector<uint8_t *> valueData;
  std::vector<std::vector<OpViews>> ops;         // per function, per op
  std::vector<std::vector<GroupThreads>> groups; // per function, per element-wise group
  std::vector<AlignedBuffer> scratch;            // per thread, for the groups
  std::vector<uint8_t *> scratchPointers;
  /// Collectives in flight: the tickets an all_reduce op just started (KernelContext::started)
  /// and, moved from there, each with the op index to wait before and the op that started it.
  std::vector<uint64_t> started;
  struct InFlight {
    size_t waitBefore, op;
    uint64_t ticket;
  };
  std::vector<InFlight> inFlight;

  RunState() = default;
  RunState(const RunState &) = delete;
  RunState &operator=(const RunState &) = delete;
  ~RunState() {
    if (arena)
      ::munmap(arena, arenaSize);
  }
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
Status checkFinite(const std::string &function, const BoundOp &op, const OpViews &views) {
  for (size_t o = 0; o < views.outputs.size(); ++o) {
    const TensorView &out = views.outputs[o];
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
    for (size_t i = 0; i < views.inputs.size(); ++i) {
      const TensorView &in = views.inputs[i];
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

  Status init(const SessionOptions &options, const std::vector<uint8_t *> &blobData);
  Status run(size_t function, const std::vector<TensorView> &inputs,
             std::vector<Tensor> *outputs) override;
  Status runFetching(size_t function, const std::vector<TensorView> &inputs,
                     std::vector<Tensor> *outputs, const std::vector<bool> &fetch) override;
  Status carryOutputs(size_t function,
                      const std::vector<std::pair<size_t, size_t>> &carries) override;
  Status updateBlob(uint32_t value, const void *data) override {
    // Blobs are only read: the const_cast just fits them into RunState::valueData.
    blobData_[value] = const_cast<uint8_t *>(static_cast<const uint8_t *>(data));
    return Status::ok();
  }
  size_t elementwiseGroupCount() const override;

private:
  /// A new run state: its arena, operand views and scratch.
  Status makeRunState(std::unique_ptr<RunState> *out) const;
  /// A state from the pool, or a new one when none is free.
  Status acquire(std::unique_ptr<RunState> *out);
  /// Returns `state` to the pool (or frees it when the pool is full).
  void release(std::unique_ptr<RunState> state);
  /// run() and runFetching(); `fetch` null: every output.
  Status runImpl(size_t function, const std::vector<TensorView> &inputs,
                 std::vector<Tensor> *outputs, const std::vector<bool> *fetch);

  /// How one function's outputs reach the caller (see the file comment).
  struct Carry {
    size_t output = 0, input = 0;
    bool inPlace = false; ///< the producing op writes into the input's memory
  };

  const Artifact &artifact_;
  KernelContext context_;
  bool checkNumerics_ = false;

  // Shared by all runs, written only at creation (and blobData_ by updateBlob, which the
  // session's contract keeps apart from runs).
  std::vector<uint8_t *> blobData_;                   // per value; blob values only
  std::vector<uint32_t> blobValues_;                  // indices of the blob values
  std::vector<std::vector<BoundOp>> ops_;             // per function
  std::vector<std::vector<ElementwiseGroup>> groups_; // per function, in op order
  /// Per function, per op: for an all_reduce, the index of the first op that reads one of its
  /// results (the op count when only the function's caller does); unused for other ops.
  std::vector<std::vector<size_t>> waitBefore_;
  bool overlapCollectives_ = false; // several ranks, and no check-numerics
  uint64_t scratchBytes_ = 0;       // per thread, for the groups

  std::vector<std::vector<Carry>> carries_; // per function, set by carryOutputs

  std::mutex poolMutex_;
  std::vector<std::unique_ptr<RunState>> pool_; // idle states
  size_t maxPooled_ = 1;
};

Status CpuExecutor::init(const SessionOptions &options, const std::vector<uint8_t *> &blobData) {
  checkNumerics_ = options.checkNumerics;
  const int hardwareThreads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  context_.numThreads = options.numThreads ? options.numThreads : hardwareThreads;
  context_.communicator = options.communicator.get();
  maxPooled_ = static_cast<size_t>(hardwareThreads);

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

  // Where each all_reduce's results are first read (see the file comment).
  for (const FunctionDesc &fd : functions)
    waitBefore_.push_back(allReduceWaitPoints(fd));
  overlapCollectives_ =
      context_.communicator && context_.communicator->size() > 1 && !options.checkNumerics;

  const auto &values = artifact_.values();
  blobData_.assign(values.size(), nullptr);
  for (uint32_t i = 0; i < values.size(); ++i)
    if (values[i].storage == Storage::Blob) {
      blobData_[i] = blobData[i];
      blobValues_.push_back(i);
    }

  carries_.resize(functions.size());
  groups_.resize(functions.size());
  if (options.fuseElementwise && !options.checkNumerics) {
    for (size_t f = 0; f < functions.size(); ++f) {
      std::vector<KernelFn> kernels;
      for (const BoundOp &op : ops_[f])
        kernels.push_back(op.fn);
      groups_[f] = findElementwiseGroups(values, functions[f], kernels);
      for (const ElementwiseGroup &g : groups_[f])
        scratchBytes_ = std::max(scratchBytes_, g.scratchBytes);
    }
  }

  // The first run state now, so that an arena too large for the machine fails creation.
  std::unique_ptr<RunState> state;
  PRECIS_RETURN_IF_ERROR(makeRunState(&state));
  pool_.push_back(std::move(state));
  return Status::ok();
}

Status CpuExecutor::makeRunState(std::unique_ptr<RunState> *out) const {
  auto state = std::make_unique<RunState>();
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
    state->arena = static_cast<uint8_t *>(p);
    state->arenaSize = arenaSize;
  }
  const auto &values = artifact_.values();
  state->valueData.assign(values.size(), nullptr);
  for (uint32_t i = 0; i < values.size(); ++i)
    if (values[i].storage == Storage::Arena)
      state->valueData[i] = state->arena + values[i].offset;

  const size_t numFunctions = artifact_.functions().size();
  state->ops.resize(numFunctions);
  state->groups.resize(numFunctions);
  for (size_t f = 0; f < numFunctions; ++f) {
    for (const BoundOp &op : ops_[f]) {
      OpViews views;
      for (uint32_t idx : op.desc->inputs)
        views.inputs.push_back({nullptr, values[idx].dtype, values[idx].shape});
      for (uint32_t idx : op.desc->outputs)
        views.outputs.push_back({nullptr, values[idx].dtype, values[idx].shape});
      state->ops[f].push_back(std::move(views));
    }
    for (const ElementwiseGroup &g : groups_[f])
      state->groups[f].push_back(bindThreads(g, context_.numThreads));
  }
  if (scratchBytes_) {
    for (int t = 0; t < context_.numThreads; ++t) {
      state->scratch.push_back(allocateAligned(scratchBytes_));
      if (!state->scratch.back())
        return internalError("cannot allocate " + std::to_string(scratchBytes_) +
                             " bytes of element-wise scratch");
      state->scratchPointers.push_back(state->scratch.back().get());
    }
  }
  *out = std::move(state);
  return Status::ok();
}

Status CpuExecutor::acquire(std::unique_ptr<RunState> *out) {
  {
    std::lock_guard<std::mutex> lock(poolMutex_);
    if (!pool_.empty()) {
      *out = std::move(pool_.back());
      pool_.pop_back();
      return Status::ok();
    }
  }
  return makeRunState(out);
}

void CpuExecutor::release(std::unique_ptr<RunState> state) {
  {
    std::lock_guard<std::mutex> lock(poolMutex_);
    if (pool_.size() < maxPooled_) {
      pool_.push_back(std::move(state));
      return;
    }
  }
  // The pool is full: `state` is freed here, outside the lock.
}

/// Kernels that read every element of their inputs before writing that element of their
/// outputs (all of one shape), so an output may share memory with an input it updates.
bool updatesElementsInPlace(const std::string &kind) {
  return kind == "adam_update" || kind == "sgd_update";
}

Status CpuExecutor::carryOutputs(size_t f, const std::vector<std::pair<size_t, size_t>> &carries) {
  const FunctionDesc &fd = artifact_.functions()[f];
  const auto &values = artifact_.values();
  // The op that writes each value, and the last op that reads each value.
  std::vector<size_t> producer(values.size(), SIZE_MAX), lastRead(values.size(), SIZE_MAX);
  for (size_t k = 0; k < fd.ops.size(); ++k) {
    for (uint32_t v : fd.ops[k].inputs)
      lastRead[v] = k;
    for (uint32_t v : fd.ops[k].outputs)
      producer[v] = k;
  }
  std::vector<bool> returned(values.size(), false), aliased(values.size(), false);
  for (uint32_t v : fd.outputs)
    returned[v] = true;
  std::vector<Carry> plan;
  for (const auto &[output, input] : carries) {
    Carry c{output, input, false};
    const uint32_t out = fd.outputs[output], in = fd.inputs[input];
    const size_t k = producer[out];
    // In place only when nothing can see the difference: the input's old value is not read
    // after the op that computes the new one (nor returned), and the output is computed by
    // an element-wise update and aliased once.
    c.inPlace = values[out].storage == Storage::Arena && k != SIZE_MAX &&
                updatesElementsInPlace(fd.ops[k].kind) && !aliased[out] && !returned[in] &&
                (lastRead[in] == SIZE_MAX || lastRead[in] <= k);
    if (c.inPlace)
      aliased[out] = true;
    plan.push_back(c);
  }
  carries_[f] = std::move(plan);
  return Status::ok();
}

Status CpuExecutor::run(size_t f, const std::vector<TensorView> &inputs,
                        std::vector<Tensor> *outputs) {
  return runImpl(f, inputs, outputs, nullptr);
}

Status CpuExecutor::runFetching(size_t f, const std::vector<TensorView> &inputs,
                                std::vector<Tensor> *outputs, const std::vector<bool> &fetch) {
  return runImpl(f, inputs, outputs, &fetch);
}

Status CpuExecutor::runImpl(size_t f, const std::vector<TensorView> &inputs,
                            std::vector<Tensor> *outputs, const std::vector<bool> *fetch) {
  std::unique_ptr<RunState> state;
  PRECIS_RETURN_IF_ERROR(acquire(&state));
  RunState &rs = *state;
  std::vector<uint8_t *> &valueData = rs.valueData;
  const FunctionDesc &fd = artifact_.functions()[f];
  const auto &values = artifact_.values();
  for (uint32_t idx : blobValues_)
    valueData[idx] = blobData_[idx];
  for (size_t p = 0; p < inputs.size(); ++p)
    valueData[fd.inputs[p]] = static_cast<uint8_t *>(inputs[p].data);
  const std::vector<Carry> &carries = carries_[f];
  for (const Carry &c : carries)
    if (c.inPlace)
      valueData[fd.outputs[c.output]] = static_cast<uint8_t *>(inputs[c.input].data);
  Status status;
  const std::vector<BoundOp> &ops = ops_[f];
  std::vector<OpViews> &views = rs.ops[f];
  const std::vector<ElementwiseGroup> &groups = groups_[f];
  KernelContext context = context_;
  rs.started.clear();
  rs.inFlight.clear();
  // Finishes the collectives in flight that must be done before op `end` runs (every one for
  // SIZE_MAX); the first failure, naming the all_reduce that started it.
  auto finishBefore = [&](size_t end) {
    Status first;
    size_t kept = 0;
    for (const RunState::InFlight &c : rs.inFlight) {
      if (c.waitBefore >= end) {
        rs.inFlight[kept++] = c;
        continue;
      }
      Status s = context.communicator->wait(c.ticket);
      if (!s.isOk() && first.isOk())
        first = withContext(s, ops[c.op].ref);
    }
    rs.inFlight.resize(kept);
    return first;
  };
  size_t nextGroup = 0;
  for (size_t k = 0; k < ops.size();) {
    if (nextGroup < groups.size() && groups[nextGroup].firstOp == k) {
      const ElementwiseGroup &g = groups[nextGroup];
      if (!rs.inFlight.empty() && !(status = finishBefore(k + g.ops.size())).isOk())
        break;
      GroupThreads &threads = rs.groups[f][nextGroup++];
      size_t failed = 0;
      status = runElementwiseGroup(g, threads, context_.numThreads, valueData, rs.scratchPointers,
                                   &failed);
      if (!status.isOk()) {
        status = withContext(status, ops[k + failed].ref);
        break;
      }
      k += g.ops.size();
      continue;
    }
    if (!rs.inFlight.empty() && !(status = finishBefore(k + 1)).isOk())
      break;
    OpViews &view = views[k];
    const size_t index = k;
    const BoundOp &op = ops[k++];
    for (size_t i = 0; i < view.inputs.size(); ++i)
      view.inputs[i].data = valueData[op.desc->inputs[i]];
    for (size_t i = 0; i < view.outputs.size(); ++i)
      view.outputs[i].data = valueData[op.desc->outputs[i]];
    // Started only when an op runs between the start and the wait: otherwise there is nothing
    // to overlap, and the hand-over to the communicator's thread would only cost.
    context.started =
        overlapCollectives_ && waitBefore_[f][index] > index + 1 ? &rs.started : nullptr;
    status = op.fn(context, view.inputs, view.outputs, op.desc->attrs);
    for (uint64_t ticket : rs.started)
      rs.inFlight.push_back({waitBefore_[f][index], index, ticket});
    rs.started.clear();
    if (!status.isOk()) {
      status = withContext(status, op.ref);
      break;
    }
    if (checkNumerics_ && !(status = checkFinite(fd.name, op, view)).isOk())
      break;
  }
  // Nothing may still write into the arena once the run ends, failed or not.
  if (!rs.inFlight.empty()) {
    Status s = finishBefore(SIZE_MAX);
    if (status.isOk())
      status = s;
  }
  if (status.isOk()) {
    // Into the caller's tensors: storage of the right size is reused, so a caller that runs a
    // function again with the same vector allocates and zeroes nothing. A carried output that
    // is not fetched comes back without data (its value is in the caller's input).
    std::vector<bool> carried(fd.outputs.size(), false);
    for (const Carry &c : carries)
      carried[c.output] = true;
    outputs->resize(fd.outputs.size());
    for (size_t p = 0; p < fd.outputs.size(); ++p) {
      const ValueDesc &v = values[fd.outputs[p]];
      Tensor &t = (*outputs)[p];
      t.dtype = v.dtype;
      t.shape = v.shape;
      // A carried output whose value is an input must be read before the copies below
      // overwrite that input; so is every fetched output.
      const bool wanted =
          !carried[p] || !fetch || fetch->empty() || (*fetch)[p] || v.storage == Storage::Input;
      if (!wanted) {
        std::vector<uint8_t>().swap(t.data);
        continue;
      }
      if (t.data.size() != v.byteSize)
        t.data.resize(v.byteSize);
      if (v.byteSize)
        std::memcpy(t.data.data(), valueData[fd.outputs[p]], v.byteSize);
    }
    for (const Carry &c : carries) {
      const ValueDesc &v = values[fd.outputs[c.output]];
      if (c.inPlace || !v.byteSize)
        continue;
      const uint8_t *from = v.storage == Storage::Input ? (*outputs)[c.output].data.data()
                                                        : valueData[fd.outputs[c.output]];
      std::memmove(inputs[c.input].data, from, v.byteSize);
    }
    for (const Carry &c : carries) {
      Tensor &t = (*outputs)[c.output];
      if (fetch && !fetch->empty() && !(*fetch)[c.output] && !t.data.empty())
        std::vector<uint8_t>().swap(t.data);
    }
  }
  // Unbind the caller's memory: nothing may point at it after the call.
  for (uint32_t idx : fd.inputs)
    valueData[idx] = nullptr;
  for (const Carry &c : carries)
    if (c.inPlace) {
      const ValueDesc &v = values[fd.outputs[c.output]];
      valueData[fd.outputs[c.output]] = rs.arena + v.offset;
    }
  for (OpViews &view : views)
    for (TensorView &t : view.outputs)
      t.data = nullptr;
  for (OpViews &view : views)
    for (TensorView &t : view.inputs)
      t.data = nullptr;
  release(std::move(state));
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
