//===- PrecisOps.cpp - precis op verifiers, inference, builders -*- C++ -*-===//
//
// Shape inference (through InferTypeOpAdaptor), verifiers for every invariant the op
// descriptions state and custom builders of the precis ops (folders: PrecisFolders.cpp).
//
//===----------------------------------------------------------------------===//

#include "precis/Dialect/Precis/IR/PrecisOps.h"
#include "precis/runtime/ResizeTaps.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::precis;

//===----------------------------------------------------------------------===//
// Helpers.
//===----------------------------------------------------------------------===//

static RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Resolves a possibly negative axis against `rank`; nullopt when out of range.
static std::optional<int64_t> normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return std::nullopt;
  return axis < 0 ? axis + rank : axis;
}

/// NumPy broadcast of all `types`' shapes, or an error naming both offending shapes.
static FailureOr<SmallVector<int64_t>> broadcastShapes(std::optional<Location> loc,
                                                       ArrayRef<Type> types) {
  SmallVector<int64_t> shape;
  for (Type t : types) {
    auto rt = cast<RankedTensorType>(t);
    SmallVector<int64_t> next;
    if (!OpTrait::util::getBroadcastedShape(shape, rt.getShape(), next)) {
      (void)emitOptionalError(loc, "shapes [", llvm::make_range(shape.begin(), shape.end()),
                              "] and ", rt, " do not broadcast");
      return failure();
    }
    shape = std::move(next);
  }
  return shape;
}

/// Shape of a (batched) matmul result, or an error.
static FailureOr<SmallVector<int64_t>>
inferMatmulShape(std::optional<Location> loc, RankedTensorType lhs, RankedTensorType rhs,
                 bool transposeLhs, bool transposeRhs) {
  if (lhs.getRank() < 2 || rhs.getRank() < 2) {
    (void)emitOptionalError(loc, "matmul operands must have rank >= 2, got ", lhs, " and ",
                            rhs);
    return failure();
  }
  ArrayRef<int64_t> a = lhs.getShape(), b = rhs.getShape();
  int64_t m = a[a.size() - (transposeLhs ? 1 : 2)], ka = a[a.size() - (transposeLhs ? 2 : 1)];
  int64_t kb = b[b.size() - (transposeRhs ? 1 : 2)], n = b[b.size() - (transposeRhs ? 2 : 1)];
  if (ka != kb) {
    (void)emitOptionalError(loc, "matmul contraction sizes differ: ", ka, " vs ", kb);
    return failure();
  }
  SmallVector<int64_t> batch;
  if (!OpTrait::util::getBroadcastedShape(a.drop_back(2), b.drop_back(2), batch)) {
    (void)emitOptionalError(loc, "matmul batch dimensions do not broadcast: ", lhs, " and ",
                            rhs);
    return failure();
  }
  batch.push_back(m);
  batch.push_back(n);
  return batch;
}

/// Output size of one pooled or convolved spatial dimension.
static int64_t windowOutputSize(int64_t in, int64_t padBefore, int64_t padAfter, int64_t kernel,
                                int64_t stride, int64_t dilation, bool ceilMode) {
  int64_t span = in + padBefore + padAfter - dilation * (kernel - 1) - 1;
  int64_t out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1;
  // ONNX: with ceil_mode, a last window that starts inside the right padding is dropped.
  if (ceilMode && (out - 1) * stride >= in + padBefore)
    --out;
  return out;
}

/// Checks `values` has `size` entries, each at least `min`.
static LogicalResult checkWindowAttr(Operation *op, StringRef name, ArrayRef<int64_t> values,
                                     size_t size, int64_t min) {
  if (values.size() != size)
    return op->emitOpError() << "expects " << size << " values in '" << name << "', got "
                             << values.size();
  for (int64_t v : values)
    if (v < min)
      return op->emitOpError() << "expects '" << name << "' values >= " << min << ", got " << v;
  return success();
}


//===----------------------------------------------------------------------===//
// Compute ops.
//===----------------------------------------------------------------------===//

void MatmulOp::build(OpBuilder &builder, OperationState &state, Value lhs, Value rhs,
                     bool transposeLhs, bool transposeRhs) {
  auto shape = inferMatmulShape(std::nullopt, tensorType(lhs), tensorType(rhs), transposeLhs,
                                transposeRhs);
  // An invalid combination still builds (with the lhs shape) so the verifier can report it.
  auto resultType = RankedTensorType::get(succeeded(shape) ? ArrayRef<int64_t>(*shape)
                                                           : tensorType(lhs).getShape(),
                                          tensorType(lhs).getElementType());
  build(builder, state, resultType, lhs, rhs, transposeLhs, transposeRhs, TypeAttr());
}

/// Contraction ops share these element-type rules: operands agree, the result is at least as
/// wide as the operands (or equal), and accumulation is in a float type at least as wide.
static bool isFp8(Type t) { return t.isFloat8E4M3FN() || t.isFloat8E5M2(); }

/// Contraction operands share one element type, except that fp8 GEMMs may mix E4M3 and E5M2
/// (a gradient times an activation) and take a bias (any further operand) in the result's type.
static LogicalResult verifyContractionTypes(Operation *op, TypeRange operands, Type result,
                                            Type accType) {
  Type elt = cast<RankedTensorType>(operands.front()).getElementType();
  Type resultElt = cast<RankedTensorType>(result).getElementType();
  for (auto [i, t] : llvm::enumerate(operands)) {
    Type e = cast<RankedTensorType>(t).getElementType();
    bool ok = e == elt || (i == 1 && isFp8(e) && isFp8(elt)) ||
              (i >= 2 && isFp8(elt) && e == resultElt);
    if (!ok)
      return op->emitOpError() << "expects all operands to share one element type, got "
                               << operands;
  }
  auto acc = dyn_cast<FloatType>(accType);
  if (!acc || acc.getWidth() < 16)
    return op->emitOpError() << "expects a float accumulation type of 16 bits or more, got "
                             << accType;
  if (acc.getWidth() < cast<FloatType>(elt).getWidth())
    return op->emitOpError() << "accumulation type " << accType
                             << " is narrower than the operands' " << elt;
  return success();
}

/// The result shape of a matmul or scaled_matmul is the one its operands imply.
template <typename OpTy> static LogicalResult verifyMatmulShape(OpTy op) {
  auto shape = inferMatmulShape(op.getLoc(), op.getLhs().getType(), op.getRhs().getType(),
                                op.getTransposeLhs(), op.getTransposeRhs());
  if (failed(shape))
    return failure();
  if (op.getType().getShape() != ArrayRef<int64_t>(*shape))
    return op.emitOpError() << "result shape " << op.getType() << " does not match the inferred ["
                            << *shape << "]";
  return success();
}

