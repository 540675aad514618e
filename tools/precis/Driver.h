//===- Driver.h - what the precis subcommands share ----------------------*- C++ -*-===//
//
// The pieces every subcommand of the `precis` driver uses: a compiler context that prints
// diagnostics as `file[:line:col]: [node 'name': ]error: message`, model loading, the shared
// option groups, and the entry point of each subcommand (one file each).
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TOOLS_PRECIS_DRIVER_H
#define PRECIS_TOOLS_PRECIS_DRIVER_H

#include "precis/Compiler/Compiler.h"
#include "precis/Import/OnnxImporter.h"
#include "precis/Pipelines/Pipelines.h"
#include "precis/runtime/Npy.h"
#include "precis/runtime/Session.h"
#include "precis/schema/Names.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/JSON.h"

#include <memory>
#include <string>
#include <vector>

namespace precis::driver {

using llvm::StringRef;
namespace cl = llvm::cl;

/// A compiler context (precis/Compiler/Compiler.h) whose diagnostics go to stderr.
struct CompilerContext : precis::CompilerContext {
  CompilerContext();
};

using precis::loadModel;

/// How the driver prints IR: without the data of parameters and large constants (their
/// `dense_resource` blobs) unless `printData`. IR to compile again needs the data.
mlir::OpPrintingFlags irPrintingFlags(bool printData);

/// Parses `--batch`; false after printing an error.
bool batchOption(const llvm::cl::opt<int64_t> &batch, llvm::StringRef tool, ImportOptions &options);

/// A session for `path`: an artifact is loaded as is, a model is compiled in memory first.
/// When the model's import needs the values of graph inputs (a Reshape's shape, Slice's
/// starts, ...) and `inputs` holds them, the model is specialised on them (ImportOptions::bind):
/// they leave `inputs` and the compiled function has no such inputs.
rt::Status openSession(llvm::StringRef path, const rt::SessionOptions &options, int64_t batch,
                       std::unique_ptr<rt::Session> *session,
                       std::vector<rt::NamedTensor> *inputs = nullptr);

/// Parses `--bind NAME=file.npy` values into `options.bind`.
rt::Status bindOptions(const std::vector<std::string> &specs, ImportOptions &options);

/// Binds `named` tensors to `info`'s inputs, in order: every input must be present (`howToPass`
/// says, for a missing one, how to provide it) and every tensor must name an input.
rt::Status matchInputs(const rt::FunctionInfo &info, const std::vector<rt::NamedTensor> &named,
                       llvm::function_ref<std::string(const std::string &)> howToPass,
                       std::vector<rt::TensorView> *args);

/// The option category of every subcommand's options. Options are function-local statics
/// of the subcommand that runs, so only its own are registered; `parseCommandLine` hides
/// everything else (LLVM's and MLIR's global options) from `--help`.
cl::OptionCategory &optionCategory();

/// cl::ParseCommandLineOptions with `--help` listing the subcommand's options only.
void parseCommandLine(int argc, char **argv, StringRef overview);

/// The optimizer flags of `precis train`, `compile --train` and `report --train`; construct
/// one as a function-local static so that only the running subcommand registers them.
struct OptimizerFlags {
  cl::opt<std::string> optimizer{"optimizer", cl::desc("sgd, adam or adamw"), cl::init("sgd"),
                                 cl::cat(optionCategory())};
  cl::opt<double> momentum{"momentum", cl::desc("SGD momentum (default 0)"), cl::init(0),
                           cl::cat(optionCategory())};
  cl::opt<double> weightDecay{"weight-decay",
                              cl::desc("Weight decay (default: 0; adamw 0.01, decoupled)"),
                              cl::init(0), cl::cat(optionCategory())};
  cl::opt<std::string> betas{"betas", cl::desc("Adam betas (default 0.9,0.999)"),
                             cl::value_desc("B1,B2"), cl::cat(optionCategory())};
  cl::opt<double> eps{"eps", cl::desc("Adam epsilon"), cl::init(1e-8), cl::cat(optionCategory())};
  cl::opt<bool> lossScaling{
      "loss-scaling",
      cl::desc("Dynamic loss scaling (torch GradScaler: scale 2^16, x2 every 2000 clean steps, "
               "x0.5 and skip the step on inf/NaN; default on for fp16)"),
      cl::cat(optionCategory())};
  cl::opt<double> initScale{"init-scale", cl::desc("Initial loss scale (with --loss-scaling)"),
                            cl::init(65536.0), cl::cat(optionCategory())};
  cl::opt<bool> dataParallel{
      "data-parallel",
      cl::desc("All-reduce the gradients across the ranks of an MPI job (docs/distributed.md; "
               "precis train turns it on under mpirun)"),
      cl::cat(optionCategory())};
  cl::opt<double> bucketMb{"bucket-mb",
                           cl::desc("Data-parallel: MiB of gradients per all-reduce (default 4)"),
                           cl::init(4.0), cl::cat(optionCategory())};
  cl::opt<std::string> gradReduction{
      "grad-reduction", cl::desc("Data-parallel: mean (default) or sum of the ranks' gradients"),
      cl::init("mean"), cl::cat(optionCategory())};
  cl::opt<int64_t> zeroStage{
      "zero-stage",
      cl::desc("Data-parallel: 1 shards the optimizer state across the ranks (ZeRO stage 1)"),
      cl::init(0), cl::cat(optionCategory())};
  cl::opt<int64_t> worldSize{
      "world-size",
      cl::desc("--zero-stage 1: the number of ranks (precis train: the job's, under mpirun)"),
      cl::init(1), cl::cat(optionCategory())};
  cl::opt<std::string> trainable{
      "trainable",
      cl::desc("Also train the initializers whose whole name matches REGEX (docs/training.md, "
               "\"What is trained\")"),
      cl::value_desc("REGEX"), cl::cat(optionCategory())};
  cl::opt<std::string> frozen{
      "frozen",
      cl::desc("Do not train the initializers whose whole name matches REGEX (wins "
               "over --trainable)"),
      cl::value_desc("REGEX"), cl::cat(optionCategory())};
  cl::opt<uint64_t> seed{"seed",
                         cl::desc("Seed of training-mode dropout's Philox stream (default 0; "
                                  "checkpoints carry the stream; on a --train artifact it "
                                  "replaces the compiled seed)"),
                         cl::init(0), cl::cat(optionCategory())};

