//===- GraphImporter.cpp - build @forward from a validated ONNX graph -----===//
//
// Walks the nodes of a validated ONNX graph in order and calls each node's handler. Values
// are tracked by ONNX name as `Binding`s: an SSA value, a value known at import time (folded
// on the host and never emitted unless an emitted op needs it), or a float initializer that
// becomes a `precis.parameter` on first use. Constants and parameters are materialised at the
// top of the function; parameters end up in initializer order. Parameters and large constants
// keep their data in `dense_resource` blobs (storeElements). An ONNX sequence is resolved at
// import: a list of element bindings that only the sequence ops read.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "precis/Transforms/AttrNames.h"
#include "precis/schema/Names.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::precis;

namespace precis::onnx_import {

//===----------------------------------------------------------------------===//
// Handler registry.
//===----------------------------------------------------------------------===//

const HandlerRegistry &HandlerRegistry::get() {
  static const HandlerRegistry registry = [] {
    HandlerRegistry r;
    populateElementwiseHandlers(r);
    populateShapeHandlers(r);
    populateNeuralNetHandlers(r);
    populateTransformerHandlers(r);
    populateTrainingHandlers(r);
    return r;
  }();
  return registry;
}

void HandlerRegistry::add(Domain domain, StringRef opType, int64_t minOpset, int64_t maxOpset,
                          ImportFn import, CheckFn check) {
  handlers[static_cast<unsigned>(domain)][opType].push_back({minOpset, maxOpset, import, check});
}

const OpHandler *HandlerRegistry::lookup(Domain domain, StringRef opType, int64_t opset) const {
  for (const OpHandler &h : handlersFor(domain, opType))
    if (opset >= h.minOpset && opset <= h.maxOpset)
      return &h;
  return nullptr;
}

ArrayRef<OpHandler> HandlerRegistry::handlersFor(Domain domain, StringRef opType) const {
  const auto &ops = handlers[static_cast<unsigned>(domain)];
  auto it = ops.find(opType);
  if (it == ops.end())
    return {};
  return it->second;
}

std::optional<Domain> lookupDomain(StringRef name) {
  if (name.empty() || name == "ai.onnx")
    return Domain::Default;
  if (name == "ai.onnx.preview.training")
    return Domain::PreviewTraining;
  return std::nullopt;
}

StringRef getDomainName(Domain domain) {
  switch (domain) {
  case Domain::Default:
    return "ai.onnx";
  case Domain::PreviewTraining:
    return "ai.onnx.preview.training";
  }
  llvm_unreachable("unknown domain");
}

const onnx::AttributeProto *findAttribute(const onnx::NodeProto &node, StringRef name) {
  for (const onnx::AttributeProto &attr : node.attribute())
    if (attr.name() == name)
      return &attr;
  return nullptr;
}

std::string getStringAttribute(const onnx::NodeProto &node, StringRef name, StringRef dflt) {
  const onnx::AttributeProto *attr = findAttribute(node, name);
  return attr ? attr->s() : dflt.str();
}

//===----------------------------------------------------------------------===//
// GraphImporter.
//===----------------------------------------------------------------------===//

RankedTensorType Binding::getType() const {
  if (value)
    return cast<RankedTensorType>(value.getType());
  if (constant)
    return constant->getType();
  return cast<RankedTensorType>(parameter.getType());
}

class GraphImporter {
public:
  GraphImporter(MLIRContext &context, const onnx::ModelProto &model, const DomainOpsets &opsets,
                StringRef path, const ImportOptions &options)
      : context(context), model(model), graph(model.graph()),
        producerName(model.producer_name()), opsets(opsets), options(options),
        fileLoc(FileLineColLoc::get(&context, path, 0, 0)), builder(&context) {}

  OwningOpRef<ModuleOp> run();
  /// Records what the exporter says about the initializers on `module` (kInitializers) and
  /// warns about the parameters it merged or lost.
  void recordExporterInfo(ModuleOp module);

  /// Marks the import as failing on something precis does not support.
  void markUnsupported() { unsupported = true; }
  bool isUnsupported() const { return unsupported; }

  Binding *lookup(StringRef name) {
    auto it = bindings.find(name);
    return it == bindings.end() ? nullptr : &it->second;
  }
  void bind(StringRef name, Binding binding) { bindings.insert_or_assign(name, binding); }
  bool isUsed(StringRef name) const { return usedNames.contains(name); }
  OpBuilder &getBuilder() { return builder; }
  StringRef getProducerName() const { return producerName; }
  const ImportOptions &getOptions() const { return options; }

