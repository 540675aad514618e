//===- Optimizer.cpp - @train_step from @gradients -------------------------===//
//
// Builds `func.func @train_step`, the pure training step of docs/design.md decision 4: the body of
// `@gradients` (loss and parameter gradients) followed by one torch.optim SGD, Adam or AdamW
// update per parameter, with the optimizer state, the step counter and the learning rate as
// explicit arguments and the updated values as results. Passes.td states the signature, which
// the `precis train` driver and the runtime code against; the update semantics live in the
// `precis.sgd_update` / `precis.adam_update` op descriptions.
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/AttrNames.h"
#include "precis/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::precis {
#define GEN_PASS_DEF_OPTIMIZERPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {



struct OptimizerPass : mlir::precis::impl::OptimizerPassBase<OptimizerPass> {
  using OptimizerPassBase::OptimizerPassBase;

  void runOnOperation() override {
    if (failed(run()))
      signalPassFailure();
  }

  LogicalResult run();
};

Value scalar(OpBuilder &b, Location loc, double v) {
  auto type = RankedTensorType::get({}, b.getF32Type());
  return b.create<ConstantOp>(loc, DenseElementsAttr::get(type, b.getF32FloatAttr(v)));
}

/// Scales every gradient by min(1, maxNorm / (total_norm + 1e-6)), as
/// torch.nn.utils.clip_grad_norm_ does; total_norm is the 2-norm of all gradients together.
void clipGradients(OpBuilder &b, Location loc, double maxNorm, SmallVectorImpl<Value> &grads) {
  Value sumSq;
  for (Value g : grads) {
    Value sq = b.create<MulOp>(loc, g, g);
    Value s = b.create<ReduceSumOp>(loc, sq, b.getDenseI64ArrayAttr({}), false);
    sumSq = sumSq ? b.create<AddOp>(loc, sumSq, s).getResult() : s;
  }
  Value norm = b.create<SqrtOp>(loc, sumSq);
  Value coef = b.create<DivOp>(loc, scalar(b, loc, maxNorm),
                               b.create<AddOp>(loc, norm, scalar(b, loc, 1e-6)));
  coef = b.create<MinOp>(loc, coef, scalar(b, loc, 1.0));
  for (Value &g : grads)
    g = b.create<MulOp>(loc, g, coef);
}

