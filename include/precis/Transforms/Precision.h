//===- Precision.h - precision decisions shared by the passes ---*- C++ -*-===//
//
// The vocabulary of the precision passes (docs/design.md decisions 1 and 3): the names users write
// (`fp32`, `bf16`, `fp16`, `fp8e4m3`, `fp8e5m2`), their element types, and the
// name of the `#precis.decision` attribute (PrecisAttrs.td) that `precis-assign-precision`
// puts on every op and that `precis-insert-casts` and the report read:
//
//   precis.decision = #precis.decision<compute bf16 -> bf16 acc f32, "compute-class op: ...">
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TRANSFORMS_PRECISION_H
#define PRECIS_TRANSFORMS_PRECISION_H

#include "precis/Dialect/Precis/IR/PrecisOps.h"
#include "precis/Transforms/AttrNames.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace mlir::precis {

inline constexpr llvm::StringLiteral kDecisionAttr = "precis.decision";

/// The element type a precision name stands for (`fp32`, `bf16`, `fp16`, `fp8e4m3`,
/// `fp8e5m2`, `fp64`), or null.
inline Type precisionType(MLIRContext *ctx, llvm::StringRef name) {
  Builder b(ctx);
  if (name == "fp32")
    return b.getF32Type();
  if (name == "bf16")
    return b.getBF16Type();
  if (name == "fp16")
    return b.getF16Type();
  if (name == "fp8e4m3")
    return b.getFloat8E4M3FNType();
  if (name == "fp8e5m2")
    return b.getFloat8E5M2Type();
  if (name == "fp64")
    return b.getF64Type();
  return {};
}

/// The precision name of a float element type; the type's own spelling for others.
inline std::string precisionName(Type t) {
  if (t.isF32())
    return "fp32";
  if (t.isBF16())
    return "bf16";
  if (t.isF16())
    return "fp16";
  if (t.isFloat8E4M3FN())
    return "fp8e4m3";
  if (t.isFloat8E5M2())
    return "fp8e5m2";
  if (t.isF64())
    return "fp64";
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  return s;
}

/// The ONNX node an op came from: its NameLoc, or the first NameLoc of a fused location (an
/// op that replaced several, like a recognised GELU); empty when there is none.
inline llvm::StringRef nodeName(Location loc) {
  if (auto name = llvm::dyn_cast<NameLoc>(loc))
    return name.getName().getValue();
  if (auto fused = llvm::dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (llvm::StringRef name = nodeName(inner); !name.empty())
        return name;
  return {};
}

/// The decision `precis-assign-precision` recorded on `op`, or null.
inline DecisionAttr getDecision(Operation *op) {
  return op->getAttrOfType<DecisionAttr>(kDecisionAttr);
}

} // namespace mlir::precis

#endif // PRECIS_TRANSFORMS_PRECISION_H