  /// The SSA value of `binding`, materialising a constant or parameter on first use.
  Value materialize(Binding &binding);
  /// A `precis.constant` at the top of the function.
  Value createConstant(const HostTensor &value, Location loc);
  /// `value`, or a constant when the op that defines it was built at the current node and
  /// folds (the op's own folder evaluates it): the node's ops on import-time constants fold
  /// as they are built, recursively through the node's other ops.
  Value fold(Value value);
  /// The import-time value of `value`, or null: a constant, or a non-float initializer
  /// (materialised as a named `precis.parameter`) when every input of the node is known at
  /// import time. An initializer the node computes on with run-time values stays a named
  /// run-time input (a training op's update count `T`, say).
  Attribute constantValue(Value value) const;

private:
  Location nodeLoc(const onnx::NodeProto &node, int index);
  LogicalResult bindInputs(SmallVectorImpl<Type> &argTypes, SmallVectorImpl<std::string> &argNames);
  LogicalResult bindInitializers();
  LogicalResult bindInputValue(const onnx::ValueInfoProto &input,
                               const ::precis::rt::Tensor &value);

public:
  void noteNeededInputs(StringRef value);

private:
  LogicalResult importNode(const onnx::NodeProto &node, int index);
  /// Erases what folding at the node left dead (folded ops, and constants materialised only
  /// for them), so that a constant is materialised where it is first used, or never.
  void eraseFoldedOps(const onnx::NodeProto &node);
  bool isNodeOp(Operation *op) const;
  LogicalResult buildReturn(func::FuncOp func);
  void orderParameters();
  /// A builder inserting after the last materialised constant or parameter.
  OpBuilder &topBuilder();

