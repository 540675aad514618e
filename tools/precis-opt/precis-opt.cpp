//===- precis-opt.cpp - precis optimizer driver -----------------*- C++ -*-===//
//
// Runs precis passes and pipelines (and MLIR's generic passes, e.g. -canonicalize) on textual
// IR; the test driver of every pass. `--precis-training-pipeline="..."` runs exactly what
// `precis compile --train` runs with the same options.
//
//===----------------------------------------------------------------------===//

#include "precis/InitAll.h"
#include "precis/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  precis::registerAllDialects(registry);
  precis::registerAllPasses();
  precis::registerPipelines();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "precis optimizer driver\n", registry));
}
