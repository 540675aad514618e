// RUN: precis-opt %s -precis-assign-precision="precision=auto tolerance=0.05" | FileCheck %s --check-prefix=AUTO

// precision=auto reads the measurements precis-calibrate leaves in the module's
// precis.calibration attribute (node, op, amax, and the relative error against fp32 in bf16
// and in fp8).

module attributes {precis.calibration = [
    {node = "fine", op = "matmul", amax = 3.5 : f64, bf16 = 0.002 : f64, fp8 = 0.03 : f64},
    {node = "noisy", op = "matmul", amax = 900.0 : f64, bf16 = 0.004 : f64, fp8 = 0.2 : f64},
    {node = "fragile", op = "matmul", amax = 1.0e5 : f64, bf16 = 0.3 : f64, fp8 = 0.9 : f64}]} {
// auto: GEMMs start in fp8 and the calibration evidence (measured error against fp32 per
// node) moves them to bf16 or fp32 when it exceeds the tolerance; the reason quotes it.
// AUTO-LABEL: func.func @calibrated
// AUTO: precis.matmul {{.*}}in = "fp8e4m3,fp8e4m3", out = "bf16", reason = "compute-class GEMM 16x16x16: fp8 operands (E4M3 x E4M3), fp32 accumulation, bf16 result (calibrated amax 3.5, error 0.03 <= 0.05)", rule = "calibrated"
// AUTO: precis.matmul {{.*}}in = "bf16", out = "bf16", reason = "calibrated: fp8 error 0.2 > tolerance 0.05 (amax 900): bf16 operands, fp32 accumulation", rule = "calibrated.error"
// AUTO: precis.matmul {{.*}}in = "fp32", out = "fp32", reason = "calibrated: bf16 error 0.3 > tolerance 0.05: fp32", rule = "calibrated.error"
func.func @calibrated(%a: tensor<16x16xf32>, %b: tensor<16x16xf32>) -> tensor<16x16xf32> {
  %0 = precis.matmul %a, %b : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32> loc("fine")
  %1 = precis.matmul %0, %b : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32> loc("noisy")
  %2 = precis.matmul %1, %b : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32> loc("fragile")
  return %2 : tensor<16x16xf32>
}
}

