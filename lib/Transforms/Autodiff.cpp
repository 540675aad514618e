//===- Autodiff.cpp - reverse-mode differentiation of @forward ------------===//
//
// Builds `func.func @gradients` from `func.func @forward`: the forward computation followed by
// its reverse sweep, returning the loss and the gradient of the loss with respect to every
// trainable parameter. The trainable parameters leave the body and become function arguments,
// so the function is pure in them (DESIGN.md decision 4); the optimizer pass builds the
// training step on top of it. Each op's gradient comes from its GradientOpInterface rule; this
// pass only decides what to differentiate, walks the ops in reverse and accumulates.
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/AttrNames.h"
#include "precis/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/GlobPattern.h"

namespace mlir::precis {
#define GEN_PASS_DEF_AUTODIFFPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {


bool isFloatTensor(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && isa<FloatType>(t.getElementType());
}

/// Operands through which a gradient can flow: float operands the op's rule differentiates.
SmallVector<Value> differentiableOperands(Operation *op) {
  SmallVector<Value> out;
  auto grad = dyn_cast<GradientOpInterface>(op);
  if (!grad)
    return out;
  for (auto [i, v] : llvm::enumerate(op->getOperands()))
    if (isFloatTensor(v) && grad.isDifferentiableOperand(i))
      out.push_back(v);
  return out;
}

struct AutodiffPass : mlir::precis::impl::AutodiffPassBase<AutodiffPass> {
  using AutodiffPassBase::AutodiffPassBase;

  void runOnOperation() override {
    if (failed(run()))
      signalPassFailure();
  }