LogicalResult MatmulOp::verify() {
  if (failed(verifyContractionTypes(*this, getOperandTypes(), getType(), getAccumulationType())))
    return failure();
  return verifyMatmulShape(*this);
}

LogicalResult ScaledMatmulOp::verify() {
  Type a = getLhs().getType().getElementType(), b = getRhs().getType().getElementType();
  if (!isFp8(a) || !isFp8(b))
    return emitOpError() << "expects fp8 operands, got " << a << " and " << b;
  if (a.isFloat8E5M2() && b.isFloat8E5M2())
    return emitOpError() << "has no E5M2 x E5M2 form (tensor cores reject it)";
  if (!getAccumulationType().isF32())
    return emitOpError() << "accumulates in f32 only";
  return verifyMatmulShape(*this);
}

LogicalResult GemmOp::verify() {
  auto a = getA().getType(), b = getB().getType();
  if (a.getRank() != 2 || b.getRank() != 2 || getType().getRank() != 2)
    return emitOpError() << "expects rank-2 operands and result";
  if (failed(verifyContractionTypes(*this, getOperandTypes(), getType(), getAccumulationType())))
    return failure();
  auto shape = inferMatmulShape(getLoc(), a, b, getTransposeA(), getTransposeB());
  if (failed(shape))
    return failure();
  if (getType().getShape() != ArrayRef<int64_t>(*shape))
    return emitOpError() << "result shape " << getType() << " does not match the inferred ["
                         << *shape << "]";
  if (Value c = getC()) {
    SmallVector<int64_t> out;
    if (!OpTrait::util::getBroadcastedShape(tensorType(c).getShape(), *shape, out) ||
        ArrayRef<int64_t>(out) != ArrayRef<int64_t>(*shape))
      return emitOpError() << "operand C " << c.getType() << " does not broadcast to ["
                           << *shape << "]";
  }
  return success();
}

LogicalResult Conv2DOp::verify() {
  auto in = getInput().getType(), w = getWeight().getType();
  if (in.getRank() != 4 || w.getRank() != 4 || getType().getRank() != 4)
    return emitOpError() << "expects rank-4 NCHW input, OIHW weight and result";
  if (failed(verifyContractionTypes(*this, getOperandTypes(), getType(), getAccumulationType())))
    return failure();
  if (failed(checkWindowAttr(*this, "strides", getStrides(), 2, 1)) ||
      failed(checkWindowAttr(*this, "dilations", getDilations(), 2, 1)) ||
      failed(checkWindowAttr(*this, "pads", getPads(), 4, 0)))
    return failure();
  int64_t groups = getGroups();
  if (groups < 1 || in.getDimSize(1) % groups || w.getDimSize(0) % groups)
    return emitOpError() << "groups " << groups << " must divide input channels "
                         << in.getDimSize(1) << " and output channels " << w.getDimSize(0);
  if (w.getDimSize(1) * groups != in.getDimSize(1))
    return emitOpError() << "weight has " << w.getDimSize(1) << " input channels per group, "
                         << "expected " << in.getDimSize(1) / groups;
  if (Value bias = getBias())
    if (tensorType(bias).getRank() != 1 || tensorType(bias).getDimSize(0) != w.getDimSize(0))
      return emitOpError() << "bias must be [" << w.getDimSize(0) << "], got " << bias.getType();
  auto s = getStrides(), p = getPads(), d = getDilations();
  SmallVector<int64_t> expected = {in.getDimSize(0), w.getDimSize(0)};
  for (int i = 0; i < 2; ++i) {
    int64_t size = windowOutputSize(in.getDimSize(2 + i), p[i], p[2 + i], w.getDimSize(2 + i),
                                    s[i], d[i], /*ceilMode=*/false);
    if (size < 1)
      return emitOpError() << "kernel larger than padded input in spatial dimension " << i;
    expected.push_back(size);
  }
  if (getType().getShape() != ArrayRef<int64_t>(expected))
    return emitOpError() << "result shape " << getType() << " does not match the inferred ["
                         << expected << "]";
  return success();
}

/// resize and resize_grad: `in` is the forward input, `out` the forward result.
static LogicalResult verifyResize(Operation *op, RankedTensorType in, RankedTensorType out,
                                  ArrayRef<double> scales, StringRef mode, StringRef coordinateMode,
                                  StringRef nearestMode, double cubicCoeffA) {
  if (in.getRank() != out.getRank())
    return op->emitOpError() << "input " << in << " and result " << out
                             << " must have the same rank";
  if (scales.size() != size_t(in.getRank()))
    return op->emitOpError() << "expects " << in.getRank() << " scales, got " << scales.size();
  for (auto [i, scale] : llvm::enumerate(scales))
    if (!(scale > 0) || !std::isfinite(scale))
      return op->emitOpError() << "scale " << scale << " of axis " << i << " must be positive";
  if (in.getNumElements() == 0 || out.getNumElements() == 0)
    return op->emitOpError("expects non-empty input and result");
  if (!::precis::isResizeMode(mode.str()))
    return op->emitOpError() << "mode '" << mode << "' is not 'nearest', 'linear' or 'cubic'";
  if (!std::isfinite(cubicCoeffA))
    return op->emitOpError() << "cubic_coeff_a " << cubicCoeffA << " must be finite";
  if (!::precis::isResizeCoordinateMode(coordinateMode.str()))
    return op->emitOpError() << "unknown coordinate_transformation_mode '" << coordinateMode << "'";
  if (!::precis::isResizeNearestMode(nearestMode.str()))
    return op->emitOpError() << "unknown nearest_mode '" << nearestMode << "'";
  return success();
}

LogicalResult ResizeOp::verify() {
  return verifyResize(*this, getInput().getType(), getType(), getScales(), getMode(),
                      getCoordinateTransformationMode(), getNearestMode(),
                      getCubicCoeffA().convertToDouble());
}

LogicalResult ResizeGradOp::verify() {
  return verifyResize(*this, getType(), getGrad().getType(), getScales(), getMode(),
                      getCoordinateTransformationMode(), getNearestMode(),
                      getCubicCoeffA().convertToDouble());
}

//===----------------------------------------------------------------------===//
// Element-wise ops.
//===----------------------------------------------------------------------===//

/// Binary element-wise ops: the result broadcasts both operands, in their element type.
template <typename Adaptor>
static LogicalResult inferBinary(std::optional<Location> loc, Adaptor adaptor,
                                 SmallVectorImpl<Type> &types) {
  auto shape = broadcastShapes(loc, {adaptor.getLhs().getType(), adaptor.getRhs().getType()});
  if (failed(shape))
    return failure();
  types.push_back(RankedTensorType::get(*shape, tensorType(adaptor.getLhs()).getElementType()));
  return success();
}

