//===- CApi.cpp - the C API over the C++ Session ---------------------------===//
//
// precis.h is a thin layer: it checks the C caller's raw pointers and sizes (which C++ callers
// get checked by types), converts tensors, and turns Status values into status handles.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/precis.h"

#include "precis/runtime/Communicator.h"
#include "precis/runtime/Session.h"
#include "precis/runtime/Training.h"

#include <cstdlib>
#include <cstring>
#include <new>

using namespace precis::rt;

struct precis_status_s {
  precis_status_code_t code;
  std::string message;
};

struct precis_session_s {
  std::unique_ptr<Session> session;
};

struct precis_training_session_s {
  std::unique_ptr<TrainingSession> session;
};

struct precis_communicator_s {
  std::shared_ptr<Communicator> communicator;
};

namespace {

// Returned when even the status cannot be allocated; never freed.
precis_status_s outOfMemory{PRECIS_INTERNAL, "out of memory"};

precis_status_t toC(const Status &s) {
  if (s.isOk())
    return nullptr;
  auto *st =
      new (std::nothrow) precis_status_s{static_cast<precis_status_code_t>(s.code()), s.message()};
  return st ? st : &outOfMemory;
}

precis_status_t error(StatusCode code, const std::string &message) {
  return toC(Status(code, message));
}

precis_status_t nullArgument(const char *what) {
  return error(StatusCode::InvalidArgument, std::string(what) + " is NULL");
}

bool knownDType(int32_t t) {
  return t >= static_cast<int32_t>(DType::F32) && t <= static_cast<int32_t>(DType::Bool);
}

/// Checks a caller-built tensor and views it; `what` names it in messages.
Status fromC(const precis_tensor_t &t, const std::string &what, TensorView *out) {
  if (!knownDType(t.dtype))
    return invalidArgument(what + ": unknown dtype " + std::to_string(t.dtype));
  if (t.rank && !t.shape)
    return invalidArgument(what + ": rank " + std::to_string(t.rank) + " with a NULL shape");
  out->dtype = static_cast<DType>(t.dtype);
  out->shape.assign(t.shape, t.shape + t.rank);
  uint64_t bytes = dtypeSize(out->dtype);
  for (int64_t d : out->shape) {
    if (d < 0)
      return invalidArgument(what + ": negative dimension in " +
                             typeString(out->dtype, out->shape));
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes))
      return invalidArgument(what + ": size of " + typeString(out->dtype, out->shape) +
                             " overflows");
  }
  if (bytes != t.byte_size)
    return invalidArgument(what + ": byte_size is " + std::to_string(t.byte_size) + ", but " +
                           typeString(out->dtype, out->shape) + " has " + std::to_string(bytes) +
                           " bytes");
  if (bytes && !t.data)
    return invalidArgument(what + ": data is NULL");
  out->data = t.data;
  return Status::ok();
}

/// Moves `tensors` into a malloc'ed array the caller frees with precis_tensors_free.
precis_status_t toC(std::vector<Tensor> &tensors, precis_tensor_t **out) {
  *out = nullptr;
  if (tensors.empty())
    return nullptr;
  auto *array =
      static_cast<precis_tensor_t *>(std::calloc(tensors.size(), sizeof(precis_tensor_t)));
  if (!array)
    return &outOfMemory;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor &t = tensors[i];
    precis_tensor_t &c = array[i];
    c.dtype = static_cast<precis_dtype_t>(t.dtype);
    c.rank = t.shape.size();
    c.byte_size = t.data.size();
    int64_t *shape = nullptr;
    if (c.rank) {
      shape = static_cast<int64_t *>(std::malloc(c.rank * sizeof(int64_t)));
      if (shape)
        std::memcpy(shape, t.shape.data(), c.rank * sizeof(int64_t));
    }
    c.shape = shape;
    if (c.byte_size) {
      c.data = std::malloc(c.byte_size);
      if (c.data)
        std::memcpy(c.data, t.data.data(), c.byte_size);
    }
    if ((c.rank && !c.shape) || (c.byte_size && !c.data)) {
      precis_tensors_free(array, i + 1);
      return &outOfMemory;
    }
  }
  *out = array;
  return nullptr;
}

void toC(const TensorInfo &info, precis_value_info_t *out) {
  out->name = info.name.c_str();
  out->dtype = static_cast<precis_dtype_t>(info.dtype);
  out->rank = info.shape.size();
  out->shape = info.shape.data();
}

