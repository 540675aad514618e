//===- Session.cpp - binding an artifact to the CPU backend and running it -===//
//
// Creation binds a validated Artifact to the CPU backend: it resolves every op's kernel
// (failing early, naming the op, when the backend lacks one), allocates the activation arena
// once, and builds the kernel operand views of every op. A run then only binds the caller's
// inputs, points the views at the current value memory and calls the kernels in order: no
// allocation besides the output copies.
//
// Unless SessionOptions::fuseElementwise is off, creation also finds the runs of element-wise
// ops that ChunkedGroups.h evaluates chunk by chunk; a run executes each as one step.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Session.h"

#include "Artifact.h"
#include "ChunkedGroups.h"
#include "cpu/Kernel.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sys/mman.h>
#include <thread>

namespace precis::rt {

std::string typeString(DType dtype, const std::vector<int64_t> &shape) {
  std::string s = dtypeName(dtype);
  s += '[';
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ',';
    s += std::to_string(shape[i]);
  }
  return s + ']';
}

namespace {

struct FreeDeleter {
  void operator()(uint8_t *p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<uint8_t, FreeDeleter>;

AlignedBuffer allocateAligned(uint64_t bytes) {
  constexpr uint64_t kAlign = schema::kDataAlignment;
  const uint64_t rounded = std::max<uint64_t>(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
  return AlignedBuffer(static_cast<uint8_t *>(std::aligned_alloc(kAlign, rounded)));
}

/// A kernel with its operand views; the views' data pointers are refreshed on every run.
struct BoundOp {
  KernelFn fn = nullptr;
  const OpDesc *desc = nullptr;
  std::string ref; // "op 3 'matmul' (node "MatMul_0")" for error messages
  std::vector<TensorView> inputs, outputs;
};

std::string singleQuoted(const std::string &s) {
  std::string q = quoted(s);
  q.front() = q.back() = '\'';
  return q;
}

} // namespace

struct Session::Impl {
  std::unique_ptr<Artifact> artifact;
  KernelContext context;

  uint8_t *arena = nullptr; // anonymous mapping of artifact->arenaSize() bytes
  /// Where each value's bytes are now: arena and blob values from creation on (blobs move
  /// when copied), function inputs while a run binds them.
  std::vector<uint8_t *> valueData;
  std::vector<AlignedBuffer> copies; // per value; set for copied parameters
  uint64_t copiedBytes = 0;

  std::vector<std::vector<BoundOp>> ops; // per function
  std::vector<std::vector<ElementwiseGroup>> groups; // per function, in op order
  std::vector<AlignedBuffer> scratch;                // per thread, for the groups
  std::vector<uint8_t *> scratchPointers;
  std::vector<FunctionInfo> functions;
  std::vector<TensorInfo> parameters;
  std::map<std::string, uint32_t, std::less<>> parameterValues; // name -> value index

  ~Impl() {
    if (arena)
      ::munmap(arena, artifact->arenaSize());
  }

  /// Makes parameter value `idx` private and writable (a no-op when it already is).
  Status copyParameter(uint32_t idx) {
    if (copies[idx])
      return Status::ok();
    const ValueDesc &v = artifact->values()[idx];
    AlignedBuffer buffer = allocateAligned(v.byteSize);
    if (!buffer)
      return internalError("cannot allocate " + std::to_string(v.byteSize) +
                           " bytes for parameter " + quoted(v.name));
    if (v.byteSize)
      std::memcpy(buffer.get(), valueData[idx], v.byteSize);
    valueData[idx] = buffer.get();
    copies[idx] = std::move(buffer);
    copiedBytes += v.byteSize;
    return Status::ok();
  }

  const ValueDesc *findParameter(std::string_view name, uint32_t *index) const {
    auto it = parameterValues.find(name);
    if (it == parameterValues.end())
      return nullptr;
    *index = it->second;
    return &artifact->values()[it->second];
  }
};

namespace {

TensorInfo infoOf(const ValueDesc &v) { return {v.name, v.dtype, v.shape}; }

Status createSession(std::unique_ptr<Artifact> artifact, const SessionOptions &options,
                     std::unique_ptr<Session::Impl> *out) {
  if (options.backend != "cpu")
    return unavailable("backend " + singleQuoted(options.backend) +
                       " is not available in this runtime (available: 'cpu')");
  if (options.numThreads < 0)
    return invalidArgument("numThreads is " + std::to_string(options.numThreads) +
                           "; use 0 for one per hardware thread");
  const std::string &target = artifact->target();
  if (target.empty())
    return invalidArtifact("the artifact names no target");
  if (target.substr(0, target.find(':')) != options.backend)
    return invalidArgument("the artifact was compiled for target " + singleQuoted(target) +
                           ", not for backend " + singleQuoted(options.backend));

  auto impl = std::make_unique<Session::Impl>();
  Session::Impl &s = *impl;
  s.context.numThreads = options.numThreads
                             ? options.numThreads
                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  // Kernels first: an artifact the backend cannot run fails before any allocation.
  const auto &functions = artifact->functions();
  s.ops.resize(functions.size());
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
      s.ops[f].push_back(std::move(op));
    }
  }

  const uint64_t arenaSize = artifact->arenaSize();
  if (arenaSize > 0) {
    // An anonymous mapping: page-aligned, zeroed, committed only when touched, and a clean
    // failure (not an abort) when the size is absurd.
    void *p = arenaSize > SIZE_MAX ? MAP_FAILED
                                   : ::mmap(nullptr, arenaSize, PROT_READ | PROT_WRITE,
                                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
      return internalError("cannot allocate the " + std::to_string(arenaSize) +
                           "-byte activation arena");
    s.arena = static_cast<uint8_t *>(p);
  }
  s.artifact = std::move(artifact);
  const auto &values = s.artifact->values();
  s.valueData.assign(values.size(), nullptr);
  s.copies.resize(values.size());
  for (uint32_t i = 0; i < values.size(); ++i) {
    const ValueDesc &v = values[i];
    if (v.storage == Storage::Arena)
      s.valueData[i] = s.arena + v.offset;
    else if (v.storage == Storage::Blob)
      s.valueData[i] = const_cast<uint8_t *>(s.artifact->blobData(v));
    if (v.isParameter()) {
      s.parameters.push_back(infoOf(v));
      s.parameterValues.emplace(v.name, i);
      if (options.copyParameters)
        PRECIS_RETURN_IF_ERROR(s.copyParameter(i));
    }
  }

  for (size_t f = 0; f < functions.size(); ++f) {
    const FunctionDesc &fd = functions[f];
    FunctionInfo info{fd.name, {}, {}};
    for (uint32_t idx : fd.inputs)
      info.inputs.push_back(infoOf(values[idx]));
    for (uint32_t idx : fd.outputs)
      info.outputs.push_back(infoOf(values[idx]));
    s.functions.push_back(std::move(info));
    for (BoundOp &op : s.ops[f]) {
      for (uint32_t idx : op.desc->inputs)
        op.inputs.push_back({nullptr, values[idx].dtype, values[idx].shape});
      for (uint32_t idx : op.desc->outputs)
        op.outputs.push_back({nullptr, values[idx].dtype, values[idx].shape});
    }
  }

  s.groups.resize(functions.size());
  if (options.fuseElementwise) {
    uint64_t scratchBytes = 0;
    for (size_t f = 0; f < functions.size(); ++f) {
      std::vector<KernelFn> kernels;
      for (const BoundOp &op : s.ops[f])
        kernels.push_back(op.fn);
      s.groups[f] = findElementwiseGroups(values, functions[f], kernels);
      for (ElementwiseGroup &g : s.groups[f]) {
        bindThreads(g, s.context.numThreads);
        scratchBytes = std::max(scratchBytes, g.scratchBytes);
      }
    }
    if (scratchBytes) {
      for (int t = 0; t < s.context.numThreads; ++t) {
        s.scratch.push_back(allocateAligned(scratchBytes));
        if (!s.scratch.back())
          return internalError("cannot allocate " + std::to_string(scratchBytes) +
                               " bytes of element-wise scratch");
        s.scratchPointers.push_back(s.scratch.back().get());
      }
    }
  }
  *out = std::move(impl);
  return Status::ok();
}

std::string inputName(const ValueDesc &v, size_t position) {
  return v.name.empty() ? "#" + std::to_string(position) : v.name;
}

} // namespace

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Status Session::createFromFile(const std::string &path, const SessionOptions &options,
                               std::unique_ptr<Session> *out) {
  std::unique_ptr<Artifact> artifact;
  PRECIS_RETURN_IF_ERROR(Artifact::openFile(path, &artifact));
  std::unique_ptr<Impl> impl;
  PRECIS_RETURN_IF_ERROR(withContext(createSession(std::move(artifact), options, &impl), path));
  out->reset(new Session(std::move(impl)));
  return Status::ok();
}

Status Session::createFromMemory(const void *data, size_t size, const SessionOptions &options,
                                 std::unique_ptr<Session> *out) {
  std::unique_ptr<Artifact> artifact;
  PRECIS_RETURN_IF_ERROR(Artifact::fromMemory(data, size, &artifact));
  std::unique_ptr<Impl> impl;
  PRECIS_RETURN_IF_ERROR(createSession(std::move(artifact), options, &impl));
  out->reset(new Session(std::move(impl)));
  return Status::ok();
}

std::vector<std::string> Session::listFunctions() const {
  std::vector<std::string> names;
  for (const FunctionInfo &f : impl_->functions)
    names.push_back(f.name);
  return names;
}

const std::vector<FunctionInfo> &Session::functions() const { return impl_->functions; }

const FunctionInfo *Session::findFunction(std::string_view name) const {
  for (const FunctionInfo &f : impl_->functions)
    if (f.name == name)
      return &f;
  return nullptr;
}

Status Session::run(std::string_view function, const std::vector<Tensor> &inputs,
                    std::vector<Tensor> *outputs) {
  std::vector<TensorView> views;
  views.reserve(inputs.size());
  for (const Tensor &t : inputs)
    views.push_back(t.view());
  return run(function, views, outputs);
}

Status Session::run(std::string_view function, const std::vector<TensorView> &inputs,
                    std::vector<Tensor> *outputs) {
  Impl &s = *impl_;
  const FunctionInfo *info = findFunction(function);
  if (!info) {
    std::string names;
    for (const FunctionInfo &f : s.functions)
      names += (names.empty() ? "" : ", ") + f.name;
    return notFound("no function " + singleQuoted(std::string(function)) +
                    " (the artifact has: " + names + ")");
  }
  const size_t f = static_cast<size_t>(info - s.functions.data());
  const FunctionDesc &fd = s.artifact->functions()[f];
  const auto &values = s.artifact->values();

  if (inputs.size() != fd.inputs.size())
    return invalidArgument("function " + singleQuoted(fd.name) + " takes " +
                           std::to_string(fd.inputs.size()) + " inputs, got " +
                           std::to_string(inputs.size()));
  for (size_t p = 0; p < inputs.size(); ++p) {
    const ValueDesc &v = values[fd.inputs[p]];
    const TensorView &given = inputs[p];
    if (given.dtype != v.dtype || given.shape != v.shape)
      return invalidArgument("input " + singleQuoted(inputName(v, p)) + " expects " +
                             typeString(v.dtype, v.shape) + ", got " +
                             typeString(given.dtype, given.shape));
    if (!given.data && v.byteSize)
      return invalidArgument("input " + singleQuoted(inputName(v, p)) + " has no data");
  }

  for (size_t p = 0; p < inputs.size(); ++p)
    s.valueData[fd.inputs[p]] = static_cast<uint8_t *>(inputs[p].data);
  Status status;
  std::vector<BoundOp> &ops = s.ops[f];
  std::vector<ElementwiseGroup> &groups = s.groups[f];
  size_t nextGroup = 0;
  for (size_t k = 0; k < ops.size();) {
    if (nextGroup < groups.size() && groups[nextGroup].firstOp == k) {
      ElementwiseGroup &g = groups[nextGroup++];
      size_t failed = 0;
      status = runElementwiseGroup(g, s.context.numThreads, s.valueData, s.scratchPointers,
                                   &failed);
      if (!status.isOk()) {
        status = withContext(status, ops[k + failed].ref);
        break;
      }
      k += g.ops.size();
      continue;
    }
    BoundOp &op = ops[k++];
    for (size_t i = 0; i < op.inputs.size(); ++i)
      op.inputs[i].data = s.valueData[op.desc->inputs[i]];
    for (size_t i = 0; i < op.outputs.size(); ++i)
      op.outputs[i].data = s.valueData[op.desc->outputs[i]];
    status = op.fn(s.context, op.inputs, op.outputs, op.desc->attrs);
    if (!status.isOk()) {
      status = withContext(status, op.ref);
      break;
    }
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
        std::memcpy(t.data.data(), s.valueData[fd.outputs[p]], v.byteSize);
    }
    *outputs = std::move(results);
  }
  // Unbind the caller's memory: nothing may point at it after the call.
  for (uint32_t idx : fd.inputs)
    s.valueData[idx] = nullptr;
  for (BoundOp &op : s.ops[f])
    for (TensorView &view : op.inputs)
      view.data = nullptr;
  return status;
}

const std::vector<TensorInfo> &Session::parameters() const { return impl_->parameters; }

Status Session::getParameter(std::string_view name, Tensor *out) const {
  uint32_t idx;
  const ValueDesc *v = impl_->findParameter(name, &idx);
  if (!v)
    return notFound("no parameter " + singleQuoted(std::string(name)));
  out->dtype = v->dtype;
  out->shape = v->shape;
  out->data.resize(v->byteSize);
  if (v->byteSize)
    std::memcpy(out->data.data(), impl_->valueData[idx], v->byteSize);
  return Status::ok();
}

Status Session::setParameter(std::string_view name, const TensorView &value) {
  uint32_t idx;
  const ValueDesc *v = impl_->findParameter(name, &idx);
  if (!v)
    return notFound("no parameter " + singleQuoted(std::string(name)));
  if (value.dtype != v->dtype || value.shape != v->shape)
    return invalidArgument("parameter " + singleQuoted(v->name) + " is " +
                           typeString(v->dtype, v->shape) + ", got " +
                           typeString(value.dtype, value.shape));
  if (!value.data && v->byteSize)
    return invalidArgument("the new value of parameter " + singleQuoted(v->name) + " has no data");
  PRECIS_RETURN_IF_ERROR(impl_->copyParameter(idx));
  if (v->byteSize)
    std::memmove(impl_->valueData[idx], value.data, v->byteSize);
  return Status::ok();
}

uint64_t Session::arenaBytes() const { return impl_->artifact->arenaSize(); }
uint64_t Session::parameterBytes() const { return impl_->artifact->usedBlobBytes(); }
uint64_t Session::copiedParameterBytes() const { return impl_->copiedBytes; }
size_t Session::elementwiseGroupCount() const {
  size_t n = 0;
  for (const auto &groups : impl_->groups)
    n += groups.size();
  return n;
}
const std::string &Session::producer() const { return impl_->artifact->producer(); }
const std::string &Session::target() const { return impl_->artifact->target(); }

} // namespace precis::rt
