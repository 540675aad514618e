//===- RecognizeAttention.cpp - fold written-out attention into precis.attention ----===//
//
// Exporters write scaled dot-product attention as its arithmetic:
//   matmul(softmax(matmul(Q, K^T) * scale + mask), V)
// with the scale as a `mul` or a `div` (by sqrt(d)), or split over Q and K (`Q * sqrt(s)`,
// `K^T * sqrt(s)`: torch.onnx's decomposition of scaled_dot_product_attention), K^T as a
// `transpose` or the matmul's `transpose_rhs`, and the mask added (`add`) or selected
// (`where(cond, -inf or a huge negative, scores)`, masked_fill). This pass replaces each
// chain with one `precis.attention`, so the precision passes see the GEMMs and the fp32
// softmax as one op and the backends never store the [Sq, Skv] scores.
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
#define GEN_PASS_DEF_RECOGNIZEATTENTIONPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {

Value skipNoopCasts(Value v) {
  while (auto cast = v.getDefiningOp<CastOp>()) {
    if (cast.getInput().getType() != cast.getType())
      break;
    v = cast.getInput();
  }
  return v;
}

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

struct AttentionMatch {
  Value q, k, v, mask;
  double scale = 1.0;
  /// A mask that is `where(cond, fill, 0)` of a masked_fill: built at the rewrite.
  Value whereCond;
  double whereFill = 0;
  bool whereFillOnTrue = true;
  /// K as a transpose of `keySource` by `keyPerm`, built at the rewrite (when k is null).
  Value keySource;
  SmallVector<int64_t> keyPerm;
  SmallVector<Operation *> ops;
};

/// `x * c`, `c * x` or `x / c` with c a splat: x, and the factor in `factor`.
Value matchScaled(Value v, AttentionMatch &m, double &factor) {
  if (auto mul = v.getDefiningOp<MulOp>(); mul && v.hasOneUse()) {
    for (auto [x, c] :
         {std::pair(mul.getLhs(), mul.getRhs()), std::pair(mul.getRhs(), mul.getLhs())})
      if (auto s = splatValue(c); s && typeOf(x) == typeOf(v)) {
        m.ops.push_back(mul);
        factor *= *s;
        return x;
      }
  }
  if (auto div = v.getDefiningOp<DivOp>(); div && v.hasOneUse())
    if (auto s = splatValue(div.getRhs()); s && *s != 0 && typeOf(div.getLhs()) == typeOf(v)) {
      m.ops.push_back(div);
      factor /= *s;
      return div.getLhs();
    }
  return v;
}

/// The key given the matmul's right operand: K itself with transpose_rhs, or K^T as a
/// transpose whose last two dimensions are swapped back at the rewrite (perm [0, 1, 3, 2] of
/// K; GPT-2's export transposes [B, S, H, D] by [0, 2, 3, 1] directly).
bool matchKey(Value rhs, bool transposed, AttentionMatch &m) {
  if (transposed) {
    m.k = rhs;
    return true;
  }
  auto t = rhs.getDefiningOp<TransposeOp>();
  if (!t || !rhs.hasOneUse() || t.getPerm().size() != 4)
    return false;
  m.ops.push_back(t);
  m.keySource = t.getInput();
  m.keyPerm.assign(t.getPerm().begin(), t.getPerm().end());
  std::swap(m.keyPerm[2], m.keyPerm[3]);
  return true;
}

/// Rooted at matmul(P, V): fills q, k, v, scale and the mask.
std::optional<AttentionMatch> matchAttention(MatmulOp root) {
  AttentionMatch m;
  m.ops.push_back(root);
  if (root.getTransposeLhs() || root.getTransposeRhs())
    return std::nullopt;
  m.v = root.getRhs();
  Value probs = skipNoopCasts(root.getLhs());
  auto softmax = singleUseDef<SoftmaxOp>(probs, m.ops);
  const int64_t axis = softmax ? static_cast<int64_t>(softmax.getAxis()) : 0;
  if (!softmax || (axis != -1 && axis != 3) || typeOf(probs).getRank() != 4)
    return std::nullopt;
  Value s = softmax.getInput();
  // The mask: add(scores, mask) in either order, or where(cond, fill, scores).
  if (auto add = s.getDefiningOp<AddOp>(); add && s.hasOneUse()) {
    // The scores are the operand of the result's shape that a matmul (maybe scaled) makes.
    for (auto [x, mask] :
         {std::pair(add.getLhs(), add.getRhs()), std::pair(add.getRhs(), add.getLhs())}) {
      double f = 1;
      AttentionMatch probe;
      Value inner = matchScaled(x, probe, f);
      if (typeOf(x) == typeOf(s) && inner.getDefiningOp<MatmulOp>()) {
        m.ops.push_back(add);
        m.mask = mask;
        s = x;
        break;
      }
    }
  } else if (auto where = s.getDefiningOp<WhereOp>(); where && s.hasOneUse()) {
    // masked_fill: where(cond, fill, scores); GPT-2's where(keep, scores, fill).
    for (bool fillOnTrue : {true, false}) {
      Value fillV = fillOnTrue ? where.getOnTrue() : where.getOnFalse();
      Value x = fillOnTrue ? where.getOnFalse() : where.getOnTrue();
      std::optional<double> fill = splatValue(fillV);
      if (fill && *fill <= -1e30 && typeOf(x) == typeOf(s)) {
        m.ops.push_back(where);
        m.whereCond = where.getCondition();
        m.whereFill = *fill;
        m.whereFillOnTrue = fillOnTrue;
        s = x;
        break;
      }
    }
  }
  // The scores: matmul(Q, K^T), scaled before (on Q and K) or after.
  Value mm = matchScaled(s, m, m.scale);
  if (mm != s && !mm.hasOneUse())
    return std::nullopt;
  auto qk = mm.getDefiningOp<MatmulOp>();
  if (!qk || !mm.hasOneUse() || qk.getTransposeLhs())
    return std::nullopt;
  m.ops.push_back(qk);
  m.q = matchScaled(qk.getLhs(), m, m.scale);
  Value kt = matchScaled(qk.getRhs(), m, m.scale);
  if (!matchKey(kt, qk.getTransposeRhs(), m))
    return std::nullopt;
  return m;
}

