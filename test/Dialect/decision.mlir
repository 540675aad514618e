// RUN: precis-opt %s -split-input-file -verify-diagnostics | FileCheck %s
// RUN: precis-opt %s -split-input-file -verify-diagnostics | precis-opt -split-input-file | FileCheck %s

// #precis.decision prints as it parses: the rule id, the operand types (one for all float
// operands, or one per operand), `->` the result type, `acc` the accumulation type, and the
// reason. An id that is not a bare identifier is a string.
// CHECK-LABEL: func.func @decisions
// CHECK-SAME: d1 = #precis.decision<compute bf16 -> bf16 acc f32, "compute-class op">
// CHECK-SAME: d2 = #precis.decision<compute (f8E5M2, f8E4M3FN, bf16) -> bf16 acc f32, "fp8 GEMM">
// CHECK-SAME: d3 = #precis.decision<user.3 f16 -> f16, "user rule 3">
// CHECK-SAME: d4 = #precis.decision<value -> f32, "stored in fp32">
// CHECK-SAME: d5 = #precis.decision<"no-float", "no float operands or results">
// CHECK-SAME: d6 = #precis.decision<range.fp16 f32 -> f32, "a \22quoted\22 reason">
func.func @decisions() attributes {
    d1 = #precis.decision<compute bf16 -> bf16 acc f32, "compute-class op">,
    d2 = #precis.decision<compute (f8E5M2, f8E4M3FN, bf16) -> bf16 acc f32, "fp8 GEMM">,
    d3 = #precis.decision<user.3 f16 -> f16, "user rule 3">,
    d4 = #precis.decision<value -> f32, "stored in fp32">,
    d5 = #precis.decision<"no-float", "no float operands or results">,
    d6 = #precis.decision<range.fp16 f32 -> f32, "a \"quoted\" reason">} {
  return
}

// -----

// expected-error @+1 {{unknown decision rule 'fastest'}}
func.func @unknown_rule() attributes {d = #precis.decision<fastest bf16 -> bf16, "r">}

// -----

// expected-error @+1 {{unknown decision rule 'user'}}
func.func @user_without_index() attributes {d = #precis.decision<user bf16 -> bf16, "r">}

// -----

// expected-error @+1 {{expected 'user.N' with N >= 1}}
func.func @user_zero() attributes {d = #precis.decision<user.0 bf16 -> bf16, "r">}

// -----

// expected-error @+1 {{decision precisions must be float types}}
func.func @integer_precision() attributes {d = #precis.decision<follow i32 -> i32, "r">}
