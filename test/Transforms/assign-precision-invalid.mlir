// RUN: precis-opt %s -split-input-file -verify-diagnostics -precis-assign-precision="precision=auto" -o /dev/null
// RUN: not precis-opt %s -precis-assign-precision="precision=fp12" 2>&1 | FileCheck %s --check-prefix=ENUM

// The precision is an enum option: an unknown one is rejected when the option is parsed.
// ENUM: for the --precision option: Cannot find option named 'fp12'!

// Without measurements, auto has nothing to decide from.
// expected-error @+1 {{precision=auto needs calibration evidence: run precis-calibrate first}}
module {
  func.func @uncalibrated(%a: tensor<16x16xf32>) -> tensor<16x16xf32> {
    %0 = precis.matmul %a, %a : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
    return %0 : tensor<16x16xf32>
  }
}