#define PRECIS_BINARY_INFER(OP)                                                                \
  LogicalResult OP::inferReturnTypes(MLIRContext *, std::optional<Location> loc,             \
                                     Adaptor adaptor, SmallVectorImpl<Type> &types) {        \
    return inferBinary(loc, adaptor, types);                                                   \
  }
PRECIS_BINARY_INFER(AddOp)
PRECIS_BINARY_INFER(SubOp)
PRECIS_BINARY_INFER(MulOp)
PRECIS_BINARY_INFER(DivOp)
PRECIS_BINARY_INFER(MaxOp)
PRECIS_BINARY_INFER(MinOp)
PRECIS_BINARY_INFER(PowOp)
PRECIS_BINARY_INFER(ModOp)
#undef PRECIS_BINARY_INFER

LogicalResult ModOp::verify() {
  if (isa<FloatType>(getElementTypeOrSelf(getLhs().getType())) && !getFmod())
    return emitOpError() << "on floats requires fmod = true (the remainder of truncated "
                            "division), as ONNX Mod does";
  return success();
}

LogicalResult CompareOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,
                                          Adaptor adaptor, SmallVectorImpl<Type> &types) {
  auto shape = broadcastShapes(loc, {adaptor.getLhs().getType(), adaptor.getRhs().getType()});
  if (failed(shape))
    return failure();
  types.push_back(RankedTensorType::get(*shape, IntegerType::get(ctx, 1)));
  return success();
}

LogicalResult WhereOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                        Adaptor adaptor, SmallVectorImpl<Type> &types) {
  Type t = tensorType(adaptor.getOnTrue()).getElementType();
  if (t != tensorType(adaptor.getOnFalse()).getElementType())
    return emitOptionalError(loc, "where branches differ in element type: ",
                             adaptor.getOnTrue().getType(), " vs ",
                             adaptor.getOnFalse().getType());
  auto shape = broadcastShapes(loc, {adaptor.getCondition().getType(),
                                     adaptor.getOnTrue().getType(),
                                     adaptor.getOnFalse().getType()});
  if (failed(shape))
    return failure();
  types.push_back(RankedTensorType::get(*shape, t));
  return success();
}

LogicalResult DropoutOp::inferReturnTypes(MLIRContext *ctx, std::optional<Location>,
                                          Adaptor adaptor, SmallVectorImpl<Type> &types) {
  auto t = tensorType(adaptor.getInput());
  types.push_back(t);
  types.push_back(RankedTensorType::get(t.getShape(), IntegerType::get(ctx, 1)));
  return success();
}

LogicalResult DropoutOp::verify() {
  float ratio = getRatio().convertToFloat();
  if (!(ratio >= 0.0f && ratio < 1.0f))
    return emitOpError() << "expects ratio in [0, 1), got " << ratio;
  if (Value rng = getRng()) {
    auto type = cast<RankedTensorType>(rng.getType());
    if (type.getShape() != ArrayRef<int64_t>{2} || !type.getElementType().isInteger(64))
      return emitOpError() << "expects the RNG state as tensor<2xi64> (seed, step), got "
                           << rng.getType();
  }
  if (getStream() < 0 || getStream() > int64_t{0xFFFFFFFF})
    return emitOpError() << "expects a stream in [0, 2^32), got " << getStream();
  if (getInput().getType().getNumElements() > (int64_t{1} << 34))
    return emitOpError() << "draws for at most 2^34 elements (groups of 4 counted in 32 bits)";
  return success();
}

//===----------------------------------------------------------------------===//
// Data movement.
//===----------------------------------------------------------------------===//

LogicalResult ReshapeOp::verify() {
  if (getInput().getType().getNumElements() != getType().getNumElements())
    return emitOpError() << "cannot reshape " << getInput().getType() << " to " << getType()
                         << ": element counts differ";
  return success();
}

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  auto t = tensorType(adaptor.getInput());
  ArrayRef<int64_t> perm = adaptor.getPerm();
  if (static_cast<int64_t>(perm.size()) != t.getRank())
    return emitOptionalError(loc, "transpose permutation has ", perm.size(),
                             " entries for rank ", t.getRank());
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= t.getRank())
      return emitOptionalError(loc, "transpose permutation entry ", p, " out of range");
    shape.push_back(t.getDimSize(p));
  }
  types.push_back(RankedTensorType::get(shape, t.getElementType()));
  return success();
}

LogicalResult TransposeOp::verify() {
  SmallVector<bool> seen(getPerm().size(), false);
  for (int64_t p : getPerm()) {
    if (seen[p])
      return emitOpError() << "permutation repeats dimension " << p;
    seen[p] = true;
  }
  return success();
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &types) {
  auto inputs = adaptor.getInputs();
  if (inputs.empty())
    return emitOptionalError(loc, "concat needs at least one input");
  auto first = tensorType(inputs.front());
  auto axis = normalizeAxis(adaptor.getAxis(), first.getRank());
  if (!axis)
    return emitOptionalError(loc, "concat axis ", adaptor.getAxis(), " out of range for rank ",
                             first.getRank());
  SmallVector<int64_t> shape(first.getShape());
  shape[*axis] = 0;
  for (Value v : inputs) {
    auto t = tensorType(v);
    if (t.getRank() != first.getRank() || t.getElementType() != first.getElementType())
      return emitOptionalError(loc, "concat inputs differ in rank or element type: ", first,
                               " vs ", t);
    for (int64_t d = 0; d < t.getRank(); ++d)
      if (d != *axis && t.getDimSize(d) != first.getDimSize(d))
        return emitOptionalError(loc, "concat inputs differ outside the axis: ", first, " vs ",
                                 t);
    shape[*axis] += t.getDimSize(*axis);
  }
  types.push_back(RankedTensorType::get(shape, first.getElementType()));
  return success();
}

LogicalResult ConcatOp::verify() { return success(); }

LogicalResult SplitOp::verify() {
  auto in = getInput().getType();
  auto axis = normalizeAxis(getAxis(), in.getRank());
  if (!axis)
    return emitOpError() << "axis " << getAxis() << " out of range for rank " << in.getRank();
  if (getNumResults() == 0)
    return emitOpError() << "expects at least one result";
  int64_t total = 0;
  for (Type t : getResultTypes()) {
    auto rt = cast<RankedTensorType>(t);
    if (rt.getRank() != in.getRank() || rt.getElementType() != in.getElementType())
      return emitOpError() << "result " << rt << " differs from the input " << in
                           << " in rank or element type";
    for (int64_t d = 0; d < rt.getRank(); ++d)
      if (d != *axis && rt.getDimSize(d) != in.getDimSize(d))
        return emitOpError() << "result " << rt << " differs from the input outside the axis";
    total += rt.getDimSize(*axis);
  }
  if (total != in.getDimSize(*axis))
    return emitOpError() << "results cover " << total << " of the axis' " << in.getDimSize(*axis)
                         << " entries";
  return success();
}

