// RUN: precis-opt %s -split-input-file -verify-diagnostics -precis-loss-scaling
// RUN: not precis-opt %s -split-input-file -precis-loss-scaling='growth-factor=1' 2>&1 | FileCheck %s --check-prefix=OPTS

// OPTS: loss scaling needs init-scale > 0, growth-factor > 1, 0 < backoff-factor < 1 and growth-interval >= 1

// expected-error @+1 {{precis-loss-scaling expects a func.func @train_step (run precis-autodiff and precis-optimizer first)}}
module {
  func.func @forward(%x: tensor<f32>) -> tensor<f32> {
    return %x : tensor<f32>
  }
}

// -----

// expected-error @+1 {{@train_step has no loss seed (a precis.constant with precis.loss_seed, built by precis-autodiff)}}
func.func @train_step(%w: tensor<2xf32> {precis.param_name = "w"},
                      %step: tensor<f32> {precis.state_name = "step"}) -> (tensor<2xf32> {precis.updates = "w"}) {
  return %w : tensor<2xf32>
}

// -----

// expected-error @+1 {{@train_step already has a loss scale}}
func.func @train_step(%step: tensor<f32> {precis.state_name = "step"},
                      %s: tensor<f32> {precis.state_name = "loss_scale"}) -> tensor<f32> {
  return %s : tensor<f32>
}
