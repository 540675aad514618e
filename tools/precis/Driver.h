//===- Driver.h - what the precis subcommands share ----------------------*- C++ -*-===//
//
// The pieces every subcommand of the `precis` driver uses: a compiler context that prints
// diagnostics as `file[:line:col]: [node 'name': ]error: message`, model loading, the shared
// option groups, and the entry point of each subcommand (one file each).
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TOOLS_PRECIS_DRIVER_H
#define PRECIS_TOOLS_PRECIS_DRIVER_H

#include "precis/Import/OnnxImporter.h"
#include "precis/runtime/Npy.h"
#include "precis/runtime/Session.h"
#include "Calibrate.h"
#include "precis/Target/CudaEmitter.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include <cmath>

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"

#include <memory>
#include <string>
#include <vector>

namespace precis::driver {

using namespace llvm;

/// A context with every precis dialect and diagnostics printed as the driver prints them.
struct CompilerContext {
  CompilerContext();
  mlir::MLIRContext context;
  mlir::ScopedDiagnosticHandler handler;
};

/// Loads a model: precis IR (`.mlir`) is parsed and verified, anything else is imported as
/// ONNX. Null after printing diagnostics.
mlir::OwningOpRef<mlir::ModuleOp> loadModel(mlir::MLIRContext &context, llvm::StringRef path,
                                            const ImportOptions &options);

/// Parses `--batch`; false after printing an error.
bool batchOption(const llvm::cl::opt<int64_t> &batch, llvm::StringRef tool, ImportOptions &options);

/// A session for `path`: an artifact is loaded as is, a model is compiled in memory first.
rt::Status openSession(llvm::StringRef path, const rt::SessionOptions &options, int64_t batch,
                       std::unique_ptr<rt::Session> *session);

/// Binds `named` tensors to `info`'s inputs, in order: every input must be present (`howToPass`
/// says, for a missing one, how to provide it) and every tensor must name an input.
rt::Status matchInputs(const rt::FunctionInfo &info, const std::vector<rt::NamedTensor> &named,
                       llvm::function_ref<std::string(const std::string &)> howToPass,
                       std::vector<rt::TensorView> *args);

/// `%.17g`: a double an option parser reads back exactly.
inline std::string exact(double x) { return formatv("{0}", format("%.17g", x)).str(); }

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
  rt::Status trainPipeline(std::string *pipeline, bool scaleByDefault = false) const {
    std::string options;
    PRECIS_RETURN_IF_ERROR(optimizerOptions(&options));
    *pipeline = "precis-autodiff,precis-optimizer{" + options + "}";
    const bool scaling = lossScaling.getNumOccurrences() ? bool(lossScaling) : scaleByDefault;
    if (initScale.getNumOccurrences() && !scaling)
      return rt::invalidArgument("--init-scale needs --loss-scaling");
    if (!(initScale > 0) || !std::isfinite(initScale))
      return rt::invalidArgument("--init-scale must be positive and finite");
    if (scaling)
      *pipeline += ",precis-loss-scaling{init-scale=" + exact(initScale) + "}";
    return rt::Status::ok();
  }

  /// Checks the optimizer flags and spells them as precis-optimizer's options.
  rt::Status optimizerOptions(std::string *options) const {
    if (optimizer != "sgd" && optimizer != "adam" && optimizer != "adamw")
      return rt::invalidArgument("unknown optimizer '" + optimizer +
                                         "' (expected sgd, adam or adamw)");
    bool adam = optimizer != "sgd";
    if (!adam && (betas.getNumOccurrences() || eps.getNumOccurrences()))
      return rt::invalidArgument("--betas and --eps are Adam options; --optimizer is sgd");
    if (adam && momentum.getNumOccurrences())
      return rt::invalidArgument("--momentum is an SGD option; --optimizer is " +
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
          return rt::invalidArgument("--betas expects B1,B2 in [0, 1), got '" + betas +
                                             "'");
      }
      *options += " beta1=" + exact(beta1) + " beta2=" + exact(beta2) + " eps=" + exact(eps);
    }
    return rt::Status::ok();
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
  rt::Status pipeline(std::string *out) const {
    const std::string &p = precision;
    if (p != "fp32" && p != "bf16" && p != "fp16" && p != "fp8" && p != "auto")
      return rt::invalidArgument("unknown precision '" + p +
                                         "' (expected fp32, bf16, fp16, fp8 or auto)");
    if (!rules.empty() && !sys::fs::exists(rules))
      return rt::invalidArgument("cannot read the rules file '" + rules + "'");
    if (p == "auto" && calibrateData.empty())
      return rt::invalidArgument(
          "--precision auto needs a calibration batch: --calibrate data.npz");
    if (p != "auto" && (calibrateData.getNumOccurrences() || tolerance.getNumOccurrences()))
      return rt::invalidArgument("--calibrate and --tolerance go with --precision auto");
    if (!(tolerance > 0))
      return rt::invalidArgument("--tolerance must be positive");
    out->clear();
    if (p == "fp32" && rules.empty())
      return rt::Status::ok();
    *out = "precis-assign-precision{precision=" + p;
    if (!rules.empty())
      *out += " rules=" + rules;
    if (p == "auto")
      *out += " calibration=" + calibrationFile + " tolerance=" + exact(tolerance);
    *out += "},precis-insert-casts,canonicalize,cse";
    if (p == "fp8" || p == "auto") {
      if (fp8Recipe != "delayed" && fp8Recipe != "current")
        return rt::invalidArgument("--fp8-recipe must be delayed or current");
      if (fp8AmaxCompute != "max" && fp8AmaxCompute != "most_recent")
        return rt::invalidArgument("--fp8-amax-compute must be max or most_recent");
      if (fp8History < 1 || fp8Margin < 0)
        return rt::invalidArgument("--fp8-history must be >= 1 and --fp8-margin >= 0");
      *out += ",precis-fp8-scaling{recipe=" + fp8Recipe + " history=" +
              std::to_string(fp8History) + " amax-compute=" + fp8AmaxCompute +
              " margin=" + std::to_string(fp8Margin) + "},canonicalize,cse";
    }
    return rt::Status::ok();
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
    return calibrate(module, calibrateData, calibrationFile, tool);
  }
  ~PrecisionFlags() {
    if (removeCalibration)
      sys::fs::remove(calibrationFile);
  }
  bool removeCalibration = false;
};

/// Runs `pipeline` (PrecisionFlags::pipeline) on `module`; false after printing diagnostics.
bool applyPrecision(mlir::ModuleOp module, llvm::StringRef pipeline, llvm::StringRef tool);

/// Runs `trainPipeline` (OptimizerFlags::trainPipeline) on `module`, adding @gradients and
/// @train_step; false after printing diagnostics.
bool addTrainStep(mlir::ModuleOp module, llvm::StringRef trainPipeline, llvm::StringRef tool);

/// The subcommands, one file each; `argv[0]` is "precis <name>".
int runImport(int argc, char **argv);
int runCompile(int argc, char **argv);
int runTrain(int argc, char **argv);
int runRun(int argc, char **argv);
int runReport(int argc, char **argv);
int runExport(int argc, char **argv);
int runBench(int argc, char **argv);

} // namespace precis::driver

#endif // PRECIS_TOOLS_PRECIS_DRIVER_H
