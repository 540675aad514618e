//===- DefaultDomainElementwise.cpp - element-wise ONNX ops ---------------===//
//
// Handlers for the default domain's element-wise ops: arithmetic (with NumPy broadcasting,
// on floats and integers alike), activations, comparisons and logic, casts, Identity and
// Dropout. Ops whose inputs are all known at import time fold as they are built (through the
// ops' folders), so these handlers need no constant path of their own.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include <cmath>
#include <limits>
#include <type_traits>

using namespace mlir;
using namespace mlir::precis;

namespace precis::onnx_import {

namespace {

//===----------------------------------------------------------------------===//
// Arithmetic.
//===----------------------------------------------------------------------===//

/// Add, Sub, Mul, Div: both operands of one element type, broadcast. On import-time
/// constants any integer type folds (shape arithmetic in int8, say); emitted ops take float,
/// i32 or i64.
template <typename OpTy> LogicalResult importBinary(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1})))
    return failure();
  if (!ctx.allInputsConstant() && failed(ctx.requireNumeric(0)))
    return failure();
  if constexpr (std::is_same_v<OpTy, DivOp>)
    if (ctx.allInputsConstant() && isa<IntegerType>(ctx.getInputElementType(1)))
      for (int64_t i = 0, e = ctx.getConstant(1)->size(); i < e; ++i)
        if (ctx.getConstant(1)->getInt(i) == 0)
          return ctx.emitError() << "integer division by zero while folding";
  Value lhs = ctx.getInput(0), rhs = ctx.getInput(1);
  return ctx.emit<OpTy>(lhs.getType(), lhs, rhs);
}

/// Pow allows an exponent of another numeric type: it is cast to the base's type.
LogicalResult importPow(NodeContext &ctx) {
  Type baseType = ctx.getInputElementType(0);
  if (!ctx.allInputsConstant() && failed(ctx.requireFloat(0)))
    return failure();
  Value base = ctx.getInput(0);
  Value exponent = ctx.castTo(ctx.getInput(1), baseType);
  return ctx.emit<PowOp>(base.getType(), base, exponent);
}

/// Mod: `fmod` = 1 is C fmod (sign of the dividend), 0 the remainder of floor division
/// (sign of the divisor, integers only: ONNX requires fmod = 1 for floats).
LogicalResult importMod(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1})))
    return failure();
  if (!ctx.allInputsConstant() && failed(ctx.requireNumeric(0)))
    return failure();
  int64_t fmod = ctx.getInt("fmod", 0);
  if (fmod != 0 && fmod != 1)
    return ctx.emitError() << "fmod must be 0 or 1, got " << fmod;
  if (isa<FloatType>(ctx.getInputElementType(0)) && fmod != 1) {
    if (ctx.getOpset() >= 28)
      return ctx.emitUnsupported() << "the floor remainder of floats (fmod = 0, opset 28) is not "
                                      "supported; fmod = 1 is";
    return ctx.emitError() << "floats require fmod = 1 (the ONNX operator defines only the "
                              "truncated remainder for floats before opset 28)";
  }
  if (ctx.allInputsConstant() && isa<IntegerType>(ctx.getInputElementType(1)))
    for (int64_t i = 0, e = ctx.getConstant(1)->size(); i < e; ++i)
      if (ctx.getConstant(1)->getInt(i) == 0)
        return ctx.emitError() << "integer division by zero while folding";
  Value lhs = ctx.getInput(0), rhs = ctx.getInput(1);
  return ctx.emit<ModOp>(lhs.getType(), lhs, rhs, ctx.getBuilder().getBoolAttr(fmod == 1));
}

