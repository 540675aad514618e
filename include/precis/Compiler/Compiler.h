//===- Compiler.h - the compiler as a library --------------------*- C++ -*-===//
//
// What the `precis` driver and the Python bindings share above the pipelines: a context with
// every precis dialect whose diagnostics are formatted as the tools print them
// (`file[:line:col]: [node 'name': ]error: message`), model loading (ONNX or precis IR),
// compiling a model into artifact bytes, and the rows of the precision report. Errors are
// returned as rt::Status whose message holds the diagnostics; nothing here prints or exits.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_COMPILER_COMPILER_H
#define PRECIS_COMPILER_COMPILER_H

#include "precis/Import/OnnxImporter.h"
#include "precis/Pipelines/Pipelines.h"
#include "precis/Target/Artifact.h"
#include "precis/runtime/Status.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <functional>
#include <string>
#include <vector>

namespace precis {

/// Writes `diag` and its notes as the tools print them, one line each.
void printDiagnostic(llvm::raw_ostream &os, mlir::Diagnostic &diag);

/// An MLIRContext with every precis dialect whose diagnostics go to `sink`, formatted by
/// printDiagnostic. Not thread-safe: one compilation at a time per context.
class CompilerContext {
public:
  explicit CompilerContext(std::function<void(const std::string &)> sink);
  mlir::MLIRContext context;

private:
  mlir::ScopedDiagnosticHandler handler_;
};

/// Loads a model: precis IR (`.mlir`) is parsed and verified, anything else is imported as
/// ONNX. Null after emitting diagnostics through `context`.
mlir::OwningOpRef<mlir::ModuleOp> loadModel(mlir::MLIRContext &context, llvm::StringRef path,
                                            const ImportOptions &options);

/// Checks `options` (validate()) and runs the training pipeline (`options.train` set) or the
/// inference pipeline on `module`. Failure after emitting diagnostics.
mlir::LogicalResult runPipeline(mlir::ModuleOp module, const CompileOptions &options);

/// Loads `path`, runs the pipeline of `options` and serialises the module into `*bytes`.
/// InvalidArgument with every diagnostic in the message on failure.
rt::Status compileModel(const std::string &path, const ImportOptions &importOptions,
                        const CompileOptions &options, const ArtifactOptions &artifactOptions,
                        std::vector<char> *bytes, ArtifactStats *stats = nullptr);

/// One row of the precision report (`precis report`, its `--json` "ops" entries).
struct ReportRow {
  std::string node, op, phase, in, out, acc, rule, reason;
};

/// The rows of `fn`: every op with a precision decision, in execution order.
std::vector<ReportRow> reportRows(mlir::func::FuncOp fn);

/// Loads `path`, runs the pipeline of `options` (recording fp32 decisions too) and returns
/// the rows of @train_step (`options.train` set) or @forward.
rt::Status reportModel(const std::string &path, const ImportOptions &importOptions,
                       CompileOptions options, std::vector<ReportRow> *rows);

} // namespace precis

#endif // PRECIS_COMPILER_COMPILER_H
