//===- Patterns.h - matching helpers shared by the recognition passes -*- C++ -*-===//
//
// What the precis-recognize-* passes (GELU, RMSNorm, rotary, attention) ask of the values they
// match, written once.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TRANSFORMS_PATTERNS_H
#define PRECIS_TRANSFORMS_PATTERNS_H

#include "precis/Dialect/Precis/IR/PrecisOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace mlir::precis {

/// The value of a float splat constant, or of a one-element `precis.parameter` (the dynamo
/// exporter stores an exponent, an epsilon or a scale as an initializer).
inline std::optional<double> splatValue(Value v) {
  Attribute attr;
  if (auto param = v.getDefiningOp<ParameterOp>())
    attr = param.getValue();
  else if (!matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  auto dense = dyn_cast<DenseElementsAttr>(attr);
  if (!dense || !isa<FloatType>(dense.getElementType()) ||
      !(dense.isSplat() || dense.getNumElements() == 1))
    return std::nullopt;
  return (*dense.getValues<APFloat>().begin()).convertToDouble();
}

/// The op of type OpTy defining `v` when `v` has no other use, recorded in `matched` (the ops
/// a recognised pattern replaces); null otherwise.
template <typename OpTy> OpTy singleUseDef(Value v, llvm::SmallVectorImpl<Operation *> &matched) {
  auto op = v.getDefiningOp<OpTy>();
  if (!op || !v.hasOneUse())
    return nullptr;
  matched.push_back(op);
  return op;
}

} // namespace mlir::precis

#endif // PRECIS_TRANSFORMS_PATTERNS_H
