//===- Importer.h - ONNX importer internals ---------------------*- C++ -*-===//
//
// Shared by the files of lib/Import (not installed): the host tensors that carry values known
// at import time, the per-node context every op handler works through, and the registry that
// maps an ONNX domain, op type and opset to its handler (torch-mlir's TorchOnnxToTorch style:
// one small handler per op, grouped by family in DefaultDomain*.cpp, the training domain's in
// PreviewTrainingDomain.cpp).
//
// Every file that includes this header includes onnx headers and is compiled with
// -fexceptions; only the loader and the validator call onnx code that throws, and they catch
// everything it throws.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_LIB_IMPORT_IMPORTER_H
#define PRECIS_LIB_IMPORT_IMPORTER_H

#include "precis/Dialect/Precis/IR/HostTensor.h"
#include "precis/Dialect/Precis/IR/PrecisOps.h"
#include "precis/Import/OnnxImporter.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"

#include "onnx/onnx_pb.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace precis::onnx_import {

//===----------------------------------------------------------------------===//
// Opsets.
//===----------------------------------------------------------------------===//

/// Default-domain opsets precis imports. Opset 7 is where element-wise arithmetic took NumPy
/// (multidirectional) broadcasting in place of the `broadcast`/`axis` attributes, and where
/// Dropout and BatchNormalization dropped `is_test`; precis implements none of the older
/// forms. Handlers are registered from the opset where the semantics they implement begin
/// (at most back to kMinOpset), with separate handlers where an op changed in between.
constexpr int64_t kMinOpset = 7;
/// An opset-6 model imports when every one of its ops has a handler registered from opset 6:
/// ops with no broadcasting whose opset-6 version is one precis implements (the ONNX backend
/// tests of InstanceNormalization and ReduceLogSum are opset-6 models). Any other op of such
/// a model is reported as supported only from opset 7.
constexpr int64_t kOldestOpset = 6;
constexpr int64_t kMaxOpset = 28;

/// The ONNX domains precis imports, each with its own opset versions and handlers.
enum class Domain {
  /// "" or "ai.onnx".
  Default,
  /// "ai.onnx.preview.training": the optimizers (Adagrad, Adam, Momentum) and Gradient.
  PreviewTraining,
};
constexpr unsigned kNumDomains = 2;

/// Version 1 is the only one of ai.onnx.preview.training that ONNX defines.
constexpr int64_t kMinTrainingOpset = 1;
constexpr int64_t kMaxTrainingOpset = 1;

/// The domain an ONNX domain string names, or nullopt for one precis does not import.
std::optional<Domain> lookupDomain(llvm::StringRef name);
/// The canonical name of a domain ("ai.onnx" for the default one).
llvm::StringRef getDomainName(Domain domain);

/// The opset version a model imports for each domain precis knows (0: not imported).
class DomainOpsets {
public:
  int64_t get(Domain domain) const { return versions[static_cast<unsigned>(domain)]; }
  void set(Domain domain, int64_t version) { versions[static_cast<unsigned>(domain)] = version; }

private:
  int64_t versions[kNumDomains] = {};
};

//===----------------------------------------------------------------------===//
// Element types.
//===----------------------------------------------------------------------===//

/// The MLIR element type of an ONNX `TensorProto::DataType`, or null when precis does not
/// support it.
mlir::Type convertElementType(int32_t onnxType, mlir::MLIRContext *context);

/// True if precis supports the ONNX data type (no context needed).
bool isSupportedElementType(int32_t onnxType);

/// The ONNX spelling of a data type ("float", "int64", "complex64", ...).
std::string onnxTypeName(int32_t onnxType);

//===----------------------------------------------------------------------===//
// Import-time values.
//===----------------------------------------------------------------------===//

/// Values known at import time (Constant nodes, non-float initializers and everything folded
/// from them) are the dialect's HostTensor; ops fold them through the ops' own folders.
using mlir::precis::broadcastShapes;
using mlir::precis::HostTensor;

//===----------------------------------------------------------------------===//
// Values and nodes.
//===----------------------------------------------------------------------===//

