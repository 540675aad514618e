//===- PrecisGradients.cpp - gradient rules and backward ops ----*- C++ -*-===//
//
// The reverse-mode rule of every differentiable precis op (GradientOpInterface), and the
// verifiers of the backward ops that some rules build. A rule expresses the gradient with
// existing ops wherever that is exact (element-wise chains, reductions, softmax, layer norm);
// convolution, pooling, slice, gather and the nll-style losses use dedicated backward ops.
//
// Conventions: broadcasting forward ops reduce an operand's gradient back to the operand's
// shape (reduce_sum over the broadcast dimensions, then reshape); at kinks the rules take one
// side (relu and abs: the x > 0 / x >= 0 branch; max/min: ties go to the lhs); reduce_max and
// global_max_pool split the gradient evenly among tied maxima; max_pool2d gives it to the
// first maximum of each window (the element the forward kernel picks).
//
//===----------------------------------------------------------------------===//

#include "precis/Dialect/Precis/IR/PrecisOps.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <cmath>
#include <numeric>

using namespace mlir;
using namespace mlir::precis;

namespace {

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Helpers that build the small op chains gradient rules are written in.
struct GradBuilder {
  OpBuilder &b;
  Location loc;

  /// A rank-0 constant `value` of `like`'s element type (broadcasts against anything).
  Value scalar(Value like, double value) {
    Type elt = tensorType(like).getElementType();
    auto type = RankedTensorType::get({}, elt);
    return b.create<ConstantOp>(
        loc, DenseElementsAttr::get(type, ArrayRef<Attribute>{b.getFloatAttr(elt, value)}));
  }
  Value zeros(Type type) {
    auto t = cast<RankedTensorType>(type);
    return b.create<ConstantOp>(loc,
                                DenseElementsAttr::get(t, b.getFloatAttr(t.getElementType(), 0.0)));
  }
  Value add(Value l, Value r) { return b.create<AddOp>(loc, l, r); }
  Value sub(Value l, Value r) { return b.create<SubOp>(loc, l, r); }
  Value mul(Value l, Value r) { return b.create<MulOp>(loc, l, r); }
  Value div(Value l, Value r) { return b.create<DivOp>(loc, l, r); }
  Value neg(Value v) { return b.create<NegOp>(loc, v); }
  Value mul(Value l, double c) { return mul(l, scalar(l, c)); }
  Value cmp(CompareKind kind, Value l, Value r) { return b.create<CompareOp>(loc, kind, l, r); }
  Value select(Value c, Value t, Value f) { return b.create<WhereOp>(loc, c, t, f); }
  /// `v` converted to `elt` (contraction results may be wider than their operands).
  Value castTo(Value v, Type elt) {
    auto t = tensorType(v);
    if (t.getElementType() == elt)
      return v;
    return b.create<CastOp>(loc, RankedTensorType::get(t.getShape(), elt), v);
  }
  Value reshape(Value v, Type type) {
    if (v.getType() == type)
      return v;
    return b.create<ReshapeOp>(loc, type, v);
  }
  Value expand(Value v, Type type) {
    if (v.getType() == type)
      return v;
    return b.create<ExpandOp>(loc, type, v);
  }
  /// Sum over `axes` (non-empty, normalised) keeping them as size 1.
  Value sumKeep(Value v, ArrayRef<int64_t> axes) {
    SmallVector<int64_t> shape(tensorType(v).getShape());
    for (int64_t a : axes)
      shape[a] = 1;
    auto type = RankedTensorType::get(shape, tensorType(v).getElementType());
    return b.create<ReduceSumOp>(loc, type, v, b.getDenseI64ArrayAttr(axes), b.getBoolAttr(true));
  }
  Value meanKeep(Value v, ArrayRef<int64_t> axes) {
    int64_t count = 1;
    for (int64_t a : axes)
      count *= tensorType(v).getDimSize(a);
    return mul(sumKeep(v, axes), 1.0 / static_cast<double>(count));
  }
  /// The gradient `g` of a value broadcast from `type`, summed back to `type`.
  Value reduceTo(Value g, Type type) {
    auto gt = tensorType(g), tt = cast<RankedTensorType>(type);
    if (gt.getShape() == tt.getShape())
      return g;
    int64_t lead = gt.getRank() - tt.getRank();
    SmallVector<int64_t> axes;
    for (int64_t d = 0; d < gt.getRank(); ++d)
      if (d < lead || (tt.getDimSize(d - lead) == 1 && gt.getDimSize(d) != 1))
        axes.push_back(d);
    Value summed = axes.empty() ? g : sumKeep(g, axes);
    return reshape(summed, RankedTensorType::get(tt.getShape(), gt.getElementType()));
  }
};

/// An I64Attr axis (stored unsigned by ODS) resolved against `rank`.
int64_t normalizedAxis(uint64_t attr, int64_t rank) {
  int64_t axis = static_cast<int64_t>(attr);
  return axis < 0 ? axis + rank : axis;
}

/// Normalised reduction axes of a reduce op over a tensor of `rank` (empty: all).
SmallVector<int64_t> reductionAxes(ArrayRef<int64_t> axes, int64_t rank) {
  SmallVector<int64_t> out;
  if (axes.empty()) {
    for (int64_t d = 0; d < rank; ++d)
      out.push_back(d);
    return out;
  }
  for (int64_t a : axes)
    out.push_back(a < 0 ? a + rank : a);
  llvm::sort(out);
  return out;
}

/// `g` (the gradient of a reduction over `axes` of `input`) as the keepdims shape, then
/// broadcast to the input's shape.
Value broadcastReduced(GradBuilder &gb, Value g, Value input, ArrayRef<int64_t> axes) {
  SmallVector<int64_t> keep(tensorType(input).getShape());
  for (int64_t a : axes)
    keep[a] = 1;
  Type elt = tensorType(g).getElementType();
  Value k = gb.reshape(g, RankedTensorType::get(keep, elt));
  return gb.expand(k, tensorType(input));
}

/// Gradient of a maximum over `axes`: split evenly among the positions equal to the max.
Value maxReductionGrad(GradBuilder &gb, Value g, Value input, Value result,
                       ArrayRef<int64_t> axes) {
  Value maxFull = broadcastReduced(gb, result, input, axes);
  Value isMax = gb.cmp(CompareKind::EQ, input, maxFull);
  Value mask = gb.b.create<CastOp>(gb.loc, tensorType(input), isMax);
  Value count = broadcastReduced(gb, gb.sumKeep(mask, axes), input, axes);
  return gb.div(gb.mul(mask, broadcastReduced(gb, g, input, axes)), count);
}

/// Adjoint of log_softmax along `axis`: g - exp(y) * sum(g).
Value logSoftmaxGrad(GradBuilder &gb, Value g, Value y, int64_t axis) {
  Value sum = gb.sumKeep(g, {axis});
  Value e = gb.b.create<ExpOp>(gb.loc, y);
  return gb.sub(g, gb.mul(e, sum));
}

/// Copies the forward op's attributes named in `names` (when present) for a backward op.
SmallVector<NamedAttribute> copyAttrs(Operation *op, ArrayRef<StringRef> names) {
  SmallVector<NamedAttribute> out;
  for (StringRef n : names)
    if (Attribute a = op->getAttr(n))
      out.emplace_back(StringAttr::get(op->getContext(), n), a);
  return out;
}

} // namespace