SessionOptions toOptions(const precis_session_options_t *options) {
  SessionOptions o;
  if (options) {
    if (options->backend)
      o.backend = options->backend;
    o.numThreads = options->num_threads;
    o.copyParameters = options->copy_parameters != 0;
    o.checkNumerics = options->check_numerics != 0;
    if (options->communicator)
      o.communicator = options->communicator->communicator;
  }
  return o;
}

precis_status_t finishCreate(Status s, std::unique_ptr<Session> session,
                             precis_session_t **out_session) {
  if (!s.isOk())
    return toC(s);
  auto *handle = new (std::nothrow) precis_session_s{std::move(session)};
  if (!handle)
    return &outOfMemory;
  *out_session = handle;
  return nullptr;
}

precis_status_t findSignature(const precis_session_t *session, const char *function,
                              const FunctionInfo **out) {
  if (!session)
    return nullArgument("session");
  if (!function)
    return nullArgument("function");
  *out = session->session->findFunction(function);
  if (!*out)
    return error(StatusCode::NotFound, std::string("no function '") + function + "'");
  return nullptr;
}

precis_status_t valueInfo(const precis_session_t *session, const char *function, size_t index,
                          bool input, precis_value_info_t *out_info) {
  const FunctionInfo *info;
  if (precis_status_t st = findSignature(session, function, &info))
    return st;
  if (!out_info)
    return nullArgument("out_info");
  const std::vector<TensorInfo> &list = input ? info->inputs : info->outputs;
  if (index >= list.size())
    return error(StatusCode::InvalidArgument,
                 std::string(input ? "input " : "output ") + std::to_string(index) +
                     " out of range: '" + function + "' has " + std::to_string(list.size()));
  toC(list[index], out_info);
  return nullptr;
}

/// Parameter access shared by both handle kinds: `Handle::session` is a Session or a
/// TrainingSession, which have the same getParameter / setParameter.
template <typename Handle>
precis_status_t getParameter(const Handle *handle, const char *name,
                             precis_tensor_t **out_tensor) {
  if (!handle)
    return nullArgument("session");
  if (!name)
    return nullArgument("name");
  if (!out_tensor)
    return nullArgument("out_tensor");
  std::vector<Tensor> tensors(1);
  if (precis_status_t st = toC(handle->session->getParameter(name, &tensors[0])))
    return st;
  return toC(tensors, out_tensor);
}

template <typename Handle>
precis_status_t setParameter(Handle *handle, const char *name, const precis_tensor_t *value) {
  if (!handle)
    return nullArgument("session");
  if (!name)
    return nullArgument("name");
  if (!value)
    return nullArgument("value");
  TensorView view;
  if (precis_status_t st = toC(fromC(*value, std::string("parameter '") + name + "'", &view)))
    return st;
  return toC(handle->session->setParameter(name, view));
}

} // namespace