LogicalResult OptimizerPass::run() {
  ModuleOp module = getOperation();
  MLIRContext *ctx = &getContext();
  auto grads = module.lookupSymbol<func::FuncOp>(names::kGradients);
  if (!grads)
    return module.emitError("precis-optimizer expects a func.func @gradients (run "
                            "precis-autodiff first)");
  if (module.lookupSymbol(names::kTrainStep))
    return module.emitError("the module already has a @train_step");
  if (!grads.getBody().hasOneBlock())
    return grads.emitError("expects @gradients with a single block");

  const OptimizerKind kind = optimizer;
  const double wd = weightDecay >= 0 ? weightDecay : (kind == OptimizerKind::AdamW ? 0.01 : 0.0);
  if (momentum < 0 || dampening < 0 || clipGradNorm < 0 || eps < 0)
    return module.emitError("momentum, dampening, eps and clip-grad-norm must be >= 0");
  if (nesterov && (kind != OptimizerKind::SGD || momentum <= 0 || dampening != 0))
    return module.emitError("nesterov needs sgd with a momentum and zero dampening");
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
    return module.emitError("beta1 and beta2 must lie in [0, 1)");
  if (zeroStage != 0 && zeroStage != 1)
    return module.emitError("zero-stage must be 0 or 1, got ") << zeroStage;
  if (worldSize < 1)
    return module.emitError("world-size must be >= 1, got ") << worldSize;
  const bool zero = zeroStage == 1;

  // @gradients(inputs..., params...) -> (loss, grads...): split the arguments and match each
  // parameter to its gradient by name.
  SmallVector<BlockArgument> params, batch;
  for (BlockArgument arg : grads.getArguments())
    (grads.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kParamName) ? params : batch)
        .push_back(arg);
  llvm::StringMap<unsigned> gradIndex;
  for (unsigned i = 1; i < grads.getNumResults(); ++i)
    if (auto n = grads.getResultAttrOfType<StringAttr>(i, kGradOf))
      gradIndex[n.getValue()] = i;
  if (grads.getNumResults() < 1)
    return grads.emitError("@gradients returns no loss");
  auto f32Scalar = RankedTensorType::get({}, Float32Type::get(ctx));
  SmallVector<StringRef> paramNames;
  for (BlockArgument p : params) {
    StringRef name = grads.getArgAttrOfType<StringAttr>(p.getArgNumber(), kParamName).getValue();
    auto type = dyn_cast<RankedTensorType>(p.getType());
    if (!type || !type.getElementType().isF32())
      return grads.emitError("parameter '")
             << name << "' is " << p.getType() << "; the optimizer updates f32 parameters";
    if (!gradIndex.count(name))
      return grads.emitError("no gradient result for parameter '") << name << "'";
    paramNames.push_back(name);
  }

  // BatchNorm running statistics (docs/design.md decision 13): the initializers a
  // training-mode batch_norm reads as its running mean and variance become training state,
  // named after the initializer and starting from its value, and the batch_norm's updated
  // statistics become their next values. A batch_norm in inference mode reads them as
  // constants: the model then trains as in eval mode, which the user should know.
  SmallVector<ParameterOp> bnStats;
  SmallVector<Value> bnUpdates;
  llvm::SmallPtrSet<Operation *, 8> bnStatOps;
  BatchNormOp inferenceBn;
  for (BatchNormOp bn : grads.getBody().front().getOps<BatchNormOp>()) {
    if (!bn.getTraining()) {
      inferenceBn = inferenceBn ? inferenceBn : bn;
      continue;
    }
    for (unsigned k : {3u, 4u}) {
      auto stat = bn->getOperand(k).getDefiningOp<ParameterOp>();
      if (!stat)
        continue; // a graph input or a computed value: not the model's state
      if (!bnStatOps.insert(stat).second)
        return bn.emitError("initializer '")
               << stat.getName()
               << "' is the running statistic of more than one training-mode BatchNormalization; "
                  "precis carries each running statistic as the state of one";
      bnStats.push_back(stat);
      bnUpdates.push_back(bn->getResult(k - 2));
    }
  }
  if (inferenceBn) // at the node, without the op: the user reads ONNX, not precis IR
    mlir::emitWarning(inferenceBn.getLoc())
        << "BatchNormalization is in inference mode (training_mode=0): training normalises "
           "with the running statistics and never updates them, as in eval mode (an exporter "
           "that writes this also drops Dropout). To train with batch statistics, export the "
           "model with torch.onnx.export(..., dynamo=False, "
           "training=torch.onnx.TrainingMode.TRAINING)";

  SmallVector<StringRef> stateKinds;
  if (kind == OptimizerKind::SGD && momentum != 0)
    stateKinds = {names::kMomentumBuffer};
  else if (kind != OptimizerKind::SGD)
    stateKinds = {names::kExpAvg, names::kExpAvgSq};

  // ZeRO stage 1: every rank's share of the flattened parameters, S elements.
  int64_t flatElements = 0;
  for (BlockArgument p : params)
    flatElements += cast<RankedTensorType>(p.getType()).getNumElements();
  const int64_t share = (flatElements + worldSize - 1) / worldSize;
  auto shareType = RankedTensorType::get({share}, Float32Type::get(ctx));
  if (zero && flatElements == 0)
    return grads.emitError("zero-stage=1 with no parameters to shard");

  // The signature (Passes.td).
  auto named = [&](StringRef attr, Attribute value) {
    return DictionaryAttr::get(ctx, {NamedAttribute(StringAttr::get(ctx, attr), value)});
  };
  auto state = [&](StringAttr name, StringRef role) {
    return DictionaryAttr::get(
        ctx, {NamedAttribute(StringAttr::get(ctx, kStateName), name),
              NamedAttribute(StringAttr::get(ctx, kRole), StringAttr::get(ctx, role))});
  };
  SmallVector<Type> argTypes, resultTypes;
  SmallVector<Attribute> argAttrs, resultAttrs;
  for (auto [p, name] : llvm::zip(params, paramNames)) {
    argTypes.push_back(p.getType());
    argAttrs.push_back(named(kParamName, StringAttr::get(ctx, name)));
    resultTypes.push_back(p.getType());
    resultAttrs.push_back(named(kUpdates, StringAttr::get(ctx, name)));
  }
  if (zero)
    for (StringRef s : stateKinds) {
      auto stateName = StringAttr::get(ctx, std::string(names::kZeroStatePrefix) + s.str());
      argTypes.push_back(shareType);
      argAttrs.push_back(state(stateName, names::kRoleOptimizerState));
      resultTypes.push_back(shareType);
      resultAttrs.push_back(named(kUpdates, stateName));
    }
  else
    for (auto [p, name] : llvm::zip(params, paramNames))
      for (StringRef s : stateKinds) {
        auto stateName = StringAttr::get(ctx, name + "." + s);
        argTypes.push_back(p.getType());
        argAttrs.push_back(state(stateName, names::kRoleOptimizerState));
        resultTypes.push_back(p.getType());
        resultAttrs.push_back(named(kUpdates, stateName));
      }
  for (ParameterOp stat : bnStats) {
    argTypes.push_back(stat.getType());
    argAttrs.push_back(DictionaryAttr::get(
        ctx, {NamedAttribute(StringAttr::get(ctx, kStateName), stat.getNameAttr()),
              NamedAttribute(StringAttr::get(ctx, kRole),
                             StringAttr::get(ctx, names::kRoleBatchNormStats)),
              NamedAttribute(StringAttr::get(ctx, kInitialValue), stat.getValue())}));
    resultTypes.push_back(stat.getType());
    resultAttrs.push_back(named(kUpdates, stat.getNameAttr()));
  }
  // The step counter is an integer: an f32 counter stops counting at 2^24.
  auto i64Scalar = RankedTensorType::get({}, IntegerType::get(ctx, 64));
  argTypes.push_back(i64Scalar);
  argAttrs.push_back(state(StringAttr::get(ctx, names::kStep), names::kRoleStep));
  resultTypes.push_back(i64Scalar);
  resultAttrs.push_back(named(kUpdates, StringAttr::get(ctx, names::kStep)));
  // Training-mode dropout draws from the RNG state (seed, steps drawn), which starts at
  // (seed, 0) and counts every step, skipped or not.
  const bool drawsRandom = llvm::any_of(grads.getBody().front().getOps<DropoutOp>(),
                                        [](DropoutOp d) { return d.getTraining(); });
  auto rngType = RankedTensorType::get({2}, IntegerType::get(ctx, 64));
  if (drawsRandom) {
    argTypes.push_back(rngType);
    argAttrs.push_back(DictionaryAttr::get(
        ctx, {NamedAttribute(StringAttr::get(ctx, kStateName), StringAttr::get(ctx, names::kRng)),
              NamedAttribute(StringAttr::get(ctx, kRole), StringAttr::get(ctx, names::kRoleRng)),
              NamedAttribute(StringAttr::get(ctx, kInitialValue),
                             DenseElementsAttr::get(
                                 rngType, ArrayRef<int64_t>{static_cast<int64_t>(seed), 0}))}));
    resultTypes.push_back(rngType);
    resultAttrs.push_back(named(kUpdates, StringAttr::get(ctx, names::kRng)));
  }
  for (BlockArgument x : batch) {
    argTypes.push_back(x.getType());
    DictionaryAttr attrs = grads.getArgAttrDict(x.getArgNumber());
    argAttrs.push_back(attrs ? attrs : DictionaryAttr::get(ctx));
  }
  argTypes.push_back(f32Scalar);
  argAttrs.push_back(named(kLr, UnitAttr::get(ctx)));
  resultTypes.push_back(grads.getResultTypes()[0]);
  resultAttrs.push_back(named(kOnnxName, StringAttr::get(ctx, names::kLoss)));

  OpBuilder mb(ctx);
  mb.setInsertionPointAfter(grads);
  auto step = mb.create<func::FuncOp>(grads.getLoc(), names::kTrainStep,
                                      FunctionType::get(ctx, argTypes, resultTypes));
  step.setAllArgAttrs(argAttrs);
  step.setAllResultAttrs(resultAttrs);
  Block *body = step.addEntryBlock();
  const unsigned numParams = params.size(),
                 numState = (zero ? 1 : numParams) * stateKinds.size();
  const unsigned bnIndex = numParams + numState, stepIndex = bnIndex + bnStats.size(),
                 lrIndex = step.getNumArguments() - 1;

  // The gradient computation, inlined (the artifact runs precis ops only, no calls).
  IRMapping map;
  for (auto [i, p] : llvm::enumerate(params))
    map.map(p, step.getArgument(i));
  for (auto [i, x] : llvm::enumerate(batch))
    map.map(x, step.getArgument(stepIndex + 1 + drawsRandom + i));
  OpBuilder b = OpBuilder::atBlockEnd(body);
  auto ret = cast<func::ReturnOp>(grads.getBody().front().getTerminator());
  for (auto [i, stat] : llvm::enumerate(bnStats))
    map.map(stat.getResult(), step.getArgument(bnIndex + i));
  for (Operation &op : grads.getBody().front().without_terminator())
    if (!bnStatOps.contains(&op))
      b.clone(op, map);
  // Every training-mode dropout reads the RNG state and gets its own stream, in program order.
  Value rng = drawsRandom ? step.getArgument(stepIndex + 1) : Value();
  uint32_t streams = 0;
  for (DropoutOp d : body->getOps<DropoutOp>())
    if (d.getTraining()) {
      d.getRngMutable().assign(rng);
      d.setStream(streams++);
    }
  // The optimizer's own ops (marked `precis.phase = "optimizer"` at the end) follow these.
  Operation *lastCloned = body->empty() ? nullptr : &body->back();
  Location loc = ret.getLoc();
  Value loss = map.lookup(ret.getOperand(0));
  SmallVector<Value> paramGrads;
  for (StringRef name : paramNames)
    paramGrads.push_back(map.lookup(ret.getOperand(gradIndex.lookup(name))));

  Value newStep = b.create<AddOp>(
      loc, step.getArgument(stepIndex),
      b.create<ConstantOp>(loc, DenseElementsAttr::get(i64Scalar, b.getI64IntegerAttr(1))));
  // The updates read the count as f32 (sgd's first-step test, adam's bias corrections):
  // exact below 2^24, so as before there.
  Value newStepF32 = b.create<CastOp>(loc, f32Scalar, newStep);
  if (clipGradNorm > 0)
    clipGradients(b, loc, clipGradNorm, paramGrads);

  Value lr = step.getArgument(lrIndex);
  SmallVector<Value> newParams, newState;
  auto f32 = [&](double v) { return b.getF32FloatAttr(v); };
  // With ZeRO stage 1 the update runs once, over this rank's share of the flattened
  // parameters and gradients, with the state arguments zero1.<kind>.
  SmallVector<Value> updateParams, updateGrads;
  if (zero) {
    auto flatten = [&](ValueRange values) -> Value {
      SmallVector<Value> pieces;
      for (Value v : values) {
        auto type = cast<RankedTensorType>(v.getType());
        pieces.push_back(b.create<ReshapeOp>(
            loc, RankedTensorType::get({type.getNumElements()}, b.getF32Type()), v));
      }
      if (share * worldSize > flatElements) {
        auto padType = RankedTensorType::get({share * worldSize - flatElements}, b.getF32Type());
        pieces.push_back(
            b.create<ConstantOp>(loc, DenseElementsAttr::get(padType, b.getF32FloatAttr(0))));
      }
      auto flatType = RankedTensorType::get({share * worldSize}, b.getF32Type());
      return pieces.size() == 1
                 ? pieces.front()
                 : b.create<ConcatOp>(loc, flatType, pieces, b.getI64IntegerAttr(0)).getResult();
    };
    SmallVector<Value> paramArgs;
    for (unsigned i = 0; i < numParams; ++i)
      paramArgs.push_back(step.getArgument(i));
    updateParams.push_back(b.create<ShardOp>(loc, shareType, flatten(paramArgs), "world"));
    updateGrads.push_back(b.create<ShardOp>(loc, shareType, flatten(paramGrads), "world"));
  } else {
    for (unsigned i = 0; i < numParams; ++i) {
      updateParams.push_back(step.getArgument(i));
      updateGrads.push_back(paramGrads[i]);
    }
  }
  for (unsigned i = 0; i < updateParams.size(); ++i) {
    Value p = updateParams[i], g = updateGrads[i];
    SmallVector<NamedAttribute> attrs;
    auto set = [&](StringRef name, Attribute value) {
      attrs.emplace_back(b.getStringAttr(name), value);
    };
    Operation *update;
    if (kind == OptimizerKind::SGD) {
      SmallVector<Value> operands{p, g, newStepF32, lr};
      SmallVector<Type> types{p.getType()};
      if (momentum != 0) {
        operands.push_back(step.getArgument(numParams + i));
        types.push_back(p.getType());
        set("momentum", f32(momentum));
      }
      if (dampening != 0)
        set("dampening", f32(dampening));
      if (wd != 0)
        set("weight_decay", f32(wd));
      if (nesterov)
        set("nesterov", b.getBoolAttr(true));
      update = b.create<SgdUpdateOp>(loc, types, operands, attrs);
    } else {
      Value m = step.getArgument(numParams + 2 * i), v = step.getArgument(numParams + 2 * i + 1);
      set("beta1", f32(beta1));
      set("beta2", f32(beta2));
      set("eps", f32(eps));
      if (wd != 0)
        set("weight_decay", f32(wd));
      if (kind == OptimizerKind::AdamW)
        set("decoupled", b.getBoolAttr(true));
      update = b.create<AdamUpdateOp>(loc, TypeRange{p.getType(), p.getType(), p.getType()},
                                      ValueRange{p, g, m, v, newStepF32, lr}, attrs);
    }
    newParams.push_back(update->getResult(0));
    for (Value s : update->getResults().drop_front())
      newState.push_back(s);
  }
  if (zero) {
    // Every rank's updated share, joined, then cut back into the parameters.
    Value all = b.create<AllGatherOp>(
        loc, RankedTensorType::get({share * worldSize}, b.getF32Type()), newParams.front(),
        "world");
    newParams.clear();
    int64_t offset = 0;
    for (unsigned i = 0; i < numParams; ++i) {
      auto type = cast<RankedTensorType>(step.getArgument(i).getType());
      const int64_t n = type.getNumElements();
      Value piece = b.create<SliceOp>(loc, RankedTensorType::get({n}, b.getF32Type()), all,
                                      b.getDenseI64ArrayAttr({offset}),
                                      b.getDenseI64ArrayAttr({offset + n}),
                                      b.getDenseI64ArrayAttr({1}));
      newParams.push_back(b.create<ReshapeOp>(loc, type, piece));
      offset += n;
    }
  }
  SmallVector<Value> results(newParams);
  results.append(newState);
  for (Value v : bnUpdates)
    results.push_back(map.lookup(v));
  results.push_back(newStep);
  if (drawsRandom)
    results.push_back(b.create<AddOp>(
        loc, rng,
        b.create<ConstantOp>(loc, DenseElementsAttr::get(rngType, ArrayRef<int64_t>{0, 1}))));
  results.push_back(loss);
  for (Operation &op : llvm::make_range(
           lastCloned ? std::next(lastCloned->getIterator()) : body->begin(), body->end()))
    op.setAttr(kPhase, b.getStringAttr("optimizer"));
  b.create<func::ReturnOp>(loc, results);
  return success();
}

} // namespace
