//===- PrecisFolders.cpp - folders of the precis ops ---------------------===//
//
// Every precis op that can be evaluated on constants folds here, through the reference
// evaluation in HostTensor.cpp. The importer folds shape arithmetic by building these ops on
// import-time constants and asking them to fold; the canonicalizer folds through the same
// code. Folders also simplify: identity casts, reshapes and expands, and chains of them.
//
// An op that carries a precision decision does not fold on constants: the decision (a cast
// the precision passes inserted, an op they placed in bf16) is part of the recorded plan, and
// the runtime computes it exactly as the report says.
//
//===----------------------------------------------------------------------===//

#include "precis/Dialect/Precis/IR/HostTensor.h"
#include "precis/Dialect/Precis/IR/PrecisOps.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace mlir::precis;

/// True when the precision passes decided `op`'s precision.
static bool isDecided(Operation *op) {
  return llvm::any_of(op->getDiscardableAttrs(),
                      [](NamedAttribute attr) { return isa<DecisionAttr>(attr.getValue()); });
}

/// The folded value as an attribute of `type`, or null when evaluation did not fold or gave
/// another type (a folder never changes an op's type).
static OpFoldResult toFoldResult(const std::optional<HostTensor> &value, Type type) {
  if (!value || value->getType() != type)
    return {};
  return value->toAttr();
}

static OpFoldResult foldBinary(Operation *op, BinaryFn fn, Attribute lhs, Attribute rhs) {
  if (isDecided(op))
    return {};
  Type type = op->getResult(0).getType();
  std::optional<HostTensor> a = HostTensor::fromConstant(lhs);
  std::optional<HostTensor> b = HostTensor::fromConstant(rhs);
  if (!a || !b)
    return {};
  return toFoldResult(evalBinary(fn, *a, *b), type);
}

static OpFoldResult foldUnary(Operation *op, UnaryFn fn, Attribute input) {
  std::optional<HostTensor> x = HostTensor::fromConstant(input);
  if (!x || isDecided(op))
    return {};
  return toFoldResult(evalUnary(fn, *x), op->getResult(0).getType());
}

/// `axis` in [-rank, rank) as a dimension; nullopt outside.
static std::optional<int64_t> dimension(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return std::nullopt;
  return axis < 0 ? axis + rank : axis;
}

//===----------------------------------------------------------------------===//
// Element-wise.
//===----------------------------------------------------------------------===//

#define PRECIS_BINARY_FOLDER(OP, FN)                                                               \
  OpFoldResult OP::fold(FoldAdaptor adaptor) {                                                     \
    return foldBinary(*this, BinaryFn::FN, adaptor.getLhs(), adaptor.getRhs());                    \
  }
PRECIS_BINARY_FOLDER(AddOp, Add)
PRECIS_BINARY_FOLDER(SubOp, Sub)
PRECIS_BINARY_FOLDER(MulOp, Mul)
PRECIS_BINARY_FOLDER(DivOp, Div)
PRECIS_BINARY_FOLDER(MaxOp, Max)
PRECIS_BINARY_FOLDER(MinOp, Min)
PRECIS_BINARY_FOLDER(PowOp, Pow)
#undef PRECIS_BINARY_FOLDER

OpFoldResult ModOp::fold(FoldAdaptor adaptor) {
  return foldBinary(*this, getFmod() ? BinaryFn::FMod : BinaryFn::Mod, adaptor.getLhs(),
                    adaptor.getRhs());
}

#define PRECIS_UNARY_FOLDER(OP, FN)                                                                \
  OpFoldResult OP::fold(FoldAdaptor adaptor) {                                                     \
    return foldUnary(*this, UnaryFn::FN, adaptor.getInput());                                      \
  }
PRECIS_UNARY_FOLDER(NegOp, Neg)
PRECIS_UNARY_FOLDER(AbsOp, Abs)
PRECIS_UNARY_FOLDER(ReluOp, Relu)
PRECIS_UNARY_FOLDER(TanhOp, Tanh)
PRECIS_UNARY_FOLDER(SigmoidOp, Sigmoid)
PRECIS_UNARY_FOLDER(SoftplusOp, Softplus)
PRECIS_UNARY_FOLDER(ErfOp, Erf)
PRECIS_UNARY_FOLDER(SqrtOp, Sqrt)
PRECIS_UNARY_FOLDER(ExpOp, Exp)
PRECIS_UNARY_FOLDER(LogOp, Log)
PRECIS_UNARY_FOLDER(RsqrtOp, Rsqrt)
PRECIS_UNARY_FOLDER(ReciprocalOp, Reciprocal)
PRECIS_UNARY_FOLDER(NotOp, Not)
PRECIS_UNARY_FOLDER(SinOp, Sin)
PRECIS_UNARY_FOLDER(CosOp, Cos)
#undef PRECIS_UNARY_FOLDER