/// Max, Min, Sum: variadic, applied pairwise left to right.
template <typename OpTy> LogicalResult importVariadic(NodeContext &ctx) {
  SmallVector<unsigned> all;
  for (unsigned i = 0; i < ctx.getNumInputs(); ++i)
    all.push_back(i);
  if (failed(ctx.requireSameElementType(all)))
    return failure();
  if (!ctx.allInputsConstant() && failed(ctx.requireNumeric(0)))
    return failure();
  Value acc = ctx.getInput(0);
  for (unsigned i = 1; i < ctx.getNumInputs(); ++i) {
    FailureOr<Value> next = ctx.build<OpTy>(acc.getType(), acc, ctx.getInput(i));
    if (failed(next))
      return failure();
    acc = *next;
  }
  return ctx.setOutput(0, acc);
}

/// Clip(x, min, max) = min(max(x, min), max); either bound may be absent.
LogicalResult importClip(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1, 2})))
    return failure();
  if (!ctx.allInputsConstant() && failed(ctx.requireNumeric(0)))
    return failure();
  Value acc = ctx.getInput(0);
  if (ctx.hasInput(1)) {
    FailureOr<Value> next = ctx.build<MaxOp>(acc.getType(), acc, ctx.getInput(1));
    if (failed(next))
      return failure();
    acc = *next;
  }
  if (ctx.hasInput(2)) {
    FailureOr<Value> next = ctx.build<MinOp>(acc.getType(), acc, ctx.getInput(2));
    if (failed(next))
      return failure();
    acc = *next;
  }
  return ctx.setOutput(0, acc);
}

/// Clip before opset 11: the bounds are float attributes whose defaults are the float range,
/// so an absent bound still clamps an infinity to +-FLT_MAX. A bound that rounds to the
/// infinity it guards against (FLT_MAX in f16) clamps nothing and is left out.
LogicalResult importClipAttributes(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)))
    return failure();
  auto scalar = RankedTensorType::get({}, ctx.getInputElementType(0));
  constexpr float kFloatMax = std::numeric_limits<float>::max();
  Value acc = ctx.getInput(0);
  OpBuilder &b = ctx.getBuilder();
  for (auto [name, lower, dflt] :
       {std::tuple("min", true, -kFloatMax), std::tuple("max", false, kFloatMax)}) {
    HostTensor bound = HostTensor::fromDoubles(scalar, {ctx.getFloat(name, dflt)});
    double value = bound.getDouble(0);
    if (std::isinf(value) && (value < 0) == lower)
      continue;
    Value clamp = ctx.materialize(bound);
    if (lower)
      acc = b.create<MaxOp>(ctx.getLoc(), acc.getType(), acc, clamp);
    else
      acc = b.create<MinOp>(ctx.getLoc(), acc.getType(), acc, clamp);
  }
  return ctx.setOutput(0, acc);
}

//===----------------------------------------------------------------------===//
// Unary functions.
//===----------------------------------------------------------------------===//

/// Float-only unary ops (activations, transcendental functions).
template <typename OpTy> LogicalResult importUnaryFloat(NodeContext &ctx) {
  // Relu also folds on integer constants.
  bool foldsOnIntegers = std::is_same_v<OpTy, ReluOp> && ctx.allInputsConstant();
  if (!foldsOnIntegers && failed(ctx.requireFloat(0)))
    return failure();
  Value x = ctx.getInput(0);
  return ctx.setOutput(0, ctx.getBuilder().create<OpTy>(ctx.getLoc(), x.getType(), x));
}

/// Neg and Abs also take integers (any width, on import-time constants).
template <typename OpTy> LogicalResult importUnaryNumeric(NodeContext &ctx) {
  if (!ctx.allInputsConstant() && failed(ctx.requireNumeric(0)))
    return failure();
  Value x = ctx.getInput(0);
  return ctx.setOutput(0, ctx.getBuilder().create<OpTy>(ctx.getLoc(), x.getType(), x));
}

LogicalResult importLeakyRelu(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)))
    return failure();
  Value x = ctx.getInput(0);
  float alpha = ctx.getFloat("alpha", 0.01f);
  return ctx.setOutput(
      0, ctx.getBuilder().create<LeakyReluOp>(ctx.getLoc(), x.getType(), x,
                                              ctx.getBuilder().getF32FloatAttr(alpha)));
}

