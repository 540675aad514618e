//===- Codec.cpp - request and response bodies of precis-serve -----------===//
//
// JSON goes through nlohmann::json (parse errors and type errors are caught here and become
// statuses); .npy and .npz go through the runtime's own readers (precis/runtime/Npy.h). A
// claimed shape is compared with the model's before anything is allocated for it, and nested
// lists are walked to a bounded depth, so no body can make the server allocate more than
// the model's inputs or recurse without limit.
//
//===----------------------------------------------------------------------===//

#include "Codec.h"

#include "precis/runtime/Npy.h"
#include "precis/runtime/numerics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>

using nlohmann::json;
using precis::rt::DType;
using precis::rt::Status;
using precis::rt::Tensor;
using precis::rt::TensorInfo;

namespace precis::serve {
namespace {

/// Deeper nesting than any tensor the runtime runs is an error, found before recursing.
constexpr size_t kMaxRank = 32;

struct DTypeName {
  DType dtype;
  const char *name;
};
constexpr DTypeName kDTypeNames[] = {
    {DType::F32, "float32"},
    {DType::F16, "float16"},
    {DType::BF16, "bfloat16"},
    {DType::F64, "float64"},
    {DType::F8E4M3FN, "float8_e4m3fn"},
    {DType::F8E5M2, "float8_e5m2"},
    {DType::I64, "int64"},
    {DType::I32, "int32"},
    {DType::I8, "int8"},
    {DType::U8, "uint8"},
    {DType::Bool, "bool"},
};

std::optional<DType> dtypeFromName(std::string_view name) {
  for (const DTypeName &d : kDTypeNames)
    if (name == d.name)
      return d.dtype;
  return std::nullopt;
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string indexString(const std::vector<size_t> &index) {
  std::string s;
  for (size_t i : index)
    s += "[" + std::to_string(i) + "]";
  return s;
}

Status inputError(const std::string &input, const std::string &what) {
  return rt::invalidArgument("input '" + input + "': " + what);
}

Status checkType(const TensorInfo &info, DType dtype, const std::vector<int64_t> &shape) {
  if (dtype != info.dtype)
    return rt::invalidArgument("input '" + info.name + "' expects dtype " + numpyName(info.dtype) +
                               ", got " + numpyName(dtype));
  if (shape != info.shape)
    return rt::invalidArgument("input '" + info.name + "' expects shape " +
                               shapeString(info.shape) + ", got " + shapeString(shape));
  return Status::ok();
}

/// The shape of a nested list, read along its first elements; raggedness is found later,
/// by flatten().
Status nestedShape(const json &value, const std::string &input, std::vector<int64_t> *shape) {
  shape->clear();
  for (const json *v = &value; v->is_array(); v = &(*v)[0]) {
    if (shape->size() == kMaxRank)
      return inputError(input, "lists nested deeper than " + std::to_string(kMaxRank) + " levels");
    shape->push_back(static_cast<int64_t>(v->size()));
    if (v->empty())
      break;
  }
  return Status::ok();
}

/// Appends the leaves of `value`, which must be a nested list of exactly `shape` (from
/// `depth` on), to `leaves`. The recursion depth is bounded by shape.size() <= kMaxRank.
Status flatten(const json &value, const std::vector<int64_t> &shape, size_t depth,
               std::vector<size_t> *index, const std::string &input,
               std::vector<const json *> *leaves) {
  if (depth == shape.size()) {
    if (value.is_array())
      return inputError(input, "ragged nested list: element " + indexString(*index) +
                                   " is a list where a number was expected");
    leaves->push_back(&value);
    return Status::ok();
  }
  if (!value.is_array() || static_cast<int64_t>(value.size()) != shape[depth])
    return inputError(input, "ragged nested list: element " + indexString(*index) + " is " +
                                 (value.is_array() ? "a list of " + std::to_string(value.size())
                                                   : std::string("not a list")) +
                                 " where a list of " + std::to_string(shape[depth]) +
                                 " was expected");
  for (size_t i = 0; i < value.size(); ++i) {
    index->push_back(i);
    PRECIS_RETURN_IF_ERROR(flatten(value[i], shape, depth + 1, index, input, leaves));
    index->pop_back();
  }
  return Status::ok();
}

template <typename T> void store(uint8_t *dst, T v) { std::memcpy(dst, &v, sizeof v); }

/// A JSON value for a message: scalars as written, containers by kind only (dumping a
/// container would recurse as deep as the client nested it).
std::string describe(const json &v) {
  if (!v.is_primitive())
    return std::string("an ") + v.type_name();
  std::string text = v.dump();
  return text.size() <= 40 ? text : text.substr(0, 37) + "...";
}

/// Writes JSON number `v` as one element of `dtype` at `dst`; false with `*why` when it is
/// not a number of that kind.
bool storeElement(const json &v, DType dtype, uint8_t *dst, std::string *why) {
  switch (dtype) {
  case DType::F32:
  case DType::F64:
  case DType::F16:
  case DType::BF16:
  case DType::F8E4M3FN:
  case DType::F8E5M2: {
    if (!v.is_number()) {
      *why = "is " + describe(v) + ", not a number";
      return false;
    }
    const double d = v.get<double>();
    const float f = static_cast<float>(d);
    if (dtype == DType::F64)
      store(dst, d);
    else if (dtype == DType::F32)
      store(dst, f);
    else if (dtype == DType::F16)
      store(dst, float_to_fp16(f));
    else if (dtype == DType::BF16)
      store(dst, float_to_bf16(f));
    else if (dtype == DType::F8E4M3FN)
      store(dst, float_to_fp8_e4m3fn(f));
    else
      store(dst, float_to_fp8_e5m2(f));
    return true;
  }
  case DType::Bool:
    if (v.is_boolean()) {
      store<uint8_t>(dst, v.get<bool>() ? 1 : 0);
      return true;
    }
    if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) {
      store<uint8_t>(dst, static_cast<uint8_t>(v.get<int64_t>()));
      return true;
    }
    *why = "is " + describe(v) + ", not a boolean (true, false, 0 or 1)";
    return false;
  case DType::I64:
  case DType::I32:
  case DType::I8:
  case DType::U8: {
    int64_t i = 0;
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) {
      *why = "is " + describe(v) + ", out of range for " + numpyName(dtype);
      return false;
    } else if (v.is_number_integer()) {
      i = v.get<int64_t>();
    } else if (v.is_number_float()) {
      const double d = v.get<double>();
      // Integral floats (3.0) are accepted; 2^63 and beyond do not fit any integer dtype.
      if (!std::isfinite(d) || d != std::trunc(d) || std::fabs(d) >= 9.2233720368547758e18) {
        *why = "is " + describe(v) + ", not an integer";
        return false;
      }
      i = static_cast<int64_t>(d);
    } else {
      *why = "is " + describe(v) + ", not an integer";
      return false;
    }
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if (dtype == DType::I32)
      lo = INT32_MIN, hi = INT32_MAX;
    else if (dtype == DType::I8)
      lo = -128, hi = 127;
    else if (dtype == DType::U8)
      lo = 0, hi = 255;
    if (i < lo || i > hi) {
      *why = "is " + std::to_string(i) + ", out of range for " + numpyName(dtype);
      return false;
    }
    if (dtype == DType::I64)
      store(dst, i);
    else if (dtype == DType::I32)
      store(dst, static_cast<int32_t>(i));
    else if (dtype == DType::I8)
      store(dst, static_cast<int8_t>(i));
    else
      store(dst, static_cast<uint8_t>(i));
    return true;
  }
  default:
    *why = std::string("has dtype ") + rt::dtypeName(dtype) + ", which JSON bodies cannot carry";
    return false;
  }
}

/// One input given in JSON: a nested list, a bare number (a scalar), or an object with
/// "data" and optional "shape" and "dtype".
Status decodeJsonInput(const json &value, const TensorInfo &info, Tensor *out) {
  const std::string &name = info.name;
  const json *data = &value;
  std::optional<std::vector<int64_t>> declaredShape;
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it)
      if (it.key() != "data" && it.key() != "shape" && it.key() != "dtype")
        return inputError(name, "unknown field '" + it.key() +
                                    "' (expected \"data\", \"shape\", \"dtype\")");
    auto dataIt = value.find("data");
    if (dataIt == value.end())
      return inputError(name, "missing field \"data\"");
    data = &*dataIt;
    if (auto it = value.find("dtype"); it != value.end()) {
      if (!it->is_string())
        return inputError(name, "\"dtype\" must be a string such as \"float32\"");
      std::optional<DType> dtype = dtypeFromName(it->get<std::string>());
      if (!dtype)
        return inputError(name, "unknown dtype '" + it->get<std::string>() + "'");
      PRECIS_RETURN_IF_ERROR(checkType(info, *dtype, info.shape));
    }
    if (auto it = value.find("shape"); it != value.end()) {
      if (!it->is_array() || it->size() > kMaxRank)
        return inputError(name, "\"shape\" must be a list of at most " + std::to_string(kMaxRank) +
                                    " non-negative integers");
      declaredShape.emplace();
      for (const json &d : *it) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0)
          return inputError(name, "\"shape\" must be a list of non-negative integers, got " +
                                      describe(d) + " in it");
        declaredShape->push_back(d.get<int64_t>());
      }
    }
  } else if (!value.is_array() && !value.is_number() && !value.is_boolean()) {
    return inputError(name, std::string("expected a nested list, a number or an object with "
                                        "\"data\", got ") +
                                value.type_name());
  }

  std::vector<int64_t> dataShape;
  PRECIS_RETURN_IF_ERROR(nestedShape(*data, name, &dataShape));
  std::vector<int64_t> shape = declaredShape ? *declaredShape : dataShape;
  // The shape is checked against the model before the data is walked or anything allocated.
  PRECIS_RETURN_IF_ERROR(checkType(info, info.dtype, shape));
  int64_t count = 1; // the model's shape: no overflow
  for (int64_t d : shape)
    count *= d;
  std::vector<int64_t> walkShape = shape;
  if (declaredShape && dataShape != shape) {
    // Flat data for a declared shape: one list of every element, or a bare scalar.
    if (dataShape.size() == 1 && dataShape[0] == count)
      walkShape = {count};
    else if (dataShape.empty() && count == 1)
      walkShape = {};
    else
      return inputError(name, "\"data\" has shape " + shapeString(dataShape) +
                                  ", which is neither \"shape\" " + shapeString(shape) +
                                  " nor a flat list of its " + std::to_string(count) + " elements");
  }
  std::vector<const json *> leaves;
  leaves.reserve(static_cast<size_t>(count));
  std::vector<size_t> index;
  PRECIS_RETURN_IF_ERROR(flatten(*data, walkShape, 0, &index, name, &leaves));

  out->dtype = info.dtype;
  out->shape = info.shape;
  const size_t size = rt::dtypeSize(info.dtype);
  out->data.assign(leaves.size() * size, 0);
  for (size_t i = 0; i < leaves.size(); ++i) {
    std::string why;
    if (!storeElement(*leaves[i], info.dtype, out->data.data() + i * size, &why))
      return inputError(name, "element " + std::to_string(i) + " (row-major) " + why + " (dtype " +
                                  numpyName(info.dtype) + ")");
  }
  return Status::ok();
}

