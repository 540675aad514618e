//===- PrecisModule.cpp - the precis._precis extension module ---------------===//
//
// nanobind bindings of the compiler library (precis/Compiler/Compiler.h) and the runtime's C++
// API (Session, TrainingSession). The Python package (python/precis/__init__.py) wraps them;
// this file converts arrays and options and turns every rt::Status into a precis.Error
// subclass, so that bad input raises instead of crashing the interpreter.
//
// Arrays: an input that is a C-contiguous CPU array (NumPy, or anything with __dlpack__) is
// handed to the runtime as a TensorView without a copy; other layouts are copied once into C
// order. An output is a NumPy array that owns the runtime's Tensor (a capsule), again without
// a copy. bf16 travels as uint16 and fp8 as uint8 bits (viewed as ml_dtypes types by the
// package when ml_dtypes is installed).
//
// Threads: the GIL is released while the compiler or a session runs; each session object
// serialises its own calls with a mutex (a runtime session runs one call at a time).
//
//===----------------------------------------------------------------------===//

#include "precis/Compiler/Compiler.h"
#include "precis/Import/OnnxExport.h"
#include "precis/Target/CudaEmitter.h"
#include "precis/runtime/Session.h"
#include "precis/runtime/Training.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <mutex>

namespace nb = nanobind;
using namespace nb::literals;
namespace rt = precis::rt;

namespace {

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

/// precis.Error subclasses by StatusCode, registered by the package at import. Leaked on
/// purpose: they must outlive every object that may raise.
std::vector<PyObject *> &errorClasses() {
  static auto *classes = new std::vector<PyObject *>();
  return *classes;
}

[[noreturn]] void raise(const rt::Status &status) {
  auto code = static_cast<size_t>(status.code());
  const std::vector<PyObject *> &classes = errorClasses();
  PyObject *cls = code < classes.size() && classes[code] ? classes[code] : PyExc_RuntimeError;
  PyErr_SetString(cls, status.message().c_str());
  throw nb::python_error();
}

void check(const rt::Status &status) {
  if (!status.isOk())
    raise(status);
}

//===----------------------------------------------------------------------===//
// Arrays
//===----------------------------------------------------------------------===//

using InArray = nb::ndarray<nb::ro>;

/// The runtime element type of a DLPack dtype, or Unspecified. Raw bits (uint16, uint8) stand
/// for bf16 and fp8 when `expected` is one of those.
rt::DType fromDlpack(nb::dlpack::dtype t, rt::DType expected) {
  using Code = nb::dlpack::dtype_code;
  if (t.lanes != 1)
    return rt::DType::Unspecified;
  switch (static_cast<Code>(t.code)) {
  case Code::Float:
    return t.bits == 32   ? rt::DType::F32
           : t.bits == 16 ? rt::DType::F16
           : t.bits == 64 ? rt::DType::F64
                          : rt::DType::Unspecified;
  case Code::Bfloat:
    return t.bits == 16 ? rt::DType::BF16 : rt::DType::Unspecified;
  case Code::Int:
    return t.bits == 64   ? rt::DType::I64
           : t.bits == 32 ? rt::DType::I32
           : t.bits == 8  ? rt::DType::I8
                          : rt::DType::Unspecified;
  case Code::UInt:
    if (t.bits == 16 && expected == rt::DType::BF16)
      return rt::DType::BF16;
    if (t.bits == 8 && (expected == rt::DType::F8E4M3FN || expected == rt::DType::F8E5M2))
      return expected;
    return t.bits == 8 ? rt::DType::U8 : rt::DType::Unspecified;
  case Code::Bool:
    return t.bits == 8 ? rt::DType::Bool : rt::DType::Unspecified;
  default:
    return rt::DType::Unspecified;
  }
}

/// The DLPack dtype an output of `t` is returned as.
nb::dlpack::dtype toDlpack(rt::DType t) {
  using Code = nb::dlpack::dtype_code;
  auto make = [](Code code, int bits) {
    nb::dlpack::dtype d;
    d.code = static_cast<uint8_t>(code);
    d.bits = static_cast<uint8_t>(bits);
    d.lanes = 1;
    return d;
  };
  switch (t) {
  case rt::DType::F32:
    return make(Code::Float, 32);
  case rt::DType::F16:
    return make(Code::Float, 16);
  case rt::DType::F64:
    return make(Code::Float, 64);
  case rt::DType::BF16:
    return make(Code::UInt, 16);
  case rt::DType::F8E4M3FN:
  case rt::DType::F8E5M2:
  case rt::DType::U8:
    return make(Code::UInt, 8);
  case rt::DType::I64:
    return make(Code::Int, 64);
  case rt::DType::I32:
    return make(Code::Int, 32);
  case rt::DType::I8:
    return make(Code::Int, 8);
  case rt::DType::Bool:
    return make(Code::Bool, 8);
  case rt::DType::Unspecified:
    break;
  }
  return make(Code::UInt, 8);
}

std::string describe(nb::dlpack::dtype t) {
  static const char *codes[] = {"int", "uint", "float", "opaque", "bfloat", "complex", "bool"};
  std::string code = t.code < 7 ? codes[t.code] : "code" + std::to_string(t.code);
  return code + std::to_string(t.bits) + (t.lanes != 1 ? "x" + std::to_string(t.lanes) : "");
}

/// An input bound for one call: a view of the caller's array, or of `copy` when its layout
/// was not C order.
struct BoundInput {
  InArray array; ///< keeps the caller's memory alive for the call
  std::vector<uint8_t> copy;
  rt::TensorView view;
};

/// Copies the strided array `a` (element size `size`) into C order at `out`.
void gather(const InArray &a, size_t size, uint8_t *out) {
  const size_t rank = a.ndim();
  std::vector<size_t> index(rank, 0);
  const auto *base = static_cast<const uint8_t *>(a.data());
  const size_t total = a.size();
  for (size_t n = 0; n < total; ++n) {
    int64_t offset = 0;
    for (size_t d = 0; d < rank; ++d)
      offset += static_cast<int64_t>(index[d]) * a.stride(d);
    std::memcpy(out + n * size, base + offset * static_cast<int64_t>(size), size);
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < a.shape(d))
        break;
      index[d] = 0;
    }
  }
}