LogicalResult importGelu(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)))
    return failure();
  Value x = ctx.getInput(0);
  auto approximation = ctx.getString("approximate", "none") == "tanh" ? GeluApproximation::Tanh
                                                                      : GeluApproximation::None;
  return ctx.setOutput(
      0, ctx.getBuilder().create<GeluOp>(ctx.getLoc(), x.getType(), x, approximation));
}

void checkGelu(const onnx::NodeProto &node, int64_t, SmallVectorImpl<std::string> &problems) {
  std::string approximate = getStringAttribute(node, "approximate", "none");
  if (approximate != "none" && approximate != "tanh")
    problems.push_back("approximate='" + approximate + "' is not 'none' or 'tanh'");
}

LogicalResult importHardSigmoid(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)))
    return failure();
  Value x = ctx.getInput(0);
  OpBuilder &b = ctx.getBuilder();
  return ctx.setOutput(0, b.create<HardSigmoidOp>(ctx.getLoc(), x.getType(), x,
                                                  b.getF32FloatAttr(ctx.getFloat("alpha", 0.2f)),
                                                  b.getF32FloatAttr(ctx.getFloat("beta", 0.5f))));
}

/// HardSwish(x) = x * HardSigmoid(x) with alpha = 1/6 and beta = 0.5, the operator's
/// definition (and its function body), computed in the input's type as ONNX Runtime does.
LogicalResult importHardSwish(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)))
    return failure();
  Value x = ctx.getInput(0);
  OpBuilder &b = ctx.getBuilder();
  Value gate = ctx.fold(b.create<HardSigmoidOp>(
      ctx.getLoc(), x.getType(), x, b.getF32FloatAttr(1.0f / 6.0f), b.getF32FloatAttr(0.5f)));
  return ctx.setOutput(0, b.create<MulOp>(ctx.getLoc(), x.getType(), x, gate));
}

LogicalResult importIsNaN(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)))
    return failure();
  Value x = ctx.getInput(0);
  auto type = RankedTensorType::get(ctx.getInputType(0).getShape(), ctx.getBuilder().getI1Type());
  return ctx.setOutput(0, ctx.getBuilder().create<IsNaNOp>(ctx.getLoc(), type, x));
}

//===----------------------------------------------------------------------===//
// Comparisons and logic.
//===----------------------------------------------------------------------===//

template <CompareKind Kind> LogicalResult importCompare(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1})))
    return failure();
  Value lhs = ctx.getInput(0), rhs = ctx.getInput(1);
  return ctx.emit<CompareOp>(lhs.getType(), Kind, lhs, rhs);
}

LogicalResult importNot(NodeContext &ctx) {
  if (failed(ctx.requireBool(0)))
    return failure();
  Value x = ctx.getInput(0);
  return ctx.setOutput(0, ctx.getBuilder().create<NotOp>(ctx.getLoc(), x.getType(), x));
}

/// And(a, b) = where(a, b, false); Or(a, b) = where(a, true, b).
template <bool IsOr> LogicalResult importLogical(NodeContext &ctx) {
  if (failed(ctx.requireBool(0)) || failed(ctx.requireBool(1)))
    return failure();
  Value a = ctx.getInput(0), b = ctx.getInput(1);
  Value constant = ctx.materialize(
      HostTensor::fromInts(RankedTensorType::get({}, ctx.getBuilder().getI1Type()), {IsOr}));
  if (!IsOr)
    return ctx.emit<WhereOp>(a.getType(), a, b, constant);
  return ctx.emit<WhereOp>(a.getType(), a, constant, b);
}

LogicalResult importWhere(NodeContext &ctx) {
  if (failed(ctx.requireBool(0)) || failed(ctx.requireSameElementType({1, 2})))
    return failure();
  Value cond = ctx.getInput(0), onTrue = ctx.getInput(1), onFalse = ctx.getInput(2);
  return ctx.emit<WhereOp>(onTrue.getType(), cond, onTrue, onFalse);
}