//===----------------------------------------------------------------------===//
// Compute ops.
//===----------------------------------------------------------------------===//

LogicalResult MatmulOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                       SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value A = getLhs(), B = getRhs();
  Value g = gb.castTo(resultGrads[0], tensorType(A).getElementType());
  bool ta = getTransposeLhs(), tb = getTransposeRhs();
  auto matmul = [&](Value l, Value r, bool tl, bool tr) -> Value {
    auto m = b.create<MatmulOp>(getLoc(), l, r, tl, tr);
    if (auto acc = getAccTypeAttr())
      m.setAccTypeAttr(acc);
    return m;
  };
  // op(A) = A or A^T; dop(A) = g op(B)^T, dop(B) = op(A)^T g; transposed operands take the
  // transpose of those, written so that no explicit transpose is materialised.
  Value dA = ta ? matmul(B, g, tb, true) : matmul(g, B, false, !tb);
  Value dB = tb ? matmul(g, A, true, ta) : matmul(A, g, !ta, false);
  grads.push_back(gb.reduceTo(dA, A.getType()));
  grads.push_back(gb.reduceTo(dB, B.getType()));
  return success();
}

LogicalResult GemmOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                     SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value A = getA(), B = getB();
  Value g = gb.castTo(resultGrads[0], tensorType(A).getElementType());
  bool ta = getTransposeA(), tb = getTransposeB();
  auto gemm = [&](Type type, Value l, Value r, bool tl, bool tr) -> Value {
    auto op = b.create<GemmOp>(getLoc(), TypeRange{type}, ValueRange{l, r},
                               copyAttrs(*this, {"acc_type"}));
    op.setAlphaAttr(getAlphaAttr());
    op.setTransposeA(tl);
    op.setTransposeB(tr);
    return op;
  };
  grads.push_back(ta ? gemm(A.getType(), B, g, tb, true) : gemm(A.getType(), g, B, false, !tb));
  grads.push_back(tb ? gemm(B.getType(), g, A, true, ta) : gemm(B.getType(), A, g, !ta, false));
  if (Value c = getC()) {
    Value dc = gb.reduceTo(gb.castTo(resultGrads[0], tensorType(c).getElementType()), c.getType());
    double beta = getBeta().convertToDouble();
    grads.push_back(beta == 1.0 ? dc : gb.mul(dc, beta));
  }
  return success();
}

LogicalResult Conv2DOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                       SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value g = gb.castTo(resultGrads[0], tensorType(getInput()).getElementType());
  auto attrs = copyAttrs(*this, {"strides", "pads", "dilations", "groups", "acc_type"});
  grads.push_back(b.create<Conv2DGradInputOp>(getLoc(), TypeRange{getInput().getType()},
                                              ValueRange{g, getWeight()}, attrs));
  grads.push_back(b.create<Conv2DGradWeightOp>(getLoc(), TypeRange{getWeight().getType()},
                                               ValueRange{getInput(), g}, attrs));
  if (Value bias = getBias())
    grads.push_back(b.create<ReduceSumOp>(getLoc(), bias.getType(), g,
                                          b.getDenseI64ArrayAttr({0, 2, 3}), b.getBoolAttr(false)));
  return success();
}

/// conv2d_grad_input is linear in each operand and the adjoint of conv2d in its input, so
/// the gradient for `grad` is conv2d of the result gradient, and the one for `weight` is
/// conv2d_grad_weight with the result gradient as the convolution input.
LogicalResult Conv2DGradInputOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                                SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value g = gb.castTo(resultGrads[0], tensorType(getGrad()).getElementType());
  auto attrs = copyAttrs(*this, {"strides", "pads", "dilations", "groups", "acc_type"});
  grads.push_back(b.create<Conv2DOp>(getLoc(), TypeRange{getGrad().getType()},
                                     ValueRange{g, getWeight()}, attrs));
  grads.push_back(b.create<Conv2DGradWeightOp>(getLoc(), TypeRange{getWeight().getType()},
                                               ValueRange{g, getGrad()}, attrs));
  return success();
}

LogicalResult ResizeOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                       SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value g = gb.castTo(resultGrads[0], tensorType(getInput()).getElementType());
  grads.push_back(b.create<ResizeGradOp>(
      getLoc(), TypeRange{getInput().getType()}, ValueRange{g},
      copyAttrs(*this, {"scales", "mode", "coordinate_transformation_mode", "nearest_mode",
                        "cubic_coeff_a", "exclude_outside", "antialias"})));
  return success();
}

//===----------------------------------------------------------------------===//
// Element-wise ops.
//===----------------------------------------------------------------------===//

