//===- PrecisDialect.cpp - precis dialect registration ----------*- C++ -*-===//
//
// Registers the dialect's ops, attributes and interfaces, and materialises folded
// constants as `precis.constant`.
//
//===----------------------------------------------------------------------===//

#include "precis/Dialect/Precis/IR/PrecisOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::precis;

#include "precis/Dialect/Precis/IR/PrecisDialect.cpp.inc"
#include "precis/Dialect/Precis/IR/PrecisEnums.cpp.inc"
#include "precis/Dialect/Precis/IR/PrecisInterfaces.cpp.inc"

void PrecisDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "precis/Dialect/Precis/IR/PrecisOps.cpp.inc"
      >();
}

Operation *PrecisDialect::materializeConstant(OpBuilder &builder, Attribute value, Type type,
                                              Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  // A folded constant is stored like an imported one: large data in a blob.
  if (auto dense = dyn_cast<DenseElementsAttr>(elements))
    elements = storeElements(dense, "constant");
  return builder.create<ConstantOp>(loc, elements);
}
