// cublaslt_gemm.cu - raw cuBLASLt GEMM throughput, the baseline for precis's GEMMs.
//
// Times D = A·B with cuBLASLt at M = N = K = 4096 and 8192, in bf16 (bf16 operands and result,
// fp32 compute) and fp8 (e4m3 operands, unit scales, bf16 result, fp32 compute), in the TN
// layout cuBLASLt's fp8 path requires (and bf16's fastest), with the heuristic's first
// algorithm and a 32 MiB workspace, the same setup as the runtime's Gemm.cpp. Each case: 5
// warm-up calls, then 50 timed with CUDA events. One JSON object per line on stdout:
//   {"dtype":"bf16","m":4096,"n":4096,"k":4096,"ms":...,"tflops":...}
// Built by `scripts/gpu-check pack` with nvcc; run by `scripts/gpu-check run`.
//
//   nvcc -O2 -gencode=arch=compute_90a,code=sm_90a cublaslt_gemm.cu -lcublasLt -o cublaslt-gemm

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#define CHECK_CUDA(x)                                                                             \
  do {                                                                                            \
    cudaError_t e_ = (x);                                                                         \
    if (e_ != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_));   \
      std::exit(1);                                                                               \
    }                                                                                             \
  } while (0)
#define CHECK_LT(x)                                                                               \
  do {                                                                                            \
    cublasStatus_t s_ = (x);                                                                      \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                            \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cublasLtGetStatusName(s_)); \
      std::exit(1);                                                                               \
    }                                                                                             \
  } while (0)

namespace {

// Fills n elements of `bytes` each with small values (fp8: 0x38 = 1.0 e4m3 scaled patterns;
// bf16: values in [-1, 1)) so the products stay finite; the values do not affect the speed.
__global__ void fill(unsigned char *p, size_t bytes, int elementSize) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < bytes / elementSize;
       i += (size_t)gridDim.x * blockDim.x) {
    const float v = (float)((i * 2654435761u) % 2048) / 1024.0f - 1.0f;
    if (elementSize == 2)
      reinterpret_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16(v);
    else
      reinterpret_cast<__nv_fp8_e4m3 *>(p)[i] = __nv_fp8_e4m3(v);
  }
}

void bench(cublasLtHandle_t lt, bool fp8, int n, void *workspace, size_t workspaceSize) {
  const int m = n, k = n;
  const cudaDataType_t ab = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
  const int abSize = fp8 ? 1 : 2;
  void *a, *b, *d;
  CHECK_CUDA(cudaMalloc(&a, (size_t)m * k * abSize));
  CHECK_CUDA(cudaMalloc(&b, (size_t)k * n * abSize));
  CHECK_CUDA(cudaMalloc(&d, (size_t)m * n * 2));
  fill<<<1024, 256>>>((unsigned char *)a, (size_t)m * k * abSize, abSize);
  fill<<<1024, 256>>>((unsigned char *)b, (size_t)k * n * abSize, abSize);
  CHECK_CUDA(cudaGetLastError());

  // Column-major: D[m, n] = A^T[m, k] · B[k, n], A stored [k, m] (TN).
  cublasLtMatmulDesc_t desc;
  CHECK_LT(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t t = CUBLAS_OP_T, nt = CUBLAS_OP_N;
  CHECK_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)));
  CHECK_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof(nt)));
  float *unit = nullptr;
  if (fp8) {
    const float one = 1.0f;
    CHECK_CUDA(cudaMalloc(&unit, sizeof(float)));
    CHECK_CUDA(cudaMemcpy(unit, &one, sizeof(float), cudaMemcpyHostToDevice));
    CHECK_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &unit,
                                            sizeof(unit)));
    CHECK_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &unit,
                                            sizeof(unit)));
  }
  cublasLtMatrixLayout_t la, lb, ld;
  CHECK_LT(cublasLtMatrixLayoutCreate(&la, ab, k, m, k));
  CHECK_LT(cublasLtMatrixLayoutCreate(&lb, ab, k, n, k));
  CHECK_LT(cublasLtMatrixLayoutCreate(&ld, CUDA_R_16BF, m, n, m));

  cublasLtMatmulPreference_t pref;
  CHECK_LT(cublasLtMatmulPreferenceCreate(&pref));
  CHECK_LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                &workspaceSize, sizeof(workspaceSize)));
  cublasLtMatmulHeuristicResult_t heuristic;
  int found = 0;
  CHECK_LT(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, ld, ld, pref, 1, &heuristic, &found));
  if (found == 0) {
    std::fprintf(stderr, "no cuBLASLt algorithm for %s %d^3\n", fp8 ? "fp8" : "bf16", n);
    std::exit(1);
  }

  const float alpha = 1.0f, beta = 0.0f;
  auto call = [&] {
    CHECK_LT(cublasLtMatmul(lt, desc, &alpha, a, la, b, lb, &beta, d, ld, d, ld,
                            &heuristic.algo, workspace, workspaceSize, 0));
  };
  for (int i = 0; i < 5; ++i)
    call();
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  const int iterations = 50;
  CHECK_CUDA(cudaEventRecord(start));
  for (int i = 0; i < iterations; ++i)
    call();
  CHECK_CUDA(cudaEventRecord(stop));
  CHECK_CUDA(cudaEventSynchronize(stop));
  float total = 0;
  CHECK_CUDA(cudaEventElapsedTime(&total, start, stop));
  const double ms = total / iterations;
  const double tflops = 2.0 * m * n * k / (ms * 1e-3) / 1e12;
  std::printf("{\"dtype\":\"%s\",\"m\":%d,\"n\":%d,\"k\":%d,\"ms\":%.5f,\"tflops\":%.1f}\n",
              fp8 ? "fp8" : "bf16", m, n, k, ms, tflops);

  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(ld);
  cublasLtMatmulDescDestroy(desc);
  cudaFree(unit);
  cudaFree(a);
  cudaFree(b);
  cudaFree(d);
}

} // namespace

int main() {
  cublasLtHandle_t lt;
  CHECK_LT(cublasLtCreate(&lt));
  const size_t workspaceSize = 32u << 20;
  void *workspace;
  CHECK_CUDA(cudaMalloc(&workspace, workspaceSize));
  for (bool fp8 : {false, true})
    for (int n : {4096, 8192})
      bench(lt, fp8, n, workspace, workspaceSize);
  cudaFree(workspace);
  cublasLtDestroy(lt);
  return 0;
}
