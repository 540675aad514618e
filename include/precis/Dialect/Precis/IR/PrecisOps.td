//===- PrecisOps.td - precis operations --------------------*- tablegen -*-===//
//
// Every operation of the `precis` dialect. Ops are grouped by precision class: compute ops
// (contractions) first, then sensitive ops (reductions, normalisations, transcendental
// functions, losses), then follow ops (element-wise and data movement). Semantics follow the
// ONNX operator of the same name unless the description says otherwise; broadcasting is
// NumPy-style.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_OPS_TD
#define PRECIS_OPS_TD

include "precis/Dialect/Precis/IR/PrecisBase.td"
include "precis/Dialect/Precis/IR/PrecisEnums.td"
include "precis/Dialect/Precis/IR/PrecisInterfaces.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

/// Differentiable ops implement GradientOpInterface (rules in PrecisGradients.cpp).
defvar Grad = DeclareOpInterfaceMethods<GradientOpInterface>;
/// ... and say which float operands take no gradient (class weights, running statistics).
defvar GradSomeOperands = DeclareOpInterfaceMethods<GradientOpInterface,
                                                    ["isDifferentiableOperand"]>;

class Precis_Op<string mnemonic, list<Trait> traits = []>
    : Op<Precis_Dialect, mnemonic, traits # [PrecisionOpInterface]>;

/// Contractions: operands in the chosen precision, accumulation in `acc_type` (fp32 default).
class Precis_ComputeOp<string mnemonic, list<Trait> traits = []>
    : Precis_Op<mnemonic, traits # [ComputePrecision, Pure]>;
/// Ops whose numerics need fp32 (reductions, norms, exp/log/pow, losses).
class Precis_SensitiveOp<string mnemonic, list<Trait> traits = []>
    : Precis_Op<mnemonic, traits # [SensitivePrecision]>;
/// Ops that run in the precision of their inputs.
class Precis_FollowOp<string mnemonic, list<Trait> traits = []>
    : Precis_Op<mnemonic, traits # [FollowPrecision]>;

//===----------------------------------------------------------------------===//
// Compute ops.
//===----------------------------------------------------------------------===//

