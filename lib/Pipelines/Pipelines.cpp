//===- Pipelines.cpp - the precis compilation pipelines -------------------===//
//
// See Pipelines.h. The option structs are the one description of a compilation: the driver
// fills them from its flags, `precis-opt` from a pipeline's textual options (below), and the
// build functions turn them into passes with typed pass options, never into strings.
//
//===----------------------------------------------------------------------===//

#include "precis/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Regex.h"

#include <cmath>

namespace precis {
#define GEN_PASS_REGISTRATION
#include "precis/Pipelines/Passes.h.inc"
} // namespace precis

using namespace mlir;
using namespace mlir::precis;

namespace precis {

std::string validate(const CompileOptions &options) {
  const PrecisionOptions &p = options.precision;
  if (options.target != "cpu" && options.target != "cuda")
    return "unsupported target '" + options.target + "' (expected cpu or cuda)";
  if (p.precision == PrecisionPolicy::Auto && p.calibrationData.empty())
    return "--precision auto needs a calibration batch: --calibrate data.npz";
  if (!(p.tolerance > 0))
    return "--tolerance must be positive";
  if (p.fp8History < 1 || p.fp8Margin < 0)
    return "--fp8-history must be >= 1 and --fp8-margin >= 0";
  if (!options.train)
    return "";
  const TrainOptions &t = *options.train;
  if (t.momentum < 0 || (t.weightDecay && *t.weightDecay < 0) || t.eps < 0)
    return "--momentum, --weight-decay and --eps must be >= 0";
  if (!(t.beta1 >= 0 && t.beta1 < 1 && t.beta2 >= 0 && t.beta2 < 1))
    return llvm::formatv("--betas expects B1,B2 in [0, 1), got {0},{1}", t.beta1, t.beta2).str();
  if (!(t.initScale > 0) || !std::isfinite(t.initScale))
    return "--init-scale must be positive and finite";
  if (!(t.bucketMb > 0) || !std::isfinite(t.bucketMb))
    return "--bucket-mb must be positive";
  if (t.zeroStage != 0 && t.zeroStage != 1)
    return "--zero-stage must be 0 or 1";
  if (t.zeroStage == 1 && !t.dataParallel)
    return "--zero-stage 1 shards the optimizer state across the ranks of a data-parallel job: "
           "it needs --data-parallel";
  if (t.worldSize < 1)
    return "--world-size must be >= 1";
  if (t.gradReduction != "mean" && t.gradReduction != "sum")
    return "--grad-reduction must be mean or sum, got '" + t.gradReduction + "'";
  for (auto [flag, pattern] :
       {std::pair<const char *, const std::string *>{"--trainable", &t.trainable},
        {"--frozen", &t.frozen}}) {
    std::string error;
    if (!pattern->empty() && !llvm::Regex("^(" + *pattern + ")$").isValid(error))
      return std::string("bad regular expression for ") + flag + " '" + *pattern + "': " + error;
  }
  return "";
}

bool lossScalingEnabled(const CompileOptions &options) {
  if (!options.train)
    return false;
  return options.train->lossScaling.value_or(options.precision.precision == PrecisionPolicy::FP16);
}

void buildCleanupPipeline(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(createRecognizeGeluPass());
  pm.addNestedPass<func::FuncOp>(createRecognizeRmsNormPass());
  pm.addNestedPass<func::FuncOp>(createRecognizeRotaryPass());
  pm.addNestedPass<func::FuncOp>(createRecognizeAttentionPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

/// precis-calibrate, for precision auto: before the training step exists, on @forward.
static void buildCalibrationStage(OpPassManager &pm, const PrecisionOptions &options) {
  if (options.precision != PrecisionPolicy::Auto)
    return;
  CalibratePassOptions calibrate;
  calibrate.data = options.calibrationData;
  calibrate.out = options.calibrationOut;
  pm.addPass(createCalibratePass(calibrate));
}

/// Decisions, casts and fp8 scaling; the module must already hold its evidence (auto).
static void buildDecisionStage(OpPassManager &pm, const PrecisionOptions &options) {
  if (options.precision == PrecisionPolicy::FP32 && options.rulesFile.empty() &&
      !options.decideFp32)
    return;
  AssignPrecisionPassOptions assign;
  assign.precision = options.precision;
  assign.rules = options.rulesFile;
  assign.tolerance = options.tolerance;
  pm.addPass(createAssignPrecisionPass(assign));
  pm.addPass(createInsertCastsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  if (options.precision != PrecisionPolicy::FP8 && options.precision != PrecisionPolicy::Auto)
    return;
  Fp8ScalingPassOptions fp8;
  fp8.recipe = options.fp8Recipe;
  fp8.history = options.fp8History;
  fp8.amaxCompute = options.fp8AmaxCompute;
  fp8.margin = options.fp8Margin;
  pm.addPass(createFp8ScalingPass(fp8));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void buildPrecisionPipeline(OpPassManager &pm, const PrecisionOptions &options) {
  buildCalibrationStage(pm, options);
  buildDecisionStage(pm, options);
}

/// precis-autodiff, (data-parallel) precis-data-parallel, precis-optimizer and (when on)
/// precis-loss-scaling.
static void buildTrainingStepStage(OpPassManager &pm, const CompileOptions &options) {
  TrainOptions train = options.train.value_or(TrainOptions());
  AutodiffPassOptions autodiff;
  autodiff.trainable = train.trainable;
  autodiff.frozen = train.frozen;
  pm.addPass(createAutodiffPass(autodiff));
  if (train.dataParallel) {
    DataParallelPassOptions dp;
    dp.bucketMb = train.bucketMb;
    dp.reduction = train.gradReduction;
    pm.addPass(createDataParallelPass(dp));
  }
  OptimizerPassOptions optimizer;
  optimizer.optimizer = train.optimizer;
  optimizer.momentum = train.momentum;
  if (train.weightDecay)
    optimizer.weightDecay = *train.weightDecay;
  optimizer.beta1 = train.beta1;
  optimizer.beta2 = train.beta2;
  optimizer.eps = train.eps;
  optimizer.zeroStage = train.zeroStage;
  optimizer.worldSize = train.worldSize;
  optimizer.seed = train.seed;
  pm.addPass(createOptimizerPass(optimizer));
  CompileOptions withTrain = options;
  withTrain.train = train;
  if (!lossScalingEnabled(withTrain))
    return;
  LossScalingPassOptions scaling;
  scaling.initScale = train.initScale;
  pm.addPass(createLossScalingPass(scaling));
}

/// The CUDA target runs each fusion group as one kernel (docs/cuda.md); the CPU target runs
/// ops one by one, so groups a hand-written or fused input brings are spliced back.
static void buildTargetStage(OpPassManager &pm, const CompileOptions &options) {
  if (options.target == "cuda")
    pm.addNestedPass<func::FuncOp>(createFusePass());
  else
    pm.addNestedPass<func::FuncOp>(createInlineFusionsPass());
}

void buildInferencePipeline(OpPassManager &pm, const CompileOptions &options) {
  buildCleanupPipeline(pm);
  buildCalibrationStage(pm, options.precision);
  buildDecisionStage(pm, options.precision);
  buildTargetStage(pm, options);
}

void buildTrainingPipeline(OpPassManager &pm, const CompileOptions &options) {
  buildCleanupPipeline(pm);
  buildCalibrationStage(pm, options.precision);
  buildTrainingStepStage(pm, options);
  buildDecisionStage(pm, options.precision);
  buildTargetStage(pm, options);
}

//===----------------------------------------------------------------------===//
// Registration: the same structs, spelled as pipeline options for precis-opt.
//===----------------------------------------------------------------------===//

namespace {

/// The options both pipelines take; `Derived` is the registered options struct.
template <typename Derived> struct CommonPipelineOptions : public PassPipelineOptions<Derived> {
  using Base = PassPipelineOptions<Derived>;
  template <typename T> using Option = typename Base::template Option<T>;

  Option<PrecisionPolicy> precision{
      *this, "precision", llvm::cl::desc("fp32, bf16, fp16, fp8 or auto"),
      llvm::cl::init(PrecisionPolicy::FP32),
      llvm::cl::values(clEnumValN(PrecisionPolicy::FP32, "fp32", "fp32"),
                       clEnumValN(PrecisionPolicy::BF16, "bf16", "bf16 GEMMs"),
                       clEnumValN(PrecisionPolicy::FP16, "fp16", "fp16 GEMMs"),
                       clEnumValN(PrecisionPolicy::FP8, "fp8", "fp8 GEMMs"),
                       clEnumValN(PrecisionPolicy::Auto, "auto", "calibrated per GEMM"))};
  Option<std::string> rules{*this, "rules", llvm::cl::desc("JSON file of precision overrides")};
  Option<std::string> calibrate{*this, "calibrate",
                                llvm::cl::desc("precision auto: the calibration .npz")};
  Option<double> tolerance{*this, "tolerance",
                           llvm::cl::desc("precision auto: largest relative error"),
                           llvm::cl::init(0.05)};
  Option<Fp8Recipe> fp8Recipe{
      *this, "fp8-recipe", llvm::cl::desc("delayed or current"), llvm::cl::init(Fp8Recipe::Delayed),
      llvm::cl::values(clEnumValN(Fp8Recipe::Delayed, "delayed", "amax history"),
                       clEnumValN(Fp8Recipe::Current, "current", "this step's amax"))};
  Option<int64_t> fp8History{*this, "fp8-history", llvm::cl::desc("amax history length"),
                             llvm::cl::init(16)};
  Option<AmaxCompute> fp8AmaxCompute{
      *this, "fp8-amax-compute", llvm::cl::desc("max or most_recent"),
      llvm::cl::init(AmaxCompute::Max),
      llvm::cl::values(clEnumValN(AmaxCompute::Max, "max", "the history's maximum"),
                       clEnumValN(AmaxCompute::MostRecent, "most_recent", "the latest"))};
  Option<int64_t> fp8Margin{*this, "fp8-margin", llvm::cl::desc("fp8 scale margin"),
                            llvm::cl::init(0)};
  Option<std::string> target{*this, "target", llvm::cl::desc("cpu or cuda"), llvm::cl::init("cpu")};

  CompileOptions toCompileOptions() const {
    CompileOptions o;
    o.precision.precision = precision;
    o.precision.rulesFile = rules;
    o.precision.calibrationData = calibrate;
    o.precision.tolerance = tolerance;
    o.precision.fp8Recipe = fp8Recipe;
    o.precision.fp8History = fp8History;
    o.precision.fp8AmaxCompute = fp8AmaxCompute;
    o.precision.fp8Margin = fp8Margin;
    o.target = target;
    return o;
  }
};

struct InferencePipelineOptions : CommonPipelineOptions<InferencePipelineOptions> {};

struct TrainingPipelineOptions : CommonPipelineOptions<TrainingPipelineOptions> {
  Option<OptimizerKind> optimizer{
      *this, "optimizer", llvm::cl::desc("sgd, adam or adamw"), llvm::cl::init(OptimizerKind::SGD),
      llvm::cl::values(clEnumValN(OptimizerKind::SGD, "sgd", "torch.optim.SGD"),
                       clEnumValN(OptimizerKind::Adam, "adam", "torch.optim.Adam"),
                       clEnumValN(OptimizerKind::AdamW, "adamw", "torch.optim.AdamW"))};
  Option<double> momentum{*this, "momentum", llvm::cl::desc("SGD momentum"), llvm::cl::init(0.0)};
  Option<double> weightDecay{*this, "weight-decay",
                             llvm::cl::desc("weight decay (default 0; adamw 0.01)")};
  Option<double> beta1{*this, "beta1", llvm::cl::desc("Adam beta1"), llvm::cl::init(0.9)};
  Option<double> beta2{*this, "beta2", llvm::cl::desc("Adam beta2"), llvm::cl::init(0.999)};
  Option<double> eps{*this, "eps", llvm::cl::desc("Adam epsilon"), llvm::cl::init(1e-8)};
  Option<bool> lossScaling{*this, "loss-scaling",
                           llvm::cl::desc("dynamic loss scaling (default: on for fp16)")};
  Option<double> initScale{*this, "init-scale", llvm::cl::desc("initial loss scale"),
                           llvm::cl::init(65536.0)};
  Option<bool> dataParallel{*this, "data-parallel",
                            llvm::cl::desc("all-reduce the gradients across ranks"),
                            llvm::cl::init(false)};
  Option<double> bucketMb{*this, "bucket-mb", llvm::cl::desc("MiB of gradients per all-reduce"),
                          llvm::cl::init(4.0)};
  Option<std::string> gradReduction{*this, "grad-reduction",
                                    llvm::cl::desc("mean or sum of the ranks' gradients"),
                                    llvm::cl::init("mean")};
  Option<int64_t> zeroStage{*this, "zero-stage",
                            llvm::cl::desc("1: shard the optimizer state (ZeRO stage 1)"),
                            llvm::cl::init(0)};
  Option<int64_t> worldSize{*this, "world-size",
                            llvm::cl::desc("ranks the optimizer state is sharded across"),
                            llvm::cl::init(1)};
  Option<std::string> trainable{*this, "trainable",
                                llvm::cl::desc("regex of initializer names to train as well")};
  Option<std::string> frozen{*this, "frozen",
                             llvm::cl::desc("regex of initializer names not to train")};
  Option<uint64_t> seed{*this, "seed", llvm::cl::desc("the seed of training-mode dropout"),
                        llvm::cl::init(0)};

  CompileOptions toCompileOptions() const {
    CompileOptions o = CommonPipelineOptions::toCompileOptions();
    TrainOptions t;
    t.optimizer = optimizer;
    t.momentum = momentum;
    if (weightDecay.hasValue())
      t.weightDecay = weightDecay;
    t.beta1 = beta1;
    t.beta2 = beta2;
    t.eps = eps;
    if (lossScaling.hasValue())
      t.lossScaling = lossScaling;
    t.initScale = initScale;
    t.dataParallel = dataParallel;
    t.bucketMb = bucketMb;
    t.gradReduction = gradReduction;
    t.zeroStage = zeroStage;
    t.worldSize = worldSize;
    t.trainable = trainable;
    t.frozen = frozen;
    t.seed = seed;
    o.train = t;
    return o;
  }
};

} // namespace

void registerPipelines() {
  registerPrecisPipelinesPasses();
  PassPipelineRegistration<InferencePipelineOptions>(
      "precis-inference-pipeline",
      "What `precis compile` runs: clean-up, calibration, precision and target stages",
      [](OpPassManager &pm, const InferencePipelineOptions &options) {
        buildInferencePipeline(pm, options.toCompileOptions());
      });
  PassPipelineRegistration<TrainingPipelineOptions>(
      "precis-training-pipeline",
      "What `precis compile --train` runs: clean-up, calibration, training step (autodiff, "
      "optimizer, loss scaling), precision and target stages",
      [](OpPassManager &pm, const TrainingPipelineOptions &options) {
        buildTrainingPipeline(pm, options.toCompileOptions());
      });
}

} // namespace precis