LogicalResult AddOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(gb.reduceTo(rg[0], getLhs().getType()));
  grads.push_back(gb.reduceTo(rg[0], getRhs().getType()));
  return success();
}
LogicalResult SubOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(gb.reduceTo(rg[0], getLhs().getType()));
  grads.push_back(gb.reduceTo(gb.neg(rg[0]), getRhs().getType()));
  return success();
}
LogicalResult MulOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(gb.reduceTo(gb.mul(rg[0], getRhs()), getLhs().getType()));
  grads.push_back(gb.reduceTo(gb.mul(rg[0], getLhs()), getRhs().getType()));
  return success();
}
LogicalResult DivOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value g = rg[0];
  grads.push_back(gb.reduceTo(gb.div(g, getRhs()), getLhs().getType()));
  grads.push_back(
      gb.reduceTo(gb.neg(gb.div(gb.mul(g, getResult()), getRhs())), getRhs().getType()));
  return success();
}
/// max/min: the gradient goes to the operand that was selected; ties go to the lhs.
static void selectGrads(GradBuilder &gb, Value g, Value lhs, Value rhs, CompareKind lhsWins,
                        SmallVectorImpl<Value> &grads) {
  Value takeLhs = gb.cmp(lhsWins, lhs, rhs);
  Value zero = gb.scalar(g, 0.0);
  grads.push_back(gb.reduceTo(gb.select(takeLhs, g, zero), lhs.getType()));
  grads.push_back(gb.reduceTo(gb.select(takeLhs, zero, g), rhs.getType()));
}
LogicalResult MaxOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  selectGrads(gb, rg[0], getLhs(), getRhs(), CompareKind::GE, grads);
  return success();
}
LogicalResult MinOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  selectGrads(gb, rg[0], getLhs(), getRhs(), CompareKind::LE, grads);
  return success();
}
LogicalResult PowOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value g = rg[0], x = getLhs(), p = getRhs();
  // d/dx x^p = p x^(p-1); d/dp x^p = x^p log x (defined for x > 0).
  Value xpm1 = b.create<PowOp>(getLoc(), x, gb.sub(p, gb.scalar(p, 1.0)));
  grads.push_back(gb.reduceTo(gb.mul(g, gb.mul(p, xpm1)), x.getType()));
  Value logx = b.create<LogOp>(getLoc(), x);
  grads.push_back(gb.reduceTo(gb.mul(gb.mul(g, getResult()), logx), p.getType()));
  return success();
}

LogicalResult NegOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(gb.neg(rg[0]));
  return success();
}
LogicalResult AbsOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value nonNeg = gb.cmp(CompareKind::GE, getInput(), gb.scalar(getInput(), 0.0));
  grads.push_back(gb.select(nonNeg, rg[0], gb.neg(rg[0])));
  return success();
}
LogicalResult ReluOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                     SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value pos = gb.cmp(CompareKind::GT, getInput(), gb.scalar(getInput(), 0.0));
  grads.push_back(gb.select(pos, rg[0], gb.scalar(rg[0], 0.0)));
  return success();
}
LogicalResult LeakyReluOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                          SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value nonNeg = gb.cmp(CompareKind::GE, getInput(), gb.scalar(getInput(), 0.0));
  grads.push_back(gb.select(nonNeg, rg[0], gb.mul(rg[0], getAlpha().convertToDouble())));
  return success();
}
LogicalResult GeluOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                     SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value x = getInput(), g = rg[0];
  Value one = gb.scalar(x, 1.0);
  Value deriv;
  if (getApproximation() == GeluApproximation::None) {
    // Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
    Value cdf = gb.mul(gb.add(one, b.create<ErfOp>(getLoc(), gb.mul(x, M_SQRT1_2))), 0.5);
    Value pdf =
        gb.mul(b.create<ExpOp>(getLoc(), gb.mul(gb.mul(x, x), -0.5)), 1.0 / std::sqrt(2.0 * M_PI));
    deriv = gb.add(cdf, gb.mul(x, pdf));
  } else {
    // u = c (x + k x^3), t = tanh(u): 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 k x^2).
    const double c = std::sqrt(2.0 / M_PI), k = 0.044715;
    Value x2 = gb.mul(x, x);
    Value u = gb.mul(gb.add(x, gb.mul(gb.mul(x2, x), k)), c);
    Value t = b.create<TanhOp>(getLoc(), u);
    Value du = gb.mul(gb.add(one, gb.mul(x2, 3.0 * k)), c);
    Value sech2 = gb.sub(one, gb.mul(t, t));
    deriv = gb.add(gb.mul(gb.add(one, t), 0.5), gb.mul(gb.mul(gb.mul(x, sech2), du), 0.5));
  }
  grads.push_back(gb.mul(g, deriv));
  return success();
}
LogicalResult TanhOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                     SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value y = getResult();
  grads.push_back(gb.mul(rg[0], gb.sub(gb.scalar(y, 1.0), gb.mul(y, y))));
  return success();
}
LogicalResult SigmoidOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                        SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value y = getResult();
  grads.push_back(gb.mul(rg[0], gb.mul(y, gb.sub(gb.scalar(y, 1.0), y))));
  return success();
}
/// d softplus(x) / dx = sigmoid(x).
LogicalResult SoftplusOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                         SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(gb.mul(rg[0], b.create<SigmoidOp>(getLoc(), getInput())));
  return success();
}
LogicalResult ErfOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value x = getInput();
  Value e = b.create<ExpOp>(getLoc(), gb.neg(gb.mul(x, x)));
  grads.push_back(gb.mul(rg[0], gb.mul(e, 2.0 / std::sqrt(M_PI))));
  return success();
}
LogicalResult SqrtOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                     SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(gb.div(gb.mul(rg[0], 0.5), getResult()));
  return success();
}
LogicalResult ExpOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(gb.mul(rg[0], getResult()));
  return success();
}
LogicalResult LogOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(gb.div(rg[0], getInput()));
  return success();
}
LogicalResult RsqrtOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                      SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value y = getResult();
  grads.push_back(gb.mul(gb.mul(rg[0], gb.mul(gb.mul(y, y), y)), -0.5));
  return success();
}
LogicalResult ReciprocalOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                           SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value y = getResult();
  grads.push_back(gb.neg(gb.mul(rg[0], gb.mul(y, y))));
  return success();
}

