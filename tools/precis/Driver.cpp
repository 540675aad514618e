//===- Driver.cpp - what the subcommands share ------------------------------===//
//
// See Driver.h.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "precis/InitAll.h"
#include "precis/Target/Artifact.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Location.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace llvm;

namespace precis::driver {

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

static void printDiagnostic(mlir::Diagnostic &diag) {
  raw_ostream &os = errs();
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

CompilerContext::CompilerContext()
    : context(makeRegistry()), handler(&context, [](mlir::Diagnostic &diag) {
        printDiagnostic(diag);
        return mlir::success();
      }) {}

/// Loads a model: precis IR (`.mlir`) is parsed and verified, anything else is imported as
/// ONNX. Null after printing diagnostics.
mlir::OwningOpRef<mlir::ModuleOp> loadModel(mlir::MLIRContext &context, StringRef path,
                                            const ImportOptions &options) {
  if (path.ends_with(".mlir")) {
    context.loadDialect<mlir::precis::PrecisDialect, mlir::func::FuncDialect>();
    llvm::SourceMgr sourceMgr;
    std::string error;
    auto file = mlir::openInputFile(path, &error);
    if (!file) {
      errs() << path << ": error: " << error << "\n";
      return nullptr;
    }
    sourceMgr.AddNewSourceBuffer(std::move(file), SMLoc());
    return mlir::parseSourceFile<mlir::ModuleOp>(sourceMgr, &context);
  }
  return importOnnxFile(context, path, options);
}

/// Parses `--batch`; false after printing an error.
bool batchOption(const cl::opt<int64_t> &batch, StringRef tool, ImportOptions &options) {
  if (!batch.getNumOccurrences())
    return true;
  if (batch < 1) {
    errs() << tool << ": --batch must be positive, got " << batch << "\n";
    return false;
  }
  options.batchSize = batch;
  return true;
}

/// A session for `path`: an artifact is loaded as is, a model is compiled in memory first.
rt::Status openSession(StringRef path, const rt::SessionOptions &options,
                               int64_t batch, std::unique_ptr<rt::Session> *session) {
  if (path.ends_with(".precis"))
    return rt::Session::createFromFile(path.str(), options, session);
  CompilerContext compiler;
  ImportOptions importOptions;
  if (batch > 0)
    importOptions.batchSize = batch;
  mlir::OwningOpRef<mlir::ModuleOp> module = loadModel(compiler.context, path, importOptions);
  std::vector<char> bytes;
  if (!module || failed(buildArtifact(*module, {}, bytes)))
    return rt::invalidArgument("cannot compile '" + path.str() + "'");
  return rt::Session::createFromMemory(bytes.data(), bytes.size(), options, session);
}

/// Binds `named` tensors to `info`'s inputs, in order: every input must be present (`howToPass`
/// says, for a missing one, how to provide it) and every tensor must name an input.
rt::Status
matchInputs(const rt::FunctionInfo &info, const std::vector<rt::NamedTensor> &named,
            function_ref<std::string(const std::string &)> howToPass,
            std::vector<rt::TensorView> *args) {
  for (const rt::NamedTensor &t : named)
    if (std::none_of(info.inputs.begin(), info.inputs.end(),
                     [&](const rt::TensorInfo &in) { return in.name == t.name; }))
      return rt::invalidArgument("'" + info.name + "' has no input named '" + t.name +
                                         "'");
  for (const rt::TensorInfo &in : info.inputs) {
    auto it = std::find_if(named.begin(), named.end(),
                           [&](const rt::NamedTensor &t) { return t.name == in.name; });
    if (it == named.end())
      return rt::invalidArgument("missing input '" + in.name + "' (" +
                                         rt::typeString(in.dtype, in.shape) +
                                         "): " + howToPass(in.name));
    args->push_back(it->tensor.view());
  }
  return rt::Status::ok();
}


bool applyPrecision(mlir::ModuleOp module, StringRef pipeline, StringRef tool) {
  if (pipeline.empty())
    return true;
  registerAllPasses();
  mlir::PassManager pm(module->getContext());
  std::string error;
  raw_string_ostream errorStream(error);
  if (failed(mlir::parsePassPipeline(pipeline, pm, errorStream))) {
    errs() << tool << ": error: cannot build the pipeline '" << pipeline << "': " << error << "\n";
    return false;
  }
  return succeeded(pm.run(module));
}

bool addTrainStep(mlir::ModuleOp module, StringRef trainPipeline, StringRef tool) {
  return applyPrecision(module, trainPipeline, tool);
}

} // namespace precis::driver