/// Binds `value` (an array for input `info`) as a TensorView; raises InvalidArgument for
/// something that is not a host array of a precis element type.
void bindInput(nb::handle value, const rt::TensorInfo &info, BoundInput *out) {
  if (!nb::try_cast(value, out->array, /*convert=*/false))
    raise(rt::invalidArgument("input '" + info.name + "': expected an array (NumPy, or an " +
                              "object with __dlpack__), got " +
                              nb::type_name(value.type()).c_str()));
  const InArray &a = out->array;
  if (a.device_type() != nb::device::cpu::value)
    raise(rt::invalidArgument("input '" + info.name +
                              "': the array is not in host memory (DLPack device type " +
                              std::to_string(a.device_type()) + "); copy it to the CPU first"));
  rt::DType dtype = fromDlpack(a.dtype(), info.dtype);
  if (dtype == rt::DType::Unspecified)
    raise(rt::invalidArgument("input '" + info.name + "': element type " + describe(a.dtype()) +
                              " has no precis equivalent (expected " +
                              rt::typeString(info.dtype, info.shape) + ")"));
  out->view.dtype = dtype;
  out->view.shape.assign(a.ndim(), 0);
  bool contiguous = true;
  int64_t expectedStride = 1;
  for (size_t d = a.ndim(); d-- > 0;) {
    out->view.shape[d] = static_cast<int64_t>(a.shape(d));
    if (a.shape(d) != 1 && a.stride(d) != expectedStride)
      contiguous = false;
    expectedStride *= static_cast<int64_t>(a.shape(d));
  }
  if (contiguous || a.size() == 0) {
    out->view.data = const_cast<void *>(a.data());
    return;
  }
  const size_t size = rt::dtypeSize(dtype);
  out->copy.resize(a.size() * size);
  gather(a, size, out->copy.data());
  out->view.data = out->copy.data();
}

