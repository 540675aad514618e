//===- ReverseSweepTest.cpp - the reverse sweep's contract --------------===//
//
// buildReverseSweep (ReverseSweep.h) is shared by `precis-autodiff` and the ONNX `Gradient`
// import, which differ in how they seed it, report failures and locate the summing ops. The
// numerics of the rules are GradientTest's; this checks what the callers rely on: gradients
// of a value used several times are summed at the requested location, a value y does not
// depend on gets no gradient and no seed is built, and an op without a rule is reported once.
//
//===----------------------------------------------------------------------===//

#include "precis/Dialect/Precis/IR/ReverseSweep.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "gtest/gtest.h"

using namespace mlir;
using namespace mlir::precis;

namespace {

class ReverseSweepTest : public ::testing::Test {
protected:
  ReverseSweepTest() {
    ctx.loadDialect<PrecisDialect, func::FuncDialect>();
    ctx.allowUnregisteredDialects();
  }

  /// Parses `body` as @f(%x, %z: tensor<2xf32>) returning `%l`; fills ops, x, z, l, ret.
  void parse(StringRef body) {
    std::string text = "func.func @f(%x: tensor<2xf32>, %z: tensor<2xf32>) -> tensor<f32> {\n" +
                       body.str() + "\n  return %l : tensor<f32>\n}\n";
    module = parseSourceString<ModuleOp>(text, &ctx);
    ASSERT_TRUE(module) << text;
    auto fn = cast<func::FuncOp>(module->getBody()->front());
    Block &block = fn.getBody().front();
    for (Operation &op : block.without_terminator())
      ops.push_back(&op);
    x = fn.getArgument(0);
    z = fn.getArgument(1);
    ret = cast<func::ReturnOp>(block.getTerminator());
    l = ret.getOperand(0);
  }

  /// Runs the sweep before the return with a counting seed and report.
  FailureOr<SmallVector<Value>> sweep(ArrayRef<Value> wrt, std::optional<Location> sumLoc) {
    OpBuilder b(ret);
    auto seed = [&]() -> Value {
      ++seeds;
      auto type = cast<RankedTensorType>(l.getType());
      return b.create<ConstantOp>(l.getLoc(),
                                  DenseElementsAttr::get(type, b.getF32FloatAttr(1.0f)));
    };
    auto report = [&](Operation *op, SweepFailure failure, size_t) {
      reports.push_back({op, failure});
    };
    return buildReverseSweep(b, ops, l, wrt, {seed, report, sumLoc});
  }

  /// precis.add ops at `loc`.
  int addsAt(Location loc) {
    int n = 0;
    module->walk([&](AddOp add) { n += add.getLoc() == loc; });
    return n;
  }

  MLIRContext ctx;
  OwningOpRef<ModuleOp> module;
  SmallVector<Operation *> ops;
  Value x, z, l;
  func::ReturnOp ret;
  int seeds = 0;
  SmallVector<std::pair<Operation *, SweepFailure>> reports;
};

// l = sum(x * x + x): x's gradient has three contributions, summed by two adds.
constexpr const char *kFanOut = R"(
  %a = precis.mul %x, %x : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %b = precis.add %a, %x : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %l = precis.reduce_sum %b {axes = array<i64>, keepdims = false} : (tensor<2xf32>) -> tensor<f32>)";

TEST_F(ReverseSweepTest, UsesAreSummedAtTheGivenLocation) {
  parse(kFanOut);
  Location sum = NameLoc::get(StringAttr::get(&ctx, "sum"));
  FailureOr<SmallVector<Value>> grads = sweep({x, z}, sum);
  ASSERT_TRUE(succeeded(grads));
  ASSERT_EQ(grads->size(), 2u);
  EXPECT_TRUE((*grads)[0]);
  EXPECT_FALSE((*grads)[1]) << "l does not depend on z";
  EXPECT_EQ(seeds, 1);
  EXPECT_TRUE(reports.empty());
  EXPECT_EQ(addsAt(sum), 2);
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(ReverseSweepTest, UsesAreSummedAtTheRuleOpByDefault) {
  parse(kFanOut);
  Location mulLoc = ops[0]->getLoc();
  ASSERT_TRUE(succeeded(sweep({x}, std::nullopt)));
  // Both of the mul's operand gradients are added to x's (which the add's rule gave first).
  EXPECT_EQ(addsAt(mulLoc), 2);
}

TEST_F(ReverseSweepTest, NoSeedWithoutDependence) {
  parse(R"(
  %a = precis.mul %z, %z : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %l = precis.reduce_sum %a {axes = array<i64>, keepdims = false} : (tensor<2xf32>) -> tensor<f32>)");
  size_t before = ret->getBlock()->getOperations().size();
  FailureOr<SmallVector<Value>> grads = sweep({x}, std::nullopt);
  ASSERT_TRUE(succeeded(grads));
  EXPECT_FALSE((*grads)[0]);
  EXPECT_EQ(seeds, 0);
  EXPECT_EQ(ret->getBlock()->getOperations().size(), before) << "nothing is built";
}

TEST_F(ReverseSweepTest, OpWithoutRuleIsReported) {
  // With %r itself among the values to differentiate, a gradient reaches the opaque op that
  // defines it from x: the sweep must stop there.
  parse(R"(
  %r = "test.opaque"(%x) : (tensor<2xf32>) -> tensor<2xf32>
  %l = precis.reduce_sum %r {axes = array<i64>, keepdims = false} : (tensor<2xf32>) -> tensor<f32>)");
  EXPECT_FALSE(getValuesReaching(ops, l).contains(x)) << "no rule lets a gradient through";
  FailureOr<SmallVector<Value>> grads = sweep({x, ops[0]->getResult(0)}, std::nullopt);
  EXPECT_TRUE(failed(grads));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].first, ops[0]);
  EXPECT_EQ(reports[0].second, SweepFailure::NoRule);
}

} // namespace