/// What the importer knows about one ONNX value name. Exactly one of `value`, `constant` and
/// `parameter` describes it at first; a constant or parameter also gets `value` once an
/// emitted op uses it.
struct Binding {
  /// The SSA value, once there is one.
  mlir::Value value;
  /// The value when known at import time (never a float initializer: those stay parameters).
  std::shared_ptr<const HostTensor> constant;
  /// A float initializer not yet materialised, as `precis.parameter` will store it.
  mlir::ElementsAttr parameter;
  /// Set when this is an initializer (unchanged): it materialises as `precis.parameter`.
  std::string parameterName;
  /// Location of the op that materialises a constant or parameter.
  mlir::Location loc;
  /// Set for an ONNX sequence, which precis resolves at import (SplitToSequence,
  /// SequenceConstruct): its elements, in order. Such a binding has no tensor of its own and
  /// feeds only the sequence ops (SequenceAt, SequenceLength, ConcatFromSequence, Identity).
  std::shared_ptr<std::vector<Binding>> sequence;

  explicit Binding(mlir::Location loc) : loc(loc) {}
  mlir::RankedTensorType getType() const;
};

class GraphImporter;

/// Everything an op handler sees of its node: typed access to inputs, attributes and known
/// constants, output binding, op creation with inferred types, and errors at the node.
class NodeContext {
public:
  NodeContext(GraphImporter &graph, const onnx::NodeProto &node, int64_t opset, mlir::Location loc);

  const onnx::NodeProto &getNode() const { return node; }
  llvm::StringRef getOpType() const { return node.op_type(); }
  int64_t getOpset() const { return opset; }
  /// The model's `producer_name` ("pytorch" for both of PyTorch's exporters).
  llvm::StringRef getProducerName() const;
  mlir::Location getLoc() const { return loc; }
  mlir::OpBuilder &getBuilder() { return builder; }
  mlir::MLIRContext *getContext() { return builder.getContext(); }
  const ImportOptions &getImportOptions() const;

  /// Inputs. An optional input is absent when missing or named "".
  unsigned getNumInputs() const { return node.input_size(); }
  bool hasInput(unsigned i) const;
  mlir::RankedTensorType getInputType(unsigned i) const;
  mlir::Type getInputElementType(unsigned i) const { return getInputType(i).getElementType(); }
  /// The input's import-time value, or null.
  const HostTensor *getConstant(unsigned i) const;
  /// True when every present input is known at import time.
  bool allInputsConstant() const;
  /// The input as an SSA value (materialising a constant or parameter on first use).
  mlir::Value getInput(unsigned i);
  /// The input's import-time value, or an error explaining that `role` must be constant.
  mlir::FailureOr<const HostTensor *> requireConstant(unsigned i, llvm::StringRef role);
  /// A constant integer input's elements (`role` names it in the error).
  mlir::FailureOr<llvm::SmallVector<int64_t>> requireInts(unsigned i, llvm::StringRef role);
  /// An integer list that ONNX moved from attribute `name` to input `i` at opset `since`
  /// (Squeeze's axes and Split's sizes at 13, Slice's starts and ends at 10, ...): the input,
  /// which must be known at import time, from `since` on; the attribute before, where an
  /// empty list counts as absent. nullopt when absent.
  mlir::FailureOr<std::optional<llvm::SmallVector<int64_t>>>
  getIntsAttrOrInput(llvm::StringRef name, unsigned i, int64_t since);

  /// Element-type checks with importer errors (rather than verifier failures).
  mlir::LogicalResult requireSameElementType(llvm::ArrayRef<unsigned> inputs);
  mlir::LogicalResult requireFloat(unsigned i);
  /// float, i32 or i64: what precis arithmetic accepts.
  mlir::LogicalResult requireNumeric(unsigned i);
  mlir::LogicalResult requireIndex(unsigned i);
  mlir::LogicalResult requireBool(unsigned i);

  /// A value by ONNX name, for ops whose attributes name values (Gradient's `xs` and `y`):
  /// null when no graph input, initializer or earlier node defines it.
  Binding *lookupValue(llvm::StringRef name) const;
  /// The SSA value of a binding (materialising a constant or parameter on first use).
  mlir::Value getValue(Binding &binding);

  /// Outputs. An optional output is used when a node or the graph's outputs consume it.
  /// An output whose value is known at import time (a constant, or an op of this node that
  /// folds) is bound as a constant.
  unsigned getNumOutputs() const { return node.output_size(); }
  bool isOutputUsed(unsigned i) const;
  mlir::LogicalResult setOutput(unsigned i, mlir::Value value);
  mlir::LogicalResult setOutput(unsigned i, HostTensor value);
  mlir::LogicalResult setOutput(unsigned i, mlir::FailureOr<HostTensor> value);
  /// Output `i` is input `j` unchanged (Identity, inference-mode Dropout).
  mlir::LogicalResult forwardInput(unsigned i, unsigned j);

