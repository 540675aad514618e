//===- ReverseSweep.cpp - reverse-mode differentiation of precis ops ------===//
//
// Implements buildReverseSweep (ReverseSweep.h). The ops' rules do the calculus; this file
// only decides which ops to differentiate and accumulates.
//
//===----------------------------------------------------------------------===//

#include "precis/Dialect/Precis/IR/ReverseSweep.h"

#include "llvm/ADT/DenseMap.h"

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
  auto rule = dyn_cast<GradientOpInterface>(op);
  if (!rule)
    return out;
  for (auto [i, v] : llvm::enumerate(op->getOperands()))
    if (isFloatTensor(v) && rule.isDifferentiableOperand(i))
      out.push_back(v);
  return out;
}

} // namespace

llvm::DenseSet<Value> mlir::precis::getValuesReaching(ArrayRef<Operation *> ops, Value y) {
  llvm::DenseSet<Value> reaching{y};
  for (Operation *op : llvm::reverse(ops))
    if (llvm::any_of(op->getResults(), [&](Value r) { return reaching.contains(r); }))
      for (Value v : differentiableOperands(op))
        reaching.insert(v);
  return reaching;
}

FailureOr<SmallVector<Value>> mlir::precis::buildReverseSweep(OpBuilder &builder,
                                                              ArrayRef<Operation *> ops, Value y,
                                                              ArrayRef<Value> wrt,
                                                              const ReverseSweepOptions &options) {
  // The active values: those that reach y and depend on one of `wrt` (a forward sweep).
  llvm::DenseSet<Value> reachesY = getValuesReaching(ops, y);
  llvm::DenseSet<Value> active(wrt.begin(), wrt.end());
  for (Operation *op : ops)
    if (llvm::any_of(differentiableOperands(op), [&](Value v) { return active.contains(v); }))
      for (Value r : op->getResults())
        if (isFloatTensor(r) && reachesY.contains(r))
          active.insert(r);

  // Every rule builds at the caller's insertion point, so the backward ops come out in
  // reverse op order there.
  const OpBuilder::InsertPoint insertionPoint = builder.saveInsertionPoint();
  llvm::DenseMap<Value, Value> grads;
  if (active.contains(y))
    grads[y] = options.seed();
  for (Operation *op : llvm::reverse(ops)) {
    SmallVector<Value> resultGrads;
    bool any = false;
    for (Value r : op->getResults()) {
      resultGrads.push_back(grads.lookup(r));
      any |= static_cast<bool>(resultGrads.back());
    }
    // An op without active operands (one that defines a value of `wrt`) ends the sweep along
    // this path: there is nothing further to differentiate.
    if (!any || llvm::none_of(op->getOperands(), [&](Value v) { return active.contains(v); }))
      continue;
    auto rule = dyn_cast<GradientOpInterface>(op);
    if (!rule) {
      options.report(op, SweepFailure::NoRule, 0);
      return failure();
    }
    builder.restoreInsertionPoint(insertionPoint);
    SmallVector<Value> operandGrads;
    if (failed(rule.buildGradients(builder, resultGrads, operandGrads))) {
      options.report(op, SweepFailure::RuleFailed, operandGrads.size());
      return failure();
    }
    if (operandGrads.size() != op->getNumOperands()) {
      options.report(op, SweepFailure::WrongGradientCount, operandGrads.size());
      return failure();
    }
    const Location sumLoc = options.sumLoc ? *options.sumLoc : op->getLoc();
    for (auto [operand, g] : llvm::zip(op->getOperands(), operandGrads)) {
      if (!g || !active.contains(operand))
        continue;
      Value &acc = grads[operand];
      acc = acc ? builder.create<AddOp>(sumLoc, acc, g).getResult() : g;
    }
  }
  SmallVector<Value> result;
  for (Value x : wrt)
    result.push_back(grads.lookup(x));
  return result;
}
