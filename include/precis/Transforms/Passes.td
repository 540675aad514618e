//===- Passes.td - precis transformation passes ------------*- tablegen -*-===//
//
// Every pass of the precis compiler: one def per pass, flag `precis-<verb>`, implemented in
// lib/Transforms/<Verb>.cpp and tested in test/Transforms/<verb>.mlir.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TRANSFORMS_PASSES_TD
#define PRECIS_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def RecognizeGeluPass : Pass<"precis-recognize-gelu", "::mlir::func::FuncOp"> {
  let summary = "Replace written-out GELU formulas with precis.gelu";
  let description = [{
    PyTorch exports GELU as arithmetic: the exact form
    `x * 0.5 * (1 + erf(x / sqrt(2)))` (or `x * sqrt(0.5)` inside the erf) and the tanh form
    `0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))` (with `x^3` as `pow(x, 3)` or
    `x * x * x`). The outer product may be associated and commuted in any way. This pass
    recognises both, up to a relative tolerance of 1e-3 on the constants, and replaces each with
    one `precis.gelu` so the precision and fusion passes see one activation instead of eight
    element-wise ops. A match requires every intermediate value to have no other user.

    Before:

    ```mlir
    %c = precis.constant dense<1.41421354> : tensor<f32>
    %one = precis.constant dense<1.0> : tensor<f32>
    %half = precis.constant dense<5.0e-01> : tensor<f32>
    %0 = precis.div %x, %c : (tensor<8x64xf32>, tensor<f32>) -> tensor<8x64xf32>
    %1 = precis.erf %0 : tensor<8x64xf32>
    %2 = precis.add %1, %one : (tensor<8x64xf32>, tensor<f32>) -> tensor<8x64xf32>
    %3 = precis.mul %x, %2 : (tensor<8x64xf32>, tensor<8x64xf32>) -> tensor<8x64xf32>
    %4 = precis.mul %3, %half : (tensor<8x64xf32>, tensor<f32>) -> tensor<8x64xf32>
    ```

    After:

    ```mlir
    %4 = precis.gelu %x : tensor<8x64xf32>
    ```
  }];
  let dependentDialects = ["::mlir::precis::PrecisDialect"];
}

#endif // PRECIS_TRANSFORMS_PASSES_TD
