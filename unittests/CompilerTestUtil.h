//===- CompilerTestUtil.h - compile precis IR to a CPU session in tests ----===//
//
// The end-to-end tests (examples, gradients, training steps) all need the same few steps: a
// context with precis's dialects and passes whose diagnostics end up in the failure message,
// a pass pipeline, the artifact, and a CPU session of it.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_UNITTESTS_COMPILERTESTUTIL_H
#define PRECIS_UNITTESTS_COMPILERTESTUTIL_H

#include "precis/Import/OnnxImporter.h"
#include "precis/InitAll.h"
#include "precis/Pipelines/Pipelines.h"
#include "precis/Target/Artifact.h"
#include "precis/Transforms/Passes.h"
#include "precis/runtime/Session.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "gtest/gtest.h"

#include <memory>
#include <mutex>
#include <string>

namespace precis::testing {

/// A context with every precis dialect; diagnostics collect in `diagnostics`.
class TestCompiler {
public:
  TestCompiler()
      : context(registry()), handler(&context, [this](mlir::Diagnostic &diag) {
          diagnostics += diag.str() + "\n";
          return mlir::success();
        }) {
    static std::once_flag once;
    std::call_once(once, [] { mlir::precis::registerPrecisPasses(); });
  }

  /// Imports an ONNX model and runs the clean-up stage every pipeline starts with, as
  /// `precis import` does; null (with `diagnostics` saying why) on failure.
  mlir::OwningOpRef<mlir::ModuleOp> importModel(const std::string &path) {
    mlir::OwningOpRef<mlir::ModuleOp> module = importOnnxFile(context, path, {});
    mlir::PassManager pm(&context);
    buildCleanupPipeline(pm);
    if (!module || mlir::failed(pm.run(*module)))
      return nullptr;
    return module;
  }

  /// Runs `pipeline` (textual, e.g. "precis-autodiff"; empty: no pass) on `module`, compiles
  /// it and opens a CPU session of the artifact.
  ::testing::AssertionResult compile(mlir::ModuleOp module, const std::string &pipeline,
                                     std::unique_ptr<rt::Session> *session,
                                     const rt::SessionOptions &options = {}) {
    mlir::PassManager pm(&context);
    if (!pipeline.empty() && mlir::failed(mlir::parsePassPipeline(pipeline, pm)))
      return ::testing::AssertionFailure() << "bad pipeline '" << pipeline << "'\n"
                                           << diagnostics;
    if (mlir::failed(pm.run(module)))
      return ::testing::AssertionFailure() << "passes failed\n" << diagnostics;
    std::vector<char> bytes;
    if (mlir::failed(buildArtifact(module, {}, bytes)))
      return ::testing::AssertionFailure() << "compilation failed\n" << diagnostics;
    rt::Status status = rt::Session::createFromMemory(bytes.data(), bytes.size(), options, session);
    if (!status.isOk())
      return ::testing::AssertionFailure() << status.message();
    return ::testing::AssertionSuccess();
  }

  mlir::MLIRContext context;
  std::string diagnostics;

private:
  static mlir::DialectRegistry registry() {
    mlir::DialectRegistry registry;
    registerAllDialects(registry);
    return registry;
  }

  mlir::ScopedDiagnosticHandler handler;
};

} // namespace precis::testing

#endif // PRECIS_UNITTESTS_COMPILERTESTUTIL_H