extern "C" {

precis_status_code_t precis_status_code(precis_status_t status) {
  return status ? status->code : PRECIS_OK;
}

const char *precis_status_message(precis_status_t status) {
  return status ? status->message.c_str() : "";
}

void precis_status_free(precis_status_t status) {
  if (status != &outOfMemory)
    delete status;
}

size_t precis_dtype_size(precis_dtype_t dtype) {
  return knownDType(dtype) ? dtypeSize(static_cast<DType>(dtype)) : 0;
}

const char *precis_dtype_name(precis_dtype_t dtype) {
  return knownDType(dtype) ? dtypeName(static_cast<DType>(dtype)) : "unknown";
}

void precis_tensors_free(precis_tensor_t *tensors, size_t count) {
  if (!tensors)
    return;
  for (size_t i = 0; i < count; ++i) {
    std::free(const_cast<int64_t *>(tensors[i].shape));
    std::free(tensors[i].data);
  }
  std::free(tensors);
}

void precis_session_options_init(precis_session_options_t *options) {
  if (!options)
    return;
  options->backend = nullptr; // the artifact's target
  options->num_threads = 0;
  options->copy_parameters = 0;
  options->check_numerics = 0;
  options->communicator = nullptr;
}

precis_status_t precis_session_create_from_file(const char *path,
                                                const precis_session_options_t *options,
                                                precis_session_t **out_session) {
  if (!path)
    return nullArgument("path");
  if (!out_session)
    return nullArgument("out_session");
  std::unique_ptr<Session> session;
  Status s = Session::createFromFile(path, toOptions(options), &session);
  return finishCreate(std::move(s), std::move(session), out_session);
}

precis_status_t precis_session_create_from_memory(const void *data, size_t size,
                                                  const precis_session_options_t *options,
                                                  precis_session_t **out_session) {
  if (!data && size)
    return nullArgument("data");
  if (!out_session)
    return nullArgument("out_session");
  std::unique_ptr<Session> session;
  Status s = Session::createFromMemory(data, size, toOptions(options), &session);
  return finishCreate(std::move(s), std::move(session), out_session);
}

void precis_session_release(precis_session_t *session) { delete session; }

size_t precis_session_function_count(const precis_session_t *session) {
  return session ? session->session->functions().size() : 0;
}

const char *precis_session_function_name(const precis_session_t *session, size_t index) {
  if (!session || index >= session->session->functions().size())
    return nullptr;
  return session->session->functions()[index].name.c_str();
}

precis_status_t precis_session_function_signature(const precis_session_t *session,
                                                  const char *function, size_t *out_num_inputs,
                                                  size_t *out_num_outputs) {
  const FunctionInfo *info;
  if (precis_status_t st = findSignature(session, function, &info))
    return st;
  if (out_num_inputs)
    *out_num_inputs = info->inputs.size();
  if (out_num_outputs)
    *out_num_outputs = info->outputs.size();
  return nullptr;
}

precis_status_t precis_session_input_info(const precis_session_t *session, const char *function,
                                          size_t index, precis_value_info_t *out_info) {
  return valueInfo(session, function, index, /*input=*/true, out_info);
}

precis_status_t precis_session_output_info(const precis_session_t *session, const char *function,
                                           size_t index, precis_value_info_t *out_info) {
  return valueInfo(session, function, index, /*input=*/false, out_info);
}

precis_status_t precis_session_run(precis_session_t *session, const char *function,
                                   const precis_tensor_t *inputs, size_t num_inputs,
                                   precis_tensor_t **out_outputs, size_t *out_num_outputs) {
  if (!session)
    return nullArgument("session");
  if (!function)
    return nullArgument("function");
  if (num_inputs && !inputs)
    return nullArgument("inputs");
  if (!out_outputs || !out_num_outputs)
    return nullArgument("out_outputs");
  std::vector<TensorView> views(num_inputs);
  for (size_t i = 0; i < num_inputs; ++i)
    if (precis_status_t st = toC(fromC(inputs[i], "input " + std::to_string(i), &views[i])))
      return st;
  std::vector<Tensor> outputs;
  if (precis_status_t st = toC(session->session->run(function, views, &outputs)))
    return st;
  if (precis_status_t st = toC(outputs, out_outputs))
    return st;
  *out_num_outputs = outputs.size();
  return nullptr;
}

size_t precis_session_parameter_count(const precis_session_t *session) {
  return session ? session->session->parameters().size() : 0;
}

precis_status_t precis_session_parameter_info(const precis_session_t *session, size_t index,
                                              precis_value_info_t *out_info) {
  if (!session)
    return nullArgument("session");
  if (!out_info)
    return nullArgument("out_info");
  const auto &params = session->session->parameters();
  if (index >= params.size())
    return error(StatusCode::InvalidArgument, "parameter " + std::to_string(index) +
                                                  " out of range: the session has " +
                                                  std::to_string(params.size()));
  toC(params[index], out_info);
  return nullptr;
}

precis_status_t precis_session_get_parameter(const precis_session_t *session, const char *name,
                                             precis_tensor_t **out_tensor) {
  return getParameter(session, name, out_tensor);
}

precis_status_t precis_session_set_parameter(precis_session_t *session, const char *name,
                                             const precis_tensor_t *value) {
  return setParameter(session, name, value);
}

uint64_t precis_session_arena_bytes(const precis_session_t *session) {
  return session ? session->session->arenaBytes() : 0;
}

uint64_t precis_session_parameter_bytes(const precis_session_t *session) {
  return session ? session->session->parameterBytes() : 0;
}

precis_status_t precis_communicator_create_mpi(precis_communicator_t **out_communicator) {
  if (!out_communicator)
    return nullArgument("out_communicator");
  std::shared_ptr<Communicator> comm;
  if (precis_status_t st = toC(createMpiCommunicator(&comm)))
    return st;
  auto *handle = new (std::nothrow) precis_communicator_s{std::move(comm)};
  if (!handle)
    return &outOfMemory;
  *out_communicator = handle;
  return nullptr;
}

precis_status_t precis_communicator_create_nccl(const precis_communicator_t *bootstrap,
                                                int32_t device,
                                                precis_communicator_t **out_communicator) {
  if (!bootstrap)
    return nullArgument("bootstrap");
  if (!out_communicator)
    return nullArgument("out_communicator");
  std::shared_ptr<Communicator> comm;
  if (precis_status_t st = toC(createNcclCommunicator(*bootstrap->communicator, device, &comm)))
    return st;
  auto *handle = new (std::nothrow) precis_communicator_s{std::move(comm)};
  if (!handle)
    return &outOfMemory;
  *out_communicator = handle;
  return nullptr;
}

int32_t precis_communicator_rank(const precis_communicator_t *communicator) {
  return communicator ? communicator->communicator->rank() : 0;
}

int32_t precis_communicator_size(const precis_communicator_t *communicator) {
  return communicator ? communicator->communicator->size() : 1;
}

void precis_communicator_destroy(precis_communicator_t *communicator) { delete communicator; }

} // extern "C"

