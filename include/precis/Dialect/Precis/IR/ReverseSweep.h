//===- ReverseSweep.h - reverse-mode differentiation of precis ops -*- C++ -*-===//
//
// The one reverse sweep of precis: given ops in program order, a value y and the values to
// differentiate with respect to, it builds the backward ops from each op's
// GradientOpInterface rule and returns the gradients. The `precis-autodiff` pass (the training
// step's gradients of the loss) and the ONNX importer (the preview-training `Gradient` op) both
// call it; they differ only in how they seed it, where they report failures and which
// location the summing ops get.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_DIALECT_PRECIS_IR_REVERSESWEEP_H
#define PRECIS_DIALECT_PRECIS_IR_REVERSESWEEP_H

#include "precis/Dialect/Precis/IR/PrecisOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"

#include <optional>

namespace mlir::precis {

/// The values through which a gradient flows into `y` over `ops` (in program order): `y` and,
/// walking the ops backwards, the float operands that the rule of an op with such a result
/// differentiates (GradientOpInterface::isDifferentiableOperand).
llvm::DenseSet<Value> getValuesReaching(ArrayRef<Operation *> ops, Value y);

/// Why the sweep stopped at an op.
enum class SweepFailure {
  NoRule,             ///< a gradient reaches the op, which has no GradientOpInterface
  RuleFailed,         ///< its buildGradients failed
  WrongGradientCount, ///< its rule returned other than one gradient per operand
};

struct ReverseSweepOptions {
  /// Builds d y / d y (ones of y's type, at the builder's insertion point). Called once, and
  /// only when y depends on one of the values to differentiate with respect to.
  function_ref<Value()> seed;
  /// Emits the error for `failure` at `op`; `numGradients` is what its rule returned (for
  /// WrongGradientCount).
  function_ref<void(Operation *op, SweepFailure failure, size_t numGradients)> report;
  /// The location of the precis.add ops that sum a value's gradients over its uses; when
  /// unset, that of the op whose rule produced the gradient being added.
  std::optional<Location> sumLoc;
};

/// Reverse-mode differentiation over `ops` (in program order): builds at `builder`'s
/// insertion point the gradient of the sum of `y`'s elements with respect to each of `wrt`,
/// walking the ops backwards and calling the rule of every op that a gradient reaches with an
/// operand that depends on one of `wrt`; a value used several times gets the sum of the
/// gradients of its uses. Only values on a differentiable path from one of `wrt` to `y` get
/// gradients; the result has a null Value for each of `wrt` that `y` does not depend on.
/// Fails, after options.report, at the first op it cannot differentiate.
FailureOr<SmallVector<Value>> buildReverseSweep(OpBuilder &builder, ArrayRef<Operation *> ops,
                                                Value y, ArrayRef<Value> wrt,
                                                const ReverseSweepOptions &options);

} // namespace mlir::precis

#endif // PRECIS_DIALECT_PRECIS_IR_REVERSESWEEP_H