/// Number of elements a slice takes from one dimension.
static int64_t sliceCount(int64_t start, int64_t limit, int64_t step) {
  if (step > 0)
    return limit > start ? (limit - start + step - 1) / step : 0;
  return start > limit ? (start - limit - step - 1) / -step : 0;
}

LogicalResult SliceOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                        Adaptor adaptor, SmallVectorImpl<Type> &types) {
  auto t = tensorType(adaptor.getInput());
  auto start = adaptor.getStart(), limit = adaptor.getLimit(), step = adaptor.getStep();
  if (static_cast<int64_t>(start.size()) != t.getRank() || start.size() != limit.size() ||
      start.size() != step.size())
    return emitOptionalError(loc, "slice needs one start, limit and step per dimension of ", t);
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < t.getRank(); ++d) {
    if (step[d] == 0)
      return emitOptionalError(loc, "slice step is zero in dimension ", d);
    shape.push_back(sliceCount(start[d], limit[d], step[d]));
  }
  types.push_back(RankedTensorType::get(shape, t.getElementType()));
  return success();
}

LogicalResult SliceOp::verify() {
  auto t = getInput().getType();
  if (getStart().size() != static_cast<size_t>(t.getRank()) ||
      getLimit().size() != getStart().size() || getStep().size() != getStart().size())
    return emitOpError() << "needs one start, limit and step per dimension of " << t;
  for (int64_t d = 0; d < t.getRank(); ++d) {
    if (getStep()[d] == 0)
      return emitOpError() << "slice step is zero in dimension " << d;
    int64_t size = t.getDimSize(d), s = getStart()[d], l = getLimit()[d];
    bool ok = getStep()[d] > 0 ? (s >= 0 && s <= size && l >= 0 && l <= size)
                               : (s >= -1 && s < size && l >= -1 && l < size);
    if (!ok && getType().getDimSize(d) != 0)
      return emitOpError() << "slice bounds [" << s << ", " << l << ") out of range for "
                           << "dimension " << d << " of size " << size;
  }
  return success();
}

LogicalResult PadOp::verify() {
  auto in = getInput().getType();
  auto out = getType();
  const int64_t rank = in.getRank();
  ArrayRef<int64_t> pads = getPads();
  if (static_cast<int64_t>(pads.size()) != 2 * rank)
    return emitOpError() << "needs 2 * rank = " << 2 * rank << " pads, got " << pads.size();
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t begin = pads[d], end = pads[d + rank], size = in.getDimSize(d);
    if (begin < 0 || end < 0)
      return emitOpError() << "pads of dimension " << d << " are negative (" << begin << ", " << end
                           << ")";
    if (out.getDimSize(d) != begin + size + end)
      return emitOpError() << "result dimension " << d << " is " << out.getDimSize(d)
                           << ", expected " << begin + size + end;
    if (getMode() == PadMode::Reflect && (begin >= size || end >= size) && begin + end > 0)
      return emitOpError() << "reflect pads of dimension " << d << " (" << begin << ", " << end
                           << ") must be smaller than its size " << size;
    if (getMode() == PadMode::Edge && size == 0 && begin + end > 0)
      return emitOpError() << "edge padding of the empty dimension " << d;
  }
  return success();
}

LogicalResult RotaryOp::verify() {
  auto in = getInput().getType();
  if (in.getRank() < 1 || getType() != in)
    return emitOpError() << "needs a result of the input's type " << in << ", got " << getType();
  const int64_t width = in.getShape().back();
  const int64_t rot = static_cast<int64_t>(getRotaryDim());
  if (rot < 0 || rot > width || rot % 2 != 0 || (rot == 0 && width % 2 != 0))
    return emitOpError() << "rotary_dim " << rot << " must be even and at most the last dimension "
                         << width << " (0: all of it, then even)";
  const int64_t rotated = getRotatedChannels(), half = rotated / 2;
  auto cos = getCos().getType();
  if (cos != getSin().getType())
    return emitOpError() << "cos " << cos << " and sin " << getSin().getType() << " differ";
  if (cos.getRank() < 1 || cos.getRank() > in.getRank() ||
      (cos.getShape().back() != half && cos.getShape().back() != rotated))
    return emitOpError() << "caches " << cos << " must end in " << half << " (per pair) or "
                         << rotated << " (per channel) and have at most the input's rank";
  SmallVector<int64_t> target(in.getShape().drop_back()), out;
  target.push_back(cos.getShape().back());
  if (!OpTrait::util::getBroadcastedShape(cos.getShape(), target, out) ||
      ArrayRef<int64_t>(out) != ArrayRef<int64_t>(target))
    return emitOpError() << "caches " << cos << " do not broadcast to ["
                         << ArrayRef<int64_t>(target) << "]";
  return success();
}

LogicalResult TriluOp::verify() {
  if (getInput().getType().getRank() < 2)
    return emitOpError() << "needs a rank >= 2 operand, got " << getInput().getType();
  return success();
}

LogicalResult CumSumOp::verify() {
  const int64_t rank = getInput().getType().getRank();
  if (getAxis() < 0 || getAxis() >= rank)
    return emitOpError() << "axis " << getAxis() << " out of range for rank " << rank;
  return success();
}

LogicalResult GatherOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &types) {
  auto data = tensorType(adaptor.getData()), indices = tensorType(adaptor.getIndices());
  auto axis = normalizeAxis(adaptor.getAxis(), data.getRank());
  if (!axis)
    return emitOptionalError(loc, "gather axis ", adaptor.getAxis(), " out of range for ", data);
  SmallVector<int64_t> shape(data.getShape().take_front(*axis));
  llvm::append_range(shape, indices.getShape());
  llvm::append_range(shape, data.getShape().drop_front(*axis + 1));
  types.push_back(RankedTensorType::get(shape, data.getElementType()));
  return success();
}

LogicalResult GatherOp::verify() { return success(); }

/// gather_elements and its gradient: `indices` has the data's rank, `axis` is in range and
/// every other dimension of `indices` is at most the data's.
static LogicalResult verifyElementIndices(Operation *op, RankedTensorType data,
                                          RankedTensorType indices, int64_t axis) {
  if (indices.getRank() != data.getRank())
    return op->emitOpError() << "indices rank " << indices.getRank() << " differs from data rank "
                             << data.getRank();
  if (axis < 0 || axis >= data.getRank())
    return op->emitOpError() << "axis " << axis << " out of range for rank " << data.getRank();
  for (int64_t d = 0; d < data.getRank(); ++d)
    if (d != axis && indices.getDimSize(d) > data.getDimSize(d))
      return op->emitOpError() << "indices dimension " << d << " (" << indices.getDimSize(d)
                               << ") exceeds the data's (" << data.getDimSize(d) << ")";
  return success();
}