  /// Sequences, resolved at import: input `i`'s elements (null when it is a tensor); output
  /// `i` as the sequence of `elements` (each bound as `setOutput` binds a value); output `i`
  /// as the element `element` of an input sequence.
  const std::vector<Binding> *getSequence(unsigned i) const;
  mlir::LogicalResult setSequenceOutput(unsigned i, llvm::ArrayRef<mlir::Value> elements);
  mlir::LogicalResult setOutputElement(unsigned i, const Binding &element);

  /// Attributes, with ONNX defaults when absent.
  bool hasAttr(llvm::StringRef name) const;
  int64_t getInt(llvm::StringRef name, int64_t defaultValue) const;
  float getFloat(llvm::StringRef name, float defaultValue) const;
  std::string getString(llvm::StringRef name, llvm::StringRef defaultValue) const;
  llvm::SmallVector<int64_t> getInts(llvm::StringRef name) const;
  /// Decoded tensor attribute, or an error (unsupported type, bad data).
  mlir::FailureOr<HostTensor> getTensor(llvm::StringRef name);

  /// An error at the node, prefixed with its op type.
  mlir::InFlightDiagnostic emitError();
  /// An error for a valid ONNX construct precis does not support (a value that must be static,
  /// an element type or optional output it lacks): the import fails as unsupported.
  mlir::InFlightDiagnostic emitUnsupported();

  /// Resolves a possibly negative `axis` for `rank`, or reports `what` out of range.
  mlir::FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank, llvm::StringRef what);

  /// Builds `OpTy` at the node (the arguments start with placeholder result types), then
  /// infers its real result types through InferTypeOpInterface. Inference problems (shapes
  /// that do not broadcast, ...) become errors at the node instead of aborting.
  template <typename OpTy, typename... Args> mlir::FailureOr<OpTy> createInferred(Args &&...args) {
    auto op = builder.create<OpTy>(loc, std::forward<Args>(args)...);
    if (mlir::failed(reinferResultTypes(op)))
      return mlir::failure();
    return op;
  }
  /// `createInferred`, then folds: the op's result, or a constant when every operand is
  /// known at import time (the op's folder evaluates it, and the op is erased).
  template <typename OpTy, typename... Args> mlir::FailureOr<mlir::Value> build(Args &&...args) {
    auto op = createInferred<OpTy>(std::forward<Args>(args)...);
    if (mlir::failed(op))
      return mlir::failure();
    return fold((*op)->getResult(0));
  }
  /// `createInferred`, then binds the op's results to outputs 0, 1, ... (folded as
  /// `setOutput` folds).
  template <typename OpTy, typename... Args> mlir::LogicalResult emit(Args &&...args) {
    auto op = createInferred<OpTy>(std::forward<Args>(args)...);
    if (mlir::failed(op))
      return mlir::failure();
    for (auto [i, result] : llvm::enumerate((*op)->getResults()))
      if (mlir::failed(setOutput(i, result)))
        return mlir::failure();
    return mlir::success();
  }

  /// `precis.reshape` of `value` to `shape` (no op when the shape already matches).
  mlir::Value reshape(mlir::Value value, llvm::ArrayRef<int64_t> shape);
  /// `precis.cast` of `value` to `elementType` (no op when it already has it).
  mlir::Value castTo(mlir::Value value, mlir::Type elementType);
  /// A `precis.constant` for a host tensor at the node.
  mlir::Value materialize(const HostTensor &value);
  /// `value`, or a constant when it is the result of an op built at this node whose operands
  /// are all known at import time (folded by the op's folder; see `build`).
  mlir::Value fold(mlir::Value value);

private:
  mlir::LogicalResult reinferResultTypes(mlir::Operation *op);
  const onnx::AttributeProto *findAttr(llvm::StringRef name) const;
  Binding &binding(unsigned i) const;

  GraphImporter &graph;
  const onnx::NodeProto &node;
  int64_t opset;
  mlir::Location loc;
  mlir::OpBuilder &builder;
};

//===----------------------------------------------------------------------===//
// Handlers.
//===----------------------------------------------------------------------===//

/// Imports one node: binds every used output, or reports an error and fails.
using ImportFn = mlir::LogicalResult (*)(NodeContext &);
/// Static checks of a node's attributes, run on every node before anything is emitted: appends
/// one message per unsupported attribute value.
using CheckFn = void (*)(const onnx::NodeProto &, int64_t opset,
                         llvm::SmallVectorImpl<std::string> &problems);

struct OpHandler {
  int64_t minOpset;
  int64_t maxOpset;
  ImportFn import;
  CheckFn check;
};

