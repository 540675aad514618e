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
    Declares the precision class of an op (compute, sensitive or follow; DESIGN.md decision 2).
    Ops get the method from one of the `ComputePrecision`, `SensitivePrecision` or
    `FollowPrecision` traits, so the class is stated next to the op's definition and the
    precision passes never switch over op names.
  }];
  let methods = [
    StaticInterfaceMethod<"The precision class of this op.",
      "::mlir::precis::PrecisionClass", "getPrecisionClass">,
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

#endif // PRECIS_INTERFACES_TD