LogicalResult GatherElementsOp::verify() {
  if (getType().getShape() != getIndices().getType().getShape() ||
      getType().getElementType() != getData().getType().getElementType())
    return emitOpError("result must have the indices' shape and the data's element type");
  return verifyElementIndices(*this, getData().getType(), getIndices().getType(), getAxis());
}

LogicalResult GatherElementsGradOp::verify() {
  if (getGrad().getType().getShape() != getIndices().getType().getShape() ||
      getGrad().getType().getElementType() != getType().getElementType())
    return emitOpError("gradient must have the indices' shape and the result's element type");
  return verifyElementIndices(*this, getType(), getIndices().getType(), getAxis());
}

/// gather_nd and scatter_nd: `indices` is `[..., k]` with 1 <= k <= rank(data), and `slices`
/// (the gathered result, the scattered updates) is `indices[:-1] + data[k:]` of the data's
/// element type.
static LogicalResult verifyTupleIndices(Operation *op, RankedTensorType data,
                                        RankedTensorType indices, RankedTensorType slices,
                                        StringRef what) {
  const int64_t k = indices.getRank() ? indices.getShape().back() : 0;
  if (indices.getRank() < 1 || k < 1 || k > data.getRank())
    return op->emitOpError() << "indices must be [..., k] with 1 <= k <= " << data.getRank()
                             << ", got " << indices;
  SmallVector<int64_t> expected(indices.getShape().drop_back());
  llvm::append_range(expected, data.getShape().drop_front(k));
  if (slices.getShape() != ArrayRef<int64_t>(expected) ||
      slices.getElementType() != data.getElementType())
    return op->emitOpError() << what << " must be "
                             << RankedTensorType::get(expected, data.getElementType()) << ", got "
                             << slices;
  return success();
}

LogicalResult GatherNDOp::verify() {
  return verifyTupleIndices(*this, getData().getType(), getIndices().getType(), getType(),
                            "result");
}

LogicalResult ScatterNDOp::verify() {
  if (getType() != getData().getType())
    return emitOpError("result must have the data's type");
  if (getReduction() == ScatterReduction::Add && getType().getElementType().isInteger(1))
    return emitOpError("cannot add booleans");
  return verifyTupleIndices(*this, getData().getType(), getIndices().getType(),
                            getUpdates().getType(), "updates");
}

/// argmax and argmin: the axis is in range and the result is the input's shape with the axis
/// kept as 1 or dropped.
template <typename OpTy> static LogicalResult verifyArgReduce(OpTy op) {
  auto in = op.getInput().getType();
  const int64_t axis = static_cast<int64_t>(op.getAxis());
  if (axis < 0 || axis >= in.getRank())
    return op.emitOpError() << "axis " << axis << " out of range for rank " << in.getRank();
  SmallVector<int64_t> expected(in.getShape());
  if (op.getKeepdims())
    expected[axis] = 1;
  else
    expected.erase(expected.begin() + axis);
  if (op.getType().getShape() != ArrayRef<int64_t>(expected))
    return op.emitOpError() << "result must be "
                            << RankedTensorType::get(expected, op.getType().getElementType());
  return success();
}
LogicalResult ArgMaxOp::verify() { return verifyArgReduce(*this); }
LogicalResult ArgMinOp::verify() { return verifyArgReduce(*this); }

LogicalResult TopKOp::verify() {
  auto in = getInput().getType();
  const int64_t axis = static_cast<int64_t>(getAxis()), k = static_cast<int64_t>(getK());
  if (axis < 0 || axis >= in.getRank())
    return emitOpError() << "axis " << axis << " out of range for rank " << in.getRank();
  if (k < 0 || k > in.getDimSize(axis))
    return emitOpError() << "k " << k << " out of range for a dimension of size "
                         << in.getDimSize(axis);
  SmallVector<int64_t> expected(in.getShape());
  expected[axis] = k;
  if (getValues().getType() != RankedTensorType::get(expected, in.getElementType()) ||
      getIndices().getType().getShape() != ArrayRef<int64_t>(expected))
    return emitOpError() << "results must be "
                         << RankedTensorType::get(expected, in.getElementType())
                         << " and its i64 indices";
  return success();
}

LogicalResult ExpandOp::verify() {
  SmallVector<int64_t> out;
  if (!OpTrait::util::getBroadcastedShape(getInput().getType().getShape(), getType().getShape(),
                                          out) ||
      ArrayRef<int64_t>(out) != getType().getShape())
    return emitOpError() << "cannot broadcast " << getInput().getType() << " to " << getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Reductions and normalisation.
//===----------------------------------------------------------------------===//

/// Reduced shape; `axes` empty means every dimension.
template <typename Adaptor>
static LogicalResult inferReduce(std::optional<Location> loc, Adaptor adaptor,
                                 SmallVectorImpl<Type> &types) {
  auto t = tensorType(adaptor.getInput());
  SmallVector<bool> reduced(t.getRank(), adaptor.getAxes().empty());
  for (int64_t a : adaptor.getAxes()) {
    auto axis = normalizeAxis(a, t.getRank());
    if (!axis)
      return emitOptionalError(loc, "reduction axis ", a, " out of range for ", t);
    reduced[*axis] = true;
  }
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < t.getRank(); ++d) {
    if (!reduced[d])
      shape.push_back(t.getDimSize(d));
    else if (adaptor.getKeepdims())
      shape.push_back(1);
  }
  types.push_back(RankedTensorType::get(shape, t.getElementType()));
  return success();
}

template <typename OpT>
static LogicalResult verifyReduce(OpT op) {
  int64_t rank = op.getInput().getType().getRank();
  SmallVector<bool> seen(rank, false);
  for (int64_t a : op.getAxes()) {
    auto axis = normalizeAxis(a, rank);
    if (!axis)
      return op.emitOpError() << "reduction axis " << a << " out of range for rank " << rank;
    if (seen[*axis])
      return op.emitOpError() << "reduces dimension " << *axis << " twice";
    seen[*axis] = true;
  }
  return success();
}

#define PRECIS_REDUCE(OP)                                                                      \
  LogicalResult OP::inferReturnTypes(MLIRContext *, std::optional<Location> loc,             \
                                     Adaptor adaptor, SmallVectorImpl<Type> &types) {        \
    return inferReduce(loc, adaptor, types);                                                   \
  }                                                                                            \
  LogicalResult OP::verify() { return verifyReduce(*this); }