Status decodeJson(std::string_view body, const rt::FunctionInfo &signature,
                  std::vector<Tensor> *inputs) {
  json doc;
  try {
    doc = json::parse(body.begin(), body.end());
  } catch (const json::parse_error &e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 3: ..."
    if (size_t bracket = what.find("] ");
        what.rfind("[json.", 0) == 0 && bracket != std::string::npos)
      what = what.substr(bracket + 2);
    return rt::invalidArgument("invalid JSON: " + what);
  }
  if (!doc.is_object())
    return rt::invalidArgument(std::string("the body must be a JSON object {\"inputs\": {...}}, "
                                           "got ") +
                               doc.type_name());
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (it.key() != "inputs")
      return rt::invalidArgument("unknown field '" + it.key() + "' (expected \"inputs\")");
  auto in = doc.find("inputs");
  if (in == doc.end() || !in->is_object())
    return rt::invalidArgument("the body must have \"inputs\": an object from input name to "
                               "value");
  for (auto it = in->begin(); it != in->end(); ++it) {
    bool known = false;
    for (const TensorInfo &info : signature.inputs)
      known = known || info.name == it.key();
    if (!known) {
      std::string names;
      for (const TensorInfo &info : signature.inputs)
        names += (names.empty() ? "" : ", ") + info.name;
      return rt::invalidArgument("unknown input '" + it.key() + "' (the model's inputs: " + names +
                                 ")");
    }
  }
  inputs->assign(signature.inputs.size(), Tensor());
  for (size_t i = 0; i < signature.inputs.size(); ++i) {
    const TensorInfo &info = signature.inputs[i];
    auto it = in->find(info.name);
    if (it == in->end())
      return rt::invalidArgument("missing input '" + info.name + "' (" + numpyName(info.dtype) +
                                 shapeString(info.shape) + ")");
    PRECIS_RETURN_IF_ERROR(decodeJsonInput(*it, info, &(*inputs)[i]));
  }
  return Status::ok();
}

} // namespace

