//===- Fp8Scaling.cpp - per-tensor scales for fp8 GEMMs -------------------===//
//
// After `precis-insert-casts`, an fp8 GEMM reads plain casts to f8E4M3FN / f8E5M2, which
// would saturate large values and flush small ones. This pass gives each such operand a
// per-tensor scale, as Transformer Engine does: the operand is quantized as `x * scale`, the
// GEMM becomes `precis.scaled_matmul` with the `1 / scale` descale factors as SSA operands
// (docs/design.md decision 1; cuBLASLt's A/B scale pointers), and
//
///   scale = fp8_max / amax / 2^margin     (1 where amax is 0 or not finite)
///
/// * delayed scaling (the default, in `@train_step`): amax comes from an amax history kept in
///   the training state (`fp8.<k>.amax_history`, length `history`), either its maximum or its
///   most recent entry; the step pushes the operand's current amax into the history, so the
///   scale used at step t comes from steps before t. A zero history gives scale 1, which is
///   where Transformer Engine starts;
/// * current scaling (`recipe=current`, and always outside the training step, where there is
///   no state): amax is the operand's own amax in this step.
///
/// Each fp8 value is quantized once, however many GEMMs read it (the forward and backward
/// GEMMs of a weight share one quantized copy and one history).
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/AttrNames.h"
#include "precis/Transforms/Passes.h"
#include "precis/Transforms/Precision.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>

namespace mlir::precis {
#define GEN_PASS_DEF_FP8SCALINGPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {


bool isFp8(Type t) { return t.isFloat8E4M3FN() || t.isFloat8E5M2(); }

Type elementType(Value v) { return cast<RankedTensorType>(v.getType()).getElementType(); }

struct Quantized {
  Value q, descale;
};

struct Fp8ScalingPass : mlir::precis::impl::Fp8ScalingPassBase<Fp8ScalingPass> {
  using Fp8ScalingPassBase::Fp8ScalingPassBase;

  void runOnOperation() override;

private:
  LogicalResult rewrite(func::FuncOp fn);

  /// The state of one delayed-scaling site: its history argument and the new history.
  struct Site {
    std::string name;
    Value newHistory;
    /// This step's amax, and the ops that put it at the head of the new history (the
    /// reshape, then the concat when the history is longer than one).
    Value amax;
    Operation *head = nullptr, *concat = nullptr;
  };
};

/// Builds ops at one place, all carrying the GEMM's location, phase and an fp8-scaling
/// decision.
struct ScaleBuilder {
  OpBuilder &b;
  Location loc;
  Attribute phase;
  std::string reason;

  template <typename OpT, typename... Args> Value make(Args &&...args) {
    auto op = b.create<OpT>(loc, std::forward<Args>(args)...);
    Type t = op->getNumResults() ? getElementTypeOrSelf(op->getResult(0).getType()) : Type();
    Type out = t && isa<FloatType>(t) ? t : Type();
    op->setAttr(kDecisionAttr, DecisionAttr::get(b.getContext(), DecisionRule::Fp8Scaling, 0,
                                                 {b.getF32Type()}, out, Type(), reason));
    if (phase)
      op->setAttr(kPhase, phase);
    return op->getResult(0);
  }

  Value scalar(double v) {
    auto type = RankedTensorType::get({}, b.getF32Type());
    return make<ConstantOp>(DenseElementsAttr::get(type, b.getF32FloatAttr(v)));
  }

