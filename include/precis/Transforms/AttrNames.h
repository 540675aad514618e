//===- AttrNames.h - the discardable attributes the passes agree on -*- C++ -*-===//
//
// The names of the attributes through which the importer, the passes, the artifact writer
// and the driver hand facts to each other (Passes.td describes each where it is made). One
// definition, so a pass cannot spell one of them differently from the pass that reads it.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TRANSFORMS_ATTRNAMES_H
#define PRECIS_TRANSFORMS_ATTRNAMES_H

#include "precis/schema/Names.h"

#include "llvm/ADT/StringRef.h"

namespace mlir::precis {

/// The names the runtime reads (functions, state, roles), spelled once in the runtime's schema.
namespace names = ::precis::names;

/// Function arguments and results.
inline constexpr llvm::StringLiteral kOnnxName = "precis.onnx_name";   // graph input/output
inline constexpr llvm::StringLiteral kParamName = "precis.param_name"; // trained parameter
inline constexpr llvm::StringLiteral kGradOf = "precis.grad_of";       // @gradients result
inline constexpr llvm::StringLiteral kStateName = "precis.state_name"; // training state
inline constexpr llvm::StringLiteral kUpdates = "precis.updates";      // new value of a state
inline constexpr llvm::StringLiteral kLr = "precis.lr";                // the learning rate
inline constexpr llvm::StringLiteral kInitialValue = "precis.initial_value"; // non-zero state
/// The training role of a state argument (precis::names::kRole*), set by the pass that makes
/// the state; the artifact writer records it (schema::Value::role).
inline constexpr llvm::StringLiteral kRole = "precis.role";

/// Modules.
/// precis-calibrate's measurements, read by precis-assign-precision with precision=auto: an
/// array of {node, op, amax, bf16, fp8} dictionaries, one per GEMM of @forward, where `bf16`
/// and `fp8` are the relative errors of the GEMM's output against fp32 on one batch.
inline constexpr llvm::StringLiteral kCalibration = "precis.calibration";
/// What the exporter recorded about each initializer (the importer sets it for models whose
/// exporter records it, torch.export's graph signature): an array of {name, exporter, merged?}
/// dictionaries, `exporter` being "parameter", "buffer" or "constant", `merged` the names of
/// the parameters the exporter merged into this initializer.
inline constexpr llvm::StringLiteral kInitializers = "precis.initializers";
/// precis-autodiff's decision for every initializer of @forward (docs/training.md, "What is
/// trained"): an array of {name, type, trained, rule, reason} dictionaries.
inline constexpr llvm::StringLiteral kTrainable = "precis.trainable";

/// Ops.
inline constexpr llvm::StringLiteral kPhase = "precis.phase"; // "backward" or "optimizer"
inline constexpr llvm::StringLiteral kLossSeed = "precis.loss_seed"; // d loss / d loss

} // namespace mlir::precis

#endif // PRECIS_TRANSFORMS_ATTRNAMES_H
