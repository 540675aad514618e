//===- Calibrate.h - evidence for --precision auto --------------*- C++ -*-===//
//
// `--precision auto` decides GEMM precisions from measurements: one calibration batch runs
// through the forward function in fp32 and with every GEMM in bf16 and in fp8 (current
// scaling) on the CPU backend, which rounds exactly as a GPU does; each GEMM's output is
// compared with its fp32 output. The result is the JSON `precis-assign-precision` reads through
// its `calibration` option:
//
//   {"ops": [{"node": "/fc1/Gemm", "op": "gemm", "amax": 7.1,
//             "error": {"bf16": 0.003, "fp8": 0.04}}, ...]}
//
// where `amax` is the largest |value| of the fp32 output and each error is
// ||y_p - y_fp32|| / ||y_fp32|| over the batch.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TOOLS_PRECIS_CALIBRATE_H
#define PRECIS_TOOLS_PRECIS_CALIBRATE_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace precis {

/// Measures `module`'s @forward (fp32, before any precision pass) on the first batch of
/// `dataPath` (an .npz whose arrays are named after the inputs) and writes the evidence to
/// `outPath`. False after printing an error prefixed with `tool`.
bool calibrate(mlir::ModuleOp module, llvm::StringRef dataPath, llvm::StringRef outPath,
               llvm::StringRef tool);

} // namespace precis

#endif // PRECIS_TOOLS_PRECIS_CALIBRATE_H
