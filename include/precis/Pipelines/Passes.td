//===- Passes.td - passes of the pipeline library ----------*- tablegen -*-===//
//
// Passes that need more than the IR: they compile and run part of the module on the CPU
// runtime, so they live with the pipelines (which link the artifact writer and the runtime)
// rather than in lib/Transforms.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_PIPELINES_PASSES_TD
#define PRECIS_PIPELINES_PASSES_TD

include "mlir/Pass/PassBase.td"

def CalibratePass : Pass<"precis-calibrate", "::mlir::ModuleOp"> {
  let summary = "Measure every GEMM's error in bf16 and fp8 against fp32 (precision auto)";
  let description = [{
    Runs the first batch of `data` (an .npz whose arrays are named after @forward's inputs)
    through @forward three times on the CPU backend, which rounds exactly as a GPU does: in
    fp32, with every GEMM (compute-class op) in bf16, and with every GEMM in fp8 (current
    scaling). Each GEMM's output is compared with its fp32 output, and the measurements go
    into the module's `precis.calibration` attribute, where `precis-assign-precision` with
    `precision=auto` reads them. `amax` is the largest |value| of the fp32 output; `bf16` and
    `fp8` are ||y_p - y_fp32|| / ||y_fp32|| over the batch. The functions do not change.

    After:

    ```mlir
    module attributes {precis.calibration = [
        {amax = 7.1 : f64, bf16 = 3.0e-03 : f64, fp8 = 4.0e-02 : f64,
         node = "/fc1/Gemm", op = "gemm"} ]} { ... }
    ```

    With `out`, the measurements are also written to that file as JSON
    (`{"batch_of": ..., "ops": [{"node", "op", "amax", "error": {"bf16", "fp8"}}]}`).
  }];
  let options = [
    Option<"data", "data", "std::string", /*default=*/"\"\"",
           "The .npz whose first batch is measured (required)">,
    Option<"out", "out", "std::string", /*default=*/"\"\"",
           "Also write the measurements to this JSON file">,
  ];
  let dependentDialects = ["::mlir::precis::PrecisDialect"];
}

#endif // PRECIS_PIPELINES_PASSES_TD
