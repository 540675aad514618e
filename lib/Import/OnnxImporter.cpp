//===- OnnxImporter.cpp - ONNX import: validate, build, clean up ----------===//
//
// The importer's pipeline: load the model (ModelLoader.cpp), validate it completely before
// emitting anything (this file), build @forward node by node (GraphImporter.cpp and the
// DefaultDomain*.cpp and PreviewTrainingDomain.cpp handlers), verify it, then run GELU
// recognition, canonicalisation and CSE.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/IR/Verifier.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"

#include "onnx/checker.h"
#include "onnx/defs/schema.h"
#include "onnx/shape_inference/implementation.h"

using namespace mlir;

namespace precis::onnx_import {

/// libonnx 1.12 knows opsets up to 17: its checker and shape inference run only there (precis
/// imports kOldestOpset to kMaxOpset, see Importer.h).
static constexpr int64_t kMaxCheckedOpset = 17;

static bool isDefaultDomain(StringRef domain) { return lookupDomain(domain) == Domain::Default; }

/// "7 to 10 and 13 to 21": the opsets `handlers` cover, adjacent ranges merged.
static std::string describeOpsets(ArrayRef<OpHandler> handlers) {
  SmallVector<std::pair<int64_t, int64_t>> ranges;
  for (const OpHandler &h : handlers)
    ranges.emplace_back(h.minOpset, h.maxOpset);
  llvm::sort(ranges);
  SmallVector<std::pair<int64_t, int64_t>> merged;
  for (auto [lo, hi] : ranges) {
    if (!merged.empty() && lo <= merged.back().second + 1)
      merged.back().second = std::max(merged.back().second, hi);
    else
      merged.emplace_back(lo, hi);
  }
  std::string text;
  for (auto [i, range] : llvm::enumerate(merged)) {
    if (i)
      text += i + 1 == merged.size() ? " and " : ", ";
    text += range.first == range.second
                ? std::to_string(range.first)
                : llvm::formatv("{0} to {1}", range.first, range.second).str();
  }
  return text;
}

//===----------------------------------------------------------------------===//
// Validation.
//===----------------------------------------------------------------------===//

namespace {

/// Collects every reason a model cannot be imported, then reports them in one diagnostic.
class ModelValidator {
public:
  ModelValidator(onnx::ModelProto &model, Location fileLoc)
      : model(model), graph(*model.mutable_graph()), fileLoc(fileLoc) {}

  LogicalResult run(DomainOpsets &result);

private:
  LogicalResult checkOpsets();
  void checkNode(const onnx::NodeProto &node, int index);
  void checkTensorType(const onnx::TypeProto &type, const std::string &what);
  void checkGraphValues();
  LogicalResult runOnnxChecker();
  void checkInferredTypes();
  LogicalResult report();

  std::string describe(const onnx::NodeProto &node, int index) const;
  std::optional<int64_t> opsetOf(StringRef domain) const;