/// Binds `inputs` (a dict: input name -> array) to `info`'s inputs in order. Every input must
/// be given and every key must name one.
void bindInputs(const rt::FunctionInfo &info, nb::dict inputs, const std::vector<bool> &skip,
                std::vector<BoundInput> *bound) {
  for (auto [key, value] : inputs) {
    if (!nb::isinstance<nb::str>(key))
      raise(rt::invalidArgument("input names are strings; got a key of type " +
                                std::string(nb::type_name(key.type()).c_str())));
    std::string name = nb::cast<std::string>(key);
    bool known = false;
    for (size_t i = 0; i < info.inputs.size(); ++i)
      known |= !skip[i] && info.inputs[i].name == name;
    if (!known)
      raise(rt::invalidArgument("'" + info.name + "' has no input named '" + name + "'"));
  }
  for (size_t i = 0; i < info.inputs.size(); ++i) {
    if (skip[i])
      continue;
    const rt::TensorInfo &in = info.inputs[i];
    nb::str key(in.name.c_str(), in.name.size());
    if (!inputs.contains(key))
      raise(rt::invalidArgument("missing input '" + in.name + "' (" +
                                rt::typeString(in.dtype, in.shape) + ")"));
    bound->emplace_back();
    bindInput(inputs[key], in, &bound->back());
  }
}

/// Extension dtypes (ml_dtypes' bfloat16, float8_e4m3fn, float8_e5m2) outputs are viewed as,
/// when the package registered them. Leaked like errorClasses.
PyObject *&viewDtype(rt::DType t) {
  static PyObject *bf16 = nullptr, *e4m3 = nullptr, *e5m2 = nullptr, *none = nullptr;
  switch (t) {
  case rt::DType::BF16:
    return bf16;
  case rt::DType::F8E4M3FN:
    return e4m3;
  case rt::DType::F8E5M2:
    return e5m2;
  default:
    return none;
  }
}

/// A NumPy array that owns `tensor`'s bytes (moved, not copied).
nb::object toNumpy(rt::Tensor &&tensor) {
  auto *owned = new rt::Tensor(std::move(tensor));
  if (owned->data.empty())
    owned->data.reserve(1); // a valid pointer for an empty array
  nb::capsule owner(owned, [](void *p) noexcept { delete static_cast<rt::Tensor *>(p); });
  std::vector<size_t> shape(owned->shape.begin(), owned->shape.end());
  nb::ndarray<nb::numpy> array(owned->data.data(), shape.size(), shape.data(), owner, nullptr,
                               toDlpack(owned->dtype));
  nb::object result = array.cast();
  if (PyObject *view = viewDtype(owned->dtype))
    result = result.attr("view")(nb::handle(view));
  return result;
}

nb::dict tensorInfo(const rt::TensorInfo &info) {
  static const char *roles[] = {"",
                                "parameter",
                                "optimizer_state",
                                "loss_scale",
                                "fp8_amax_history",
                                "data",
                                "learning_rate",
                                "step",
                                "loss",
                                "batch_norm_stats",
                                "rng_state"};
  nb::dict d;
  d["name"] = info.name;
  d["dtype"] = std::string(rt::dtypeName(info.dtype));
  d["shape"] = nb::tuple(nb::cast(info.shape));
  d["role"] = std::string(roles[static_cast<int>(info.role)]);
  return d;
}

/// The key of output `i`: its ONNX name, or "output_<i>" for an output without one.
std::string outputName(const rt::FunctionInfo &info, size_t i) {
  return info.outputs[i].name.empty() ? "output_" + std::to_string(i) : info.outputs[i].name;
}

/// A function's signature; outputs are named as run() returns them (outputName).
nb::dict functionInfo(const rt::FunctionInfo &info) {
  nb::list inputs, outputs;
  for (const rt::TensorInfo &t : info.inputs)
    inputs.append(tensorInfo(t));
  for (size_t i = 0; i < info.outputs.size(); ++i) {
    nb::dict output = tensorInfo(info.outputs[i]);
    output["name"] = outputName(info, i);
    outputs.append(output);
  }
  nb::dict d;
  d["name"] = info.name;
  d["inputs"] = inputs;
  d["outputs"] = outputs;
  return d;
}

