// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=bf16 | FileCheck %s --check-prefix=BF16
// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=fp16 | FileCheck %s --check-prefix=FP16
// RUN: precis-opt %s -split-input-file -precis-assign-precision=precision=fp8 | FileCheck %s --check-prefix=FP8
// RUN: precis-opt %s -split-input-file -precis-assign-precision="precision=bf16 rules=%S/Inputs/rules.json" | FileCheck %s --check-prefix=RULES
// RUN: not precis-opt %s -precis-assign-precision="precision=bf16 rules=%S/Inputs/missing.json" -o /dev/null 2>&1 | FileCheck %s --check-prefix=NORULES

// NORULES: cannot read the rules file '{{.*}}missing.json'

// Compute ops go low with fp32 accumulation; the bias add follows the matmul; softmax, the
// reduction and the loss stay fp32; the residual add has an fp32 input and stays fp32 (what
// a sensitive op stores when its readers all read bf16: storage-precision.mlir).
// BF16-LABEL: func.func @forward
// BF16: precis.parameter "w" {{.*}}#precis.decision<value 
// BF16: precis.matmul {{.*}}precis.decision = #precis.decision<compute bf16 -> bf16 acc f32, "compute-class op: bf16 operands, fp32 accumulation">
// BF16: precis.add {{.*}}precis.decision = #precis.decision<follow bf16 -> bf16, "follow-class op: inputs in bf16">
// BF16: precis.gelu {{.*}} bf16 -> bf16,
// BF16: precis.add {{.*}} f32 -> f32, "follow-class op: an fp32 input"
// BF16: precis.softmax {{.*}}<sensitive f32 -> f32, "sensitive-class op (softmax): fp32">
// BF16: precis.reduce_sum {{.*}}#precis.decision<sensitive 
// FP8-LABEL: func.func @forward
// FP8: precis.matmul {{.*}} (f8E4M3FN, f8E4M3FN) -> bf16{{.*}}, "compute-class GEMM 16x32x16: fp8 operands (E4M3 x E4M3), fp32 accumulation, bf16 result"
// FP8: precis.add {{.*}} bf16 -> bf16,
// RULES-LABEL: func.func @forward
// RULES: precis.matmul {{.*}}<user.1 f32 -> f32{{.*}}, "user rule 1 (op 'matmul', node 'proj*'): fp32">
// RULES: precis.softmax {{.*}}<user.2 bf16 -> bf16, "user rule 2 (op 'softmax'): bf16">
func.func @forward(%x: tensor<16x16xf32>, %r: tensor<16x32xf32>) -> tensor<f32> {
  %w = precis.parameter "w" = dense<0.5> : tensor<16x32xf32>
  %b = precis.parameter "b" = dense<0.1> : tensor<32xf32>
  %y = precis.matmul %x, %w : (tensor<16x16xf32>, tensor<16x32xf32>) -> tensor<16x32xf32> loc("proj")
  %yb = precis.add %y, %b : (tensor<16x32xf32>, tensor<32xf32>) -> tensor<16x32xf32>
  %g = precis.gelu %yb : tensor<16x32xf32>
  %h = precis.add %g, %r : (tensor<16x32xf32>, tensor<16x32xf32>) -> tensor<16x32xf32>
  %s = precis.softmax %h : tensor<16x32xf32>
  %l = precis.reduce_sum %s {axes = array<i64>, keepdims = false} : (tensor<16x32xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// Range safety: under fp16 an attention mask holding -1e9 never reaches fp16; under bf16 it
// may (bf16 has fp32's range).
// FP16-LABEL: func.func @masked
// FP16: precis.matmul {{.*}} f16 -> f16
// FP16: precis.where {{.*}}<range.fp16 f32 -> f32, "operand 2 is a constant holding |value| 1e+09, outside fp16's range (max 65504): kept in fp32">
// BF16-LABEL: func.func @masked
// BF16: precis.where {{.*}} bf16 -> bf16,
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
// FP8: precis.matmul {{.*}}<fp8.dims bf16 -> bf16{{.*}}, "GEMM 4x10x16 (MxNxK): fp8 tensor cores need every dimension a multiple of 16: bf16 operands, fp32 accumulation">
// FP8: precis.matmul {{.*}} (f8E5M2, f8E4M3FN){{.*}}(gradient E5M2 x E4M3)
func.func @odd(%x: tensor<4x16xf32>, %w: tensor<16x10xf32>, %a: tensor<16x16xf32>, %b: tensor<16x16xf32>) -> (tensor<4x10xf32>, tensor<16x16xf32>) {
  %y = precis.matmul %x, %w : (tensor<4x16xf32>, tensor<16x10xf32>) -> tensor<4x10xf32>
  %seed = precis.constant dense<1.0> : tensor<16x16xf32> {precis.loss_seed, precis.phase = "backward"}
  %g = precis.mul %seed, %a {precis.phase = "backward"} : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %dg = precis.matmul %g, %b {precis.phase = "backward"} : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  return %y, %dg : tensor<4x10xf32>, tensor<16x16xf32>
}
