//===- InitAll.h - register every precis dialect and pass -------*- C++ -*-===//
//
// Shared registration so that `precis-opt` and the `precis` driver stay thin and agree on
// what is available.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_INITALL_H
#define PRECIS_INITALL_H

#include "precis/Dialect/Precis/IR/PrecisOps.h"
#include "precis/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace precis {

/// Dialects precis IR may contain.
inline void registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::precis::PrecisDialect, mlir::func::FuncDialect>();
}

/// precis passes plus the generic MLIR passes the pipelines use.
inline void registerAllPasses() {
  mlir::precis::registerPrecisPasses();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
}

} // namespace precis

#endif // PRECIS_INITALL_H