//===----------------------------------------------------------------------===//
// Compiler
//===----------------------------------------------------------------------===//

/// The keyword arguments of precis.compile / precis.report, checked by the package first.
struct CompileArgs {
  bool train = false;
  std::string precision, rules, fp8Recipe, fp8AmaxCompute, calibrate, calibrationOut;
  int64_t fp8History = 16, fp8Margin = 0;
  double tolerance = 0.05;
  std::string optimizer;
  double momentum = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, initScale = 65536.0;
  std::optional<double> weightDecay;
  std::optional<bool> lossScaling;
  std::string trainable, frozen;
  std::string target;
  std::optional<int64_t> batch;
};

template <typename T>
T symbolize(std::optional<T> value, const std::string &what, const std::string &given,
            const char *expected) {
  if (!value)
    raise(rt::invalidArgument("unknown " + what + " '" + given + "' (expected " + expected + ")"));
  return *value;
}

precis::CompileOptions toCompileOptions(const CompileArgs &a) {
  namespace p = mlir::precis;
  precis::CompileOptions o;
  o.precision.precision = symbolize(p::symbolizePrecisionPolicy(a.precision), "precision",
                                    a.precision, "fp32, bf16, fp16, fp8 or auto");
  o.precision.rulesFile = a.rules;
  o.precision.fp8Recipe = symbolize(p::symbolizeFp8Recipe(a.fp8Recipe), "fp8_recipe", a.fp8Recipe,
                                    "delayed or current");
  o.precision.fp8History = a.fp8History;
  o.precision.fp8AmaxCompute =
      symbolize(p::symbolizeAmaxCompute(a.fp8AmaxCompute), "fp8_amax_compute", a.fp8AmaxCompute,
                "max or most_recent");
  o.precision.fp8Margin = a.fp8Margin;
  o.precision.calibrationData = a.calibrate;
  o.precision.tolerance = a.tolerance;
  o.precision.calibrationOut = a.calibrationOut;
  if (a.train) {
    precis::TrainOptions t;
    t.optimizer = symbolize(p::symbolizeOptimizerKind(a.optimizer), "optimizer", a.optimizer,
                            "sgd, adam or adamw");
    t.momentum = a.momentum;
    t.weightDecay = a.weightDecay;
    t.beta1 = a.beta1;
    t.beta2 = a.beta2;
    t.eps = a.eps;
    t.lossScaling = a.lossScaling;
    t.initScale = a.initScale;
    t.trainable = a.trainable;
    t.frozen = a.frozen;
    o.train = t;
  }
  o.target = a.target;
  return o;
}

precis::ImportOptions toImportOptions(const CompileArgs &a) {
  precis::ImportOptions o;
  o.batchSize = a.batch;
  o.training = a.train;
  return o;
}

nb::tuple compile(const std::string &model, const CompileArgs &args, const std::string &arch,
                  bool noWeights, uint64_t initSeed) {
  if (args.target != "cpu" && !(args.target == "cuda" && precis::cudaCompilerAvailable()))
    raise(rt::invalidArgument("unsupported target '" + args.target + "' (this build supports: cpu" +
                              (precis::cudaCompilerAvailable() ? ", cuda" : "") + ")"));
  precis::CompileOptions options = toCompileOptions(args);
  precis::ArtifactOptions artifactOptions;
  artifactOptions.target = args.target == "cuda" ? "cuda:" + arch : args.target;
  artifactOptions.noWeights = noWeights;
  artifactOptions.initSeed = initSeed;
  std::vector<char> bytes;
  precis::ArtifactStats stats;
  rt::Status status;
  {
    nb::gil_scoped_release release;
    status = precis::compileModel(model, toImportOptions(args), options, artifactOptions, &bytes,
                                  &stats);
  }
  check(status);
  nb::dict d;
  d["ops"] = stats.numOps;
  d["parameter_bytes"] = stats.blobBytes;
  d["arena_bytes"] = stats.arenaBytes;
  d["unplanned_bytes"] = stats.unplannedBytes;
  return nb::make_tuple(nb::bytes(bytes.data(), bytes.size()), d);
}

