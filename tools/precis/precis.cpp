//===- precis.cpp - the precis driver ---------------------------*- C++ -*-===//
//
// `precis <subcommand> ...`: the user-facing driver. Each subcommand parses its own options
// and calls into lib/; only `import` exists so far, the others are listed as planned.
// Diagnostics print as `file[:line:col]: [node 'name': ]error: message`.
//
//===----------------------------------------------------------------------===//

#include "precis/Import/OnnxImporter.h"
#include "precis/InitAll.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace {

struct Subcommand {
  StringRef name;
  StringRef summary;
  int (*run)(int argc, char **argv); // null: planned, not implemented yet
};

//===----------------------------------------------------------------------===//
// Diagnostics.
//===----------------------------------------------------------------------===//

/// Prints `file[:line:col]: ` and, for a location naming an ONNX node, `node 'name': `.
void printLocation(raw_ostream &os, mlir::Location loc) {
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

void printDiagnostic(mlir::Diagnostic &diag) {
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

//===----------------------------------------------------------------------===//
// import
//===----------------------------------------------------------------------===//

int runImport(int argc, char **argv) {
  static cl::opt<std::string> input(cl::Positional, cl::Required,
                                    cl::desc("<model.onnx | model.onnxtxt>"));
  static cl::opt<std::string> output("o", cl::desc("Output file (default: stdout)"),
                                     cl::value_desc("file"), cl::init("-"));
  static cl::opt<int64_t> batch(
      "batch", cl::desc("Bind the symbolic leading dimension of the inputs"), cl::value_desc("N"));
  mlir::registerAsmPrinterCLOptions();
  cl::ParseCommandLineOptions(argc, argv,
                              "precis import: ONNX model to precis IR (func.func @forward)\n");

  precis::ImportOptions options;
  if (batch.getNumOccurrences()) {
    if (batch < 1) {
      errs() << "precis import: --batch must be positive, got " << batch << "\n";
      return 1;
    }
    options.batchSize = batch;
  }

  mlir::DialectRegistry registry;
  precis::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  mlir::ScopedDiagnosticHandler handler(&context, [](mlir::Diagnostic &diag) {
    printDiagnostic(diag);
    return mlir::success();
  });
  mlir::OwningOpRef<mlir::ModuleOp> module = precis::importOnnxFile(context, input, options);
  if (!module)
    return 1;

  if (output == "-") {
    module->print(outs(), mlir::OpPrintingFlags());
    return 0;
  }
  // Write next to the destination, then rename: a failed write never leaves a partial file.
  Expected<sys::fs::TempFile> temp = sys::fs::TempFile::create(output + ".tmp-%%%%%%");
  if (!temp) {
    errs() << "precis import: cannot create '" << output << "': " << toString(temp.takeError())
           << "\n";
    return 1;
  }
  {
    raw_fd_ostream os(temp->FD, /*shouldClose=*/false);
    module->print(os, mlir::OpPrintingFlags());
    os.flush();
    if (os.has_error()) {
      os.clear_error();
      consumeError(temp->discard());
      errs() << "precis import: cannot write '" << output << "'\n";
      return 1;
    }
  }
  if (Error err = temp->keep(output)) {
    errs() << "precis import: cannot write '" << output << "': " << toString(std::move(err))
           << "\n";
    return 1;
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// Dispatch.
//===----------------------------------------------------------------------===//

const Subcommand subcommands[] = {
    {"import", "ONNX model -> precis IR (func.func @forward)", runImport},
    {"compile", "model -> training-step artifact (.precis) [planned]", nullptr},
    {"train", "train a model on a dataset [planned]", nullptr},
    {"run", "run an artifact [planned]", nullptr},
    {"report", "explain every precision decision [planned]", nullptr},
    {"export", "write trained parameters back to ONNX [planned]", nullptr},
    {"bench", "time an artifact on the CPU or CUDA backend [planned]", nullptr},
};

void printUsage(raw_ostream &os) {
  os << "OVERVIEW: precis - mixed-precision compiler for ONNX training graphs\n\n"
        "USAGE: precis <subcommand> [options]\n\n"
        "SUBCOMMANDS:\n";
  for (const Subcommand &sub : subcommands)
    os << "  " << left_justify(sub.name, 10) << sub.summary << "\n";
  os << "\nRun 'precis <subcommand> --help' for a subcommand's options.\n";
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  if (argc < 2) {
    printUsage(errs());
    return 1;
  }
  StringRef name = argv[1];
  if (name == "--help" || name == "-help" || name == "-h") {
    printUsage(outs());
    return 0;
  }
  for (const Subcommand &sub : subcommands) {
    if (sub.name != name)
      continue;
    if (!sub.run) {
      errs() << "precis: '" << name << "' is planned but not implemented yet\n";
      return 1;
    }
    // The subcommand sees "precis <name>" as its program name.
    std::string program = "precis " + name.str();
    std::vector<char *> args = {program.data()};
    args.insert(args.end(), argv + 2, argv + argc);
    return sub.run(static_cast<int>(args.size()), args.data());
  }
  errs() << "precis: unknown subcommand '" << name << "'\n";
  printUsage(errs());
  return 1;
}
