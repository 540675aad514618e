//===- precis.cpp - the precis driver ---------------------------*- C++ -*-===//
//
// `precis <subcommand> ...`: the user-facing driver. `main` only dispatches; each subcommand
// lives in its own file (Import.cpp, Compile.cpp, ...), parses its own options and calls
// into the compiler library (lib/) or the runtime.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;
using namespace precis::driver;

namespace {

struct Subcommand {
  StringRef name;
  StringRef summary;
  int (*run)(int argc, char **argv);
};

const Subcommand subcommands[] = {
    {"import", "ONNX model -> precis IR (func.func @forward)", runImport},
    {"compile", "model -> inference artifact (.precis)", runCompile},
    {"train", "train a model on an .npz dataset (sgd, adam, adamw), with checkpoints", runTrain},
    {"run", "run an artifact or model on .npy/.npz inputs", runRun},
    {"report", "which precision every op runs in, and why", runReport},
    {"export", "write a checkpoint's parameters back into an ONNX model", runExport},
    {"bench", "time a function of an artifact or model on the CPU", runBench},
    {"plot", "loss curves of training logs (precis train --log), overlaid, as HTML or PNG",
     runPlot},
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