def Precis_MatmulOp : Precis_ComputeOp<"matmul", [Grad]> {
  let summary = "(batched) matrix multiplication";
  let description = [{
    `result[..., m, n] = sum_k A[..., m, k] * B[..., k, n]` where `A` is `lhs` (transposed in its
    last two dimensions when `transpose_lhs` is set) and `B` is `rhs` (likewise). Both operands
    have rank >= 2; leading (batch) dimensions broadcast. Operands share one element type; the
    products are accumulated in `acc_type` (fp32 when absent) and the result may be wider than the operands.

    ```mlir
    %2 = precis.matmul %0, %1 {transpose_rhs = true}
        : (tensor<4x16x32xbf16>, tensor<64x32xbf16>) -> tensor<4x16x64xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$lhs, Precis_FloatTensor:$rhs,
                   DefaultValuedAttr<BoolAttr, "false">:$transpose_lhs,
                   DefaultValuedAttr<BoolAttr, "false">:$transpose_rhs,
                   OptionalAttr<TypeAttr>:$acc_type);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let builders = [
    // Result element type = operand element type; shape inferred.
    OpBuilder<(ins "Value":$lhs, "Value":$rhs, "bool":$transposeLhs, "bool":$transposeRhs)>,
  ];
}

def Precis_GemmOp : Precis_ComputeOp<"gemm", [Grad]> {
  let summary = "general matrix multiplication: alpha * op(A) op(B) + beta * C";
  let description = [{
    ONNX `Gemm`: rank-2 `a` and `b`, optionally transposed, and an optional `c` that broadcasts
    to the `[M, N]` result.

    ```mlir
    %3 = precis.gemm %0, %1, %2 {transpose_b = true}
        : (tensor<8x32xf32>, tensor<10x32xf32>, tensor<10xf32>) -> tensor<8x10xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$a, Precis_FloatTensor:$b,
                   Optional<Precis_FloatTensor>:$c,
                   DefaultValuedAttr<F32Attr, "1.0f">:$alpha,
                   DefaultValuedAttr<F32Attr, "1.0f">:$beta,
                   DefaultValuedAttr<BoolAttr, "false">:$transpose_a,
                   DefaultValuedAttr<BoolAttr, "false">:$transpose_b,
                   OptionalAttr<TypeAttr>:$acc_type);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$a `,` $b (`,` $c^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_ScaledMatmulOp : Precis_ComputeOp<"scaled_matmul", [NoGradient]> {
  let summary = "fp8 (batched) matrix multiplication with per-tensor descale factors";
  let description = [{
    `result = (A x B) * lhs_descale * rhs_descale` with `precis.matmul`'s shapes, transposes
    and batch broadcasting. `lhs` and `rhs` are fp8 (`f8E4M3FN` or `f8E5M2`, not both
    `f8E5M2`), quantized as `x * scale` by the `precis-fp8-scaling` pass; the descale operands
    are the `1 / scale` scalars (cuBLASLt's A/B scale pointers). Products are accumulated in
    `acc_type` (fp32) and the scaled sum is rounded once to the result type (bf16 or fp32).

    ```mlir
    %2 = precis.scaled_matmul %a, %b, %sa, %sb {transpose_rhs = true}
        : (tensor<16x32xf8E4M3FN>, tensor<64x32xf8E4M3FN>, tensor<f32>, tensor<f32>)
        -> tensor<16x64xbf16>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$lhs, Precis_FloatTensor:$rhs,
                   0DTensorOf<[F32]>:$lhs_descale, 0DTensorOf<[F32]>:$rhs_descale,
                   DefaultValuedAttr<BoolAttr, "false">:$transpose_lhs,
                   DefaultValuedAttr<BoolAttr, "false">:$transpose_rhs,
                   OptionalAttr<TypeAttr>:$acc_type);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_AttentionOp : Precis_ComputeOp<"attention", [GradSomeOperands]> {
  let summary = "scaled dot-product attention, computed block-wise (flash-style)";
  let description = [{
    `result = softmax(scale * Q K^T + mask) V` per batch and head, with `query`
    `[B, H, Sq, D]`, `key` `[B, Hkv, Skv, D]` and `value` `[B, Hkv, Skv, Dv]`; `H` is a
    multiple of `Hkv` and query head `h` reads key/value head `h / (H / Hkv)` (grouped-query
    attention). The optional additive `mask` broadcasts to `[B, H, Sq, Skv]` (`-inf` entries
    mask a key out). With `is_causal`, key `j` is masked for query `i` when `j > i` (the
    upper-left diagonal, as ONNX Attention and PyTorch's `is_causal` define it). A query row
    whose keys are all masked gets a zero result.

    The result `out` is `[B, H, Sq, Dv]`; `lse` `[B, H, Sq]` (f32, or f64 when the op is
    built on f64 operands; the precision policy never narrows it) is the log of each
    row's softmax denominator, which the backward op (`attention_grad`) uses to recompute the
    probabilities without storing them. Kernels never materialise more than one block of
    scores: the softmax is computed online over blocks of keys, scores and accumulators in
    fp32 (`acc_type`), whatever the operand precision.

    ```mlir
    %out, %lse = precis.attention %q, %k, %v {is_causal = true, scale = 0.125 : f32}
        : tensor<2x8x16x64xbf16>, tensor<2x2x16x64xbf16>, tensor<2x2x16x64xbf16>
        -> tensor<2x8x16x64xbf16>, tensor<2x8x16xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$query, Precis_FloatTensor:$key,
                   Precis_FloatTensor:$value, Optional<Precis_FloatTensor>:$mask,
                   F32Attr:$scale,
                   DefaultValuedAttr<BoolAttr, "false">:$is_causal,
                   OptionalAttr<TypeAttr>:$acc_type);
  let results = (outs Precis_FloatTensor:$out, TensorOf<[F32, F64]>:$lse);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`,` $mask^)? attr-dict `:` type($query) `,` type($key) `,`
    type($value) (`,` type($mask)^)? `->` type($out) `,` type($lse)
  }];
  let hasVerifier = 1;
}

def Precis_Conv2DOp : Precis_ComputeOp<"conv2d", [Grad]> {
  let summary = "2-D convolution, NCHW input, OIHW weight";
  let description = [{
    `input` is `[N, C, H, W]`, `weight` is `[O, C / groups, KH, KW]`, the optional `bias` is
    `[O]`. `pads` is `[top, left, bottom, right]`. The output spatial size is
    `floor((H + top + bottom - dilation * (KH - 1) - 1) / stride) + 1`.

    ```mlir
    %3 = precis.conv2d %0, %1, %2 {pads = array<i64: 1, 1, 1, 1>}
        : (tensor<8x1x16x16xf32>, tensor<8x1x3x3xf32>, tensor<8xf32>) -> tensor<8x8x16x16xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$input, Precis_FloatTensor:$weight,
                   Optional<Precis_FloatTensor>:$bias,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$pads,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
                   DefaultValuedAttr<I64Attr, "1">:$groups,
                   OptionalAttr<TypeAttr>:$acc_type);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat =
      "$input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Element-wise ops.
//===----------------------------------------------------------------------===//

/// Binary element-wise op with NumPy broadcasting; operands share the element type.
class Precis_BinaryOp<string mnemonic, list<Trait> traits = []>
    : Precis_FollowOp<mnemonic, traits # [Pure, PerElement, SameOperandsAndResultElementType,
                                          InferTypeOpAdaptor, Grad]> {
  let arguments = (ins Precis_NumericTensor:$lhs, Precis_NumericTensor:$rhs);
  let results = (outs Precis_NumericTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Precis_AddOp : Precis_BinaryOp<"add", [Commutative]> {
  let summary = "element-wise addition";
  let description = "`%2 = precis.add %0, %1 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>`";
}
def Precis_SubOp : Precis_BinaryOp<"sub"> {
  let summary = "element-wise subtraction";
  let description = "`%2 = precis.sub %0, %1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>`";
}
def Precis_MulOp : Precis_BinaryOp<"mul", [Commutative]> {
  let summary = "element-wise multiplication";
  let description = "`%2 = precis.mul %0, %1 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>`";
}
def Precis_DivOp : Precis_BinaryOp<"div"> {
  let summary = "element-wise division (integer division truncates)";
  let description = "`%2 = precis.div %0, %1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>`";
}
def Precis_MaxOp : Precis_BinaryOp<"max", [Commutative]> {
  let summary = "element-wise maximum (NaN propagates)";
  let description = "`%2 = precis.max %0, %1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>`";
}
def Precis_MinOp : Precis_BinaryOp<"min", [Commutative]> {
  let summary = "element-wise minimum (NaN propagates)";
  let description = "`%2 = precis.min %0, %1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>`";
}

def Precis_PowOp : Precis_SensitiveOp<"pow", [Pure, PerElement, SameOperandsAndResultElementType,
                                             InferTypeOpAdaptor, Grad]> {
  let summary = "element-wise power, base ** exponent";
  let description = [{
    Sensitive: `x ** 2` of an fp16 activation overflows long before `x` does.
    `%2 = precis.pow %0, %1 : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>`
  }];
  let arguments = (ins Precis_FloatTensor:$lhs, Precis_FloatTensor:$rhs);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Precis_ModOp : Precis_FollowOp<"mod", [Pure, PerElement, SameOperandsAndResultElementType,
                                           InferTypeOpAdaptor, Grad]> {
  let summary = "element-wise remainder (ONNX Mod)";
  let description = [{
    With `fmod` set, `lhs - rhs * trunc(lhs / rhs)`: the sign of the dividend, as C `fmod`
    (floats require it, as in ONNX). Without it (integers only), the remainder of floor
    division: the sign of the divisor, as Python's `%`. The remainder is exact in every float
    format. Integer division by zero is an error at run time. The gradient is `1` with respect
    to `lhs` and `-trunc(lhs / rhs)` with respect to `rhs` (torch's `fmod` backward).
    `%2 = precis.mod %0, %1 {fmod = true} : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>`
  }];
  let arguments = (ins Precis_NumericTensor:$lhs, Precis_NumericTensor:$rhs,
                   DefaultValuedAttr<BoolAttr, "false">:$fmod);
  let results = (outs Precis_NumericTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

/// Unary element-wise op on floats; the result has the operand's type.
class Precis_UnaryFollowOp<string mnemonic, list<Trait> traits = []>
    : Precis_FollowOp<mnemonic, traits # [Pure, PerElement, SameOperandsAndResultType, Grad]> {
  let arguments = (ins Precis_FloatTensor:$input);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasFolder = 1;
}
class Precis_UnarySensitiveOp<string mnemonic, list<Trait> traits = []>
    : Precis_SensitiveOp<mnemonic, traits # [Pure, PerElement, SameOperandsAndResultType, Grad]> {
  let arguments = (ins Precis_FloatTensor:$input);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasFolder = 1;
}

def Precis_NegOp : Precis_FollowOp<"neg", [Pure, PerElement, SameOperandsAndResultType,
                                           Grad]> {
  let summary = "element-wise negation";
  let description = "`%1 = precis.neg %0 : tensor<4xf32>`";
  let arguments = (ins Precis_NumericTensor:$input);
  let results = (outs Precis_NumericTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasFolder = 1;
}
def Precis_AbsOp : Precis_FollowOp<"abs", [Pure, PerElement, SameOperandsAndResultType,
                                           Grad]> {
  let summary = "element-wise absolute value";
  let description = "`%1 = precis.abs %0 : tensor<4xf32>`";
  let arguments = (ins Precis_NumericTensor:$input);
  let results = (outs Precis_NumericTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasFolder = 1;
}
def Precis_ReluOp : Precis_UnaryFollowOp<"relu"> {
  let summary = "max(x, 0)";
  let description = "`%1 = precis.relu %0 : tensor<4xf32>`";
}
def Precis_LeakyReluOp : Precis_FollowOp<"leaky_relu", [Pure, PerElement, SameOperandsAndResultType,
                                                        Grad]> {
  let summary = "x if x >= 0 else alpha * x";
  let description = "`%1 = precis.leaky_relu %0 {alpha = 0.01 : f32} : tensor<4xf32>`";
  let arguments = (ins Precis_FloatTensor:$input,
                   DefaultValuedAttr<F32Attr, "0.01f">:$alpha);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}
def Precis_GeluOp : Precis_FollowOp<"gelu", [Pure, PerElement, SameOperandsAndResultType,
                                             Grad]> {
  let summary = "Gaussian error linear unit";
  let description = [{
    `approximation` is `none` (erf form) or `tanh`. The importer also forms this op from the
    written-out Erf and Tanh decompositions PyTorch exports.
    `%1 = precis.gelu %0 approximation = tanh : tensor<4xf32>`
  }];
  let arguments = (ins Precis_FloatTensor:$input,
                   DefaultValuedAttr<Precis_GeluApproximation,
                                     "GeluApproximation::None">:$approximation);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$input (`approximation` `=` $approximation^)? attr-dict `:` type($input)";
}
def Precis_TanhOp : Precis_UnaryFollowOp<"tanh"> {
  let summary = "element-wise hyperbolic tangent";
  let description = "`%1 = precis.tanh %0 : tensor<4xf32>`";
}
def Precis_SigmoidOp : Precis_UnaryFollowOp<"sigmoid"> {
  let summary = "element-wise logistic sigmoid";
  let description = "`%1 = precis.sigmoid %0 : tensor<4xf32>`";
}
def Precis_SoftplusOp : Precis_UnaryFollowOp<"softplus"> {
  let summary = "element-wise softplus, log(1 + exp(x))";
  let description = [{
    Computed as `max(x, 0) + log1p(exp(-|x|))`, which neither overflows for large `x` nor
    loses the small result for very negative `x`. The gradient is `sigmoid(x)`.
    `%1 = precis.softplus %0 : tensor<4xf32>`
  }];
}
def Precis_ErfOp : Precis_UnaryFollowOp<"erf"> {
  let summary = "element-wise error function";
  let description = "`%1 = precis.erf %0 : tensor<4xf32>`";
}
def Precis_SqrtOp : Precis_UnaryFollowOp<"sqrt"> {
  let summary = "element-wise square root";
  let description = "`%1 = precis.sqrt %0 : tensor<4xf32>`";
}
def Precis_ExpOp : Precis_UnarySensitiveOp<"exp"> {
  let summary = "element-wise exponential";
  let description = "Sensitive: overflows fp16 at 11.1. `%1 = precis.exp %0 : tensor<4xf32>`";
}
def Precis_LogOp : Precis_UnarySensitiveOp<"log"> {
  let summary = "element-wise natural logarithm";
  let description = "`%1 = precis.log %0 : tensor<4xf32>`";
}
def Precis_RsqrtOp : Precis_UnarySensitiveOp<"rsqrt"> {
  let summary = "element-wise reciprocal square root";
  let description = "`%1 = precis.rsqrt %0 : tensor<4xf32>`";
}
def Precis_ReciprocalOp : Precis_UnarySensitiveOp<"reciprocal"> {
  let summary = "element-wise 1 / x";
  let description = "Sensitive: 1/x of small fp16 values overflows. `%1 = precis.reciprocal %0 : tensor<4xf32>`";
}

def Precis_SinOp : Precis_UnarySensitiveOp<"sin"> {
  let summary = "element-wise sine";
  let description = [{
    Sensitive: the absolute error of `sin(x)` grows with `|x|` times the argument's ulp, and
    its typical use, rotary position embeddings, takes angles up to the sequence length
    (a bf16 ulp is 8 at 2048); in fp32 the op and its result, which scales activations, keep
    the precision of the angles. `%1 = precis.sin %0 : tensor<4xf32>`
  }];
}
def Precis_CosOp : Precis_UnarySensitiveOp<"cos"> {
  let summary = "element-wise cosine";
  let description = "Sensitive, as `sin`. `%1 = precis.cos %0 : tensor<4xf32>`";
}
def Precis_HardSigmoidOp : Precis_FollowOp<"hard_sigmoid", [Pure, PerElement,
                                                            SameOperandsAndResultType, Grad]> {
  let summary = "max(0, min(1, alpha * x + beta))";
  let description = [{
    ONNX `HardSigmoid`, computed in the compute type with `alpha` and `beta` as f32 values; a
    NaN stays NaN. The importer builds ONNX `HardSwish` as `x * hard_sigmoid(x)` with
    `alpha = 1/6`, `beta = 0.5`, the operator's definition.
    `%1 = precis.hard_sigmoid %0 {alpha = 0.2 : f32, beta = 0.5 : f32} : tensor<4xf32>`
  }];
  let arguments = (ins Precis_FloatTensor:$input,
                   DefaultValuedAttr<F32Attr, "0.2f">:$alpha,
                   DefaultValuedAttr<F32Attr, "0.5f">:$beta);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasFolder = 1;
}

def Precis_IsNaNOp : Precis_FollowOp<"is_nan", [NoGradient, Pure, PerElement,
                                                SameOperandsAndResultShape]> {
  let summary = "element-wise test for NaN, producing i1";
  let description = [{
    True where the element is a NaN (any payload). Read in the operand's own type: a cast
    keeps a NaN a NaN, so the precision the op runs in does not change the result.
    `%1 = precis.is_nan %0 : tensor<4xf32> -> tensor<4xi1>`
  }];
  let arguments = (ins Precis_FloatTensor:$input);
  let results = (outs Precis_BoolTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasFolder = 1;
}

def Precis_CompareOp : Precis_FollowOp<"compare", [NoGradient, Pure, PerElement,
                                                    SameOperandsElementType,
                                                    InferTypeOpAdaptor]> {
  let summary = "element-wise comparison producing i1";
  let description = [{
    The operands share an element type and broadcast like the binary arithmetic ops.
    `%2 = precis.compare lt, %0, %1 : (tensor<4xf32>, tensor<f32>) -> tensor<4xi1>`
  }];
  let arguments = (ins Precis_CompareKind:$kind, Precis_Tensor:$lhs, Precis_Tensor:$rhs);
  let results = (outs Precis_BoolTensor:$result);
  let assemblyFormat = "$kind `,` $lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Precis_NotOp : Precis_FollowOp<"not", [NoGradient, Pure, PerElement,
                                           SameOperandsAndResultType]> {
  let summary = "element-wise logical not";
  let description = "`%1 = precis.not %0 : tensor<4xi1>`";
  let arguments = (ins Precis_BoolTensor:$input);
  let results = (outs Precis_BoolTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasFolder = 1;
}

def Precis_AllFiniteOp : Precis_FollowOp<"all_finite", [NoGradient, Pure]> {
  let summary = "whether every element of every operand is finite";
  let description = [{
    True when no element of any operand is a NaN or an infinity (true for no operands). Loss
    scaling uses it to skip a step whose gradients overflowed, as torch's GradScaler does;
    it reads each operand in its own precision, so an fp16 infinity is seen before any cast.
    `%ok = precis.all_finite %g0, %g1 : tensor<4x8xf32>, tensor<8xf16> -> tensor<i1>`
  }];
  let arguments = (ins Variadic<Precis_FloatTensor>:$inputs);
  let results = (outs 0DTensorOf<[I1]>:$result);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs) `->` type($result)";
}

def Precis_WhereOp : Precis_FollowOp<"where", [Pure, PerElement, InferTypeOpAdaptor, Grad]> {
  let summary = "element-wise select: condition ? on_true : on_false";
  let description = [{
    The three operands broadcast together; `on_true` and `on_false` share the element type.
    `%3 = precis.where %0, %1, %2 : (tensor<4x4xi1>, tensor<2x4x4xf32>, tensor<f32>) -> tensor<2x4x4xf32>`
  }];
  let arguments = (ins Precis_BoolTensor:$condition, Precis_Tensor:$on_true,
                   Precis_Tensor:$on_false);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat =
      "$condition `,` $on_true `,` $on_false attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def Precis_CastOp : Precis_FollowOp<"cast", [Pure, PerElement, SameOperandsAndResultShape,
                                              Grad]> {
  let summary = "element type conversion";
  let description = [{
    Converts element-wise. Float-to-float narrowing rounds to nearest even; conversions to fp8
    saturate to the largest finite value (CUDA's `__NV_SATFINITE`), as `numerics.h` defines.
    Float-to-int truncates toward zero; to `i1` is `x != 0`.
    `%1 = precis.cast %0 : tensor<4xf32> to tensor<4xbf16>`
  }];
  let arguments = (ins Precis_Tensor:$input);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasFolder = 1;
}

def Precis_DropoutOp : Precis_FollowOp<"dropout", [InferTypeOpAdaptor, Grad]> {
  let summary = "dropout drawing from a counter-based stream; identity when not training";
  let description = [{
    In training mode zeroes each element with probability `ratio` and scales the rest by
    `1 / (1 - ratio)` (computed in f32); `mask` marks the kept elements. Otherwise
    `output = input` and the mask is all true.

    The draws are a pure function of where they are, so every backend reproduces them bit for
    bit. `rng` is the training step's RNG state, `tensor<2xi64>` holding (seed, step) (absent:
    0, 0); `stream` (< 2^32) tells the dropout ops of one step apart (precis-optimizer numbers
    them). Element `i` (row-major, fewer than 2^34 elements) draws, with `g = i / 4`,

        w = Philox4x32-10(counter = {g, stream, lo32(step), hi32(step)},
                          key = {lo32(seed), hi32(seed)})[i % 4]
        u = (w >> 8) * 2^-24

    and is kept when `u >= ratio` (numerics.h, `precis::dropout_uniform`, is the definition
    both the CPU and the CUDA backend run). Each step thus draws a fresh mask, and a step
    resumed from a checkpoint draws the mask the uninterrupted run drew. In a data-parallel
    job rank `r` draws element `r * n + i` for element `i` (`n` elements per rank), its place
    in the whole batch when the batch is the leading axis (docs/distributed.md).
    `%1, %mask = precis.dropout %0, %rng {ratio = 0.1 : f32, training = true, stream = 0 : i64} : (tensor<4xf32>, tensor<2xi64>) -> (tensor<4xf32>, tensor<4xi1>)`
  }];
  let arguments = (ins Precis_FloatTensor:$input,
                   Optional<Precis_Tensor>:$rng,
                   DefaultValuedAttr<F32Attr, "0.5f">:$ratio,
                   DefaultValuedAttr<BoolAttr, "false">:$training,
                   DefaultValuedAttr<I64Attr, "0">:$stream);
  let results = (outs Precis_FloatTensor:$output, Precis_BoolTensor:$mask);
  let assemblyFormat = [{
    $input (`,` $rng^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Precis_RotaryOp : Precis_FollowOp<"rotary", [Pure, SameOperandsAndResultElementType, Grad]> {
  let summary = "rotary position embedding of the last dimension (RoPE)";
  let description = [{
    Rotates channel pairs of the last dimension of `input` by the angles whose cosines and
    sines `cos` and `sin` hold; the channels from `rotary_dim` on (0: the whole dimension)
    pass through. A pair is (x1, x2) = (x[i], x[i + rotary_dim / 2]) for i < rotary_dim / 2,
    or (x[2i], x[2i + 1]) when `interleaved` (GPT-J). With caches `rotary_dim / 2` wide, one
    angle per pair (ONNX `RotaryEmbedding`):
    `(y1, y2) = (x1 cos[i] - x2 sin[i], x1 sin[i] + x2 cos[i])`.
    With caches `rotary_dim` wide, one value per channel, the op is
    `x * cos + rotate(x) * sin` over the rotated channels, rotate(x) giving -x2 at x1's place
    and x1 at x2's: Hugging Face's `x * cos + rotate_half(x) * sin`, whose caches are the
    per-pair angles written twice. The caches broadcast (NumPy style) to the input's shape
    with the last dimension replaced by their width. The backward rotation, by the opposite
    angles, is the op again with `-sin` (per-pair caches).
    `%y = precis.rotary %x, %cos, %sin : (tensor<2x4x8x16xf32>, tensor<2x1x8x8xf32>, tensor<2x1x8x8xf32>) -> tensor<2x4x8x16xf32>`
    `%y = precis.rotary %x, %cos, %sin {interleaved = true, rotary_dim = 8 : i64} : (tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<8x4xf32>) -> tensor<2x8x16xf32>`
  }];
  let arguments = (ins Precis_FloatTensor:$input, Precis_FloatTensor:$cos,
                   Precis_FloatTensor:$sin,
                   DefaultValuedAttr<BoolAttr, "false">:$interleaved,
                   DefaultValuedAttr<I64Attr, "0">:$rotary_dim);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$input `,` $cos `,` $sin attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The rotated channels: `rotary_dim`, or the whole last dimension when it is 0.
    int64_t getRotatedChannels() {
      int64_t rot = static_cast<int64_t>(getRotaryDim());
      return rot ? rot : getInput().getType().getShape().back();
    }
  }];
}

//===----------------------------------------------------------------------===//
// Data movement.
//===----------------------------------------------------------------------===//

def Precis_ReshapeOp : Precis_FollowOp<"reshape", [Pure, IndexedCopy,
                                                    SameOperandsAndResultElementType, Grad]> {
  let summary = "reshape to the static result type (same element count)";
  let description = "`%1 = precis.reshape %0 : tensor<2x3xf32> to tensor<6xf32>`";
  let arguments = (ins Precis_Tensor:$input);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Precis_TransposeOp : Precis_FollowOp<"transpose", [Pure, InferTypeOpAdaptor, Grad]> {
  let summary = "permute dimensions: result dim i = input dim perm[i]";
  let description = [{
    `%1 = precis.transpose %0 {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>`
  }];
  let arguments = (ins Precis_Tensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Precis_ConcatOp : Precis_FollowOp<"concat", [Pure, InferTypeOpAdaptor, Grad]> {
  let summary = "concatenate along `axis`";
  let description = [{
    `%2 = precis.concat %0, %1 {axis = 0 : i64} : (tensor<2xf32>, tensor<3xf32>) -> tensor<5xf32>`
  }];
  let arguments = (ins Variadic<Precis_Tensor>:$inputs, I64Attr:$axis);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$inputs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Precis_SplitOp : Precis_FollowOp<"split", [Pure, Grad]> {
  let summary = "split along `axis` into pieces sized by the result types";
  let description = [{
    `%1:2 = precis.split %0 {axis = 1 : i64} : (tensor<4x6xf32>) -> (tensor<4x2xf32>, tensor<4x4xf32>)`
  }];
  let arguments = (ins Precis_Tensor:$input, I64Attr:$axis);
  let results = (outs Variadic<Precis_Tensor>:$results);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Precis_SliceOp : Precis_FollowOp<"slice", [Pure, InferTypeOpAdaptor, Grad]> {
  let summary = "strided slice with one static (start, limit, step) per dimension";
  let description = [{
    Dimension `i` of the result takes `start[i], start[i] + step[i], ...` while short of
    `limit[i]` (steps may be negative: then while greater than `limit[i]`). Indices are already
    clamped and non-negative, except a negative-step limit of -1 meaning "through index 0".
    `%1 = precis.slice %0 {start = array<i64: 0, 1>, limit = array<i64: 4, 3>, step = array<i64: 1, 1>} : (tensor<4x4xf32>) -> tensor<4x2xf32>`
  }];
  let arguments = (ins Precis_Tensor:$input, DenseI64ArrayAttr:$start,
                   DenseI64ArrayAttr:$limit, DenseI64ArrayAttr:$step);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Precis_PadOp : Precis_FollowOp<"pad", [Pure, SameOperandsAndResultElementType, Grad]> {
  let summary = "pad each dimension at both ends (ONNX Pad)";
  let description = [{
    `pads` is `[begin_0, ..., begin_(r-1), end_0, ..., end_(r-1)]`, all non-negative (the
    importer turns ONNX's negative pads into a slice), and result dimension `d` is
    `begin_d + input_d + end_d`. `constant` fills with `value` (converted to the element type
    as a cast does), `reflect` mirrors the input without repeating its border element (each
    pad at most the dimension's size - 1), `edge` repeats the border element (a padded
    dimension must not be empty). The gradient, for `constant` only, is the slice of the
    result gradient at the input's position.

    ```mlir
    %1 = precis.pad %0 {pads = array<i64: 0, 1, 0, 2>, value = -1.0 : f64}
        : (tensor<2x3xf32>) -> tensor<2x6xf32>
    %2 = precis.pad %0 mode = reflect {pads = array<i64: 1, 0, 1, 0>}
        : (tensor<2x3xf32>) -> tensor<4x3xf32>
    ```
  }];
  let arguments = (ins Precis_Tensor:$input, DenseI64ArrayAttr:$pads,
                   DefaultValuedAttr<Precis_PadMode, "PadMode::Constant">:$mode,
                   DefaultValuedAttr<F64Attr, "0.0">:$value);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat =
      "$input (`mode` `=` $mode^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Precis_TriluOp : Precis_FollowOp<"trilu", [Pure, SameOperandsAndResultType, Grad]> {
  let summary = "upper or lower triangle of the last two dimensions (ONNX Trilu)";
  let description = [{
    Each matrix `[i, j]` of the trailing two dimensions keeps its elements with
    `j - i >= k` (`upper`) or `j - i <= k` (lower) and the others become zero. The gradient
    is the same triangle of the result gradient.
    `%1 = precis.trilu %0 {upper = false, k = -1 : i64} : tensor<2x4x4xf32>`
  }];
  let arguments = (ins Precis_Tensor:$input, DefaultValuedAttr<BoolAttr, "true">:$upper,
                   DefaultValuedAttr<I64Attr, "0">:$k);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Precis_GatherOp : Precis_FollowOp<"gather", [Pure, InferTypeOpAdaptor, Grad]> {
  let summary = "gather slices of `data` along `axis` (embedding lookup)";
  let description = [{
    Result shape is `data.shape[:axis] + indices.shape + data.shape[axis+1:]`. Negative indices
    count from the end, as in ONNX.
    `%2 = precis.gather %0, %1 {axis = 0 : i64} : (tensor<64x32xf32>, tensor<8x16xi64>) -> tensor<8x16x32xf32>`
  }];
  let arguments = (ins Precis_Tensor:$data, Precis_IndexTensor:$indices,
                   DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$data `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Precis_GatherElementsOp : Precis_FollowOp<"gather_elements", [Pure, Grad]> {
  let summary = "gather single elements of `data` along `axis` (ONNX GatherElements)";
  let description = [{
    `result[i0, .., ik, ..] = data[i0, .., indices[i0, .., ik, ..], ..]` with `ik` at
    `axis` (non-negative); the result has the indices' shape, whose rank is the data's and
    whose other dimensions are at most the data's (torch.gather). Negative indices count
    from the end. The gradient is `gather_elements_grad`, a scatter-add into zeros.
    `%2 = precis.gather_elements %0, %1 {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x3xi64>) -> tensor<4x3xf32>`
  }];
  let arguments = (ins Precis_Tensor:$data, Precis_IndexTensor:$indices, I64Attr:$axis);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$data `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_GatherNDOp : Precis_FollowOp<"gather_nd", [Pure, Grad]> {
  let summary = "gather slices of `data` at index tuples (ONNX GatherND, batch_dims 0)";
  let description = [{
    `indices` has shape `[..., k]` with `1 <= k <= rank(data)`: each k-tuple addresses the
    slice `data[i0, .., ik-1]`; the result has shape `indices.shape[:-1] + data.shape[k:]`.
    Negative indices count from the end. The gradient scatter-adds into zeros
    (`scatter_nd add`).
    `%2 = precis.gather_nd %0, %1 : (tensor<4x5x6xf32>, tensor<3x2xi64>) -> tensor<3x6xf32>`
  }];
  let arguments = (ins Precis_Tensor:$data, Precis_IndexTensor:$indices);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$data `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_ScatterNDOp : Precis_FollowOp<"scatter_nd", [Pure, Grad]> {
  let summary = "`data` with slices at index tuples replaced or added to (ONNX ScatterND)";
  let description = [{
    `indices` has shape `[..., k]` with `1 <= k <= rank(data)` and `updates` the shape
    `indices.shape[:-1] + data.shape[k:]`: the result is `data` with the slice addressed by
    each k-tuple replaced by (`none`) or added to (`add`) the matching slice of `updates`, in
    index order. Negative indices count from the end. With `none`, ONNX leaves repeated
    tuples undefined and precis lets the last one win; the gradient assumes distinct tuples:
    the data's is the result gradient with the written slices zeroed (`add`: unchanged) and
    the updates' is `gather_nd` of the result gradient.
    `%3 = precis.scatter_nd none %0, %1, %2 : (tensor<4x6xf32>, tensor<2x1xi64>, tensor<2x6xf32>) -> tensor<4x6xf32>`
  }];
  let arguments = (ins Precis_Tensor:$data, Precis_IndexTensor:$indices, Precis_Tensor:$updates,
                   Precis_ScatterReduction:$reduction);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$reduction $data `,` $indices `,` $updates attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_ExpandOp : Precis_FollowOp<"expand", [Pure, IndexedCopy,
                                                  SameOperandsAndResultElementType, Grad]> {
  let summary = "broadcast to the static result shape";
  let description = "`%1 = precis.expand %0 : tensor<1x4xf32> to tensor<3x4xf32>`";
  let arguments = (ins Precis_Tensor:$input);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Reductions and normalisation.
//===----------------------------------------------------------------------===//

class Precis_ReduceOp<string mnemonic>
    : Precis_SensitiveOp<mnemonic, [Pure, SameOperandsAndResultElementType,
                                    InferTypeOpAdaptor, Grad]> {
  let arguments = (ins Precis_NumericTensor:$input, DenseI64ArrayAttr:$axes,
                   DefaultValuedAttr<BoolAttr, "true">:$keepdims);
  let results = (outs Precis_NumericTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let hasFolder = 1;
}
def Precis_CumSumOp : Precis_SensitiveOp<"cumsum", [Pure, SameOperandsAndResultType, Grad]> {
  let summary = "cumulative sum along `axis` (ONNX CumSum)";
  let description = [{
    `result[.., i, ..] = sum of input[.., j, ..]` over `j <= i` (`j < i` when `exclusive`;
    `j >= i` / `j > i` when `reverse`). Sensitive, like reduce_sum: a long axis sums many
    terms (the CPU kernel accumulates floats in f64). The gradient is the cumulative sum of
    the result gradient in the other direction, with the same `exclusive`.
    `%1 = precis.cumsum %0 {axis = 1 : i64, reverse = true} : tensor<4x8xf32>`
  }];
  let arguments = (ins Precis_NumericTensor:$input, I64Attr:$axis,
                   DefaultValuedAttr<BoolAttr, "false">:$exclusive,
                   DefaultValuedAttr<BoolAttr, "false">:$reverse);
  let results = (outs Precis_NumericTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

/// Index of the largest (smallest) element along `axis`: i64, with the axis kept as size 1
/// (`keepdims`) or dropped. Ties go to the first index (the last with `select_last_index`);
/// a NaN wins over every number (NumPy's and PyTorch's rule). No gradient: the result is an
/// index.
class Precis_ArgReduceOp<string mnemonic>
    : Precis_FollowOp<mnemonic, [Pure, NoGradient]> {
  let arguments = (ins Precis_NumericTensor:$input, I64Attr:$axis,
                   DefaultValuedAttr<BoolAttr, "true">:$keepdims,
                   DefaultValuedAttr<BoolAttr, "false">:$select_last_index);
  let results = (outs TensorOf<[I64]>:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}
def Precis_ArgMaxOp : Precis_ArgReduceOp<"argmax"> {
  let summary = "index of the largest element along `axis` (ONNX ArgMax)";
  let description = "`%1 = precis.argmax %0 {axis = 1 : i64, keepdims = false} : (tensor<4x8xf32>) -> tensor<4xi64>`";
}
def Precis_ArgMinOp : Precis_ArgReduceOp<"argmin"> {
  let summary = "index of the smallest element along `axis` (ONNX ArgMin)";
  let description = "`%1 = precis.argmin %0 {axis = 0 : i64} : (tensor<4x8xf32>) -> tensor<1x8xi64>`";
}

def Precis_TopKOp : Precis_FollowOp<"topk", [Pure, Grad]> {
  let summary = "the `k` largest (or smallest) elements along `axis`, sorted, and their indices";
  let description = [{
    Both results have the input's shape with `k` at `axis`. The order is descending (ascending
    when `largest` is false), equal values by ascending index, with a NaN above every number
    (PyTorch's rule); that order is also a valid result for ONNX's `sorted = 0`. The values'
    gradient is scattered back to the chosen positions (`gather_elements_grad`).
    `%v, %i = precis.topk %0 {axis = 1 : i64, k = 3 : i64} : (tensor<4x8xf32>) -> (tensor<4x3xf32>, tensor<4x3xi64>)`
  }];
  let arguments = (ins Precis_NumericTensor:$input, I64Attr:$axis, I64Attr:$k,
                   DefaultValuedAttr<BoolAttr, "true">:$largest);
  let results = (outs Precis_NumericTensor:$values, TensorOf<[I64]>:$indices);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_ReduceSumOp : Precis_ReduceOp<"reduce_sum"> {
  let summary = "sum over `axes` (empty `axes`: over all dimensions)";
  let description = "`%1 = precis.reduce_sum %0 {axes = array<i64: 1>, keepdims = false} : (tensor<4x8xf32>) -> tensor<4xf32>`";
}
def Precis_ReduceMeanOp : Precis_ReduceOp<"reduce_mean"> {
  let summary = "mean over `axes` (empty `axes`: over all dimensions)";
  let description = "`%1 = precis.reduce_mean %0 {axes = array<i64: -1>} : (tensor<4x8xf32>) -> tensor<4x1xf32>`";
}
def Precis_ReduceMaxOp : Precis_ReduceOp<"reduce_max"> {
  let summary = "maximum over `axes` (empty `axes`: over all dimensions)";
  let description = "`%1 = precis.reduce_max %0 {axes = array<i64: 0>} : (tensor<4x8xf32>) -> tensor<1x8xf32>`";
}

def Precis_SoftmaxOp : Precis_SensitiveOp<"softmax", [Pure, SameOperandsAndResultType, Grad]> {
  let summary = "softmax along `axis`";
  let description = "`%1 = precis.softmax %0 {axis = -1 : i64} : tensor<4x8xf32>`";
  let arguments = (ins Precis_FloatTensor:$input, DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}
def Precis_LogSoftmaxOp : Precis_SensitiveOp<"log_softmax", [Pure, SameOperandsAndResultType,
                                                              Grad]> {
  let summary = "log of softmax along `axis`";
  let description = "`%1 = precis.log_softmax %0 {axis = 1 : i64} : tensor<4x8xf32>`";
  let arguments = (ins Precis_FloatTensor:$input, DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Precis_LayerNormOp : Precis_SensitiveOp<"layer_norm", [Pure, Grad]> {
  let summary = "layer or RMS normalisation over the dimensions from `axis` on";
  let description = [{
    `(x - mean) / sqrt(var + epsilon) * scale + bias`, statistics over dimensions
    `axis ... rank-1`; `scale` and `bias` broadcast to those dimensions. With `rms` set
    (RMSNorm: ONNX `RMSNormalization`, Llama's norm) no mean is subtracted:
    `x / sqrt(mean(x * x) + epsilon) * scale (+ bias)`.
    `%3 = precis.layer_norm %0, %1, %2 {axis = -1 : i64, epsilon = 1.0e-5 : f32} : (tensor<8x16x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<8x16x32xf32>`
    `%4 = precis.layer_norm %0, %1 {epsilon = 1.0e-6 : f32, rms = true} : (tensor<8x16x32xf32>, tensor<32xf32>) -> tensor<8x16x32xf32>`
  }];
  let arguments = (ins Precis_FloatTensor:$input, Precis_FloatTensor:$scale,
                   Optional<Precis_FloatTensor>:$bias,
                   DefaultValuedAttr<I64Attr, "-1">:$axis,
                   DefaultValuedAttr<F32Attr, "1.0e-5f">:$epsilon,
                   DefaultValuedAttr<BoolAttr, "false">:$rms);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat =
      "$input `,` $scale (`,` $bias^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_BatchNormOp : Precis_SensitiveOp<"batch_norm", [Pure, InferTypeOpAdaptor,
                                                           GradSomeOperands]> {
  let summary = "batch normalisation over NC... input, per channel";
  let description = [{
    In training mode the statistics come from the batch (biased variance for normalising) and
    the running statistics are updated:
    `new_mean = momentum * mean + (1 - momentum) * batch_mean` (ONNX convention), likewise the
    variance with the same biased batch variance, as ONNX's BatchNormalization-15 reference
    does. With `unbiased_running_var` the running variance takes the unbiased batch variance
    (`batch_var * n / (n - 1)`, n the element count per channel; the biased one when n = 1),
    as torch.nn.BatchNorm does: the importer sets it for models PyTorch exported, so training
    them in precis updates the statistics as PyTorch would. In inference mode the running
    statistics are used and returned unchanged.
    `%y, %m, %v = precis.batch_norm %x, %s, %b, %mean, %var {training = true} : (...) -> (...)`
  }];
  let arguments = (ins Precis_FloatTensor:$input, Precis_FloatTensor:$scale,
                   Precis_FloatTensor:$bias, Precis_FloatTensor:$running_mean,
                   Precis_FloatTensor:$running_var,
                   DefaultValuedAttr<F32Attr, "1.0e-5f">:$epsilon,
                   DefaultValuedAttr<F32Attr, "0.9f">:$momentum,
                   DefaultValuedAttr<BoolAttr, "false">:$training,
                   DefaultValuedAttr<BoolAttr, "false">:$unbiased_running_var);
  let results = (outs Precis_FloatTensor:$result, Precis_FloatTensor:$new_running_mean,
                 Precis_FloatTensor:$new_running_var);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Pooling.
//===----------------------------------------------------------------------===//

class Precis_Pool2DOp<string mnemonic, list<Trait> traits = []>
    : Precis_FollowOp<mnemonic, traits # [Pure, SameOperandsAndResultElementType,
                                          InferTypeOpAdaptor]> {
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}
def Precis_MaxPool2DOp : Precis_Pool2DOp<"max_pool2d", [Grad]> {
  let summary = "2-D max pooling over NCHW";
  let description = [{
    Padding is `-inf`; `pads` is `[top, left, bottom, right]`; `ceil_mode` rounds the output
    size up.
    `%1 = precis.max_pool2d %0 {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<8x8x16x16xf32>) -> tensor<8x8x8x8xf32>`
  }];
  let arguments = (ins Precis_FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$pads,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode);
}
def Precis_AvgPool2DOp : Precis_Pool2DOp<"avg_pool2d", [Grad]> {
  let summary = "2-D average pooling over NCHW";
  let description = [{
    `count_include_pad` decides whether padded positions count in the divisor.
    `%1 = precis.avg_pool2d %0 {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<8x8x16x16xf32>) -> tensor<8x8x8x8xf32>`
  }];
  let arguments = (ins Precis_FloatTensor:$input, DenseI64ArrayAttr:$kernel,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$pads,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode,
                   DefaultValuedAttr<BoolAttr, "false">:$count_include_pad);
}

class Precis_GlobalPoolOp<string mnemonic>
    : Precis_FollowOp<mnemonic, [Pure, SameOperandsAndResultElementType,
                                 InferTypeOpAdaptor, Grad]> {
  let arguments = (ins Precis_FloatTensor:$input);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}
def Precis_GlobalAvgPoolOp : Precis_GlobalPoolOp<"global_avg_pool"> {
  let summary = "mean over all spatial dimensions of N C D1 ... Dk, keeping them as size 1";
  let description = "`%1 = precis.global_avg_pool %0 : (tensor<8x16x4x4xf32>) -> tensor<8x16x1x1xf32>`";
}
def Precis_GlobalMaxPoolOp : Precis_GlobalPoolOp<"global_max_pool"> {
  let summary = "maximum over all spatial dimensions, keeping them as size 1";
  let description = "`%1 = precis.global_max_pool %0 : (tensor<8x16x4x4xf32>) -> tensor<8x16x1x1xf32>`";
}

//===----------------------------------------------------------------------===//
// Resizing.
//===----------------------------------------------------------------------===//

def Precis_ResizeOp : Precis_FollowOp<"resize", [Pure, SameOperandsAndResultElementType, Grad]> {
  let summary = "nearest, (multi)linear or cubic resampling of every axis (ONNX Resize)";
  let description = [{
    Each axis `a` maps output coordinate `o` to the input coordinate that
    `coordinate_transformation_mode` defines with `scales[a]` (the resized length the modes
    divide by is `input_size * scales[a]`), as ONNX Resize does; the result type gives the
    output sizes. `nearest` reads the input element `nearest_mode` rounds to (`legacy` is
    Resize 10's and Upsample's rule: truncate when the axis grows, round up when it shrinks);
    `linear` interpolates between the two neighbours, per axis (bilinear on two axes);
    `cubic` weights the four nearest with Keys' cubic kernel of parameter `cubic_coeff_a`.
    `antialias` (linear and cubic) widens the filter by `1 / scale` on the axes that shrink,
    as ONNX Resize 18 does. Source indices are clamped to the input; with `exclude_outside`
    taps outside it get weight 0 and the others are renormalised. The taps are computed by
    `precis::resizeTable` (runtime/include/precis/runtime/ResizeTaps.h) on both backends.

    ```mlir
    %1 = precis.resize %0 {mode = "linear", coordinate_transformation_mode = "half_pixel",
                           scales = array<f64: 1.0, 1.0, 2.0, 2.0>}
        : (tensor<1x3x8x8xf32>) -> tensor<1x3x16x16xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$input, DenseF64ArrayAttr:$scales,
                   DefaultValuedAttr<StrAttr, "\"nearest\"">:$mode,
                   DefaultValuedAttr<StrAttr, "\"half_pixel\"">:$coordinate_transformation_mode,
                   DefaultValuedAttr<StrAttr, "\"round_prefer_floor\"">:$nearest_mode,
                   DefaultValuedAttr<F64Attr, "-0.75">:$cubic_coeff_a,
                   DefaultValuedAttr<BoolAttr, "false">:$exclude_outside,
                   DefaultValuedAttr<BoolAttr, "false">:$antialias);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Losses.
//===----------------------------------------------------------------------===//

def Precis_SoftmaxCrossEntropyOp
    : Precis_SensitiveOp<"softmax_cross_entropy", [Pure, InferTypeOpAdaptor, GradSomeOperands]> {
  let summary = "softmax cross-entropy loss over class dimension 1";
  let description = [{
    `scores` is `[N, C, D1, ...]`, `labels` is `[N, D1, ...]`, the optional `weights` is `[C]`.
    Entries whose label equals `ignore_index` contribute nothing (and nothing to the mean's
    divisor). `log_prob` is the log-softmax of `scores`.
    `%l, %lp = precis.softmax_cross_entropy mean %0, %1 : (tensor<8x10xf32>, tensor<8xi64>) -> (tensor<f32>, tensor<8x10xf32>)`
  }];
  let arguments = (ins Precis_FloatTensor:$scores, Precis_IndexTensor:$labels,
                   Optional<Precis_FloatTensor>:$weights,
                   Precis_LossReduction:$reduction,
                   OptionalAttr<I64Attr>:$ignore_index);
  let results = (outs Precis_FloatTensor:$loss, Precis_FloatTensor:$log_prob);
  let assemblyFormat = "$reduction $scores `,` $labels (`,` $weights^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_NllLossOp : Precis_SensitiveOp<"nll_loss", [Pure, InferTypeOpAdaptor,
                                                       GradSomeOperands]> {
  let summary = "negative log-likelihood loss over class dimension 1";
  let description = [{
    `input` holds log-probabilities `[N, C, D1, ...]`; `target` is `[N, D1, ...]`.
    `%l = precis.nll_loss mean %0, %1 : (tensor<8x10xf32>, tensor<8xi64>) -> tensor<f32>`
  }];
  let arguments = (ins Precis_FloatTensor:$input, Precis_IndexTensor:$target,
                   Optional<Precis_FloatTensor>:$weights,
                   Precis_LossReduction:$reduction,
                   OptionalAttr<I64Attr>:$ignore_index);
  let results = (outs Precis_FloatTensor:$loss);
  let assemblyFormat = "$reduction $input `,` $target (`,` $weights^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Backward ops: gradients that no composition of forward ops expresses exactly and cheaply.
// The `precis-autodiff` pass builds them; their semantics are the adjoints of the forward op
// named in each summary.
//===----------------------------------------------------------------------===//

def Precis_Conv2DGradInputOp : Precis_ComputeOp<"conv2d_grad_input", [Grad]> {
  let summary = "gradient of conv2d with respect to its input (a transposed convolution)";
  let description = [{
    `result[n, c, h, w] = sum over (o, i, j) with h = oh * stride - pad_top + i * dilation (and
    likewise w) of grad[n, o, oh, ow] * weight[o, c % (C / groups), i, j]`, for `o` in the
    group of `c`. The result type is the forward input's; the attributes are the forward
    op's. The importer also lowers ONNX ConvTranspose to it (its `grad` is then the
    ConvTranspose input and its `weight` the ConvTranspose weight), so it has a gradient
    rule of its own: conv2d for `grad` and conv2d_grad_weight for `weight`.

    ```mlir
    %dx = precis.conv2d_grad_input %dy, %w {pads = array<i64: 1, 1, 1, 1>}
        : (tensor<8x8x16x16xf32>, tensor<8x1x3x3xf32>) -> tensor<8x1x16x16xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$grad, Precis_FloatTensor:$weight,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$pads,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
                   DefaultValuedAttr<I64Attr, "1">:$groups,
                   OptionalAttr<TypeAttr>:$acc_type);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $weight attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_Conv2DGradWeightOp : Precis_ComputeOp<"conv2d_grad_weight", [NoGradient]> {
  let summary = "gradient of conv2d with respect to its weight";
  let description = [{
    `result[o, c, i, j] = sum over (n, oh, ow) of grad[n, o, oh, ow] * input[n, g * C/groups + c,
    oh * stride - pad_top + i * dilation, ow * stride - pad_left + j * dilation]` (padding reads
    zero), `g` the group of `o`. The result type is the forward weight's.

    ```mlir
    %dw = precis.conv2d_grad_weight %x, %dy {pads = array<i64: 1, 1, 1, 1>}
        : (tensor<8x1x16x16xf32>, tensor<8x8x16x16xf32>) -> tensor<8x1x3x3xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$input, Precis_FloatTensor:$grad,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$pads,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
                   DefaultValuedAttr<I64Attr, "1">:$groups,
                   OptionalAttr<TypeAttr>:$acc_type);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_AttentionGradOp : Precis_ComputeOp<"attention_grad", [NoGradient]> {
  let summary = "gradients of attention with respect to query, key and value";
  let description = [{
    Given the forward operands, the forward `result` and `logsumexp`, and `grad` (the
    gradient of the result), computes `dQ`, `dK`, `dV` with the forward op's attributes:
    `P = exp(scale * Q K^T + mask - logsumexp)` recomputed block by block,
    `dV = P^T dO`, `dS = P * (dO V^T - rowsum(dO * O))`, `dQ = scale * dS K`,
    `dK = scale * dS^T Q` (summed over the query heads sharing a key/value head). The mask
    takes no gradient. The result types are the forward operands'.

    ```mlir
    %dq, %dk, %dv = precis.attention_grad %q, %k, %v, %o, %lse, %do {scale = 0.125 : f32}
        : (tensor<2x8x16x64xbf16>, tensor<2x2x16x64xbf16>, tensor<2x2x16x64xbf16>,
           tensor<2x8x16x64xbf16>, tensor<2x8x16xf32>, tensor<2x8x16x64xbf16>)
        -> (tensor<2x8x16x64xbf16>, tensor<2x2x16x64xbf16>, tensor<2x2x16x64xbf16>)
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$query, Precis_FloatTensor:$key,
                   Precis_FloatTensor:$value, Precis_FloatTensor:$result,
                   TensorOf<[F32, F64]>:$logsumexp, Precis_FloatTensor:$grad,
                   Optional<Precis_FloatTensor>:$mask,
                   F32Attr:$scale,
                   DefaultValuedAttr<BoolAttr, "false">:$is_causal,
                   OptionalAttr<TypeAttr>:$acc_type);
  let results = (outs Precis_FloatTensor:$grad_query, Precis_FloatTensor:$grad_key,
                 Precis_FloatTensor:$grad_value);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_MaxPool2DGradOp : Precis_FollowOp<"max_pool2d_grad", [NoGradient, Pure]> {
  let summary = "gradient of max_pool2d: each output gradient goes to its window's maximum";
  let description = [{
    `input` is the forward input; the attributes are the forward op's. Each window's gradient
    is added to the position of the window's first maximum in row-major window order (the
    element the forward kernel returns), so ties do not split.

    ```mlir
    %dx = precis.max_pool2d_grad %dy, %x {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>}
        : (tensor<8x8x8x8xf32>, tensor<8x8x16x16xf32>) -> tensor<8x8x16x16xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$grad, Precis_FloatTensor:$input,
                   DenseI64ArrayAttr:$kernel,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$pads,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilations,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_AvgPool2DGradOp : Precis_FollowOp<"avg_pool2d_grad", [NoGradient, Pure]> {
  let summary = "gradient of avg_pool2d: each output gradient spread evenly over its window";
  let description = [{
    The result type is the forward input's; the attributes are the forward op's. Every input
    position of a window receives the window's gradient divided by the forward divisor (which
    `count_include_pad` decides, as for `avg_pool2d`).

    ```mlir
    %dx = precis.avg_pool2d_grad %dy {kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>}
        : (tensor<8x8x8x8xf32>) -> tensor<8x8x16x16xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$grad, DenseI64ArrayAttr:$kernel,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$strides,
                   DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0, 0, 0}">:$pads,
                   DefaultValuedAttr<BoolAttr, "false">:$ceil_mode,
                   DefaultValuedAttr<BoolAttr, "false">:$count_include_pad);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$grad attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_ResizeGradOp : Precis_FollowOp<"resize_grad", [NoGradient, Pure,
                                                         SameOperandsAndResultElementType]> {
  let summary = "gradient of resize: each output gradient added back to the elements it read";
  let description = [{
    The result type is the forward input's and the attributes are the forward op's: every
    input element receives the sum, over the output elements that read it, of their gradient
    times the interpolation weight they gave it (accumulated in fp32 or wider).

    ```mlir
    %dx = precis.resize_grad %dy {mode = "linear", scales = array<f64: 1.0, 1.0, 2.0, 2.0>}
        : (tensor<1x3x16x16xf32>) -> tensor<1x3x8x8xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$grad, DenseF64ArrayAttr:$scales,
                   DefaultValuedAttr<StrAttr, "\"nearest\"">:$mode,
                   DefaultValuedAttr<StrAttr, "\"half_pixel\"">:$coordinate_transformation_mode,
                   DefaultValuedAttr<StrAttr, "\"round_prefer_floor\"">:$nearest_mode,
                   DefaultValuedAttr<F64Attr, "-0.75">:$cubic_coeff_a,
                   DefaultValuedAttr<BoolAttr, "false">:$exclude_outside,
                   DefaultValuedAttr<BoolAttr, "false">:$antialias);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$grad attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_SliceGradOp : Precis_FollowOp<"slice_grad", [NoGradient, Pure]> {
  let summary = "gradient of slice: `grad` placed at the sliced positions of zeros";
  let description = [{
    The result type is the forward input's and the attributes the forward slice's:
    `result[start + k * step] = grad[k]` per dimension, zero elsewhere (a slice reads every
    position at most once, so nothing accumulates).

    ```mlir
    %dx = precis.slice_grad %dy {start = array<i64: 0, 1>, limit = array<i64: 4, 3>,
                                 step = array<i64: 1, 1>} : (tensor<4x2xf32>) -> tensor<4x4xf32>
    ```
  }];
  let arguments = (ins Precis_Tensor:$grad, DenseI64ArrayAttr:$start,
                   DenseI64ArrayAttr:$limit, DenseI64ArrayAttr:$step);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$grad attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_GatherGradOp : Precis_SensitiveOp<"gather_grad", [NoGradient, Pure]> {
  let summary = "gradient of gather: scatter-add of `grad` into zeros of the data's shape";
  let description = [{
    `result[..., indices[j...], ...] += grad[..., j..., ...]` along `axis`, starting from zero;
    repeated indices accumulate (in fp32, or fp64 for f64). Negative indices count from the
    end. Sensitive: an embedding row hit by many tokens sums many terms.

    ```mlir
    %dw = precis.gather_grad %dy, %ids {axis = 0 : i64}
        : (tensor<8x16x32xf32>, tensor<8x16xi64>) -> tensor<64x32xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$grad, Precis_IndexTensor:$indices,
                   DefaultValuedAttr<I64Attr, "0">:$axis);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_GatherElementsGradOp
    : Precis_SensitiveOp<"gather_elements_grad", [NoGradient, Pure]> {
  let summary = "gradient of gather_elements: scatter-add of `grad` into zeros";
  let description = [{
    `result[i0, .., indices[i0, .., ik, ..], ..] += grad[i0, .., ik, ..]` along `axis`,
    starting from zero; the result type is the forward data's, `grad` has the indices'
    shape. Repeated indices accumulate (in fp32, or fp64 for f64). Also the gradient of
    TopK's values.

    ```mlir
    %dx = precis.gather_elements_grad %dy, %i {axis = 1 : i64}
        : (tensor<4x3xf32>, tensor<4x3xi64>) -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$grad, Precis_IndexTensor:$indices, I64Attr:$axis);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_NllLossGradOp : Precis_SensitiveOp<"nll_loss_grad", [NoGradient, Pure]> {
  let summary = "gradient of nll_loss with respect to its log-probabilities";
  let description = [{
    `result[n, c, d...] = -w * grad_n / denom` when `c == target[n, d...]` and 0 elsewhere,
    with `w = weights[c]` (1 without weights, 0 for an ignored entry), `grad_n` the loss
    gradient (per entry for reduction `none`, the scalar otherwise) and `denom` the sum of the
    entries' `w` for `mean`, 1 otherwise. The result type is the forward input's. The gradient
    of `softmax_cross_entropy` is this followed by the log-softmax adjoint.

    ```mlir
    %dx = precis.nll_loss_grad mean %dl, %t : (tensor<f32>, tensor<8xi64>) -> tensor<8x10xf32>
    ```
  }];
  let arguments = (ins Precis_FloatTensor:$grad, Precis_IndexTensor:$target,
                   Optional<Precis_FloatTensor>:$weights,
                   Precis_LossReduction:$reduction,
                   OptionalAttr<I64Attr>:$ignore_index);
  let results = (outs Precis_FloatTensor:$result);
  let assemblyFormat = "$reduction $grad `,` $target (`,` $weights^)? attr-dict `:` "
                       "functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fusion groups (built by precis-fuse; see docs/cuda.md).
//===----------------------------------------------------------------------===//

def Precis_FusionOp : Precis_FollowOp<"fusion", [NoGradient, IsolatedFromAbove, Pure]> {
  let summary = "a group of ops that runs as one kernel";
  let description = [{
    The body computes the results from the block arguments (one per operand, same types) and
    ends with `precis.yield`. `precis-fuse` forms three kinds of group, recorded as `kind`: a
    chain of element-wise ops of one element count (`elementwise`); a row reduction or
    normalisation over trailing dimensions (`softmax`, `log_softmax`, `layer_norm`,
    `reduce_*`) with the element-wise ops that feed and follow it (`row`); and a `matmul` with
    a bias / ReLU / GELU epilogue (`gemm`, with the cuBLASLt `epilogue` it computes). The CUDA
    target turns each group into one generated kernel (the GEMM groups into one cuBLASLt call
    with an epilogue); the CPU target executes the body op by op, as if it were not there.

    ```mlir
    %r = precis.fusion elementwise (%x, %b : tensor<8x64xbf16>, tensor<64xbf16>)
        -> tensor<8x64xbf16> {
    ^bb0(%a0: tensor<8x64xbf16>, %a1: tensor<64xbf16>):
      %0 = precis.add %a0, %a1 : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
      %1 = precis.relu %0 : tensor<8x64xbf16>
      precis.yield %1 : tensor<8x64xbf16>
    }
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs, Precis_FusionKind:$kind,
                   OptionalAttr<Precis_GemmEpilogueKind>:$epilogue);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$kind ($epilogue^)? `(` ($inputs^ `:` type($inputs))? `)` "
                       "attr-dict-with-keyword `->` type($results) $body";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The op that ends the body.
    YieldOp getYield();
  }];
}

def Precis_YieldOp : Precis_Op<"yield", [NoGradient, Pure, Terminator, HasParent<"FusionOp">,
                                          FollowPrecision]> {
  let summary = "the results of a precis.fusion body";
  let description = "`precis.yield %1, %2 : tensor<8x64xbf16>, tensor<8xf32>`";
  let arguments = (ins Variadic<AnyRankedTensor>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
}

//===----------------------------------------------------------------------===//
// Values.
//===----------------------------------------------------------------------===//

def Precis_ConstantOp : Precis_FollowOp<"constant", [NoGradient, Pure, ConstantLike,
                                              AllTypesMatch<["value", "result"]>]> {
  let summary = "a constant tensor";
  let description = "`%0 = precis.constant dense<[1.0, 2.0]> : tensor<2xf32>`";
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$value attr-dict";
  let hasFolder = 1;
}

def Precis_ParameterOp : Precis_FollowOp<"parameter", [NoGradient, Pure,
                                                        AllTypesMatch<["value", "result"]>]> {
  let summary = "a named model parameter (an ONNX initializer) with its initial value";
  let description = [{
    Keeps the ONNX initializer name so passes, reports and `precis export` can name it. The
    autodiff pass decides which parameters are trained (a float parameter with a
    differentiable path to the loss); the rest act as constants.
    `%0 = precis.parameter "fc1.weight" = dense_resource<fc1.weight> : tensor<64x32xf32>`
  }];
  let arguments = (ins StrAttr:$name, ElementsAttr:$value);
  let results = (outs Precis_Tensor:$result);
  let assemblyFormat = "$name `=` $value attr-dict";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Optimizer updates: one parameter's step of torch.optim.SGD / Adam / AdamW. Sensitive (fp32
// params and state, fp32 math); the `precis-optimizer` pass builds them.
//===----------------------------------------------------------------------===//

def Precis_SgdUpdateOp : Precis_SensitiveOp<"sgd_update", [NoGradient, Pure]> {
  let summary = "one torch.optim.SGD step of one parameter";
  let description = [{
    PyTorch's single-tensor SGD (`maximize = False`), element-wise in fp32, with `step` the
    1-based number of this step (after the increment) and `lr` a runtime scalar:

    ```
    g = grad + weight_decay * param                  (when weight_decay != 0)
    if momentum != 0:
      buf = g                          if step == 1  (torch clones the first gradient)
      buf = momentum * buf + (1 - dampening) * g     otherwise
      g = g + momentum * buf if nesterov else buf
    new_param = param - lr * g
    ```

    The momentum buffer operand and result are present exactly when `momentum != 0`; a
    buffer that starts at zero is never read on step 1, so zero-initialised state reproduces
    torch's lazily created buffer. As in torch, `nesterov` needs `momentum > 0` and
    `dampening = 0`.

    ```mlir
    %p1, %b1 = precis.sgd_update %p, %g, %step, %lr, %b {momentum = 0.9 : f32}
        : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<f32>, tensor<4x8xf32>)
        -> (tensor<4x8xf32>, tensor<4x8xf32>)
    ```
  }];
  let arguments = (ins StaticShapeTensorOf<[F32]>:$param, StaticShapeTensorOf<[F32]>:$grad,
                   0DTensorOf<[F32]>:$step, 0DTensorOf<[F32]>:$lr,
                   Optional<StaticShapeTensorOf<[F32]>>:$momentum_buf,
                   DefaultValuedAttr<F32Attr, "0.0f">:$momentum,
                   DefaultValuedAttr<F32Attr, "0.0f">:$dampening,
                   DefaultValuedAttr<F32Attr, "0.0f">:$weight_decay,
                   DefaultValuedAttr<BoolAttr, "false">:$nesterov);
  let results = (outs StaticShapeTensorOf<[F32]>:$new_param,
                 Optional<StaticShapeTensorOf<[F32]>>:$new_momentum_buf);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Precis_AdamUpdateOp : Precis_SensitiveOp<"adam_update", [NoGradient, Pure]> {
  let summary = "one torch.optim.Adam (or AdamW, `decoupled`) step of one parameter";
  let description = [{
    PyTorch's single-tensor Adam / AdamW (not amsgrad, not maximize), element-wise in fp32,
    with `step` the 1-based number of this step (after the increment) and `lr` a runtime
    scalar:

    ```
    if decoupled: param = param * (1 - lr * weight_decay)          (AdamW)
    else:         g = grad + weight_decay * param                  (Adam)
    m = lerp(m, g, 1 - beta1)            (= beta1 * m + (1 - beta1) * g)
    v = beta2 * v + (1 - beta2) * g * g
    bias_c1 = 1 - beta1^step,  bias_c2 = 1 - beta2^step            (in fp64, as torch)
    denom = sqrt(v) / sqrt(bias_c2) + eps
    new_param = param - (lr / bias_c1) * m / denom
    ```

    ```mlir
    %p1, %m1, %v1 = precis.adam_update %p, %g, %m, %v, %step, %lr
        {weight_decay = 0.01 : f32, decoupled = true}
        : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<f32>, tensor<f32>)
        -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
    ```
  }];
  let arguments = (ins StaticShapeTensorOf<[F32]>:$param, StaticShapeTensorOf<[F32]>:$grad,
                   StaticShapeTensorOf<[F32]>:$exp_avg, StaticShapeTensorOf<[F32]>:$exp_avg_sq,
                   0DTensorOf<[F32]>:$step, 0DTensorOf<[F32]>:$lr,
                   DefaultValuedAttr<F32Attr, "0.9f">:$beta1,
                   DefaultValuedAttr<F32Attr, "0.999f">:$beta2,
                   DefaultValuedAttr<F32Attr, "1.0e-8f">:$eps,
                   DefaultValuedAttr<F32Attr, "0.0f">:$weight_decay,
                   DefaultValuedAttr<BoolAttr, "false">:$decoupled);
  let results = (outs StaticShapeTensorOf<[F32]>:$new_param,
                 StaticShapeTensorOf<[F32]>:$new_exp_avg,
                 StaticShapeTensorOf<[F32]>:$new_exp_avg_sq);
  let assemblyFormat = "operands attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Collectives: data-parallel training (docs/distributed.md). `precis-data-parallel` places
// them between the backward pass and the optimizer.
//===----------------------------------------------------------------------===//

def Precis_AllReduceOp : Precis_SensitiveOp<"all_reduce", [NoGradient]> {
  let summary = "combines each operand across the ranks of a data-parallel job";
  let description = [{
    Every rank of the communicator `communicator` ("world": all processes of the job) passes
    its own values of the operands; each result is the `reduction` (sum, mean = sum / ranks,
    max) of that operand over all ranks, the same bytes on every rank. One op is one bucket:
    the runtime hands its operands to the communicator together, as soon as the last of them
    is computed. In a process that is not part of a job (a world of one) every result equals
    its operand, so an artifact with collectives also runs alone.

    The op communicates: it is not `Pure`, so it is never folded, merged or removed, and every
    rank runs the collectives of a step in the same order.

    ```mlir
    %l, %g0, %g1 = precis.all_reduce %loss, %dw, %db {reduction = 1 : i32}
        : tensor<f32>, tensor<3x2xf32>, tensor<2xf32> -> tensor<f32>, tensor<3x2xf32>, tensor<2xf32>
    ```
  }];
  let arguments = (ins Variadic<StaticShapeTensorOf<[F32, F64, I32, I64]>>:$inputs,
                   DefaultValuedAttr<Precis_CollectiveReduction,
                                     "CollectiveReduction::Sum">:$reduction,
                   DefaultValuedAttr<StrAttr, "\"world\"">:$communicator);
  let results = (outs Variadic<StaticShapeTensorOf<[F32, F64, I32, I64]>>:$results);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs) `->` type($results)";
  let hasVerifier = 1;
}

def Precis_ShardOp : Precis_FollowOp<"shard", [NoGradient]> {
  let summary = "this rank's contiguous share of a flat tensor";
  let description = [{
    The operand holds N equal shares of S elements, N the number of ranks of `communicator`;
    the result is share `rank`: elements [rank * S, (rank + 1) * S). ZeRO stage 1 (optimizer
    state sharding, precis-optimizer `zero-stage=1`) takes each rank's share of the flattened
    parameters and gradients with it. Not `Pure`: the result depends on the process's rank.
    `%p = precis.shard %flat : tensor<24xf32> -> tensor<12xf32>`
  }];
  let arguments = (ins StaticShapeTensorOf<[F32]>:$input,
                   DefaultValuedAttr<StrAttr, "\"world\"">:$communicator);
  let results = (outs StaticShapeTensorOf<[F32]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Precis_AllGatherOp : Precis_FollowOp<"all_gather", [NoGradient]> {
  let summary = "every rank's share, concatenated in rank order";
  let description = [{
    The inverse of `precis.shard` across the ranks of `communicator`: every rank passes its S
    elements and receives all N * S, rank 0's first, the same bytes on every rank. ZeRO stage 1
    gathers the updated parameter shares with it.
    `%all = precis.all_gather %p : tensor<12xf32> -> tensor<24xf32>`
  }];
  let arguments = (ins StaticShapeTensorOf<[F32]>:$input,
                   DefaultValuedAttr<StrAttr, "\"world\"">:$communicator);
  let results = (outs StaticShapeTensorOf<[F32]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

#endif // PRECIS_OPS_TD