  MLIRContext &context;
  const onnx::ModelProto &model;
  const onnx::GraphProto &graph;
  std::string producerName;
  DomainOpsets opsets;
  const ImportOptions &options;
  Location fileLoc;
  OpBuilder builder;
  OpBuilder constantBuilder{&context};
  Block *entry = nullptr;
  Operation *lastConstant = nullptr;
  llvm::StringMap<Binding> bindings;
  llvm::StringMap<Value> parameters;
  /// Large constants by content, so that equal ones share one blob (and CSE still merges
  /// them, as it merges equal inline constants).
  llvm::DenseMap<Attribute, ElementsAttr> storedConstants;
  llvm::StringSet<> usedNames;
  bool unsupported = false;
  /// Folding at the node being imported: the last op before its first one, the ops that
  /// folded, the constants materialised and the bindings that took one of them as value.
  bool inNode = false;
  bool nodeInputsConstant = false;
  Operation *nodeStart = nullptr;
  llvm::SetVector<Operation *> foldedOps;
  SmallVector<Operation *> nodeConstants;
  SmallVector<Binding *> nodeMaterialized;
};

Location GraphImporter::nodeLoc(const onnx::NodeProto &node, int index) {
  std::string name =
      node.name().empty() ? llvm::formatv("{0}_{1}", node.op_type(), index).str() : node.name();
  return NameLoc::get(StringAttr::get(&context, name), fileLoc);
}

OpBuilder &GraphImporter::topBuilder() {
  if (lastConstant)
    constantBuilder.setInsertionPointAfter(lastConstant);
  else
    constantBuilder.setInsertionPointToStart(entry);
  return constantBuilder;
}

Value GraphImporter::createConstant(const HostTensor &value, Location loc) {
  DenseElementsAttr dense = value.toAttr();
  ElementsAttr &stored = storedConstants[dense];
  if (!stored)
    stored = storeElements(dense, "constant");
  auto op = topBuilder().create<ConstantOp>(loc, stored);
  lastConstant = op;
  if (inNode)
    nodeConstants.push_back(op);
  return op;
}

bool GraphImporter::isNodeOp(Operation *op) const {
  return inNode && op->getBlock() == entry && (!nodeStart || nodeStart->isBeforeInBlock(op));
}

Attribute GraphImporter::constantValue(Value value) const {
  if (auto param = value.getDefiningOp<ParameterOp>())
    return nodeInputsConstant && !isa<FloatType>(param.getType().getElementType())
               ? param.getValue()
               : Attribute();
  Attribute attr;
  return matchPattern(value, m_Constant(&attr)) ? attr : Attribute();
}

Value GraphImporter::fold(Value value) {
  Operation *op = value.getDefiningOp();
  if (!op || isa<ConstantOp, ParameterOp>(op) || op->getNumRegions() || !isNodeOp(op))
    return value;
  SmallVector<Attribute> operands;
  for (OpOperand &use : op->getOpOperands()) {
    Value operand = fold(use.get());
    if (operand != use.get())
      use.set(operand);
    Attribute attr = constantValue(operand);
    if (!attr)
      return value;
    operands.push_back(attr);
  }
  SmallVector<OpFoldResult> results;
  if (failed(op->fold(operands, results)) || results.empty())
    return value;
  OpFoldResult result = results[cast<OpResult>(value).getResultNumber()];
  if (auto folded = dyn_cast<Value>(result))
    return folded;
  std::optional<HostTensor> constant = HostTensor::fromConstant(cast<Attribute>(result));
  if (!constant)
    return value;
  foldedOps.insert(op);
  return createConstant(*constant, op->getLoc());
}

void GraphImporter::eraseFoldedOps(const onnx::NodeProto &node) {
  llvm::SmallPtrSet<Operation *, 8> dead;
  for (Operation *op : llvm::reverse(foldedOps)) {
    if (!op->use_empty())
      continue;
    // Dropping the operands first lets the ops (and constants) feeding this one die too.
    op->dropAllReferences();
    dead.insert(op);
  }
  for (Operation *op : llvm::reverse(nodeConstants))
    if (op->use_empty())
      dead.insert(op);
  auto reset = [&](Binding *binding) {
    if (binding && binding->value && dead.contains(binding->value.getDefiningOp()))
      binding->value = nullptr;
  };
  for (Binding *binding : nodeMaterialized)
    reset(binding);
  for (const std::string &output : node.output()) {
    Binding *binding = output.empty() ? nullptr : lookup(output);
    reset(binding);
    if (binding && binding->sequence)
      for (Binding &element : *binding->sequence)
        reset(&element);
  }
  for (Operation *op : llvm::reverse(nodeConstants)) {
    if (!dead.contains(op))
      continue;
    if (op == lastConstant)
      lastConstant = op->getPrevNode();
    if (auto param = dyn_cast<ParameterOp>(op))
      parameters.erase(param.getName());
    op->erase();
  }
  for (Operation *op : llvm::reverse(foldedOps))
    if (dead.contains(op))
      op->erase();
  foldedOps.clear();
  nodeConstants.clear();
  nodeMaterialized.clear();
}

Value GraphImporter::materialize(Binding &binding) {
  if (binding.value)
    return binding.value;
  if (!binding.parameterName.empty()) {
    Value &param = parameters[binding.parameterName];
    if (!param) {
      ElementsAttr value = binding.parameter
                               ? binding.parameter
                               : storeElements(binding.constant->toAttr(), binding.parameterName);
      auto op = topBuilder().create<ParameterOp>(binding.loc, value.getType(),
                                                 binding.parameterName, value);
      lastConstant = op;
      param = op;
      if (inNode)
        nodeConstants.push_back(op);
    }
    binding.value = param;
    if (inNode)
      nodeMaterialized.push_back(&binding);
  } else {
    binding.value = createConstant(*binding.constant, binding.loc);
    if (inNode)
      nodeMaterialized.push_back(&binding);
  }
  return binding.value;
}

/// Graph inputs that are not initializers become function arguments. precis IR is statically
/// shaped: the batch option binds a symbolic leading dimension, any other one is an error.
LogicalResult GraphImporter::bindInputs(SmallVectorImpl<Type> &argTypes,
                                        SmallVectorImpl<std::string> &argNames) {
  llvm::StringSet<> initializers;
  for (const onnx::TensorProto &init : graph.initializer())
    initializers.insert(init.name());
  bool ok = true;
  llvm::StringSet<> inputs;
  for (const onnx::ValueInfoProto &input : graph.input()) {
    if (initializers.contains(input.name()))
      continue;
    inputs.insert(input.name());
    if (auto bound = options.bind.find(input.name()); bound != options.bind.end()) {
      ok &= succeeded(bindInputValue(input, bound->second));
      continue;
    }
    const onnx::TypeProto_Tensor &tensor = input.type().tensor_type();
    Type elt = convertElementType(tensor.elem_type(), &context);
    if (!tensor.has_shape()) {
      emitError(fileLoc) << "graph input '" << input.name()
                         << "' has no shape; precis needs static shapes";
      ok = false;
      continue;
    }
    SmallVector<int64_t> shape;
    for (auto [d, dim] : llvm::enumerate(tensor.shape().dim())) {
      if (dim.has_dim_value() && dim.dim_value() >= 0) {
        shape.push_back(dim.dim_value());
        continue;
      }
      std::string what = dim.has_dim_param() ? "symbolic dimension '" + dim.dim_param() + "'"
                                             : std::string("unknown dimension");
      if (d == 0 && options.batchSize) {
        shape.push_back(*options.batchSize);
        continue;
      }
      InFlightDiagnostic diag = emitError(fileLoc)
                                << "graph input '" << input.name() << "' has a " << what
                                << " at index " << d << "; precis needs static shapes";
      if (d == 0)
        diag << " (bind the batch dimension with --batch N)";
      else
        diag << " (only the leading dimension can be bound, with --batch N)";
      ok = false;
    }
    if (!ok)
      continue;
    argTypes.push_back(RankedTensorType::get(shape, elt));
    argNames.push_back(input.name());
  }
  for (const auto &[name, value] : options.bind)
    if (!inputs.contains(name)) {
      std::string names;
      for (const onnx::ValueInfoProto &input : graph.input())
        if (!initializers.contains(input.name()))
          names += (names.empty() ? "'" : ", '") + input.name() + "'";
      emitError(fileLoc) << "cannot bind '" << name
                         << "': the model has no graph input of that name"
                         << (names.empty() ? std::string(" (it has none)")
                                           : " (its inputs: " + names + ")");
      ok = false;
    }
  return success(ok);
}

/// The ONNX element type of a runtime dtype (0 for none).
static int32_t onnxElementType(::precis::rt::DType t) {
  using ::precis::rt::DType;
  switch (t) {
  case DType::F32:
    return onnx::TensorProto::FLOAT;
  case DType::F64:
    return onnx::TensorProto::DOUBLE;
  case DType::F16:
    return onnx::TensorProto::FLOAT16;
  case DType::BF16:
    return onnx::TensorProto::BFLOAT16;
  case DType::I64:
    return onnx::TensorProto::INT64;
  case DType::I32:
    return onnx::TensorProto::INT32;
  case DType::I8:
    return onnx::TensorProto::INT8;
  case DType::U8:
    return onnx::TensorProto::UINT8;
  case DType::Bool:
    return onnx::TensorProto::BOOL;
  default:
    return 0;
  }
}

/// Graph input `input` bound to `value` (ImportOptions::bind): a constant, exactly as a
/// non-float initializer would be, after checking that the value fits the declaration.
LogicalResult GraphImporter::bindInputValue(const onnx::ValueInfoProto &input,
                                            const ::precis::rt::Tensor &value) {
  const onnx::TypeProto_Tensor &tensor = input.type().tensor_type();
  auto describe = [&] {
    std::string s = std::string(::precis::rt::dtypeName(value.dtype)) + "[";
    for (auto [i, d] : llvm::enumerate(value.shape))
      s += (i ? "," : "") + std::to_string(d);
    return s + "]";
  };
  const int32_t elementType = onnxElementType(value.dtype);
  if (elementType != tensor.elem_type())
    return emitError(fileLoc) << "cannot bind graph input '" << input.name() << "' ("
                              << onnxTypeName(tensor.elem_type()) << ") to a " << describe()
                              << " value: the element types differ";
  if (tensor.has_shape()) {
    bool fits = tensor.shape().dim_size() == static_cast<int>(value.shape.size());
    for (int d = 0; fits && d < tensor.shape().dim_size(); ++d)
      fits = !tensor.shape().dim(d).has_dim_value() ||
             tensor.shape().dim(d).dim_value() == value.shape[d];
    if (!fits)
      return emitError(fileLoc) << "cannot bind graph input '" << input.name() << "' to a "
                                << describe() << " value: its declared shape differs";
  }
  onnx::TensorProto proto;
  proto.set_name(input.name());
  proto.set_data_type(elementType);
  for (int64_t d : value.shape)
    proto.add_dims(d);
  proto.set_raw_data(value.data.data(), value.data.size());
  Location loc = NameLoc::get(StringAttr::get(&context, input.name()), fileLoc);
  FailureOr<DenseElementsAttr> decoded = decodeTensor(proto, loc);
  if (failed(decoded))
    return failure();
  Binding binding(loc);
  binding.constant = std::make_shared<HostTensor>(HostTensor::fromAttr(*decoded));
  bind(input.name(), binding);
  return success();
}

/// Records in ImportOptions::neededInputs the graph inputs `value` is computed from.
void GraphImporter::noteNeededInputs(StringRef value) {
  if (!options.neededInputs)
    return;
  llvm::StringMap<const onnx::NodeProto *> producers;
  for (const onnx::NodeProto &node : graph.node())
    for (const std::string &out : node.output())
      producers[out] = &node;
  llvm::StringSet<> initializers, seen;
  for (const onnx::TensorProto &init : graph.initializer())
    initializers.insert(init.name());
  SmallVector<std::string> work{value.str()};
  while (!work.empty()) {
    std::string name = work.pop_back_val();
    if (name.empty() || !seen.insert(name).second)
      continue;
    if (auto it = producers.find(name); it != producers.end()) {
      for (const std::string &in : it->second->input())
        work.push_back(in);
      continue;
    }
    if (!initializers.contains(name))
      options.neededInputs->insert(name);
  }
}

/// Float initializers stay parameters (the autodiff pass decides what trains); the others
/// are constants that take part in folding and keep their name if they are emitted.
LogicalResult GraphImporter::bindInitializers() {
  for (const onnx::TensorProto &init : graph.initializer()) {
    Location loc = NameLoc::get(StringAttr::get(&context, init.name()), fileLoc);
    Binding binding(loc);
    binding.parameterName = init.name();
    if (isa_and_nonnull<FloatType>(convertElementType(init.data_type(), &context))) {
      FailureOr<ElementsAttr> value = decodeParameter(init, loc);
      if (failed(value))
        return failure();
      binding.parameter = *value;
    } else {
      FailureOr<DenseElementsAttr> value = decodeTensor(init, loc);
      if (failed(value))
        return failure();
      binding.constant = std::make_shared<HostTensor>(HostTensor::fromAttr(*value));
    }
    bind(init.name(), binding);
  }
  return success();
}

/// The default-domain ops whose input 0 may be a sequence resolved at import.
constexpr StringLiteral kSequenceConsumers[] = {"SequenceAt", "SequenceLength",
                                                "ConcatFromSequence", "Identity"};

LogicalResult GraphImporter::importNode(const onnx::NodeProto &node, int index) {
  Location loc = nodeLoc(node, index);
  for (const std::string &input : node.input())
    if (!input.empty() && !lookup(input))
      return emitError(loc) << node.op_type() << ": input '" << input
                            << "' is not a graph input, an initializer or the output of an "
                               "earlier node";
  // Sequences exist only at import: they flow into the ops that resolve them, and only there.
  for (auto [i, input] : llvm::enumerate(node.input())) {
    if (input.empty())
      continue;
    const bool takesSequence = i == 0 && lookupDomain(node.domain()) == Domain::Default &&
                               llvm::is_contained(kSequenceConsumers, node.op_type());
    const bool isSequence = lookup(input)->sequence != nullptr;
    if (isSequence && !takesSequence)
      return markUnsupported(),
             emitError(loc) << node.op_type() << ": input '" << input
                            << "' is a sequence; precis resolves sequences at import and takes "
                               "them only into SequenceAt, SequenceLength, ConcatFromSequence "
                               "and Identity";
    if (!isSequence && takesSequence && node.op_type() != "Identity")
      return markUnsupported(), emitError(loc) << node.op_type() << ": input '" << input
                                               << "' is not a sequence precis could resolve at "
                                                  "import (SplitToSequence, SequenceConstruct)";
  }
  // Validation checked every node's domain and op against the registry.
  Domain domain = *lookupDomain(node.domain());
  int64_t opset = opsets.get(domain);
  const OpHandler *handler = HandlerRegistry::get().lookup(domain, node.op_type(), opset);
  NodeContext ctx(*this, node, opset, loc);
  builder.setInsertionPointToEnd(entry);
  inNode = true;
  nodeInputsConstant = ctx.allInputsConstant();
  nodeStart = entry->empty() ? nullptr : &entry->back();
  LogicalResult imported = handler->import(ctx);
  eraseFoldedOps(node);
  inNode = false;
  if (failed(imported))
    return failure();
  for (auto [i, output] : llvm::enumerate(node.output()))
    if (!output.empty() && isUsed(output) && !lookup(output))
      return markUnsupported(), emitError(loc) << node.op_type() << ": output " << i << " ('"
                                               << output << "') is not supported by the importer";
  return success();
}

LogicalResult GraphImporter::buildReturn(func::FuncOp func) {
  SmallVector<Value> results;
  for (const onnx::ValueInfoProto &output : graph.output()) {
    Binding *binding = lookup(output.name());
    if (!binding)
      return emitError(fileLoc) << "graph output '" << output.name() << "' is never computed";
    Value value = materialize(*binding);
    auto type = cast<RankedTensorType>(value.getType());
    const onnx::TypeProto_Tensor &declared = output.type().tensor_type();
    Type declaredElt = convertElementType(declared.elem_type(), &context);
    bool mismatch = declaredElt && declaredElt != type.getElementType();
    if (declared.has_shape()) {
      mismatch |= declared.shape().dim_size() != type.getRank();
      for (auto [d, dim] : llvm::enumerate(declared.shape().dim()))
        if (dim.has_dim_value() && d < static_cast<size_t>(type.getRank()) &&
            dim.dim_value() != type.getDimSize(d))
          mismatch = true;
    }
    if (mismatch)
      return emitError(fileLoc) << "graph output '" << output.name() << "' computes " << type
                                << ", which differs from its declared type";
    results.push_back(value);
  }
  builder.setInsertionPointToEnd(entry);
  builder.create<func::ReturnOp>(fileLoc, results);
  func.setFunctionType(
      builder.getFunctionType(entry->getArgumentTypes(), ValueRange(results).getTypes()));
  for (auto [i, output] : llvm::enumerate(graph.output()))
    func.setResultAttr(i, "precis.onnx_name", builder.getStringAttr(output.name()));
  return success();
}

/// Moves the parameters to the top in initializer order, so that the IR does not depend on
/// the order in which handlers first used them.
void GraphImporter::orderParameters() {
  llvm::StringMap<size_t> position;
  for (auto [i, init] : llvm::enumerate(graph.initializer()))
    position[init.name()] = i;
  SmallVector<ParameterOp> params(entry->getOps<ParameterOp>());
  llvm::stable_sort(params, [&](ParameterOp a, ParameterOp b) {
    return position.lookup(a.getName()) < position.lookup(b.getName());
  });
  Operation *previous = nullptr;
  for (ParameterOp param : params) {
    if (previous)
      param->moveAfter(previous);
    else
      param->moveBefore(entry, entry->begin());
    previous = param;
  }
}

OwningOpRef<ModuleOp> GraphImporter::run() {
  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  for (const onnx::NodeProto &node : graph.node()) {
    for (const std::string &input : node.input())
      usedNames.insert(input);
    // Gradient names the values it differentiates in attributes.
    if (lookupDomain(node.domain()) == Domain::PreviewTraining && node.op_type() == "Gradient")
      for (const onnx::AttributeProto &attr : node.attribute()) {
        if (!attr.s().empty())
          usedNames.insert(attr.s());
        for (const std::string &name : attr.strings())
          usedNames.insert(name);
      }
  }
  for (const onnx::ValueInfoProto &output : graph.output())
    usedNames.insert(output.name());

  SmallVector<Type> argTypes;
  SmallVector<std::string> argNames;
  if (failed(bindInputs(argTypes, argNames)))
    return nullptr;
  builder.setInsertionPointToEnd(module->getBody());
  auto func =
      builder.create<func::FuncOp>(fileLoc, names::kForward, builder.getFunctionType(argTypes, {}));
  entry = func.addEntryBlock();
  for (auto [i, name] : llvm::enumerate(argNames)) {
    func.setArgAttr(i, "precis.onnx_name", builder.getStringAttr(name));
    Binding binding(NameLoc::get(StringAttr::get(&context, name), fileLoc));
    binding.value = entry->getArgument(i);
    bind(name, binding);
  }
  if (failed(bindInitializers()))
    return nullptr;
  for (auto [index, node] : llvm::enumerate(graph.node()))
    if (failed(importNode(node, index)))
      return nullptr;
  if (failed(buildReturn(func)))
    return nullptr;
  orderParameters();
  recordExporterInfo(*module);
  return module;
}

void GraphImporter::recordExporterInfo(ModuleOp module) {
  ExporterInfo info = readExporterInfo(model);
  if (!info.present)
    return;
  Builder b(&context);
  SmallVector<Attribute> entries;
  for (const onnx::TensorProto &init : graph.initializer()) {
    SmallVector<NamedAttribute> fields{
        b.getNamedAttr("name", b.getStringAttr(init.name())),
        b.getNamedAttr("exporter", b.getStringAttr(info.kind[init.name()]))};
    auto merged = info.merged.find(init.name());
    if (merged != info.merged.end()) {
      SmallVector<StringRef> names(merged->second.begin(), merged->second.end());
      fields.push_back(b.getNamedAttr("merged", b.getStrArrayAttr(names)));
      emitWarning(fileLoc) << "initializer '" << init.name() << "' also stands for '"
                           << llvm::join(names, "', '")
                           << "': the exporter merged initializers with equal values, so they "
                              "train as one tensor where PyTorch trains them separately; "
                              "export with torch.onnx.export(..., dynamo=True, optimize=False) "
                              "to keep them apart";
    }
    entries.push_back(b.getDictionaryAttr(fields));
  }
  module->setAttr(kInitializers, b.getArrayAttr(entries));
  if (!info.unaccounted.empty()) {
    constexpr size_t kShown = 6;
    ArrayRef<std::string> shown(info.unaccounted);
    InFlightDiagnostic diag = emitWarning(fileLoc);
    diag << "the exporter's graph signature names " << info.unaccounted.size()
         << " parameters or buffers that no initializer carries ('"
         << llvm::join(shown.take_front(kShown), "', '") << "'"
         << (shown.size() > kShown ? ", ..." : "")
         << "): its optimizer merged them into equal initializers or folded them into other "
            "ops";
    if (!info.rewriteRules.empty())
      diag << " (rewrite rules " << llvm::join(info.rewriteRules, ", ") << ")";
    diag << ", and they cannot train as PyTorch trains them; export with "
            "torch.onnx.export(..., dynamo=True, optimize=False) to keep them";
  }
}

OwningOpRef<ModuleOp> importGraph(MLIRContext &context, const onnx::ModelProto &model,
                                  const DomainOpsets &opsets, StringRef path,
                                  const ImportOptions &options, bool &unsupported) {
  GraphImporter importer(context, model, opsets, path, options);
  OwningOpRef<ModuleOp> module = importer.run();
  unsupported = !module && importer.isUnsupported();
  return module;
}

//===----------------------------------------------------------------------===//
// NodeContext.
//===----------------------------------------------------------------------===//

NodeContext::NodeContext(GraphImporter &graph, const onnx::NodeProto &node, int64_t opset,
                         Location loc)
    : graph(graph), node(node), opset(opset), loc(loc), builder(graph.getBuilder()) {}

StringRef NodeContext::getProducerName() const { return graph.getProducerName(); }

Binding &NodeContext::binding(unsigned i) const { return *graph.lookup(node.input(i)); }

const ImportOptions &NodeContext::getImportOptions() const { return graph.getOptions(); }

bool NodeContext::hasInput(unsigned i) const {
  return i < static_cast<unsigned>(node.input_size()) && !node.input(i).empty();
}

RankedTensorType NodeContext::getInputType(unsigned i) const { return binding(i).getType(); }

const HostTensor *NodeContext::getConstant(unsigned i) const {
  return hasInput(i) ? binding(i).constant.get() : nullptr;
}

bool NodeContext::allInputsConstant() const {
  for (unsigned i = 0, e = getNumInputs(); i < e; ++i)
    if (hasInput(i) && !getConstant(i))
      return false;
  return true;
}

Value NodeContext::getInput(unsigned i) { return graph.materialize(binding(i)); }

Binding *NodeContext::lookupValue(StringRef name) const { return graph.lookup(name); }

Value NodeContext::getValue(Binding &binding) { return graph.materialize(binding); }

FailureOr<const HostTensor *> NodeContext::requireConstant(unsigned i, StringRef role) {
  if (!hasInput(i))
    return emitError() << "the '" << role << "' input (input " << i << ") is missing";
  if (const HostTensor *value = getConstant(i))
    return value;
  InFlightDiagnostic diag = emitUnsupported() << "the '" << role << "' input ('"
                                              << node.input(i)
                                              << "') must be known at import time, but ";
  if (binding(i).parameter)
    diag << "it is the float initializer '" << binding(i).parameterName
         << "', which precis keeps as a parameter";
  else {
    diag << "it depends on graph inputs";
    graph.noteNeededInputs(node.input(i));
  }
  return diag << "; precis IR is statically shaped";
}

FailureOr<SmallVector<int64_t>> NodeContext::requireInts(unsigned i, StringRef role) {
  FailureOr<const HostTensor *> value = requireConstant(i, role);
  if (failed(value))
    return failure();
  if ((*value)->isFloat())
    return emitError() << "the '" << role << "' input must be an integer tensor, got "
                       << (*value)->getType();
  return (*value)->toInts();
}

FailureOr<std::optional<SmallVector<int64_t>>>
NodeContext::getIntsAttrOrInput(StringRef name, unsigned i, int64_t since) {
  if (opset < since) {
    SmallVector<int64_t> values = getInts(name);
    if (values.empty())
      return std::optional<SmallVector<int64_t>>();
    return std::optional(std::move(values));
  }
  if (!hasInput(i))
    return std::optional<SmallVector<int64_t>>();
  FailureOr<SmallVector<int64_t>> values = requireInts(i, name);
  if (failed(values))
    return failure();
  return std::optional(std::move(*values));
}

LogicalResult NodeContext::requireSameElementType(ArrayRef<unsigned> inputs) {
  Type first;
  for (unsigned i : inputs) {
    if (!hasInput(i))
      continue;
    Type t = getInputElementType(i);
    if (!first) {
      first = t;
      continue;
    }
    if (t != first)
      return emitError() << "operands have different element types (" << first << " and " << t
                         << "); ONNX requires them to match";
  }
  return success();
}

static LogicalResult requireKind(NodeContext &ctx, unsigned i, bool ok, StringRef what) {
  if (ok)
    return success();
  return ctx.emitUnsupported() << "input " << i << " has element type "
                               << ctx.getInputElementType(i) << ", but precis supports " << what
                               << " here";
}

LogicalResult NodeContext::requireFloat(unsigned i) {
  return requireKind(*this, i, isa<FloatType>(getInputElementType(i)), "only float tensors");
}

LogicalResult NodeContext::requireNumeric(unsigned i) {
  Type t = getInputElementType(i);
  return requireKind(*this, i, isa<FloatType>(t) || t.isInteger(32) || t.isInteger(64),
                     "float, int32 and int64 tensors");
}

LogicalResult NodeContext::requireIndex(unsigned i) {
  Type t = getInputElementType(i);
  return requireKind(*this, i, t.isInteger(32) || t.isInteger(64), "int32 and int64 indices");
}

LogicalResult NodeContext::requireBool(unsigned i) {
  return requireKind(*this, i, getInputElementType(i).isInteger(1), "bool tensors");
}

bool NodeContext::isOutputUsed(unsigned i) const {
  return i < static_cast<unsigned>(node.output_size()) && !node.output(i).empty() &&
         graph.isUsed(node.output(i));
}

LogicalResult NodeContext::setOutput(unsigned i, Value value) {
  if (i >= static_cast<unsigned>(node.output_size()) || node.output(i).empty())
    return success();
  // An output known at import time stays a constant: later nodes fold on it, and it is
  // materialised where an emitted op first uses it.
  value = graph.fold(value);
  if (Attribute attr = graph.constantValue(value))
    if (std::optional<HostTensor> constant = HostTensor::fromConstant(attr))
      return setOutput(i, std::move(*constant));
  Binding binding(loc);
  binding.value = value;
  graph.bind(node.output(i), binding);
  return success();
}

LogicalResult NodeContext::setOutput(unsigned i, HostTensor value) {
  if (i >= static_cast<unsigned>(node.output_size()) || node.output(i).empty())
    return success();
  Binding binding(loc);
  binding.constant = std::make_shared<HostTensor>(std::move(value));
  graph.bind(node.output(i), binding);
  return success();
}

LogicalResult NodeContext::setOutput(unsigned i, FailureOr<HostTensor> value) {
  if (failed(value))
    return failure();
  return setOutput(i, std::move(*value));
}

const std::vector<Binding> *NodeContext::getSequence(unsigned i) const {
  return hasInput(i) ? binding(i).sequence.get() : nullptr;
}

LogicalResult NodeContext::setSequenceOutput(unsigned i, ArrayRef<Value> elements) {
  if (i >= static_cast<unsigned>(node.output_size()) || node.output(i).empty())
    return success();
  auto sequence = std::make_shared<std::vector<Binding>>();
  for (Value value : elements) {
    value = graph.fold(value);
    Binding element(loc);
    std::optional<HostTensor> constant;
    if (Attribute attr = graph.constantValue(value))
      constant = HostTensor::fromConstant(attr);
    if (constant)
      element.constant = std::make_shared<HostTensor>(std::move(*constant));
    else
      element.value = value;
    sequence->push_back(std::move(element));
  }
  Binding binding(loc);
  binding.sequence = std::move(sequence);
  graph.bind(node.output(i), binding);
  return success();
}

LogicalResult NodeContext::setOutputElement(unsigned i, const Binding &element) {
  if (i < static_cast<unsigned>(node.output_size()) && !node.output(i).empty())
    graph.bind(node.output(i), element);
  return success();
}

LogicalResult NodeContext::forwardInput(unsigned i, unsigned j) {
  if (i < static_cast<unsigned>(node.output_size()) && !node.output(i).empty())
    graph.bind(node.output(i), binding(j));
  return success();
}

const onnx::AttributeProto *NodeContext::findAttr(StringRef name) const {
  return findAttribute(node, name);
}

bool NodeContext::hasAttr(StringRef name) const { return findAttr(name); }

int64_t NodeContext::getInt(StringRef name, int64_t defaultValue) const {
  const onnx::AttributeProto *attr = findAttr(name);
  return attr ? attr->i() : defaultValue;
}

float NodeContext::getFloat(StringRef name, float defaultValue) const {
  const onnx::AttributeProto *attr = findAttr(name);
  return attr ? attr->f() : defaultValue;
}

std::string NodeContext::getString(StringRef name, StringRef defaultValue) const {
  const onnx::AttributeProto *attr = findAttr(name);
  return attr ? attr->s() : defaultValue.str();
}

SmallVector<int64_t> NodeContext::getInts(StringRef name) const {
  SmallVector<int64_t> values;
  if (const onnx::AttributeProto *attr = findAttr(name))
    values.assign(attr->ints().begin(), attr->ints().end());
  return values;
}

FailureOr<HostTensor> NodeContext::getTensor(StringRef name) {
  const onnx::AttributeProto *attr = findAttr(name);
  if (!attr || !attr->has_t())
    return emitError() << "missing tensor attribute '" << name << "'";
  FailureOr<DenseElementsAttr> value = decodeTensor(attr->t(), loc);
  if (failed(value))
    return failure();
  return HostTensor::fromAttr(*value);
}

InFlightDiagnostic NodeContext::emitUnsupported() {
  graph.markUnsupported();
  return emitError();
}

InFlightDiagnostic NodeContext::emitError() {
  return mlir::emitError(loc) << node.op_type() << ": ";
}

FailureOr<int64_t> NodeContext::normalizeAxis(int64_t axis, int64_t rank, StringRef what) {
  if (axis < -rank || axis >= rank)
    return emitError() << what << " " << axis << " is out of range for rank " << rank;
  return axis < 0 ? axis + rank : axis;
}

LogicalResult NodeContext::reinferResultTypes(Operation *op) {
  auto iface = cast<InferTypeOpInterface>(op);
  SmallVector<Type> types;
  if (failed(iface.inferReturnTypes(op->getContext(), op->getLoc(), op->getOperands(),
                                    op->getRawDictionaryAttrs(), op->getPropertiesStorage(),
                                    op->getRegions(), types))) {
    op->erase();
    return failure();
  }
  for (auto [result, type] : llvm::zip(op->getResults(), types))
    result.setType(type);
  return success();
}

Value NodeContext::reshape(Value value, ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getShape() == shape)
    return value;
  return fold(
      builder.create<ReshapeOp>(loc, RankedTensorType::get(shape, type.getElementType()), value));
}

Value NodeContext::castTo(Value value, Type elementType) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getElementType() == elementType)
    return value;
  return fold(
      builder.create<CastOp>(loc, RankedTensorType::get(type.getShape(), elementType), value));
}

Value NodeContext::fold(Value value) { return graph.fold(value); }

Value NodeContext::materialize(const HostTensor &value) { return graph.createConstant(value, loc); }

} // namespace precis::onnx_import
