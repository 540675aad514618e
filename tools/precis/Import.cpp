//===- Import.cpp - precis import -------------------------------------------===//
//
// `precis import`: an ONNX model to precis IR (func.func @forward), written atomically. On
// stdout the parameters' data is left out (--print-data keeps it); a file always has it.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "mlir/IR/AsmState.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FileSystem.h"

using namespace llvm;

namespace precis::driver {

int runImport(int argc, char **argv) {
  static cl::opt<std::string> input(cl::Positional, cl::Required,
                                    cl::desc("<model.onnx | model.onnxtxt>"),
                                    cl::cat(optionCategory()));
  static cl::opt<std::string> output("o", cl::desc("Output file (default: stdout)"),
                                     cl::value_desc("file"), cl::init("-"),
                                     cl::cat(optionCategory()));
  static cl::opt<int64_t> batch("batch",
                                cl::desc("Bind the symbolic leading dimension of the inputs"),
                                cl::value_desc("N"), cl::cat(optionCategory()));
  static cl::opt<bool> printData(
      "print-data",
      cl::desc("Print the data of parameters and large constants on stdout too (a file "
               "written with -o always has it)"),
      cl::cat(optionCategory()));
  static cl::opt<bool> train(
      "train",
      cl::desc("Import for training: training-mode Dropout draws (default: the "
               "identity, as inference runs it)"),
      cl::cat(optionCategory()));
  static cl::list<std::string> bind(
      "bind", cl::desc("Specialise the model on the value of a graph input (repeatable)"),
      cl::value_desc("NAME=file.npy"), cl::cat(optionCategory()));
  mlir::registerAsmPrinterCLOptions();
  parseCommandLine(argc, argv, "precis import: ONNX model to precis IR (func.func @forward)\n");

  precis::ImportOptions options;
  options.training = train;
  if (!batchOption(batch, "precis import", options))
    return 1;
  if (rt::Status s = bindOptions(bind, options); !s) {
    errs() << "precis import: error: " << s.message() << "\n";
    return 1;
  }

  CompilerContext compiler;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      precis::importOnnxFile(compiler.context, input, options);
  if (!module)
    return 1;
  // The clean-up stage every pipeline starts with: what `precis import` shows is what the
  // pipelines work on.
  mlir::PassManager pm(&compiler.context);
  buildCleanupPipeline(pm);
  if (failed(pm.run(*module)))
    return 1;

  if (output == "-") {
    module->print(outs(), irPrintingFlags(printData));
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
    module->print(os, irPrintingFlags(/*printData=*/true));
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

} // namespace precis::driver
