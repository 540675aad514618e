//===- Session.cpp - binding an artifact to a backend and running it ------===//
//
// A Session owns the loaded artifact and the host bytes of its parameters and constants
// (mapped from the file, or private copies once copied or replaced). It picks the backend
// (SessionOptions::backend, or the one the artifact's target names), checks every call against
// the artifact's signatures and hands the runs to that backend's executor: cpu::Executor
// (cpu/Executor.h) or cuda::Executor (cuda/Executor.h).
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Session.h"

#include "Artifact.h"
#include "cpu/Executor.h"
#include "cuda/Executor.h"

#include <cstring>
#include <map>

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

struct Session::Impl {
  std::unique_ptr<Artifact> artifact;
  /// Per value: the host bytes of a blob-backed value (mapped, or a private copy), else null.
  std::vector<uint8_t *> blobData;
  std::vector<AlignedBuffer> copies; // per value; set for copied parameters
  uint64_t copiedBytes = 0;

  std::vector<FunctionInfo> functions;
  std::vector<TensorInfo> parameters;
  std::map<std::string, uint32_t, std::less<>> parameterValues; // name -> value index
  bool onDevice = false; ///< the backend chosen at creation is cuda
  /// Declared last so that it goes first: it uses the artifact and blobData.
  std::unique_ptr<Executor> executor;

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
      std::memcpy(buffer.get(), blobData[idx], v.byteSize);
    blobData[idx] = buffer.get();
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
  s.artifact = std::move(artifact);
  const auto &values = s.artifact->values();
  s.blobData.assign(values.size(), nullptr);
  s.copies.resize(values.size());
  for (uint32_t i = 0; i < values.size(); ++i) {
    const ValueDesc &v = values[i];
    if (v.storage == Storage::Blob)
      s.blobData[i] = const_cast<uint8_t *>(s.artifact->blobData(v));
    if (v.isParameter()) {
      s.parameters.push_back(infoOf(v));
      s.parameterValues.emplace(v.name, i);
      if (options.copyParameters)
        PRECIS_RETURN_IF_ERROR(s.copyParameter(i));
    }
  }
  for (const FunctionDesc &fd : s.artifact->functions()) {
    FunctionInfo info{fd.name, {}, {}};
    for (uint32_t idx : fd.inputs)
      info.inputs.push_back(infoOf(values[idx]));
    for (uint32_t idx : fd.outputs)
      info.outputs.push_back(infoOf(values[idx]));
    for (const OpDesc &op : fd.ops)
      info.collectives += op.kind == "all_reduce" || op.kind == "all_gather" || op.kind == "shard";
    s.functions.push_back(std::move(info));
  }

  s.onDevice = onDevice;
  if (onDevice) {
    std::unique_ptr<cuda::Executor> device;
    PRECIS_RETURN_IF_ERROR(
        cuda::Executor::create(*s.artifact, s.blobData, options.communicator, &device));
    s.executor = std::move(device);
  } else {
    std::unique_ptr<cpu::Executor> host;
    PRECIS_RETURN_IF_ERROR(cpu::Executor::create(*s.artifact, options, s.blobData, &host));
    s.executor = std::move(host);
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
  if (!fetch.empty())
    return s.executor->runFetching(f, inputs, outputs, fetch);
  return s.executor->run(f, inputs, outputs);
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

bool Session::onDevice() const { return impl_->onDevice; }

Status Session::carriedInput(std::string_view function, size_t input, Tensor *out) const {
  const FunctionInfo *info = findFunction(function);
  if (!info)
    return notFound("no function " + singleQuoted(std::string(function)));
  if (input >= info->inputs.size())
    return invalidArgument("function " + singleQuoted(info->name) + " has no input " +
                           std::to_string(input));
  return impl_->executor->readInput(static_cast<size_t>(info - impl_->functions.data()), input,
                                    out);
}

Status Session::carryOutputs(std::string_view function,
                             const std::vector<std::pair<size_t, size_t>> &carries) {
  const FunctionInfo *info = findFunction(function);
  if (!info)
    return notFound("no function " + singleQuoted(std::string(function)));
  std::vector<bool> carriedInto(info->inputs.size(), false);
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
    if (carriedInto[input])
      return invalidArgument("function " + singleQuoted(info->name) + ": input " +
                             singleQuoted(to.name) + " is carried into more than once");
    carriedInto[input] = true;
  }
  return impl_->executor->carryOutputs(static_cast<size_t>(info - impl_->functions.data()),
                                       carries);
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
    std::memcpy(out->data.data(), impl_->blobData[idx], v->byteSize);
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
    std::memmove(impl_->blobData[idx], value.data, v->byteSize);
  return impl_->executor->updateBlob(idx, impl_->blobData[idx]);
}

uint64_t Session::arenaBytes() const { return impl_->artifact->arenaSize(); }
uint64_t Session::parameterBytes() const { return impl_->artifact->usedBlobBytes(); }
uint64_t Session::copiedParameterBytes() const { return impl_->copiedBytes; }
size_t Session::elementwiseGroupCount() const { return impl_->executor->elementwiseGroupCount(); }
const std::string &Session::producer() const { return impl_->artifact->producer(); }
const std::string &Session::target() const { return impl_->artifact->target(); }

uint64_t Session::fingerprint() const { return impl_->artifact->fingerprint(); }

} // namespace precis::rt
