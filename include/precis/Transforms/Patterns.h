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

} // namespace mlir::precis

#endif // PRECIS_TRANSFORMS_PATTERNS_H