  /// Set by `precis train` under mpirun, where --data-parallel goes without saying and the
  /// world size is the job's (0 otherwise).
  bool dataParallelImplied = false;
  int64_t impliedWorldSize = 0;

  /// Whether any of the flags was given.
  bool given() const;
  /// Whether any flag but --seed (which is training state, not the step's) was given.
  bool stepFlagsGiven() const;
  /// Checks the flags (combinations that only a command line can get wrong, like --betas
  /// with sgd) and fills `*out`; `precision` decides whether loss scaling is on by default.
  rt::Status toOptions(PrecisionPolicy precision, TrainOptions *out) const;
};

/// The precision flags of `compile`, `train` and `report` (docs/precision.md); construct one
/// as a function-local static, like OptimizerFlags.
struct PrecisionFlags {
  cl::opt<std::string> precision{"precision",
                                 cl::desc("fp32, bf16, fp16, fp8 or auto (default fp32)"),
                                 cl::init("fp32"), cl::cat(optionCategory())};
  cl::opt<std::string> rules{"rules",
                             cl::desc("JSON file of precision overrides by op kind or node name"),
                             cl::value_desc("rules.json"), cl::cat(optionCategory())};
  cl::opt<std::string> fp8Recipe{
      "fp8-recipe", cl::desc("fp8 scaling: delayed (amax history, default) or current"),
      cl::init("delayed"), cl::cat(optionCategory())};
  cl::opt<int64_t> fp8History{"fp8-history", cl::desc("fp8 amax history length (default 16)"),
                              cl::init(16), cl::cat(optionCategory())};
  cl::opt<std::string> fp8AmaxCompute{
      "fp8-amax-compute", cl::desc("max (default) or most_recent over the amax history"),
      cl::init("max"), cl::cat(optionCategory())};
  cl::opt<int64_t> fp8Margin{"fp8-margin",
                             cl::desc("fp8 scale = fp8_max / amax / 2^margin (default 0)"),
                             cl::init(0), cl::cat(optionCategory())};
  cl::opt<std::string> calibrateData{
      "calibrate", cl::desc("--precision auto: measure on the first batch of this .npz"),
      cl::value_desc("data.npz"), cl::cat(optionCategory())};
  cl::opt<double> tolerance{
      "tolerance",
      cl::desc("--precision auto: largest relative error against fp32 a GEMM may have in fp8 "
               "or bf16 (default 0.05)"),
      cl::init(0.05), cl::cat(optionCategory())};
  cl::opt<std::string> calibrationOut{
      "calibration-out", cl::desc("--precision auto: also keep the measurements (JSON)"),
      cl::value_desc("calibration.json"), cl::cat(optionCategory())};

