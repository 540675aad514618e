//===- BufferPlan.h - arena placement of a function's activations -*- C++ -*-===//
//
// Activations of a function share one arena. Walking the ops of the function's block in
// execution order, an op's results are placed first-fit into the gaps left by values whose
// last use has passed (results never reuse the op's own inputs); returned values live to the
// end. The arena size is the plan's peak. Parameters and constants are blobs, not activations;
// block arguments are the caller's memory. Functions run one at a time, so the artifact's
// arena is the largest peak over its functions.
//
// With planInPlaceUpdates (the CPU target), a result that an optimizer update (adam_update,
// sgd_update) computes as the new value of an argument, which nothing reads after the update,
// goes after all the other values instead of among them: the CPU runtime writes such results
// into the memory of the argument they update when the caller carries the state (a training
// loop), and that end of the arena, never touched then, costs no memory. A caller that does
// not carry the state gets its results there.
//
// An analysis: constructed from the function (or by `getAnalysis<BufferPlan>()`), read by the
// artifact writer, which places each planned value at its offset.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TARGET_BUFFERPLAN_H
#define PRECIS_TARGET_BUFFERPLAN_H

#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"

#include <cstdint>

namespace precis {

class BufferPlan {
public:
  /// Plans `func` (a func.func with one block); sizes are the runtime's (artifactByteSize),
  /// each rounded up to the arena's 64-byte alignment.
  explicit BufferPlan(mlir::Operation *func, bool planInPlaceUpdates = false);

  /// The arena offset of `v`, a result of one of the function's top-level ops that is neither
  /// a parameter nor a constant; nullopt for any other value.
  std::optional<uint64_t> offset(mlir::Value v) const;
  /// Bytes of arena the plan needs: its peak.
  uint64_t peak() const { return peak_; }
  /// Bytes the activations would take without reuse, for reports.
  uint64_t unplanned() const { return unplanned_; }
  /// Bytes of the peak that are in-place optimizer updates placed after the other values
  /// (planInPlaceUpdates): a training loop that carries its state never touches them.
  uint64_t inPlaceUpdateBytes() const { return inPlace_; }

private:
  llvm::DenseMap<mlir::Value, uint64_t> offsets_;
  uint64_t peak_ = 0, unplanned_ = 0, inPlace_ = 0;
};

} // namespace precis

#endif // PRECIS_TARGET_BUFFERPLAN_H