PRECIS_REDUCE(ReduceSumOp)
PRECIS_REDUCE(ReduceMeanOp)
PRECIS_REDUCE(ReduceMaxOp)
#undef PRECIS_REDUCE

LogicalResult SoftmaxOp::verify() {
  if (!normalizeAxis(getAxis(), getType().getRank()))
    return emitOpError() << "axis " << getAxis() << " out of range for " << getType();
  return success();
}

LogicalResult LogSoftmaxOp::verify() {
  if (!normalizeAxis(getAxis(), getType().getRank()))
    return emitOpError() << "axis " << getAxis() << " out of range for " << getType();
  return success();
}

LogicalResult LayerNormOp::verify() {
  auto in = getInput().getType();
  auto axis = normalizeAxis(getAxis(), in.getRank());
  if (!axis)
    return emitOpError() << "axis " << getAxis() << " out of range for " << in;
  if (getType() != in)
    return emitOpError() << "result type " << getType() << " differs from the input " << in;
  ArrayRef<int64_t> normalized = in.getShape().drop_front(*axis);
  for (Value v : {getScale(), getBias()}) {
    if (!v)
      continue;
    SmallVector<int64_t> out;
    if (!OpTrait::util::getBroadcastedShape(tensorType(v).getShape(), normalized, out) ||
        ArrayRef<int64_t>(out) != normalized)
      return emitOpError() << "scale/bias " << v.getType()
                           << " does not broadcast to the normalised dimensions [" << normalized
                           << "]";
  }
  return success();
}

LogicalResult BatchNormOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  types.push_back(adaptor.getInput().getType());
  types.push_back(adaptor.getRunningMean().getType());
  types.push_back(adaptor.getRunningVar().getType());
  return success();
}

LogicalResult BatchNormOp::verify() {
  auto in = getInput().getType();
  if (in.getRank() < 2)
    return emitOpError() << "expects input of rank >= 2 (N, C, ...), got " << in;
  int64_t c = in.getDimSize(1);
  for (Value v : {getScale(), getBias(), getRunningMean(), getRunningVar()})
    if (tensorType(v).getRank() != 1 || tensorType(v).getDimSize(0) != c)
      return emitOpError() << "per-channel operands must be [" << c << "], got " << v.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Pooling.
//===----------------------------------------------------------------------===//

static LogicalResult inferPool(std::optional<Location> loc, RankedTensorType in,
                               ArrayRef<int64_t> kernel, ArrayRef<int64_t> strides,
                               ArrayRef<int64_t> pads, ArrayRef<int64_t> dilations,
                               bool ceilMode, SmallVectorImpl<Type> &types) {
  if (in.getRank() != 4)
    return emitOptionalError(loc, "2-D pooling expects an NCHW input, got ", in);
  if (kernel.size() != 2 || strides.size() != 2 || pads.size() != 4 || dilations.size() != 2)
    return emitOptionalError(loc, "2-D pooling expects 2 kernel sizes, 2 strides, 2 dilations "
                                  "and 4 pads");
  SmallVector<int64_t> shape = {in.getDimSize(0), in.getDimSize(1)};
  for (int i = 0; i < 2; ++i) {
    if (kernel[i] < 1 || strides[i] < 1 || dilations[i] < 1)
      return emitOptionalError(loc, "pooling kernel, strides and dilations must be positive");
    int64_t size = windowOutputSize(in.getDimSize(2 + i), pads[i], pads[2 + i], kernel[i],
                                    strides[i], dilations[i], ceilMode);
    if (size < 1)
      return emitOptionalError(loc, "pooling window larger than the padded input");
    shape.push_back(size);
  }
  types.push_back(RankedTensorType::get(shape, in.getElementType()));
  return success();
}

LogicalResult MaxPool2DOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferPool(loc, tensorType(adaptor.getInput()), adaptor.getKernel(),
                   adaptor.getStrides(), adaptor.getPads(), adaptor.getDilations(),
                   adaptor.getCeilMode(), types);
}

LogicalResult AvgPool2DOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &types) {
  SmallVector<int64_t> dilations = {1, 1};
  return inferPool(loc, tensorType(adaptor.getInput()), adaptor.getKernel(),
                   adaptor.getStrides(), adaptor.getPads(), dilations, adaptor.getCeilMode(),
                   types);
}

template <typename OpT>
static LogicalResult verifyPool(OpT op) {
  ArrayRef<int64_t> pads = op.getPads(), kernel = op.getKernel();
  for (int i = 0; i < 2; ++i)
    if (pads[i] < 0 || pads[i + 2] < 0 || pads[i] >= kernel[i] || pads[i + 2] >= kernel[i])
      return op.emitOpError() << "pads must be non-negative and smaller than the kernel";
  return success();
}
LogicalResult MaxPool2DOp::verify() { return verifyPool(*this); }
LogicalResult AvgPool2DOp::verify() { return verifyPool(*this); }

template <typename Adaptor>
static LogicalResult inferGlobalPool(std::optional<Location> loc, Adaptor adaptor,
                                     SmallVectorImpl<Type> &types) {
  auto t = tensorType(adaptor.getInput());
  if (t.getRank() < 3)
    return emitOptionalError(loc, "global pooling expects N, C and spatial dimensions, got ", t);
  SmallVector<int64_t> shape = {t.getDimSize(0), t.getDimSize(1)};
  shape.append(t.getRank() - 2, 1);
  types.push_back(RankedTensorType::get(shape, t.getElementType()));
  return success();
}
LogicalResult GlobalAvgPoolOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferGlobalPool(loc, adaptor, types);
}
LogicalResult GlobalMaxPoolOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                Adaptor adaptor, SmallVectorImpl<Type> &types) {
  return inferGlobalPool(loc, adaptor, types);
}
LogicalResult GlobalAvgPoolOp::verify() { return success(); }
LogicalResult GlobalMaxPoolOp::verify() { return success(); }

//===----------------------------------------------------------------------===//
// Losses.
//===----------------------------------------------------------------------===//

/// Loss result shape: a scalar when reduced, the label shape otherwise.
static Type lossType(RankedTensorType scores, RankedTensorType labels,
                     LossReduction reduction) {
  if (reduction == LossReduction::None)
    return RankedTensorType::get(labels.getShape(), scores.getElementType());
  return RankedTensorType::get({}, scores.getElementType());
}

