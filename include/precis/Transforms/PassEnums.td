//===- PassEnums.td - option values of the precis passes ---*- tablegen -*-===//
//
// The fixed sets of values that pass options, pipeline options and the driver's flags take.
// Each is defined once here: the passes declare their options with these types and
// `cl::values`, so a bad value is rejected when the option is parsed; the driver and the
// pipelines convert users' strings with the generated `symbolize*` functions and spell them
// with `stringify*`.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TRANSFORMS_PASSENUMS_TD
#define PRECIS_TRANSFORMS_PASSENUMS_TD

include "mlir/IR/EnumAttr.td"

def Precis_PrecisionPolicy : I32EnumAttr<"PrecisionPolicy",
    "the precision policy a model is compiled with", [
      I32EnumAttrCase<"FP32", 0, "fp32">,
      I32EnumAttrCase<"BF16", 1, "bf16">,
      I32EnumAttrCase<"FP16", 2, "fp16">,
      I32EnumAttrCase<"FP8", 3, "fp8">,
      I32EnumAttrCase<"Auto", 4, "auto">,
    ]> {
  let cppNamespace = "::mlir::precis";
}

def Precis_OptimizerKind : I32EnumAttr<"OptimizerKind",
    "the optimizer of the training step (torch.optim semantics)", [
      I32EnumAttrCase<"SGD", 0, "sgd">,
      I32EnumAttrCase<"Adam", 1, "adam">,
      I32EnumAttrCase<"AdamW", 2, "adamw">,
    ]> {
  let cppNamespace = "::mlir::precis";
}

def Precis_Fp8Recipe : I32EnumAttr<"Fp8Recipe", "how fp8 scales are chosen", [
      I32EnumAttrCase<"Delayed", 0, "delayed">,
      I32EnumAttrCase<"Current", 1, "current">,
    ]> {
  let cppNamespace = "::mlir::precis";
}

def Precis_AmaxCompute : I32EnumAttr<"AmaxCompute",
    "how an amax history gives the amax", [
      I32EnumAttrCase<"Max", 0, "max">,
      I32EnumAttrCase<"MostRecent", 1, "most_recent">,
    ]> {
  let cppNamespace = "::mlir::precis";
}

#endif // PRECIS_TRANSFORMS_PASSENUMS_TD