  onnx::ModelProto &model;
  onnx::GraphProto &graph;
  Location fileLoc;
  DomainOpsets opsets;
  std::vector<std::string> problems;
};

} // namespace

std::optional<int64_t> ModelValidator::opsetOf(StringRef domain) const {
  for (const onnx::OperatorSetIdProto &entry : model.opset_import())
    if (entry.domain() == domain || (isDefaultDomain(domain) && isDefaultDomain(entry.domain())))
      return entry.version();
  return std::nullopt;
}

/// "node 'name' (op 'Foo', domain 'ai.onnx', opset 17)"; unnamed nodes get the name their ops'
/// locations carry, "<OpType>_<index>".
std::string ModelValidator::describe(const onnx::NodeProto &node, int index) const {
  std::string name =
      node.name().empty() ? llvm::formatv("{0}_{1}", node.op_type(), index).str() : node.name();
  std::string domain = node.domain().empty() ? "ai.onnx" : node.domain();
  std::optional<int64_t> opset = opsetOf(node.domain());
  return llvm::formatv("node '{0}' (op '{1}', domain '{2}', {3})", name, node.op_type(), domain,
                       opset ? "opset " + std::to_string(*opset) : "domain not imported")
      .str();
}

/// The default domain is needed only by models with nodes in it: the ONNX training ops
/// (ai.onnx.preview.training) can make up a model alone, as the optimizer node tests do.
LogicalResult ModelValidator::checkOpsets() {
  std::optional<int64_t> opset = opsetOf("");
  if (!opset) {
    if (llvm::any_of(graph.node(),
                     [](const onnx::NodeProto &node) { return isDefaultDomain(node.domain()); }))
      return emitError(fileLoc) << "the model imports no opset of the default ONNX domain";
  } else if (*opset < kOldestOpset || *opset > kMaxOpset) {
    return emitError(fileLoc) << "default-domain opset " << *opset
                              << " is not supported: precis imports opsets " << kOldestOpset
                              << " to " << kMaxOpset;
  } else {
    opsets.set(Domain::Default, *opset);
  }
  StringRef training = getDomainName(Domain::PreviewTraining);
  if (std::optional<int64_t> version = opsetOf(training)) {
    if (*version < kMinTrainingOpset || *version > kMaxTrainingOpset)
      return emitError(fileLoc) << training << " opset " << *version
                                << " is not supported: precis imports version "
                                << kMaxTrainingOpset;
    opsets.set(Domain::PreviewTraining, *version);
  }
  return success();
}

void ModelValidator::checkNode(const onnx::NodeProto &node, int index) {
  auto problem = [&](const Twine &what) {
    problems.push_back(describe(node, index) + ": " + what.str());
  };
  std::optional<Domain> domain = lookupDomain(node.domain());
  if (!domain) {
    problem("unknown domain; precis imports only the default ONNX domain and " +
            getDomainName(Domain::PreviewTraining));
    return;
  }
  int64_t opset = opsets.get(*domain);
  if (!opset) {
    problem("the model imports no opset of this domain");
    return;
  }
  const HandlerRegistry &registry = HandlerRegistry::get();
  ArrayRef<OpHandler> handlers = registry.handlersFor(*domain, node.op_type());
  if (handlers.empty()) {
    problem("unknown op: precis has no importer for '" + node.op_type() + "'");
    return;
  }
  const OpHandler *handler = registry.lookup(*domain, node.op_type(), opset);
  if (!handler) {
    problem("'" + node.op_type() + "' is supported only at opsets " + describeOpsets(handlers));
    return;
  }
  SmallVector<std::string> attrProblems;
  for (const onnx::AttributeProto &attr : node.attribute()) {
    if (attr.has_t() && !isSupportedElementType(attr.t().data_type()))
      attrProblems.push_back("attribute '" + attr.name() + "' holds a tensor of unsupported " +
                             "element type " + onnxTypeName(attr.t().data_type()));
    if (attr.has_g() || attr.graphs_size() || attr.has_sparse_tensor() ||
        attr.sparse_tensors_size())
      attrProblems.push_back("attribute '" + attr.name() +
                             "' is a graph or sparse tensor, which precis does not support");
  }
  if (handler->check)
    handler->check(node, opset, attrProblems);
  for (const std::string &p : attrProblems)
    problem(p);
}

void ModelValidator::checkTensorType(const onnx::TypeProto &type, const std::string &what) {
  if (!type.has_tensor_type()) {
    problems.push_back(what + " is not a tensor; precis supports only tensors");
    return;
  }
  int32_t elt = type.tensor_type().elem_type();
  if (!isSupportedElementType(elt))
    problems.push_back(what + " has unsupported element type " + onnxTypeName(elt));
}

void ModelValidator::checkGraphValues() {
  for (const onnx::ValueInfoProto &input : graph.input())
    checkTensorType(input.type(), "graph input '" + input.name() + "'");
  for (const onnx::ValueInfoProto &output : graph.output())
    checkTensorType(output.type(), "graph output '" + output.name() + "'");
  for (const onnx::TensorProto &init : graph.initializer())
    if (!isSupportedElementType(init.data_type()))
      problems.push_back("initializer '" + init.name() + "' has unsupported element type " +
                         onnxTypeName(init.data_type()));
}

/// The ONNX checker and strict shape inference, at opsets libonnx 1.12 knows. Exporters
/// often write a newer IR version than libonnx's (8) even at old opsets; such models are
/// checked as IR version 8.
LogicalResult ModelValidator::runOnnxChecker() {
  if (opsets.get(Domain::Default) > kMaxCheckedOpset)
    return success();
  int64_t irVersion = model.ir_version();
  model.set_ir_version(std::min<int64_t>(irVersion, onnx::Version::IR_VERSION));
  auto restore = llvm::make_scope_exit([&] { model.set_ir_version(irVersion); });
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception &e) {
    return emitError(fileLoc) << "the ONNX checker rejects the model: "
                              << StringRef(e.what()).trim();
  } catch (...) {
    return emitError(fileLoc) << "the ONNX checker rejects the model";
  }
  try {
    onnx::ShapeInferenceOptions options(/*check_type=*/true, /*strict_mode=*/1);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception &e) {
    return emitError(fileLoc) << "ONNX shape inference fails: " << StringRef(e.what()).trim();
  } catch (...) {
    return emitError(fileLoc) << "ONNX shape inference fails";
  }
  return success();
}

