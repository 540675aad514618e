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

def AutodiffPass : Pass<"precis-autodiff", "::mlir::ModuleOp"> {
  let summary = "Build @gradients (loss and parameter gradients) from @forward";
  let description = [{
    Reverse-mode differentiation of `func.func @forward`, whose single result (or the result
    whose `precis.onnx_name` is the `loss` option) is a one-element float loss. The pass adds
    `func.func @gradients(%inputs..., %params...) -> (loss, d loss / d param...)`; `@forward`
    stays.

    The trainable parameters are the float `precis.parameter` ops with a differentiable path
    to the loss whose name matches none of the `freeze` globs. They become arguments of
    `@gradients` in initializer order, each carrying `precis.param_name`, and the gradient
    results carry `precis.grad_of`. Other parameters (a bool attention mask, a float buffer
    with no path to the loss, a frozen weight) stay as `precis.parameter` ops inside. The ops
    are visited in reverse; each differentiable op builds its operands' gradients through its
    `GradientOpInterface` rule, gradients of values with several uses are summed with
    `precis.add`, and ops whose results nothing needs are dropped.

    Before:

    ```mlir
    func.func @forward(%x: tensor<4x3xf32>) -> tensor<f32> {
      %w = precis.parameter "w" = dense<0.5> : tensor<3x2xf32>
      %y = precis.matmul %x, %w : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
      %l = precis.reduce_sum %y {axes = array<i64>, keepdims = false}
          : (tensor<4x2xf32>) -> tensor<f32>
      return %l : tensor<f32>
    }
    ```

    After (`@forward` unchanged):

    ```mlir
    func.func @gradients(%x: tensor<4x3xf32>, %w: tensor<3x2xf32> {precis.param_name = "w"})
        -> (tensor<f32>, tensor<3x2xf32> {precis.grad_of = "w"}) {
      %y = precis.matmul %x, %w : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
      %l = precis.reduce_sum %y {axes = array<i64>, keepdims = false}
          : (tensor<4x2xf32>) -> tensor<f32>
      %one = precis.constant dense<1.0> : tensor<f32>
      %0 = precis.reshape %one : tensor<f32> to tensor<1x1xf32>
      %1 = precis.expand %0 : tensor<1x1xf32> to tensor<4x2xf32>
      %dw = precis.matmul %x, %1 {transpose_lhs = true}
          : (tensor<4x3xf32>, tensor<4x2xf32>) -> tensor<3x2xf32>
      return %l, %dw : tensor<f32>, tensor<3x2xf32>
    }
    ```
  }];
  let options = [
    Option<"loss", "loss", "std::string", /*default=*/"\"\"",
           "The @forward result (by precis.onnx_name) to differentiate; default: the only one">,
    Option<"freeze", "freeze", "std::string", /*default=*/"\"\"",
           "Comma-separated glob patterns of parameter names not to train">,
  ];
  let dependentDialects = ["::mlir::precis::PrecisDialect"];
}

def OptimizerPass : Pass<"precis-optimizer", "::mlir::ModuleOp"> {
  let summary = "Build @train_step (gradients plus a PyTorch optimizer update) from @gradients";
  let description = [{
    Adds `func.func @train_step`, the pure training step of DESIGN.md decision 4, on top of
    the `@gradients` function `precis-autodiff` builds (which stays):

    ```
    @train_step(%params..., %state..., %step, %batch..., %lr)
        -> (%new_params..., %new_state..., %new_step, %loss)
    ```

    * params: `@gradients`' parameter arguments, in order, each with `precis.param_name`;
    * state: per parameter, in parameter order, `<name>.momentum_buffer` (sgd with
      momentum != 0) or `<name>.exp_avg`, `<name>.exp_avg_sq` (adam, adamw), each f32 and
      shaped like its parameter, with `precis.state_name`; the initial state is zeros;
    * step: `tensor<f32>` with `precis.state_name = "step"`, the number of completed steps
      (0 at the start); the step adds 1 first and hands the new count to the updates, which
      is how sgd knows its first step (torch initialises the momentum buffer with the first
      gradient) and adam its bias corrections;
    * batch: `@gradients`' other arguments with their attributes (`precis.onnx_name`);
    * lr: `tensor<f32>` with `precis.lr`, read at run time;
    * results: new params with `precis.updates = "<name>"`, new state with
      `precis.updates = "<state name>"`, the new step with `precis.updates = "step"`, the loss
      with `precis.onnx_name = "loss"`.

    With `clip-grad-norm=X` (X > 0) all gradients are first scaled by
    `min(1, X / (total_norm + 1e-6))`, `total_norm` the 2-norm of all gradients together, as
    `torch.nn.utils.clip_grad_norm_` does.

    Before (`optimizer=sgd momentum=0.9`):

    ```mlir
    func.func @gradients(%x: tensor<4x3xf32> {precis.onnx_name = "x"},
                         %w: tensor<3x2xf32> {precis.param_name = "w"})
        -> (tensor<f32>, tensor<3x2xf32> {precis.grad_of = "w"})
    ```

    After (`@gradients` unchanged):

    ```mlir
    func.func @train_step(%w: tensor<3x2xf32> {precis.param_name = "w"},
                          %buf: tensor<3x2xf32> {precis.state_name = "w.momentum_buffer"},
                          %step: tensor<f32> {precis.state_name = "step"},
                          %x: tensor<4x3xf32> {precis.onnx_name = "x"},
                          %lr: tensor<f32> {precis.lr})
        -> (tensor<3x2xf32> {precis.updates = "w"},
            tensor<3x2xf32> {precis.updates = "w.momentum_buffer"},
            tensor<f32> {precis.updates = "step"}, tensor<f32> {precis.onnx_name = "loss"}) {
      ... the body of @gradients computing %loss and %dw ...
      %one = precis.constant dense<1.0> : tensor<f32>
      %step1 = precis.add %step, %one : (tensor<f32>, tensor<f32>) -> tensor<f32>
      %w1, %buf1 = precis.sgd_update %w, %dw, %step1, %lr, %buf {momentum = 0.9 : f32} : ...
      return %w1, %buf1, %step1, %loss : ...
    }
    ```
  }];
  let options = [
    Option<"optimizer", "optimizer", "std::string", /*default=*/"\"sgd\"",
           "sgd, adam or adamw (torch.optim semantics)">,
    Option<"momentum", "momentum", "double", /*default=*/"0.0", "SGD momentum">,
    Option<"dampening", "dampening", "double", /*default=*/"0.0", "SGD dampening">,
    Option<"nesterov", "nesterov", "bool", /*default=*/"false", "SGD Nesterov momentum">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"-1.0",
           "Weight decay (L2 for sgd and adam, decoupled for adamw); negative: torch's default (0, adamw 0.01)">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "Adam beta1">,
    Option<"beta2", "beta2", "double", /*default=*/"0.999", "Adam beta2">,
    Option<"eps", "eps", "double", /*default=*/"1e-8", "Adam epsilon">,
    Option<"clipGradNorm", "clip-grad-norm", "double", /*default=*/"0.0",
           "Clip the global gradient 2-norm to this value; 0: no clipping">,
  ];
  let dependentDialects = ["::mlir::precis::PrecisDialect", "::mlir::func::FuncDialect"];
}

#endif // PRECIS_TRANSFORMS_PASSES_TD
