//===- PrecisAttrs.td - precis attributes ------------------*- tablegen -*-===//
//
// Attributes of the `precis` dialect. `#precis.decision` is the contract between the
// precision passes (docs/design.md decision 3): `precis-assign-precision` writes it on every op,
// `precis-insert-casts` applies it, and the report prints it. Its fields are typed so that
// readers never parse strings.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_ATTRS_TD
#define PRECIS_ATTRS_TD

include "precis/Dialect/Precis/IR/PrecisBase.td"
include "precis/Dialect/Precis/IR/PrecisEnums.td"

def Precis_DecisionAttr : AttrDef<Precis_Dialect, "Decision"> {
  let mnemonic = "decision";
  let summary = "the precision an op runs in, the rule that chose it and why";
  let description = [{
    `in` holds the element type of the op's float operands: one type for all of them, or one
    per float operand when they differ (an fp8 GEMM with an E5M2 gradient operand); empty when
    the op has no float operand. `out` is the element type of its float results, `acc` the
    accumulation type of a contraction; both may be absent. `rule` is the stable id of the
    rule that decided (with `ruleIndex` the 1-based number of a `--rules` entry for `user`),
    `reason` the human-readable evidence.

    ```mlir
    #precis.decision<compute bf16 -> bf16 acc f32, "compute-class op: bf16 operands, ...">
    #precis.decision<compute (f8E5M2, f8E4M3FN) -> bf16 acc f32, "compute-class GEMM ...">
    #precis.decision<user.2 bf16 -> bf16, "user rule 2 (op 'softmax'): bf16">
    #precis.decision<value -> f32, "stored in fp32; cast once where a lower precision uses it">
    #precis.decision<"no-float", "no float operands or results">
    ```

    A rule id that is not a bare identifier (`no-float`) is printed as a string.
  }];
  let parameters = (ins
    EnumParameter<Precis_DecisionRule>:$rule,
    "unsigned":$ruleIndex,
    ArrayRefParameter<"::mlir::Type">:$in,
    "::mlir::Type":$out,
    "::mlir::Type":$acc,
    StringRefParameter<"the evidence for the decision">:$reason
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The rule's id as the report prints it: `compute`, `range.fp16`, `user.2`, ...
    std::string getRuleName() const;
    /// The element type of the `index`-th float operand; null when there is none.
    ::mlir::Type getOperandType(unsigned index) const;
  }];
}

#endif // PRECIS_ATTRS_TD
