//===- InsertCasts.cpp - make the types say what assign-precision decided -===//
//
// Rewrites every op to the precision `precis-assign-precision` recorded in its
// `precis.decision` (docs/design.md decision 1: precision lives in the types). Float operands of
// another precision get a `precis.cast`; float results take the decided element type;
// contractions that now run in a low precision state their fp32 accumulation in `acc_type`.
/// Each value is cast to a given type once, right after its definition, so a master weight
/// used by the forward and the backward GEMMs has one low-precision copy per step. A
/// widening cast of an activation that the backward pass reads again is made again there,
/// so the step keeps the bf16 value between the passes rather than its fp32 copy. Function
/// signatures do not change: results are cast back to their declared types. Cast chains fold
/// by CastOp's folder (only where no bits are lost) under the canonicalizer run after.
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/Passes.h"
#include "precis/Transforms/Precision.h"

#include "mlir/IR/Builders.h"

namespace mlir::precis {
#define GEN_PASS_DEF_INSERTCASTSPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {

RankedTensorType withElementType(Value v, Type element) {
  return cast<RankedTensorType>(v.getType()).clone(element);
}

struct InsertCastsPass : mlir::precis::impl::InsertCastsPassBase<InsertCastsPass> {
  using InsertCastsPassBase::InsertCastsPassBase;

  void runOnOperation() override {
    for (auto fn : getOperation().getOps<func::FuncOp>())
      if (!fn.isExternal() && fn.getBody().hasOneBlock())
        if (failed(rewrite(fn)))
          return signalPassFailure();
  }

  LogicalResult rewrite(func::FuncOp fn);
};

LogicalResult InsertCastsPass::rewrite(func::FuncOp fn) {
  MLIRContext *ctx = &getContext();
  Block &body = fn.getBody().front();
  DenseMap<std::tuple<Value, Type, Attribute>, Value> casts;

  // `user` is the op that reads the cast (null for the terminator).
  auto castTo = [&](Value v, Type element, Operation *user) -> Value {
    Type from = cast<RankedTensorType>(v.getType()).getElementType();
    Operation *def = v.getDefiningOp();
    // A widening cast that the backward pass reads of a forward activation (batch norm's
    // gradient reading the conv output in fp32) is made again there, right before its first
    // backward reader: the step then keeps the narrow value alive across the passes, not its
    // wide copy. Casts read by the optimizer stay where they are: made late, they would land
    // among the new optimizer state.
    Attribute phase = user ? user->getAttr(kPhase) : Attribute();
    bool again = phase && cast<StringAttr>(phase).getValue() == "backward" && def &&
                 !isa<ConstantOp, ParameterOp>(def) && def->getAttr(kPhase) != phase &&
                 element.getIntOrFloatBitWidth() > from.getIntOrFloatBitWidth();
    if (!again)
      phase = {};
    Value &slot = casts[{v, element, phase}];
    if (slot)
      return slot;
    OpBuilder b(ctx);
    if (again)
      b.setInsertionPoint(user);
    else if (def)
      b.setInsertionPointAfter(def);
    else
      b.setInsertionPointToStart(&body);
    auto c = b.create<CastOp>(v.getLoc(), withElementType(v, element), v);
    if (again)
      c->setAttr(kPhase, phase);
    c->setAttr(kDecisionAttr, DecisionAttr::get(ctx, DecisionRule::Cast, 0, {from}, element, Type(),
                                                "inserted: " + precisionName(from) +
                                                    " value used in " + precisionName(element)));
    return slot = c.getResult();
  };

  SmallVector<Operation *> ops;
  for (Operation &op : body.without_terminator())
    ops.push_back(&op);
  for (Operation *op : ops) {
    if (isa<CastOp, ConstantOp, ParameterOp>(op))
      continue;
    DecisionAttr d = getDecision(op);
    if (!d)
      continue;
    unsigned floatIndex = 0;
    for (OpOperand &operand : op->getOpOperands()) {
      Value v = operand.get();
      if (!isFloatTensor(v))
        continue;
      Type want = d.getOperandType(floatIndex++);
      if (!want)
        return op->emitError("precis.decision names no precision for float operand ")
               << floatIndex - 1;
      if (cast<RankedTensorType>(v.getType()).getElementType() != want)
        operand.set(castTo(v, want, op));
    }
    if (Type out = d.getOut())
      for (Value r : op->getResults())
        if (isFloatTensor(r) && !isFp32Result(r))
          r.setType(withElementType(r, out));
    bool fp32In = d.getIn().size() == 1 && d.getIn()[0].isF32();
    if (d.getAcc() && !fp32In &&
        llvm::is_contained(op->getName().getAttributeNames(), StringRef("acc_type")) &&
        !op->hasAttr("acc_type"))
      op->setAttr("acc_type", TypeAttr::get(d.getAcc()));
  }

  // The signature stays: results go back to their declared types.
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  for (auto [i, operand] : llvm::enumerate(ret->getOpOperands())) {
    Type declared = fn.getResultTypes()[i];
    if (operand.get().getType() != declared)
      operand.set(
          castTo(operand.get(), cast<RankedTensorType>(declared).getElementType(), nullptr));
  }
  return success();
}

} // namespace
