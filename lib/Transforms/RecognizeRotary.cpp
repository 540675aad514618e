//===- RecognizeRotary.cpp - fold written-out rotary embedding into precis.rotary -===//
//
// Hugging Face decoders (Llama, Mistral, Qwen, GPT-NeoX, Phi) apply rotary position
// embeddings as arithmetic: `x * cos + rotate_half(x) * sin`, rotate_half(x) being
// `concat(-x2, x1)` of the two halves of the last dimension (slices, or a split), with cos
// and sin one value per channel broadcast over the heads; GPT-J rotates even and odd channels
// instead (rotate_every_two: the pair interleaved back by a stack and a flatten). This pass
// replaces each with one `precis.rotary` (interleaved for GPT-J) with per-channel caches (the
// same arithmetic, so the same values): one follow op and one kernel instead of two slices, a
// negation, a concat and three element-wise ops, and a backward pass that is the op again
// instead of their gradients.
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/Passes.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::precis {
#define GEN_PASS_DEF_RECOGNIZEROTARYPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }

/// `-v` as `neg(v)` or `v * -1` (either order): returns v.
Value matchNegation(Value n) {
  if (auto neg = n.getDefiningOp<NegOp>())
    return neg.getInput();
  auto mul = n.getDefiningOp<MulOp>();
  if (!mul)
    return nullptr;
  for (auto [v, c] :
       {std::pair(mul.getLhs(), mul.getRhs()), std::pair(mul.getRhs(), mul.getLhs())}) {
    DenseFPElementsAttr attr;
    if (matchPattern(c, m_Constant(&attr)) && attr.isSplat() &&
        attr.getSplatValue<APFloat>().isExactlyValue(-1.0) && v.getType() == n.getType())
      return v;
  }
  return nullptr;
}

/// The input of a slice taking `count` channels of the last dimension from `start` on, every
/// `step`-th, and everything of the other dimensions, or null.
Value matchLastDimSlice(Value v, int64_t start, int64_t count, int64_t step = 1) {
  auto slice = v.getDefiningOp<SliceOp>();
  if (!slice || tensorType(slice.getResult()).getShape().back() != count)
    return nullptr;
  ArrayRef<int64_t> in = tensorType(slice.getInput()).getShape();
  const size_t last = in.size() - 1;
  for (size_t d = 0; d < last; ++d)
    if (slice.getStart()[d] != 0 || slice.getLimit()[d] != in[d] || slice.getStep()[d] != 1)
      return nullptr;
  if (slice.getStart()[last] != start || slice.getStep()[last] != step)
    return nullptr;
  return slice.getInput();
}

/// `concat(-x2, x1)` along the last dimension, x1 and x2 the halves of x (slices or the two
/// results of a split): returns x.
Value matchRotateHalf(Value r) {
  auto concat = r.getDefiningOp<ConcatOp>();
  auto type = tensorType(r);
  if (!concat || concat.getInputs().size() != 2 || type.getRank() < 1)
    return nullptr;
  const int64_t rank = type.getRank(), width = type.getShape().back(), half = width / 2;
  int64_t axis = static_cast<int64_t>(concat.getAxis());
  if ((axis < 0 ? axis + rank : axis) != rank - 1 || width % 2 != 0)
    return nullptr;
  Value x2 = matchNegation(concat.getInputs()[0]), x1 = concat.getInputs()[1];
  if (!x2)
    return nullptr;
  Value x;
  if (auto split = x1.getDefiningOp<SplitOp>()) {
    int64_t splitAxis = static_cast<int64_t>(split.getAxis());
    if (split.getNumResults() != 2 || x1 != split.getResult(0) || x2 != split.getResult(1) ||
        (splitAxis < 0 ? splitAxis + rank : splitAxis) != rank - 1 ||
        tensorType(x1).getShape().back() != half)
      return nullptr;
    x = split.getInput();
  } else {
    x = matchLastDimSlice(x1, 0, half);
    if (!x || matchLastDimSlice(x2, half, half) != x)
      return nullptr;
  }
  return x.getType() == r.getType() ? x : Value();
}

/// GPT-J's rotate_every_two, `stack((-x2, x1), -1).flatten(-2)` with x1 and x2 the even and
/// odd channels of x: a reshape of the concat, along a new last axis, of the two reshaped to
/// [..., half, 1]. Returns x.
Value matchRotateEveryTwo(Value r) {
  auto flatten = r.getDefiningOp<ReshapeOp>();
  auto type = tensorType(r);
  if (!flatten || type.getRank() < 1 || type.getShape().back() % 2 != 0)
    return nullptr;
  const int64_t rank = type.getRank(), half = type.getShape().back() / 2;
  auto concat = flatten.getInput().getDefiningOp<ConcatOp>();
  if (!concat || concat.getInputs().size() != 2)
    return nullptr;
  int64_t axis = static_cast<int64_t>(concat.getAxis());
  if ((axis < 0 ? axis + rank + 1 : axis) != rank)
    return nullptr;
  SmallVector<int64_t> pairs(type.getShape().drop_back());
  pairs.append({half, 2});
  if (tensorType(concat.getResult()).getShape() != ArrayRef<int64_t>(pairs))
    return nullptr;
  auto unstacked = [&](Value v) -> Value {
    auto reshape = v.getDefiningOp<ReshapeOp>();
    return reshape ? reshape.getInput() : Value();
  };
  Value negated = unstacked(concat.getInputs()[0]), x1 = unstacked(concat.getInputs()[1]);
  Value x2 = negated ? matchNegation(negated) : Value();
  if (!x1 || !x2)
    return nullptr;
  Value x = matchLastDimSlice(x1, 0, half, 2);
  if (!x || matchLastDimSlice(x2, 1, half, 2) != x || x.getType() != r.getType())
    return nullptr;
  return x;
}

struct RotaryPattern : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AddOp add, PatternRewriter &rewriter) const override {
    auto type = add.getType();
    if (type.getRank() < 1 || !isa<FloatType>(type.getElementType()))
      return rewriter.notifyMatchFailure(add, "not a float tensor of rank >= 1");
    for (auto [lhs, rhs] :
         {std::pair(add.getLhs(), add.getRhs()), std::pair(add.getRhs(), add.getLhs())}) {
      auto direct = lhs.getDefiningOp<MulOp>(), rotated = rhs.getDefiningOp<MulOp>();
      if (!direct || !rotated)
        continue;
      for (auto [r, sin] : {std::pair(rotated.getLhs(), rotated.getRhs()),
                            std::pair(rotated.getRhs(), rotated.getLhs())}) {
        Value x = matchRotateHalf(r);
        const bool interleaved = !x;
        if (interleaved)
          x = matchRotateEveryTwo(r);
        if (!x || x.getType() != type)
          continue;
        Value cos = direct.getLhs() == x   ? direct.getRhs()
                    : direct.getRhs() == x ? direct.getLhs()
                                           : Value();
        if (!cos || cos.getType() != sin.getType())
          continue;
        // Per-channel caches broadcasting to x: the op's verifier conditions.
        auto ct = tensorType(cos);
        SmallVector<int64_t> shape;
        if (ct.getElementType() != type.getElementType() || ct.getRank() < 1 ||
            ct.getRank() > type.getRank() || ct.getShape().back() != type.getShape().back() ||
            !OpTrait::util::getBroadcastedShape(ct.getShape(), type.getShape(), shape) ||
            ArrayRef<int64_t>(shape) != type.getShape())
          continue;
        Location loc = rewriter.getFusedLoc(
            {add.getLoc(), direct.getLoc(), rotated.getLoc(), r.getDefiningOp()->getLoc()});
        Value y = rewriter.create<RotaryOp>(loc, type, x, cos, sin,
                                            rewriter.getBoolAttr(interleaved),
                                            rewriter.getI64IntegerAttr(0));
        rewriter.replaceOp(add, y);
        return success();
      }
    }
    return rewriter.notifyMatchFailure(add, "not x * cos + rotate_half(x) * sin");
  }
};

struct RecognizeRotaryPass : mlir::precis::impl::RecognizeRotaryPassBase<RecognizeRotaryPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RotaryPattern>(&getContext());
    if (failed(applyPatternsAndFoldGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