  LogicalResult run();
  bool isFrozen(StringRef name) const;
};

bool AutodiffPass::isFrozen(StringRef name) const {
  SmallVector<StringRef> patterns;
  StringRef(freeze).split(patterns, ',', -1, /*KeepEmpty=*/false);
  for (StringRef p : patterns) {
    auto glob = llvm::GlobPattern::create(p.trim());
    if (glob && glob->match(name))
      return true;
  }
  return false;
}

LogicalResult AutodiffPass::run() {
  ModuleOp module = getOperation();
  auto forward = module.lookupSymbol<func::FuncOp>(names::kForward);
  if (!forward)
    return module.emitError("precis-autodiff expects a func.func @forward");
  if (module.lookupSymbol(names::kGradients))
    return module.emitError("the module already has a @gradients");
  if (!forward.getBody().hasOneBlock())
    return forward.emitError("expects @forward with a single block");

  // The loss: the single result, or the result named `loss`.
  unsigned lossIndex = 0;
  if (loss.empty()) {
    if (forward.getNumResults() != 1)
      return forward.emitError("@forward has ")
             << forward.getNumResults() << " results; name the loss with the 'loss' option";
  } else {
    bool found = false;
    for (unsigned i = 0; i < forward.getNumResults() && !found; ++i)
      if (auto n = forward.getResultAttrOfType<StringAttr>(i, kOnnxName))
        if (n.getValue() == loss)
          lossIndex = i, found = true;
    if (!found)
      return forward.emitError("@forward has no result named '") << loss << "'";
  }
  auto lossType = dyn_cast<RankedTensorType>(forward.getResultTypes()[lossIndex]);
  if (!lossType || !isa<FloatType>(lossType.getElementType()) || lossType.getNumElements() != 1)
    return forward.emitError("the loss must be a one-element float tensor, got ")
           << forward.getResultTypes()[lossIndex];

  OpBuilder moduleBuilder(module.getContext());
  moduleBuilder.setInsertionPointAfter(forward);
  auto fn = cast<func::FuncOp>(moduleBuilder.clone(*forward));
  fn.setSymName(names::kGradients);
  Block &body = fn.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  Value lossValue = ret.getOperand(lossIndex);

  // Values that reach the loss through differentiable edges (reverse sweep)...
  llvm::DenseSet<Value> reachesLoss{lossValue};
  for (Operation &op : llvm::reverse(body.without_terminator()))
    if (llvm::any_of(op.getResults(), [&](Value r) { return reachesLoss.contains(r); }))
      for (Value v : differentiableOperands(&op))
        reachesLoss.insert(v);
  // ... the trainable parameters among them, in initializer order ...
  SmallVector<ParameterOp> params;
  for (auto param : body.getOps<ParameterOp>())
    if (isFloatTensor(param.getResult()) && reachesLoss.contains(param.getResult()) &&
        !isFrozen(param.getName()))
      params.push_back(param);
  // ... and the values that depend on one of them (forward sweep): the active values.
  llvm::DenseSet<Value> active;
  for (ParameterOp p : params)
    active.insert(p.getResult());
  for (Operation &op : body.without_terminator())
    if (llvm::any_of(differentiableOperands(&op), [&](Value v) { return active.contains(v); }))
      for (Value r : op.getResults())
        if (isFloatTensor(r) && reachesLoss.contains(r))
          active.insert(r);

  // Trainable parameters become arguments carrying their ONNX names.
  SmallVector<BlockArgument> paramArgs;
  for (ParameterOp p : params) {
    unsigned index = fn.getNumArguments();
    auto attrs = DictionaryAttr::get(
        &getContext(),
        {NamedAttribute(StringAttr::get(&getContext(), kParamName), p.getNameAttr())});
    fn.insertArgument(index, p.getType(), attrs, p.getLoc());
    BlockArgument arg = fn.getArgument(index);
    if (active.erase(p.getResult()))
      active.insert(arg);
    p.getResult().replaceAllUsesWith(arg);
    paramArgs.push_back(arg);
    p.erase();
  }

  // The reverse sweep: gradients of active values, accumulated over their uses. The seed
  // d loss / d loss = 1 is marked so that loss scaling can find it.
  llvm::DenseSet<Operation *> forwardOps;
  for (Operation &op : body.without_terminator())
    forwardOps.insert(&op);
  OpBuilder b(ret);
  llvm::DenseMap<Value, Value> grads;
  if (active.contains(lossValue)) {
    auto seed = b.create<ConstantOp>(
        lossValue.getLoc(),
        DenseElementsAttr::get(lossType, b.getFloatAttr(lossType.getElementType(), 1.0)));
    seed->setAttr(kLossSeed, b.getUnitAttr());
    grads[lossValue] = seed;
  }
  SmallVector<Operation *> ops;
  for (Operation &op : body.without_terminator())
    ops.push_back(&op);
  for (Operation *op : llvm::reverse(ops)) {
    SmallVector<Value> resultGrads;
    bool any = false;
    for (Value r : op->getResults()) {
      resultGrads.push_back(grads.lookup(r));
      any |= static_cast<bool>(resultGrads.back());
    }
    if (!any)
      continue;
    auto rule = dyn_cast<GradientOpInterface>(op);
    if (!rule)
      return op->emitError("no gradient rule for this op");
    b.setInsertionPoint(ret);
    SmallVector<Value> operandGrads;
    if (failed(rule.buildGradients(b, resultGrads, operandGrads)))
      return op->emitError("building the gradient failed");
    if (operandGrads.size() != op->getNumOperands())
      return op->emitError("gradient rule returned ")
             << operandGrads.size() << " gradients for " << op->getNumOperands() << " operands";
    for (auto [operand, g] : llvm::zip(op->getOperands(), operandGrads)) {
      if (!g || !active.contains(operand))
        continue;
      Value &acc = grads[operand];
      acc = acc ? b.create<AddOp>(op->getLoc(), acc, g).getResult() : g;
    }
  }

  // Return the loss and the parameter gradients; drop everything they do not need.
  SmallVector<Value> results{lossValue};
  SmallVector<Attribute> resultAttrs{forward.getResultAttrDict(lossIndex)
                                         ? Attribute(forward.getResultAttrDict(lossIndex))
                                         : Attribute(DictionaryAttr::get(&getContext()))};
  b.setInsertionPoint(ret);
  for (auto [p, arg] : llvm::zip(params, paramArgs)) {
    Value g = grads.lookup(arg);
    if (!g)
      g = b.create<ConstantOp>(
          arg.getLoc(), DenseElementsAttr::get(
                            cast<ShapedType>(arg.getType()),
                            b.getFloatAttr(cast<ShapedType>(arg.getType()).getElementType(), 0.0)));
    results.push_back(g);
    resultAttrs.push_back(DictionaryAttr::get(
        &getContext(),
        {NamedAttribute(StringAttr::get(&getContext(), kGradOf),
                        fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kParamName))}));
  }
  // Everything built since the forward ops is the backward phase (check-numerics reports it).
  for (Operation &op : body.without_terminator())
    if (!forwardOps.contains(&op))
      op.setAttr(kPhase, b.getStringAttr("backward"));
  b.create<func::ReturnOp>(ret.getLoc(), results);
  ret.erase();
  fn.setType(
      FunctionType::get(&getContext(), fn.getArgumentTypes(), ValueRange(results).getTypes()));
  fn.setAllResultAttrs(resultAttrs);
  SmallVector<Operation *> all;
  for (Operation &op : body.without_terminator())
    all.push_back(&op);
  for (Operation *op : llvm::reverse(all))
    if (isOpTriviallyDead(op))
      op->erase();
  return success();
}

} // namespace