/// scores [N, C, D...] against labels [N, D...] and optional weights [C].
static LogicalResult verifyLossOperands(Operation *op, RankedTensorType scores,
                                        RankedTensorType labels, Value weights) {
  if (scores.getRank() < 2)
    return op->emitOpError() << "expects scores of rank >= 2 (N, C, ...), got " << scores;
  SmallVector<int64_t> expected = {scores.getDimSize(0)};
  llvm::append_range(expected, scores.getShape().drop_front(2));
  if (labels.getShape() != ArrayRef<int64_t>(expected))
    return op->emitOpError() << "labels " << labels << " do not match scores " << scores
                             << " (expected [" << expected << "])";
  if (weights && (tensorType(weights).getRank() != 1 ||
                  tensorType(weights).getDimSize(0) != scores.getDimSize(1)))
    return op->emitOpError() << "weights must be [" << scores.getDimSize(1) << "], got "
                             << weights.getType();
  return success();
}

LogicalResult SoftmaxCrossEntropyOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                                      Adaptor adaptor,
                                                      SmallVectorImpl<Type> &types) {
  auto scores = tensorType(adaptor.getScores());
  types.push_back(lossType(scores, tensorType(adaptor.getLabels()), adaptor.getReduction()));
  types.push_back(scores);
  return success();
}

LogicalResult SoftmaxCrossEntropyOp::verify() {
  return verifyLossOperands(*this, getScores().getType(), getLabels().getType(), getWeights());
}

LogicalResult NllLossOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                          Adaptor adaptor, SmallVectorImpl<Type> &types) {
  types.push_back(lossType(tensorType(adaptor.getInput()), tensorType(adaptor.getTarget()),
                           adaptor.getReduction()));
  return success();
}

LogicalResult NllLossOp::verify() {
  return verifyLossOperands(*this, getInput().getType(), getTarget().getType(), getWeights());
}

//===----------------------------------------------------------------------===//
// Values.
//===----------------------------------------------------------------------===//

LogicalResult ParameterOp::verify() {
  if (getName().empty())
    return emitOpError() << "expects a non-empty parameter name";
  return success();
}

//===----------------------------------------------------------------------===//
// Optimizer updates.
//===----------------------------------------------------------------------===//

/// Every tensor in `values` has the parameter's type.
static LogicalResult verifyLikeParam(Operation *op, Value param, ValueRange values) {
  for (Value v : values)
    if (v.getType() != param.getType())
      return op->emitOpError() << "expects gradient and state of the parameter's type "
                               << param.getType() << ", got " << v.getType();
  return success();
}

LogicalResult AllReduceOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "expects at least one operand";
  if (getInputs().getTypes() != getResults().getTypes())
    return emitOpError() << "expects one result per operand, of its type";
  if (getCommunicator() != "world")
    return emitOpError() << "has communicator '" << getCommunicator()
                         << "'; the only communicator is \"world\"";
  if (getReduction() == CollectiveReduction::Mean)
    for (Type t : getInputs().getTypes())
      if (!isa<FloatType>(cast<ShapedType>(t).getElementType()))
        return emitOpError() << "mean of integer operand " << t;
  return success();
}

/// shard and all_gather: flat f32 tensors, the full one a whole multiple of the share.
static LogicalResult verifyShares(Operation *op, StringRef communicator, ShapedType full,
                                  ShapedType share) {
  if (communicator != "world")
    return op->emitOpError() << "has communicator '" << communicator
                             << "'; the only communicator is \"world\"";
  if (full.getRank() != 1 || share.getRank() != 1)
    return op->emitOpError() << "expects rank-1 tensors";
  if (share.getNumElements() == 0 || full.getNumElements() % share.getNumElements() != 0)
    return op->emitOpError() << "expects " << full.getNumElements()
                             << " elements to be a whole number of shares of "
                             << share.getNumElements();
  return success();
}

LogicalResult ShardOp::verify() {
  return verifyShares(*this, getCommunicator(), cast<ShapedType>(getInput().getType()),
                      cast<ShapedType>(getResult().getType()));
}

LogicalResult AllGatherOp::verify() {
  return verifyShares(*this, getCommunicator(), cast<ShapedType>(getResult().getType()),
                      cast<ShapedType>(getInput().getType()));
}

LogicalResult SgdUpdateOp::verify() {
  SmallVector<Value> like{getGrad(), getNewParam()};
  if (getMomentumBuf())
    like.push_back(getMomentumBuf());
  if (getNewMomentumBuf())
    like.push_back(getNewMomentumBuf());
  if (failed(verifyLikeParam(*this, getParam(), like)))
    return failure();
  float momentum = getMomentum().convertToFloat();
  if (momentum < 0 || getWeightDecay().convertToFloat() < 0)
    return emitOpError() << "expects non-negative momentum and weight_decay";
  bool hasBuf = static_cast<bool>(getMomentumBuf());
  if (hasBuf != (momentum != 0) || hasBuf != static_cast<bool>(getNewMomentumBuf()))
    return emitOpError() << "expects a momentum buffer operand and result exactly when "
                            "momentum != 0";
  if (getNesterov() && (momentum <= 0 || getDampening().convertToFloat() != 0))
    return emitOpError() << "nesterov momentum requires a momentum and zero dampening";
  return success();
}

LogicalResult AdamUpdateOp::verify() {
  if (failed(verifyLikeParam(*this, getParam(),
                             {getGrad(), getExpAvg(), getExpAvgSq(), getNewParam(), getNewExpAvg(),
                              getNewExpAvgSq()})))
    return failure();
  for (float beta : {getBeta1().convertToFloat(), getBeta2().convertToFloat()})
    if (!(beta >= 0 && beta < 1))
      return emitOpError() << "expects betas in [0, 1), got " << beta;
  if (!(getEps().convertToFloat() >= 0) || !(getWeightDecay().convertToFloat() >= 0))
    return emitOpError() << "expects non-negative eps and weight_decay";
  return success();
}

YieldOp FusionOp::getYield() { return cast<YieldOp>(getBody().front().getTerminator()); }

LogicalResult FusionOp::verify() {
  Block &body = getBody().front();
  if (body.getNumArguments() != getInputs().size())
    return emitOpError() << "expects one body argument per operand, got "
                         << body.getNumArguments() << " for " << getInputs().size();
  for (auto [arg, input] : llvm::zip(body.getArguments(), getInputs()))
    if (arg.getType() != input.getType())
      return emitOpError() << "body argument " << arg.getArgNumber() << " has type "
                           << arg.getType() << ", its operand " << input.getType();
  if (getNumResults() == 0)
    return emitOpError() << "expects at least one result";
  if ((getKind() == FusionKind::Gemm) != getEpilogue().has_value())
    return emitOpError() << "expects an epilogue exactly when its kind is gemm";
  if (body.empty() || !isa<YieldOp>(body.back()))
    return emitOpError() << "expects its body to end with precis.yield";
  YieldOp yield = getYield();
  if (yield.getValues().getTypes() != getResultTypes())
    return emitOpError() << "yields " << yield.getValues().getTypes()
                         << " but its results are " << getResultTypes();
  for (Operation &op : body.without_terminator())
    if (isa<FusionOp>(op) || op.getDialect() != getOperation()->getDialect())
      return op.emitOpError() << "cannot be inside a precis.fusion";
  return success();
}

