//===- Codec.h - request and response bodies of precis-serve -----*- C++ -*-===//
//
// Turns an HTTP body (JSON, .npy or .npz) into the inputs of a model's function, checked
// against its signature, and the function's outputs back into a body. Every check names the
// input at fault, so the server can answer 400 with a message a client can act on. The JSON
// format (README.md in this directory has the full description):
//
//   request   {"inputs": {"x": {"shape": [2, 4], "dtype": "float32", "data": [...]},
//                         "y": [[1, 2], [3, 4]]}}
//   response  {"outputs": {"loss": {"shape": [], "dtype": "float32", "data": [2.3]}}, ...}
//
// dtypes are spelled as NumPy spells them ("float32", "int64", "bfloat16", ...). Functions
// here are pure and thread-safe; errors are rt::Status values (InvalidArgument for a body a
// client got wrong), never exceptions.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_SERVE_CODEC_H
#define PRECIS_SERVE_CODEC_H

#include "precis/runtime/Session.h"
#include "precis/runtime/Status.h"
#include "precis/runtime/Tensor.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace precis::serve {

/// The body formats the server reads and writes.
enum class BodyFormat { Json, Npy, Npz };

/// The MIME type of `format`: "application/json", "application/x-npy", "application/x-npz".
const char *mimeType(BodyFormat format);

/// The format a request body declares in its Content-Type (parameters such as "; charset="
/// ignored; an empty header means JSON), or nullopt for a type the server does not read.
std::optional<BodyFormat> formatFromContentType(std::string_view contentType);

/// The format to answer in, from an Accept header: the first media range the server can
/// write, in the header's order; an empty header, "*/*" or "application/*" give JSON.
/// nullopt when nothing acceptable is offered.
std::optional<BodyFormat> formatFromAccept(std::string_view accept);

/// NumPy's name of `dtype` ("float32", "bfloat16", "float8_e4m3fn", "bool", ...).
const char *numpyName(rt::DType dtype);

/// The display name of output `index` of `signature`: its ONNX name, or "output<index>".
std::string outputName(const rt::FunctionInfo &signature, size_t index);

/// Decodes `body` in `format` into one tensor per input of `signature`, in signature order,
/// each of exactly the declared dtype and shape. InvalidArgument, naming the input, for
/// malformed bodies, missing or unknown inputs and wrong dtypes or shapes. A JSON number is
/// converted to the input's dtype (rounded to nearest-even for narrow floats; integer
/// inputs take only integral numbers in the dtype's range).
rt::Status decodeInputs(BodyFormat format, std::string_view body, const rt::FunctionInfo &signature,
                        std::vector<rt::Tensor> *inputs);

/// The "outputs" object of a JSON response: name -> {"shape", "dtype", "data"}, data flat in
/// row-major order (a NaN or an infinity, which JSON cannot spell, becomes null).
nlohmann::json outputsToJson(const rt::FunctionInfo &signature,
                             const std::vector<rt::Tensor> &outputs);

/// An .npy body (the function must have exactly one output) or an .npz body with one entry
/// per output, named by outputName().
rt::Status encodeOutputs(BodyFormat format, const rt::FunctionInfo &signature,
                         const std::vector<rt::Tensor> &outputs, std::string *body);

/// {"function", "inputs": [{"name", "dtype", "shape"}], "outputs": [...]}: a model's
/// signature as GET /v1/models reports it.
nlohmann::json signatureToJson(const rt::FunctionInfo &signature);

} // namespace precis::serve

#endif // PRECIS_SERVE_CODEC_H
