//===- RecognizeRmsNorm.cpp - fold written-out RMSNorm into precis.layer_norm ----===//
//
// Exporters write RMSNorm (Llama, T5, Mistral, ...) as arithmetic:
// `x * rsqrt(mean(x^2) + eps) * weight`, with the reciprocal square root as `Rsqrt`, `1 / Sqrt`
// or `Reciprocal(Sqrt)`, or `x / sqrt(...)`, and `x^2` as `Pow(x, 2)` or `x * x`. This pass
// replaces each with one `precis.layer_norm {rms}` (the op ONNX's RMSNormalization imports
// to), so the precision passes see one sensitive norm computed in fp32 instead of a chain of
// element-wise ops, and fusion and the backends run one row kernel.
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/Passes.h"
#include "precis/Transforms/Patterns.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir::precis {
#define GEN_PASS_DEF_RECOGNIZERMSNORMPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {

bool isSplatNear(Value v, double expected) {
  std::optional<double> value = splatValue(v);
  return value && std::abs(*value - expected) <= 1e-6 * std::abs(expected);
}

/// `v` with same-type casts (what `x.to(torch.float32)` exports to in an fp32 model) looked
/// through.
Value skipNoopCasts(Value v) {
  while (auto cast = v.getDefiningOp<CastOp>()) {
    if (cast.getInput().getType() != cast.getType())
      break;
    v = cast.getInput();
  }
  return v;
}

/// What a match found: the normalised input, the statistics' axis and epsilon, and the ops the
/// match consumed (their locations fuse into the replacement's).
struct RmsMatch {
  Value x;
  int64_t axis = 0;
  double epsilon = 0;
  SmallVector<Operation *> ops;
};

/// `x * x` or `pow(x, 2)`: returns x.
Value matchSquare(Value v, RmsMatch &match) {
  if (auto pow = singleUseDef<PowOp>(v, match.ops))
    return isSplatNear(pow.getRhs(), 2.0) ? skipNoopCasts(pow.getLhs()) : Value();
  if (auto mul = singleUseDef<MulOp>(v, match.ops))
    return skipNoopCasts(mul.getLhs()) == skipNoopCasts(mul.getRhs()) ? skipNoopCasts(mul.getLhs())
                                                                      : Value();
  return nullptr;
}

/// `reduce_mean(x^2, trailing axes, keepdims) + eps` (either order): fills x, axis, epsilon.
bool matchMeanSquarePlusEps(Value v, RmsMatch &match) {
  auto add = singleUseDef<AddOp>(v, match.ops);
  if (!add)
    return false;
  for (auto [mean, eps] :
       {std::pair(add.getLhs(), add.getRhs()), std::pair(add.getRhs(), add.getLhs())}) {
    std::optional<double> epsilon = splatValue(eps);
    RmsMatch attempt = match;
    auto reduce = singleUseDef<ReduceMeanOp>(mean, attempt.ops);
    if (!epsilon || *epsilon < 0 || !reduce || !reduce.getKeepdims())
      continue;
    Value x = matchSquare(reduce.getInput(), attempt);
    if (!x)
      continue;
    int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
    SmallVector<int64_t> axes;
    for (int64_t a : reduce.getAxes())
      axes.push_back(a < 0 ? a + rank : a);
    llvm::sort(axes);
    bool trailing = !axes.empty();
    for (size_t i = 0; i < axes.size(); ++i)
      trailing &= axes[i] == rank - static_cast<int64_t>(axes.size() - i);
    if (!trailing)
      continue;
    attempt.x = x, attempt.axis = axes.front(), attempt.epsilon = *epsilon;
    match = std::move(attempt);
    return true;
  }
  return false;
}

/// `rsqrt(s)`, `reciprocal(sqrt(s))` or `1 / sqrt(s)` with s = mean(x^2) + eps.
bool matchInverseRms(Value v, RmsMatch &match) {
  if (auto rsqrt = singleUseDef<RsqrtOp>(v, match.ops))
    return matchMeanSquarePlusEps(rsqrt.getInput(), match);
  Value root;
  if (auto rec = singleUseDef<ReciprocalOp>(v, match.ops))
    root = rec.getInput();
  else if (auto div = singleUseDef<DivOp>(v, match.ops); div && isSplatNear(div.getLhs(), 1.0))
    root = div.getRhs();
  auto sqrt = root ? singleUseDef<SqrtOp>(root, match.ops) : nullptr;
  return sqrt && matchMeanSquarePlusEps(sqrt.getInput(), match);
}

/// Rooted at `x * inverse_rms` (either order) or `x / sqrt(mean(x^2) + eps)`.
std::optional<RmsMatch> matchRmsNorm(Operation *root) {
  RmsMatch match;
  match.ops.push_back(root);
  if (auto mul = dyn_cast<MulOp>(root)) {
    for (auto [x, inv] :
         {std::pair(mul.getLhs(), mul.getRhs()), std::pair(mul.getRhs(), mul.getLhs())}) {
      RmsMatch attempt = match;
      if (matchInverseRms(inv, attempt) && attempt.x == skipNoopCasts(x))
        return attempt;
    }
  } else if (auto div = dyn_cast<DivOp>(root)) {
    auto sqrt = singleUseDef<SqrtOp>(div.getRhs(), match.ops);
    if (sqrt && matchMeanSquarePlusEps(sqrt.getInput(), match) &&
        match.x == skipNoopCasts(div.getLhs()))
      return match;
  }
  return std::nullopt;
}

template <typename RootOp> struct RmsNormPattern : OpRewritePattern<RootOp> {
  using OpRewritePattern<RootOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(RootOp root, PatternRewriter &rewriter) const override {
    std::optional<RmsMatch> match = matchRmsNorm(root);
    if (!match)
      return rewriter.notifyMatchFailure(root, "not x * rsqrt(mean(x^2) + eps)");
    auto type = cast<RankedTensorType>(match->x.getType());
    if (root.getType() != type || !isa<FloatType>(type.getElementType()))
      return rewriter.notifyMatchFailure(root, "the normalised value changes type or shape");
    ArrayRef<int64_t> normalized = type.getShape().drop_front(match->axis);
    // The weight multiplying the result, when its shape lies within the normalised dimensions.
    Operation *result = root;
    Value scale;
    if (root->hasOneUse())
      if (auto mul = dyn_cast<MulOp>(*root->user_begin()); mul && mul.getType() == type) {
        Value w = mul.getLhs() == root->getResult(0) ? mul.getRhs() : mul.getLhs();
        auto wt = cast<RankedTensorType>(w.getType());
        SmallVector<int64_t> shape;
        if (wt.getElementType() == type.getElementType() &&
            OpTrait::util::getBroadcastedShape(wt.getShape(), normalized, shape) &&
            ArrayRef<int64_t>(shape) == normalized && wt.getRank() <= type.getRank()) {
          scale = w;
          result = mul;
          match->ops.push_back(mul);
        }
      }
    SmallVector<Location> locs;
    for (Operation *op : match->ops)
      locs.push_back(op->getLoc());
    Location loc = rewriter.getFusedLoc(locs);
    if (!scale) {
      auto ones = RankedTensorType::get({1}, type.getElementType());
      scale = rewriter.create<ConstantOp>(
          loc, DenseElementsAttr::get(ones, rewriter.getFloatAttr(type.getElementType(), 1.0)));
    }
    auto norm = rewriter.create<LayerNormOp>(
        loc, type, match->x, scale, Value(), rewriter.getI64IntegerAttr(match->axis),
        rewriter.getF32FloatAttr(static_cast<float>(match->epsilon)), rewriter.getBoolAttr(true));
    rewriter.replaceOp(result, norm.getResult());
    return success();
  }
};

struct RecognizeRmsNormPass : mlir::precis::impl::RecognizeRmsNormPassBase<RecognizeRmsNormPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RmsNormPattern<MulOp>, RmsNormPattern<DivOp>>(&getContext());
    if (failed(applyPatternsAndFoldGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