nb::list report(const std::string &model, const CompileArgs &args) {
  std::vector<precis::ReportRow> rows;
  rt::Status status;
  {
    nb::gil_scoped_release release;
    status = precis::reportModel(model, toImportOptions(args), toCompileOptions(args), &rows);
  }
  check(status);
  nb::list out;
  for (const precis::ReportRow &r : rows) {
    nb::dict d;
    d["node"] = r.node;
    d["op"] = r.op;
    d["phase"] = r.phase;
    d["in"] = r.in;
    d["out"] = r.out;
    d["acc"] = r.acc;
    d["rule"] = r.rule;
    d["reason"] = r.reason;
    out.append(d);
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Sessions
//===----------------------------------------------------------------------===//

rt::SessionOptions sessionOptions(const std::string &device, int numThreads, bool checkNumerics) {
  rt::SessionOptions o;
  o.backend = device;
  o.numThreads = numThreads;
  o.checkNumerics = checkNumerics;
  return o;
}

/// Creates a session of type S from an artifact's bytes or a file path.
template <typename S>
std::unique_ptr<S> openSession(nb::handle source, const rt::SessionOptions &options) {
  std::unique_ptr<S> session;
  rt::Status status;
  if (nb::isinstance<nb::bytes>(source)) {
    nb::bytes bytes = nb::borrow<nb::bytes>(source);
    nb::gil_scoped_release release;
    status = S::createFromMemory(bytes.c_str(), bytes.size(), options, &session);
  } else {
    std::string path = nb::cast<std::string>(source);
    nb::gil_scoped_release release;
    status = S::createFromFile(path, options, &session);
  }
  check(status);
  return session;
}

struct PySession {
  std::unique_ptr<rt::Session> session;
  std::mutex mutex;

  nb::dict run(nb::dict inputs, const std::string &function) {
    const rt::FunctionInfo *info = session->findFunction(function);
    if (!info)
      raise(rt::notFound("the artifact has no function '" + function + "'"));
    std::vector<BoundInput> bound;
    bound.reserve(info->inputs.size());
    bindInputs(*info, inputs, std::vector<bool>(info->inputs.size(), false), &bound);
    std::vector<rt::TensorView> views;
    for (BoundInput &b : bound)
      views.push_back(b.view);
    std::vector<rt::Tensor> outputs;
    rt::Status status;
    {
      nb::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex);
      status = session->run(function, views, &outputs);
    }
    check(status);
    nb::dict result;
    for (size_t i = 0; i < outputs.size(); ++i)
      result[outputName(*info, i).c_str()] = toNumpy(std::move(outputs[i]));
    return result;
  }
};

struct PyTrainingSession {
  std::unique_ptr<rt::TrainingSession> session;
  std::mutex mutex;

  float step(nb::object batch, float lr) {
    float loss = 0;
    rt::Status status;
    if (batch.is_none()) {
      nb::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex);
      status = session->step(lr, &loss);
    } else {
      if (!nb::isinstance<nb::dict>(batch))
        raise(rt::invalidArgument("the batch is a dict of arrays by input name (or None for the "
                                  "next batch of the data set); got " +
                                  std::string(nb::type_name(batch.type()).c_str())));
      // Bind against train_step's batch inputs only: parameters, state and lr are carried.
      const rt::FunctionInfo &info = session->trainStep();
      std::vector<bool> skip(info.inputs.size());
      for (size_t i = 0; i < info.inputs.size(); ++i)
        skip[i] = info.inputs[i].role != rt::Role::DataInput;
      std::vector<BoundInput> bound;
      bound.reserve(info.inputs.size());
      bindInputs(info, nb::borrow<nb::dict>(batch), skip, &bound);
      std::vector<rt::TensorView> views;
      for (BoundInput &b : bound)
        views.push_back(b.view);
      nb::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex);
      status = session->step(views, lr, &loss);
    }
    check(status);
    return loss;
  }

  std::vector<std::string> parameterNames() const {
    std::vector<std::string> names;
    for (const rt::TensorInfo &in : session->trainStep().inputs)
      if (in.role == rt::Role::Parameter)
        names.push_back(in.name);
    return names;
  }

  std::vector<rt::NamedTensor> parameterTensors() {
    std::vector<rt::NamedTensor> out;
    std::lock_guard<std::mutex> lock(mutex);
    for (const std::string &name : parameterNames()) {
      out.push_back({name, {}});
      check(session->getParameter(name, &out.back().tensor));
    }
    return out;
  }
};

} // namespace