OpFoldResult HardSigmoidOp::fold(FoldAdaptor adaptor) {
  std::optional<HostTensor> x = HostTensor::fromConstant(adaptor.getInput());
  if (!x || isDecided(*this))
    return {};
  return toFoldResult(
      evalHardSigmoid(*x, getAlpha().convertToDouble(), getBeta().convertToDouble()), getType());
}

OpFoldResult IsNaNOp::fold(FoldAdaptor adaptor) {
  std::optional<HostTensor> x = HostTensor::fromConstant(adaptor.getInput());
  if (!x || isDecided(*this))
    return {};
  return toFoldResult(evalIsNaN(*x), getType());
}

OpFoldResult CompareOp::fold(FoldAdaptor adaptor) {
  // Indexed by CompareKind: eq, lt, le, gt, ge.
  static constexpr BinaryFn kFns[] = {BinaryFn::Equal, BinaryFn::Less, BinaryFn::LessOrEqual,
                                      BinaryFn::Greater, BinaryFn::GreaterOrEqual};
  return foldBinary(*this, kFns[static_cast<unsigned>(getKind())], adaptor.getLhs(),
                    adaptor.getRhs());
}

OpFoldResult WhereOp::fold(FoldAdaptor adaptor) {
  std::optional<HostTensor> cond = HostTensor::fromConstant(adaptor.getCondition());
  std::optional<HostTensor> onTrue = HostTensor::fromConstant(adaptor.getOnTrue());
  std::optional<HostTensor> onFalse = HostTensor::fromConstant(adaptor.getOnFalse());
  if (!cond || !onTrue || !onFalse || isDecided(*this))
    return {};
  return toFoldResult(evalWhere(*cond, *onTrue, *onFalse), getType());
}

/// True when every value of float type `from` is exactly representable in `to` (bf16 and
/// fp16 in fp32, fp8 in bf16 and fp16, ...), so a cast from -> to loses nothing.
static bool isExactlyRepresentable(Type from, Type to) {
  auto f = dyn_cast<FloatType>(from), t = dyn_cast<FloatType>(to);
  if (!f || !t)
    return false;
  const llvm::fltSemantics &fs = f.getFloatSemantics(), &ts = t.getFloatSemantics();
  int fp = APFloat::semanticsPrecision(fs), tp = APFloat::semanticsPrecision(ts);
  return tp >= fp && APFloat::semanticsMaxExponent(ts) >= APFloat::semanticsMaxExponent(fs) &&
         APFloat::semanticsMinExponent(ts) - tp <= APFloat::semanticsMinExponent(fs) - fp;
}

OpFoldResult CastOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  if (std::optional<HostTensor> c = HostTensor::fromConstant(adaptor.getInput());
      c && !isDecided(*this))
    return toFoldResult(evalCast(*c, getType().getElementType()), getType());
  // cast(cast(x: A -> B) -> C) is cast(x -> C) when A -> B is exact; a round trip through a
  // narrower type (f32 -> bf16 -> f32) rounds and stays.
  if (auto inner = getInput().getDefiningOp<CastOp>()) {
    Value source = inner.getInput();
    if (isExactlyRepresentable(getElementTypeOrSelf(source.getType()),
                               getElementTypeOrSelf(inner.getType()))) {
      if (source.getType() == getType())
        return source;
      getInputMutable().assign(source);
      return getResult();
    }
  }
  return {};
}

//===----------------------------------------------------------------------===//
// Data movement.
//===----------------------------------------------------------------------===//

OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  // reshape(reshape(x)) -> reshape(x).
  if (auto inner = getInput().getDefiningOp<ReshapeOp>()) {
    getInputMutable().assign(inner.getInput());
    return getResult();
  }
  if (auto dense = dyn_cast_or_null<DenseElementsAttr>(adaptor.getInput()))
    return dense.reshape(getType());
  // A blob is row-major bytes: the reshaped constant reads the same one.
  if (auto blob = dyn_cast_or_null<DenseResourceElementsAttr>(adaptor.getInput()))
    return DenseResourceElementsAttr::get(getType(), blob.getRawHandle());
  return {};
}

OpFoldResult ExpandOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  if (auto dense = dyn_cast_or_null<DenseElementsAttr>(adaptor.getInput()))
    if (dense.isSplat())
      return DenseElementsAttr::get(getType(), dense.getSplatValue<Attribute>());
  if (std::optional<HostTensor> c = HostTensor::fromConstant(adaptor.getInput());
      c && !isDecided(*this))
    return toFoldResult(evalExpand(*c, getType().getShape()), getType());
  return {};
}

OpFoldResult TransposeOp::fold(FoldAdaptor adaptor) {
  std::optional<HostTensor> c = HostTensor::fromConstant(adaptor.getInput());
  if (!c || isDecided(*this))
    return {};
  return toFoldResult(evalTranspose(*c, getPerm()), getType());
}

