//===- PrecisBase.td - precis dialect definition -----------*- tablegen -*-===//
//
// The `precis` dialect: the tensor-level IR that ONNX models are imported into and that the
// precision, autodiff and fusion passes rewrite. Values are builtin ranked tensors with static
// shapes; the precision of an op is the element type of its operands (docs/design.md decision 1).
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_BASE_TD
#define PRECIS_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Precis_Dialect : Dialect {
  let name = "precis";
  let cppNamespace = "::mlir::precis";
  let summary = "Tensor IR for mixed-precision training and inference of ONNX models";
  let description = [{
    Ops of the `precis` dialect work on statically shaped, ranked builtin tensors. Each op
    declares its precision class (compute, sensitive or follow) through the
    `PrecisionOpInterface`; the precision passes read that class instead of matching op names.
  }];
  let hasConstantMaterializer = 1;
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

//===----------------------------------------------------------------------===//
// Type constraints.
//===----------------------------------------------------------------------===//

/// Floating-point element types precis computes in. f8 types carry their scale separately.
def Precis_AnyFloat : AnyTypeOf<[F64, F32, F16, BF16, F8E4M3FN, F8E5M2]>;
def Precis_AnyInt : AnyTypeOf<[I1, I8, I32, I64, UI8]>;

def Precis_FloatTensor : StaticShapeTensorOf<[Precis_AnyFloat]>;
def Precis_IndexTensor : StaticShapeTensorOf<[I32, I64]>;
def Precis_BoolTensor : StaticShapeTensorOf<[I1]>;
def Precis_Tensor : StaticShapeTensorOf<[Precis_AnyFloat, Precis_AnyInt]>;
/// Element-wise arithmetic runs on floats and on integers (shape arithmetic, index math).
def Precis_NumericTensor : StaticShapeTensorOf<[Precis_AnyFloat, I32, I64]>;

#endif // PRECIS_BASE_TD
