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
// With SessionOptions::checkNumerics every op runs on its own and its float outputs are scanned
// right after it; the first NaN or infinity stops the run with a report on the op and the
// ranges of its inputs, which are still intact then (the planner never lets an op's results
// overwrite its own inputs).
//
// A session on the "cuda" backend (SessionOptions::backend, or an artifact whose target is
// "cuda:<arch>") keeps only the parameters on the host and hands its runs to a
// cuda::Executor (cuda/Executor.h), which owns everything on the device.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Session.h"

#include "Artifact.h"
#include "ChunkedGroups.h"
#include "cpu/Kernel.h"
#include "cpu/KernelSupport.h"
#include "cuda/Executor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
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

/// What check-numerics reports about one float tensor.
struct FloatRange {
  double min = INFINITY, max = -INFINITY; ///< over the finite elements
  int64_t nan = 0, inf = 0, count = 0;
  int64_t nonFinite() const { return nan + inf; }
};

FloatRange scanFloats(const TensorView &t) {
  FloatRange r;
  r.count = static_cast<int64_t>(t.numElements());
  (void)cpu::visitFloat(
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
    if (!cpu::isFloat(out.dtype))
      continue;
    const FloatRange r = scanFloats(out);
    if (!r.nonFinite())
      continue;
    std::string m = "check-numerics: function " + singleQuoted(function) + " " + op.ref +
                    ", " + phaseName(op.desc->phase) + " phase, output #" + std::to_string(o) +
                    " in " + dtypeName(out.dtype) + " (" + typeString(out.dtype, out.shape) +
                    ") has " + std::to_string(r.inf) + " inf and " + std::to_string(r.nan) +
                    " NaN of " + std::to_string(r.count) + " elements; inputs:";
    bool any = false;
    for (size_t i = 0; i < op.inputs.size(); ++i) {
      const TensorView &in = op.inputs[i];
      if (!cpu::isFloat(in.dtype))
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
  bool checkNumerics = false;
  /// Backend "cuda": runs go to the device; the host side keeps the parameters (the values
  /// getParameter returns) and no arena.
  std::unique_ptr<cuda::Executor> device;

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

TensorInfo infoOf(const ValueDesc &v) { return {v.name, v.dtype, v.shape, v.role, v.updates}; }

Status createSession(std::unique_ptr<Artifact> artifact, const SessionOptions &options,
                     std::unique_ptr<Session::Impl> *out) {
  // An empty backend is the one the artifact was compiled for ("cuda:sm_90a" -> "cuda").
  const std::string &target = artifact->target();
  if (target.empty())
    return invalidArtifact("the artifact names no target");
  const std::string targetBackend = target.substr(0, target.find(':'));
  const std::string backend = options.backend.empty() ? targetBackend : options.backend;
  if (backend != "cpu" && backend != "cuda")
    return unavailable("backend " + singleQuoted(backend) +
                       " is not available in this runtime (available: 'cpu'" +
                       (cuda::builtWithCuda() ? ", 'cuda')" : ")"));
  if (backend == "cuda" && !cuda::builtWithCuda())
    return unavailable("backend 'cuda': precis was built without CUDA support");
  if (options.numThreads < 0)
    return invalidArgument("numThreads is " + std::to_string(options.numThreads) +
                           "; use 0 for one per hardware thread");
  if (targetBackend != backend)
    return invalidArgument("the artifact was compiled for target " + singleQuoted(target) +
                           ", not for backend " + singleQuoted(backend));
  const bool onDevice = backend == "cuda";
  if (onDevice && options.checkNumerics)
    return unimplemented("checkNumerics is not available on the cuda backend yet");

  auto impl = std::make_unique<Session::Impl>();
  Session::Impl &s = *impl;
  s.checkNumerics = options.checkNumerics;
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
      op.fn = onDevice ? nullptr : findCpuKernel(od.kind);
      if (!op.fn && !onDevice)
        return unimplemented("function " + singleQuoted(fd.name) + " " + op.ref +
                             ": the cpu backend has no kernel for " + singleQuoted(od.kind));
      s.ops[f].push_back(std::move(op));
    }
  }

  const uint64_t arenaSize = artifact->arenaSize();
  if (arenaSize > 0 && !onDevice) {
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
  if (options.fuseElementwise && !options.checkNumerics && !onDevice) {
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
  if (onDevice)
    PRECIS_RETURN_IF_ERROR(cuda::Executor::create(*s.artifact, s.valueData, &s.device));
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
  return run(function, inputs, outputs, {});
}

Status Session::run(std::string_view function, const std::vector<TensorView> &inputs,
                    std::vector<Tensor> *outputs, const std::vector<bool> &fetch) {
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
  if (!fetch.empty() && fetch.size() != fd.outputs.size())
    return invalidArgument("function " + singleQuoted(fd.name) + " has " +
                           std::to_string(fd.outputs.size()) + " outputs, not " +
                           std::to_string(fetch.size()) + " to fetch or not");
  if (s.device)
    return s.device->run(f, inputs, outputs, fetch.empty() ? nullptr : &fetch);

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
    if (s.checkNumerics && !(status = checkFinite(fd.name, op)).isOk())
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

Status Session::initialValue(std::string_view function, size_t input, Tensor *out) const {
  const FunctionInfo *info = findFunction(function);
  if (!info)
    return notFound("no function " + singleQuoted(std::string(function)));
  const FunctionDesc &fd = impl_->artifact->functions()[info - impl_->functions.data()];
  if (input >= fd.inputs.size())
    return invalidArgument("function " + singleQuoted(fd.name) + " has " +
                           std::to_string(fd.inputs.size()) + " inputs, not " +
                           std::to_string(input + 1));
  const ValueDesc &v = impl_->artifact->values()[fd.inputs[input]];
  out->dtype = v.dtype;
  out->shape = v.shape;
  out->data.assign(v.byteSize, 0);
  if (v.hasInitialValue && v.byteSize)
    std::memcpy(out->data.data(), impl_->artifact->initialData(v), v.byteSize);
  return Status::ok();
}

bool Session::onDevice() const { return impl_->device != nullptr; }

Status Session::carriedInput(std::string_view function, size_t input, Tensor *out) const {
  const FunctionInfo *info = findFunction(function);
  if (!info)
    return notFound("no function " + singleQuoted(std::string(function)));
  if (input >= info->inputs.size())
    return invalidArgument("function " + singleQuoted(info->name) + " has no input " +
                           std::to_string(input));
  if (!impl_->device)
    return unimplemented("the cpu backend keeps no inputs: they are the caller's memory");
  return impl_->device->readInput(static_cast<size_t>(info - impl_->functions.data()), input,
                                  out);
}

Status Session::carryOutputs(std::string_view function,
                             const std::vector<std::pair<size_t, size_t>> &carries) {
  const FunctionInfo *info = findFunction(function);
  if (!info)
    return notFound("no function " + singleQuoted(std::string(function)));
  for (const auto &[output, input] : carries) {
    if (output >= info->outputs.size() || input >= info->inputs.size())
      return invalidArgument("function " + singleQuoted(info->name) + " has no output " +
                             std::to_string(output) + " or no input " + std::to_string(input));
    const TensorInfo &from = info->outputs[output], &to = info->inputs[input];
    if (from.dtype != to.dtype || from.shape != to.shape)
      return invalidArgument("function " + singleQuoted(info->name) + ": output " +
                             singleQuoted(from.name) + " is " + typeString(from.dtype, from.shape) +
                             ", input " + singleQuoted(to.name) + " is " +
                             typeString(to.dtype, to.shape));
  }
  if (impl_->device)
    return impl_->device->carryOutputs(static_cast<size_t>(info - impl_->functions.data()),
                                       carries);
  return Status::ok();
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
  if (impl_->device)
    return impl_->device->updateBlob(idx, impl_->valueData[idx]);
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
