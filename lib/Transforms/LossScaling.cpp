//===- LossScaling.cpp - dynamic loss scaling of @train_step ---------------===//
//
// Adds torch.cuda.amp.GradScaler's dynamic loss scaling to the training step that
// `precis-optimizer` builds. The scale and GradScaler's growth tracker become training state
// (arguments and results of `@train_step`, so checkpoints carry them); the backward pass starts
// from d loss / d loss = scale instead of 1, the gradients are unscaled before the optimizer,
// and a step whose scaled gradients hold a NaN or an infinity changes nothing but the scaler:
// every parameter, every optimizer state tensor and the step counter keep their old values.
// Passes.td spells out the update rule and shows the IR before and after.
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/AttrNames.h"
#include "precis/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"

#include <cmath>
#include <limits>

namespace mlir::precis {
#define GEN_PASS_DEF_LOSSSCALINGPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {

constexpr StringLiteral kScaleName = names::kLossScale;
constexpr StringLiteral kTrackerName = names::kLossScaleGrowthTracker;

bool inPhase(Operation *op, StringRef phase) {
  auto attr = op->getAttrOfType<StringAttr>(kPhase);
  return attr && attr.getValue() == phase;
}

/// The largest finite f32 `s` for which the f32 product `s * factor` is finite (factor > 1).
float largestGrowableScale(double factor) {
  const float f = static_cast<float>(factor);
  auto finite = [&](float s) { return std::isfinite(s * f); };
  float s = std::numeric_limits<float>::max() / f;
  while (!finite(s))
    s = std::nextafter(s, 0.0f);
  for (float next = std::nextafter(s, INFINITY); std::isfinite(next) && finite(next);
       next = std::nextafter(s, INFINITY))
    s = next;
  return s;
}

struct LossScalingPass : mlir::precis::impl::LossScalingPassBase<LossScalingPass> {
  using LossScalingPassBase::LossScalingPassBase;

  void runOnOperation() override {
    if (failed(run()))
      signalPassFailure();
  }

  LogicalResult run();
};

LogicalResult LossScalingPass::run() {
  ModuleOp module = getOperation();
  MLIRContext *ctx = &getContext();
  auto fn = module.lookupSymbol<func::FuncOp>(names::kTrainStep);
  if (!fn)
    return module.emitError("precis-loss-scaling expects a func.func @train_step (run "
                            "precis-autodiff and precis-optimizer first)");
  if (!fn.getBody().hasOneBlock())
    return fn.emitError("expects @train_step with a single block");
  if (!(initScale > 0) || !(growthFactor > 1) || !(backoffFactor > 0 && backoffFactor < 1) ||
      growthInterval < 1)
    return fn.emitError("loss scaling needs init-scale > 0, growth-factor > 1, "
                        "0 < backoff-factor < 1 and growth-interval >= 1");
  Block &body = fn.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());