LogicalResult SinOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(gb.mul(rg[0], b.create<CosOp>(getLoc(), getInput())));
  return success();
}
LogicalResult CosOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(gb.neg(gb.mul(rg[0], b.create<SinOp>(getLoc(), getInput()))));
  return success();
}
/// alpha where 0 < alpha x + beta < 1, else 0 (the kinks take the flat side, as torch's
/// hardsigmoid_backward does).
LogicalResult HardSigmoidOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                            SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value x = getInput(), g = rg[0];
  Value v =
      gb.add(gb.mul(x, getAlpha().convertToDouble()), gb.scalar(x, getBeta().convertToDouble()));
  Value zero = gb.scalar(g, 0.0);
  Value belowOne = gb.select(gb.cmp(CompareKind::LT, v, gb.scalar(v, 1.0)),
                             gb.mul(g, getAlpha().convertToDouble()), zero);
  grads.push_back(gb.select(gb.cmp(CompareKind::GT, v, gb.scalar(v, 0.0)), belowOne, zero));
  return success();
}
/// fmod: d/dlhs = 1, d/drhs = -trunc(lhs / rhs) = (result - lhs) / rhs.
LogicalResult ModOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  if (!getFmod())
    return emitOpError() << "has a gradient only with fmod = true (floats)";
  GradBuilder gb{b, getLoc()};
  Value g = rg[0];
  grads.push_back(gb.reduceTo(g, getLhs().getType()));
  Value quotient = gb.div(gb.sub(getResult(), getLhs()), getRhs());
  grads.push_back(gb.reduceTo(gb.mul(g, quotient), getRhs().getType()));
  return success();
}

LogicalResult WhereOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                      SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value g = rg[0], zero = gb.scalar(g, 0.0);
  grads.push_back(Value());
  grads.push_back(gb.reduceTo(gb.select(getCondition(), g, zero), getOnTrue().getType()));
  grads.push_back(gb.reduceTo(gb.select(getCondition(), zero, g), getOnFalse().getType()));
  return success();
}
LogicalResult CastOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                     SmallVectorImpl<Value> &grads) {
  grads.push_back(isDifferentiableOperand(0)
                      ? Value(b.create<CastOp>(getLoc(), getInput().getType(), rg[0]))
                      : Value());
  return success();
}
LogicalResult DropoutOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                        SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value g = rg[0];
  if (!g)
    g = gb.zeros(getOutput().getType());
  if (!getTraining())
    grads.push_back(g);
  else
    // The mask the forward drew, so the gradient never draws again.
    grads.push_back(gb.select(getMask(), gb.mul(g, 1.0 / (1.0 - getRatio().convertToDouble())),
                              gb.scalar(g, 0.0)));
  if (getRng())
    grads.push_back(Value()); // the RNG state is no differentiable input
  return success();
}

