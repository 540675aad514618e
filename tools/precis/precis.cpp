//===- precis.cpp - the precis driver ---------------------------*- C++ -*-===//
//
// `precis <subcommand> ...`: the user-facing driver. Each subcommand parses its own options
// and calls into lib/ (compiler) or the runtime.
// Diagnostics print as `file[:line:col]: [node 'name': ]error: message`.
//
//===----------------------------------------------------------------------===//

#include "precis/Import/OnnxImporter.h"
#include "precis/InitAll.h"
#include "precis/Target/Artifact.h"
#include "precis/Target/CudaEmitter.h"
#include "precis/Transforms/Precision.h"
#include "precis/runtime/Npy.h"
#include "precis/runtime/Session.h"
#include "precis/runtime/numerics.h"

#include "Calibrate.h"
#include "Export.h"
#include "precis/runtime/Training.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <thread>

using namespace llvm;

namespace {

struct Subcommand {
  StringRef name;
  StringRef summary;
  int (*run)(int argc, char **argv);
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

/// A context with every precis dialect and diagnostics printed as the driver prints them.
struct CompilerContext {
  CompilerContext()
      : context(makeRegistry()), handler(&context, [](mlir::Diagnostic &diag) {
          printDiagnostic(diag);
          return mlir::success();
        }) {}
  static mlir::DialectRegistry makeRegistry() {
    mlir::DialectRegistry registry;
    precis::registerAllDialects(registry);
    return registry;
  }
  mlir::MLIRContext context;
  mlir::ScopedDiagnosticHandler handler;
};

/// Loads a model: precis IR (`.mlir`) is parsed and verified, anything else is imported as
/// ONNX. Null after printing diagnostics.
mlir::OwningOpRef<mlir::ModuleOp> loadModel(mlir::MLIRContext &context, StringRef path,
                                            const precis::ImportOptions &options) {
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
  return precis::importOnnxFile(context, path, options);
}

/// Parses `--batch`; false after printing an error.
bool batchOption(const cl::opt<int64_t> &batch, StringRef tool, precis::ImportOptions &options) {
  if (!batch.getNumOccurrences())
    return true;
  if (batch < 1) {
    errs() << tool << ": --batch must be positive, got " << batch << "\n";
    return false;
  }
  options.batchSize = batch;
  return true;
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
  if (!batchOption(batch, "precis import", options))
    return 1;

  CompilerContext compiler;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      precis::importOnnxFile(compiler.context, input, options);
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
// Training step (shared by compile --train and train)
//===----------------------------------------------------------------------===//

/// `%.17g`: a double an option parser reads back exactly.
std::string exact(double x) { return formatv("{0}", format("%.17g", x)).str(); }

/// The optimizer flags of `precis train` and `precis compile --train`; construct one as a
/// function-local static so that only the running subcommand registers them.
struct OptimizerFlags {
  cl::opt<std::string> optimizer{"optimizer", cl::desc("sgd, adam or adamw"), cl::init("sgd")};
  cl::opt<double> momentum{"momentum", cl::desc("SGD momentum (default 0)"), cl::init(0)};
  cl::opt<double> weightDecay{
      "weight-decay", cl::desc("Weight decay (default: 0; adamw 0.01, decoupled)"), cl::init(0)};
  cl::opt<std::string> betas{"betas", cl::desc("Adam betas (default 0.9,0.999)"),
                             cl::value_desc("B1,B2")};
  cl::opt<double> eps{"eps", cl::desc("Adam epsilon"), cl::init(1e-8)};
  cl::opt<bool> lossScaling{
      "loss-scaling", cl::desc("Dynamic loss scaling (torch GradScaler: scale 2^16, x2 every "
                               "2000 clean steps, x0.5 and skip the step on inf/NaN)")};
  cl::opt<double> initScale{"init-scale", cl::desc("Initial loss scale (with --loss-scaling)"),
                            cl::init(65536.0)};

  /// Whether any of the flags was given.
  bool given() const {
    return optimizer.getNumOccurrences() || momentum.getNumOccurrences() ||
           weightDecay.getNumOccurrences() || betas.getNumOccurrences() ||
           eps.getNumOccurrences() || lossScaling.getNumOccurrences() ||
           initScale.getNumOccurrences();
  }

  /// Checks the flags and spells the passes that build the training step: precis-autodiff,
  /// precis-optimizer with its options, and precis-loss-scaling with --loss-scaling.
  /// Loss scaling is on with --loss-scaling, or by default when `scaleByDefault` (fp16);
  /// --loss-scaling=false turns it off.
  precis::rt::Status trainPipeline(std::string *pipeline, bool scaleByDefault = false) const {
    std::string options;
    PRECIS_RETURN_IF_ERROR(optimizerOptions(&options));
    *pipeline = "precis-autodiff,precis-optimizer{" + options + "}";
    const bool scaling = lossScaling.getNumOccurrences() ? bool(lossScaling) : scaleByDefault;
    if (initScale.getNumOccurrences() && !scaling)
      return precis::rt::invalidArgument("--init-scale needs --loss-scaling");
    if (!(initScale > 0) || !std::isfinite(initScale))
      return precis::rt::invalidArgument("--init-scale must be positive and finite");
    if (scaling)
      *pipeline += ",precis-loss-scaling{init-scale=" + exact(initScale) + "}";
    return precis::rt::Status::ok();
  }

  /// Checks the optimizer flags and spells them as precis-optimizer's options.
  precis::rt::Status optimizerOptions(std::string *options) const {
    if (optimizer != "sgd" && optimizer != "adam" && optimizer != "adamw")
      return precis::rt::invalidArgument("unknown optimizer '" + optimizer +
                                         "' (expected sgd, adam or adamw)");
    bool adam = optimizer != "sgd";
    if (!adam && (betas.getNumOccurrences() || eps.getNumOccurrences()))
      return precis::rt::invalidArgument("--betas and --eps are Adam options; --optimizer is sgd");
    if (adam && momentum.getNumOccurrences())
      return precis::rt::invalidArgument("--momentum is an SGD option; --optimizer is " +
                                         optimizer);
    *options = "optimizer=" + optimizer;
    if (!adam)
      *options += " momentum=" + exact(momentum);
    if (weightDecay.getNumOccurrences())
      *options += " weight-decay=" + exact(weightDecay);
    if (adam) {
      double beta1 = 0.9, beta2 = 0.999;
      if (betas.getNumOccurrences()) {
        auto [b1, b2] = StringRef(betas).split(',');
        if (b1.trim().getAsDouble(beta1) || b2.trim().getAsDouble(beta2) || beta1 < 0 ||
            beta1 >= 1 || beta2 < 0 || beta2 >= 1)
          return precis::rt::invalidArgument("--betas expects B1,B2 in [0, 1), got '" + betas +
                                             "'");
      }
      *options += " beta1=" + exact(beta1) + " beta2=" + exact(beta2) + " eps=" + exact(eps);
    }
    return precis::rt::Status::ok();
  }
};

/// The precision flags of `compile`, `train` and `report` (docs/precision.md); construct one
/// as a function-local static, like OptimizerFlags.
struct PrecisionFlags {
  cl::opt<std::string> precision{
      "precision", cl::desc("fp32, bf16, fp16, fp8 or auto (default fp32)"), cl::init("fp32")};
  cl::opt<std::string> rules{"rules",
                             cl::desc("JSON file of precision overrides by op kind or node name"),
                             cl::value_desc("rules.json")};
  cl::opt<std::string> fp8Recipe{
      "fp8-recipe", cl::desc("fp8 scaling: delayed (amax history, default) or current"),
      cl::init("delayed")};
  cl::opt<int64_t> fp8History{"fp8-history", cl::desc("fp8 amax history length (default 16)"),
                              cl::init(16)};
  cl::opt<std::string> fp8AmaxCompute{
      "fp8-amax-compute", cl::desc("max (default) or most_recent over the amax history"),
      cl::init("max")};
  cl::opt<int64_t> fp8Margin{"fp8-margin",
                             cl::desc("fp8 scale = fp8_max / amax / 2^margin (default 0)"),
                             cl::init(0)};
  cl::opt<std::string> calibrateData{
      "calibrate", cl::desc("--precision auto: measure on the first batch of this .npz"),
      cl::value_desc("data.npz")};
  cl::opt<double> tolerance{
      "tolerance",
      cl::desc("--precision auto: largest relative error against fp32 a GEMM may have in fp8 "
               "or bf16 (default 0.05)"),
      cl::init(0.05)};
  cl::opt<std::string> calibrationOut{
      "calibration-out", cl::desc("--precision auto: also keep the measurements (JSON)"),
      cl::value_desc("calibration.json")};

  /// Where `prepare` wrote the calibration evidence (--precision auto).
  std::string calibrationFile;

  /// Checks the flags and spells the pass pipeline that applies them ("" for plain fp32).
  /// For --precision auto, call `prepare` on the imported model first.
  precis::rt::Status pipeline(std::string *out) const {
    const std::string &p = precision;
    if (p != "fp32" && p != "bf16" && p != "fp16" && p != "fp8" && p != "auto")
      return precis::rt::invalidArgument("unknown precision '" + p +
                                         "' (expected fp32, bf16, fp16, fp8 or auto)");
    if (!rules.empty() && !sys::fs::exists(rules))
      return precis::rt::invalidArgument("cannot read the rules file '" + rules + "'");
    if (p == "auto" && calibrateData.empty())
      return precis::rt::invalidArgument(
          "--precision auto needs a calibration batch: --calibrate data.npz");
    if (p != "auto" && (calibrateData.getNumOccurrences() || tolerance.getNumOccurrences()))
      return precis::rt::invalidArgument("--calibrate and --tolerance go with --precision auto");
    if (!(tolerance > 0))
      return precis::rt::invalidArgument("--tolerance must be positive");
    out->clear();
    if (p == "fp32" && rules.empty())
      return precis::rt::Status::ok();
    *out = "precis-assign-precision{precision=" + p;
    if (!rules.empty())
      *out += " rules=" + rules;
    if (p == "auto")
      *out += " calibration=" + calibrationFile + " tolerance=" + exact(tolerance);
    *out += "},precis-insert-casts,canonicalize,cse";
    if (p == "fp8" || p == "auto") {
      if (fp8Recipe != "delayed" && fp8Recipe != "current")
        return precis::rt::invalidArgument("--fp8-recipe must be delayed or current");
      if (fp8AmaxCompute != "max" && fp8AmaxCompute != "most_recent")
        return precis::rt::invalidArgument("--fp8-amax-compute must be max or most_recent");
      if (fp8History < 1 || fp8Margin < 0)
        return precis::rt::invalidArgument("--fp8-history must be >= 1 and --fp8-margin >= 0");
      *out += ",precis-fp8-scaling{recipe=" + fp8Recipe + " history=" +
              std::to_string(fp8History) + " amax-compute=" + fp8AmaxCompute +
              " margin=" + std::to_string(fp8Margin) + "},canonicalize,cse";
    }
    return precis::rt::Status::ok();
  }

  /// --precision auto: runs the calibration batch through `module`'s fp32 @forward and writes
  /// the evidence the pipeline reads (to --calibration-out, or a temporary file). A no-op for
  /// other precisions; false after printing an error.
  bool prepare(mlir::ModuleOp module, StringRef tool) {
    if (precision != "auto")
      return true;
    if (!calibrationOut.empty()) {
      calibrationFile = calibrationOut;
    } else {
      SmallString<128> path;
      if (sys::fs::createTemporaryFile("precis-calibration", "json", path)) {
        errs() << tool << ": error: cannot create a temporary file\n";
        return false;
      }
      calibrationFile = path.str().str();
      removeCalibration = true;
    }
    errs() << tool << ": calibrating on the first batch of " << calibrateData << "\n";
    return precis::calibrate(module, calibrateData, calibrationFile, tool);
  }
  ~PrecisionFlags() {
    if (removeCalibration)
      sys::fs::remove(calibrationFile);
  }
  bool removeCalibration = false;
};

/// Runs `pipeline` (PrecisionFlags::pipeline) on `module`; false after printing diagnostics.
bool applyPrecision(mlir::ModuleOp module, StringRef pipeline, StringRef tool) {
  if (pipeline.empty())
    return true;
  precis::registerAllPasses();
  mlir::PassManager pm(module->getContext());
  std::string error;
  raw_string_ostream errorStream(error);
  if (failed(mlir::parsePassPipeline(pipeline, pm, errorStream))) {
    errs() << tool << ": error: cannot build the pipeline '" << pipeline << "': " << error << "\n";
    return false;
  }
  return succeeded(pm.run(module));
}

/// Runs `trainPipeline` (OptimizerFlags::trainPipeline) on `module`, adding @gradients and
/// @train_step; false after printing diagnostics.
bool addTrainStep(mlir::ModuleOp module, StringRef trainPipeline, StringRef tool) {
  precis::registerAllPasses();
  mlir::PassManager pm(module->getContext());
  std::string pipeline = trainPipeline.str();
  std::string error;
  raw_string_ostream errorStream(error);
  if (failed(mlir::parsePassPipeline(pipeline, pm, errorStream))) {
    errs() << tool << ": error: cannot build the pipeline '" << pipeline << "': " << error << "\n";
    return false;
  }
  return succeeded(pm.run(module));
}

//===----------------------------------------------------------------------===//
// compile
//===----------------------------------------------------------------------===//

/// Checks `--target`: cpu, or cuda when this build has NVRTC to compile its kernels.
bool targetOption(StringRef target, StringRef tool) {
  if (target == "cpu" || (target == "cuda" && precis::cudaCompilerAvailable()))
    return true;
  if (target == "cuda") {
    errs() << tool << ": error: the cuda target is not available in this build (the CUDA "
                      "toolkit was not found when it was configured); this build supports: cpu\n";
    return false;
  }
  errs() << tool << ": unsupported target '" << target << "' (this build supports: cpu"
         << (precis::cudaCompilerAvailable() ? ", cuda" : "") << ")\n";
  return false;
}

int runCompile(int argc, char **argv) {
  static cl::opt<std::string> input(cl::Positional, cl::Required,
                                    cl::desc("<model.onnx | model.onnxtxt | model.mlir>"));
  static cl::opt<std::string> output("o", cl::Required, cl::desc("Output artifact"),
                                     cl::value_desc("model.precis"));
  static cl::opt<std::string> target("target", cl::desc("Backend to compile for: cpu or cuda"),
                                     cl::init("cpu"));
  static cl::opt<std::string> arch("arch", cl::desc("GPU architecture of the cuda target"),
                                   cl::init("sm_90a"), cl::value_desc("sm_XX"));
  static cl::opt<std::string> dumpKernels(
      "dump-kernels", cl::desc("cuda target: also write each kernel's CUDA C++ and PTX to DIR"),
      cl::value_desc("DIR"));
  static cl::opt<int64_t> batch(
      "batch", cl::desc("Bind the symbolic leading dimension of the inputs"), cl::value_desc("N"));
  static cl::opt<bool> emitMlir("emit-mlir", cl::desc("Print the compiled precis IR"));
  static cl::opt<bool> noWeights(
      "no-weights", cl::desc("Store parameters without their data: the runtime initialises "
                             "them from a seed at load (docs/runtime.md)"));
  static cl::opt<uint64_t> initSeed("init-seed", cl::desc("--no-weights: the seed"),
                                    cl::init(0), cl::value_desc("S"));
  static cl::opt<bool> train(
      "train", cl::desc("Also compile the training step (@gradients, @train_step) for "
                        "'precis train'; the optimizer flags below are baked in"));
  static OptimizerFlags optimizerFlags;
  static PrecisionFlags precisionFlags;
  mlir::registerAsmPrinterCLOptions();
  cl::ParseCommandLineOptions(argc, argv,
                              "precis compile: model -> .precis artifact (inference, or "
                              "training with --train)\n");
  precis::ImportOptions options;
  if (!batchOption(batch, "precis compile", options) || !targetOption(target, "precis compile"))
    return 1;
  std::string optimizerOptions;
  if (!train && optimizerFlags.given()) {
    errs() << "precis compile: error: the optimizer flags need --train\n";
    return 1;
  }
  if (train) {
    if (precis::rt::Status s = optimizerFlags.trainPipeline(&optimizerOptions, precisionFlags.precision == "fp16"); !s) {
      errs() << "precis compile: error: " << s.message() << "\n";
      return 1;
    }
  }

  std::string precisionPipeline;
  if (precis::rt::Status s = precisionFlags.pipeline(&precisionPipeline); !s) {
    errs() << "precis compile: error: " << s.message() << "\n";
    return 1;
  }

  CompilerContext compiler;
  mlir::OwningOpRef<mlir::ModuleOp> module = loadModel(compiler.context, input, options);
  if (!module)
    return 1;
  if (!precisionFlags.prepare(*module, "precis compile") ||
      !precisionFlags.pipeline(&precisionPipeline))
    return 1;
  if (train && !addTrainStep(*module, optimizerOptions, "precis compile"))
    return 1;
  if (!applyPrecision(*module, precisionPipeline, "precis compile"))
    return 1;
  if (target == "cuda" && !StringRef(arch).starts_with("sm_")) {
    errs() << "precis compile: error: --arch expects sm_XX (e.g. sm_90a), got '" << arch << "'\n";
    return 1;
  }
  if (target != "cuda" && (arch.getNumOccurrences() || !dumpKernels.empty())) {
    errs() << "precis compile: error: --arch and --dump-kernels need --target cuda\n";
    return 1;
  }
  // The CUDA target runs each fusion group as one kernel (docs/cuda.md).
  if (target == "cuda" && !applyPrecision(*module, "func.func(precis-fuse)", "precis compile"))
    return 1;
  if (emitMlir)
    module->print(outs(), mlir::OpPrintingFlags());
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
  errs() << formatv("precis compile: wrote {0}: {1} ops, parameters {2} KiB, activations "
                    "{3} KiB (planned from {4} KiB)\n",
                    output, stats.numOps, stats.blobBytes / 1024, stats.arenaBytes / 1024,
                    stats.unplannedBytes / 1024);
  return 0;
}

//===----------------------------------------------------------------------===//
// run
//===----------------------------------------------------------------------===//

/// A session for `path`: an artifact is loaded as is, a model is compiled in memory first.
precis::rt::Status openSession(StringRef path, const precis::rt::SessionOptions &options,
                               int64_t batch, std::unique_ptr<precis::rt::Session> *session) {
  if (path.ends_with(".precis"))
    return precis::rt::Session::createFromFile(path.str(), options, session);
  CompilerContext compiler;
  precis::ImportOptions importOptions;
  if (batch > 0)
    importOptions.batchSize = batch;
  mlir::OwningOpRef<mlir::ModuleOp> module = loadModel(compiler.context, path, importOptions);
  std::vector<char> bytes;
  if (!module || failed(precis::buildArtifact(*module, {}, bytes)))
    return precis::rt::invalidArgument("cannot compile '" + path.str() + "'");
  return precis::rt::Session::createFromMemory(bytes.data(), bytes.size(), options, session);
}

/// Binds `named` tensors to `info`'s inputs, in order: every input must be present (`howToPass`
/// says, for a missing one, how to provide it) and every tensor must name an input.
precis::rt::Status
matchInputs(const precis::rt::FunctionInfo &info, const std::vector<precis::rt::NamedTensor> &named,
            function_ref<std::string(const std::string &)> howToPass,
            std::vector<precis::rt::TensorView> *args) {
  for (const precis::rt::NamedTensor &t : named)
    if (std::none_of(info.inputs.begin(), info.inputs.end(),
                     [&](const precis::rt::TensorInfo &in) { return in.name == t.name; }))
      return precis::rt::invalidArgument("'" + info.name + "' has no input named '" + t.name +
                                         "'");
  for (const precis::rt::TensorInfo &in : info.inputs) {
    auto it = std::find_if(named.begin(), named.end(),
                           [&](const precis::rt::NamedTensor &t) { return t.name == in.name; });
    if (it == named.end())
      return precis::rt::invalidArgument("missing input '" + in.name + "' (" +
                                         precis::rt::typeString(in.dtype, in.shape) +
                                         "): " + howToPass(in.name));
    args->push_back(it->tensor.view());
  }
  return precis::rt::Status::ok();
}

/// A file-name-safe version of an output name.
std::string fileNameFor(StringRef name, size_t index) {
  if (name.empty())
    return "output_" + std::to_string(index);
  std::string out;
  for (char c : name)
    out += (isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_') ? c : '_';
  return out;
}

int runRun(int argc, char **argv) {
  static cl::opt<std::string> model(cl::Positional, cl::Required,
                                    cl::desc("<model.precis | model.onnx | model.mlir>"));
  static cl::list<std::string> inputs("input", cl::desc("A function input from a .npy file"),
                                      cl::value_desc("NAME=file.npy"));
  static cl::opt<std::string> inputsNpz(
      "inputs", cl::desc("Function inputs from a .npz whose arrays are named after them"),
      cl::value_desc("file.npz"));
  static cl::opt<std::string> outputDir(
      "output-dir", cl::desc("Write each output to DIR/<name>.npy (default: print a summary)"),
      cl::value_desc("DIR"));
  static cl::opt<std::string> function("function", cl::desc("Function to run"),
                                       cl::init("forward"));
  static cl::opt<int> threads("num-threads", cl::desc("Threads (0: one per core)"), cl::init(0));
  static cl::opt<std::string> device(
      "device", cl::desc("Backend: cpu or cuda (default: the one the artifact was compiled for)"),
      cl::value_desc("cpu|cuda"));
  static cl::opt<int64_t> batch("batch", cl::desc("Bind the symbolic batch dimension (models)"),
                                cl::init(0));
  static cl::opt<bool> checkNumerics(
      "check-numerics", cl::desc("Fail at the first op whose output has a NaN or an infinity, "
                                 "naming it and its input ranges"));
  cl::ParseCommandLineOptions(argc, argv, "precis run: run an artifact or model on the CPU\n");
  const char *tool = "precis run";
  auto fail = [&](const precis::rt::Status &status) {
    errs() << tool << ": error: " << status.message() << "\n";
    return 1;
  };

  precis::rt::SessionOptions options;
  options.numThreads = threads;
  options.backend = device;
  options.checkNumerics = checkNumerics;
  std::unique_ptr<precis::rt::Session> session;
  if (precis::rt::Status s = openSession(model, options, batch, &session); !s)
    return fail(s);
  const precis::rt::FunctionInfo *info = session->findFunction(function);
  if (!info)
    return fail(precis::rt::notFound("the artifact has no function '" + function + "'"));

  // Gather the named inputs from --inputs and --input.
  std::vector<precis::rt::NamedTensor> named;
  if (!inputsNpz.empty())
    if (precis::rt::Status s = precis::rt::readNpz(inputsNpz, &named); !s)
      return fail(s);
  for (const std::string &spec : inputs) {
    auto [name, file] = StringRef(spec).split('=');
    if (name.empty() || file.empty())
      return fail(precis::rt::invalidArgument("--input expects NAME=file.npy, got '" + spec + "'"));
    precis::rt::NamedTensor tensor{name.str(), {}};
    if (precis::rt::Status s = precis::rt::readNpy(file.str(), &tensor.tensor); !s)
      return fail(s);
    named.push_back(std::move(tensor));
  }
  std::vector<precis::rt::TensorView> args;
  auto howToPass = [](const std::string &name) {
    return "pass --input " + name + "=file.npy or --inputs file.npz";
  };
  if (precis::rt::Status s = matchInputs(*info, named, howToPass, &args); !s)
    return fail(s);

  std::vector<precis::rt::Tensor> outputs;
  if (precis::rt::Status s = session->run(function, args, &outputs); !s)
    return fail(s);

  if (!outputDir.empty()) {
    if (std::error_code ec = sys::fs::create_directories(outputDir))
      return fail(precis::rt::ioError("cannot create '" + outputDir + "': " + ec.message()));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string &name = info->outputs[i].name;
    if (!outputDir.empty()) {
      SmallString<256> path(outputDir);
      sys::path::append(path, fileNameFor(name, i) + ".npy");
      if (precis::rt::Status s = precis::rt::writeNpy(path.str().str(), outputs[i].view()); !s)
        return fail(s);
      continue;
    }
    outs() << (name.empty() ? "output_" + std::to_string(i) : name) << ": "
           << precis::rt::typeString(outputs[i].dtype, outputs[i].shape);
    if (outputs[i].dtype == precis::rt::DType::F32) {
      outs() << " [";
      int64_t n = std::min<int64_t>(outputs[i].numElements(), 8);
      for (int64_t j = 0; j < n; ++j)
        outs() << (j ? ", " : "") << formatv("{0:e7}", outputs[i].as<float>()[j]);
      outs() << (outputs[i].numElements() > n ? ", ...]" : "]");
    }
    outs() << "\n";
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// bench
//===----------------------------------------------------------------------===//

/// A deterministic stand-in input for `precis bench` without --inputs (splitmix64 from a fixed
/// seed per input): floats uniform in [-1, 1), rounded to the input's dtype; integers and
/// booleans in {0, 1}, in range for any index, class or token input over at least two entries.
precis::rt::Tensor benchInput(const precis::rt::TensorInfo &info, uint64_t seed) {
  precis::rt::Tensor t;
  t.dtype = info.dtype;
  t.shape = info.shape;
  t.data.resize(t.view().byteSize());
  uint64_t state = seed;
  auto next = [&] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  auto uniform = [&] { return static_cast<float>(next() >> 40) * 0x1p-23f - 1.0f; };
  using precis::rt::DType;
  for (int64_t i = 0, n = t.numElements(); i < n; ++i) {
    switch (t.dtype) {
    case DType::F32:
      t.as<float>()[i] = uniform();
      break;
    case DType::F64:
      t.as<double>()[i] = uniform();
      break;
    case DType::F16:
      t.as<uint16_t>()[i] = precis::float_to_fp16(uniform());
      break;
    case DType::BF16:
      t.as<uint16_t>()[i] = precis::float_to_bf16(uniform());
      break;
    case DType::F8E4M3FN:
      t.as<uint8_t>()[i] = precis::float_to_fp8_e4m3fn(uniform());
      break;
    case DType::F8E5M2:
      t.as<uint8_t>()[i] = precis::float_to_fp8_e5m2(uniform());
      break;
    case DType::I64:
      t.as<int64_t>()[i] = next() >> 63;
      break;
    case DType::I32:
      t.as<int32_t>()[i] = static_cast<int32_t>(next() >> 63);
      break;
    case DType::I8:
    case DType::U8:
    case DType::Bool:
      t.as<uint8_t>()[i] = static_cast<uint8_t>(next() >> 63);
      break;
    case DType::Unspecified:
      break;
    }
  }
  return t;
}

int runBench(int argc, char **argv) {
  static cl::opt<std::string> model(cl::Positional, cl::Required,
                                    cl::desc("<model.precis | model.onnx | model.mlir>"));
  static cl::opt<std::string> inputsNpz(
      "inputs",
      cl::desc("Function inputs from a .npz whose arrays are named after them (default: "
               "deterministic random inputs, floats in [-1, 1), integers in {0, 1})"),
      cl::value_desc("file.npz"));
  static cl::opt<std::string> function("function", cl::desc("Function to time"),
                                       cl::init("forward"));
  static cl::opt<int> threads("num-threads", cl::desc("Threads (0: one per core)"), cl::init(0));
  static cl::opt<std::string> device(
      "device", cl::desc("Backend: cpu or cuda (default: the one the artifact was compiled for)"),
      cl::value_desc("cpu|cuda"));
  static cl::opt<int64_t> batch("batch", cl::desc("Bind the symbolic batch dimension (models)"),
                                cl::init(0));
  static cl::opt<int> warmup("warmup", cl::desc("Untimed runs first"), cl::init(10));
  static cl::opt<int> iterations("iterations", cl::desc("Timed runs"), cl::init(100));
  static cl::opt<std::string> jsonPath("json", cl::desc("Also write the numbers as JSON"),
                                       cl::value_desc("out.json"));
  cl::ParseCommandLineOptions(argc, argv,
                              "precis bench: time a function of an artifact or model on the "
                              "CPU\n");
  const char *tool = "precis bench";
  auto fail = [&](const precis::rt::Status &status) {
    errs() << tool << ": error: " << status.message() << "\n";
    return 1;
  };
  if (iterations < 1)
    return fail(precis::rt::invalidArgument("--iterations must be positive, got " +
                                            std::to_string(iterations)));
  if (warmup < 0)
    return fail(precis::rt::invalidArgument("--warmup must not be negative, got " +
                                            std::to_string(warmup)));

  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
  precis::rt::SessionOptions options;
  options.numThreads = threads;
  options.backend = device;
  std::unique_ptr<precis::rt::Session> session;
  const Clock::time_point loadStart = Clock::now();
  if (precis::rt::Status s = openSession(model, options, batch, &session); !s)
    return fail(s);
  const double loadMs = ms(Clock::now() - loadStart);
  const precis::rt::FunctionInfo *info = session->findFunction(function);
  if (!info)
    return fail(precis::rt::notFound("the artifact has no function '" + function + "'"));

  // Inputs from the .npz, or deterministic random ones.
  std::vector<precis::rt::NamedTensor> named;
  if (!inputsNpz.empty()) {
    if (precis::rt::Status s = precis::rt::readNpz(inputsNpz, &named); !s)
      return fail(s);
  } else {
    for (size_t i = 0; i < info->inputs.size(); ++i)
      named.push_back({info->inputs[i].name, benchInput(info->inputs[i], /*seed=*/i + 1)});
  }
  std::vector<precis::rt::TensorView> args;
  auto notInFile = [&](const std::string &) { return "not in " + inputsNpz; };
  if (precis::rt::Status s = matchInputs(*info, named, notInFile, &args); !s)
    return fail(s);

  std::vector<precis::rt::Tensor> outputs;
  for (int i = 0; i < warmup; ++i)
    if (precis::rt::Status s = session->run(function, args, &outputs); !s)
      return fail(s);
  std::vector<double> samples;
  samples.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    const Clock::time_point start = Clock::now();
    if (precis::rt::Status s = session->run(function, args, &outputs); !s)
      return fail(s);
    samples.push_back(ms(Clock::now() - start));
  }
  double total = 0;
  for (double t : samples)
    total += t;
  const double mean = total / samples.size();
  std::sort(samples.begin(), samples.end());
  const size_t mid = samples.size() / 2;
  const double median = samples.size() % 2 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2;
  const double throughput = 1000.0 / mean;
  const int numThreads = threads
                             ? threads.getValue()
                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::string inputsDesc = inputsNpz.empty() ? "random" : inputsNpz.getValue();

  outs() << formatv("model:      {0}\n"
                    "function:   {1}\n"
                    "inputs:     {2}\n"
                    "threads:    {3}\n"
                    "load:       {4:f3} ms\n"
                    "iterations: {5} timed, after {6} warmup\n"
                    "latency:    min {7:f4} ms, median {8:f4} ms, mean {9:f4} ms\n"
                    "throughput: {10:f1} iterations/s\n",
                    model, function, inputsDesc, numThreads, loadMs, iterations, warmup,
                    samples.front(), median, mean, throughput);

  if (!jsonPath.empty()) {
    json::Object result{
        {"model", model.getValue()},
        {"function", function.getValue()},
        {"inputs", inputsDesc},
        {"threads", numThreads},
        {"warmup", warmup.getValue()},
        {"iterations", iterations.getValue()},
        {"load_ms", loadMs},
        {"latency_ms", json::Object{{"min", samples.front()}, {"median", median}, {"mean", mean}}},
        {"throughput_per_s", throughput}};
    std::error_code ec;
    raw_fd_ostream os(jsonPath, ec);
    if (ec)
      return fail(precis::rt::ioError("cannot write '" + jsonPath + "': " + ec.message()));
    os << formatv("{0:2}", json::Value(std::move(result))) << "\n";
    os.close();
    if (os.has_error()) {
      os.clear_error();
      return fail(precis::rt::ioError("cannot write '" + jsonPath + "'"));
    }
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// train
//===----------------------------------------------------------------------===//

/// Imports `path`, adds its training step with `optimizerOptions` and compiles the module
/// into `*bytes`; false after printing diagnostics.
bool compileTrainStep(StringRef path, int64_t batch, StringRef optimizerOptions,
                      PrecisionFlags &precisionFlags, std::vector<char> *bytes) {
  CompilerContext compiler;
  precis::ImportOptions importOptions;
  if (batch > 0)
    importOptions.batchSize = batch;
  mlir::OwningOpRef<mlir::ModuleOp> module = loadModel(compiler.context, path, importOptions);
  std::string precisionPipeline;
  return module && precisionFlags.prepare(*module, "precis train") &&
         precisionFlags.pipeline(&precisionPipeline) &&
         addTrainStep(*module, optimizerOptions, "precis train") &&
         applyPrecision(*module, precisionPipeline, "precis train") &&
         succeeded(precis::buildArtifact(*module, {}, *bytes));
}

int runTrain(int argc, char **argv) {
  static cl::opt<std::string> model(
      cl::Positional, cl::Required,
      cl::desc("<model.onnx | model.onnxtxt | model.mlir | model.precis (compiled --train)>"));
  static cl::opt<std::string> dataPath(
      "data", cl::desc("Training data: an .npz with one array per model input, rows first"),
      cl::value_desc("data.npz"));
  static cl::opt<int64_t> steps("steps", cl::desc("Train until this many steps are done"),
                                cl::value_desc("N"), cl::init(0));
  static cl::opt<int64_t> batchSize(
      "batch-size", cl::desc("Rows per step (default: the model's batch dimension)"),
      cl::value_desc("B"), cl::init(0));
  static OptimizerFlags optimizerFlags;
  static PrecisionFlags precisionFlags;
  static cl::opt<double> lr("lr", cl::desc("Learning rate (required)"), cl::init(0));
  static cl::opt<std::string> logPath(
      "log", cl::desc("Write one JSON object per step ({\"step\", \"loss\"}, and "
                      "\"loss_scale\" with loss scaling) to this file"),
      cl::value_desc("losses.jsonl"));
  static cl::opt<std::string> checkpointDir("checkpoint-dir",
                                            cl::desc("Write checkpoints (step-NNNNNNNN.npz) here"),
                                            cl::value_desc("DIR"));
  static cl::opt<int64_t> checkpointEvery(
      "checkpoint-every", cl::desc("Checkpoint every K steps (default: only after the last)"),
      cl::value_desc("K"), cl::init(0));
  static cl::opt<std::string> resume(
      "resume",
      cl::desc("Continue from the latest checkpoint in DIR (and keep writing there "
               "unless --checkpoint-dir says otherwise)"),
      cl::value_desc("DIR"));
  static cl::opt<int64_t> shuffleSeed(
      "shuffle", cl::desc("Permute the rows once, seeded (Fisher-Yates with splitmix64)"),
      cl::value_desc("SEED"), cl::init(-1));
  static cl::opt<int> threads("num-threads", cl::desc("Threads (0: one per core)"), cl::init(0));
  static cl::opt<std::string> device(
      "device", cl::desc("Backend: cpu or cuda (default: the one the artifact was compiled for)"),
      cl::value_desc("cpu|cuda"));
  static cl::opt<bool> checkNumerics(
      "check-numerics", cl::desc("Fail at the first op whose output has a NaN or an infinity, "
                                 "naming it, its phase and its input ranges"));
  cl::ParseCommandLineOptions(argc, argv,
                              "precis train: compile the training step of a model and run it "
                              "over a dataset on the CPU\n");
  const char *tool = "precis train";
  auto fail = [&](const precis::rt::Status &status) {
    errs() << tool << ": error: " << status.message() << "\n";
    return 1;
  };
  auto usage = [&](const std::string &message) {
    return fail(precis::rt::invalidArgument(message));
  };

  // Flags.
  if (dataPath.empty())
    return usage("--data is required: an .npz with one array per model input");
  if (steps < 1)
    return usage("--steps must be positive (the number of steps to train to)");
  if (batchSize.getNumOccurrences() && batchSize < 1)
    return usage("--batch-size must be positive, got " + std::to_string(batchSize));
  if (!lr.getNumOccurrences() || !(lr > 0))
    return usage("--lr is required and must be positive");
  if (checkpointEvery < 0 || (checkpointEvery && checkpointDir.empty() && resume.empty()))
    return usage("--checkpoint-every needs --checkpoint-dir and a positive K");

  // Compile and open the training step; an artifact compiled with --train has it already,
  // with its optimizer baked in.
  const bool artifact = StringRef(model).ends_with(".precis");
  precis::rt::SessionOptions sessionOptions;
  sessionOptions.numThreads = threads;
  sessionOptions.backend = device;
  sessionOptions.checkNumerics = checkNumerics;
  std::unique_ptr<precis::rt::TrainingSession> session;
  if (artifact) {
    if (optimizerFlags.given())
      return usage("--optimizer, --momentum, --weight-decay, --betas, --eps and --loss-scaling "
                   "were fixed when " +
                   model + " was compiled (precis compile --train); drop them");
    if (precisionFlags.precision.getNumOccurrences() || precisionFlags.rules.getNumOccurrences())
      return usage("--precision and --rules were fixed when " + model +
                   " was compiled (precis compile --train); drop them");
    if (precis::rt::Status s =
            precis::rt::TrainingSession::createFromFile(model, sessionOptions, &session);
        !s)
      return fail(s);
  } else {
    std::string options;
    if (precis::rt::Status s = optimizerFlags.trainPipeline(&options, precisionFlags.precision == "fp16"); !s)
      return fail(s);
    std::string precisionPipeline;
    if (precis::rt::Status s = precisionFlags.pipeline(&precisionPipeline); !s)
      return fail(s);
    std::vector<char> bytes;
    if (!compileTrainStep(model, batchSize, options, precisionFlags, &bytes))
      return fail(
          precis::rt::invalidArgument("cannot compile the training step of '" + model + "'"));
    if (precis::rt::Status s = precis::rt::TrainingSession::createFromMemory(
            bytes.data(), bytes.size(), sessionOptions, &session);
        !s)
      return fail(s);
  }
  for (const precis::rt::TensorInfo &in : session->batchInputs())
    if (batchSize > 0 && (in.shape.empty() || in.shape[0] != batchSize))
      return usage("--batch-size " + std::to_string(batchSize) + " does not match input '" +
                   in.name + "' (" + precis::rt::typeString(in.dtype, in.shape) +
                   "), whose batch dimension the model fixes");

  // Resume: the state, the data cursor and the shuffle seed.
  if (!resume.empty()) {
    std::string path;
    if (precis::rt::Status s = session->loadCheckpoint(resume, &path); !s)
      return fail(s);
    if (shuffleSeed.getNumOccurrences() && shuffleSeed != session->shuffleSeed())
      return usage("--shuffle " + std::to_string(shuffleSeed) + " differs from the seed " +
                   std::to_string(session->shuffleSeed()) + " " + path + " was trained with");
    errs() << formatv("{0}: resuming from {1} (step {2})\n", tool, path, session->dataCursor());
  }
  if (precis::rt::Status s = session->openData(dataPath, shuffleSeed); !s)
    return fail(s);
  const std::string saveDir = checkpointDir.empty() ? resume.getValue() : checkpointDir.getValue();

  std::unique_ptr<raw_fd_ostream> log;
  if (!logPath.empty()) {
    std::error_code ec;
    log = std::make_unique<raw_fd_ostream>(logPath, ec);
    if (ec)
      return fail(precis::rt::ioError("cannot write '" + logPath + "'" + ": " + ec.message()));
  }

  // The loop: one batch per step. Steps count batches (the data cursor): with loss scaling, a
  // skipped step leaves the optimizer's step counter behind, as in torch.
  using Clock = std::chrono::steady_clock;
  const int64_t first = session->dataCursor();
  if (first >= steps)
    errs() << formatv("{0}: already at step {1}; nothing to do for --steps {2}\n", tool, first,
                      steps.getValue());
  const int64_t every = std::max<int64_t>(1, (steps - first) / 50);
  Clock::time_point start = Clock::now();
  for (int64_t step = first + 1; step <= steps; ++step) {
    float loss = 0;
    if (precis::rt::Status s = session->step(static_cast<float>(lr), &loss); !s)
      return fail(precis::rt::withContext(s, "step " + std::to_string(step)));
    if (log) {
      json::Object entry{{"step", step}, {"loss", static_cast<double>(loss)}};
      if (session->hasLossScale()) // the scale after this step's update, as scaler.get_scale()
        entry["loss_scale"] = static_cast<double>(session->lossScale());
      *log << json::Value(std::move(entry)) << "\n";
      log->flush();
    }
    if (step % every == 0 || step == steps) {
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      errs() << formatv("step {0}/{1}  loss {2:f7}  {3:f1} steps/s\n", step, steps, loss,
                        (step - first) / std::max(seconds, 1e-9));
    }
    if (!saveDir.empty() && ((checkpointEvery > 0 && step % checkpointEvery == 0) || step == steps)) {
      std::string path;
      if (precis::rt::Status s = session->saveCheckpoint(saveDir, &path); !s)
        return fail(s);
      errs() << tool << ": wrote " << path << "\n";
    }
  }
  if (log && log->has_error()) {
    log->clear_error();
    return fail(precis::rt::ioError("cannot write '" + logPath + "'"));
  }
  return 0;
}

//===----------------------------------------------------------------------===//
// export
//===----------------------------------------------------------------------===//

int runExport(int argc, char **argv) {
  static cl::opt<std::string> model(cl::Positional, cl::Required,
                                    cl::desc("<model.onnx (binary)>"));
  static cl::opt<std::string> checkpoint(
      "checkpoint", cl::Required,
      cl::desc("A checkpoint (step-NNNNNNNN.npz), or a directory: its latest checkpoint"),
      cl::value_desc("FILE|DIR"));
  static cl::opt<std::string> output("o", cl::Required, cl::desc("Output model"),
                                     cl::value_desc("trained.onnx"));
  cl::ParseCommandLineOptions(argc, argv,
                              "precis export: write a checkpoint's parameters into the "
                              "initializers of an ONNX model\n");
  const char *tool = "precis export";
  std::vector<precis::rt::NamedTensor> arrays;
  std::string path;
  int replaced = 0;
  precis::rt::Status s = precis::rt::readCheckpoint(checkpoint, &arrays, &path);
  if (s)
    s = precis::train::exportOnnx(model, arrays, output, &replaced);
  if (!s) {
    errs() << tool << ": error: " << s.message() << "\n";
    return 1;
  }
  errs() << formatv("{0}: wrote {1}: {2} parameters from {3}\n", tool, output, replaced, path);
  return 0;
}

//===----------------------------------------------------------------------===//
// Dispatch.
//===----------------------------------------------------------------------===//

//===----------------------------------------------------------------------===//
// report
//===----------------------------------------------------------------------===//

/// One row of the precision report.
struct ReportRow {
  std::string node, op, phase, in, out, acc, rule, reason;
};

/// The rows of `fn`: every op with a precision decision, in execution order.
std::vector<ReportRow> reportRows(mlir::func::FuncOp fn) {
  std::vector<ReportRow> rows;
  for (mlir::Operation &op : fn.getBody().front().without_terminator()) {
    std::optional<mlir::precis::Decision> d = mlir::precis::Decision::fromOp(&op);
    if (!d)
      continue;
    ReportRow row;
    row.node = mlir::precis::nodeName(op.getLoc()).str();
    row.op = op.getName().stripDialect().str();
    auto phase = op.getAttrOfType<mlir::StringAttr>(mlir::precis::kPhase);
    row.phase = phase ? phase.getValue().str() : "forward";
    row.in = d->in;
    row.out = d->out;
    row.acc = d->acc;
    row.rule = d->rule;
    row.reason = d->reason;
    rows.push_back(std::move(row));
  }
  return rows;
}

int runReport(int argc, char **argv) {
  static cl::opt<std::string> input(cl::Positional, cl::Required,
                                    cl::desc("<model.onnx | model.onnxtxt | model.mlir>"));
  static PrecisionFlags precisionFlags;
  static cl::opt<std::string> jsonPath("json", cl::desc("Also write the report as JSON"),
                                       cl::value_desc("report.json"));
  static cl::opt<bool> train(
      "train", cl::desc("Report the training step (forward, backward and optimizer ops) "
                        "instead of the forward function"));
  static OptimizerFlags optimizerFlags;
  static cl::opt<int64_t> batch(
      "batch", cl::desc("Bind the symbolic leading dimension of the inputs"), cl::value_desc("N"));
  static cl::opt<bool> all("all", cl::desc("List constants, parameters and inserted casts too"));
  cl::ParseCommandLineOptions(argc, argv,
                              "precis report: which precision every op runs in, and why\n");
  const char *tool = "precis report";
  precis::ImportOptions options;
  if (!batchOption(batch, tool, options))
    return 1;
  if (!train && optimizerFlags.given()) {
    errs() << tool << ": error: the optimizer flags need --train\n";
    return 1;
  }
  std::string optimizerOptions, pipeline;
  if (precis::rt::Status s = optimizerFlags.trainPipeline(&optimizerOptions, precisionFlags.precision == "fp16"); train && !s) {
    errs() << tool << ": error: " << s.message() << "\n";
    return 1;
  }
  // fp32 is a decision too: the report always runs the passes.
  precis::rt::Status ps = precisionFlags.pipeline(&pipeline);
  if (!ps) {
    errs() << tool << ": error: " << ps.message() << "\n";
    return 1;
  }
  if (pipeline.empty())
    pipeline = "precis-assign-precision{precision=fp32},precis-insert-casts,canonicalize,cse";

  CompilerContext compiler;
  mlir::OwningOpRef<mlir::ModuleOp> module = loadModel(compiler.context, input, options);
  if (!module || !precisionFlags.prepare(*module, tool))
    return 1;
  if (precisionFlags.precision == "auto" && !precisionFlags.pipeline(&pipeline))
    return 1;
  if ((train && !addTrainStep(*module, optimizerOptions, tool)) ||
      !applyPrecision(*module, pipeline, tool))
    return 1;
  StringRef fnName = train ? "train_step" : "forward";
  auto fn = module->lookupSymbol<mlir::func::FuncOp>(fnName);
  if (!fn) {
    errs() << tool << ": error: the module has no @" << fnName << "\n";
    return 1;
  }
  std::vector<ReportRow> rows = reportRows(fn);

  // The table: every op that computes, then a summary.
  std::map<std::string, int> byPrecision;
  int casts = 0, scaling = 0;
  std::vector<const ReportRow *> shown;
  for (const ReportRow &row : rows) {
    bool value = row.rule == "value" || row.rule == "no-float";
    if (row.rule == "cast" || row.rule == "fp8.scaling")
      ++(row.rule == "cast" ? casts : scaling);
    else if (!value)
      ++byPrecision[row.out.empty() ? row.in : row.out];
    if (all || (!value && row.rule != "cast" && row.rule != "fp8.scaling"))
      shown.push_back(&row);
  }
  size_t wNode = 4, wOp = 2, wPhase = 5, wIn = 2, wOut = 3, wAcc = 3, wRule = 4;
  for (const ReportRow *r : shown) {
    wNode = std::max(wNode, r->node.size());
    wOp = std::max(wOp, r->op.size());
    wPhase = std::max(wPhase, r->phase.size());
    wIn = std::max(wIn, r->in.size());
    wOut = std::max(wOut, r->out.size());
    wAcc = std::max(wAcc, r->acc.size());
    wRule = std::max(wRule, r->rule.size());
  }
  wNode = std::min<size_t>(wNode, 40);
  auto line = [&](StringRef node, StringRef op, StringRef phase, StringRef in, StringRef out,
                  StringRef acc, StringRef rule, StringRef reason) {
    outs() << left_justify(node, wNode) << "  " << left_justify(op, wOp) << "  ";
    if (train)
      outs() << left_justify(phase, wPhase) << "  ";
    outs() << left_justify(in, wIn) << "  " << left_justify(out, wOut) << "  "
           << left_justify(acc, wAcc) << "  " << left_justify(rule, wRule) << "  " << reason
           << "\n";
  };
  outs() << "precision report: " << input << ", @" << fnName << ", --precision "
         << precisionFlags.precision << "\n\n";
  line("node", "op", "phase", "in", "out", "acc", "rule", "reason");
  for (const ReportRow *r : shown)
    line(r->node.empty() ? "-" : r->node, r->op, r->phase, r->in.empty() ? "-" : r->in,
         r->out.empty() ? "-" : r->out, r->acc.empty() ? "-" : r->acc, r->rule, r->reason);
  outs() << "\n" << rows.size() << " ops:";
  for (auto &[p, n] : byPrecision)
    outs() << " " << n << " " << p << ",";
  outs() << " " << casts << " casts inserted";
  if (scaling)
    outs() << ", " << scaling << " fp8 scaling ops";
  outs() << " (--all lists them)\n";

  if (!jsonPath.empty()) {
    json::Array ops;
    for (const ReportRow &r : rows)
      ops.push_back(json::Object{{"node", r.node}, {"op", r.op}, {"phase", r.phase},
                                 {"in", r.in}, {"out", r.out}, {"acc", r.acc},
                                 {"rule", r.rule}, {"reason", r.reason}});
    json::Object summary;
    for (auto &[p, n] : byPrecision)
      summary[p] = n;
    summary["casts"] = casts;
    summary["fp8_scaling_ops"] = scaling;
    json::Value doc = json::Object{{"model", input.getValue()},
                                   {"function", fnName},
                                   {"precision", precisionFlags.precision.getValue()},
                                   {"ops", std::move(ops)},
                                   {"summary", std::move(summary)}};
    if (Error err = writeToOutput(jsonPath, [&](raw_ostream &os) {
          os << formatv("{0:2}", doc) << "\n";
          return Error::success();
        })) {
      errs() << tool << ": error: cannot write '" << jsonPath << "': " << toString(std::move(err))
             << "\n";
      return 1;
    }
  }
  return 0;
}

const Subcommand subcommands[] = {
    {"import", "ONNX model -> precis IR (func.func @forward)", runImport},
    {"compile", "model -> inference artifact (.precis)", runCompile},
    {"train", "train a model on an .npz dataset (sgd, adam, adamw), with checkpoints", runTrain},
    {"run", "run an artifact or model on .npy/.npz inputs", runRun},
    {"report", "which precision every op runs in, and why", runReport},
    {"export", "write a checkpoint's parameters back into an ONNX model", runExport},
    {"bench", "time a function of an artifact or model on the CPU", runBench},
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
