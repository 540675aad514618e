//===- CudaApi.h - libcuda and cuBLASLt loaded at run time -------*- C++ -*-===//
//
// The CUDA backend calls the driver API and cuBLASLt through tables of function pointers filled
// by dlopen/dlsym, so the runtime has no link-time CUDA dependency: it builds with the toolkit's
// headers only and runs (CPU backend) on machines without a driver. Every entry point is
// declared by the toolkit header and looked up under the symbol that header maps its name to
// (cuMemAlloc -> cuMemAlloc_v2, ...), so the pointer types and ABI versions always agree.
//
// Errors become Status values carrying the library's error name and text:
//   "cuModuleLoadData: CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed)".
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SRC_CUDA_CUDAAPI_H
#define PRECIS_RUNTIME_SRC_CUDA_CUDAAPI_H

#include "Status.h"

#include <string>

#include <cublasLt.h>
#include <cuda.h>

namespace precis::rt::cuda {

// The driver entry points the backend uses. Names are the header's: where cuda.h #defines a
// name to a versioned symbol, the member and the looked-up symbol are the versioned one.
#define PRECIS_CUDA_DRIVER_FUNCTIONS(X)                                                            \
  X(cuInit)                                                                                        \
  X(cuGetErrorName)                                                                                \
  X(cuGetErrorString)                                                                              \
  X(cuDriverGetVersion)                                                                            \
  X(cuDeviceGetCount)                                                                              \
  X(cuDeviceGet)                                                                                   \
  X(cuDeviceGetName)                                                                               \
  X(cuDeviceGetAttribute)                                                                          \
  X(cuDevicePrimaryCtxRetain)                                                                      \
  X(cuDevicePrimaryCtxRelease)                                                                     \
  X(cuCtxPushCurrent)                                                                              \
  X(cuCtxPopCurrent)                                                                               \
  X(cuMemAlloc)                                                                                    \
  X(cuMemFree)                                                                                     \
  X(cuMemcpyHtoD)                                                                                  \
  X(cuMemcpyDtoH)                                                                                  \
  X(cuMemcpyHtoDAsync)                                                                             \
  X(cuMemcpyDtoHAsync)                                                                             \
  X(cuMemcpyDtoDAsync)                                                                             \
  X(cuMemsetD8)                                                                                    \
  X(cuModuleLoadData)                                                                              \
  X(cuModuleLoadDataEx)                                                                            \
  X(cuModuleUnload)                                                                                \
  X(cuModuleGetFunction)                                                                           \
  X(cuFuncSetAttribute)                                                                            \
  X(cuLaunchKernel)                                                                                \
  X(cuStreamCreate)                                                                                \
  X(cuStreamDestroy)                                                                               \
  X(cuStreamSynchronize)                                                                           \
  X(cuStreamWaitEvent)                                                                             \
  X(cuEventCreate)                                                                                 \
  X(cuEventRecord)                                                                                 \
  X(cuEventDestroy)                                                                                \
  X(cuStreamBeginCapture)                                                                          \
  X(cuStreamEndCapture)                                                                            \
  X(cuGraphInstantiate)                                                                            \
  X(cuGraphLaunch)                                                                                 \
  X(cuGraphDestroy)                                                                                \
  X(cuGraphExecDestroy)

#define PRECIS_CUBLASLT_FUNCTIONS(X)                                                               \
  X(cublasLtCreate)                                                                                \
  X(cublasLtDestroy)                                                                               \
  X(cublasLtGetVersion)                                                                            \
  X(cublasLtGetStatusName)                                                                         \
  X(cublasLtGetStatusString)                                                                       \
  X(cublasLtMatmulDescCreate)                                                                      \
  X(cublasLtMatmulDescDestroy)                                                                     \
  X(cublasLtMatmulDescSetAttribute)                                                                \
  X(cublasLtMatrixLayoutCreate)                                                                    \
  X(cublasLtMatrixLayoutDestroy)                                                                   \
  X(cublasLtMatrixLayoutSetAttribute)                                                              \
  X(cublasLtMatmulPreferenceCreate)                                                                \
  X(cublasLtMatmulPreferenceDestroy)                                                               \
  X(cublasLtMatmulPreferenceSetAttribute)                                                          \
  X(cublasLtMatmulAlgoGetHeuristic)                                                                \
  X(cublasLtMatmul)

/// The driver API, loaded once per process from libcuda.so.1 (never the toolkit's link stub).
struct Driver {
#define PRECIS_DECLARE(fn) decltype(&::fn) fn = nullptr;
  PRECIS_CUDA_DRIVER_FUNCTIONS(PRECIS_DECLARE)
  std::string library; ///< what was loaded
};

/// cuBLASLt, loaded once per process (libcublasLt.so.13, then older sonames).
struct BlasLt {
  PRECIS_CUBLASLT_FUNCTIONS(PRECIS_DECLARE)
#undef PRECIS_DECLARE
  std::string library;
};

/// Loads libcuda and calls cuInit(0) (once per process; later calls return the first
/// outcome). Unavailable "cannot load libcuda.so.1: ..." or "cuInit: CUDA_ERROR_NO_DEVICE ..."
/// when there is no usable driver or device.
Status loadDriver(const Driver **out);
/// Loads cuBLASLt (once per process). Unavailable naming every soname tried when none loads.
Status loadBlasLt(const BlasLt **out);

/// OK for CUDA_SUCCESS; otherwise Internal "<what>: <CUDA_ERROR_NAME> (<description>)".
Status check(const Driver &d, CUresult r, const char *what);
/// OK for CUBLAS_STATUS_SUCCESS; otherwise Internal "<what>: <CUBLAS_STATUS_NAME> (<text>)".
Status check(const BlasLt &lt, cublasStatus_t s, const char *what);

/// Makes `ctx` current on the calling thread for the scope (pushed, then popped): the CUDA
/// executor's session context, or the device's primary context NCCL works in.
class ScopedContext {
public:
  ScopedContext(const Driver &d, CUcontext ctx) : d_(d) {
    ok_ = d_.cuCtxPushCurrent(ctx) == CUDA_SUCCESS;
  }
  ~ScopedContext() {
    CUcontext popped;
    if (ok_)
      d_.cuCtxPopCurrent(&popped);
  }
  ScopedContext(const ScopedContext &) = delete;
  ScopedContext &operator=(const ScopedContext &) = delete;
  Status status() const { return ok_ ? Status::ok() : internalError("cuCtxPushCurrent failed"); }

private:
  const Driver &d_;
  bool ok_ = false;
};

} // namespace precis::rt::cuda

/// Calls driver entry point `fn` and returns its error, as a Status, from the enclosing
/// function: PRECIS_CU(d, cuMemAlloc, &ptr, bytes).
#define PRECIS_CU(driver, fn, ...)                                                                 \
  PRECIS_RETURN_IF_ERROR(::precis::rt::cuda::check(driver, (driver).fn(__VA_ARGS__), #fn))
/// The same for cuBLASLt entry points.
#define PRECIS_CUBLASLT(lt, fn, ...)                                                               \
  PRECIS_RETURN_IF_ERROR(::precis::rt::cuda::check(lt, (lt).fn(__VA_ARGS__), #fn))

#endif // PRECIS_RUNTIME_SRC_CUDA_CUDAAPI_H
