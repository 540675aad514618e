//===- Names.h - the names the compiler and the runtime share ----*- C++ -*-===//
//
// The artifact's function names, the names of the training step's inputs and outputs, the
// checkpoint entries and the training roles the compiler records in the IR
// (`precis.role`) and writes to the artifact (schema::Value::role). The runtime owns them
// and the compiler includes this header, so neither side can spell one differently; plain
// character arrays, usable as llvm::StringRef and std::string alike.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_SCHEMA_NAMES_H
#define PRECIS_SCHEMA_NAMES_H

namespace precis::names {

/// Functions of an artifact or module.
inline constexpr char kForward[] = "forward";
inline constexpr char kGradients[] = "gradients";
inline constexpr char kTrainStep[] = "train_step";

/// Inputs and outputs of `train_step`.
inline constexpr char kLearningRate[] = "lr";
inline constexpr char kStep[] = "step";
inline constexpr char kLoss[] = "loss";
/// The RNG state of training-mode dropout: i64[2] (seed, number of steps drawn).
inline constexpr char kRng[] = "rng";
inline constexpr char kLossScale[] = "loss_scale";
inline constexpr char kLossScaleGrowthTracker[] = "loss_scale.growth_tracker";
/// Optimizer state is named "<parameter>.<kind>" (torch's state_dict keys); fp8 scaling
/// state "fp8.<k>.amax_history".
inline constexpr char kMomentumBuffer[] = "momentum_buffer";
inline constexpr char kExpAvg[] = "exp_avg";
inline constexpr char kExpAvgSq[] = "exp_avg_sq";
inline constexpr char kAmaxHistory[] = "amax_history";
/// With ZeRO stage 1 (optimizer state sharded across ranks) the state is one share per kind,
/// "zero1.<kind>": this rank's share of the kind's flattened per-parameter state.
inline constexpr char kZeroStatePrefix[] = "zero1.";

/// Checkpoint entries besides the carried state.
inline constexpr char kDataCursor[] = "data_cursor";
inline constexpr char kShuffleSeed[] = "shuffle_seed";
inline constexpr char kChecksum[] = "checksum";

/// Training roles of `train_step` state arguments, the values of the `precis.role` argument
/// attribute; the artifact writer maps them to schema::Value::Role.
inline constexpr char kRoleOptimizerState[] = "optimizer_state";
inline constexpr char kRoleStep[] = "step";
inline constexpr char kRoleLossScale[] = "loss_scale";
inline constexpr char kRoleFp8AmaxHistory[] = "fp8_amax_history";
/// A training-mode BatchNorm's running mean or variance; the state is named after the ONNX
/// initializer it starts from, so `precis export` writes it back there.
inline constexpr char kRoleBatchNormStats[] = "batch_norm_stats";
/// Training-mode dropout's random state: i64[2] (seed, steps drawn).
inline constexpr char kRoleRng[] = "rng_state";

} // namespace precis::names

#endif // PRECIS_SCHEMA_NAMES_H
