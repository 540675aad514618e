//===- ModelLoader.cpp - read ONNX models and their tensor data -----------===//
//
// Turns a file into a ModelProto: the binary protobuf encoding or the ONNX textual format,
// with every tensor stored as external data read into the proto (relative to the model's
// directory, never outside it). Also decodes tensor payloads into DenseElementsAttrs, and
// large initializers straight into `dense_resource` blobs. Every call into onnx/protobuf that
// can throw is wrapped here; problems become diagnostics.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Regex.h"

#include "onnx/defs/parser.h"

#include <google/protobuf/io/coded_stream.h>

#include <climits>
#include <cstring>

using namespace mlir;

namespace precis::onnx_import {

//===----------------------------------------------------------------------===//
// Tensor payloads.
//===----------------------------------------------------------------------===//

/// Bytes per element in ONNX's raw_data encoding (bool takes a byte).
static int64_t rawElementBytes(Type elt) {
  return elt.isInteger(1) ? 1 : static_cast<int64_t>(elt.getIntOrFloatBitWidth() / 8);
}

/// Appends `value` to `bytes` as `width` little-endian bytes.
static void appendLittleEndian(std::vector<char> &bytes, uint64_t value, int64_t width) {
  for (int64_t b = 0; b < width; ++b)
    bytes.push_back(static_cast<char>((value >> (8 * b)) & 0xff));
}

/// The tensor's elements in raw_data layout, from raw_data or the typed repeated fields.
static FailureOr<std::vector<char>> tensorBytes(const onnx::TensorProto &tensor, Type elt,
                                                int64_t count, Location loc) {
  int64_t width = rawElementBytes(elt);
  if (tensor.has_raw_data()) {
    const std::string &raw = tensor.raw_data();
    if (static_cast<int64_t>(raw.size()) != count * width)
      return emitError(loc) << "tensor '" << tensor.name() << "' holds " << raw.size()
                            << " bytes of data, but its shape needs " << count * width;
    return std::vector<char>(raw.begin(), raw.end());
  }
  std::vector<char> bytes;
  bytes.reserve(count * width);
  int64_t available = 0;
  switch (tensor.data_type()) {
  case onnx::TensorProto::FLOAT:
    available = tensor.float_data_size();
    for (float v : tensor.float_data()) {
      uint32_t bits;
      std::memcpy(&bits, &v, sizeof(bits));
      appendLittleEndian(bytes, bits, 4);
    }
    break;
  case onnx::TensorProto::DOUBLE:
    available = tensor.double_data_size();
    for (double v : tensor.double_data()) {
      uint64_t bits;
      std::memcpy(&bits, &v, sizeof(bits));
      appendLittleEndian(bytes, bits, 8);
    }
    break;
  case onnx::TensorProto::INT64:
    available = tensor.int64_data_size();
    for (int64_t v : tensor.int64_data())
      appendLittleEndian(bytes, static_cast<uint64_t>(v), 8);
    break;
  default:
    // int32, int8, uint8, bool, float16 / bfloat16 / float8 bit patterns: int32_data.
    available = tensor.int32_data_size();
    for (int32_t v : tensor.int32_data())
      appendLittleEndian(bytes, static_cast<uint32_t>(v), width);
    break;
  }
  if (available != count)
    return emitError(loc) << "tensor '" << tensor.name() << "' holds " << available
                          << " elements, but its shape needs " << count;
  return bytes;
}

/// A TensorProto's type and data, in blob layout (row-major, one byte per bool).
static FailureOr<std::pair<RankedTensorType, std::vector<char>>>
decodeBytes(const onnx::TensorProto &tensor, Location loc) {
  Type elt = convertElementType(tensor.data_type(), loc.getContext());
  if (!elt)
    return emitError(loc) << "tensor '" << tensor.name() << "' has unsupported element type "
                          << onnxTypeName(tensor.data_type());
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL)
    return emitError(loc) << "tensor '" << tensor.name() << "' has unresolved external data";
  SmallVector<int64_t> shape;
  int64_t count = 1;
  for (int64_t d : tensor.dims()) {
    if (d < 0)
      return emitError(loc) << "tensor '" << tensor.name() << "' has negative dimension " << d;
    shape.push_back(d);
    count *= d;
  }
  FailureOr<std::vector<char>> bytes = tensorBytes(tensor, elt, count, loc);
  if (failed(bytes))
    return failure();
  return std::make_pair(RankedTensorType::get(shape, elt), std::move(*bytes));
}