int64_t mlir::precis::getTrailingRowAxis(Operation *op) {
  auto rankOf = [](Value v) { return cast<RankedTensorType>(v.getType()).getRank(); };
  auto norm = [](int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; };
  if (isa<SoftmaxOp, LogSoftmaxOp>(op)) {
    int64_t r = rankOf(op->getOperand(0));
    int64_t axis = op->getAttrOfType<IntegerAttr>("axis").getInt();
    return r > 0 && norm(axis, r) == r - 1 ? r - 1 : -1;
  }
  if (auto ln = dyn_cast<LayerNormOp>(op))
    return norm(ln.getAxis(), rankOf(ln.getInput()));
  if (isa<GlobalAvgPoolOp, GlobalMaxPoolOp>(op))
    return 2;
  if (isa<ReduceSumOp, ReduceMeanOp, ReduceMaxOp>(op)) {
    int64_t r = rankOf(op->getOperand(0));
    auto axes = op->getAttrOfType<DenseI64ArrayAttr>("axes").asArrayRef();
    if (axes.empty())
      return 0;
    SmallVector<int64_t> sorted;
    for (int64_t a : axes)
      sorted.push_back(norm(a, r));
    llvm::sort(sorted);
    for (size_t i = 0; i < sorted.size(); ++i)
      if (sorted[i] != r - static_cast<int64_t>(sorted.size() - i))
        return -1;
    return sorted.front();
  }
  return -1;
}

#define GET_OP_CLASSES
#include "precis/Dialect/Precis/IR/PrecisOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Attention.
//===----------------------------------------------------------------------===//

/// The shape rules attention and attention_grad share: Q [B,H,Sq,D], K [B,Hkv,Skv,D],
/// V [B,Hkv,Skv,Dv], H a multiple of Hkv, a mask broadcasting to [B,H,Sq,Skv], the
/// logsumexp [B,H,Sq] and the result [B,H,Sq,Dv].
static LogicalResult verifyAttentionShapes(Operation *op, Value q, Value k, Value v, Value mask,
                                           Value out, Value lse) {
  auto qs = tensorType(q).getShape(), ks = tensorType(k).getShape(), vs = tensorType(v).getShape();
  if (qs.size() != 4 || ks.size() != 4 || vs.size() != 4)
    return op->emitOpError() << "query, key and value must have rank 4, got " << q.getType() << ", "
                             << k.getType() << ", " << v.getType();
  if (ks[0] != qs[0] || vs[0] != qs[0])
    return op->emitOpError() << "batch sizes differ: query " << qs[0] << ", key " << ks[0]
                             << ", value " << vs[0];
  if (ks[3] != qs[3])
    return op->emitOpError() << "query head size " << qs[3] << " differs from the key's " << ks[3];
  if (vs[1] != ks[1] || vs[2] != ks[2])
    return op->emitOpError() << "key " << k.getType() << " and value " << v.getType()
                             << " differ in heads or sequence length";
  if (ks[1] == 0 || qs[1] % ks[1] != 0)
    return op->emitOpError() << "query heads " << qs[1] << " are not a multiple of the "
                             << "key/value heads " << ks[1];
  SmallVector<int64_t> scores{qs[0], qs[1], qs[2], ks[2]};
  if (mask) {
    SmallVector<int64_t> b;
    if (!OpTrait::util::getBroadcastedShape(tensorType(mask).getShape(), scores, b) ||
        ArrayRef<int64_t>(b) != ArrayRef<int64_t>(scores))
      return op->emitOpError() << "mask " << mask.getType() << " does not broadcast to ["
                               << ArrayRef<int64_t>(scores) << "]";
  }
  SmallVector<int64_t> outShape{qs[0], qs[1], qs[2], vs[3]};
  if (tensorType(out).getShape() != ArrayRef<int64_t>(outShape))
    return op->emitOpError() << "result " << out.getType() << " is not ["
                             << ArrayRef<int64_t>(outShape) << "]";
  if (tensorType(lse).getShape() != qs.take_front(3))
    return op->emitOpError() << "logsumexp " << lse.getType() << " is not [" << qs.take_front(3)
                             << "]";
  return success();
}

LogicalResult AttentionOp::verify() {
  return verifyAttentionShapes(*this, getQuery(), getKey(), getValue(), getMask(), getOut(),
                               getLse());
}

LogicalResult AttentionGradOp::verify() {
  if (failed(verifyAttentionShapes(*this, getQuery(), getKey(), getValue(), getMask(), getResult(),
                                   getLogsumexp())))
    return failure();
  if (tensorType(getGrad()).getShape() != tensorType(getResult()).getShape())
    return emitOpError() << "grad " << getGrad().getType() << " differs in shape from the result "
                         << getResult().getType();
  for (auto [g, x] : llvm::zip(getResults(), ValueRange{getQuery(), getKey(), getValue()}))
    if (tensorType(g).getShape() != tensorType(x).getShape())
      return emitOpError() << "gradient " << g.getType() << " differs in shape from its operand "
                           << x.getType();
  return success();
}

bool mlir::precis::isReachedByParameter(Value v) {
  SmallVector<Value> work{v};
  llvm::DenseSet<Value> seen;
  while (!work.empty()) {
    Value x = work.pop_back_val();
    if (!seen.insert(x).second || !isFloatTensor(x))
      continue;
    if (auto arg = dyn_cast<BlockArgument>(x)) {
      auto fn = dyn_cast_or_null<FunctionOpInterface>(arg.getOwner()->getParentOp());
      if (fn && arg.getOwner()->isEntryBlock() &&
          fn.getArgAttr(arg.getArgNumber(), "precis.param_name"))
        return true;
      continue;
    }
    Operation *def = x.getDefiningOp();
    if (auto param = dyn_cast<ParameterOp>(def)) {
      // An initializer the exporter records as a constant or a buffer (the dynamo exporter's
      // folded masks and scales) does not train (precis-autodiff's rule) unless --trainable
      // names it.
      auto module = param->getParentOfType<ModuleOp>();
      auto records = module ? module->getAttrOfType<ArrayAttr>("precis.initializers") : nullptr;
      bool constant = false;
      if (records)
        for (auto entry : records.getAsRange<DictionaryAttr>())
          if (auto name = entry.getAs<StringAttr>("name"); name && name == param.getNameAttr())
            if (auto kind = entry.getAs<StringAttr>("exporter"))
              constant = kind.getValue() == "constant" || kind.getValue() == "buffer";
      if (!constant)
        return true;
      continue;
    }
    work.append(def->operand_begin(), def->operand_end());
  }
  return false;
}