struct AttentionPattern : OpRewritePattern<MatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MatmulOp root, PatternRewriter &rewriter) const override {
    std::optional<AttentionMatch> m = matchAttention(root);
    if (!m)
      return rewriter.notifyMatchFailure(root, "not matmul(softmax(Q K^T * scale + mask), V)");
    // K from K^T = transpose(source, perm): its type, built below when the match holds.
    RankedTensorType keyType;
    const bool identity = m->keySource && llvm::equal(m->keyPerm, ArrayRef<int64_t>{0, 1, 2, 3});
    if (m->keySource) {
      auto st = typeOf(m->keySource);
      SmallVector<int64_t> shape;
      for (int64_t p : m->keyPerm)
        shape.push_back(st.getDimSize(p));
      keyType = st.clone(shape);
    } else {
      keyType = typeOf(m->k);
    }
    auto qt = typeOf(m->q), kt = keyType, vt = typeOf(m->v), rt = root.getType();
    if (qt.getRank() != 4 || kt.getRank() != 4 || vt.getRank() != 4)
      return rewriter.notifyMatchFailure(root, "Q, K and V are not rank 4");
    Type elt = qt.getElementType();
    if (kt.getElementType() != elt || vt.getElementType() != elt || rt.getElementType() != elt)
      return rewriter.notifyMatchFailure(root, "Q, K, V and the result differ in element type");
    auto qs = qt.getShape(), ks = kt.getShape(), vs = vt.getShape();
    if (ks[0] != qs[0] || vs[0] != qs[0] || ks[3] != qs[3] || vs[1] != ks[1] || vs[2] != ks[2] ||
        ks[1] == 0 || qs[1] % ks[1] != 0 ||
        rt.getShape() != ArrayRef<int64_t>{qs[0], qs[1], qs[2], vs[3]})
      return rewriter.notifyMatchFailure(root, "shapes are not [B,H,Sq,D], [B,Hkv,Skv,D]");
    SmallVector<int64_t> scores{qs[0], qs[1], qs[2], ks[2]}, bcast;
    Value maskSource = m->mask ? m->mask : m->whereCond;
    if (maskSource) {
      if (!OpTrait::util::getBroadcastedShape(typeOf(maskSource).getShape(), scores, bcast) ||
          ArrayRef<int64_t>(bcast) != ArrayRef<int64_t>(scores))
        return rewriter.notifyMatchFailure(root, "the mask does not broadcast to the scores");
      if (m->mask && typeOf(m->mask).getElementType() != elt)
        return rewriter.notifyMatchFailure(root, "the mask's element type differs");
      if (isReachedByParameter(maskSource))
        return rewriter.notifyMatchFailure(root, "a parameter reaches the mask");
    }
    SmallVector<Location> locs;
    for (Operation *op : m->ops)
      locs.push_back(op->getLoc());
    Location loc = rewriter.getFusedLoc(locs);
    Value mask = m->mask;
    if (m->whereCond) {
      // masked_fill(cond, fill) == scores + where(cond, fill, 0) once softmaxed: exp of a
      // score near `fill` underflows to zero either way.
      auto scalar = [&](double x) {
        return rewriter.create<ConstantOp>(
            loc,
            DenseElementsAttr::get(RankedTensorType::get({}, elt), rewriter.getFloatAttr(elt, x)));
      };
      auto ct = typeOf(m->whereCond);
      Value fill = scalar(m->whereFill), zero = scalar(0.0);
      mask = rewriter.create<WhereOp>(loc, ct.clone(elt), m->whereCond,
                                      m->whereFillOnTrue ? fill : zero,
                                      m->whereFillOnTrue ? zero : fill);
    }
    if (m->keySource)
      m->k = identity ? m->keySource
                      : rewriter
                            .create<TransposeOp>(loc, keyType, m->keySource,
                                                 rewriter.getDenseI64ArrayAttr(m->keyPerm))
                            .getResult();
    SmallVector<Value> operands{m->q, m->k, m->v};
    if (mask)
      operands.push_back(mask);
    auto att = rewriter.create<AttentionOp>(
        loc,
        TypeRange{rt, RankedTensorType::get({qs[0], qs[1], qs[2]}, elt.isF64()
                                                                       ? rewriter.getF64Type()
                                                                       : rewriter.getF32Type())},
        operands,
        ArrayRef<NamedAttribute>{rewriter.getNamedAttr("scale", rewriter.getF32FloatAttr(m->scale)),
                                 rewriter.getNamedAttr("is_causal", rewriter.getBoolAttr(false))});
    rewriter.replaceOp(root, att.getOut());
    return success();
  }
};

struct RecognizeAttentionPass
    : mlir::precis::impl::RecognizeAttentionPassBase<RecognizeAttentionPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<AttentionPattern>(&getContext());
    if (failed(applyPatternsAndFoldGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
