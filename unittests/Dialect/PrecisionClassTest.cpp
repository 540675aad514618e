//===- PrecisionClassTest.cpp - every op declares its precision class -----===//
//
// docs/design.md decision 2: the precision passes read each op's class through
// PrecisionOpInterface, so every registered precis op must implement it, and the classes of
// the ops the precision rules depend on must be the documented ones.
//
//===----------------------------------------------------------------------===//

#include "precis/Dialect/Precis/IR/PrecisOps.h"

#include "mlir/IR/MLIRContext.h"
#include "gtest/gtest.h"

using namespace mlir;
using namespace mlir::precis;

namespace {

class PrecisionClassTest : public ::testing::Test {
protected:
  PrecisionClassTest() { ctx.loadDialect<PrecisDialect>(); }

  /// The class `opName` declares through the interface.
  PrecisionClass classOf(StringRef opName) {
    auto name = RegisteredOperationName::lookup(opName, &ctx);
    EXPECT_TRUE(name.has_value()) << opName.str();
    auto *iface = name->getInterface<PrecisionOpInterface>();
    EXPECT_NE(iface, nullptr) << opName.str();
    return iface->getPrecisionClass();
  }

  MLIRContext ctx;
};

TEST_F(PrecisionClassTest, EveryOpImplementsTheInterface) {
  int count = 0;
  for (RegisteredOperationName name : ctx.getRegisteredOperations()) {
    if (name.getDialectNamespace() != "precis")
      continue;
    ++count;
    EXPECT_TRUE(name.hasInterface<PrecisionOpInterface>())
        << name.getStringRef().str() << " declares no precision class";
  }
  EXPECT_GT(count, 40);
}

TEST_F(PrecisionClassTest, ContractionsAreCompute) {
  for (StringRef op : {"precis.matmul", "precis.gemm", "precis.conv2d"})
    EXPECT_EQ(classOf(op), PrecisionClass::Compute) << op.str();
}

TEST_F(PrecisionClassTest, NumericallySensitiveOpsStayFp32) {
  for (StringRef op :
       {"precis.reduce_sum", "precis.reduce_mean", "precis.reduce_max", "precis.softmax",
        "precis.log_softmax", "precis.layer_norm", "precis.batch_norm", "precis.exp", "precis.log",
        "precis.pow", "precis.rsqrt", "precis.reciprocal", "precis.sin", "precis.cumsum",
        "precis.cos", "precis.softmax_cross_entropy", "precis.nll_loss",
        "precis.gather_elements_grad"})
    EXPECT_EQ(classOf(op), PrecisionClass::Sensitive) << op.str();
}

TEST_F(PrecisionClassTest, ElementwiseAndDataMovementFollow) {
  for (StringRef op :
       {"precis.add",          "precis.mul",     "precis.relu",     "precis.gelu",
        "precis.tanh",         "precis.where",   "precis.cast",     "precis.reshape",
        "precis.transpose",    "precis.gather",  "precis.concat",   "precis.slice",
        "precis.max_pool2d",   "precis.dropout", "precis.constant", "precis.parameter",
        "precis.hard_sigmoid", "precis.is_nan",  "precis.mod",      "precis.pad",
        "precis.trilu"})
    EXPECT_EQ(classOf(op), PrecisionClass::Follow) << op.str();
  for (StringRef op : {"precis.gather_elements", "precis.gather_nd", "precis.scatter_nd",
                       "precis.argmax", "precis.argmin", "precis.topk"})
    EXPECT_EQ(classOf(op), PrecisionClass::Follow) << op.str();
}

} // namespace