//===----------------------------------------------------------------------===//
// Data movement.
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                        SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(gb.reshape(rg[0], getInput().getType()));
  return success();
}
LogicalResult ExpandOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                       SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(gb.reduceTo(rg[0], getInput().getType()));
  return success();
}
LogicalResult TransposeOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                          SmallVectorImpl<Value> &grads) {
  ArrayRef<int64_t> perm = getPerm();
  SmallVector<int64_t> inverse(perm.size());
  for (auto [i, p] : llvm::enumerate(perm))
    inverse[p] = static_cast<int64_t>(i);
  grads.push_back(b.create<TransposeOp>(getLoc(), getInput().getType(), rg[0],
                                        b.getDenseI64ArrayAttr(inverse)));
  return success();
}
LogicalResult ConcatOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                       SmallVectorImpl<Value> &grads) {
  auto type = tensorType(getResult());
  int64_t rank = type.getRank(), axis = normalizedAxis(getAxis(), rank);
  int64_t offset = 0;
  for (Value in : getInputs()) {
    auto it = tensorType(in);
    SmallVector<int64_t> start(rank, 0), limit(type.getShape()), step(rank, 1);
    start[axis] = offset;
    limit[axis] = offset + it.getDimSize(axis);
    offset = limit[axis];
    if (!isDifferentiableOperand(grads.size())) {
      grads.push_back(Value());
      continue;
    }
    grads.push_back(b.create<SliceOp>(getLoc(), in.getType(), rg[0], b.getDenseI64ArrayAttr(start),
                                      b.getDenseI64ArrayAttr(limit), b.getDenseI64ArrayAttr(step)));
  }
  return success();
}
LogicalResult SplitOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                      SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  SmallVector<Value> pieces;
  for (auto [r, g] : llvm::zip(getResults(), rg))
    pieces.push_back(g ? g : gb.zeros(r.getType()));
  grads.push_back(b.create<ConcatOp>(getLoc(), getInput().getType(), pieces, getAxisAttr()));
  return success();
}
LogicalResult SliceOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                      SmallVectorImpl<Value> &grads) {
  grads.push_back(isDifferentiableOperand(0)
                      ? Value(b.create<SliceGradOp>(getLoc(), getInput().getType(), rg[0],
                                                    getStartAttr(), getLimitAttr(), getStepAttr()))
                      : Value());
  return success();
}
/// Constant padding: the result gradient at the input's position (a slice). reflect and edge
/// would add the mirrored and repeated positions back; they have no rule yet.
LogicalResult PadOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                    SmallVectorImpl<Value> &grads) {
  if (getMode() != PadMode::Constant)
    return emitOpError() << "has no gradient rule for mode " << stringifyPadMode(getMode());
  auto in = getInput().getType();
  const int64_t rank = in.getRank();
  SmallVector<int64_t> start, limit, step(rank, 1);
  for (int64_t d = 0; d < rank; ++d) {
    start.push_back(getPads()[d]);
    limit.push_back(getPads()[d] + in.getDimSize(d));
  }
  grads.push_back(b.create<SliceOp>(getLoc(), in, rg[0], b.getDenseI64ArrayAttr(start),
                                    b.getDenseI64ArrayAttr(limit), b.getDenseI64ArrayAttr(step)));
  return success();
}
LogicalResult TriluOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                      SmallVectorImpl<Value> &grads) {
  grads.push_back(b.create<TriluOp>(getLoc(), rg[0].getType(), rg[0], getUpperAttr(), getKAttr()));
  return success();
}
/// Rotary embedding is linear in each operand. Per-pair caches: the input's gradient is the
/// rotation by the opposite angles (the op with -sin); the caches' gradients sum g * x
/// (cos) and g * rotate(x) (sin) over each pair, rotate(x) = (-x2, x1) being the op with cos
/// 0 and sin 1. Per-channel caches (y = x cos + rotate(x) sin on the rotated channels): the
/// same products unsummed, and x's gradient g cos + rotate^T(g sin) = g cos - rotate(g sin).
LogicalResult RotaryOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                       SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value x = getInput(), cos = getCos(), sin = getSin();
  Value g = gb.castTo(rg[0], tensorType(x).getElementType());
  const int64_t rank = tensorType(x).getRank(), width = tensorType(x).getShape().back();
  const int64_t rot = getRotatedChannels(), half = rot / 2;
  const bool perPair = tensorType(cos).getShape().back() == half;
  Location loc = getLoc();
  auto lastSlice = [&](Value v, int64_t start, int64_t limit, int64_t step) -> Value {
    auto t = tensorType(v);
    if (start == 0 && limit == t.getShape().back() && step == 1)
      return v;
    SmallVector<int64_t> starts(rank, 0), limits(t.getShape()), steps(rank, 1);
    starts.back() = start, limits.back() = limit, steps.back() = step;
    return b.create<SliceOp>(loc, v, b.getDenseI64ArrayAttr(starts), b.getDenseI64ArrayAttr(limits),
                             b.getDenseI64ArrayAttr(steps));
  };
  // The rotated channels, and the sum over each pair of them.
  auto rotated = [&](Value v) { return lastSlice(v, 0, rot, 1); };
  auto pairSum = [&](Value v) {
    return getInterleaved() ? gb.add(lastSlice(v, 0, rot, 2), lastSlice(v, 1, rot, 2))
                            : gb.add(lastSlice(v, 0, half, 1), lastSlice(v, half, rot, 1));
  };
  // (-x2, x1) on rotated channels only (v is `rot` wide).
  auto rotate = [&](Value v) -> Value {
    auto caches = RankedTensorType::get({half}, tensorType(v).getElementType());
    Value zero = gb.zeros(caches);
    Value one = b.create<ConstantOp>(
        loc, DenseElementsAttr::get(caches, b.getFloatAttr(caches.getElementType(), 1.0)));
    return b.create<RotaryOp>(loc, v.getType(), v, zero, one, getInterleavedAttr(),
                              b.getI64IntegerAttr(0));
  };
  Value dx;
  if (isDifferentiableOperand(0)) {
    if (perPair) {
      dx = b.create<RotaryOp>(loc, x.getType(), g, cos, gb.neg(sin), getInterleavedAttr(),
                              getRotaryDimAttr());
    } else {
      Value gr = rotated(g);
      dx = gb.sub(gb.mul(gr, cos), rotate(gb.mul(gr, sin)));
      if (rot < width)
        dx = b.create<ConcatOp>(loc, ValueRange{dx, lastSlice(g, rot, width, 1)},
                                b.getI64IntegerAttr(rank - 1));
    }
  }
  grads.push_back(dx);
  for (auto [operand, isSin] : {std::pair(cos, false), std::pair(sin, true)}) {
    if (!isDifferentiableOperand(grads.size())) {
      grads.push_back(Value());
      continue;
    }
    Value xr = rotated(x);
    Value prod = gb.mul(rotated(g), isSin ? rotate(xr) : xr);
    grads.push_back(gb.reduceTo(perPair ? pairSum(prod) : prod, operand.getType()));
  }
  return success();
}
/// Each input element feeds the results after it (before it when reversed): the cumulative
/// sum of the gradient in the other direction, exclusive alike.
LogicalResult CumSumOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                       SmallVectorImpl<Value> &grads) {
  grads.push_back(b.create<CumSumOp>(getLoc(), rg[0].getType(), rg[0], getAxisAttr(),
                                     getExclusiveAttr(), b.getBoolAttr(!getReverse())));
  return success();
}
LogicalResult GatherOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                       SmallVectorImpl<Value> &grads) {
  grads.push_back(isDifferentiableOperand(0)
                      ? Value(b.create<GatherGradOp>(getLoc(), getData().getType(), rg[0],
                                                     getIndices(), getAxisAttr()))
                      : Value());
  grads.push_back(Value());
  return success();
}

/// Each data element receives the gradients of the result positions that read it.
LogicalResult GatherElementsOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                               SmallVectorImpl<Value> &grads) {
  grads.push_back(isDifferentiableOperand(0)
                      ? Value(b.create<GatherElementsGradOp>(getLoc(), getData().getType(), rg[0],
                                                             getIndices(), getAxisAttr()))
                      : Value());
  grads.push_back(Value());
  return success();
}

/// Each gathered slice's gradient is added back where it was read.
LogicalResult GatherNDOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                         SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(isDifferentiableOperand(0)
                      ? Value(b.create<ScatterNDOp>(getLoc(), getData().getType(),
                                                    gb.zeros(getData().getType()), getIndices(),
                                                    rg[0], ScatterReduction::Add))
                      : Value());
  grads.push_back(Value());
  return success();
}
/// With distinct index tuples: the data's gradient is the result's with the overwritten slices
/// zeroed (`none`) or unchanged (`add`); each update's is the result gradient it landed on.
LogicalResult ScatterNDOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                          SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value dData;
  if (isDifferentiableOperand(0))
    dData = getReduction() == ScatterReduction::Add
                ? rg[0]
                : Value(b.create<ScatterNDOp>(getLoc(), rg[0].getType(), rg[0], getIndices(),
                                              gb.zeros(getUpdates().getType()),
                                              ScatterReduction::None));
  grads.push_back(dData);
  grads.push_back(Value());
  grads.push_back(
      isDifferentiableOperand(2)
          ? Value(b.create<GatherNDOp>(getLoc(), getUpdates().getType(), rg[0], getIndices()))
          : Value());
  return success();
}