  /// fp8_max / amax / 2^margin where that is finite and amax > 0, else 1.
  Value scaleFrom(Value amax, double fp8Max, int margin) {
    Value one = scalar(1.0), zero = scalar(0.0);
    Value inf = scalar(std::numeric_limits<double>::infinity());
    Value s = make<DivOp>(scalar(fp8Max), amax);
    if (margin)
      s = make<DivOp>(s, scalar(std::ldexp(1.0, margin)));
    // valid = amax > 0 && amax < inf && s < inf (where(c, a, c) is c && a).
    Value positive = make<CompareOp>(CompareKind::GT, amax, zero);
    Value ok = make<WhereOp>(positive, make<CompareOp>(CompareKind::LT, amax, inf), positive);
    Value valid = make<WhereOp>(ok, make<CompareOp>(CompareKind::LT, s, inf), ok);
    return make<WhereOp>(valid, s, one);
  }
};

LogicalResult Fp8ScalingPass::rewrite(func::FuncOp fn) {
  MLIRContext *ctx = &getContext();
  const bool delayed = recipe == Fp8Recipe::Delayed && fn.getName() == names::kTrainStep;
  Block &body = fn.getBody().front();
  SmallVector<Operation *> gemms;
  for (Operation &op : body.without_terminator())
    if (isa<MatmulOp, GemmOp>(op) && isFp8(elementType(op.getOperand(0))))
      gemms.push_back(&op);
  if (gemms.empty())
    return success();

  DenseMap<Value, Quantized> quantized;
  SmallVector<Site> sites;
  unsigned stepArg = fn.getNumArguments();
  for (unsigned i = 0; i < fn.getNumArguments(); ++i)
    if (auto n = fn.getArgAttrOfType<StringAttr>(i, kStateName); n && n.getValue() == names::kStep)
      stepArg = i;
  if (delayed && stepArg == fn.getNumArguments())
    return fn.emitError("precis-fp8-scaling: @train_step has no 'step' state argument");

  auto quantize = [&](Operation *gemm, Value v, StringRef which) -> FailureOr<Quantized> {
    if (auto it = quantized.find(v); it != quantized.end())
      return it->second;
    auto castOp = v.getDefiningOp<CastOp>();
    if (!castOp)
      return gemm->emitError("precis-fp8-scaling: fp8 operand is not a cast (run "
                             "precis-insert-casts first)");
    Value x = castOp.getInput();
    Type f8 = elementType(v);
    const double fp8Max = f8.isFloat8E4M3FN() ? 448.0 : 57344.0;
    StringRef node;
    if (auto loc = dyn_cast<NameLoc>(gemm->getLoc()))
      node = loc.getName().getValue();
    OpBuilder b(castOp);
    ScaleBuilder sb{b, gemm->getLoc(), gemm->getAttr(kPhase), ""};
    sb.reason = llvm::formatv("fp8 {0} scaling of the {1} operand of {2} ({3})",
                              delayed ? "delayed" : "current", which,
                              node.empty() ? StringRef("a GEMM") : node,
                              f8.isFloat8E4M3FN() ? "E4M3" : "E5M2")
                    .str();
    Value x32 = elementType(x).isF32()
                    ? x
                    : sb.make<CastOp>(cast<RankedTensorType>(x.getType()).clone(b.getF32Type()), x);
    Value amax = sb.make<ReduceMaxOp>(sb.make<AbsOp>(x32), b.getDenseI64ArrayAttr({}), false);
    Value scale;
    if (delayed) {
      std::string name = llvm::formatv("fp8.{0}.{1}", sites.size(), names::kAmaxHistory).str();
      auto histType = RankedTensorType::get({static_cast<int64_t>(history)}, b.getF32Type());
      unsigned index = stepArg + sites.size();
      fn.insertArgument(
          index, histType,
          b.getDictionaryAttr({b.getNamedAttr(kStateName, b.getStringAttr(name)),
                               b.getNamedAttr(kRole, b.getStringAttr(names::kRoleFp8AmaxHistory))}),
          fn.getLoc());
      Value hist = fn.getArgument(index);
      Value ref;
      if (amaxCompute == AmaxCompute::Max) {
        ref = sb.make<ReduceMaxOp>(hist, b.getDenseI64ArrayAttr({}), false);
      } else {
        auto one = RankedTensorType::get({1}, b.getF32Type());
        ref = sb.make<ReshapeOp>(RankedTensorType::get({}, b.getF32Type()),
                                 sb.make<SliceOp>(one, hist, b.getDenseI64ArrayAttr({0}),
                                                  b.getDenseI64ArrayAttr({1}),
                                                  b.getDenseI64ArrayAttr({1})));
      }
      scale = sb.scaleFrom(ref, fp8Max, margin);
      // The new history: this step's amax first, the oldest entry dropped.
      auto oneType = RankedTensorType::get({1}, b.getF32Type());
      Value head = sb.make<ReshapeOp>(oneType, amax);
      Value newHist = head;
      if (history > 1) {
        auto restType = RankedTensorType::get({static_cast<int64_t>(history) - 1}, b.getF32Type());
        Value rest = sb.make<SliceOp>(restType, hist, b.getDenseI64ArrayAttr({0}),
                                      b.getDenseI64ArrayAttr({static_cast<int64_t>(history) - 1}),
                                      b.getDenseI64ArrayAttr({1}));
        newHist = sb.make<ConcatOp>(histType, ValueRange{head, rest}, b.getI64IntegerAttr(0));
      }
      sites.push_back({name, newHist, amax, head.getDefiningOp(),
                       history > 1 ? newHist.getDefiningOp() : nullptr});
    } else {
      scale = sb.scaleFrom(amax, fp8Max, margin);
    }
    Value scaled = sb.make<MulOp>(x32, scale);
    Quantized result;
    result.q = sb.make<CastOp>(cast<RankedTensorType>(v.getType()), scaled);
    result.descale = sb.make<DivOp>(sb.scalar(1.0), scale);
    quantized[v] = result;
    return result;
  };

  for (Operation *gemm : gemms) {
    bool ta, tb;
    if (auto mm = dyn_cast<MatmulOp>(gemm)) {
      ta = mm.getTransposeLhs();
      tb = mm.getTransposeRhs();
    } else {
      auto g = cast<GemmOp>(gemm);
      ta = g.getTransposeA();
      tb = g.getTransposeB();
    }
    FailureOr<Quantized> a = quantize(gemm, gemm->getOperand(0), "lhs");
    if (failed(a))
      return failure();
    FailureOr<Quantized> bq = quantize(gemm, gemm->getOperand(1), "rhs");
    if (failed(bq))
      return failure();
    OpBuilder b(gemm);
    Value r = b.create<ScaledMatmulOp>(gemm->getLoc(), gemm->getResult(0).getType(), a->q, bq->q,
                                       a->descale, bq->descale, b.getBoolAttr(ta),
                                       b.getBoolAttr(tb), TypeAttr::get(b.getF32Type()));
    Operation *smm = r.getDefiningOp();
    for (NamedAttribute attr : gemm->getDiscardableAttrs()) // decision, phase, ...
      smm->setAttr(attr.getName(), attr.getValue());
    if (auto g = dyn_cast<GemmOp>(gemm)) {
      // alpha * (A B) + beta * C in the result's precision, as the gemm did.
      ScaleBuilder sb{b, gemm->getLoc(), gemm->getAttr(kPhase),
                      "the bias of an fp8 GEMM, added in its output precision"};
      Type rt = getElementTypeOrSelf(r.getType());
      auto scalarOf = [&](float v) {
        auto type = RankedTensorType::get({}, rt);
        return sb.make<ConstantOp>(DenseElementsAttr::get(type, b.getFloatAttr(rt, v)));
      };
      if (g.getAlpha().convertToFloat() != 1.0f)
        r = sb.make<MulOp>(r, scalarOf(g.getAlpha().convertToFloat()));
      if (Value c = g.getC()) {
        if (g.getBeta().convertToFloat() != 1.0f)
          c = sb.make<MulOp>(c, scalarOf(g.getBeta().convertToFloat()));
        r = sb.make<AddOp>(r, c);
      }
    }
    // Marks that name the GEMM's result (calibration ids) move to the op now producing it.
    if (Attribute id = smm->getAttr("precis.calib_id"); id && r.getDefiningOp() != smm) {
      smm->removeAttr("precis.calib_id");
      r.getDefiningOp()->setAttr("precis.calib_id", id);
    }
    gemm->getResult(0).replaceAllUsesWith(r);
    gemm->erase();
  }
  for (auto &[v, q] : quantized)
    if (v.use_empty())
      v.getDefiningOp()->erase();

  // In a data-parallel step (one whose gradients are all-reduced) every rank must keep the
  // same histories, so this step's amaxes are reduced with max before they enter them: one
  // all_reduce of all of them, just before the return (this step's scales come from the old
  // histories and do not wait for it).
  bool distributed = false;
  fn.walk([&](AllReduceOp) { distributed = true; });
  if (distributed && !sites.empty()) {
    Operation *ret = body.getTerminator();
    OpBuilder b(ret);
    SmallVector<Value> amaxes;
    for (const Site &site : sites)
      amaxes.push_back(site.amax);
    auto reduce = b.create<AllReduceOp>(
        NameLoc::get(b.getStringAttr("all_reduce.fp8_amax"), fn.getLoc()),
        ValueRange(amaxes).getTypes(), amaxes, CollectiveReduction::Max, b.getStringAttr("world"));
    reduce->setAttr(kPhase, b.getStringAttr("optimizer"));
    reduce->setAttr(kDecisionAttr,
                    DecisionAttr::get(ctx, DecisionRule::Fp8Scaling, 0, {b.getF32Type()},
                                      b.getF32Type(), Type(),
                                      "fp8 amaxes of every rank, reduced with max so that all "
                                      "ranks keep the same amax histories"));
    for (auto [site, reduced] : llvm::zip(sites, reduce.getResults())) {
      site.head->setOperand(0, reduced);
      site.head->moveBefore(ret);
      if (site.concat)
        site.concat->moveBefore(ret);
    }
  }

  // The histories join the training state: arguments before `step`, results before the
  // new step, named alike so the runtime carries each to the next step.
  if (!sites.empty()) {
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    unsigned stepResult = ret.getNumOperands();
    for (unsigned i = 0; i < fn.getNumResults(); ++i)
      if (auto n = fn.getResultAttrOfType<StringAttr>(i, kUpdates);
          n && n.getValue() == names::kStep)
        stepResult = i;
    if (stepResult == ret.getNumOperands())
      return fn.emitError("precis-fp8-scaling: @train_step returns no new 'step'");
    SmallVector<Value> results(ret.getOperands());
    SmallVector<Attribute> attrs;
    for (unsigned i = 0; i < fn.getNumResults(); ++i)
      attrs.push_back(fn.getResultAttrDict(i) ? Attribute(fn.getResultAttrDict(i))
                                              : Attribute(DictionaryAttr::get(ctx)));
    for (auto [k, site] : llvm::enumerate(sites)) {
      results.insert(results.begin() + stepResult + k, site.newHistory);
      Builder b(ctx);
      attrs.insert(attrs.begin() + stepResult + k,
                   b.getDictionaryAttr(b.getNamedAttr(kUpdates, b.getStringAttr(site.name))));
    }
    OpBuilder b(ret);
    b.create<func::ReturnOp>(ret.getLoc(), results);
    ret.erase();
    fn.setType(FunctionType::get(ctx, fn.getArgumentTypes(), ValueRange(results).getTypes()));
    fn.setAllResultAttrs(attrs);
  }
  return success();
}

void Fp8ScalingPass::runOnOperation() {
  if (history < 1 || margin < 0) {
    getOperation().emitError("precis-fp8-scaling: history must be >= 1 and margin >= 0");
    return signalPassFailure();
  }
  for (auto fn : getOperation().getOps<func::FuncOp>())
    if (!fn.isExternal() && fn.getBody().hasOneBlock() && failed(rewrite(fn)))
      return signalPassFailure();
}

} // namespace
