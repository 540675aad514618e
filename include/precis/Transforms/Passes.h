//===- Passes.h - precis transformation passes ------------------*- C++ -*-===//
//
// Declarations of every precis pass (generated from Passes.td): `createXPass()` constructors
// and `registerPrecisPasses()`, which registers them all with the global pass registry; and
// the enums their options take (generated from PassEnums.td).
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TRANSFORMS_PASSES_H
#define PRECIS_TRANSFORMS_PASSES_H

#include "precis/Dialect/Precis/IR/PrecisOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include "llvm/Support/CommandLine.h"

#include <optional>

// Option value types (PassEnums.td): symbolize*/stringify* for each.
#include "precis/Transforms/PassEnums.h.inc"

namespace mlir::precis {

#define GEN_PASS_DECL
#include "precis/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "precis/Transforms/Passes.h.inc"

} // namespace mlir::precis

#endif // PRECIS_TRANSFORMS_PASSES_H
