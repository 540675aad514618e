//===- FakeCuda.cpp - a host-memory stand-in for libcuda and cuBLASLt -----===//
//
// Lets the CUDA backend's executor run on machines without a GPU, so its plumbing is tested
// everywhere: device memory is host memory, streams run work at once (or record it while a
// stream captures a graph, to replay on cuGraphLaunch), kernels are host functions looked up by
// entry-point name (the device tests' kernels), and cublasLtMatmul is a column-major reference
// that honours the descriptor and layout attributes the backend sets (transposes, strided
// batches, alpha/beta and C, scale pointers, bias/ReLU/GELU epilogues). It checks the backend's
// row-major to column-major mapping and batching against the CPU backend; it cannot check the
// real libraries' behaviour, which scripts/gpu-check does on a GPU.
//
// A compiled artifact's generated kernels are not among the test kernels: loading one fails
// (CUDA_ERROR_NOT_FOUND), unless PRECIS_FAKE_CUDA_ANY_KERNEL=1, which makes every unknown entry
// point a kernel that does nothing. Then such an artifact binds and runs, computing nothing
// meaningful: enough to test what the executor does around the kernels (the CudaDataParallelFake
// test: the all_reduce calls a compiled data-parallel step makes).
//
// Built as one shared library that the test directory links as libcuda.so.1 and
// libcublasLt.so.13 (both names load the same object, so the two halves share state); only
// the RuntimeCudaFake test puts that directory on LD_LIBRARY_PATH.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/numerics.h"

#include <cublasLt.h>
#include <cuda.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace {

using Work = std::function<void()>;

struct FakeStream {
  bool capturing = false;
  std::vector<Work> recorded;
};
struct FakeGraph {
  std::vector<Work> work;
};

long long graphLaunches = 0;
long long eventWaits = 0; // cuStreamWaitEvent calls

/// Runs `w` now, or records it when `stream` is capturing.
void submit(CUstream stream, Work w) {
  auto *s = reinterpret_cast<FakeStream *>(stream);
  if (s && s->capturing)
    s->recorded.push_back(std::move(w));
  else
    w();
}

void *ptr(CUdeviceptr p) { return reinterpret_cast<void *>(p); }

/// A kernel reads its parameters when it is launched (as the driver copies them) and returns
/// the work to run.
using HostKernel = Work (*)(void **params, unsigned threads);
template <typename T> T param(void **params, int i) { return *static_cast<T *>(params[i]); }
Work addRelu(void **params, unsigned threads) {
  auto x = param<const float *>(params, 0), w = param<const float *>(params, 1);
  auto y = param<float *>(params, 2);
  return [=] {
    for (unsigned i = 0; i < threads && i < 8; ++i)
      y[i] = std::fmax(x[i] + w[i], 0.0f);
  };
}
Work accumulate(void **params, unsigned threads) {
  auto acc = param<const float *>(params, 0), x = param<const float *>(params, 1);
  auto out = param<float *>(params, 2);
  return [=] {
    for (unsigned i = 0; i < threads && i < 4; ++i)
      out[i] = acc[i] + x[i];
  };
}
Work transposeU8(void **params, unsigned) { // the runtime's own kernel (Executor.cpp)
  auto in = param<const uint8_t *>(params, 0);
  auto out = param<uint8_t *>(params, 1);
  const unsigned batch = param<unsigned>(params, 2), rows = param<unsigned>(params, 3),
                 cols = param<unsigned>(params, 4);
  return [=] {
    for (unsigned b = 0; b < batch; ++b)
      for (unsigned r = 0; r < rows; ++r)
        for (unsigned c = 0; c < cols; ++c)
          out[(b * cols + c) * rows + r] = in[(b * rows + r) * cols + c];
  };
}
Work noKernel(void **, unsigned) { // PRECIS_FAKE_CUDA_ANY_KERNEL
  return [] {};
}
const std::map<std::string, HostKernel> kKernels = {
    {"add_relu", addRelu}, {"accumulate", accumulate}, {"precis_transpose_u8", transposeU8}};

} // namespace