//===----------------------------------------------------------------------===//
// Casts and forwarding.
//===----------------------------------------------------------------------===//

LogicalResult importCastTo(NodeContext &ctx, Type elementType) {
  return ctx.setOutput(0, ctx.castTo(ctx.getInput(0), elementType));
}

LogicalResult importCast(NodeContext &ctx) {
  return importCastTo(ctx, convertElementType(ctx.getInt("to", 0), ctx.getContext()));
}

void checkCast(const onnx::NodeProto &node, int64_t, SmallVectorImpl<std::string> &problems) {
  const onnx::AttributeProto *to = findAttribute(node, "to");
  if (!to)
    problems.push_back("the 'to' attribute is missing");
  else if (!isSupportedElementType(to->i()))
    problems.push_back("casts to unsupported element type " + onnxTypeName(to->i()));
}

LogicalResult importCastLike(NodeContext &ctx) {
  return importCastTo(ctx, ctx.getInputElementType(1));
}

LogicalResult importIdentity(NodeContext &ctx) { return ctx.forwardInput(0, 0); }

/// Dropout: identity unless `training_mode` is true, the ratio non-zero and the import is for
/// training (ImportOptions::training); then `precis.dropout`. Ratio and training mode must be
/// known at import time.
LogicalResult importDropout(NodeContext &ctx) {
  double ratio = 0.5;
  bool training = false;
  if (ctx.hasInput(1)) {
    FailureOr<const HostTensor *> r = ctx.requireConstant(1, "ratio");
    if (failed(r))
      return failure();
    ratio = (*r)->getDouble(0);
  }
  if (ctx.hasInput(2)) {
    FailureOr<const HostTensor *> t = ctx.requireConstant(2, "training_mode");
    if (failed(t))
      return failure();
    training = (*t)->getInt(0) != 0 && ctx.getImportOptions().training;
  }
  if (ratio < 0.0 || ratio >= 1.0)
    return ctx.emitError() << "ratio " << ratio << " is outside [0, 1)";
  RankedTensorType type = ctx.getInputType(0);
  auto maskType = RankedTensorType::get(type.getShape(), ctx.getBuilder().getI1Type());
  if (!training || ratio == 0.0) {
    if (ctx.isOutputUsed(1)) {
      HostTensor mask(maskType);
      for (int64_t i = 0, e = mask.size(); i < e; ++i)
        mask.setInt(i, 1);
      (void)ctx.setOutput(1, std::move(mask));
    }
    return ctx.forwardInput(0, 0);
  }
  if (failed(ctx.requireFloat(0)))
    return failure();
  OpBuilder &b = ctx.getBuilder();
  // The node's `seed` attribute is not read: the stream is the training step's (`--seed`, the
  // step count and the op's stream number, which precis-optimizer assigns).
  return ctx.emit<DropoutOp>(type, maskType, ctx.getInput(0), /*rng=*/Value(),
                             b.getF32FloatAttr(static_cast<float>(ratio)), b.getBoolAttr(true),
                             b.getI64IntegerAttr(0));
}

/// Dropout before opset 12: `ratio` is an attribute and nothing in the graph says whether the
/// node trains. ONNX leaves that to the runtime; like ONNX Runtime and the ONNX reference
/// implementation, precis imports it in inference mode, as the identity. The mask output is
/// not supported: it was typed like the input before opset 10, and what an inference-mode
/// mask holds was defined only at opset 12 (ONNX Runtime fills the old one with false, the
/// reference with true).
LogicalResult importDropoutAttributes(NodeContext &ctx) {
  if (ctx.isOutputUsed(1))
    return ctx.emitUnsupported() << "the mask output is not supported before opset 12";
  return ctx.forwardInput(0, 0);
}

} // namespace

