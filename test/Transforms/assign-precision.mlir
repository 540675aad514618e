// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=bf16 | FileCheck %s --check-prefix=BF16
// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=fp16 | FileCheck %s --check-prefix=FP16
// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=fp8 | FileCheck %s --check-prefix=FP8
// RUN: precis-opt %s -split-input-file -precis-assign-precision="precision=bf16 rules=%S/Inputs/rules.json" | FileCheck %s --check-prefix=RULES
// RUN: not precis-opt %s -precis-assign-precision="precision=bf16 rules=%S/Inputs/missing.json" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NORULES

// NORULES: cannot read the rules file '{{.*}}missing.json'

// Compute ops go low with fp32 accumulation; the bias add follows the matmul; softmax, the
// reduction and the loss stay fp32; the residual add has an fp32 input and stays fp32.
// BF16-LABEL: func.func @forward
// BF16: precis.parameter "w" {{.*}}rule = "value"
// BF16: precis.matmul {{.*}}precis.decision = {acc = "fp32", in = "bf16", out = "bf16", reason = "compute-class op: bf16 operands, fp32 accumulation", rule = "compute"}
// BF16: precis.add {{.*}}precis.decision = {in = "bf16", out = "bf16", reason = "follow-class op: inputs in bf16", rule = "follow"}
// BF16: precis.gelu {{.*}}in = "bf16", out = "bf16"
// BF16: precis.add {{.*}}in = "fp32", out = "fp32", reason = "follow-class op: an fp32 input"
// BF16: precis.softmax {{.*}}in = "fp32", out = "fp32", reason = "sensitive-class op (softmax): fp32", rule = "sensitive"
// BF16: precis.reduce_sum {{.*}}rule = "sensitive"
// FP8-LABEL: func.func @forward
// FP8: precis.matmul {{.*}}in = "fp8e4m3,fp8e4m3", out = "bf16", reason = "compute-class GEMM 16x32x16: fp8 operands (E4M3 x E4M3), fp32 accumulation, bf16 result"
// FP8: precis.add {{.*}}in = "bf16", out = "bf16"
// RULES-LABEL: func.func @forward
// RULES: precis.matmul {{.*}}in = "fp32", out = "fp32", reason = "user rule 1 (op 'matmul', node 'proj*'): fp32", rule = "user.1"
// RULES: precis.softmax {{.*}}in = "bf16", out = "bf16", reason = "user rule 2 (op 'softmax'): bf16", rule = "user.2"
func.func @forward(%x: tensor<16x16xf32>, %r: tensor<16x32xf32>) -> tensor<f32> {
  %w = precis.parameter "w" = dense<0.5> : tensor<16x32xf32>
  %b = precis.parameter "b" = dense<0.1> : tensor<32xf32>
  %y = precis.matmul %x, %w : (tensor<16x16xf32>, tensor<16x32xf32>) -> tensor<16x32xf32> loc("proj")
  %yb = precis.add %y, %b : (tensor<16x32xf32>, tensor<32xf32>) -> tensor<16x32xf32>
  %g = precis.gelu %yb : tensor<16x32xf32>
  %x2 = precis.softmax %r : tensor<16x32xf32>
  %h = precis.add %g, %x2 : (tensor<16x32xf32>, tensor<16x32xf32>) -> tensor<16x32xf32>
  %s = precis.softmax %h : tensor<16x32xf32>
  %l = precis.reduce_sum %s {axes = array<i64>, keepdims = false} : (tensor<16x32xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// Range safety: under fp16 an attention mask holding -1e9 never reaches fp16; under bf16 it
// may (bf16 has fp32's range).
// FP16-LABEL: func.func @masked
// FP16: precis.matmul {{.*}}in = "fp16", out = "fp16"
// FP16: precis.where {{.*}}in = "fp32", out = "fp32", reason = "operand 2 is a constant holding |value| 1e+09, outside fp16's range (max 65504): kept in fp32", rule = "range.fp16"
// BF16-LABEL: func.func @masked
// BF16: precis.where {{.*}}in = "bf16", out = "bf16"
func.func @masked(%q: tensor<8x16xf32>, %k: tensor<8x16xf32>, %m: tensor<8x8xi1>) -> tensor<8x8xf32> {
  %s = precis.matmul %q, %k {transpose_rhs = true} : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x8xf32>
  %ninf = precis.constant dense<-1.0e9> : tensor<f32>
  %w = precis.where %m, %s, %ninf : (tensor<8x8xi1>, tensor<8x8xf32>, tensor<f32>) -> tensor<8x8xf32>
  %p = precis.softmax %w : tensor<8x8xf32>
  return %p : tensor<8x8xf32>
}

// -----

// fp8: a GEMM whose dimensions are not multiples of 16 runs in bf16, and says why; gradient
// operands (computed from the loss seed) are E5M2.
// FP8-LABEL: func.func @odd
// FP8: precis.matmul {{.*}}in = "bf16", out = "bf16", reason = "GEMM 4x10x16 (MxNxK): fp8 tensor cores need every dimension a multiple of 16: bf16 operands, fp32 accumulation", rule = "fp8.dims"
// FP8: precis.matmul {{.*}}in = "fp8e5m2,fp8e4m3"{{.*}}(gradient E5M2 x E4M3)
func.func @odd(%x: tensor<4x16xf32>, %w: tensor<16x10xf32>, %a: tensor<16x16xf32>, %b: tensor<16x16xf32>) -> (tensor<4x10xf32>, tensor<16x16xf32>) {
  %y = precis.matmul %x, %w : (tensor<4x16xf32>, tensor<16x10xf32>) -> tensor<4x10xf32>
  %seed = precis.constant dense<1.0> : tensor<16x16xf32> {precis.loss_seed, precis.phase = "backward"}
  %g = precis.mul %seed, %a {precis.phase = "backward"} : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %dg = precis.matmul %g, %b {precis.phase = "backward"} : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  return %y, %dg : tensor<4x10xf32>, tensor<16x16xf32>
}