/// Element types of intermediate values, known once shape inference has filled value_info.
void ModelValidator::checkInferredTypes() {
  llvm::StringMap<int> producer;
  for (auto [index, node] : llvm::enumerate(graph.node()))
    for (const std::string &output : node.output())
      producer[output] = index;
  for (const onnx::ValueInfoProto &info : graph.value_info()) {
    if (!info.type().has_tensor_type())
      continue;
    int32_t elt = info.type().tensor_type().elem_type();
    if (elt == onnx::TensorProto::UNDEFINED || isSupportedElementType(elt))
      continue;
    auto it = producer.find(info.name());
    std::string what = it == producer.end() ? "value '" + info.name() + "'"
                                            : describe(graph.node(it->second), it->second) +
                                                  ": output '" + info.name() + "'";
    problems.push_back(what + " has unsupported element type " + onnxTypeName(elt));
  }
}

LogicalResult ModelValidator::report() {
  if (problems.empty())
    return success();
  InFlightDiagnostic diag = emitError(fileLoc)
                            << "precis cannot import this model (" << problems.size()
                            << (problems.size() == 1 ? " problem):" : " problems):");
  for (const std::string &p : problems)
    diag.attachNote(fileLoc) << p;
  return diag;
}

LogicalResult ModelValidator::run(DomainOpsets &result) {
  if (failed(checkOpsets()))
    return failure();
  for (auto [index, node] : llvm::enumerate(graph.node()))
    checkNode(node, index);
  checkGraphValues();
  if (failed(report()) || failed(runOnnxChecker()))
    return failure();
  checkInferredTypes();
  if (failed(report()))
    return failure();
  result = opsets;
  return success();
}

LogicalResult validateModel(onnx::ModelProto &model, Location fileLoc, DomainOpsets &opsets) {
  return ModelValidator(model, fileLoc).run(opsets);
}

//===----------------------------------------------------------------------===//
// Entry point.
//===----------------------------------------------------------------------===//

} // namespace precis::onnx_import

namespace precis {

using namespace onnx_import;

OwningOpRef<ModuleOp> importOnnxFile(MLIRContext &context, StringRef path,
                                     const ImportOptions &options, ImportFailure *failure) {
  context.loadDialect<mlir::precis::PrecisDialect, func::FuncDialect>();
  Location fileLoc = FileLineColLoc::get(&context, path, 0, 0);
  ImportFailure ignored;
  ImportFailure &stage = failure ? *failure : ignored;
  stage = ImportFailure::Load;
  try {
    onnx::ModelProto model;
    DomainOpsets opsets;
    if (failed(loadModel(path, model, fileLoc)))
      return nullptr;
    stage = ImportFailure::Unsupported;
    if (failed(validateModel(model, fileLoc, opsets)))
      return nullptr;
    stage = ImportFailure::Build;
    bool unsupported = false;
    OwningOpRef<ModuleOp> module = importGraph(context, model, opsets, path, options, unsupported);
    if (!module) {
      if (unsupported)
        stage = ImportFailure::Unsupported;
      return nullptr;
    }
    if (failed(verify(*module))) {
      emitError(fileLoc) << "the imported IR does not verify (an importer bug)";
      return nullptr;
    }
    stage = ImportFailure::None;
    return module;
  } catch (const std::exception &e) {
    emitError(fileLoc) << "import failed: " << e.what();
  } catch (...) {
    emitError(fileLoc) << "import failed with an unknown exception";
  }
  return nullptr;
}

} // namespace precis
