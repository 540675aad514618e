//===- Passes.h - precis transformation passes ------------------*- C++ -*-===//
//
// Declarations of every precis pass (generated from Passes.td): `createXPass()` constructors
// and `registerPrecisPasses()`, which registers them all with the global pass registry.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TRANSFORMS_PASSES_H
#define PRECIS_TRANSFORMS_PASSES_H

#include "precis/Dialect/Precis/IR/PrecisOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::precis {

#define GEN_PASS_DECL
#include "precis/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "precis/Transforms/Passes.h.inc"

} // namespace mlir::precis

#endif // PRECIS_TRANSFORMS_PASSES_H