/// The values' gradient goes back to the positions they were taken from.
LogicalResult TopKOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                     SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value g = rg[0] ? rg[0] : gb.zeros(getValues().getType());
  grads.push_back(isDifferentiableOperand(0)
                      ? Value(b.create<GatherElementsGradOp>(getLoc(), getInput().getType(), g,
                                                             getIndices(), getAxisAttr()))
                      : Value());
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions, normalisation, pooling.
//===----------------------------------------------------------------------===//

LogicalResult ReduceSumOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                          SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  auto axes = reductionAxes(getAxes(), tensorType(getInput()).getRank());
  grads.push_back(broadcastReduced(gb, rg[0], getInput(), axes));
  return success();
}
LogicalResult ReduceMeanOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                           SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  auto axes = reductionAxes(getAxes(), tensorType(getInput()).getRank());
  int64_t count = 1;
  for (int64_t a : axes)
    count *= tensorType(getInput()).getDimSize(a);
  grads.push_back(gb.mul(broadcastReduced(gb, rg[0], getInput(), axes), 1.0 / count));
  return success();
}
LogicalResult ReduceMaxOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                          SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  auto axes = reductionAxes(getAxes(), tensorType(getInput()).getRank());
  grads.push_back(maxReductionGrad(gb, rg[0], getInput(), getResult(), axes));
  return success();
}
static SmallVector<int64_t> spatialAxes(Value input) {
  SmallVector<int64_t> axes;
  for (int64_t d = 2; d < tensorType(input).getRank(); ++d)
    axes.push_back(d);
  return axes;
}
LogicalResult GlobalAvgPoolOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                              SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  auto axes = spatialAxes(getInput());
  int64_t count = 1;
  for (int64_t a : axes)
    count *= tensorType(getInput()).getDimSize(a);
  grads.push_back(gb.mul(broadcastReduced(gb, rg[0], getInput(), axes), 1.0 / count));
  return success();
}
LogicalResult GlobalMaxPoolOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                              SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  grads.push_back(maxReductionGrad(gb, rg[0], getInput(), getResult(), spatialAxes(getInput())));
  return success();
}
LogicalResult SoftmaxOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                        SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  int64_t rank = tensorType(getInput()).getRank();
  int64_t axis = normalizedAxis(getAxis(), rank);
  Value y = getResult(), g = rg[0];
  // y * (g - sum(g * y)).
  grads.push_back(gb.mul(y, gb.sub(g, gb.sumKeep(gb.mul(g, y), {axis}))));
  return success();
}
LogicalResult LogSoftmaxOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                           SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  int64_t rank = tensorType(getInput()).getRank();
  int64_t axis = normalizedAxis(getAxis(), rank);
  grads.push_back(logSoftmaxGrad(gb, rg[0], getResult(), axis));
  return success();
}
LogicalResult LayerNormOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                          SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value x = getInput(), g = rg[0];
  int64_t rank = tensorType(x).getRank();
  int64_t axis = normalizedAxis(getAxis(), rank);
  SmallVector<int64_t> axes;
  for (int64_t d = axis; d < rank; ++d)
    axes.push_back(d);
  // Recompute the statistics (biased variance, as the forward op; RMS: no mean) and xhat.
  Value xc = getRms() ? x : gb.sub(x, gb.meanKeep(x, axes));
  Value var = gb.meanKeep(gb.mul(xc, xc), axes);
  Value rstd =
      b.create<RsqrtOp>(getLoc(), gb.add(var, gb.scalar(x, getEpsilon().convertToDouble())));
  Value xhat = gb.mul(xc, rstd);
  // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * scale; RMS
  // drops the mean(dxhat) term (the mean was not subtracted).
  Value dxhat = gb.mul(g, getScale());
  Value centred = getRms() ? dxhat : gb.sub(dxhat, gb.meanKeep(dxhat, axes));
  Value inner = gb.sub(centred, gb.mul(xhat, gb.meanKeep(gb.mul(dxhat, xhat), axes)));
  grads.push_back(gb.mul(rstd, inner));
  grads.push_back(gb.reduceTo(gb.mul(g, xhat), getScale().getType()));
  if (Value bias = getBias())
    grads.push_back(gb.reduceTo(g, bias.getType()));
  return success();
}
LogicalResult AvgPool2DOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                          SmallVectorImpl<Value> &grads) {
  auto attrs = copyAttrs(*this, {"kernel", "strides", "pads", "ceil_mode", "count_include_pad"});
  grads.push_back(b.create<AvgPool2DGradOp>(getLoc(), TypeRange{getInput().getType()},
                                            ValueRange{rg[0]}, attrs));
  return success();
}
bool BatchNormOp::isDifferentiableOperand(unsigned index) { return index <= 2; }
LogicalResult BatchNormOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                          SmallVectorImpl<Value> &grads) {
  // Only `result` carries a gradient: the updated running statistics are optimizer-like
  // state, and a gradient reaching them is dropped.
  GradBuilder gb{b, getLoc()};
  Value x = getInput(), g = rg[0];
  if (!g)
    g = gb.zeros(getResult().getType());
  auto xt = tensorType(x);
  SmallVector<int64_t> axes{0}, channelShape(xt.getRank(), 1);
  for (int64_t d = 2; d < xt.getRank(); ++d)
    axes.push_back(d);
  channelShape[1] = xt.getDimSize(1);
  auto channelType = RankedTensorType::get(channelShape, xt.getElementType());
  auto perChannel = [&](Value v) { return gb.reshape(v, channelType); };
  Value eps = gb.scalar(x, getEpsilon().convertToDouble());
  Value scale = perChannel(getScale());
  Value xhat, rstd, dx;
  if (getTraining()) {
    Value xc = gb.sub(x, gb.meanKeep(x, axes));
    rstd = b.create<RsqrtOp>(getLoc(), gb.add(gb.meanKeep(gb.mul(xc, xc), axes), eps));
    xhat = gb.mul(xc, rstd);
    Value dxhat = gb.mul(g, scale);
    dx = gb.mul(rstd, gb.sub(gb.sub(dxhat, gb.meanKeep(dxhat, axes)),
                             gb.mul(xhat, gb.meanKeep(gb.mul(dxhat, xhat), axes))));
  } else {
    rstd = b.create<RsqrtOp>(getLoc(), gb.add(perChannel(getRunningVar()), eps));
    xhat = gb.mul(gb.sub(x, perChannel(getRunningMean())), rstd);
    dx = gb.mul(g, gb.mul(scale, rstd));
  }
  grads.push_back(dx);
  grads.push_back(gb.reshape(gb.sumKeep(gb.mul(g, xhat), axes), getScale().getType()));
  grads.push_back(gb.reshape(gb.sumKeep(g, axes), getBias().getType()));
  grads.append(2, Value());
  return success();
}
LogicalResult MaxPool2DOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                          SmallVectorImpl<Value> &grads) {
  auto attrs = copyAttrs(*this, {"kernel", "strides", "pads", "dilations", "ceil_mode"});
  grads.push_back(b.create<MaxPool2DGradOp>(getLoc(), TypeRange{getInput().getType()},
                                            ValueRange{rg[0], getInput()}, attrs));
  return success();
}

