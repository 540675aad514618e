//===- Compile.cpp - precis compile -----------------------------------------===//
//
// `precis compile`: a model to a .precis artifact, for inference or (with --train) training.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "precis/Target/Artifact.h"
#include "precis/Target/CudaEmitter.h"

#include "llvm/Support/FormatVariadic.h"

#include "mlir/IR/AsmState.h"

using namespace llvm;

namespace precis::driver {

/// Checks `--target`: cpu, or cuda when this build has NVRTC to compile its kernels.
bool targetOption(StringRef target, StringRef tool) {
  if (target == "cpu" || (target == "cuda" && precis::cudaCompilerAvailable()))
    return true;
  if (target == "cuda") {
    errs() << tool
           << ": error: the cuda target is not available in this build (the CUDA "
              "toolkit was not found when it was configured); this build supports: cpu\n";
    return false;
  }
  errs() << tool << ": unsupported target '" << target << "' (this build supports: cpu"
         << (precis::cudaCompilerAvailable() ? ", cuda" : "") << ")\n";
  return false;
}

int runCompile(int argc, char **argv) {
  static cl::opt<std::string> input(cl::Positional, cl::Required,
                                    cl::desc("<model.onnx | model.onnxtxt | model.mlir>"),
                                    cl::cat(optionCategory()));
  static cl::opt<std::string> output("o", cl::Required, cl::desc("Output artifact"),
                                     cl::value_desc("model.precis"), cl::cat(optionCategory()));
  static cl::opt<std::string> target("target", cl::desc("Backend to compile for: cpu or cuda"),
                                     cl::init("cpu"), cl::cat(optionCategory()));
  static cl::opt<std::string> arch("arch", cl::desc("GPU architecture of the cuda target"),
                                   cl::init("sm_90a"), cl::value_desc("sm_XX"),
                                   cl::cat(optionCategory()));
  static cl::opt<std::string> dumpKernels(
      "dump-kernels", cl::desc("cuda target: also write each kernel's CUDA C++ and PTX to DIR"),
      cl::value_desc("DIR"), cl::cat(optionCategory()));
  static cl::opt<int64_t> batch("batch",
                                cl::desc("Bind the symbolic leading dimension of the inputs"),
                                cl::value_desc("N"), cl::cat(optionCategory()));
  static cl::opt<bool> emitMlir("emit-mlir", cl::desc("Print the compiled precis IR"),
                                cl::cat(optionCategory()));
  static cl::opt<bool> printData(
      "print-data", cl::desc("--emit-mlir: print the data of parameters and large constants"),
      cl::cat(optionCategory()));
  static cl::opt<bool> noWeights(
      "no-weights",
      cl::desc("Store parameters without their data: the runtime initialises "
               "them from a seed at load (docs/runtime.md)"),
      cl::cat(optionCategory()));
  static cl::opt<uint64_t> initSeed("init-seed", cl::desc("--no-weights: the seed"), cl::init(0),
                                    cl::value_desc("S"), cl::cat(optionCategory()));
  static cl::opt<bool> train(
      "train", cl::desc("Also compile the training step (@gradients, @train_step) for "
                        "'precis train'; the optimizer flags below are baked in"));
  static cl::list<std::string> bind(
      "bind",
      cl::desc("Specialise the model on the value of a graph input, which becomes a constant "
               "(one whose value fixes shapes: a Reshape's shape, Slice's starts, axes); "
               "repeatable"),
      cl::value_desc("NAME=file.npy"), cl::cat(optionCategory()));
  static OptimizerFlags optimizerFlags;
  static PrecisionFlags precisionFlags;
  mlir::registerAsmPrinterCLOptions();
  parseCommandLine(argc, argv,
                   "precis compile: model -> .precis artifact (inference, or "
                   "training with --train)\n");
  const char *tool = "precis compile";
  precis::ImportOptions options;
  options.training = train;
  if (!batchOption(batch, tool, options) || !targetOption(target, tool))
    return 1;
  if (!bind.empty() && StringRef(input).ends_with(".mlir")) {
    errs() << tool << ": error: --bind binds inputs of ONNX models; " << input << " is precis IR\n";
    return 1;
  }
  if (rt::Status s = bindOptions(bind, options); !s) {
    errs() << tool << ": error: " << s.message() << "\n";
    return 1;
  }
  std::set<std::string> needed;
  options.neededInputs = &needed;
  CompileOptions compileOptions;
  if (rt::Status s = toCompileOptions(precisionFlags, optimizerFlags, train, &compileOptions); !s) {
    errs() << tool << ": error: " << s.message() << "\n";
    return 1;
  }
  compileOptions.target = target;

  CompilerContext compiler;
  mlir::OwningOpRef<mlir::ModuleOp> module = loadModel(compiler.context, input, options);
  if (!module) {
    for (const std::string &name : needed)
      errs() << tool << ": note: the value of graph input '" << name
             << "' is needed at compile time: pass it with --bind " << name << "=file.npy\n";
    return 1;
  }
  if (target == "cuda" && !StringRef(arch).starts_with("sm_")) {
    errs() << "precis compile: error: --arch expects sm_XX (e.g. sm_90a), got '" << arch << "'\n";
    return 1;
  }
  if (target != "cuda" && (arch.getNumOccurrences() || !dumpKernels.empty())) {
    errs() << "precis compile: error: --arch and --dump-kernels need --target cuda\n";
    return 1;
  }
  if (!runPipeline(*module, compileOptions, tool))
    return 1;
  // As precis-opt prints it (with --print-data, which precis-opt does by default): the same
  // pipeline gives the same text.
  if (emitMlir)
    module->print(outs(), irPrintingFlags(printData)), outs() << "\n";
  precis::ArtifactOptions artifactOptions;
  artifactOptions.target = target == "cuda" ? "cuda:" + arch : std::string(target);
  artifactOptions.kernelDumpDir = dumpKernels;
  if (initSeed.getNumOccurrences() && !noWeights) {
    errs() << "precis compile: error: --init-seed needs --no-weights\n";
    return 1;
  }
  artifactOptions.noWeights = noWeights;
  artifactOptions.initSeed = initSeed;
  precis::ArtifactStats stats;
  if (failed(precis::writeArtifactFile(*module, artifactOptions, output, &stats)))
    return 1;
  // With several functions (a training step also holds @forward and @gradients), each one's
  // own peak: @gradients' is the forward and backward pass without the optimizer's state. Of
  // a training step's, the optimizer updates a training loop writes in place into its state.
  std::string perFunction;
  if (stats.functionArenaBytes.size() > 1)
    for (auto [i, entry] : llvm::enumerate(stats.functionArenaBytes)) {
      perFunction += formatv("{0}{1} {2} KiB", perFunction.empty() ? "; " : ", ", entry.first,
                             entry.second / 1024);
      uint64_t inPlace = i < stats.functionInPlaceBytes.size() ? stats.functionInPlaceBytes[i] : 0;
      if (inPlace)
        perFunction += formatv(" of which {0} KiB in-place updates a training loop never touches",
                               inPlace / 1024);
    }
  errs() << formatv("precis compile: wrote {0}: {1} ops, parameters {2} KiB, activations "
                    "{3} KiB (planned from {4} KiB{5})\n",
                    output, stats.numOps, stats.blobBytes / 1024, stats.arenaBytes / 1024,
                    stats.unplannedBytes / 1024, perFunction);
  return 0;
}

} // namespace precis::driver
