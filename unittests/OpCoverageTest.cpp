//===- OpCoverageTest.cpp - every op is complete on every path ------------===//
//
// docs/design.md decision 12, enforced instead of reviewed: for every op the precis dialect
// registers, the CPU backend has a kernel, the CUDA emitter generates a kernel for it (or it
// runs through cuBLASLt), it has a gradient rule or is marked `NoGradient`, and a
// differentiable op appears in the finite-difference gradient suite (GradientCases.h).
// docs/adding-an-op.md is the checklist these tests hold an op to.
//
// The CUDA emitter is asked for a kernel for one instance of each op, taken from the dialect's
// round-trip tests (test/Dialect/ops.mlir, backward-ops.mlir); an op without an instance
// there fails the test too.
//
//===----------------------------------------------------------------------===//

#include "GradientCases.h"

#include "precis/Dialect/Precis/IR/PrecisOps.h"
#include "precis/Target/CudaEmitter.h"

#include "cpu/Kernel.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringMap.h"
#include "gtest/gtest.h"

#include <fstream>
#include <sstream>

using namespace mlir;
using namespace mlir::precis;

namespace {

/// Ops that are no kernel on either backend: the artifact stores constants and parameters as
/// blobs, and a fusion group's body ops are the kernels (the CPU target splices the body in
/// place; yield only ends it).
bool isStructural(RegisteredOperationName name) {
  return name.getTypeID() == TypeID::get<ConstantOp>() ||
         name.getTypeID() == TypeID::get<ParameterOp>() ||
         name.getTypeID() == TypeID::get<YieldOp>() ||
         name.getTypeID() == TypeID::get<FusionOp>();
}

class OpCoverage : public ::testing::Test {
protected:
  OpCoverage() { ctx.loadDialect<PrecisDialect, func::FuncDialect>(); }

  std::vector<RegisteredOperationName> precisOps() {
    std::vector<RegisteredOperationName> ops;
    for (RegisteredOperationName name : ctx.getRegisteredOperations())
      if (name.getDialectNamespace() == "precis")
        ops.push_back(name);
    EXPECT_GT(ops.size(), 50u);
    return ops;
  }

  /// Parses each `// -----` section of `path` into `modules`.
  void parseSections(const std::string &path) {
    std::ifstream in(path);
    ASSERT_TRUE(in) << "cannot read " << path;
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str(), sep = "\n// -----\n";
    for (size_t begin = 0; begin <= text.size();) {
      size_t end = text.find(sep, begin);
      std::string section = text.substr(begin, end == std::string::npos ? end : end - begin);
      OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(section, &ctx);
      ASSERT_TRUE(module) << "cannot parse a section of " << path;
      modules.push_back(std::move(module));
      if (end == std::string::npos)
        break;
      begin = end + sep.size();
    }
  }

  MLIRContext ctx;
  std::vector<OwningOpRef<ModuleOp>> modules;
};

TEST_F(OpCoverage, EveryOpHasACpuKernel) {
  for (RegisteredOperationName name : precisOps()) {
    std::string kind = name.stripDialect().str();
    if (isStructural(name))
      EXPECT_EQ(::precis::rt::findCpuKernel(kind), nullptr) << kind;
    else
      EXPECT_NE(::precis::rt::findCpuKernel(kind), nullptr)
          << "no CPU kernel for " << name.getStringRef().str()
          << " (runtime/src/cpu/Kernel.cpp, findCpuKernel)";
  }
}

TEST_F(OpCoverage, EveryOpHasACudaKernel) {
  parseSections(PRECIS_DIALECT_TESTS "/ops.mlir");
  parseSections(PRECIS_DIALECT_TESTS "/backward-ops.mlir");
  llvm::StringMap<Operation *> instance;
  for (OwningOpRef<ModuleOp> &module : modules)
    module->walk([&](Operation *op) {
      if (op->getDialect() && op->getDialect()->getNamespace() == "precis")
        instance.try_emplace(op->getName().getStringRef(), op);
    });
  for (RegisteredOperationName name : precisOps()) {
    Operation *op = instance.lookup(name.getStringRef());
    if (!op) {
      ADD_FAILURE() << name.getStringRef().str()
                    << " has no instance in test/Dialect/ops.mlir or backward-ops.mlir";
      continue;
    }
    if (isStructural(name) && !isa<FusionOp>(op))
      continue;
    if (::precis::isCublasOp(op) || ::precis::isCollectiveOp(op))
      continue; // cuBLASLt; the communicator (NCCL, or MPI through the host)
    std::string diagnostics;
    ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
      diagnostics += d.str() + "\n";
      return success();
    });
    EXPECT_TRUE(succeeded(::precis::emitCudaKernel(op)))
        << "no CUDA kernel for " << name.getStringRef().str() << ": " << diagnostics;
  }
}

TEST_F(OpCoverage, EveryOpHasAGradientRuleOrIsMarkedNoGradient) {
  for (RegisteredOperationName name : precisOps()) {
    const bool rule = name.hasInterface<GradientOpInterface>();
    const bool marked = name.hasTrait<NoGradient>();
    EXPECT_NE(rule, marked) << name.getStringRef().str()
                            << (rule ? " has a gradient rule and is marked NoGradient"
                                     : " has no gradient rule and is not marked NoGradient");
  }
}

TEST_F(OpCoverage, EveryDifferentiableOpHasAGradientTest) {
  std::vector<::precis::testing::gradient::Case> cases = ::precis::testing::gradient::allCases();
  for (RegisteredOperationName name : precisOps()) {
    if (!name.hasInterface<GradientOpInterface>())
      continue;
    const std::string spelled = name.getStringRef().str() + " ";
    bool found = false;
    for (const ::precis::testing::gradient::Case &c : cases)
      found |= c.body.find(spelled) != std::string::npos;
    EXPECT_TRUE(found) << name.getStringRef().str()
                       << " has a gradient rule but no case in unittests/GradientCases.h";
  }
}

} // namespace
