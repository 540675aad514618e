//===- PrecisEnums.td - precis enums and enum attributes ---*- tablegen -*-===//
//
// Enumerations used by precis ops and attributes: the precision class every op declares,
// comparison kinds, loss reductions, GELU approximations and the rule behind a precision
// decision.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_ENUMS_TD
#define PRECIS_ENUMS_TD

include "precis/Dialect/Precis/IR/PrecisBase.td"
include "mlir/IR/EnumAttr.td"

/// The precision class of an op (docs/design.md decision 2).
def Precis_PrecisionClass : I32EnumAttr<"PrecisionClass", "precision class of an op", [
    /// Matmul, gemm, convolution: run in the low precision, accumulate in fp32.
    I32EnumAttrCase<"Compute", 0, "compute">,
    /// Reductions, softmax, norms, exp/log/pow, losses, optimizer updates: stay fp32.
    I32EnumAttrCase<"Sensitive", 1, "sensitive">,
    /// Element-wise and data movement: run in the precision of the inputs.
    I32EnumAttrCase<"Follow", 2, "follow">,
  ]> {
  let cppNamespace = "::mlir::precis";
}

def Precis_CompareKind : I32EnumAttr<"CompareKind", "comparison predicate", [
    I32EnumAttrCase<"EQ", 0, "eq">,
    I32EnumAttrCase<"LT", 1, "lt">,
    I32EnumAttrCase<"LE", 2, "le">,
    I32EnumAttrCase<"GT", 3, "gt">,
    I32EnumAttrCase<"GE", 4, "ge">,
  ]> {
  let cppNamespace = "::mlir::precis";
}

def Precis_LossReduction : I32EnumAttr<"LossReduction", "loss reduction", [
    I32EnumAttrCase<"None", 0, "none">,
    I32EnumAttrCase<"Sum", 1, "sum">,
    I32EnumAttrCase<"Mean", 2, "mean">,
  ]> {
  let cppNamespace = "::mlir::precis";
}

def Precis_GeluApproximation : I32EnumAttr<"GeluApproximation", "GELU formula", [
    /// 0.5 x (1 + erf(x / sqrt 2)).
    I32EnumAttrCase<"None", 0, "none">,
    /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    I32EnumAttrCase<"Tanh", 1, "tanh">,
  ]> {
  let cppNamespace = "::mlir::precis";
}

/// How `precis.pad` fills the border (ONNX Pad's `mode`).
def Precis_PadMode : I32EnumAttr<"PadMode", "pad fill", [
    /// A constant value.
    I32EnumAttrCase<"Constant", 0, "constant">,
    /// The mirror image without the border element: [a b c] -> [c b | a b c | b a].
    I32EnumAttrCase<"Reflect", 1, "reflect">,
    /// The border element repeated: [a b c] -> [a a | a b c | c c].
    I32EnumAttrCase<"Edge", 2, "edge">,
  ]> {
  let cppNamespace = "::mlir::precis";
}

/// How `precis.scatter_nd` combines an update with the element it lands on (ONNX ScatterND's
/// `reduction`; mul, max and min are not supported).
def Precis_ScatterReduction : I32EnumAttr<"ScatterReduction", "scatter combination", [
    /// The update replaces the element.
    I32EnumAttrCase<"None", 0, "none">,
    /// The update is added to the element.
    I32EnumAttrCase<"Add", 1, "add">,
  ]> {
  let cppNamespace = "::mlir::precis";
}

/// The rule that made a precision decision (`#precis.decision`); docs/precision.md lists
/// what each means. The strings are the stable ids the report prints.
def Precis_DecisionRule : I32EnumAttr<"DecisionRule", "rule behind a precision decision", [
    I32EnumAttrCase<"Compute", 0, "compute">,
    I32EnumAttrCase<"Sensitive", 1, "sensitive">,
    I32EnumAttrCase<"Follow", 2, "follow">,
    /// A compute op under `--precision fp32`.
    I32EnumAttrCase<"Target", 3, "target">,
    I32EnumAttrCase<"RangeFp16", 4, "range.fp16">,
    I32EnumAttrCase<"Fp8Dims", 5, "fp8.dims">,
    I32EnumAttrCase<"Fp8Conv", 6, "fp8.conv">,
    I32EnumAttrCase<"Fp8E5M2xE5M2", 7, "fp8.e5m2xe5m2">,
    /// Rule N of `--rules`; the decision carries N.
    I32EnumAttrCase<"User", 8, "user">,
    I32EnumAttrCase<"Calibrated", 9, "calibrated">,
    I32EnumAttrCase<"CalibratedError", 10, "calibrated.error">,
    I32EnumAttrCase<"Value", 11, "value">,
    I32EnumAttrCase<"Cast", 12, "cast">,
    I32EnumAttrCase<"Fp8Scaling", 13, "fp8.scaling">,
    I32EnumAttrCase<"ExplicitCast", 14, "explicit-cast">,
    I32EnumAttrCase<"AsImported", 15, "as-imported">,
    I32EnumAttrCase<"NoFloat", 16, "no-float">,
  ]> {
  let cppNamespace = "::mlir::precis";
  let genSpecializedAttr = 0;
}

/// What a precis.fusion group computes (precis-fuse decides; the CUDA target reads it).
def Precis_FusionKind : I32EnumAttr<"FusionKind", "kind of fusion group", [
    /// A chain of element-wise ops of one element count: one thread per element.
    I32EnumAttrCase<"Elementwise", 0, "elementwise">,
    /// One reduction or normalisation over trailing dimensions with its element-wise
    /// prologue and epilogue: one thread block per row.
    I32EnumAttrCase<"Row", 1, "row">,
    /// A GEMM with a cuBLASLt epilogue (the op's `epilogue`).
    I32EnumAttrCase<"Gemm", 2, "gemm">,
  ]> {
  let cppNamespace = "::mlir::precis";
}

/// The cuBLASLt epilogue of a GEMM fusion group: a bias vector along the columns, then ReLU or
/// tanh-GELU; `_aux` also returns the GELU input. The names are the artifact's.
def Precis_GemmEpilogueKind : I32EnumAttr<"GemmEpilogueKind", "GEMM epilogue", [
    I32EnumAttrCase<"Bias", 0, "bias">,
    I32EnumAttrCase<"Relu", 1, "relu">,
    I32EnumAttrCase<"BiasRelu", 2, "bias_relu">,
    I32EnumAttrCase<"Gelu", 3, "gelu">,
    I32EnumAttrCase<"BiasGelu", 4, "bias_gelu">,
    I32EnumAttrCase<"GeluAux", 5, "gelu_aux">,
    I32EnumAttrCase<"BiasGeluAux", 6, "bias_gelu_aux">,
  ]> {
  let cppNamespace = "::mlir::precis";
}

/// How `precis.all_reduce` combines the ranks' values (the runtime's rt::Reduction).
def Precis_CollectiveReduction : I32EnumAttr<"CollectiveReduction", "all-reduce combination", [
    I32EnumAttrCase<"Sum", 0, "sum">,
    /// The sum divided by the number of ranks: data-parallel gradient averaging.
    I32EnumAttrCase<"Mean", 1, "mean">,
    I32EnumAttrCase<"Max", 2, "max">,
  ]> {
  let cppNamespace = "::mlir::precis";
}

#endif // PRECIS_ENUMS_TD
