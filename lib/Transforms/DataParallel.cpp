//===- DataParallel.cpp - all-reduce the gradients of @gradients ----------===//
//
// Inserts the collectives of data-parallel training between the backward pass and the
// optimizer (Passes.td states the contract; docs/distributed.md the whole picture). The
// buckets follow the order the backward pass finishes the gradients, and each all-reduce sits
// right after the last op its bucket waits for.
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/AttrNames.h"
#include "precis/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace mlir::precis {
#define GEN_PASS_DEF_DATAPARALLELPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {

struct DataParallelPass : mlir::precis::impl::DataParallelPassBase<DataParallelPass> {
  using DataParallelPassBase::DataParallelPassBase;

  void runOnOperation() override {
    if (failed(run()))
      signalPassFailure();
  }

  LogicalResult run();
};

int64_t byteSize(Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  return type.getNumElements() * ((type.getElementTypeBitWidth() + 7) / 8);
}

/// Whether `a` is computed before `b` in their (single) block; block arguments come first.
bool readyBefore(Value a, Value b) {
  Operation *da = a.getDefiningOp(), *db = b.getDefiningOp();
  if (!da || !db)
    return !da && db;
  return da->isBeforeInBlock(db);
}

LogicalResult DataParallelPass::run() {
  ModuleOp module = getOperation();
  auto grads = module.lookupSymbol<func::FuncOp>(names::kGradients);
  if (!grads)
    return module.emitError("precis-data-parallel expects a func.func @gradients (run "
                            "precis-autodiff first)");
  if (!grads.getBody().hasOneBlock())
    return grads.emitError("expects @gradients with a single block");
  if (!(bucketMb > 0))
    return module.emitError("precis-data-parallel: bucket-mb must be > 0, got ") << bucketMb;
  CollectiveReduction kind;
  if (reduction == "mean")
    kind = CollectiveReduction::Mean;
  else if (reduction == "sum")
    kind = CollectiveReduction::Sum;
  else
    return module.emitError("precis-data-parallel: reduction must be mean or sum, got '")
           << reduction << "'";
  bool reduced = false;
  grads.walk([&](AllReduceOp) { reduced = true; });
  if (reduced)
    return grads.emitError("@gradients already has collectives (precis-data-parallel ran)");

  Block &body = grads.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  if (ret.getNumOperands() < 1)
    return grads.emitError("@gradients returns no loss");

  // Results to reduce: the loss and every gradient that is not a constant (those are the same
  // on every rank), in the order the backward pass finishes them.
  SmallVector<unsigned> order;
  for (unsigned i = 1; i < ret.getNumOperands(); ++i)
    if (!ret.getOperand(i).getDefiningOp<ConstantOp>())
      order.push_back(i);
  llvm::stable_sort(order, [&](unsigned a, unsigned b) {
    return readyBefore(ret.getOperand(a), ret.getOperand(b));
  });

  // Buckets of about bucket-mb MiB; the loss rides with the first.
  const double capacity = bucketMb * 1024.0 * 1024.0;
  SmallVector<SmallVector<unsigned>> buckets{{0}};
  double filled = 0;
  for (unsigned i : order) {
    if (filled >= capacity) {
      buckets.emplace_back();
      filled = 0;
    }
    buckets.back().push_back(i);
    filled += static_cast<double>(byteSize(ret.getOperand(i)));
  }

  OpBuilder b(&getContext());
  for (auto [index, bucket] : llvm::enumerate(buckets)) {
    SmallVector<Value> operands;
    Value last;
    for (unsigned i : bucket) {
      Value v = ret.getOperand(i);
      operands.push_back(v);
      if (!last || readyBefore(last, v))
        last = v;
    }
    if (Operation *def = last.getDefiningOp())
      b.setInsertionPointAfter(def);
    else
      b.setInsertionPointToStart(&body);
    Location loc =
        NameLoc::get(b.getStringAttr("all_reduce.bucket" + std::to_string(index)), ret.getLoc());
    auto op = b.create<AllReduceOp>(loc, ValueRange(operands).getTypes(), operands, kind,
                                    b.getStringAttr("world"));
    op->setAttr(kPhase, b.getStringAttr("backward"));
    for (auto [i, result] : llvm::zip(bucket, op.getResults()))
      ret.setOperand(i, result);
  }
  return success();
}

} // namespace
