// RUN: precis-opt %s -split-input-file -precis-autodiff -verify-diagnostics

// expected-error @+1 {{@forward has 2 results; name the loss with the 'loss' option}}
func.func @forward(%x: tensor<2xf32>) -> (tensor<f32>, tensor<2xf32>) {
  %l = precis.reduce_sum %x {axes = array<i64>, keepdims = false} : (tensor<2xf32>) -> tensor<f32>
  return %l, %x : tensor<f32>, tensor<2xf32>
}

// -----

// expected-error @+1 {{the loss must be a one-element float tensor, got 'tensor<2xf32>'}}
func.func @forward(%x: tensor<2xf32>) -> tensor<2xf32> {
  return %x : tensor<2xf32>
}

// -----

// expected-error @+1 {{precis-autodiff expects a func.func @forward}}
module {
  func.func @main() {
    return
  }
}