const char *mimeType(BodyFormat format) {
  switch (format) {
  case BodyFormat::Json:
    return "application/json";
  case BodyFormat::Npy:
    return "application/x-npy";
  case BodyFormat::Npz:
    return "application/x-npz";
  }
  return "application/octet-stream";
}

/// The media type of a header element, lower-cased, without parameters or spaces.
static std::string mediaType(std::string_view element) {
  std::string type;
  for (char c : element.substr(0, element.find(';')))
    if (c != ' ' && c != '\t')
      type += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type;
}

/// The body format of a media type of ours; nullopt for any other.
static std::optional<BodyFormat> formatOf(const std::string &type) {
  if (type == "application/json")
    return BodyFormat::Json;
  if (type == "application/x-npy")
    return BodyFormat::Npy;
  if (type == "application/x-npz")
    return BodyFormat::Npz;
  return std::nullopt;
}

std::optional<BodyFormat> formatFromContentType(std::string_view contentType) {
  const std::string type = mediaType(contentType);
  return type.empty() ? BodyFormat::Json : formatOf(type);
}

std::optional<BodyFormat> formatFromAccept(std::string_view accept) {
  if (mediaType(accept).empty())
    return BodyFormat::Json;
  while (!accept.empty()) {
    const size_t comma = accept.find(',');
    const std::string type = mediaType(accept.substr(0, comma));
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    if (type == "*/*" || type == "application/*")
      return BodyFormat::Json;
    if (std::optional<BodyFormat> format = formatOf(type))
      return format;
  }
  return std::nullopt;
}

