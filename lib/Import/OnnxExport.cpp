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
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "onnx/defs/parser.h"
#include "onnx/defs/schema.h"
#include "onnx/onnx_pb.h"
#include "onnx/shape_inference/implementation.h"

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
  llvm::StringRef name(path);
  const bool text =
      name.ends_with(".onnxtxt") || name.ends_with(".onnxtext") || name.ends_with(".txt");
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/text);
  if (!buffer)
    return rt::ioError("cannot read '" + path + "': " + buffer.getError().message());
  if (text) {
    // The ONNX textual format (small test models); the output is written binary.
    onnx::Common::Status status;
    try {
      status = onnx::OnnxParser::Parse(model, (*buffer)->getBufferStart());
    } catch (...) {
      return rt::invalidArgument(path + ": the ONNX text format parser failed");
    }
    if (!status.IsOK())
      return rt::invalidArgument(path + ": not an ONNX text model: " + status.ErrorMessage());
    return Status::ok();
  }
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

/// The names a subgraph (If / Loop / Scan body) reads, its own or its enclosing graph's.
static void subgraphReads(const onnx::GraphProto &graph, llvm::StringSet<> &names) {
  for (const onnx::NodeProto &node : graph.node()) {
    for (const std::string &in : node.input())
      names.insert(in);
    for (const onnx::AttributeProto &attr : node.attribute()) {
      if (attr.has_g())
        subgraphReads(attr.g(), names);
      for (const onnx::GraphProto &g : attr.graphs())
        subgraphReads(g, names);
    }
  }
}

/// Whether a node of `graph` other than `self` reads `name`.
static bool isRead(const onnx::GraphProto &graph, const onnx::NodeProto &self,
                   const std::string &name) {
  llvm::StringSet<> reads;
  for (const onnx::NodeProto &node : graph.node())
    if (&node != &self) {
      for (const std::string &in : node.input())
        reads.insert(in);
      for (const onnx::AttributeProto &attr : node.attribute()) {
        if (attr.has_g())
          subgraphReads(attr.g(), reads);
        for (const onnx::GraphProto &g : attr.graphs())
          subgraphReads(g, reads);
      }
    }
  return reads.contains(name);
}

/// The inference-mode rewrite of InferenceExport (see OnnxExport.h).
static Status makeInference(onnx::ModelProto &model, const std::vector<std::string> &outputs,
                            const std::string &modelPath) {
  onnx::GraphProto &graph = *model.mutable_graph();
  llvm::StringSet<> dropped; // outputs of the rewritten nodes that no longer exist
  for (onnx::NodeProto &node : *graph.mutable_node()) {
    if (!node.domain().empty() && node.domain() != "ai.onnx")
      continue;
    const bool bn = node.op_type() == "BatchNormalization";
    if (!bn && node.op_type() != "Dropout")
      continue;
    for (int i = 1; i < node.output_size(); ++i) {
      if (node.output(i).empty())
        continue;
      if (isRead(graph, node, node.output(i)))
        return rt::invalidArgument(
            modelPath + ": " + node.op_type() + " node '" + node.name() + "' output '" +
            node.output(i) + "' is read by another node; it has no inference-mode equivalent");
      dropped.insert(node.output(i));
    }
    if (node.output_size() > 1)
      node.mutable_output()->DeleteSubrange(1, node.output_size() - 1);
    if (bn) {
      // Inference mode: normalise with the (trained) running statistics.
      auto *attrs = node.mutable_attribute();
      for (int i = attrs->size() - 1; i >= 0; --i)
        if (attrs->Get(i).name() == "training_mode")
          attrs->DeleteSubrange(i, 1);
    } else {
      // Dropout at inference is the identity.
      node.set_op_type("Identity");
      node.clear_attribute();
      if (node.input_size() > 1)
        node.mutable_input()->DeleteSubrange(1, node.input_size() - 1);
    }
  }
  // Graph outputs: the named ones, or all but the dropped statistics and masks.
  if (!outputs.empty()) {
    onnx::ModelProto inferred = model;
    try {
      onnx::ShapeInferenceOptions options{/*check_type=*/false, /*error_mode=*/0,
                                          /*enable_data_propagation=*/false};
      onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(), options);
    } catch (...) {
      // Types from the model's own value_info only.
    }
    llvm::StringMap<onnx::ValueInfoProto> known;
    for (const auto *list :
         {&inferred.graph().value_info(), &inferred.graph().output(), &inferred.graph().input()})
      for (const onnx::ValueInfoProto &info : *list)
        known.try_emplace(info.name(), info);
    google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> chosen;
    for (const std::string &name : outputs) {
      auto it = known.find(name);
      if (it == known.end() || dropped.contains(name))
        return rt::invalidArgument("--outputs: '" + name + "' is no value of " + modelPath +
                                   " with a known type");
      *chosen.Add() = it->second;
    }
    graph.mutable_output()->Swap(&chosen);
  } else {
    auto *outs = graph.mutable_output();
    for (int i = outs->size() - 1; i >= 0; --i)
      if (dropped.contains(outs->Get(i).name()))
        outs->DeleteSubrange(i, 1);
    if (outs->empty())
      return rt::invalidArgument(modelPath + ": no graph output is left for inference");
  }
  // Keep what the outputs need: nodes (a graph is topologically sorted), graph inputs (the
  // labels of a loss that is no longer an output go), initializers, value_info.
  llvm::StringSet<> live;
  for (const onnx::ValueInfoProto &out : graph.output())
    live.insert(out.name());
  std::vector<bool> keep(graph.node_size(), false);
  for (int n = graph.node_size() - 1; n >= 0; --n) {
    const onnx::NodeProto &node = graph.node(n);
    for (const std::string &out : node.output())
      if (!out.empty() && live.contains(out))
        keep[n] = true;
    if (!keep[n])
      continue;
    for (const std::string &in : node.input())
      live.insert(in);
    for (const onnx::AttributeProto &attr : node.attribute()) {
      if (attr.has_g())
        subgraphReads(attr.g(), live);
      for (const onnx::GraphProto &g : attr.graphs())
        subgraphReads(g, live);
    }
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (int n = 0; n < graph.node_size(); ++n)
    if (keep[n])
      *nodes.Add() = graph.node(n);
  graph.mutable_node()->Swap(&nodes);
  auto prune = [&](auto *list) {
    for (int i = list->size() - 1; i >= 0; --i)
      if (!live.contains(list->Get(i).name()))
        list->DeleteSubrange(i, 1);
  };
  prune(graph.mutable_input());
  prune(graph.mutable_initializer());
  prune(graph.mutable_value_info());
  return Status::ok();
}

Status exportOnnx(const std::string &modelPath, const std::vector<rt::NamedTensor> &checkpoint,
                  const std::string &output, int *replaced, const InferenceExport *inference) {
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
  if (inference)
    PRECIS_RETURN_IF_ERROR(makeInference(model, inference->outputs, modelPath));
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
