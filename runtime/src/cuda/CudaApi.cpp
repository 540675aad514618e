//===- CudaApi.cpp - dlopen of libcuda and cuBLASLt -----------------------===//
//
// Both libraries are opened at most once per process (the first CUDA session pays for it) and
// never closed: CUDA keeps threads and state that do not survive dlclose.
//
//===----------------------------------------------------------------------===//

#include "cuda/CudaApi.h"

#include <dlfcn.h>
#include <mutex>

namespace precis::rt::cuda {
namespace {

#define PRECIS_STRINGIFY_(x) #x
/// The symbol a header name maps to: PRECIS_SYMBOL(cuMemAlloc) is "cuMemAlloc_v2".
#define PRECIS_SYMBOL(x) PRECIS_STRINGIFY_(x)

std::string dlerrorText() {
  const char *e = dlerror();
  return e ? e : "unknown error";
}

Status openDriver(Driver *d) {
  // libcuda.so.1 is the driver's soname. The toolkit's stubs/libcuda.so must never be used:
  // it links but fails every call, so it is not looked for.
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    return unavailable("cannot load libcuda.so.1 (" + dlerrorText() + ")");
  d->library = "libcuda.so.1";
#define PRECIS_LOAD(fn)                                                                            \
  d->fn = reinterpret_cast<decltype(d->fn)>(dlsym(lib, PRECIS_SYMBOL(fn)));                        \
  if (!d->fn)                                                                                      \
    return unavailable("libcuda.so.1 has no " PRECIS_SYMBOL(fn) " (driver too old?)");
  PRECIS_CUDA_DRIVER_FUNCTIONS(PRECIS_LOAD)
#undef PRECIS_LOAD
  const CUresult r = d->cuInit(0);
  if (r != CUDA_SUCCESS) {
    Status s = check(*d, r, "cuInit");
    return unavailable(s.message());
  }
  int count = 0;
  PRECIS_RETURN_IF_ERROR(check(*d, d->cuDeviceGetCount(&count), "cuDeviceGetCount"));
  if (count == 0)
    return unavailable("the driver reports no device");
  return Status::ok();
}

Status openBlasLt(BlasLt *lt) {
  static const char *const kNames[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
  void *lib = nullptr;
  std::string tried;
  for (const char *name : kNames) {
    lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (lib) {
      lt->library = name;
      break;
    }
    tried += std::string(tried.empty() ? "" : "; ") + dlerrorText();
  }
  if (!lib)
    return unavailable("cannot load cuBLASLt (" + tried + ")");
#define PRECIS_LOAD(fn)                                                                            \
  lt->fn = reinterpret_cast<decltype(lt->fn)>(dlsym(lib, PRECIS_SYMBOL(fn)));                      \
  if (!lt->fn)                                                                                     \
    return unavailable(lt->library + " has no " PRECIS_SYMBOL(fn));
  PRECIS_CUBLASLT_FUNCTIONS(PRECIS_LOAD)
#undef PRECIS_LOAD
  return Status::ok();
}

} // namespace

Status loadDriver(const Driver **out) {
  static Driver driver;
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] { status = openDriver(&driver); });
  if (status.isOk())
    *out = &driver;
  return status;
}

Status loadBlasLt(const BlasLt **out) {
  static BlasLt lt;
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] { status = openBlasLt(&lt); });
  if (status.isOk())
    *out = &lt;
  return status;
}

Status check(const Driver &d, CUresult r, const char *what) {
  if (r == CUDA_SUCCESS)
    return Status::ok();
  const char *name = nullptr, *text = nullptr;
  if (d.cuGetErrorName)
    d.cuGetErrorName(r, &name);
  if (d.cuGetErrorString)
    d.cuGetErrorString(r, &text);
  std::string m = std::string(what) + ": " +
                  (name ? std::string(name) : "CUresult " + std::to_string(static_cast<int>(r)));
  if (text)
    m += std::string(" (") + text + ")";
  return internalError(m);
}

Status check(const BlasLt &lt, cublasStatus_t s, const char *what) {
  if (s == CUBLAS_STATUS_SUCCESS)
    return Status::ok();
  const char *name = lt.cublasLtGetStatusName ? lt.cublasLtGetStatusName(s) : nullptr;
  const char *text = lt.cublasLtGetStatusString ? lt.cublasLtGetStatusString(s) : nullptr;
  std::string m =
      std::string(what) + ": " +
      (name ? std::string(name) : "cublasStatus " + std::to_string(static_cast<int>(s)));
  if (text)
    m += std::string(" (") + text + ")";
  return internalError(m);
}

} // namespace precis::rt::cuda
