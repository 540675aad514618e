// RUN: precis-opt %s -split-input-file -precis-optimizer -verify-diagnostics
// RUN: not precis-opt %s -split-input-file -precis-optimizer='optimizer=rmsprop' 2>&1 | FileCheck %s --check-prefix=KIND
// RUN: not precis-opt %s -split-input-file -precis-optimizer='optimizer=adam nesterov=true' 2>&1 | FileCheck %s --check-prefix=NESTEROV

// The optimizer is an enum option: an unknown one is rejected when the option is parsed.
// KIND: for the --optimizer option: Cannot find option named 'rmsprop'!
// NESTEROV: nesterov needs sgd with a momentum and zero dampening

// expected-error @+1 {{precis-optimizer expects a func.func @gradients (run precis-autodiff first)}}
module {
  func.func @forward(%x: tensor<f32>) -> tensor<f32> {
    return %x : tensor<f32>
  }
}

// -----

// expected-error @+1 {{the module already has a @train_step}}
module {
  func.func @gradients(%x: tensor<f32>) -> tensor<f32> {
    return %x : tensor<f32>
  }
  func.func @train_step(%x: tensor<f32>) -> tensor<f32> {
    return %x : tensor<f32>
  }
}

// -----

module {
  // expected-error @+1 {{parameter 'w' is 'tensor<2xf16>'; the optimizer updates f32 parameters}}
  func.func @gradients(%w: tensor<2xf16> {precis.param_name = "w"}) -> (tensor<f32>, tensor<2xf16> {precis.grad_of = "w"}) {
    %l = precis.constant dense<0.0> : tensor<f32>
    return %l, %w : tensor<f32>, tensor<2xf16>
  }
}