void populateElementwiseHandlers(HandlerRegistry &r) {
  // Arithmetic broadcasts NumPy-style from opset 7 on (Max and Min from 8; at 7 they require
  // equal shapes, which broadcasting handles alike); later versions only add element types.
  r.add("Add", kMinOpset, kMaxOpset, importBinary<AddOp>);
  r.add("Sub", kMinOpset, kMaxOpset, importBinary<SubOp>);
  r.add("Mul", kMinOpset, kMaxOpset, importBinary<MulOp>);
  r.add("Div", kMinOpset, kMaxOpset, importBinary<DivOp>);
  r.add("Pow", kMinOpset, kMaxOpset, importPow);
  r.add("Max", kMinOpset, kMaxOpset, importVariadic<MaxOp>);
  r.add("Min", kMinOpset, kMaxOpset, importVariadic<MinOp>);
  r.add("Sum", 8, kMaxOpset, importVariadic<AddOp>); // multidirectional broadcasting from 8
  r.add("Mod", 10, kMaxOpset, importMod);
  r.add("Clip", kMinOpset, 10, importClipAttributes);
  r.add("Clip", 11, kMaxOpset, importClip);

  r.add("Neg", kMinOpset, kMaxOpset, importUnaryNumeric<NegOp>);
  r.add("Abs", kMinOpset, kMaxOpset, importUnaryNumeric<AbsOp>);
  r.add("Relu", kMinOpset, kMaxOpset, importUnaryFloat<ReluOp>);
  r.add("Tanh", kMinOpset, kMaxOpset, importUnaryFloat<TanhOp>);
  r.add("Sigmoid", kMinOpset, kMaxOpset, importUnaryFloat<SigmoidOp>);
  r.add("Softplus", kMinOpset, kMaxOpset, importUnaryFloat<SoftplusOp>);
  r.add("Erf", 9, kMaxOpset, importUnaryFloat<ErfOp>);
  r.add("Exp", kMinOpset, kMaxOpset, importUnaryFloat<ExpOp>);
  r.add("Log", kMinOpset, kMaxOpset, importUnaryFloat<LogOp>);
  r.add("Sqrt", kMinOpset, kMaxOpset, importUnaryFloat<SqrtOp>);
  r.add("Reciprocal", kMinOpset, kMaxOpset, importUnaryFloat<ReciprocalOp>);
  r.add("LeakyRelu", kMinOpset, kMaxOpset, importLeakyRelu);
  r.add("Gelu", 20, kMaxOpset, importGelu, checkGelu);
  r.add("Sin", kMinOpset, kMaxOpset, importUnaryFloat<SinOp>);
  r.add("Cos", kMinOpset, kMaxOpset, importUnaryFloat<CosOp>);
  r.add("HardSigmoid", kMinOpset, kMaxOpset, importHardSigmoid);
  r.add("HardSwish", 14, kMaxOpset, importHardSwish);
  r.add("IsNaN", 9, kMaxOpset, importIsNaN);

  r.add("Equal", kMinOpset, kMaxOpset, importCompare<CompareKind::EQ>);
  r.add("Less", kMinOpset, kMaxOpset, importCompare<CompareKind::LT>);
  r.add("LessOrEqual", 12, kMaxOpset, importCompare<CompareKind::LE>);
  r.add("Greater", kMinOpset, kMaxOpset, importCompare<CompareKind::GT>);
  r.add("GreaterOrEqual", 12, kMaxOpset, importCompare<CompareKind::GE>);
  r.add("Not", kMinOpset, kMaxOpset, importNot);
  r.add("And", kMinOpset, kMaxOpset, importLogical<false>);
  r.add("Or", kMinOpset, kMaxOpset, importLogical<true>);
  r.add("Where", 9, kMaxOpset, importWhere);

  r.add("Cast", kMinOpset, kMaxOpset, importCast, checkCast);
  r.add("CastLike", 15, kMaxOpset, importCastLike);
  r.add("Identity", kMinOpset, kMaxOpset, importIdentity);
  r.add("Dropout", kMinOpset, 11, importDropoutAttributes);
  r.add("Dropout", 12, kMaxOpset, importDropout);
}

} // namespace precis::onnx_import