/// Op handlers, keyed by domain, op type and opset range.
class HandlerRegistry {
public:
  /// Every handler; built on first use (thread-safe).
  static const HandlerRegistry &get();

  /// Registers a handler of the default domain.
  void add(llvm::StringRef opType, int64_t minOpset, int64_t maxOpset, ImportFn import,
           CheckFn check = nullptr) {
    add(Domain::Default, opType, minOpset, maxOpset, import, check);
  }
  void add(Domain domain, llvm::StringRef opType, int64_t minOpset, int64_t maxOpset,
           ImportFn import, CheckFn check = nullptr);
  /// The handler for `opType` of `domain` at `opset`, or null.
  const OpHandler *lookup(Domain domain, llvm::StringRef opType, int64_t opset) const;
  /// The opset ranges `opType` of `domain` is handled at (empty: unknown op).
  llvm::ArrayRef<OpHandler> handlersFor(Domain domain, llvm::StringRef opType) const;

private:
  llvm::StringMap<llvm::SmallVector<OpHandler, 1>> handlers[kNumDomains];
};

void populateElementwiseHandlers(HandlerRegistry &registry);
void populateShapeHandlers(HandlerRegistry &registry);
void populateNeuralNetHandlers(HandlerRegistry &registry);
void populateTrainingHandlers(HandlerRegistry &registry);
void populateTransformerHandlers(HandlerRegistry &registry);

/// Attribute lookup on a raw node, for CheckFns.
const onnx::AttributeProto *findAttribute(const onnx::NodeProto &node, llvm::StringRef name);
std::string getStringAttribute(const onnx::NodeProto &node, llvm::StringRef name,
                               llvm::StringRef dflt);

/// Reads the model at `path` (binary or text) and resolves its external data. Errors are
/// reported at `fileLoc`.
mlir::LogicalResult loadModel(llvm::StringRef path, onnx::ModelProto &model,
                              mlir::Location fileLoc);

/// Checks that precis can import the model: opset ranges, every node's op, domain, opset and
/// attributes, every element type; runs the ONNX checker and shape inference at opsets libonnx
/// knows. Reports all unsupported nodes in one diagnostic. Sets `opsets` to the versions the
/// model imports.
mlir::LogicalResult validateModel(onnx::ModelProto &model, mlir::Location fileLoc,
                                  DomainOpsets &opsets);

/// Builds the module for a model that passed validation (every node has a handler at its
/// domain's opset in `opsets`); errors are emitted as diagnostics and give null.
/// `unsupported` is set when the failure is a construct precis does not support rather than
/// an error.
mlir::OwningOpRef<mlir::ModuleOp> importGraph(mlir::MLIRContext &context,
                                              const onnx::ModelProto &model,
                                              const DomainOpsets &opsets, llvm::StringRef path,
                                              const ImportOptions &options, bool &unsupported);

/// What the exporter recorded about the initializers (ExporterMetadata.cpp): today PyTorch's
/// dynamo exporter, whose graph signature tells parameters from buffers and constants.
struct ExporterInfo {
  /// Whether the model carries such a record at all.
  bool present = false;
  /// Every initializer's kind: "parameter", "buffer" or "constant" (not in the signature).
  llvm::StringMap<std::string> kind;
  /// Initializer -> the parameters or buffers the exporter merged into it (equal values).
  llvm::StringMap<std::vector<std::string>> merged;
  /// Parameters and buffers of the signature that no initializer carries and that no node
  /// shows merged into another (folded or merged out of sight), sorted.
  std::vector<std::string> unaccounted;
  /// The exporter optimizer's rewrite rules that nodes record (FuseBatchNormIntoGemm, ...).
  std::vector<std::string> rewriteRules;
};
ExporterInfo readExporterInfo(const onnx::ModelProto &model);

/// Decodes a TensorProto's data (already resolved from external storage) as a DenseElementsAttr
/// of its type; errors name the tensor.
mlir::FailureOr<mlir::DenseElementsAttr> decodeTensor(const onnx::TensorProto &tensor,
                                                      mlir::Location loc);

/// Decodes an initializer as `precis.parameter` stores it (mlir::precis::storeElements): a
/// large one goes straight to a `dense_resource` blob named after it.
mlir::FailureOr<mlir::ElementsAttr> decodeParameter(const onnx::TensorProto &tensor,
                                                    mlir::Location loc);

} // namespace precis::onnx_import

#endif // PRECIS_LIB_IMPORT_IMPORTER_H
