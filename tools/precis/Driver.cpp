//===- Driver.cpp - what the subcommands share ------------------------------===//
//
// See Driver.h.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "precis/Pipelines/Pipelines.h"
#include "precis/Target/Artifact.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace llvm;

namespace precis::driver {

CompilerContext::CompilerContext()
    : precis::CompilerContext([](const std::string &text) { errs() << text; }) {}

mlir::OpPrintingFlags irPrintingFlags(bool printData) {
  mlir::OpPrintingFlags flags; // from the --mlir-print-* options
  if (!printData)
    flags.elideLargeResourceString(0);
  return flags;
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
rt::Status openSession(StringRef path, const rt::SessionOptions &options, int64_t batch,
                       std::unique_ptr<rt::Session> *session,
                       std::vector<rt::NamedTensor> *inputs) {
  if (path.ends_with(".precis"))
    return rt::Session::createFromFile(path.str(), options, session);
  ImportOptions importOptions;
  if (batch > 0)
    importOptions.batchSize = batch;
  std::set<std::string> needed;
  importOptions.neededInputs = &needed;
  std::vector<char> bytes;
  for (;;) {
    std::string diagnostics;
    precis::CompilerContext compiler([&](const std::string &text) { diagnostics += text; });
    mlir::OwningOpRef<mlir::ModuleOp> module = loadModel(compiler.context, path, importOptions);
    auto given = [&](const std::string &name) {
      return inputs && std::any_of(inputs->begin(), inputs->end(),
                                   [&](const rt::NamedTensor &t) { return t.name == name; });
    };
    // The import needs these inputs' values: specialise the model on the ones given. Each
    // failing node names its own, so this repeats until the import gets through.
    if (!module && std::any_of(needed.begin(), needed.end(), given) &&
        std::all_of(needed.begin(), needed.end(), [&](const std::string &name) {
          return given(name) || importOptions.bind.count(name);
        })) {
      for (auto it = inputs->begin(); it != inputs->end();)
        if (needed.count(it->name)) {
          importOptions.bind[it->name] = std::move(it->tensor);
          it = inputs->erase(it);
        } else {
          ++it;
        }
      continue;
    }
    const bool ok = module && runPipeline(*module, CompileOptions(), "precis") &&
                    succeeded(buildArtifact(*module, {}, bytes));
    errs() << diagnostics;
    if (ok)
      break;
    std::string hint;
    for (const std::string &name : needed)
      if (!given(name) && !importOptions.bind.count(name))
        hint += (hint.empty() ? " (pass the value of input '" : "', '") + name;
    return rt::invalidArgument("cannot compile '" + path.str() + "'" +
                               (hint.empty() ? "" : hint + "', which fixes shapes)"));
  }
  return rt::Session::createFromMemory(bytes.data(), bytes.size(), options, session);
}

rt::Status bindOptions(const std::vector<std::string> &specs, ImportOptions &options) {
  for (const std::string &spec : specs) {
    auto [name, file] = StringRef(spec).split('=');
    if (name.empty() || file.empty())
      return rt::invalidArgument("--bind expects NAME=file.npy, got '" + spec + "'");
    if (options.bind.count(name.str()))
      return rt::invalidArgument("--bind: input '" + name.str() + "' is bound twice");
    rt::Tensor value;
    if (rt::Status s = rt::readNpy(file.str(), &value); !s)
      return rt::withContext(s, "--bind " + name.str());
    options.bind[name.str()] = std::move(value);
  }
  return rt::Status::ok();
}

/// Binds `named` tensors to `info`'s inputs, in order: every input must be present (`howToPass`
/// says, for a missing one, how to provide it) and every tensor must name an input.
rt::Status matchInputs(const rt::FunctionInfo &info, const std::vector<rt::NamedTensor> &named,
                       function_ref<std::string(const std::string &)> howToPass,
                       std::vector<rt::TensorView> *args) {
  for (const rt::NamedTensor &t : named)
    if (std::none_of(info.inputs.begin(), info.inputs.end(),
                     [&](const rt::TensorInfo &in) { return in.name == t.name; }))
      return rt::invalidArgument("'" + info.name + "' has no input named '" + t.name + "'");
  for (const rt::TensorInfo &in : info.inputs) {
    auto it = std::find_if(named.begin(), named.end(),
                           [&](const rt::NamedTensor &t) { return t.name == in.name; });
    if (it == named.end())
      return rt::invalidArgument("missing input '" + in.name + "' (" +
                                 rt::typeString(in.dtype, in.shape) + "): " + howToPass(in.name));
    args->push_back(it->tensor.view());
  }
  return rt::Status::ok();
}

cl::OptionCategory &optionCategory() {
  static cl::OptionCategory category("Options");
  return category;
}

void parseCommandLine(int argc, char **argv, StringRef overview) {
  cl::HideUnrelatedOptions(optionCategory());
  cl::ParseCommandLineOptions(argc, argv, overview);
}

rt::SessionOptions SessionFlags::sessionOptions() const {
  rt::SessionOptions options;
  options.numThreads = threads;
  options.backend = device;
  return options;
}

bool OptimizerFlags::given() const { return stepFlagsGiven() || seed.getNumOccurrences(); }

bool OptimizerFlags::stepFlagsGiven() const {
  return optimizer.getNumOccurrences() || momentum.getNumOccurrences() ||
         weightDecay.getNumOccurrences() || betas.getNumOccurrences() || eps.getNumOccurrences() ||
         lossScaling.getNumOccurrences() || initScale.getNumOccurrences() ||
         dataParallel.getNumOccurrences() || bucketMb.getNumOccurrences() ||
         gradReduction.getNumOccurrences() || zeroStage.getNumOccurrences() ||
         worldSize.getNumOccurrences() || trainable.getNumOccurrences() ||
         frozen.getNumOccurrences();
}

rt::Status OptimizerFlags::toOptions(PrecisionPolicy precision, TrainOptions *out) const {
  std::optional<OptimizerKind> kind = mlir::precis::symbolizeOptimizerKind(optimizer);
  if (!kind)
    return rt::invalidArgument("unknown optimizer '" + optimizer +
                               "' (expected sgd, adam or adamw)");
  const bool adam = *kind != OptimizerKind::SGD;
  if (!adam && (betas.getNumOccurrences() || eps.getNumOccurrences()))
    return rt::invalidArgument("--betas and --eps are Adam options; --optimizer is sgd");
  if (adam && momentum.getNumOccurrences())
    return rt::invalidArgument("--momentum is an SGD option; --optimizer is " + optimizer);
  TrainOptions t;
  t.optimizer = *kind;
  t.momentum = momentum;
  if (weightDecay.getNumOccurrences())
    t.weightDecay = weightDecay;
  if (betas.getNumOccurrences()) {
    auto [b1, b2] = StringRef(betas).split(',');
    if (b1.trim().getAsDouble(t.beta1) || b2.trim().getAsDouble(t.beta2) || t.beta1 < 0 ||
        t.beta1 >= 1 || t.beta2 < 0 || t.beta2 >= 1)
      return rt::invalidArgument("--betas expects B1,B2 in [0, 1), got '" + betas + "'");
  }
  t.eps = eps;
  if (lossScaling.getNumOccurrences())
    t.lossScaling = lossScaling;
  const bool scaling = t.lossScaling.value_or(precision == PrecisionPolicy::FP16);
  if (initScale.getNumOccurrences() && !scaling)
    return rt::invalidArgument("--init-scale needs --loss-scaling");
  t.initScale = initScale;
  if ((bucketMb.getNumOccurrences() || gradReduction.getNumOccurrences()) && !dataParallel &&
      !dataParallelImplied)
    return rt::invalidArgument("--bucket-mb and --grad-reduction go with --data-parallel");
  t.dataParallel = dataParallel || dataParallelImplied;
  t.bucketMb = bucketMb;
  t.gradReduction = gradReduction;
  if (impliedWorldSize && worldSize.getNumOccurrences() && worldSize != impliedWorldSize)
    return rt::invalidArgument("--world-size " + std::to_string(worldSize) + " differs from the " +
                               std::to_string(impliedWorldSize) + " ranks of this job");
  if (zeroStage == 1 && !t.dataParallel)
    return rt::invalidArgument("--zero-stage 1 needs --data-parallel (or mpirun)");
  if (zeroStage == 1 && !impliedWorldSize && !worldSize.getNumOccurrences())
    return rt::invalidArgument("--zero-stage 1 needs --world-size N, the ranks the optimizer "
                               "state is sharded across");
  t.zeroStage = zeroStage;
  t.worldSize = impliedWorldSize ? impliedWorldSize : worldSize.getValue();
  t.trainable = trainable;
  t.frozen = frozen;
  t.seed = seed;
  *out = t;
  return rt::Status::ok();
}

rt::Status PrecisionFlags::toOptions(PrecisionOptions *out) const {
  std::optional<PrecisionPolicy> p = mlir::precis::symbolizePrecisionPolicy(precision);
  if (!p)
    return rt::invalidArgument("unknown precision '" + precision +
                               "' (expected fp32, bf16, fp16, fp8 or auto)");
  if (!rules.empty() && !llvm::sys::fs::exists(rules))
    return rt::invalidArgument("cannot read the rules file '" + rules + "'");
  const bool autoPrecision = *p == PrecisionPolicy::Auto;
  if (autoPrecision && calibrateData.empty())
    return rt::invalidArgument("--precision auto needs a calibration batch: --calibrate data.npz");
  if (!autoPrecision && (calibrateData.getNumOccurrences() || tolerance.getNumOccurrences() ||
                         calibrationOut.getNumOccurrences()))
    return rt::invalidArgument(
        "--calibrate, --tolerance and --calibration-out go with --precision auto");
  std::optional<Fp8Recipe> recipe = mlir::precis::symbolizeFp8Recipe(fp8Recipe);
  if (!recipe)
    return rt::invalidArgument("--fp8-recipe must be delayed or current");
  std::optional<AmaxCompute> amax = mlir::precis::symbolizeAmaxCompute(fp8AmaxCompute);
  if (!amax)
    return rt::invalidArgument("--fp8-amax-compute must be max or most_recent");
  PrecisionOptions o;
  o.precision = *p;
  o.rulesFile = rules;
  o.fp8Recipe = *recipe;
  o.fp8History = fp8History;
  o.fp8AmaxCompute = *amax;
  o.fp8Margin = fp8Margin;
  o.calibrationData = calibrateData;
  o.tolerance = tolerance;
  o.calibrationOut = calibrationOut;
  *out = o;
  return rt::Status::ok();
}

rt::Status toCompileOptions(const PrecisionFlags &precisionFlags,
                            const OptimizerFlags &optimizerFlags, bool train, CompileOptions *out) {
  CompileOptions o;
  PRECIS_RETURN_IF_ERROR(precisionFlags.toOptions(&o.precision));
  if (!train && optimizerFlags.given())
    return rt::invalidArgument("the optimizer flags need --train");
  if (train) {
    TrainOptions t;
    PRECIS_RETURN_IF_ERROR(optimizerFlags.toOptions(o.precision.precision, &t));
    o.train = t;
  }
  *out = o;
  return rt::Status::ok();
}

bool runPipeline(mlir::ModuleOp module, const CompileOptions &options, StringRef tool) {
  if (std::string error = validate(options); !error.empty()) {
    errs() << tool << ": error: " << error << "\n";
    return false;
  }
  if (options.precision.precision == PrecisionPolicy::Auto)
    errs() << tool << ": calibrating on the first batch of " << options.precision.calibrationData
           << "\n";
  return succeeded(precis::runPipeline(module, options));
}

} // namespace precis::driver
