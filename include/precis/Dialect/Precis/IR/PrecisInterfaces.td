//===- PrecisInterfaces.td - precis op interfaces ----------*- tablegen -*-===//
//
// The precision-class interface every precis op implements, and the traits that give each op its
// class in one word next to its definition.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_INTERFACES_TD
#define PRECIS_INTERFACES_TD

include "mlir/IR/OpBase.td"

def PrecisionOpInterface : OpInterface<"PrecisionOpInterface"> {
  let cppNamespace = "::mlir::precis";
  let description = [{
    Declares the precision class of an op (compute, sensitive or follow; docs/design.md decision 2).
    Ops get the method from one of the `ComputePrecision`, `SensitivePrecision` or
    `FollowPrecision` traits, so the class is stated next to the op's definition and the
    precision passes never switch over op names.
  }];
  let methods = [
    StaticInterfaceMethod<"The precision class of this op.",
      "::mlir::precis::PrecisionClass", "getPrecisionClass">,
  ];
}

def GradientOpInterface : OpInterface<"GradientOpInterface"> {
  let cppNamespace = "::mlir::precis";
  let description = [{
    The reverse-mode gradient rule of a differentiable op (the `precis-autodiff` pass reads it;
    there is no central switch over op names). Given the op and the gradients of its results,
    `buildGradients` builds the gradients of its operands with `builder` (at the builder's
    insertion point) and appends one value per operand to `operandGrads`: a null Value for an
    operand that is not differentiable (integer or bool operands, labels, indices, class
    weights). `resultGrads` has one entry per result; an entry is null when that result has no
    gradient (the rule treats it as zero). Operand gradients have the operand's type.
  }];
  let methods = [
    InterfaceMethod<"Builds the gradients of the operands from those of the results.",
      "::mlir::LogicalResult", "buildGradients",
      (ins "::mlir::OpBuilder &":$builder, "::mlir::ArrayRef<::mlir::Value>":$resultGrads,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>,
    InterfaceMethod<[{
        True if gradients flow to operand `index`: by default, when it is a float tensor.
      }], "bool", "isDifferentiableOperand", (ins "unsigned":$index), [{}], [{
        auto type = ::llvm::dyn_cast<::mlir::RankedTensorType>(
            $_op->getOperand(index).getType());
        return type && ::llvm::isa<::mlir::FloatType>(type.getElementType());
      }]>,
  ];
}

def ComputePrecision : NativeOpTrait<"ComputePrecision"> {
  let cppNamespace = "::mlir::precis";
}
def SensitivePrecision : NativeOpTrait<"SensitivePrecision"> {
  let cppNamespace = "::mlir::precis";
}
def FollowPrecision : NativeOpTrait<"FollowPrecision"> {
  let cppNamespace = "::mlir::precis";
}

/// The op computes each result element from the operand elements at the same position (operands
/// broadcast NumPy-style) and nothing else: fusion chains it, the CUDA target writes it as an
/// expression in a fused kernel, and the CPU runtime runs it chunk by chunk (the artifact
/// records the trait on each op).
def PerElement : NativeOpTrait<"PerElement"> {
  let cppNamespace = "::mlir::precis";
}
/// The op takes no part in differentiation, so it has no gradient rule: its results are not
/// differentiable (booleans), autodiff or a later pass builds it (gradient ops, optimizer
/// updates, fp8 GEMMs), or it is a leaf or structure of the graph (constants, parameters,
/// fusion groups). Every op has a GradientOpInterface rule or this trait (OpCoverageTest).
def NoGradient : NativeOpTrait<"NoGradient"> {
  let cppNamespace = "::mlir::precis";
}
/// The op copies each result element from the operand element at the same linear index
/// (reshape) or at its broadcast position (expand): no arithmetic, so a fused kernel computes
/// it by indexing and fusion chains it like a `PerElement` op.
def IndexedCopy : NativeOpTrait<"IndexedCopy"> {
  let cppNamespace = "::mlir::precis";
}

#endif // PRECIS_INTERFACES_TD