FailureOr<DenseElementsAttr> decodeTensor(const onnx::TensorProto &tensor, Location loc) {
  auto decoded = decodeBytes(tensor, loc);
  if (failed(decoded))
    return failure();
  return mlir::precis::denseFromBytes(decoded->first, decoded->second);
}

FailureOr<ElementsAttr> decodeParameter(const onnx::TensorProto &tensor, Location loc) {
  auto decoded = decodeBytes(tensor, loc);
  if (failed(decoded))
    return failure();
  return mlir::precis::storeElements(decoded->first, decoded->second, tensor.name());
}

//===----------------------------------------------------------------------===//
// External data.
//===----------------------------------------------------------------------===//

namespace {

/// Reads the external-data files of one model, each at most once.
class ExternalDataReader {
public:
  ExternalDataReader(StringRef modelDir, Location loc) : modelDir(modelDir), loc(loc) {}

  /// Replaces `tensor`'s external reference by its bytes.
  LogicalResult resolve(onnx::TensorProto &tensor);

private:
  std::string modelDir;
  Location loc;
  llvm::StringMap<std::unique_ptr<llvm::MemoryBuffer>> files;
};

} // namespace

/// True if `location` stays inside the directory it is relative to ("a/../b" does, "../b"
/// does not).
static bool staysInside(StringRef location) {
  int depth = 0;
  for (StringRef part :
       llvm::make_range(llvm::sys::path::begin(location), llvm::sys::path::end(location))) {
    if (part == "..")
      --depth;
    else if (part != ".")
      ++depth;
    if (depth < 0)
      return false;
  }
  return true;
}

LogicalResult ExternalDataReader::resolve(onnx::TensorProto &tensor) {
  std::string location;
  std::optional<uint64_t> offset, length;
  for (const onnx::StringStringEntryProto &entry : tensor.external_data()) {
    if (entry.key() == "location") {
      location = entry.value();
    } else if (entry.key() == "offset" || entry.key() == "length") {
      uint64_t value;
      if (StringRef(entry.value()).getAsInteger(10, value))
        return emitError(loc) << "tensor '" << tensor.name() << "': external data " << entry.key()
                              << " '" << entry.value() << "' is not a number";
      (entry.key() == "offset" ? offset : length) = value;
    }
  }
  auto fail = [&]() {
    return emitError(loc) << "tensor '" << tensor.name() << "': external data file '" << location
                          << "' ";
  };
  if (location.empty())
    return emitError(loc) << "tensor '" << tensor.name()
                          << "' has external data without a location";
  if (llvm::sys::path::is_absolute(location))
    return fail() << "is an absolute path; ONNX external data must be relative to the model";
  if (!staysInside(location))
    return fail() << "is outside the model's directory";

  auto &buffer = files[location];
  if (!buffer) {
    SmallString<256> path(modelDir);
    llvm::sys::path::append(path, location);
    auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
    if (!file) {
      files.erase(location);
      return fail() << "cannot be read (" << path << ": " << file.getError().message() << ")";
    }
    buffer = std::move(*file);
  }
  uint64_t size = buffer->getBufferSize();
  uint64_t begin = offset.value_or(0);
  uint64_t count = length.value_or(begin <= size ? size - begin : 0);
  if (begin > size || count > size - begin)
    return fail() << "is too short: it has " << size << " bytes, the tensor needs bytes " << begin
                  << " to " << begin + count;
  if (Type elt = convertElementType(tensor.data_type(), loc.getContext())) {
    uint64_t expected = rawElementBytes(elt);
    for (int64_t d : tensor.dims())
      expected *= static_cast<uint64_t>(std::max<int64_t>(d, 0));
    if (count != expected)
      return fail() << "provides " << count << " bytes, but the tensor's shape needs " << expected;
  }
  tensor.set_raw_data(buffer->getBufferStart() + begin, count);
  tensor.clear_external_data();
  tensor.set_data_location(onnx::TensorProto::DEFAULT);
  return success();
}

