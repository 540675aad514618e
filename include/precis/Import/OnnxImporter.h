//===- OnnxImporter.h - ONNX model to precis IR -----------------*- C++ -*-===//
//
// Entry point of the ONNX importer: reads a model (binary ModelProto, optionally with external
// data, or the ONNX textual format), validates every node against what precis supports, folds
// the model's shape arithmetic and builds `func.func @forward` in the precis dialect.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_IMPORT_ONNXIMPORTER_H
#define PRECIS_IMPORT_ONNXIMPORTER_H

#include "precis/runtime/Tensor.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace precis {

/// Options of `importOnnxFile`.
struct ImportOptions {
  /// Binds a symbolic (dim_param or unknown) leading dimension of every graph input. precis IR
  /// is statically shaped: any other symbolic dimension is an error.
  std::optional<int64_t> batchSize;
  /// Import for training: a Dropout whose `training_mode` is true becomes a drawing
  /// `precis.dropout`. Otherwise it is the identity, as inference (`precis run`) runs it.
  bool training = false;
  /// Graph inputs replaced by constants before anything is built, so that what depends on
  /// them (a Reshape's shape, Slice's starts, `axes`, ...) folds at import: the model is
  /// specialised on these values (`precis compile --bind NAME=file.npy`). Each must name a
  /// graph input, with its element type and a shape that fits its declared one.
  std::map<std::string, precis::rt::Tensor> bind;
  /// When set, receives the graph inputs an import failed on because it needed their values
  /// (the inputs `bind` would have to hold for the import to get further).
  std::set<std::string> *neededInputs = nullptr;
};

/// How far a failed import got: conformance runs tell a model precis does not support
/// (rejected by validation, before anything is built) from a failure on one it does.
enum class ImportFailure {
  None,        ///< imported
  Load,        ///< unreadable, malformed or truncated file, missing external data
  Unsupported, ///< rejected by validation: op, domain, opset, element type or attribute
  Build,       ///< a validated model failed while building or verifying its IR
};

/// Imports the ONNX model at `path` into a new module holding `func.func @forward`.
///
/// Files ending in `.onnxtxt`, `.onnxtext` or `.txt` are parsed as the ONNX textual format,
/// anything else as a binary ModelProto; tensors with external data are read relative to the
/// model's directory. Models may import default-domain opsets 7 to 21 (6 when every op of the
/// model has an opset-6 handler, see lib/Import/Importer.h); every node is imported
/// with the semantics of its op at the model's opset (e.g. Softmax before opset 13 coerces its
/// input to 2-D; Squeeze's axes before 13 are an attribute). The function is verified and
/// returned as built: no pass runs here. The clean-up (GELU recognition, canonicalisation,
/// CSE) is the first stage of every pipeline (precis/Pipelines/Pipelines.h).
/// On failure returns null after emitting every problem as a diagnostic
/// through `context`'s diagnostic engine; it never exits or throws.
///
/// Loads the dialects it needs into `context`. Not thread-safe with respect to `context`:
/// callers must not use the context concurrently while an import runs.
/// When `failure` is given it receives how far the import got.
mlir::OwningOpRef<mlir::ModuleOp> importOnnxFile(mlir::MLIRContext &context, llvm::StringRef path,
                                                 const ImportOptions &options,
                                                 ImportFailure *failure = nullptr);

} // namespace precis

#endif // PRECIS_IMPORT_ONNXIMPORTER_H
