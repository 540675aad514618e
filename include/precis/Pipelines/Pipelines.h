//===- Pipelines.h - the precis compilation pipelines -----------*- C++ -*-===//
//
// Every pass pipeline precis runs, as library functions over typed option structs: the
// driver, the tests and `precis-opt` build the same pipelines from the same options, so
// `precis-opt --precis-training-pipeline="precision=bf16 optimizer=adamw"` runs exactly what
// `precis compile --train --precision bf16 --optimizer adamw` runs. No pipeline is spelled as
// a string anywhere else.
//
// The stages, in order (each optional stage only where its options ask for it):
//
//   clean-up        precis-recognize-gelu, precis-recognize-rms-norm, canonicalize, cse (the
//                   importer's output is raw)
//   calibration     precis-calibrate: measure each GEMM of @forward (precision auto)
//   training step   precis-autodiff, precis-optimizer, precis-loss-scaling
//   precision       precis-assign-precision, precis-insert-casts, canonicalize, cse,
//                   precis-fp8-scaling, canonicalize, cse
//   target          cuda: precis-fuse (each fusion group becomes one kernel);
//                   cpu: precis-inline-fusions (ops run one by one)
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_PIPELINES_PIPELINES_H
#define PRECIS_PIPELINES_PIPELINES_H

#include "precis/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"

#include <optional>
#include <string>

namespace precis {

// createCalibratePass() and CalibratePassOptions (Passes.td of this library).
#define GEN_PASS_DECL
#include "precis/Pipelines/Passes.h.inc"

using mlir::precis::AmaxCompute;
using mlir::precis::Fp8Recipe;
using mlir::precis::OptimizerKind;
using mlir::precis::PrecisionPolicy;

/// How every op's precision is decided (docs/precision.md).
struct PrecisionOptions {
  PrecisionPolicy precision = PrecisionPolicy::FP32;
  /// A JSON file of user overrides by op kind or node name; empty for none.
  std::string rulesFile;
  /// fp8 scaling (precision fp8 or auto), as Transformer Engine's delayed scaling recipe.
  Fp8Recipe fp8Recipe = Fp8Recipe::Delayed;
  int64_t fp8History = 16;
  AmaxCompute fp8AmaxCompute = AmaxCompute::Max;
  int64_t fp8Margin = 0;
  /// precision auto: the .npz whose first batch calibrates, and the largest relative error
  /// against fp32 a GEMM may have in fp8 or bf16.
  std::string calibrationData;
  double tolerance = 0.05;
  /// precision auto: also write the measurements as JSON here; empty for none.
  std::string calibrationOut;
  /// Record fp32 decisions too (the report shows them); otherwise an fp32 model without rules
  /// runs no precision pass at all.
  bool decideFp32 = false;
};

/// The training step: optimizer (torch.optim semantics and defaults) and loss scaling.
struct TrainOptions {
  OptimizerKind optimizer = OptimizerKind::SGD;
  double momentum = 0;
  /// Unset: the optimizer's default (0; adamw 0.01, decoupled).
  std::optional<double> weightDecay;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  /// Dynamic loss scaling (GradScaler); unset: on for fp16 precision, off otherwise.
  std::optional<bool> lossScaling;
  double initScale = 65536.0;
  /// Data-parallel training (precis-data-parallel): all-reduce the loss and the gradients in
  /// buckets of `bucketMb` MiB, averaging them (`gradReduction` "mean") or adding ("sum").
  bool dataParallel = false;
  double bucketMb = 4.0;
  std::string gradReduction = "mean";
  /// ZeRO stage 1 (with dataParallel): the optimizer state sharded across `worldSize` ranks.
  int64_t zeroStage = 0;
  int64_t worldSize = 1;
  /// Which initializers train (docs/training.md, "What is trained"): regexes matched against
  /// whole initializer names; `trainable` adds what the rule leaves out, `frozen` removes
  /// (and wins over `trainable`). Empty: none.
  std::string trainable;
  std::string frozen;
  /// The seed of training-mode dropout's stream (the RNG state starts at (seed, 0)).
  uint64_t seed = 0;
};

/// Everything a compilation decides. `train` set: the module gains @gradients and
/// @train_step.
struct CompileOptions {
  PrecisionOptions precision;
  std::optional<TrainOptions> train;
  /// "cpu" or "cuda" (whose fusion groups become generated kernels).
  std::string target = "cpu";
};

/// Checks the values a pass would reject (ranges, combinations) so that a bad option is
/// reported before any work; returns an empty string when they are valid, else the message.
std::string validate(const CompileOptions &options);

/// Whether loss scaling is on for these options (explicitly, or by default under fp16).
bool lossScalingEnabled(const CompileOptions &options);

/// The clean-up every pipeline starts with: written-out GELUs become `precis.gelu`, dead ops
/// go (canonicalize), duplicates merge (CSE). `precis import` runs this stage alone.
void buildCleanupPipeline(mlir::OpPassManager &pm);

/// The precision stage alone (calibration, decisions, casts, fp8 scaling), for the options.
void buildPrecisionPipeline(mlir::OpPassManager &pm, const PrecisionOptions &options);

/// Clean-up, calibration, precision and target stages: the forward function only.
void buildInferencePipeline(mlir::OpPassManager &pm, const CompileOptions &options);

/// Clean-up, calibration, the training step (`options.train`, or SGD defaults when unset),
/// precision and target stages.
void buildTrainingPipeline(mlir::OpPassManager &pm, const CompileOptions &options);

/// Registers the passes of this library (precis-calibrate) and the pipelines
/// `precis-inference-pipeline` and `precis-training-pipeline`, whose options mirror the
/// structs above, with the global registry (for `precis-opt`).
void registerPipelines();

} // namespace precis

#endif // PRECIS_PIPELINES_PIPELINES_H
