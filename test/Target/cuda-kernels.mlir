// REQUIRES: cuda
// RUN: rm -rf %t && precis compile %s -o %t.precis --target cuda --dump-kernels %t 2>&1 | FileCheck %s --check-prefix=COMPILE
// RUN: cat %t/precis_elementwise_*.cu | FileCheck %s --check-prefix=EW
// RUN: cat %t/precis_row_softmax_*.cu | FileCheck %s --check-prefix=ROW
// RUN: cat %t/precis_reduce_sum_*.cu | FileCheck %s --check-prefix=REDUCE
// RUN: ls %t/*.ptx | xargs -n1 %ptxas -arch=sm_90a -o /dev/null

// The GEMM with its bias and ReLU is one cuBLASLt op; the cast, residual add and softmax one
// row kernel; the column sum and the bf16 chain one kernel each.
// COMPILE: wrote {{.*}}: 4 ops

// A bf16 chain without broadcasting: 16-byte vector accesses (8 x bf16), fp32 math, the
// intermediate rounded to bf16 as the unfused op would store it.
// EW: extern "C" __global__ void __launch_bounds__(256) precis_elementwise_{{[0-9a-f]+}}(const unsigned short *in0, unsigned short *out0)
// EW: for (long long j = {{.*}}; j < 1024LL;
// EW: precis_copy_vec<unsigned short, 8>(x0, in0 + base);
// EW: const float v{{[0-9]+}} = precis::round_to_bf16((precis::bf16_to_float(x0[e]) * precis::bf16_to_float(x0[e])));
// EW: = precis::round_to_bf16(precis::rt::cpu::fastExp(v{{[0-9]+}}));
// EW: y0[e] = precis::float_to_bf16(v{{[0-9]+}});
// EW: precis_copy_vec<unsigned short, 8>(out0 + base, y0);

// One block per row of 128: the prologue (cast, add) recomputed in each pass, block-wide
// max and sum, then the write pass.
// ROW: precis_row_softmax_{{[0-9a-f]+}}(const unsigned short *in0, const float *in1, float *out0)
// ROW: const long long row = blockIdx.x;
// ROW: for (long long c = threadIdx.x; c < 128LL; c += blockDim.x) {
// ROW: precis::bf16_to_float(in0[i])
// ROW: m = precis_block_reduce(m, PrecisMax(), -__int_as_float(0x7f800000));
// ROW: s = precis_block_reduce(s, PrecisSum(), (float)0);
// ROW: const float red = (float)(expf(xr - m) / s);
// ROW: out0[i] = red;

// A sum over the leading axis: one thread per column.
// REDUCE: precis_reduce_sum_{{[0-9a-f]+}}(const float *in0, float *out0)
// REDUCE: for (long long q = 0; q < 64LL; ++q) {
// REDUCE: off += (rem % 64LL) * 128LL;
func.func @forward(%x: tensor<64x128xbf16>, %w: tensor<128x128xbf16>, %b: tensor<128xbf16>,
                   %r: tensor<64x128xf32>) -> (tensor<64x128xf32>, tensor<1x128xf32>, tensor<64x128xbf16>) {
  %0 = precis.matmul %x, %w : (tensor<64x128xbf16>, tensor<128x128xbf16>) -> tensor<64x128xbf16>
  %1 = precis.add %0, %b : (tensor<64x128xbf16>, tensor<128xbf16>) -> tensor<64x128xbf16>
  %2 = precis.relu %1 : tensor<64x128xbf16>
  %3 = precis.cast %2 : tensor<64x128xbf16> to tensor<64x128xf32>
  %4 = precis.add %3, %r : (tensor<64x128xf32>, tensor<64x128xf32>) -> tensor<64x128xf32>
  %5 = precis.softmax %4 : tensor<64x128xf32>
  %6 = precis.reduce_sum %5 {axes = array<i64: 0>} : (tensor<64x128xf32>) -> tensor<1x128xf32>
  %7 = precis.mul %x, %x : (tensor<64x128xbf16>, tensor<64x128xbf16>) -> tensor<64x128xbf16>
  %8 = precis.exp %7 : tensor<64x128xbf16>
  return %5, %6, %8 : tensor<64x128xf32>, tensor<1x128xf32>, tensor<64x128xbf16>
}
