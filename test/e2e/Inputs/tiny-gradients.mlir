// A regression whose gradients are ~1e-9: below fp16's smallest subnormal (6e-8), so fp16
// without loss scaling flushes every gradient to zero; test/e2e/fp16-loss-scaling.test.
func.func @forward(%x: tensor<16x16xf32> {precis.onnx_name = "x"}, %t: tensor<16x16xf32> {precis.onnx_name = "t"}) -> (tensor<f32> {precis.onnx_name = "loss"}) {
  %w = precis.parameter "w" = dense<0.01> : tensor<16x16xf32>
  %y = precis.matmul %x, %w : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %d = precis.sub %y, %t : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %sq = precis.mul %d, %d : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %m = precis.reduce_mean %sq {axes = array<i64>, keepdims = false} : (tensor<16x16xf32>) -> tensor<f32>
  %c = precis.constant dense<1.0e-6> : tensor<f32>
  %l = precis.mul %m, %c : (tensor<f32>, tensor<f32>) -> tensor<f32>
  return %l : tensor<f32>
}