extern "C" {

long long precis_fake_cuda_graph_launches() { return graphLaunches; }
/// cuStreamWaitEvent calls so far: the NCCL test checks with it that a started all-reduce's
/// wait orders the caller's stream.
long long precis_fake_cuda_event_waits() { return eventWaits; }

//===----------------------------------------------------------------------===//
// Driver API
//===----------------------------------------------------------------------===//

CUresult CUDAAPI cuInit(unsigned int) { return CUDA_SUCCESS; }
CUresult CUDAAPI cuGetErrorName(CUresult e, const char **s) {
  *s = e == CUDA_SUCCESS ? "CUDA_SUCCESS" : "CUDA_ERROR_FAKE";
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuGetErrorString(CUresult, const char **s) {
  *s = "fake driver error";
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDriverGetVersion(int *v) {
  *v = 13000;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDeviceGetCount(int *n) {
  *n = 1;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDeviceGet(CUdevice *d, int) {
  *d = 0;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice) {
  std::strncpy(name, "fake CUDA device", static_cast<size_t>(len));
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice) {
  *v = a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR ? 9 : 0;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice) {
  static int context;
  *c = reinterpret_cast<CUcontext>(&context);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuDevicePrimaryCtxRelease(CUdevice) { return CUDA_SUCCESS; }
CUresult CUDAAPI cuCtxPushCurrent(CUcontext) { return CUDA_SUCCESS; }
CUresult CUDAAPI cuCtxPopCurrent(CUcontext *c) {
  *c = nullptr;
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemAlloc(CUdeviceptr *p, size_t n) {
  void *m = std::aligned_alloc(256, (n + 255) / 256 * 256);
  if (!m)
    return CUDA_ERROR_OUT_OF_MEMORY;
  std::memset(m, 0xA5, n); // device memory starts as garbage
  *p = reinterpret_cast<CUdeviceptr>(m);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemFree(CUdeviceptr p) {
  std::free(ptr(p));
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemcpyHtoD(CUdeviceptr d, const void *s, size_t n) {
  std::memcpy(ptr(d), s, n);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemcpyDtoH(void *d, CUdeviceptr s, size_t n) {
  std::memcpy(d, ptr(s), n);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemcpyHtoDAsync(CUdeviceptr d, const void *s, size_t n, CUstream st) {
  submit(st, [=] { std::memcpy(ptr(d), s, n); });
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemcpyDtoHAsync(void *d, CUdeviceptr s, size_t n, CUstream st) {
  submit(st, [=] { std::memcpy(d, ptr(s), n); });
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemcpyDtoDAsync(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st) {
  submit(st, [=] { std::memmove(ptr(d), ptr(s), n); });
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuMemsetD8(CUdeviceptr d, unsigned char v, size_t n) {
  std::memset(ptr(d), v, n);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuModuleLoadDataEx(CUmodule *m, const void *image, unsigned int, CUjit_option *,
                                    void **) {
  *m = reinterpret_cast<CUmodule>(new std::string(static_cast<const char *>(image)));
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuModuleLoadData(CUmodule *m, const void *image) {
  return cuModuleLoadDataEx(m, image, 0, nullptr, nullptr);
}
CUresult CUDAAPI cuModuleUnload(CUmodule m) {
  delete reinterpret_cast<std::string *>(m);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuModuleGetFunction(CUfunction *f, CUmodule, const char *name) {
  auto it = kKernels.find(name);
  if (it == kKernels.end()) {
    const char *any = std::getenv("PRECIS_FAKE_CUDA_ANY_KERNEL");
    if (!any || std::strcmp(any, "1") != 0)
      return CUDA_ERROR_NOT_FOUND;
    *f = reinterpret_cast<CUfunction>(noKernel);
    return CUDA_SUCCESS;
  }
  *f = reinterpret_cast<CUfunction>(it->second);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuFuncSetAttribute(CUfunction, CUfunction_attribute, int) { return CUDA_SUCCESS; }
CUresult CUDAAPI cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                unsigned by, unsigned bz, unsigned, CUstream st, void **params,
                                void **) {
  submit(st, reinterpret_cast<HostKernel>(f)(params, gx * gy * gz * bx * by * bz));
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuStreamCreate(CUstream *s, unsigned int) {
  *s = reinterpret_cast<CUstream>(new FakeStream());
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuStreamDestroy(CUstream s) {
  delete reinterpret_cast<FakeStream *>(s);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuStreamSynchronize(CUstream) { return CUDA_SUCCESS; }
// Streams run their work at once, so an event has always happened: recording and waiting for
// one orders nothing that is not ordered already.
CUresult CUDAAPI cuEventCreate(CUevent *e, unsigned int) {
  *e = reinterpret_cast<CUevent>(new char);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuEventRecord(CUevent e, CUstream) {
  return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
CUresult CUDAAPI cuEventDestroy(CUevent e) {
  delete reinterpret_cast<char *>(e);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuStreamWaitEvent(CUstream, CUevent e, unsigned int) {
  ++eventWaits;
  return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
CUresult CUDAAPI cuStreamBeginCapture(CUstream s, CUstreamCaptureMode) {
  auto *fs = reinterpret_cast<FakeStream *>(s);
  if (!fs || fs->capturing)
    return CUDA_ERROR_ILLEGAL_STATE;
  fs->capturing = true;
  fs->recorded.clear();
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuStreamEndCapture(CUstream s, CUgraph *g) {
  auto *fs = reinterpret_cast<FakeStream *>(s);
  if (!fs->capturing)
    return CUDA_ERROR_ILLEGAL_STATE;
  fs->capturing = false;
  *g = reinterpret_cast<CUgraph>(new FakeGraph{std::move(fs->recorded)});
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuGraphInstantiate(CUgraphExec *e, CUgraph g, unsigned long long) {
  *e = reinterpret_cast<CUgraphExec>(new FakeGraph(*reinterpret_cast<FakeGraph *>(g)));
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuGraphLaunch(CUgraphExec e, CUstream st) {
  ++graphLaunches;
  for (const Work &w : reinterpret_cast<FakeGraph *>(e)->work)
    submit(st, w);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuGraphDestroy(CUgraph g) {
  delete reinterpret_cast<FakeGraph *>(g);
  return CUDA_SUCCESS;
}
CUresult CUDAAPI cuGraphExecDestroy(CUgraphExec e) {
  delete reinterpret_cast<FakeGraph *>(e);
  return CUDA_SUCCESS;
}

//===----------------------------------------------------------------------===//
// cuBLASLt
//===----------------------------------------------------------------------===//

struct FakeDesc {
  cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  CUdeviceptr bias = 0, aScale = 0, bScale = 0;
  cudaDataType_t biasType = CUDA_R_32F;
  cudaDataType_t scaleType = CUDA_R_32F;
};
struct FakeLayout {
  cudaDataType_t type;
  uint64_t rows, cols;
  int64_t ld, stride = 0;
  int32_t batch = 1;
};

cublasStatus_t CUBLASWINAPI cublasLtCreate(cublasLtHandle_t *h) {
  static int handle;
  *h = reinterpret_cast<cublasLtHandle_t>(&handle);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t CUBLASWINAPI cublasLtDestroy(cublasLtHandle_t) { return CUBLAS_STATUS_SUCCESS; }
size_t CUBLASWINAPI cublasLtGetVersion(void) { return 130000; }
const char *CUBLASWINAPI cublasLtGetStatusName(cublasStatus_t) { return "CUBLAS_STATUS_FAKE"; }
const char *CUBLASWINAPI cublasLtGetStatusString(cublasStatus_t) { return "fake cuBLASLt error"; }
cublasStatus_t CUBLASWINAPI cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t,
                                                     cudaDataType_t scaleType) {
  auto *fd = new FakeDesc();
  fd->scaleType = scaleType;
  *d = reinterpret_cast<cublasLtMatmulDesc_t>(fd);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t CUBLASWINAPI cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) {
  delete reinterpret_cast<FakeDesc *>(d);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t CUBLASWINAPI cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d,
                                                           cublasLtMatmulDescAttributes_t a,
                                                           const void *buf, size_t size) {
  auto *fd = reinterpret_cast<FakeDesc *>(d);
  switch (a) {
  case CUBLASLT_MATMUL_DESC_TRANSA:
    std::memcpy(&fd->ta, buf, size);
    break;
  case CUBLASLT_MATMUL_DESC_TRANSB:
    std::memcpy(&fd->tb, buf, size);
    break;
  case CUBLASLT_MATMUL_DESC_EPILOGUE:
    std::memcpy(&fd->epilogue, buf, size);
    break;
  case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
    std::memcpy(&fd->bias, buf, size);
    break;
  case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE:
    std::memcpy(&fd->biasType, buf, size);
    break;
  case CUBLASLT_MATMUL_DESC_A_SCALE_POINTER:
    std::memcpy(&fd->aScale, buf, size);
    break;
  case CUBLASLT_MATMUL_DESC_B_SCALE_POINTER:
    std::memcpy(&fd->bScale, buf, size);
    break;
  default:
    return CUBLAS_STATUS_NOT_SUPPORTED; // the fake does not know it: fail loudly
  }
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType type,
                                                       uint64_t rows, uint64_t cols, int64_t ld) {
  *l = reinterpret_cast<cublasLtMatrixLayout_t>(new FakeLayout{type, rows, cols, ld});
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) {
  delete reinterpret_cast<FakeLayout *>(l);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t l,
                                                             cublasLtMatrixLayoutAttribute_t a,
                                                             const void *buf, size_t size) {
  auto *fl = reinterpret_cast<FakeLayout *>(l);
  if (a == CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT)
    std::memcpy(&fl->batch, buf, size);
  else if (a == CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET)
    std::memcpy(&fl->stride, buf, size);
  else
    return CUBLAS_STATUS_NOT_SUPPORTED;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p) {
  static int pref;
  *p = reinterpret_cast<cublasLtMatmulPreference_t>(&pref);
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t) {
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceSetAttribute(
    cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t, const void *, size_t) {
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t CUBLASWINAPI cublasLtMatmulAlgoGetHeuristic(
    cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
    cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatmulPreference_t, int,
    cublasLtMatmulHeuristicResult_t *results, int *found) {
  std::memset(results, 0, sizeof(*results));
  *found = 1;
  return CUBLAS_STATUS_SUCCESS;
}

static double load(cudaDataType_t t, const void *base, int64_t i) {
  switch (t) {
  case CUDA_R_32F:
    return static_cast<const float *>(base)[i];
  case CUDA_R_64F:
    return static_cast<const double *>(base)[i];
  case CUDA_R_16F:
    return precis::fp16_to_float(static_cast<const uint16_t *>(base)[i]);
  case CUDA_R_16BF:
    return precis::bf16_to_float(static_cast<const uint16_t *>(base)[i]);
  case CUDA_R_8F_E4M3:
    return precis::fp8_e4m3fn_to_float(static_cast<const uint8_t *>(base)[i]);
  case CUDA_R_8F_E5M2:
    return precis::fp8_e5m2_to_float(static_cast<const uint8_t *>(base)[i]);
  default:
    std::abort();
  }
}

static void store(cudaDataType_t t, void *base, int64_t i, double v) {
  switch (t) {
  case CUDA_R_32F:
    static_cast<float *>(base)[i] = static_cast<float>(v);
    break;
  case CUDA_R_64F:
    static_cast<double *>(base)[i] = v;
    break;
  case CUDA_R_16F:
    static_cast<uint16_t *>(base)[i] = precis::float_to_fp16(static_cast<float>(v));
    break;
  case CUDA_R_16BF:
    static_cast<uint16_t *>(base)[i] = precis::float_to_bf16(static_cast<float>(v));
    break;
  default:
    std::abort();
  }
}

static size_t elementSize(cudaDataType_t t) {
  switch (t) {
  case CUDA_R_64F:
    return 8;
  case CUDA_R_32F:
    return 4;
  case CUDA_R_16F:
  case CUDA_R_16BF:
    return 2;
  default:
    return 1;
  }
}

cublasStatus_t CUBLASWINAPI cublasLtMatmul(
    cublasLtHandle_t, cublasLtMatmulDesc_t desc, const void *alpha, const void *A,
    cublasLtMatrixLayout_t Adesc, const void *B, cublasLtMatrixLayout_t Bdesc, const void *beta,
    const void *C, cublasLtMatrixLayout_t Cdesc, void *D, cublasLtMatrixLayout_t Ddesc,
    const cublasLtMatmulAlgo_t *, void *, size_t, cudaStream_t stream) {
  const FakeDesc d = *reinterpret_cast<FakeDesc *>(desc);
  const FakeLayout a = *reinterpret_cast<FakeLayout *>(Adesc),
                   b = *reinterpret_cast<FakeLayout *>(Bdesc),
                   c = *reinterpret_cast<FakeLayout *>(Cdesc),
                   o = *reinterpret_cast<FakeLayout *>(Ddesc);
  const bool f64 = d.scaleType == CUDA_R_64F;
  const double al = f64 ? *static_cast<const double *>(alpha) : *static_cast<const float *>(alpha);
  const double be = f64 ? *static_cast<const double *>(beta) : *static_cast<const float *>(beta);
  const int64_t m = static_cast<int64_t>(o.rows), n = static_cast<int64_t>(o.cols);
  const int64_t k = static_cast<int64_t>(d.ta == CUBLAS_OP_N ? a.cols : a.rows);
  if (d.epilogue & ~(CUBLASLT_EPILOGUE_DEFAULT | CUBLASLT_EPILOGUE_RELU | CUBLASLT_EPILOGUE_BIAS))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if ((d.ta == CUBLAS_OP_N ? a.rows : a.cols) != o.rows ||
      (d.tb == CUBLAS_OP_N ? b.cols : b.rows) != o.cols ||
      static_cast<int64_t>(d.tb == CUBLAS_OP_N ? b.rows : b.cols) != k || c.rows != o.rows ||
      c.cols != o.cols || a.batch != o.batch || b.batch != o.batch)
    return CUBLAS_STATUS_INVALID_VALUE;
  submit(reinterpret_cast<CUstream>(stream), [=] {
    const double sa = d.aScale ? *static_cast<const float *>(ptr(d.aScale)) : 1.0;
    const double sb = d.bScale ? *static_cast<const float *>(ptr(d.bScale)) : 1.0;
    for (int32_t e = 0; e < o.batch; ++e) {
      auto at = [&](const FakeLayout &l, const void *base) {
        return static_cast<const char *>(base) + e * l.stride * elementSize(l.type);
      };
      const char *ab = at(a, A), *bb = at(b, B), *cb = at(c, C);
      char *db = const_cast<char *>(at(o, D));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double acc = 0;
          for (int64_t p = 0; p < k; ++p) {
            const double x = load(a.type, ab, d.ta == CUBLAS_OP_N ? i + p * a.ld : p + i * a.ld);
            const double y = load(b.type, bb, d.tb == CUBLAS_OP_N ? p + j * b.ld : j + p * b.ld);
            acc += x * y;
          }
          double v = al * sa * sb * acc;
          if (be != 0)
            v += be * load(c.type, cb, i + j * c.ld);
          if (d.epilogue & CUBLASLT_EPILOGUE_BIAS)
            v += load(d.biasType, ptr(d.bias), i);
          if (d.epilogue & CUBLASLT_EPILOGUE_RELU)
            v = std::fmax(v, 0.0);
          store(o.type, db, i + j * o.ld, v);
        }
    }
  });
  return CUBLAS_STATUS_SUCCESS;
}

} // extern "C"
