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

def RecognizeAttentionPass : Pass<"precis-recognize-attention", "::mlir::func::FuncOp"> {
  let summary = "Replace written-out softmax(Q K^T * scale + mask) V with precis.attention";
  let description = [{
    Exporters write scaled dot-product attention as `matmul(softmax(matmul(Q, K^T) * scale +
    mask), V)`: the scale as a `mul` or a `div` after the matmul, or split over Q and K (torch's
    decomposition multiplies both by `sqrt(scale)`); K^T as a `transpose` of the last two
    dimensions or `transpose_rhs`; the mask added, or selected with `where` and a fill of
    -inf or a huge negative number (masked_fill). Same-type casts around the softmax are
    looked through. Each chain becomes one `precis.attention` (rank-4 Q, K, V with query heads
    a multiple of key/value heads), so the precision passes see its GEMMs and its fp32 softmax
    as one op and the kernels never store the scores. A match requires every intermediate
    value to have no other user, and a mask that no parameter reaches (the op's mask takes no
    gradient); a `where` mask becomes the additive `where(cond, fill, 0)`.
  }];
  let dependentDialects = ["::mlir::precis::PrecisDialect"];
}

def RecognizeRmsNormPass : Pass<"precis-recognize-rms-norm", "::mlir::func::FuncOp"> {
  let summary = "Replace written-out RMSNorm formulas with precis.layer_norm {rms}";
  let description = [{
    Exporters write RMSNorm (Llama, T5, Mistral) as arithmetic:
    `x * rsqrt(mean(x^2, trailing axes) + eps)`, optionally times a weight, with the reciprocal
    square root as `rsqrt`, `reciprocal(sqrt)` or `1 / sqrt`, or as `x / sqrt(...)`, and the
    square as `pow(x, 2)` or `x * x`; same-type casts between them (`x.to(torch.float32)` in an
    fp32 model) are looked through, and the exponent and epsilon may be one-element
    initializers (the dynamo exporter's constants). This pass replaces each with one
    `precis.layer_norm {rms}`, the op ONNX's RMSNormalization imports to: the precision passes
    then see one sensitive norm computed in fp32, and fusion one row kernel. The weight becomes
    the norm's scale when its shape lies within the normalised dimensions (a constant one
    otherwise). A match requires every intermediate value to have no other user.

    Before:

    ```mlir
    %two = precis.constant dense<2.0> : tensor<f32>
    %eps = precis.constant dense<1.0e-06> : tensor<f32>
    %0 = precis.pow %x, %two : (tensor<4x64xf32>, tensor<f32>) -> tensor<4x64xf32>
    %1 = precis.reduce_mean %0 {axes = array<i64: -1>} : (tensor<4x64xf32>) -> tensor<4x1xf32>
    %2 = precis.add %1, %eps : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xf32>
    %3 = precis.rsqrt %2 : tensor<4x1xf32>
    %4 = precis.mul %x, %3 : (tensor<4x64xf32>, tensor<4x1xf32>) -> tensor<4x64xf32>
    %5 = precis.mul %w, %4 : (tensor<64xf32>, tensor<4x64xf32>) -> tensor<4x64xf32>
    ```

    After:

    ```mlir
    %5 = precis.layer_norm %x, %w {axis = 1 : i64, epsilon = 9.99999997E-7 : f32, rms = true}
        : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
    ```
  }];
  let dependentDialects = ["::mlir::precis::PrecisDialect"];
}