OpFoldResult SliceOp::fold(FoldAdaptor adaptor) {
  std::optional<HostTensor> c = HostTensor::fromConstant(adaptor.getInput());
  if (!c || isDecided(*this))
    return {};
  return toFoldResult(evalSlice(*c, getStart(), getLimit(), getStep()), getType());
}

OpFoldResult PadOp::fold(FoldAdaptor adaptor) {
  std::optional<HostTensor> c = HostTensor::fromConstant(adaptor.getInput());
  if (!c || isDecided(*this))
    return {};
  return toFoldResult(
      evalPad(*c, getPads(), static_cast<int>(getMode()), getValue().convertToDouble()), getType());
}

OpFoldResult TriluOp::fold(FoldAdaptor adaptor) {
  std::optional<HostTensor> c = HostTensor::fromConstant(adaptor.getInput());
  if (!c || isDecided(*this))
    return {};
  return toFoldResult(evalTrilu(*c, getUpper(), getK()), getType());
}

OpFoldResult CumSumOp::fold(FoldAdaptor adaptor) {
  std::optional<HostTensor> c = HostTensor::fromConstant(adaptor.getInput());
  if (!c || isDecided(*this))
    return {};
  return toFoldResult(evalCumSum(*c, getAxis(), getExclusive(), getReverse()), getType());
}

LogicalResult SplitOp::fold(FoldAdaptor adaptor, SmallVectorImpl<OpFoldResult> &results) {
  std::optional<HostTensor> c = HostTensor::fromConstant(adaptor.getInput());
  if (!c || isDecided(*this))
    return failure();
  std::optional<int64_t> axis = dimension(getAxis(), c->getRank());
  if (!axis)
    return failure();
  SmallVector<int64_t> start(c->getRank(), 0), limit(c->getShape()), step(c->getRank(), 1);
  SmallVector<OpFoldResult> pieces;
  for (Value result : getResults()) {
    auto type = cast<RankedTensorType>(result.getType());
    limit[*axis] = start[*axis] + type.getDimSize(*axis);
    OpFoldResult piece = toFoldResult(evalSlice(*c, start, limit, step), type);
    if (!piece)
      return failure();
    pieces.push_back(piece);
    start[*axis] = limit[*axis];
  }
  results.append(pieces.begin(), pieces.end());
  return success();
}

OpFoldResult GatherOp::fold(FoldAdaptor adaptor) {
  std::optional<HostTensor> data = HostTensor::fromConstant(adaptor.getData());
  std::optional<HostTensor> indices = HostTensor::fromConstant(adaptor.getIndices());
  if (!data || !indices || isDecided(*this))
    return {};
  std::optional<int64_t> axis = dimension(getAxis(), data->getRank());
  if (!axis)
    return {};
  return toFoldResult(evalGather(*data, *indices, *axis), getType());
}

OpFoldResult ConcatOp::fold(FoldAdaptor adaptor) {
  if (isDecided(*this))
    return {};
  SmallVector<HostTensor> inputs;
  for (Attribute attr : adaptor.getInputs()) {
    std::optional<HostTensor> c = HostTensor::fromConstant(attr);
    if (!c)
      return {};
    inputs.push_back(std::move(*c));
  }
  if (inputs.empty())
    return {};
  std::optional<int64_t> axis = dimension(getAxis(), inputs.front().getRank());
  if (!axis)
    return {};
  SmallVector<const HostTensor *> pointers;
  for (const HostTensor &t : inputs)
    pointers.push_back(&t);
  return toFoldResult(evalConcat(pointers, *axis), getType());
}

//===----------------------------------------------------------------------===//
// Reductions.
//===----------------------------------------------------------------------===//

template <typename OpTy> static OpFoldResult foldReduce(OpTy op, ReduceFn fn, Attribute input) {
  std::optional<HostTensor> c = HostTensor::fromConstant(input);
  if (!c || isDecided(op))
    return {};
  SmallVector<int64_t> dims;
  for (int64_t a : op.getAxes()) {
    std::optional<int64_t> d = dimension(a, c->getRank());
    if (!d)
      return {};
    dims.push_back(*d);
  }
  return toFoldResult(evalReduce(fn, *c, dims, op.getKeepdims()), op.getType());
}

OpFoldResult ReduceSumOp::fold(FoldAdaptor adaptor) {
  return foldReduce(*this, ReduceFn::Sum, adaptor.getInput());
}
OpFoldResult ReduceMeanOp::fold(FoldAdaptor adaptor) {
  return foldReduce(*this, ReduceFn::Mean, adaptor.getInput());
}
OpFoldResult ReduceMaxOp::fold(FoldAdaptor adaptor) {
  return foldReduce(*this, ReduceFn::Max, adaptor.getInput());
}

//===----------------------------------------------------------------------===//
// Values.
//===----------------------------------------------------------------------===//

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }
