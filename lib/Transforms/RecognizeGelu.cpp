//===- RecognizeGelu.cpp - fold written-out GELU into precis.gelu ---------===//
//
// PyTorch exports `nn.GELU` as element-wise arithmetic around an `Erf` (exact form) or a
// `Tanh` (approximate form). This pass finds those subgraphs and replaces each with one
// `precis.gelu`, so the precision and fusion passes see a single activation (and the CUDA
// backend can use cuBLASLt's GELU epilogue) instead of eight element-wise ops.
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/Passes.h"
#include "precis/Transforms/Patterns.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir::precis {
#define GEN_PASS_DEF_RECOGNIZEGELUPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {

/// Constants are matched up to this relative error, so that constants rounded to fp32 (or
/// written with fewer digits by an exporter) still match.
constexpr double kRelativeTolerance = 1e-3;

/// What a successful match found: the GELU input, its formula, and every op of the subgraph
/// (for the fused location of the replacement).
struct GeluMatch {
  Value x;
  GeluApproximation approximation = GeluApproximation::None;
  SmallVector<Operation *> ops;
};

/// True if `v` is a float splat constant within the tolerance of `expected`.
bool isSplatNear(Value v, double expected) {
  DenseElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)) || !attr.isSplat() ||
      !isa<FloatType>(attr.getElementType()))
    return false;
  double value = attr.getSplatValue<APFloat>().convertToDouble();
  return std::abs(value - expected) <= kRelativeTolerance * std::abs(expected);
}

/// If `v` is a single-use binary `OpTy` with one operand a splat near `constant`, returns the
/// other operand. `commutative` also accepts the constant on the left.
template <typename OpTy>
Value operandBesideConstant(Value v, double constant, bool commutative, GeluMatch &match) {
  auto op = singleUseDef<OpTy>(v, match.ops);
  if (!op)
    return nullptr;
  if (isSplatNear(op.getRhs(), constant))
    return op.getLhs();
  if (commutative && isSplatNear(op.getLhs(), constant))
    return op.getRhs();
  return nullptr;
}

/// Collects the factors of the product tree rooted at `v`: single-use `precis.mul`s are looked
/// through, anything else is a factor. Stops early once there are more than `limit` factors.
void collectFactors(Value v, SmallVectorImpl<Value> &factors, GeluMatch &match, size_t limit) {
  if (factors.size() > limit)
    return;
  auto mul = v.getDefiningOp<MulOp>();
  if (!mul || !v.hasOneUse()) {
    factors.push_back(v);
    return;
  }
  match.ops.push_back(mul);
  collectFactors(mul.getLhs(), factors, match, limit);
  collectFactors(mul.getRhs(), factors, match, limit);
}

/// `x / sqrt(2)` or `x * sqrt(0.5)`: returns x.
Value matchErfArgument(Value v, GeluMatch &match) {
  if (Value x = operandBesideConstant<DivOp>(v, std::sqrt(2.0), /*commutative=*/false, match))
    return x;
  return operandBesideConstant<MulOp>(v, std::sqrt(0.5), /*commutative=*/true, match);
}

/// `x^3` written as `pow(x, 3)`, `x * (x * x)` or `(x * x) * x`: true if it is the cube of `x`.
bool isCubeOf(Value v, Value x, GeluMatch &match) {
  if (auto pow = singleUseDef<PowOp>(v, match.ops))
    return pow.getLhs() == x && isSplatNear(pow.getRhs(), 3.0);
  auto mul = singleUseDef<MulOp>(v, match.ops);
  if (!mul)
    return false;
  auto isSquare = [&](Value s) {
    auto sq = singleUseDef<MulOp>(s, match.ops);
    return sq && sq.getLhs() == x && sq.getRhs() == x;
  };
  return (mul.getLhs() == x && isSquare(mul.getRhs())) ||
         (mul.getRhs() == x && isSquare(mul.getLhs()));
}

/// `sqrt(2/pi) * (x + 0.044715 * x^3)` (any operand order): returns x.
Value matchTanhArgument(Value v, GeluMatch &match) {
  Value sum = operandBesideConstant<MulOp>(v, std::sqrt(2.0 / M_PI), /*commutative=*/true, match);
  if (!sum)
    return nullptr;
  auto add = singleUseDef<AddOp>(sum, match.ops);
  if (!add)
    return nullptr;
  for (auto [x, scaledCube] :
       {std::pair(add.getLhs(), add.getRhs()), std::pair(add.getRhs(), add.getLhs())}) {
    GeluMatch attempt = match;
    Value cube = operandBesideConstant<MulOp>(scaledCube, 0.044715, /*commutative=*/true, attempt);
    if (cube && isCubeOf(cube, x, attempt)) {
      match = std::move(attempt);
      return x;
    }
  }
  return nullptr;
}

/// `1 + erf(x / sqrt 2)` or `1 + tanh(...)`: returns x and records the formula.
Value matchOnePlusActivation(Value v, GeluMatch &match) {
  Value activation = operandBesideConstant<AddOp>(v, 1.0, /*commutative=*/true, match);
  if (!activation)
    return nullptr;
  if (auto erf = singleUseDef<ErfOp>(activation, match.ops)) {
    match.approximation = GeluApproximation::None;
    return matchErfArgument(erf.getInput(), match);
  }
  if (auto tanh = singleUseDef<TanhOp>(activation, match.ops)) {
    match.approximation = GeluApproximation::Tanh;
    return matchTanhArgument(tanh.getInput(), match);
  }
  return nullptr;
}

/// Rooted at the outermost multiply of `0.5 * x * (1 + act(...))`, in any association.
struct GeluPattern : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MulOp root, PatternRewriter &rewriter) const override {
    GeluMatch match;
    match.ops.push_back(root);
    SmallVector<Value, 3> factors;
    collectFactors(root.getLhs(), factors, match, 3);
    collectFactors(root.getRhs(), factors, match, 3);
    if (factors.size() != 3)
      return rewriter.notifyMatchFailure(root, "not a product of three factors");

    // Try each factor as the `1 + act(...)` one; the other two must be 0.5 and its input.
    for (int i = 0; i < 3; ++i) {
      GeluMatch attempt = match;
      Value x = matchOnePlusActivation(factors[i], attempt);
      if (!x)
        continue;
      Value a = factors[(i + 1) % 3], b = factors[(i + 2) % 3];
      if (!((a == x && isSplatNear(b, 0.5)) || (b == x && isSplatNear(a, 0.5))))
        continue;
      if (x.getType() != root.getType() ||
          !isa<FloatType>(cast<RankedTensorType>(x.getType()).getElementType()))
        continue;
      SmallVector<Location> locs;
      for (Operation *op : attempt.ops)
        locs.push_back(op->getLoc());
      auto gelu = rewriter.create<GeluOp>(rewriter.getFusedLoc(locs), x.getType(), x,
                                          attempt.approximation);
      rewriter.replaceOp(root, gelu.getResult());
      return success();
    }
    return rewriter.notifyMatchFailure(root, "no GELU formula found");
  }
};

struct RecognizeGeluPass : mlir::precis::impl::RecognizeGeluPassBase<RecognizeGeluPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<GeluPattern>(&getContext());
    if (failed(applyPatternsAndFoldGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
