//===- InlineFusions.cpp - splice fusion groups back into their function --===//
//
// The CPU target runs ops one by one: every precis.fusion is replaced by its body, whose
// block arguments become the group's inputs and whose yielded values become its results.
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/Passes.h"

namespace mlir::precis {
#define GEN_PASS_DEF_INLINEFUSIONSPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {

struct InlineFusionsPass : mlir::precis::impl::InlineFusionsPassBase<InlineFusionsPass> {
  void runOnOperation() override {
    SmallVector<FusionOp> fusions;
    getOperation().walk([&](FusionOp f) { fusions.push_back(f); });
    for (FusionOp f : fusions) {
      Block &body = f.getBody().front();
      for (auto [arg, input] : llvm::zip(body.getArguments(), f.getInputs()))
        arg.replaceAllUsesWith(input);
      YieldOp yield = f.getYield();
      f->replaceAllUsesWith(yield.getValues());
      f->getBlock()->getOperations().splice(Block::iterator(f), body.getOperations(),
                                            body.begin(), Block::iterator(yield));
      f->erase();
    }
  }
};

} // namespace
