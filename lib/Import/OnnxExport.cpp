//===- OnnxExport.cpp - trained parameters back into an ONNX model ------------===//
//
// See OnnxExport.h. The model is edited in place as a ModelProto: only the data of the replaced
// initializers changes (written as raw_data, little-endian like the runtime's tensors); names,
// graph, opsets and metadata are kept byte for byte.
//
//===----------------------------------------------------------------------===//

#include "precis/Import/OnnxExport.h"
#include "precis/runtime/Training.h"
#include "precis/schema/Names.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "onnx/onnx_pb.h"

#include <google/protobuf/io/coded_stream.h>

#include <climits>
#include <unistd.h>

namespace precis {

using rt::Status;

/// The runtime dtype of an ONNX floating-point tensor type; Unspecified for any other.
static rt::DType floatDType(int32_t onnxType) {
  switch (onnxType) {
  case onnx::TensorProto::FLOAT:
    return rt::DType::F32;
  case onnx::TensorProto::FLOAT16:
    return rt::DType::F16;
  case onnx::TensorProto::BFLOAT16:
    return rt::DType::BF16;
  case onnx::TensorProto::DOUBLE:
    return rt::DType::F64;
  default:
    return rt::DType::Unspecified;
  }
}

static Status readModel(const std::string &path, onnx::ModelProto &model) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return rt::ioError("cannot read '" + path + "': " + buffer.getError().message());
  bool parsed = false;
  try {
    google::protobuf::io::CodedInputStream stream(
        reinterpret_cast<const uint8_t *>((*buffer)->getBufferStart()),
        static_cast<int>(std::min<size_t>((*buffer)->getBufferSize(), INT_MAX)));
    stream.SetTotalBytesLimit(INT_MAX);
    parsed = model.ParseFromCodedStream(&stream) && stream.ConsumedEntireMessage();
  } catch (...) {
    parsed = false;
  }
  if (!parsed)
    return rt::invalidArgument(path + ": not a binary ONNX model (the protobuf encoding is "
                                      "malformed or truncated)");
  return Status::ok();
}

/// The real directory holding `path` (empty if it cannot be resolved).
static std::string realDir(const std::string &path) {
  llvm::SmallString<256> dir(llvm::sys::path::parent_path(path));
  if (dir.empty())
    dir = ".";
  llvm::SmallString<256> real;
  if (llvm::sys::fs::real_path(dir, real))
    return "";
  return real.str().str();
}

/// Whether checkpoint entry `name` is training state rather than a parameter. A checkpoint
/// is a plain .npz without the artifact's roles: its state entries are the names the
/// training step gives them (precis/schema/Names.h).
static bool isCheckpointState(llvm::StringRef name) {
  for (const char *exact : {names::kStep, names::kDataCursor, names::kShuffleSeed,
                            names::kLossScale, names::kLossScaleGrowthTracker})
    if (name == exact)
      return true;
  for (const char *kind :
       {names::kMomentumBuffer, names::kExpAvg, names::kExpAvgSq, names::kAmaxHistory})
    if (name.ends_with(std::string(".") + kind))
      return true;
  return false;
}

Status exportOnnx(const std::string &modelPath, const std::vector<rt::NamedTensor> &checkpoint,
                  const std::string &output, int *replaced) {
  onnx::ModelProto model;
  PRECIS_RETURN_IF_ERROR(readModel(modelPath, model));

  llvm::StringMap<onnx::TensorProto *> initializers;
  for (onnx::TensorProto &init : *model.mutable_graph()->mutable_initializer())
    initializers[init.name()] = &init;

  // Check every parameter before changing anything: a checkpoint of another model is refused
  // as a whole.
  std::vector<std::pair<const rt::Tensor *, onnx::TensorProto *>> updates;
  for (const rt::NamedTensor &p : checkpoint) {
    if (isCheckpointState(p.name))
      continue;
    auto it = initializers.find(p.name);
    if (it == initializers.end())
      return rt::invalidArgument("the checkpoint's parameter '" + p.name +
                                 "' is no initializer of " + modelPath +
                                 " (is the checkpoint of another model?)");
    onnx::TensorProto &init = *it->second;
    rt::DType dtype = floatDType(init.data_type());
    std::vector<int64_t> shape(init.dims().begin(), init.dims().end());
    if (dtype == rt::DType::Unspecified || dtype != p.tensor.dtype || shape != p.tensor.shape)
      return rt::invalidArgument("the checkpoint's parameter '" + p.name + "' is " +
                                 rt::typeString(p.tensor.dtype, p.tensor.shape) +
                                 " but the initializer in " + modelPath + " is " +
                                 (dtype == rt::DType::Unspecified
                                      ? std::string("not floating-point")
                                      : rt::typeString(dtype, shape)));
    updates.emplace_back(&p.tensor, &init);
  }
  if (updates.empty())
    return rt::invalidArgument("the checkpoint has no parameters");

  for (auto &[tensor, init] : updates) {
    init->clear_float_data();
    init->clear_double_data();
    init->clear_int32_data();
    init->clear_external_data();
    init->set_data_location(onnx::TensorProto::DEFAULT);
    init->set_raw_data(tensor->data.data(), tensor->data.size());
  }
  // Initializers kept with external data still point at files next to the original model.
  if (realDir(modelPath) != realDir(output))
    for (const onnx::TensorProto &init : model.graph().initializer())
      if (init.data_location() == onnx::TensorProto::EXTERNAL)
        return rt::invalidArgument("initializer '" + init.name() +
                                   "' keeps its external data, which is relative to " + modelPath +
                                   ": write the output to the same directory");

  std::string bytes;
  if (!model.SerializeToString(&bytes))
    return rt::internalError("cannot serialize the model (over protobuf's 2 GiB limit?)");

  // A temporary file next to the destination, then a rename: a failure never leaves a partial
  // model under the final name.
  llvm::Expected<llvm::sys::fs::TempFile> temp =
      llvm::sys::fs::TempFile::create(output + ".tmp-%%%%%%");
  if (!temp)
    return rt::ioError("cannot create '" + output + "': " + llvm::toString(temp.takeError()));
  bool ok;
  {
    llvm::raw_fd_ostream os(temp->FD, /*shouldClose=*/false);
    os << bytes;
    os.flush();
    ok = !os.has_error() && ::fsync(temp->FD) == 0;
    os.clear_error();
  }
  if (!ok) {
    llvm::consumeError(temp->discard());
    return rt::ioError("cannot write '" + output + "'");
  }
  if (llvm::Error err = temp->keep(output))
    return rt::ioError("cannot write '" + output + "': " + llvm::toString(std::move(err)));
  *replaced = static_cast<int>(updates.size());
  return Status::ok();
}

} // namespace precis