/// Resolves the external data of initializers and of tensor attributes (Constant nodes).
static LogicalResult resolveExternalData(onnx::ModelProto &model, StringRef modelDir,
                                         Location loc) {
  ExternalDataReader reader(modelDir, loc);
  auto resolve = [&](onnx::TensorProto &tensor) {
    return tensor.data_location() == onnx::TensorProto::EXTERNAL ? reader.resolve(tensor)
                                                                 : success();
  };
  onnx::GraphProto &graph = *model.mutable_graph();
  for (onnx::TensorProto &init : *graph.mutable_initializer())
    if (failed(resolve(init)))
      return failure();
  for (onnx::NodeProto &node : *graph.mutable_node())
    for (onnx::AttributeProto &attr : *node.mutable_attribute()) {
      if (attr.has_t() && failed(resolve(*attr.mutable_t())))
        return failure();
      for (onnx::TensorProto &t : *attr.mutable_tensors())
        if (failed(resolve(t)))
          return failure();
    }
  return success();
}

//===----------------------------------------------------------------------===//
// Files.
//===----------------------------------------------------------------------===//

/// True for the file names read as the ONNX textual format.
static bool isTextFormat(StringRef path) {
  return path.ends_with(".onnxtxt") || path.ends_with(".onnxtext") || path.ends_with(".txt");
}

/// Parses the ONNX textual format. The parser reports "[ParseError at position (line: L
/// column: C)]"; the diagnostic points at that position instead.
static LogicalResult parseText(StringRef path, const llvm::MemoryBuffer &buffer,
                               onnx::ModelProto &model, Location fileLoc) {
  MLIRContext *context = fileLoc.getContext();
  onnx::Common::Status status;
  try {
    // The buffer is null-terminated (MemoryBuffer::getFile's default).
    status = onnx::OnnxParser::Parse(model, buffer.getBufferStart());
  } catch (const std::exception &e) {
    return emitError(fileLoc) << "ONNX text format: " << e.what();
  } catch (...) {
    return emitError(fileLoc) << "ONNX text format: the parser failed";
  }
  if (status.IsOK())
    return success();
  std::string message = status.ErrorMessage();
  SmallVector<StringRef> groups;
  llvm::Regex position("\\[ParseError at position \\(line: ([0-9]+) column: ([0-9]+)\\)\\]\n"
                       "Error context: ([^\n]*)\n(.*)");
  if (!position.match(message, &groups))
    return emitError(fileLoc) << "ONNX text format: " << message;
  unsigned line = 0, column = 0;
  groups[1].getAsInteger(10, line);
  groups[2].getAsInteger(10, column);
  return emitError(FileLineColLoc::get(context, path, line, column))
         << "ONNX text format: " << groups[4].trim() << " (in '" << groups[3].trim() << "')";
}

/// Parses a binary ModelProto (up to protobuf's 2 GiB message limit).
static LogicalResult parseBinary(const llvm::MemoryBuffer &buffer, onnx::ModelProto &model,
                                 Location fileLoc) {
  bool parsed = false;
  try {
    google::protobuf::io::CodedInputStream stream(
        reinterpret_cast<const uint8_t *>(buffer.getBufferStart()),
        static_cast<int>(std::min<size_t>(buffer.getBufferSize(), INT_MAX)));
    stream.SetTotalBytesLimit(INT_MAX);
    parsed = model.ParseFromCodedStream(&stream) && stream.ConsumedEntireMessage();
  } catch (...) {
    parsed = false;
  }
  if (!parsed)
    return emitError(fileLoc) << "not a valid ONNX model: the protobuf encoding is malformed "
                                 "or truncated";
  return success();
}

LogicalResult loadModel(StringRef path, onnx::ModelProto &model, Location fileLoc) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/true);
  if (!buffer)
    return emitError(fileLoc) << "cannot read '" << path << "': " << buffer.getError().message();
  if (failed(isTextFormat(path) ? parseText(path, **buffer, model, fileLoc)
                                : parseBinary(**buffer, model, fileLoc)))
    return failure();
  if (!model.has_graph() || model.ir_version() < 3 || model.opset_import_size() == 0)
    return emitError(fileLoc) << "not an ONNX model: "
                              << (!model.has_graph()       ? "it has no graph"
                                  : model.ir_version() < 3 ? "its IR version is missing"
                                                           : "it imports no opset");
  StringRef dir = llvm::sys::path::parent_path(path);
  return resolveExternalData(model, dir.empty() ? "." : dir, fileLoc);
}

} // namespace precis::onnx_import