  /// Checks the flags and fills `*out`.
  rt::Status toOptions(PrecisionOptions *out) const;
};

/// Fills `*out` from the flags; with `train`, the training step's options too (without it,
/// giving an optimizer flag is an error).
rt::Status toCompileOptions(const PrecisionFlags &precisionFlags,
                            const OptimizerFlags &optimizerFlags, bool train, CompileOptions *out);

/// The flags of the subcommands that open a session on an artifact or model and run one of
/// its functions (run, bench); construct one as a function-local static.
struct SessionFlags {
  cl::opt<std::string> model{cl::Positional, cl::Required,
                             cl::desc("<model.precis | model.onnx | model.mlir>"),
                             cl::cat(optionCategory())};
  cl::opt<std::string> function{"function", cl::desc("Function to run"), cl::init(names::kForward),
                                cl::cat(optionCategory())};
  cl::opt<int> threads{"num-threads", cl::desc("Threads (0: one per core)"), cl::init(0),
                       cl::cat(optionCategory())};
  cl::opt<std::string> device{
      "device", cl::desc("Backend: cpu or cuda (default: the one the artifact was compiled for)"),
      cl::value_desc("cpu|cuda"), cl::cat(optionCategory())};
  cl::opt<int64_t> batch{"batch", cl::desc("Bind the symbolic batch dimension (models)"),
                         cl::init(0), cl::cat(optionCategory())};

  /// The session options the flags give.
  rt::SessionOptions sessionOptions() const;
};

/// Runs the training pipeline (`options.train` set) or the inference pipeline on `module`;
/// false after printing diagnostics.
bool runPipeline(mlir::ModuleOp module, const CompileOptions &options, StringRef tool);

/// The self-contained pages (Html.cpp; templates in tools/precis/html/, docs/pictures.md).
enum class PageKind { Report, Plot };
/// The page's template with `data` spliced in as its JSON.
std::string fillPage(PageKind kind, const llvm::json::Value &data);
/// Writes the page to `path`, or with a `.png` path its screenshot by headless Chromium;
/// false after printing an error. Nothing is left at `path` on failure.
bool writePage(StringRef path, PageKind kind, const llvm::json::Value &data, StringRef tool);
/// Writes `bytes` to `path` through a temporary file; false after printing an error.
bool writeFile(StringRef path, StringRef bytes, StringRef tool);

/// The subcommands, one file each; `argv[0]` is "precis <name>".
int runImport(int argc, char **argv);
int runCompile(int argc, char **argv);
int runTrain(int argc, char **argv);
int runRun(int argc, char **argv);
int runReport(int argc, char **argv);
int runExport(int argc, char **argv);
int runBench(int argc, char **argv);
int runPlot(int argc, char **argv);

} // namespace precis::driver

#endif // PRECIS_TOOLS_PRECIS_DRIVER_H