const char *numpyName(DType dtype) {
  for (const DTypeName &d : kDTypeNames)
    if (d.dtype == dtype)
      return d.name;
  return rt::dtypeName(dtype);
}

std::string outputName(const rt::FunctionInfo &signature, size_t index) {
  const std::string &name = signature.outputs[index].name;
  return name.empty() ? "output" + std::to_string(index) : name;
}

Status decodeInputs(BodyFormat format, std::string_view body, const rt::FunctionInfo &signature,
                    std::vector<Tensor> *inputs) {
  if (format == BodyFormat::Json)
    return decodeJson(body, signature, inputs);

  if (format == BodyFormat::Npy) {
    if (signature.inputs.size() != 1) {
      std::string names;
      for (const TensorInfo &info : signature.inputs)
        names += (names.empty() ? "" : ", ") + info.name;
      return rt::invalidArgument("an application/x-npy body carries one array, but the model "
                                 "has " +
                                 std::to_string(signature.inputs.size()) + " inputs (" + names +
                                 "): send application/x-npz or JSON");
    }
    const TensorInfo &info = signature.inputs[0];
    Tensor t;
    if (Status s = rt::parseNpy(body.data(), body.size(), &t); !s.isOk())
      return inputError(info.name, s.message());
    PRECIS_RETURN_IF_ERROR(checkType(info, t.dtype, t.shape));
    inputs->assign(1, std::move(t));
    return Status::ok();
  }

  std::vector<rt::NamedTensor> arrays;
  PRECIS_RETURN_IF_ERROR(rt::parseNpz(body.data(), body.size(), &arrays));
  for (const rt::NamedTensor &a : arrays) {
    bool known = false;
    for (const TensorInfo &info : signature.inputs)
      known = known || info.name == a.name;
    if (!known)
      return rt::invalidArgument("unknown input '" + a.name + "' in the .npz body");
  }
  inputs->assign(signature.inputs.size(), Tensor());
  for (size_t i = 0; i < signature.inputs.size(); ++i) {
    const TensorInfo &info = signature.inputs[i];
    auto it = std::find_if(arrays.begin(), arrays.end(),
                           [&](const rt::NamedTensor &a) { return a.name == info.name; });
    if (it == arrays.end())
      return rt::invalidArgument("missing input '" + info.name + "' (" + numpyName(info.dtype) +
                                 shapeString(info.shape) + ") in the .npz body");
    PRECIS_RETURN_IF_ERROR(checkType(info, it->tensor.dtype, it->tensor.shape));
    (*inputs)[i] = std::move(it->tensor);
  }
  return Status::ok();
}

