func.func @forward(%x: tensor<16x16xf32> {precis.onnx_name = "x"}, %t: tensor<16xi64> {precis.onnx_name = "t"}) -> (tensor<f32> {precis.onnx_name = "loss"}) {
  %w1 = precis.parameter "fc1.weight" = dense<0.5> : tensor<16x16xf32>
  %b1 = precis.parameter "fc1.bias" = dense<0.1> : tensor<16xf32>
  %w2 = precis.parameter "fc2.weight" = dense<0.25> : tensor<16x16xf32>
  %b2 = precis.parameter "fc2.bias" = dense<0.1> : tensor<16xf32>
  %h = precis.gemm %x, %w1, %b1 {transpose_b = true} : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<16x16xf32>
  %r = precis.relu %h : tensor<16x16xf32>
  %y = precis.gemm %r, %w2, %b2 {transpose_b = true} : (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<16x16xf32>
  %l, %lp = precis.softmax_cross_entropy mean %y, %t : (tensor<16x16xf32>, tensor<16xi64>) -> (tensor<f32>, tensor<16x16xf32>)
  return %l : tensor<f32>
}