NB_MODULE(_precis, m) {
  m.doc() = "precis compiler and runtime (internal module; use the precis package)";

  m.def("_register_errors", [](nb::list classes) {
    std::vector<PyObject *> &registered = errorClasses();
    for (PyObject *old : registered)
      Py_XDECREF(old);
    registered.clear();
    for (nb::handle cls : classes)
      registered.push_back(cls.inc_ref().ptr());
  });
  m.def("_register_dtypes", [](nb::object bf16, nb::object e4m3, nb::object e5m2) {
    auto set = [](rt::DType t, nb::object value) {
      PyObject *&slot = viewDtype(t);
      Py_XDECREF(slot);
      slot = value.is_none() ? nullptr : value.inc_ref().ptr();
    };
    set(rt::DType::BF16, bf16);
    set(rt::DType::F8E4M3FN, e4m3);
    set(rt::DType::F8E5M2, e5m2);
  });

  nb::class_<CompileArgs>(m, "_CompileArgs")
      .def(nb::init<>())
      .def_rw("train", &CompileArgs::train)
      .def_rw("precision", &CompileArgs::precision)
      .def_rw("rules", &CompileArgs::rules)
      .def_rw("fp8_recipe", &CompileArgs::fp8Recipe)
      .def_rw("fp8_history", &CompileArgs::fp8History)
      .def_rw("fp8_amax_compute", &CompileArgs::fp8AmaxCompute)
      .def_rw("fp8_margin", &CompileArgs::fp8Margin)
      .def_rw("calibrate", &CompileArgs::calibrate)
      .def_rw("tolerance", &CompileArgs::tolerance)
      .def_rw("calibration_out", &CompileArgs::calibrationOut)
      .def_rw("optimizer", &CompileArgs::optimizer)
      .def_rw("momentum", &CompileArgs::momentum)
      .def_rw("weight_decay", &CompileArgs::weightDecay, nb::arg().none())
      .def_rw("beta1", &CompileArgs::beta1)
      .def_rw("beta2", &CompileArgs::beta2)
      .def_rw("eps", &CompileArgs::eps)
      .def_rw("loss_scaling", &CompileArgs::lossScaling, nb::arg().none())
      .def_rw("init_scale", &CompileArgs::initScale)
      .def_rw("trainable", &CompileArgs::trainable)
      .def_rw("frozen", &CompileArgs::frozen)
      .def_rw("target", &CompileArgs::target)
      .def_rw("batch", &CompileArgs::batch, nb::arg().none());

  m.def("compile", &compile, "model"_a, "args"_a, "arch"_a, "no_weights"_a, "init_seed"_a);
  m.def("report", &report, "model"_a, "args"_a);
  m.def("cuda_compiler_available", &precis::cudaCompilerAvailable);

  nb::class_<PySession>(m, "_Session")
      .def("__init__",
           [](PySession *self, nb::handle source, const std::string &device, int numThreads,
              bool checkNumerics) {
             auto session = openSession<rt::Session>(
                 source, sessionOptions(device, numThreads, checkNumerics));
             new (self) PySession();
             self->session = std::move(session);
           })
      .def("run", &PySession::run, "inputs"_a, "function"_a)
      .def("functions",
           [](PySession &self) {
             nb::list out;
             for (const rt::FunctionInfo &f : self.session->functions())
               out.append(functionInfo(f));
             return out;
           })
      .def("parameter_names",
           [](PySession &self) {
             std::vector<std::string> names;
             for (const rt::TensorInfo &p : self.session->parameters())
               names.push_back(p.name);
             return names;
           })
      .def("get_parameter",
           [](PySession &self, const std::string &name) {
             rt::Tensor t;
             {
               std::lock_guard<std::mutex> lock(self.mutex);
               check(self.session->getParameter(name, &t));
             }
             return toNumpy(std::move(t));
           })
      .def("target", [](PySession &self) { return self.session->target(); })
      .def("arena_bytes", [](PySession &self) { return self.session->arenaBytes(); });

  nb::class_<PyTrainingSession>(m, "_TrainingSession")
      .def("__init__",
           [](PyTrainingSession *self, nb::handle source, const std::string &device, int numThreads,
              bool checkNumerics) {
             auto session = openSession<rt::TrainingSession>(
                 source, sessionOptions(device, numThreads, checkNumerics));
             new (self) PyTrainingSession();
             self->session = std::move(session);
           })
      .def("step", &PyTrainingSession::step, "batch"_a.none(), "lr"_a)
      .def("open_data",
           [](PyTrainingSession &self, const std::string &path, int64_t seed) {
             rt::Status status;
             {
               nb::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(self.mutex);
               status = self.session->openData(path, seed);
             }
             check(status);
           })
      .def("batch_inputs",
           [](PyTrainingSession &self) {
             nb::list out;
             for (const rt::TensorInfo &t : self.session->batchInputs())
               out.append(tensorInfo(t));
             return out;
           })
      .def("train_step",
           [](PyTrainingSession &self) { return functionInfo(self.session->trainStep()); })
      .def("parameters",
           [](PyTrainingSession &self) {
             nb::dict out;
             for (rt::NamedTensor &p : self.parameterTensors())
               out[p.name.c_str()] = toNumpy(std::move(p.tensor));
             return out;
           })
      .def("get_state",
           [](PyTrainingSession &self, const std::string &name) {
             rt::Tensor t;
             {
               std::lock_guard<std::mutex> lock(self.mutex);
               check(self.session->getState(name, &t));
             }
             return toNumpy(std::move(t));
           })
      .def("set_parameter",
           [](PyTrainingSession &self, const std::string &name, nb::handle value) {
             const rt::TensorInfo *info = nullptr;
             for (const rt::TensorInfo &in : self.session->trainStep().inputs)
               if (in.role == rt::Role::Parameter && in.name == name)
                 info = &in;
             if (!info)
               raise(rt::notFound("no parameter named '" + name + "'"));
             BoundInput bound;
             bindInput(value, *info, &bound);
             std::lock_guard<std::mutex> lock(self.mutex);
             check(self.session->setParameter(name, bound.view));
           })
      .def("save_checkpoint",
           [](PyTrainingSession &self, const std::string &dir) {
             std::string path;
             rt::Status status;
             {
               nb::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(self.mutex);
               status = self.session->saveCheckpoint(dir, &path);
             }
             check(status);
             return path;
           })
      .def("load_checkpoint",
           [](PyTrainingSession &self, const std::string &pathOrDir) {
             std::string path;
             rt::Status status;
             {
               nb::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(self.mutex);
               status = self.session->loadCheckpoint(pathOrDir, &path);
             }
             check(status);
             return path;
           })
      .def("export_onnx",
           [](PyTrainingSession &self, const std::string &model, const std::string &output) {
             std::vector<rt::NamedTensor> parameters = self.parameterTensors();
             int replaced = 0;
             rt::Status status;
             {
               nb::gil_scoped_release release;
               status = precis::exportOnnx(model, parameters, output, &replaced);
             }
             check(status);
             return replaced;
           })
      .def("step_count", [](PyTrainingSession &self) { return self.session->stepCount(); })
      .def("data_cursor", [](PyTrainingSession &self) { return self.session->dataCursor(); })
      .def("loss_scale", [](PyTrainingSession &self) -> std::optional<float> {
        if (!self.session->hasLossScale())
          return std::nullopt;
        return self.session->lossScale();
      });
}
