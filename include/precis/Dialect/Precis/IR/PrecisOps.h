//===- PrecisOps.h - precis dialect, attributes and ops ---------*- C++ -*-===//
//
// The one header to include for the `precis` dialect: the dialect class, its enums and
// attributes, the precision-class traits and interface, and every op.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_DIALECT_PRECIS_IR_PRECISOPS_H
#define PRECIS_DIALECT_PRECIS_IR_PRECISOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "precis/Dialect/Precis/IR/PrecisDialect.h.inc"
#include "precis/Dialect/Precis/IR/PrecisEnums.h.inc"

namespace mlir::precis {

/// Traits that give an op its precision class; `PrecisionOpInterface::getPrecisionClass`
/// resolves to the static method of whichever one the op carries.
template <typename ConcreteType>
class ComputePrecision : public OpTrait::TraitBase<ConcreteType, ComputePrecision> {
public:
  static PrecisionClass getPrecisionClass() { return PrecisionClass::Compute; }

  /// The type products are accumulated in: the op's `acc_type`, fp32 when absent.
  Type getAccumulationType() {
    if (auto acc = this->getOperation()->template getAttrOfType<TypeAttr>("acc_type"))
      return acc.getValue();
    return Float32Type::get(this->getOperation()->getContext());
  }
};
template <typename ConcreteType>
class SensitivePrecision : public OpTrait::TraitBase<ConcreteType, SensitivePrecision> {
public:
  static PrecisionClass getPrecisionClass() { return PrecisionClass::Sensitive; }
};
template <typename ConcreteType>
class FollowPrecision : public OpTrait::TraitBase<ConcreteType, FollowPrecision> {
public:
  static PrecisionClass getPrecisionClass() { return PrecisionClass::Follow; }
};


/// Marker traits for the element-wise facts of an op (PrecisInterfaces.td says what each means).
template <typename ConcreteType>
class PerElement : public OpTrait::TraitBase<ConcreteType, PerElement> {};
template <typename ConcreteType>
class IndexedCopy : public OpTrait::TraitBase<ConcreteType, IndexedCopy> {};
/// Marks an op without a gradient rule on purpose (PrecisInterfaces.td says when).
template <typename ConcreteType>
class NoGradient : public OpTrait::TraitBase<ConcreteType, NoGradient> {};

} // namespace mlir::precis

#include "precis/Dialect/Precis/IR/PrecisInterfaces.h.inc"

#define GET_OP_CLASSES
#include "precis/Dialect/Precis/IR/PrecisOps.h.inc"

namespace mlir::precis {

/// For an op that reduces or normalises over a trailing run of dimensions [first, rank) of
/// its first operand — softmax and log-softmax over the last axis, layer_norm, reduce_* over
/// trailing axes (all of them when `axes` is empty: 0), the global pools (2) — returns first;
/// -1 for any other op or axis choice. The fusion pass and the CUDA emitter share it.
int64_t getTrailingRowAxis(Operation *op);

/// True if a fused kernel computes `op` one element at a time: a `PerElement` op or an
/// `IndexedCopy`. The fusion pass and the CUDA emitter share it.
inline bool isFusibleElementwise(Operation *op) {
  return op->hasTrait<PerElement>() || op->hasTrait<IndexedCopy>();
}

} // namespace mlir::precis

#endif // PRECIS_DIALECT_PRECIS_IR_PRECISOPS_H