//===----------------------------------------------------------------------===//
// Losses.
//===----------------------------------------------------------------------===//

/// d loss / d log-probabilities of an nll-style loss (null when the loss has no gradient).
template <typename OpT> static Value nllGrad(OpT op, OpBuilder &b, Value g, Type inputType) {
  if (!g)
    return Value();
  SmallVector<Value> operands{g, op->getOperand(1)};
  if (op->getNumOperands() > 2)
    operands.push_back(op->getOperand(2));
  return b.create<NllLossGradOp>(op.getLoc(), TypeRange{inputType}, operands,
                                 copyAttrs(op, {"reduction", "ignore_index"}));
}

bool SoftmaxCrossEntropyOp::isDifferentiableOperand(unsigned index) { return index == 0; }
LogicalResult SoftmaxCrossEntropyOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                                    SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  // Gradient with respect to log_prob (from the loss and from direct uses), then through
  // log-softmax over the class dimension.
  Value dlp = nllGrad(*this, b, rg[0], getScores().getType());
  if (rg[1])
    dlp = dlp ? gb.add(dlp, rg[1]) : rg[1];
  grads.push_back(logSoftmaxGrad(gb, dlp, getLogProb(), 1));
  grads.append(getNumOperands() - 1, Value());
  return success();
}
bool NllLossOp::isDifferentiableOperand(unsigned index) { return index == 0; }
LogicalResult NllLossOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                        SmallVectorImpl<Value> &grads) {
  grads.push_back(nllGrad(*this, b, rg[0], getInput().getType()));
  grads.append(getNumOperands() - 1, Value());
  return success();
}

//===----------------------------------------------------------------------===//
// Backward-op verifiers.
//===----------------------------------------------------------------------===//

static int64_t convOutputSize(int64_t in, int64_t padBefore, int64_t padAfter, int64_t kernel,
                              int64_t stride, int64_t dilation) {
  return (in + padBefore + padAfter - dilation * (kernel - 1) - 1) / stride + 1;
}

/// Shared checks of the convolution adjoints: `x` the forward input shape, `w` the weight
/// shape, `y` the forward output shape.
static LogicalResult verifyConvGrad(Operation *op, ArrayRef<int64_t> x, ArrayRef<int64_t> w,
                                    ArrayRef<int64_t> y, ArrayRef<int64_t> s, ArrayRef<int64_t> p,
                                    ArrayRef<int64_t> d, int64_t groups, Type accType,
                                    TypeRange types) {
  if (x.size() != 4 || w.size() != 4 || y.size() != 4)
    return op->emitOpError("expects rank-4 NCHW input, OIHW weight and gradient");
  if (s.size() != 2 || d.size() != 2 || p.size() != 4)
    return op->emitOpError("expects 2 strides, 2 dilations and 4 pads");
  Type elt = cast<RankedTensorType>(types.front()).getElementType();
  for (Type t : types)
    if (cast<RankedTensorType>(t).getElementType() != elt)
      return op->emitOpError("expects operands and result to share one element type");
  if (accType) {
    auto acc = dyn_cast<FloatType>(accType);
    if (!acc || acc.getWidth() < cast<FloatType>(elt).getWidth())
      return op->emitOpError("accumulation type must be a float at least as wide as ") << elt;
  }
  if (groups < 1 || x[1] != w[1] * groups || w[0] % groups)
    return op->emitOpError("channels do not match the weight and groups ") << groups;
  if (y[0] != x[0] || y[1] != w[0])
    return op->emitOpError("gradient batch or channels do not match");
  for (int i = 0; i < 2; ++i)
    if (convOutputSize(x[2 + i], p[i], p[2 + i], w[2 + i], s[i], d[i]) != y[2 + i])
      return op->emitOpError("gradient spatial size does not match the convolution geometry");
  return success();
}

LogicalResult Conv2DGradInputOp::verify() {
  Type acc = getAccType() ? *getAccType() : Type();
  return verifyConvGrad(*this, getType().getShape(), getWeight().getType().getShape(),
                        getGrad().getType().getShape(), getStrides(), getPads(), getDilations(),
                        getGroups(), acc, {getGrad().getType(), getWeight().getType(), getType()});
}
LogicalResult Conv2DGradWeightOp::verify() {
  Type acc = getAccType() ? *getAccType() : Type();
  return verifyConvGrad(*this, getInput().getType().getShape(), getType().getShape(),
                        getGrad().getType().getShape(), getStrides(), getPads(), getDilations(),
                        getGroups(), acc, {getGrad().getType(), getInput().getType(), getType()});
}

