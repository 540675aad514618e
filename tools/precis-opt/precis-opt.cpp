//===- precis-opt.cpp - precis optimizer driver -----------------*- C++ -*-===//
//
// Runs precis passes (and MLIR's generic ones, e.g. -canonicalize) on textual IR; the test
// driver of every pass.
//
//===----------------------------------------------------------------------===//

#include "precis/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  precis::registerAllDialects(registry);
  precis::registerAllPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "precis optimizer driver\n", registry));
}
