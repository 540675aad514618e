//===- Autodiff.cpp - reverse-mode differentiation of @forward ------------===//
//
// Builds `func.func @gradients` from `func.func @forward`: the forward computation followed by
// its reverse sweep, returning the loss and the gradient of the loss with respect to every
// trainable parameter. The trainable parameters leave the body and become function arguments,
// so the function is pure in them (docs/design.md decision 4); the optimizer pass builds the
// training step on top of it. Each op's gradient comes from its GradientOpInterface rule; this
// pass only decides what to differentiate; the reverse sweep (ReverseSweep.h) is the one the
// ONNX importer's `Gradient` op uses too.
//
//===----------------------------------------------------------------------===//

#include "precis/Dialect/Precis/IR/ReverseSweep.h"
#include "precis/Transforms/AttrNames.h"
#include "precis/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/Support/GlobPattern.h"

namespace mlir::precis {
#define GEN_PASS_DEF_AUTODIFFPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {


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

  // The trainable parameters: those the loss depends on through differentiable edges, in
  // initializer order.
  SmallVector<Operation *> bodyOps;
  for (Operation &op : body.without_terminator())
    bodyOps.push_back(&op);
  llvm::DenseSet<Value> reachesLoss = getValuesReaching(bodyOps, lossValue);
  SmallVector<ParameterOp> params;
  for (auto param : body.getOps<ParameterOp>())
    if (isFloatTensor(param.getResult()) && reachesLoss.contains(param.getResult()) &&
        !isFrozen(param.getName()))
      params.push_back(param);

  // Trainable parameters become arguments carrying their ONNX names.
  SmallVector<BlockArgument> paramArgs;
  for (ParameterOp p : params) {
    unsigned index = fn.getNumArguments();
    auto attrs = DictionaryAttr::get(
        &getContext(),
        {NamedAttribute(StringAttr::get(&getContext(), kParamName), p.getNameAttr())});
    fn.insertArgument(index, p.getType(), attrs, p.getLoc());
    BlockArgument arg = fn.getArgument(index);
    p.getResult().replaceAllUsesWith(arg);
    paramArgs.push_back(arg);
    p.erase();
  }

  // The reverse sweep. The seed d loss / d loss = 1 is marked so that loss scaling can find
  // it.
  SmallVector<Operation *> ops;
  for (Operation &op : body.without_terminator())
    ops.push_back(&op);
  llvm::DenseSet<Operation *> forwardOps(ops.begin(), ops.end());
  OpBuilder b(ret);
  auto seed = [&]() -> Value {
    auto one = b.create<ConstantOp>(
        lossValue.getLoc(),
        DenseElementsAttr::get(lossType, b.getFloatAttr(lossType.getElementType(), 1.0)));
    one->setAttr(kLossSeed, b.getUnitAttr());
    return one;
  };
  auto report = [](Operation *op, SweepFailure failure, size_t numGradients) {
    switch (failure) {
    case SweepFailure::NoRule:
      op->emitError("no gradient rule for this op");
      break;
    case SweepFailure::RuleFailed:
      op->emitError("building the gradient failed");
      break;
    case SweepFailure::WrongGradientCount:
      op->emitError("gradient rule returned ")
          << numGradients << " gradients for " << op->getNumOperands() << " operands";
      break;
    }
  };
  SmallVector<Value> wrt(paramArgs.begin(), paramArgs.end());
  FailureOr<SmallVector<Value>> grads =
      buildReverseSweep(b, ops, lossValue, wrt, {seed, report, std::nullopt});
  if (failed(grads))
    return failure();

  // Return the loss and the parameter gradients; drop everything they do not need.
  SmallVector<Value> results{lossValue};
  SmallVector<Attribute> resultAttrs{forward.getResultAttrDict(lossIndex)
                                         ? Attribute(forward.getResultAttrDict(lossIndex))
                                         : Attribute(DictionaryAttr::get(&getContext()))};
  b.setInsertionPoint(ret);
  for (auto [arg, g] : llvm::zip(paramArgs, *grads)) {
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