LogicalResult MaxPool2DGradOp::verify() {
  auto in = getInput().getType(), g = getGrad().getType();
  if (getType() != in)
    return emitOpError("result type must be the input's");
  if (g.getElementType() != in.getElementType() || in.getRank() != 4 || g.getRank() != 4)
    return emitOpError("expects rank-4 gradient and input of one element type");
  auto k = getKernel(), s = getStrides(), p = getPads(), d = getDilations();
  if (k.size() != 2 || s.size() != 2 || p.size() != 4 || d.size() != 2)
    return emitOpError("expects 2 kernel, stride and dilation values and 4 pads");
  SmallVector<int64_t> expected = {in.getDimSize(0), in.getDimSize(1)};
  for (int i = 0; i < 2; ++i) {
    int64_t span = in.getDimSize(2 + i) + p[i] + p[2 + i] - d[i] * (k[i] - 1) - 1;
    int64_t out = (getCeilMode() ? (span + s[i] - 1) / s[i] : span / s[i]) + 1;
    if (getCeilMode() && (out - 1) * s[i] >= in.getDimSize(2 + i) + p[i])
      --out;
    expected.push_back(out);
  }
  if (g.getShape() != ArrayRef<int64_t>(expected))
    return emitOpError("gradient shape does not match the pooled shape of the input");
  return success();
}

LogicalResult GatherGradOp::verify() {
  auto data = getType(), g = getGrad().getType(), idx = getIndices().getType();
  int64_t axis = normalizedAxis(getAxis(), data.getRank());
  if (axis < 0 || axis >= data.getRank())
    return emitOpError("axis out of range");
  if (g.getElementType() != data.getElementType())
    return emitOpError("gradient and result must share the element type");
  SmallVector<int64_t> expected(data.getShape().take_front(axis));
  llvm::append_range(expected, idx.getShape());
  llvm::append_range(expected, data.getShape().drop_front(axis + 1));
  if (g.getShape() != ArrayRef<int64_t>(expected))
    return emitOpError("gradient shape must be data[:axis] + indices + data[axis+1:]");
  return success();
}

LogicalResult NllLossGradOp::verify() {
  auto in = getType(), t = getTarget().getType(), g = getGrad().getType();
  if (in.getRank() < 2)
    return emitOpError("result must be N x C x D1 ...");
  SmallVector<int64_t> tshape = {in.getDimSize(0)};
  llvm::append_range(tshape, in.getShape().drop_front(2));
  if (t.getShape() != ArrayRef<int64_t>(tshape))
    return emitOpError("target shape must be [N, D1, ...] of the result");
  if (getReduction() == LossReduction::None ? g.getShape() != ArrayRef<int64_t>(tshape)
                                            : g.getNumElements() != 1)
    return emitOpError("gradient shape does not match the reduction");
  if (Value w = getWeights())
    if (tensorType(w).getRank() != 1 || tensorType(w).getDimSize(0) != in.getDimSize(1))
      return emitOpError("weights must be [C]");
  return success();
}

LogicalResult AvgPool2DGradOp::verify() {
  auto in = getType(), g = getGrad().getType();
  if (g.getElementType() != in.getElementType() || in.getRank() != 4 || g.getRank() != 4)
    return emitOpError("expects rank-4 gradient and result of one element type");
  auto k = getKernel(), s = getStrides(), p = getPads();
  if (k.size() != 2 || s.size() != 2 || p.size() != 4)
    return emitOpError("expects 2 kernel and stride values and 4 pads");
  SmallVector<int64_t> expected = {in.getDimSize(0), in.getDimSize(1)};
  for (int i = 0; i < 2; ++i) {
    int64_t span = in.getDimSize(2 + i) + p[i] + p[2 + i] - k[i];
    int64_t out = (getCeilMode() ? (span + s[i] - 1) / s[i] : span / s[i]) + 1;
    if (getCeilMode() && (out - 1) * s[i] >= in.getDimSize(2 + i) + p[i])
      --out;
    expected.push_back(out);
  }
  if (g.getShape() != ArrayRef<int64_t>(expected))
    return emitOpError("gradient shape does not match the pooled shape of the result");
  return success();
}

LogicalResult SliceGradOp::verify() {
  auto in = getType(), g = getGrad().getType();
  if (g.getElementType() != in.getElementType())
    return emitOpError("gradient and result must share the element type");
  auto start = getStart(), limit = getLimit(), step = getStep();
  size_t rank = static_cast<size_t>(in.getRank());
  if (start.size() != rank || limit.size() != rank || step.size() != rank ||
      g.getRank() != in.getRank())
    return emitOpError("start, limit, step and the gradient must have the result's rank");
  for (size_t d = 0; d < rank; ++d) {
    if (step[d] == 0)
      return emitOpError("step 0 in dimension ") << d;
    int64_t span = step[d] > 0 ? limit[d] - start[d] : start[d] - limit[d];
    int64_t mag = std::abs(step[d]);
    int64_t n = span <= 0 ? 0 : (span + mag - 1) / mag;
    if (n != g.getDimSize(d))
      return emitOpError("gradient dimension ") << d << " should be " << n;
    if (n > 0 &&
        (start[d] < 0 || start[d] >= in.getDimSize(d) || start[d] + (n - 1) * step[d] < 0 ||
         start[d] + (n - 1) * step[d] >= in.getDimSize(d)))
      return emitOpError("slice of dimension ") << d << " leaves the result";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Attention.
//===----------------------------------------------------------------------===//

/// The additive mask takes no gradient: the importer and precis-recognize-attention only
/// give the op a mask that no parameter reaches.
bool AttentionOp::isDifferentiableOperand(unsigned index) { return index < 3; }
LogicalResult AttentionOp::buildGradients(OpBuilder &b, ArrayRef<Value> rg,
                                          SmallVectorImpl<Value> &grads) {
  GradBuilder gb{b, getLoc()};
  Value g = rg[0] ? gb.castTo(rg[0], tensorType(getOut()).getElementType())
                  : gb.zeros(getOut().getType());
  SmallVector<Value> operands{getQuery(), getKey(), getValue(), getOut(), getLse(), g};
  if (Value mask = getMask())
    operands.push_back(mask);
  auto grad = b.create<AttentionGradOp>(
      getLoc(), TypeRange{getQuery().getType(), getKey().getType(), getValue().getType()}, operands,
      copyAttrs(*this, {"scale", "is_causal", "acc_type"}));
  grads.append(grad->result_begin(), grad->result_end());
  if (getMask())
    grads.push_back(Value());
  return success();
}
