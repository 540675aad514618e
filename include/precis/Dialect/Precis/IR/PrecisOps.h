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

#define GET_ATTRDEF_CLASSES
#include "precis/Dialect/Precis/IR/PrecisAttrs.h.inc"

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

/// True for a ranked tensor of floats: the values precision and gradients are about.
inline bool isFloatTensor(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && isa<FloatType>(t.getElementType());
}

/// True for a float result whose precision is fixed at fp32 whatever the op's precision
/// decision: attention's logsumexp (the backward recomputes probabilities from it).
inline bool isFp32Result(Value v) {
  auto att = dyn_cast_or_null<AttentionOp>(v.getDefiningOp());
  return att && v == att.getLse();
}

/// True if a parameter (a `precis.parameter`, or a function argument carrying
/// `precis.param_name`) reaches `v` through float computations: such a value may need a
/// gradient, so it cannot become an operand that takes none (attention's mask).
bool isReachedByParameter(Value v);

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

/// Constants and parameters with more elements than this (and not a splat) keep their data in
/// a `dense_resource` blob rather than inline, so that an op of the printed IR stays on one
/// readable line: 8 floats print in about 130 characters, 16 small integers (a shape, the
/// positions of a sequence) in less, and those are worth reading.
inline constexpr int64_t kInlineFloatLimit = 8;
inline constexpr int64_t kInlineIntegerLimit = 16;

/// `value` as a `precis.constant` or `precis.parameter` stores it: inline when it is a splat,
/// within the limits above or of a sub-byte type other than i1; otherwise in a
/// `dense_resource` blob (one byte per i1) keyed by `name` (made an identifier, and unique).
ElementsAttr storeElements(DenseElementsAttr value, StringRef name);

/// The same for data already in blob layout (row-major, one byte per i1), as the importer
/// decodes it: a large one goes to its blob without an inline copy first.
ElementsAttr storeElements(ShapedType type, ArrayRef<char> bytes, StringRef name);

/// Data of `type` in blob layout as a DenseElementsAttr; null when its size does not fit.
DenseElementsAttr denseFromBytes(ShapedType type, ArrayRef<char> bytes);

/// The data of a constant or parameter value, inline or in a blob, as a DenseElementsAttr;
/// null for other attributes and for a `dense_resource` whose blob was elided.
DenseElementsAttr getDenseElements(Attribute value);

} // namespace mlir::precis

#endif // PRECIS_DIALECT_PRECIS_IR_PRECISOPS_H