def RecognizeRotaryPass : Pass<"precis-recognize-rotary", "::mlir::func::FuncOp"> {
  let summary = "Replace written-out rotary embeddings with precis.rotary";
  let description = [{
    Hugging Face decoders (Llama, Mistral, Qwen, GPT-NeoX, Phi) apply rotary position
    embeddings as `x * cos + rotate_half(x) * sin`, with `rotate_half(x) = concat(-x2, x1)`
    over the halves of the last dimension (two slices or a split; the negation as `neg` or a
    product with -1), and cos and sin one value per channel broadcasting to x; GPT-J's
    rotate_every_two, `stack((-x2, x1), -1).flatten(-2)` over the even and odd channels, is
    recognised too (an interleaved `precis.rotary`). This pass replaces each with one
    `precis.rotary` with those per-channel caches, which computes the
    same products and sum: one follow op and kernel instead of seven ops, and a gradient that
    is the op again. The operands of the product and the sum may come in either order; the
    slices, negation and concat stay where they have other users.

    Before:

    ```mlir
    %0 = precis.slice %x {limit = array<i64: 2, 4, 8, 8>, start = array<i64: 0, 0, 0, 0>, step = array<i64: 1, 1, 1, 1>} : (tensor<2x4x8x16xf32>) -> tensor<2x4x8x8xf32>
    %1 = precis.slice %x {limit = array<i64: 2, 4, 8, 16>, start = array<i64: 0, 0, 0, 8>, step = array<i64: 1, 1, 1, 1>} : (tensor<2x4x8x16xf32>) -> tensor<2x4x8x8xf32>
    %2 = precis.neg %1 : tensor<2x4x8x8xf32>
    %3 = precis.concat %2, %0 {axis = 3 : i64} : (tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>) -> tensor<2x4x8x16xf32>
    %4 = precis.mul %x, %cos : (tensor<2x4x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x4x8x16xf32>
    %5 = precis.mul %3, %sin : (tensor<2x4x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x4x8x16xf32>
    %6 = precis.add %4, %5 : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
    ```

    After:

    ```mlir
    %6 = precis.rotary %x, %cos, %sin : (tensor<2x4x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x4x8x16xf32>
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

    Which `precis.parameter` ops train follows one rule (docs/training.md, "What is
    trained"): a float initializer with a differentiable path to the loss trains when the
    exporter records it as a parameter (the module's `precis.initializers`, set by the
    importer from torch.export's graph signature), or, without such a record, unless it is a
    single element (an exponent, epsilon or scale) or only a `precis.pow` exponent; BatchNorm
    running mean/variance never train. The `frozen` regex (whole names) then freezes, the
    `trainable` regex trains what the rule left out; `frozen` wins. The decision for every
    initializer, with its rule and reason, is recorded as the module's `precis.trainable`
    (what `precis report --train` lists); a regex that matches nothing is a warning. The
    trainable parameters become arguments of
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
    Option<"trainable", "trainable", "std::string", /*default=*/"\"\"",
           "Regex (whole initializer names) of initializers to train that the rule leaves out">,
    Option<"frozen", "frozen", "std::string", /*default=*/"\"\"",
           "Regex (whole initializer names) of initializers not to train">,
  ];
  let dependentDialects = ["::mlir::precis::PrecisDialect"];
}

def OptimizerPass : Pass<"precis-optimizer", "::mlir::ModuleOp"> {
  let summary = "Build @train_step (gradients plus a PyTorch optimizer update) from @gradients";
  let description = [{
    Adds `func.func @train_step`, the pure training step of docs/design.md decision 4, on top of
    the `@gradients` function `precis-autodiff` builds (which stays):

    ```
    @train_step(%params..., %state..., %bn_stats..., %step, %batch..., %lr)
        -> (%new_params..., %new_state..., %new_bn_stats..., %new_step, %loss)
    ```

    * params: `@gradients`' parameter arguments, in order, each with `precis.param_name`;
    * state: per parameter, in parameter order, `<name>.momentum_buffer` (sgd with
      momentum != 0) or `<name>.exp_avg`, `<name>.exp_avg_sq` (adam, adamw), each f32 and
      shaped like its parameter, with `precis.state_name`; the initial state is zeros;
    * BatchNorm statistics: the initializers (`precis.parameter`) that a training-mode
      `precis.batch_norm` reads as running mean and variance, in op order, each named after
      its initializer, with `precis.role = "batch_norm_stats"` and its value as
      `precis.initial_value`; the batch_norm's updated statistics are their new values (so
      `precis export` writes the trained statistics back into the initializers). A
      batch_norm in inference mode gets a warning: it never updates its statistics;
    * step: `tensor<i64>` with `precis.state_name = "step"`, the number of completed steps
      (0 at the start); the step adds 1 first and hands the new count, cast to f32, to the
      updates, which is how sgd knows its first step (torch initialises the momentum buffer
      with the first gradient) and adam its bias corrections (an integer, since an f32
      counter stops counting at 2^24);
    * the state arguments and the step also carry `precis.role` (`"optimizer_state"`,
      `"step"`), which the artifact records for the runtime;
    * batch: `@gradients`' other arguments with their attributes (`precis.onnx_name`);
    * lr: `tensor<f32>` with `precis.lr`, read at run time;
    * results: new params with `precis.updates = "<name>"`, new state with
      `precis.updates = "<state name>"`, the new BatchNorm statistics, the new step with `precis.updates = "step"`, the loss
      with `precis.onnx_name = "loss"`.

    When `@gradients` has a training-mode `precis.dropout`, an RNG state follows the step:
    `tensor<2xi64>` named `rng` (`precis.role = "rng_state"`, `precis.initial_value` =
    `[seed, 0]`); every training-mode dropout takes it as its `rng` operand and gets its own
    `stream` (0, 1, ... in program order), and the step returns `rng + [0, 1]` with
    `precis.updates = "rng"` after the new step. The count grows on every step, also on one
    that loss scaling skips, so no two steps draw the same mask.

    With `clip-grad-norm=X` (X > 0) all gradients are first scaled by
    `min(1, X / (total_norm + 1e-6))`, `total_norm` the 2-norm of all gradients together, as
    `torch.nn.utils.clip_grad_norm_` does.

    With `zero-stage=1 world-size=N` (ZeRO stage 1, for a data-parallel step whose gradients
    precis-data-parallel all-reduces) each of the N ranks keeps and updates 1/N of the
    optimizer state: the parameters and the gradients are flattened (in parameter order,
    padded with zeros to N * S elements, S = ceil(P / N) for P parameter elements), each rank
    takes its share with `precis.shard` and updates it with one `sgd_update` / `adam_update`
    over S elements (element-wise, so exactly as the per-parameter updates would), and
    `precis.all_gather` joins the updated shares into every parameter again. The state is one
    f32[S] argument per kind, named `zero1.<kind>` (`zero1.exp_avg`, `zero1.exp_avg_sq`,
    `zero1.momentum_buffer`); the runtime turns checkpoints into and out of the per-parameter
    names, so they do not depend on N.

    Before (`optimizer=sgd momentum=0.9`):

    ```mlir
    func.func @gradients(%x: tensor<4x3xf32> {precis.onnx_name = "x"},
                         %w: tensor<3x2xf32> {precis.param_name = "w"})
        -> (tensor<f32>, tensor<3x2xf32> {precis.grad_of = "w"})
    ```

    After (`@gradients` unchanged):

    ```mlir
    func.func @train_step(%w: tensor<3x2xf32> {precis.param_name = "w"},
                          %buf: tensor<3x2xf32> {precis.role = "optimizer_state",
                                                 precis.state_name = "w.momentum_buffer"},
                          %step: tensor<i64> {precis.role = "step", precis.state_name = "step"},
                          %x: tensor<4x3xf32> {precis.onnx_name = "x"},
                          %lr: tensor<f32> {precis.lr})
        -> (tensor<3x2xf32> {precis.updates = "w"},
            tensor<3x2xf32> {precis.updates = "w.momentum_buffer"},
            tensor<i64> {precis.updates = "step"}, tensor<f32> {precis.onnx_name = "loss"}) {
      ... the body of @gradients computing %loss and %dw ...
      %one = precis.constant dense<1> : tensor<i64>
      %step1 = precis.add %step, %one : (tensor<i64>, tensor<i64>) -> tensor<i64>
      %t = precis.cast %step1 : tensor<i64> to tensor<f32>
      %w1, %buf1 = precis.sgd_update %w, %dw, %t, %lr, %buf {momentum = 0.9 : f32} : ...
      return %w1, %buf1, %step1, %loss : ...
    }
    ```
  }];
  let options = [
    Option<"optimizer", "optimizer", "::mlir::precis::OptimizerKind",
           /*default=*/"::mlir::precis::OptimizerKind::SGD",
           "sgd, adam or adamw (torch.optim semantics)",
           [{::llvm::cl::values(
             clEnumValN(::mlir::precis::OptimizerKind::SGD, "sgd", "torch.optim.SGD"),
             clEnumValN(::mlir::precis::OptimizerKind::Adam, "adam", "torch.optim.Adam"),
             clEnumValN(::mlir::precis::OptimizerKind::AdamW, "adamw", "torch.optim.AdamW"))}]>,
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
    Option<"zeroStage", "zero-stage", "int64_t", /*default=*/"0",
           "1: shard the optimizer state across world-size ranks (ZeRO stage 1)">,
    Option<"worldSize", "world-size", "int64_t", /*default=*/"1",
           "The number of ranks the optimizer state is sharded across (zero-stage=1)">,
    Option<"seed", "seed", "uint64_t", /*default=*/"0",
           "The seed of training-mode dropout (the RNG state starts at (seed, 0))">,
  ];
  let dependentDialects = ["::mlir::precis::PrecisDialect", "::mlir::func::FuncDialect"];
}

def DataParallelPass : Pass<"precis-data-parallel", "::mlir::ModuleOp"> {
  let summary = "All-reduce @gradients' loss and gradients across the ranks of a data-parallel job";
  let description = [{
    Makes the training step data-parallel (docs/distributed.md): every rank runs the same step
    on its own rows of the batch, and the gradients are combined across the ranks before the
    optimizer, so every rank takes the same step. Runs on `@gradients` (after
    `precis-autodiff`, before `precis-optimizer`, which inlines what it adds), inserting
    `precis.all_reduce` ops between the backward pass and the optimizer:

    * the gradients are grouped into buckets of about `bucket-mb` MiB, in the order the
      backward pass finishes them (the last layer's first, as PyTorch DDP does); each bucket
      is one `precis.all_reduce`, placed right after the op that computes its last gradient,
      so the runtime can start it while the rest of the backward pass runs;
    * the loss joins the first bucket, so every rank reports the loss of the whole batch;
    * `reduction=mean` (the default) averages: with a loss that is a mean over the batch, N
      ranks with B rows each then compute exactly the gradients of one process with N*B rows,
      up to the order of the sums. `sum` adds, for losses that sum over the batch;
    * a gradient that is a constant (a parameter the loss does not reach) is the same on every
      rank and is not reduced.

    Later passes keep the agreement: loss scaling checks the reduced gradients, so every rank
    skips the same steps, and fp8 delayed scaling reduces each step's amaxes with `max` before
    they enter the histories (precis-fp8-scaling does this when the step has collectives).

    Before:

    ```mlir
    func.func @gradients(%x: tensor<4x3xf32> {precis.onnx_name = "x"},
                         %w: tensor<3x2xf32> {precis.param_name = "w"})
        -> (tensor<f32>, tensor<3x2xf32> {precis.grad_of = "w"}) {
      ...
      return %loss, %dw : tensor<f32>, tensor<3x2xf32>
    }
    ```

    After:

    ```mlir
      %dw = ...
      %r:2 = precis.all_reduce %loss, %dw {reduction = 1 : i32, precis.phase = "backward"}
          : tensor<f32>, tensor<3x2xf32> -> tensor<f32>, tensor<3x2xf32>
      return %r#0, %r#1 : tensor<f32>, tensor<3x2xf32>
    ```
  }];
  let options = [
    Option<"bucketMb", "bucket-mb", "double", /*default=*/"4.0",
           "Bytes of gradients per all-reduce, in MiB (> 0)">,
    Option<"reduction", "reduction", "std::string", /*default=*/"\"mean\"",
           "How the ranks' gradients combine: mean (average, the default) or sum">,
  ];
  let dependentDialects = ["::mlir::precis::PrecisDialect", "::mlir::func::FuncDialect"];
}

def LossScalingPass : Pass<"precis-loss-scaling", "::mlir::ModuleOp"> {
  let summary = "Dynamic loss scaling of @train_step (torch.cuda.amp.GradScaler semantics)";
  let description = [{
    Rewrites the `@train_step` of `precis-optimizer` so that it trains with a dynamic loss
    scale, exactly as `torch.cuda.amp.GradScaler` does (`scaler.scale(loss).backward();
    scaler.step(optimizer); scaler.update()`):

    * two state arguments follow `step`: `loss_scale` (`tensor<f32>`, with
      `precis.initial_value = dense<init-scale>`, which the artifact records so the runtime
      starts from it) and `loss_scale.growth_tracker` (`tensor<f32>`, the count of clean
      steps since the scale last changed, starting at 0); results with `precis.updates` of
      the same names follow the new step count, so checkpoints carry both;
    * the backward sweep starts from `scale` instead of 1: the `precis.constant` marked
      `precis.loss_seed` by `precis-autodiff` is multiplied by the scale, so every gradient
      is scaled (the loss result itself stays unscaled);
    * before the first op of the optimizer phase (`precis.phase = "optimizer"`), the
      gradients it reads are checked with `precis.all_finite` (the scaled values, as torch
      does) and unscaled by `1 / scale`, computed in f32 (with `clip-grad-norm` the clipping
      sees unscaled gradients, as after `scaler.unscale_`);
    * if any gradient element is a NaN or an infinity, the step is skipped: every result
      with `precis.updates` (parameters, optimizer state, the step counter) is its argument
      again (`precis.where`), `scale *= backoff-factor` and the tracker becomes 0;
    * otherwise the tracker counts the step, and when it reaches `growth-interval` the scale
      becomes `scale * growth-factor` (kept only if finite) and the tracker 0.

    The pass does not depend on the precision passes: on fp32 IR a power-of-two scale changes
    no loss. New ops carry `precis.phase` (the seed scaling "backward", the rest
    "optimizer").

    Before (sgd, one parameter):

    ```mlir
    func.func @train_step(%w: tensor<3x2xf32> {precis.param_name = "w"},
                          %step: tensor<f32> {precis.state_name = "step"}, %x: ..., %lr: ...)
        -> (tensor<3x2xf32> {precis.updates = "w"}, tensor<f32> {precis.updates = "step"},
            tensor<f32> {precis.onnx_name = "loss"}) {
      ...
      %one = precis.constant dense<1.0> : tensor<f32> {precis.loss_seed, ...}
      ... backward from %one computing %dw ...
      %step1 = precis.add %step, %c1 {precis.phase = "optimizer"} : ...
      %w1 = precis.sgd_update %w, %dw, %step1, %lr {precis.phase = "optimizer"} : ...
      return %w1, %step1, %loss : ...
    }
    ```

    After:

    ```mlir
    func.func @train_step(%w: ..., %step: ...,
        %scale: tensor<f32> {precis.initial_value = dense<65536.0> : tensor<f32>,
                             precis.state_name = "loss_scale"},
        %tracker: tensor<f32> {precis.state_name = "loss_scale.growth_tracker"}, %x: ..., %lr: ...)
        -> (..., tensor<f32> {precis.updates = "step"},
            tensor<f32> {precis.updates = "loss_scale"},
            tensor<f32> {precis.updates = "loss_scale.growth_tracker"}, tensor<f32> ...) {
      %one = precis.constant dense<1.0> : tensor<f32> {precis.loss_seed, ...}
      %seed = precis.mul %one, %scale {precis.phase = "backward"} : ...
      ... backward from %seed computing %dw ...
      %ok = precis.all_finite %dw : tensor<3x2xf32> -> tensor<i1>
      %inv = precis.reciprocal %scale : tensor<f32>
      %dw1 = precis.mul %dw, %inv : ...
      %step1 = precis.add %step, %c1 : ...
      %w1 = precis.sgd_update %w, %dw1, %step1, %lr : ...
      %w2 = precis.where %ok, %w1, %w : ...
      %step2 = precis.where %ok, %step1, %step : ...
      ... %scale2, %tracker2 as above ...
      return %w2, %step2, %scale2, %tracker2, %loss : ...
    }
    ```
  }];
  let options = [
    Option<"initScale", "init-scale", "double", /*default=*/"65536.0",
           "Initial loss scale (GradScaler init_scale, 2^16)">,
    Option<"growthFactor", "growth-factor", "double", /*default=*/"2.0",
           "Scale multiplier after growth-interval clean steps (> 1)">,
    Option<"backoffFactor", "backoff-factor", "double", /*default=*/"0.5",
           "Scale multiplier after a step with non-finite gradients (in (0, 1))">,
    Option<"growthInterval", "growth-interval", "int64_t", /*default=*/"2000",
           "Clean steps before the scale grows">,
  ];
  let dependentDialects = ["::mlir::precis::PrecisDialect", "::mlir::func::FuncDialect"];
}

def AssignPrecisionPass : Pass<"precis-assign-precision", "::mlir::ModuleOp"> {
  let summary = "Decide every op's precision and record why (precis.decision)";
  let description = [{
    Gives every op of every function a `precis.decision` attribute: the precision of its
    float operands (`in`) and results (`out`), the accumulation type of contractions (`acc`),
    a rule id and the evidence (docs/design.md decisions 2 and 3). It reads each op's precision
    class from `PrecisionOpInterface`:

    * compute ops run in `precision` with fp32 accumulation; under `fp8` a GEMM's forward
      operands are E4M3 and its gradient operands (values computed from the loss gradient)
      E5M2, and GEMMs fp8 tensor cores cannot run (dimensions not multiples of 16,
      convolutions, two gradient operands) run in bf16 with that reason;
    * sensitive ops (reductions, softmax, norms, exp/log/pow, losses, optimizer updates) run
      in fp32;
    * follow ops run in the widest precision among their activation operands (constants,
      parameters and values computed from them alone do not vote), so casts stay few.

    Under fp16 no op receives a constant or initializer outside fp16's finite range: it stays
    fp32 with rule `range.fp16`. A `rules` JSON file overrides by op kind and node name
    (globs, first match wins; rule `user.N`; docs/precision.md shows the format). With `precision=auto`, compute ops start in fp8
    (bf16 where fp8 cannot run) and the measured errors against fp32 that
    `precis-calibrate` records in the module's `precis.calibration` attribute move an op up
    to bf16 or fp32 when they exceed `tolerance` (rule `calibrated.error`).
    The types do not change here; `precis-insert-casts` applies the decisions.

    Before (`precision=bf16`):

    ```mlir
    %y = precis.matmul %x, %w : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    %s = precis.softmax %y : tensor<4x8xf32>
    ```

    After:

    ```mlir
    %y = precis.matmul %x, %w {precis.decision = #precis.decision<compute bf16 -> bf16 acc f32,
        "compute-class op: bf16 operands, fp32 accumulation">}
        : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    %s = precis.softmax %y {precis.decision = #precis.decision<sensitive f32 -> f32,
        "sensitive-class op (softmax): fp32">} : tensor<4x8xf32>
    ```
  }];
  let options = [
    Option<"precision", "precision", "::mlir::precis::PrecisionPolicy",
           /*default=*/"::mlir::precis::PrecisionPolicy::BF16", "fp32, bf16, fp16, fp8 or auto",
           [{::llvm::cl::values(
             clEnumValN(::mlir::precis::PrecisionPolicy::FP32, "fp32", "fp32 everywhere"),
             clEnumValN(::mlir::precis::PrecisionPolicy::BF16, "bf16", "bf16 GEMMs"),
             clEnumValN(::mlir::precis::PrecisionPolicy::FP16, "fp16", "fp16 GEMMs"),
             clEnumValN(::mlir::precis::PrecisionPolicy::FP8, "fp8", "fp8 GEMMs"),
             clEnumValN(::mlir::precis::PrecisionPolicy::Auto, "auto",
                        "fp8, bf16 or fp32 per GEMM from calibration evidence"))}]>,
    Option<"rules", "rules", "std::string", /*default=*/"\"\"",
           "JSON file of user overrides by op kind and node name">,
    Option<"tolerance", "tolerance", "double", /*default=*/"0.05",
           "Largest relative error against fp32 auto accepts for an op">,
  ];
  let dependentDialects = ["::mlir::precis::PrecisDialect"];
}

def InsertCastsPass : Pass<"precis-insert-casts", "::mlir::ModuleOp"> {
  let summary = "Apply the precision decisions: re-type ops and insert precis.cast";
  let description = [{
    Makes the types say what `precis-assign-precision` decided (docs/design.md decision 1). Float
    operands of another precision are cast once per value and target type, right after the
    value's definition (so one low-precision copy of a master weight serves the forward and
    the backward GEMMs); float results take the decided type; low-precision contractions get
    `acc_type = f32`. Function signatures stay: results are cast back. Run `canonicalize`
    after it: `precis.cast`'s folder removes chains that lose no bits (bf16 -> f32 -> bf16)
    and keeps rounding round trips (f32 -> bf16 -> f32).

    Before (decisions abbreviated):

    ```mlir
    %y = precis.matmul %x, %w {precis.decision = #precis.decision<compute bf16 -> bf16 ...>}
        : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    %s = precis.softmax %y {precis.decision = #precis.decision<sensitive f32 -> f32 ...>}
        : tensor<4x8xf32>
    ```

    After:

    ```mlir
    %xb = precis.cast %x : tensor<4x16xf32> to tensor<4x16xbf16>
    %wb = precis.cast %w : tensor<16x8xf32> to tensor<16x8xbf16>
    %y = precis.matmul %xb, %wb {acc_type = f32, ...}
        : (tensor<4x16xbf16>, tensor<16x8xbf16>) -> tensor<4x8xbf16>
    %yf = precis.cast %y : tensor<4x8xbf16> to tensor<4x8xf32>
    %s = precis.softmax %yf {...} : tensor<4x8xf32>
    ```
  }];
  let dependentDialects = ["::mlir::precis::PrecisDialect"];
}

def FusePass : Pass<"precis-fuse", "::mlir::func::FuncOp"> {
  let summary = "Group ops into precis.fusion kernels (GEMM epilogues, element-wise, rows)";
  let description = [{
    Forms the groups the CUDA target compiles into one kernel each (docs/cuda.md has the
    rule): a `matmul` with a bias-vector add and a ReLU or tanh-GELU epilogue;
    chains of element-wise ops of one element count; and one reduction or normalisation over
    trailing dimensions with the element-wise ops that feed and follow it. Splat constants are
    cloned into the bodies. A group of one op stays a plain op.

    Before:

    ```mlir
    %0 = precis.matmul %x, %w : (tensor<8x32xbf16>, tensor<32x64xbf16>) -> tensor<8x64xbf16>
    %1 = precis.add %0, %b : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
    %2 = precis.relu %1 : tensor<8x64xbf16>
    ```

    After:

    ```mlir
    %2 = precis.fusion (%x, %w, %b : tensor<8x32xbf16>, tensor<32x64xbf16>, tensor<64xbf16>)
        -> tensor<8x64xbf16> {
    ^bb0(%a: tensor<8x32xbf16>, %w0: tensor<32x64xbf16>, %b0: tensor<64xbf16>):
      %0 = precis.matmul %a, %w0 : (tensor<8x32xbf16>, tensor<32x64xbf16>) -> tensor<8x64xbf16>
      %1 = precis.add %0, %b0 : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
      %2 = precis.relu %1 : tensor<8x64xbf16>
      precis.yield %2 : tensor<8x64xbf16>
    }
    ```
  }];
  let dependentDialects = ["::mlir::precis::PrecisDialect"];
}

def InlineFusionsPass : Pass<"precis-inline-fusions", "::mlir::func::FuncOp"> {
  let summary = "Splice every precis.fusion group's body in its place (the CPU target)";
  let description = [{
    The CPU backend runs a function op by op (it forms its element-wise chunks at load time,
    from the artifact's element-wise marks), so the CPU target's pipeline undoes the fusion
    groups that `precis-fuse` or a hand-written IR made: each group's body ops take its place,
    reading the group's inputs and giving its results. A function without groups is unchanged.

    Before:

    ```mlir
    %r = precis.fusion elementwise (%x, %b : tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32> {
    ^bb0(%a: tensor<8xf32>, %c: tensor<8xf32>):
      %s = precis.add %a, %c : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
      %t = precis.relu %s : tensor<8xf32>
      precis.yield %t : tensor<8xf32>
    }
    ```

    After:

    ```mlir
    %s = precis.add %x, %b : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
    %r = precis.relu %s : tensor<8xf32>
    ```
  }];
  let dependentDialects = ["::mlir::precis::PrecisDialect"];
}

def Fp8ScalingPass : Pass<"precis-fp8-scaling", "::mlir::ModuleOp"> {
  let summary = "Per-tensor scales for fp8 GEMMs (Transformer Engine delayed or current scaling)";
  let description = [{
    Rewrites every GEMM with fp8 operands (as `precis-insert-casts` leaves them: casts to
    `f8E4M3FN` / `f8E5M2`) into `precis.scaled_matmul` on quantized operands
    `cast(x * scale)` with the `1 / scale` descale factors as operands, where
    `scale = fp8_max / amax / 2^margin` (1 where amax is 0 or not finite; fp8_max is 448
    for E4M3 and 57344 for E5M2).

    With `recipe=delayed` (in `@train_step`; elsewhere there is no state and scaling is
    current), amax is the maximum (`amax-compute=max`) or the latest entry
    (`most_recent`) of an amax history of length `history` kept in the training state as
    `fp8.<k>.amax_history` (an argument before `step` and a result before the new step); the
    step pushes the operand's current amax. With `recipe=current`, amax is the operand's own
    in this step. A value read by several GEMMs is quantized once. A gemm's `alpha`, `beta`
    and `C` become a multiply and an add in its output precision.

    Before (current scaling):

    ```mlir
    %a8 = precis.cast %a : tensor<16x32xbf16> to tensor<16x32xf8E4M3FN>
    %w8 = precis.cast %w : tensor<32x16xf32> to tensor<32x16xf8E4M3FN>
    %y = precis.matmul %a8, %w8 {acc_type = f32}
        : (tensor<16x32xf8E4M3FN>, tensor<32x16xf8E4M3FN>) -> tensor<16x16xbf16>
    ```

    After (one operand shown):

    ```mlir
    %a32 = precis.cast %a : tensor<16x32xbf16> to tensor<16x32xf32>
    %amax = precis.reduce_max %abs {axes = array<i64>, keepdims = false} : ... -> tensor<f32>
    %s = ... 448 / %amax, or 1 ...
    %a8 = precis.cast %as : tensor<16x32xf32> to tensor<16x32xf8E4M3FN>   (%as = %a32 * %s)
    %y = precis.scaled_matmul %a8, %w8, %da, %dw {acc_type = f32} : ... -> tensor<16x16xbf16>
    ```
  }];
  let options = [
    Option<"recipe", "recipe", "::mlir::precis::Fp8Recipe",
           /*default=*/"::mlir::precis::Fp8Recipe::Delayed",
           "delayed (amax history in the training state) or current",
           [{::llvm::cl::values(
             clEnumValN(::mlir::precis::Fp8Recipe::Delayed, "delayed", "amax history"),
             clEnumValN(::mlir::precis::Fp8Recipe::Current, "current", "this step's amax"))}]>,
    Option<"history", "history", "int64_t", /*default=*/"16", "Amax history length">,
    Option<"amaxCompute", "amax-compute", "::mlir::precis::AmaxCompute",
           /*default=*/"::mlir::precis::AmaxCompute::Max",
           "max or most_recent: how the history gives the amax",
           [{::llvm::cl::values(
             clEnumValN(::mlir::precis::AmaxCompute::Max, "max", "the history's maximum"),
             clEnumValN(::mlir::precis::AmaxCompute::MostRecent, "most_recent",
                        "the latest entry"))}]>,
    Option<"margin", "margin", "int64_t", /*default=*/"0", "scale = fp8_max / amax / 2^margin">,
  ];
  let dependentDialects = ["::mlir::precis::PrecisDialect"];
}

#endif // PRECIS_TRANSFORMS_PASSES_TD
