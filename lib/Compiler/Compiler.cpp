//===- Compiler.cpp - the compiler as a library -----------------------------===//
//
// See Compiler.h.
//
//===----------------------------------------------------------------------===//

#include "precis/Compiler/Compiler.h"

#include "precis/InitAll.h"
#include "precis/Transforms/Precision.h"
#include "precis/schema/Names.h"

#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Location.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/SourceMgr.h"

using namespace llvm;

namespace precis {

/// Prints `file[:line:col]: ` and, for a location naming an ONNX node, `node 'name': `.
static void printLocation(raw_ostream &os, mlir::Location loc) {
  std::optional<StringRef> node;
  while (true) {
    if (auto name = dyn_cast<mlir::NameLoc>(loc)) {
      node = name.getName().strref();
      loc = name.getChildLoc();
    } else if (auto fused = dyn_cast<mlir::FusedLoc>(loc)) {
      if (fused.getLocations().empty())
        break;
      loc = fused.getLocations().front();
    } else {
      break;
    }
  }
  if (auto file = dyn_cast<mlir::FileLineColLoc>(loc)) {
    os << file.getFilename().strref();
    if (file.getLine() != 0)
      os << ':' << file.getLine() << ':' << file.getColumn();
    os << ": ";
  }
  if (node)
    os << "node '" << *node << "': ";
}

void printDiagnostic(raw_ostream &os, mlir::Diagnostic &diag) {
  auto print = [&](mlir::Diagnostic &d) {
    printLocation(os, d.getLocation());
    switch (d.getSeverity()) {
    case mlir::DiagnosticSeverity::Error:
      os << "error: ";
      break;
    case mlir::DiagnosticSeverity::Warning:
      os << "warning: ";
      break;
    case mlir::DiagnosticSeverity::Note:
      os << "note: ";
      break;
    case mlir::DiagnosticSeverity::Remark:
      os << "remark: ";
      break;
    }
    os << d << '\n';
  };
  print(diag);
  for (mlir::Diagnostic &note : diag.getNotes())
    print(note);
}

static mlir::DialectRegistry makeRegistry() {
  mlir::DialectRegistry registry;
  registerAllDialects(registry);
  return registry;
}

CompilerContext::CompilerContext(std::function<void(const std::string &)> sink)
    : context(makeRegistry()), handler_(&context, [sink = std::move(sink)](mlir::Diagnostic &diag) {
        std::string text;
        raw_string_ostream os(text);
        printDiagnostic(os, diag);
        sink(text);
        return mlir::success();
      }) {}

/// IR printed for people leaves the blobs out: say so when it is loaded rather than fail later.
static mlir::LogicalResult checkDataPrinted(mlir::ModuleOp module) {
  mlir::WalkResult result = module.walk([](mlir::Operation *op) {
    for (mlir::NamedAttribute attr : op->getAttrs()) {
      auto blob = dyn_cast<mlir::DenseResourceElementsAttr>(attr.getValue());
      if (blob && !blob.getRawHandle().getBlob()) {
        op->emitError("the data of this value was not printed; print the IR with --print-data");
        return mlir::WalkResult::interrupt();
      }
    }
    return mlir::WalkResult::advance();
  });
  return mlir::failure(result.wasInterrupted());
}

mlir::OwningOpRef<mlir::ModuleOp> loadModel(mlir::MLIRContext &context, StringRef path,
                                            const ImportOptions &options) {
  if (path.ends_with(".mlir")) {
    context.loadDialect<mlir::precis::PrecisDialect, mlir::func::FuncDialect>();
    llvm::SourceMgr sourceMgr;
    std::string error;
    auto file = mlir::openInputFile(path, &error);
    if (!file) {
      mlir::emitError(mlir::FileLineColLoc::get(&context, path, 0, 0)) << error;
      return nullptr;
    }
    sourceMgr.AddNewSourceBuffer(std::move(file), SMLoc());
    auto module = mlir::parseSourceFile<mlir::ModuleOp>(sourceMgr, &context);
    if (module && failed(checkDataPrinted(*module)))
      return nullptr;
    return module;
  }
  return importOnnxFile(context, path, options);
}

mlir::LogicalResult runPipeline(mlir::ModuleOp module, const CompileOptions &options) {
  if (std::string error = validate(options); !error.empty())
    return module.emitError(error);
  mlir::PassManager pm(module->getContext());
  if (options.train)
    buildTrainingPipeline(pm, options);
  else
    buildInferencePipeline(pm, options);
  return pm.run(module);
}

/// What a compilation said, as one message (its last newline dropped).
static rt::Status compileError(const std::string &path, std::string diagnostics) {
  while (!diagnostics.empty() && diagnostics.back() == '\n')
    diagnostics.pop_back();
  if (diagnostics.empty())
    diagnostics = "cannot compile '" + path + "'";
  return rt::invalidArgument(diagnostics);
}

rt::Status compileModel(const std::string &path, const ImportOptions &importOptions,
                        const CompileOptions &options, const ArtifactOptions &artifactOptions,
                        std::vector<char> *bytes, ArtifactStats *stats) {
  std::string diagnostics;
  CompilerContext compiler([&](const std::string &text) { diagnostics += text; });
  mlir::OwningOpRef<mlir::ModuleOp> module = loadModel(compiler.context, path, importOptions);
  if (!module || failed(runPipeline(*module, options)) ||
      failed(buildArtifact(*module, artifactOptions, *bytes, stats)))
    return compileError(path, std::move(diagnostics));
  return rt::Status::ok();
}

std::vector<ReportRow> reportRows(mlir::func::FuncOp fn) {
  std::vector<ReportRow> rows;
  for (mlir::Operation &op : fn.getBody().front().without_terminator()) {
    mlir::precis::DecisionAttr d = mlir::precis::getDecision(&op);
    if (!d)
      continue;
    ReportRow row;
    row.node = mlir::precis::nodeName(op.getLoc()).str();
    row.op = op.getName().stripDialect().str();
    auto phase = op.getAttrOfType<mlir::StringAttr>(mlir::precis::kPhase);
    row.phase = phase ? phase.getValue().str() : "forward";
    auto name = [](mlir::Type t) { return t ? mlir::precis::precisionName(t) : std::string(); };
    for (auto [i, t] : llvm::enumerate(d.getIn()))
      row.in += (i ? "," : "") + name(t);
    row.out = name(d.getOut());
    row.acc = name(d.getAcc());
    row.rule = d.getRuleName();
    row.reason = d.getReason().str();
    rows.push_back(std::move(row));
  }
  return rows;
}

rt::Status reportModel(const std::string &path, const ImportOptions &importOptions,
                       CompileOptions options, std::vector<ReportRow> *rows) {
  // fp32 is a decision too: the report always runs the passes.
  options.precision.decideFp32 = true;
  std::string diagnostics;
  CompilerContext compiler([&](const std::string &text) { diagnostics += text; });
  mlir::OwningOpRef<mlir::ModuleOp> module = loadModel(compiler.context, path, importOptions);
  if (!module || failed(runPipeline(*module, options)))
    return compileError(path, std::move(diagnostics));
  StringRef fnName = options.train ? names::kTrainStep : names::kForward;
  auto fn = module->lookupSymbol<mlir::func::FuncOp>(fnName);
  if (!fn)
    return rt::invalidArgument("the module of '" + path + "' has no @" + fnName.str());
  *rows = reportRows(fn);
  return rt::Status::ok();
}

} // namespace precis
