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
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Regex.h"

#include <optional>

namespace mlir::precis {
#define GEN_PASS_DEF_AUTODIFFPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {

/// Why an initializer is or is not trained (docs/training.md, "What is trained").
struct Decision {
  bool trained = false;
  StringRef rule;
  std::string reason;
};

/// The --trainable / --frozen regex, matched against whole initializer names.
struct NamePattern {
  std::string text;
  std::optional<llvm::Regex> regex;
  bool used = false;

  LogicalResult init(StringRef pattern, StringRef option, Operation *where) {
    if (pattern.empty())
      return success();
    text = pattern.str();
    regex.emplace(("^(" + pattern + ")$").str());
    std::string error;
    if (!regex->isValid(error))
      return where->emitError("bad regular expression for ")
             << option << " '" << pattern << "': " << error;
    return success();
  }
  bool matches(StringRef name) {
    bool m = regex && regex->match(name);
    used |= m;
    return m;
  }
};

struct AutodiffPass : mlir::precis::impl::AutodiffPassBase<AutodiffPass> {
  using AutodiffPassBase::AutodiffPassBase;

  void runOnOperation() override {
    if (failed(run()))
      signalPassFailure();
  }

  LogicalResult run();
};

/// Whether every use of `v` is one of the operands `accept` accepts (and it has a use).
static bool onlyUsedAs(Value v, llvm::function_ref<bool(OpOperand &)> accept) {
  return !v.use_empty() && llvm::all_of(v.getUses(), accept);
}

/// The rule for one float parameter of @forward, before overrides: what the exporter
/// recorded, else its shape and uses.
static Decision decide(ParameterOp param, bool reachesLoss, StringRef exporterKind) {
  auto type = cast<RankedTensorType>(param.getType());
  if (!isa<FloatType>(type.getElementType()))
    return {false, "not-float", "not a float tensor"};
  if (onlyUsedAs(param.getResult(), [](OpOperand &use) {
        return isa<BatchNormOp>(use.getOwner()) && use.getOperandNumber() >= 3;
      }))
    return {false, "batch-norm-statistics",
            "BatchNorm running mean/variance: statistics, not a parameter"};
  if (!reachesLoss)
    return {false, "no-gradient", "no differentiable path to the loss"};
  if (exporterKind == "parameter")
    return {true, "exporter", "the exporter records it as a parameter"};
  if (exporterKind == "buffer")
    return {false, "exporter", "the exporter records it as a buffer, not a parameter"};
  if (exporterKind == "constant")
    return {false, "exporter", "the exporter records it as a constant, not a parameter"};
  if (type.getNumElements() == 1)
    return {false, "single-element",
            "single-element initializer: a constant (an exponent, epsilon or scale)"};
  if (onlyUsedAs(param.getResult(), [](OpOperand &use) {
        return isa<PowOp>(use.getOwner()) && use.getOperandNumber() == 1;
      }))
    return {false, "pow-exponent", "only a Pow exponent: a constant"};
  return {true, "default", "a float initializer the loss depends on differentiably"};
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

  // The trainable parameters, in initializer order: the rule (decide), then the overrides;
  // every decision is recorded on the module for the report.
  NamePattern trainablePattern, frozenPattern;
  if (failed(trainablePattern.init(trainable, "--trainable", module)) ||
      failed(frozenPattern.init(frozen, "--frozen", module)))
    return failure();
  llvm::StringMap<std::string> exporterKinds;
  llvm::StringMap<ArrayAttr> merged;
  auto initializers = module->getAttrOfType<ArrayAttr>(kInitializers);
  if (initializers)
    for (auto entry : initializers.getAsRange<DictionaryAttr>()) {
      auto name = entry.getAs<StringAttr>("name");
      if (!name)
        continue;
      if (auto kind = entry.getAs<StringAttr>("exporter"))
        exporterKinds[name.getValue()] = kind.getValue().str();
      if (auto m = entry.getAs<ArrayAttr>("merged"))
        merged[name.getValue()] = m;
    }
  SmallVector<Operation *> bodyOps;
  for (Operation &op : body.without_terminator())
    bodyOps.push_back(&op);
  llvm::DenseSet<Value> reachesLoss = getValuesReaching(bodyOps, lossValue);
  SmallVector<ParameterOp> params;
  SmallVector<Attribute> decisions;
  llvm::StringSet<> seen;
  OpBuilder attrs(&getContext());
  auto record = [&](StringRef name, Type type, const Decision &d) {
    SmallVector<NamedAttribute> fields{attrs.getNamedAttr("name", attrs.getStringAttr(name)),
                                       attrs.getNamedAttr("trained", attrs.getBoolAttr(d.trained)),
                                       attrs.getNamedAttr("rule", attrs.getStringAttr(d.rule)),
                                       attrs.getNamedAttr("reason", attrs.getStringAttr(d.reason))};
    if (type)
      fields.push_back(attrs.getNamedAttr("type", TypeAttr::get(type)));
    if (ArrayAttr m = merged.lookup(name))
      fields.push_back(attrs.getNamedAttr("merged", m));
    decisions.push_back(attrs.getDictionaryAttr(fields));
  };
  for (auto param : body.getOps<ParameterOp>()) {
    StringRef name = param.getName();
    bool reaches = isFloatTensor(param.getResult()) && reachesLoss.contains(param.getResult());
    Decision d = decide(param, reaches, exporterKinds.lookup(name));
    if (frozenPattern.matches(name)) {
      if (d.trained)
        d = {false, "override", "--frozen '" + frozenPattern.text + "'"};
    } else if (trainablePattern.matches(name) && !d.trained) {
      if (reaches)
        d = {true, "override",
             "--trainable '" + trainablePattern.text + "' (the rule: " + d.reason + ")"};
      else
        d.reason += " (--trainable cannot train it)";
    }
    seen.insert(name);
    record(name, param.getType(), d);
    if (d.trained)
      params.push_back(param);
  }
  // The exporter's initializers the computation no longer reads (folded at import: shapes,
  // axes; or unused).
  if (initializers)
    for (auto entry : initializers.getAsRange<DictionaryAttr>())
      if (auto name = entry.getAs<StringAttr>("name"); name && !seen.contains(name.getValue())) {
        frozenPattern.matches(name.getValue());
        trainablePattern.matches(name.getValue());
        record(name.getValue(), {},
               {false, "unused", "not read by the computation (unused, or folded at import)"});
      }
  module->setAttr(kTrainable, attrs.getArrayAttr(decisions));
  for (NamePattern *p : {&trainablePattern, &frozenPattern})
    if (p->regex && !p->used)
      module.emitWarning() << (p == &trainablePattern ? "--trainable" : "--frozen") << " '"
                           << p->text << "' matches no initializer";

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