precis_status_t precis_training_session_create_from_file(const char *path,
                                                         const precis_session_options_t *options,
                                                         precis_training_session_t **out_session) {
  if (!path)
    return nullArgument("path");
  if (!out_session)
    return nullArgument("out_session");
  std::unique_ptr<TrainingSession> session;
  if (precis_status_t st =
          toC(TrainingSession::createFromFile(path, toOptions(options), &session)))
    return st;
  auto *handle = new (std::nothrow) precis_training_session_s{std::move(session)};
  if (!handle)
    return &outOfMemory;
  *out_session = handle;
  return nullptr;
}

void precis_training_session_release(precis_training_session_t *session) { delete session; }

precis_status_t precis_training_session_step(precis_training_session_t *session,
                                             const char *const *names,
                                             const precis_tensor_t *inputs, size_t num_inputs,
                                             float lr, float *out_loss) {
  if (!session)
    return nullArgument("session");
  if (num_inputs && (!names || !inputs))
    return nullArgument(names ? "inputs" : "names");
  const std::vector<TensorInfo> &batch = session->session->batchInputs();
  if (num_inputs != batch.size())
    return error(StatusCode::InvalidArgument,
                 "the training step takes " + std::to_string(batch.size()) +
                     " batch inputs, got " + std::to_string(num_inputs));
  std::vector<TensorView> views(batch.size());
  std::vector<bool> given(batch.size(), false);
  for (size_t i = 0; i < num_inputs; ++i) {
    if (!names[i])
      return nullArgument(("names[" + std::to_string(i) + "]").c_str());
    size_t slot = 0;
    while (slot < batch.size() && batch[slot].name != names[i])
      ++slot;
    if (slot == batch.size() || given[slot])
      return error(StatusCode::InvalidArgument,
                   std::string(slot == batch.size() ? "no batch input '" : "batch input '") +
                       names[i] + (slot == batch.size() ? "'" : "' given twice"));
    given[slot] = true;
    if (precis_status_t st =
            toC(fromC(inputs[i], std::string("input '") + names[i] + "'", &views[slot])))
      return st;
  }
  float loss;
  if (precis_status_t st = toC(session->session->step(views, lr, &loss)))
    return st;
  if (out_loss)
    *out_loss = loss;
  return nullptr;
}

precis_status_t precis_training_session_open_data(precis_training_session_t *session,
                                                  const char *path, int64_t shuffle_seed) {
  if (!session)
    return nullArgument("session");
  if (!path)
    return nullArgument("path");
  return toC(session->session->openData(path, shuffle_seed));
}

precis_status_t precis_training_session_set_dropout_seed(precis_training_session_t *session,
                                                         uint64_t seed) {
  if (!session)
    return nullArgument("session");
  return toC(session->session->setDropoutSeed(seed));
}

precis_status_t precis_training_session_step_next(precis_training_session_t *session, float lr,
                                                  float *out_loss) {
  if (!session)
    return nullArgument("session");
  float loss;
  if (precis_status_t st = toC(session->session->step(lr, &loss)))
    return st;
  if (out_loss)
    *out_loss = loss;
  return nullptr;
}

int64_t precis_training_session_data_cursor(const precis_training_session_t *session) {
  return session ? session->session->dataCursor() : 0;
}

precis_status_t precis_training_session_get_parameter(const precis_training_session_t *session,
                                                      const char *name,
                                                      precis_tensor_t **out_tensor) {
  return getParameter(session, name, out_tensor);
}

precis_status_t precis_training_session_set_parameter(precis_training_session_t *session,
                                                      const char *name,
                                                      const precis_tensor_t *value) {
  return setParameter(session, name, value);
}

precis_status_t precis_training_session_save_checkpoint(const precis_training_session_t *session,
                                                        const char *dir) {
  if (!session)
    return nullArgument("session");
  if (!dir)
    return nullArgument("dir");
  return toC(session->session->saveCheckpoint(dir));
}

precis_status_t precis_training_session_load_checkpoint(precis_training_session_t *session,
                                                        const char *path) {
  if (!session)
    return nullArgument("session");
  if (!path)
    return nullArgument("path");
  return toC(session->session->loadCheckpoint(path));
}