/// Element `i` of `t` as a JSON value.
static json elementToJson(const Tensor &t, int64_t i) {
  auto finite = [](double d) { return std::isfinite(d) ? json(d) : json(nullptr); };
  switch (t.dtype) {
  case DType::F32:
    return finite(t.as<float>()[i]);
  case DType::F64:
    return finite(t.as<double>()[i]);
  case DType::F16:
    return finite(fp16_to_float(t.as<uint16_t>()[i]));
  case DType::BF16:
    return finite(bf16_to_float(t.as<uint16_t>()[i]));
  case DType::F8E4M3FN:
    return finite(fp8_e4m3fn_to_float(t.as<uint8_t>()[i]));
  case DType::F8E5M2:
    return finite(fp8_e5m2_to_float(t.as<uint8_t>()[i]));
  case DType::I64:
    return t.as<int64_t>()[i];
  case DType::I32:
    return t.as<int32_t>()[i];
  case DType::I8:
    return t.as<int8_t>()[i];
  case DType::U8:
    return t.as<uint8_t>()[i];
  case DType::Bool:
    return t.as<uint8_t>()[i] != 0;
  default:
    return nullptr;
  }
}

json outputsToJson(const rt::FunctionInfo &signature, const std::vector<Tensor> &outputs) {
  json result = json::object();
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor &t = outputs[i];
    json data = json::array();
    const int64_t n = t.numElements();
    for (int64_t k = 0; k < n; ++k)
      data.push_back(elementToJson(t, k));
    result[outputName(signature, i)] = {
        {"shape", t.shape}, {"dtype", numpyName(t.dtype)}, {"data", std::move(data)}};
  }
  return result;
}

Status encodeOutputs(BodyFormat format, const rt::FunctionInfo &signature,
                     const std::vector<Tensor> &outputs, std::string *body) {
  if (format == BodyFormat::Npy) {
    if (outputs.size() != 1)
      return rt::invalidArgument("an .npy body holds one array; the model has " +
                                 std::to_string(outputs.size()) + " outputs");
    return rt::serializeNpy(outputs[0].view(), body);
  }
  if (format == BodyFormat::Npz) {
    std::vector<std::pair<std::string, rt::TensorView>> arrays;
    for (size_t i = 0; i < outputs.size(); ++i)
      arrays.emplace_back(outputName(signature, i), outputs[i].view());
    return rt::serializeNpz(arrays, body);
  }
  *body = json{{"outputs", outputsToJson(signature, outputs)}}.dump();
  return Status::ok();
}

json signatureToJson(const rt::FunctionInfo &signature) {
  auto values = [&](const std::vector<TensorInfo> &infos, bool outputs) {
    json list = json::array();
    for (size_t i = 0; i < infos.size(); ++i)
      list.push_back({{"name", outputs ? outputName(signature, i) : infos[i].name},
                      {"dtype", numpyName(infos[i].dtype)},
                      {"shape", infos[i].shape}});
    return list;
  };
  return {{"function", signature.name},
          {"inputs", values(signature.inputs, false)},
          {"outputs", values(signature.outputs, true)}};
}

} // namespace precis::serve