  // The state arguments: by name, for the skip-step selects; "step" marks where the scaler
  // state goes.
  llvm::StringMap<BlockArgument> stateArgs;
  std::optional<unsigned> stepIndex;
  for (BlockArgument arg : fn.getArguments()) {
    for (StringRef attr : {kParamName, kStateName})
      if (auto name = fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), attr))
        stateArgs[name.getValue()] = arg;
    if (auto name = fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kStateName))
      if (name.getValue() == names::kStep)
        stepIndex = arg.getArgNumber();
  }
  if (stateArgs.count(kScaleName))
    return fn.emitError("@train_step already has a loss scale");
  if (!stepIndex)
    return fn.emitError("@train_step has no 'step' state argument");

  ConstantOp seed;
  for (auto cst : body.getOps<ConstantOp>()) {
    if (!cst->hasAttr(kLossSeed))
      continue;
    if (seed)
      return cst.emitError("two loss seeds (precis.loss_seed) in @train_step");
    seed = cst;
  }
  if (!seed)
    return fn.emitError("@train_step has no loss seed (a precis.constant with "
                        "precis.loss_seed, built by precis-autodiff)");

  // The gradients: values the optimizer's ops read that earlier phases computed (with
  // gradient clipping, the unclipped gradients). The first optimizer op is where they all
  // exist and the unscaling goes.
  Operation *firstOptimizerOp = nullptr;
  llvm::SetVector<Value> grads;
  for (Operation &op : body.without_terminator()) {
    if (!inPhase(&op, "optimizer"))
      continue;
    if (!firstOptimizerOp)
      firstOptimizerOp = &op;
    for (Value v : op.getOperands()) {
      Operation *def = v.getDefiningOp();
      auto type = dyn_cast<RankedTensorType>(v.getType());
      if (def && !inPhase(def, "optimizer") && type && isa<FloatType>(type.getElementType()))
        grads.insert(v);
    }
  }
  if (!firstOptimizerOp || grads.empty())
    return fn.emitError("@train_step has no optimizer ops reading gradients (precis.phase = "
                        "\"optimizer\", built by precis-optimizer)");
  for (Value g : grads)
    if (!g.getDefiningOp()->isBeforeInBlock(firstOptimizerOp))
      return g.getDefiningOp()->emitError("a gradient computed after the optimizer starts");

  // The scaler state: after the step counter, scale first (initial value recorded for the
  // runtime), then the growth tracker (starts at zero, the default).
  auto f32 = Float32Type::get(ctx);
  auto scalarType = RankedTensorType::get({}, f32);
  auto attrDict = [&](ArrayRef<NamedAttribute> attrs) { return DictionaryAttr::get(ctx, attrs); };
  auto named = [&](StringRef name, Attribute value) {
    return NamedAttribute(StringAttr::get(ctx, name), value);
  };
  Location loc = fn.getLoc();
  fn.insertArgument(
      *stepIndex + 1, scalarType,
      attrDict({named(kStateName, StringAttr::get(ctx, kScaleName)),
                named(kRole, StringAttr::get(ctx, names::kRoleLossScale)),
                named(kInitialValue,
                      DenseElementsAttr::get(scalarType, FloatAttr::get(f32, initScale)))}),
      loc);
  fn.insertArgument(*stepIndex + 2, scalarType,
                    attrDict({named(kStateName, StringAttr::get(ctx, kTrackerName)),
                              named(kRole, StringAttr::get(ctx, names::kRoleLossScale))}),
                    loc);
  Value scale = fn.getArgument(*stepIndex + 1), tracker = fn.getArgument(*stepIndex + 2);

  OpBuilder b(ctx);
  auto constant = [&](double v) {
    return b.create<ConstantOp>(loc, DenseElementsAttr::get(scalarType, FloatAttr::get(f32, v)))
        .getResult();
  };
  auto inType = [&](Value v, Type element) -> Value {
    auto type = cast<RankedTensorType>(v.getType());
    if (type.getElementType() == element)
      return v;
    return b.create<CastOp>(loc, type.clone(element), v);
  };

  // Backward: d loss / d loss = scale (in the seed's precision).
  b.setInsertionPointAfter(seed);
  auto seedType = cast<RankedTensorType>(seed.getType());
  Value scaledSeed = b.create<MulOp>(seed.getLoc(), seed, inType(scale, seedType.getElementType()));
  seed.getResult().replaceAllUsesExcept(scaledSeed, scaledSeed.getDefiningOp());
  for (Operation *op = seed->getNextNode(); op != scaledSeed.getDefiningOp()->getNextNode();
       op = op->getNextNode())
    op->setAttr(kPhase, b.getStringAttr("backward"));

  // Optimizer: check the scaled gradients, unscale them in f32 (torch multiplies by
  // 1 / scale), and hand the unscaled ones to the optimizer's ops.
  b.setInsertionPoint(firstOptimizerOp);
  Operation *optimizerStart = firstOptimizerOp->getPrevNode();
  Value finite =
      b.create<AllFiniteOp>(loc, RankedTensorType::get({}, b.getI1Type()), grads.getArrayRef());
  Value invScale = b.create<ReciprocalOp>(loc, scale);
  for (Value g : grads) {
    Type element = cast<RankedTensorType>(g.getType()).getElementType();
    Value unscaled = inType(b.create<MulOp>(loc, inType(g, f32), invScale), element);
    g.replaceUsesWithIf(unscaled, [&](OpOperand &use) {
      Operation *user = use.getOwner();
      return user != finite.getDefiningOp() && inPhase(user, "optimizer");
    });
  }

  // The step's state updates only when every gradient was finite; the scaler always updates:
  //   inf/NaN:  scale *= backoff, tracker = 0
  //   else:     tracker += 1; at growth_interval: scale *= growth (if still finite), tracker = 0
  b.setInsertionPoint(ret);
  SmallVector<Value> results(ret.getOperands());
  for (auto [i, v] : llvm::enumerate(results)) {
    auto name = fn.getResultAttrOfType<StringAttr>(i, kUpdates);
    if (!name)
      continue;
    BlockArgument old = stateArgs.lookup(name.getValue());
    // Dropout's RNG state counts every step: a retried step draws a fresh mask.
    if (old && fn.getArgAttrOfType<StringAttr>(old.getArgNumber(), kRole) &&
        fn.getArgAttrOfType<StringAttr>(old.getArgNumber(), kRole).getValue() == names::kRoleRng)
      continue;
    if (!old || old.getType() != v.getType())
      return fn.emitError("result ")
             << i << " updates '" << name.getValue() << "', which is no argument of the same type";
    // The forward pass ran: BatchNorm statistics update as in PyTorch, where a skipped
    // optimizer step does not undo them.
    if (auto role = fn.getArgAttrOfType<StringAttr>(old.getArgNumber(), kRole);
        role && role.getValue() == names::kRoleBatchNormStats)
      continue;
    v = b.create<WhereOp>(loc, finite, v, old);
  }
  // Growing keeps the scale when scale * growth would overflow. The product is never formed
  // then (check-numerics would report its infinity): the factor becomes 1 above `limit`, the
  // largest f32 scale whose f32 product with the factor is finite.
  Value zero = constant(0.0);
  Value count = b.create<AddOp>(loc, tracker, constant(1.0));
  Value grow = b.create<CompareOp>(loc, CompareKind::EQ, count,
                                   constant(static_cast<double>(growthInterval)));
  Value canGrow = b.create<CompareOp>(loc, CompareKind::LE, scale,
                                      constant(largestGrowableScale(growthFactor)));
  Value growth = constant(growthFactor), one = constant(1.0);
  Value factor = b.create<WhereOp>(loc, canGrow, growth, one);
  Value grown = b.create<MulOp>(loc, scale, factor);
  Value cleanScale = b.create<WhereOp>(loc, grow, grown, scale);
  Value cleanTracker = b.create<WhereOp>(loc, grow, zero, count);
  Value newScale = b.create<WhereOp>(loc, finite, cleanScale,
                                     b.create<MulOp>(loc, scale, constant(backoffFactor)));
  Value newTracker = b.create<WhereOp>(loc, finite, cleanTracker, zero);
  for (Operation *op = optimizerStart ? optimizerStart->getNextNode() : &body.front(); op != ret;
       op = op->getNextNode())
    if (!op->hasAttr(kPhase))
      op->setAttr(kPhase, b.getStringAttr("optimizer"));

  // The new state results follow the step counter's, as the arguments do.
  unsigned at = results.size();
  for (unsigned i = 0; i < results.size(); ++i)
    if (auto name = fn.getResultAttrOfType<StringAttr>(i, kUpdates))
      if (name.getValue() == names::kStep)
        at = i + 1;
  SmallVector<Attribute> resultAttrs;
  for (unsigned i = 0; i < fn.getNumResults(); ++i) {
    DictionaryAttr attrs = fn.getResultAttrDict(i);
    resultAttrs.push_back(attrs ? attrs : DictionaryAttr::get(ctx));
  }
  results.insert(results.begin() + at, {newScale, newTracker});
  resultAttrs.insert(resultAttrs.begin() + at,
                     {attrDict({named(kUpdates, StringAttr::get(ctx, kScaleName))}),
                      attrDict({named(kUpdates, StringAttr::get(ctx, kTrackerName))})});
  b.create<func::ReturnOp>(ret.getLoc(), results);
  ret.erase();
  fn.setType(FunctionType::get(ctx, fn.getArgumentTypes(), ValueRange(results).getTypes()));
  fn.setAllResultAttrs(resultAttrs);
  return success();
}

} // namespace
