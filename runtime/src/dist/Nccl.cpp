//===- Nccl.cpp - the NCCL communicator (libnccl loaded at run time) ------===//
//
// Collectives over device memory with NCCL. Like libcuda (cuda/CudaApi.cpp), libnccl.so.2 is
// opened with dlopen when the first NCCL communicator is made, so the runtime neither links
// against NCCL nor needs its header: the few types and entry points used here are declared
// below, with the numeric values of nccl.h (checked against the header where it is present at
// build time).
//
// A communicator binds to the primary context of its CUDA device, the context the CUDA backend
// runs in, and makes it current around every NCCL call. Rank 0's ncclUniqueId reaches the
// other ranks over the bootstrap communicator.
//
// Started all-reduces (startAllReduce) run on a communication stream of the communicator's
// own, so that they overlap the kernels the caller enqueues after them on its stream: an event
// recorded on the caller's stream makes the communication stream wait for the data, NCCL
// reduces on the communication stream, and an event recorded after it is what wait(ticket,
// stream) makes the caller's stream wait for, without blocking the host. Every other
// collective first orders its stream behind the started ones, so the ranks' NCCL calls run in
// the order they were made, on every rank.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Communicator.h"

#include "cuda/CudaApi.h"
#include "dist/Checks.h"

#include <cstdlib>
#include <cstring>
#include <deque>
#include <dlfcn.h>
#include <mutex>
#include <string>
#include <vector>

namespace precis::rt {
namespace {

using cuda::ScopedContext;
namespace nccl {

// From nccl.h (NCCL 2.x; the values are part of its ABI).
using Result = int;
constexpr Result Success = 0;
struct UniqueId {
  char internal[128];
};
struct CommOpaque;
using Comm = CommOpaque *;
using DataType = int;
constexpr DataType Uint8 = 1, Int32 = 2, Int64 = 4, Float32 = 7, Float64 = 8;
using RedOp = int;
constexpr RedOp Sum = 0, Max = 2, Avg = 4;

// Entry points (cudaStream_t is CUstream).
using ncclGetVersion_t = Result(int *);
using ncclGetErrorString_t = const char *(Result);
using ncclGetUniqueId_t = Result(UniqueId *);
using ncclCommInitRank_t = Result(Comm *, int, UniqueId, int);
using ncclCommDestroy_t = Result(Comm);
using ncclCommAbort_t = Result(Comm);
using ncclAllReduce_t = Result(const void *, void *, size_t, DataType, RedOp, Comm, CUstream);
using ncclAllGather_t = Result(const void *, void *, size_t, DataType, Comm, CUstream);
using ncclBroadcast_t = Result(const void *, void *, size_t, DataType, int, Comm, CUstream);

#define PRECIS_NCCL_FUNCTIONS(X)                                                                   \
  X(ncclGetVersion)                                                                                \
  X(ncclGetErrorString)                                                                            \
  X(ncclGetUniqueId)                                                                               \
  X(ncclCommInitRank)                                                                              \
  X(ncclCommDestroy)                                                                               \
  X(ncclCommAbort)                                                                                 \
  X(ncclAllReduce)                                                                                 \
  X(ncclAllGather)                                                                                 \
  X(ncclBroadcast)

struct Api {
#define PRECIS_DECLARE(name) name##_t *name = nullptr;
  PRECIS_NCCL_FUNCTIONS(PRECIS_DECLARE)
#undef PRECIS_DECLARE
  std::string library;
  int version = 0;
};

} // namespace nccl

std::string dlerrorText() {
  const char *e = dlerror();
  return e ? e : "unknown error";
}

/// libnccl.so.2 from the library path, then from the CUDA installation (CUDA_HOME, CUDA_PATH,
/// /usr/local/cuda), where the toolkit's packages put it.
Status openNccl(nccl::Api *api) {
  std::vector<std::string> names = {"libnccl.so.2"};
  for (const char *var : {"CUDA_HOME", "CUDA_PATH"})
    if (const char *dir = std::getenv(var); dir && *dir) {
      names.push_back(std::string(dir) + "/lib64/libnccl.so.2");
      names.push_back(std::string(dir) + "/lib/libnccl.so.2");
    }
  names.push_back("/usr/local/cuda/lib64/libnccl.so.2");
  names.push_back("/usr/local/cuda/targets/x86_64-linux/lib/libnccl.so.2");
  names.push_back("/usr/local/cuda/targets/sbsa-linux/lib/libnccl.so.2");
  void *lib = nullptr;
  std::string tried;
  for (const std::string &name : names) {
    lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib) {
      api->library = name;
      break;
    }
    tried += std::string(tried.empty() ? "" : "; ") + dlerrorText();
  }
  if (!lib)
    return unavailable("cannot load libnccl.so.2 (" + tried + ")");
#define PRECIS_LOAD(name)                                                                          \
  api->name = reinterpret_cast<nccl::name##_t *>(dlsym(lib, #name));                               \
  if (!api->name)                                                                                  \
    return unavailable(api->library + " has no " #name " (NCCL too old?)");
  PRECIS_NCCL_FUNCTIONS(PRECIS_LOAD)
#undef PRECIS_LOAD
  if (api->ncclGetVersion(&api->version) != nccl::Success)
    return unavailable(api->library + ": ncclGetVersion failed");
  // ncclAvg (the mean) arrived in NCCL 2.10 (version code 21000).
  if (api->version < 21000)
    return unavailable(api->library + " is NCCL " + std::to_string(api->version) +
                       "; 2.10 or newer is needed");
  return Status::ok();
}

Status loadNccl(const nccl::Api **out) {
  static nccl::Api api;
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] { status = openNccl(&api); });
  if (status.isOk())
    *out = &api;
  return status;
}

Status check(const nccl::Api &api, nccl::Result r, const char *what) {
  if (r == nccl::Success)
    return Status::ok();
  const char *text = api.ncclGetErrorString ? api.ncclGetErrorString(r) : nullptr;
  return internalError(std::string(what) + ": " +
                       (text ? std::string(text) : "ncclResult " + std::to_string(r)));
}

#define PRECIS_NCCL(api, fn, ...) PRECIS_RETURN_IF_ERROR(check(api, (api).fn(__VA_ARGS__), #fn))

/// The NCCL type of an all-reduce element type, or -1.
nccl::DataType ncclType(DType t) {
  switch (t) {
  case DType::F32:
    return nccl::Float32;
  case DType::F64:
    return nccl::Float64;
  case DType::I32:
    return nccl::Int32;
  case DType::I64:
    return nccl::Int64;
  case DType::U8:
  case DType::Bool:
    return nccl::Uint8;
  default:
    return -1;
  }
}

class NcclCommunicator final : public Communicator {
public:
  NcclCommunicator(const nccl::Api &api, const cuda::Driver &d, CUdevice device, CUcontext context,
                   int rank, int size)
      : api_(api), d_(d), device_(device), context_(context), rank_(rank), size_(size) {}
  ~NcclCommunicator() override {
    if (comm_ || commStream_) {
      ScopedContext scope(d_, context_);
      if (commStream_)
        d_.cuStreamSynchronize(commStream_);
      for (const auto &started : started_)
        d_.cuEventDestroy(started.second);
      for (CUevent e : idleEvents_)
        d_.cuEventDestroy(e);
      if (commStream_)
        d_.cuStreamDestroy(commStream_);
      if (comm_)
        api_.ncclCommDestroy(comm_);
    }
    d_.cuDevicePrimaryCtxRelease(device_);
  }

  Status init(const nccl::UniqueId &id) {
    ScopedContext scope(d_, context_);
    PRECIS_RETURN_IF_ERROR(scope.status());
    PRECIS_NCCL(api_, ncclCommInitRank, &comm_, size_, id, rank_);
    return Status::ok();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char *backend() const override { return "nccl"; }
  bool deviceMemory() const override { return true; }

  Status allReduce(void *data, size_t count, DType dtype, Reduction op, void *stream) override {
    PRECIS_RETURN_IF_ERROR(dist::checkAllReduce(count, data, dtype, op));
    ScopedContext scope(d_, context_);
    PRECIS_RETURN_IF_ERROR(scope.status());
    PRECIS_RETURN_IF_ERROR(behindStarted(stream));
    PRECIS_NCCL(api_, ncclAllReduce, data, data, count, ncclType(dtype), ncclOp(op), comm_,
                static_cast<CUstream>(stream));
    return Status::ok();
  }

  Status startAllReduce(void *data, size_t count, DType dtype, Reduction op, void *stream,
                        uint64_t *ticket) override {
    PRECIS_RETURN_IF_ERROR(dist::checkAllReduce(count, data, dtype, op));
    ScopedContext scope(d_, context_);
    PRECIS_RETURN_IF_ERROR(scope.status());
    if (!commStream_)
      PRECIS_CU(d_, cuStreamCreate, &commStream_, CU_STREAM_NON_BLOCKING);
    // The data is ready once the caller's stream has reached this point.
    CUevent ready = nullptr, done = nullptr;
    PRECIS_RETURN_IF_ERROR(takeEvent(&ready));
    Status s =
        cuda::check(d_, d_.cuEventRecord(ready, static_cast<CUstream>(stream)), "cuEventRecord");
    if (s.isOk())
      s = cuda::check(d_, d_.cuStreamWaitEvent(commStream_, ready, 0), "cuStreamWaitEvent");
    idleEvents_.push_back(ready); // the wait above took the event's state: free to record again
    PRECIS_RETURN_IF_ERROR(s);
    PRECIS_NCCL(api_, ncclAllReduce, data, data, count, ncclType(dtype), ncclOp(op), comm_,
                commStream_);
    PRECIS_RETURN_IF_ERROR(takeEvent(&done));
    s = cuda::check(d_, d_.cuEventRecord(done, commStream_), "cuEventRecord");
    if (!s.isOk()) {
      idleEvents_.push_back(done);
      return s;
    }
    started_.emplace_back(++issued_, done);
    *ticket = issued_;
    return Status::ok();
  }

  Status wait(uint64_t ticket, void *stream) override {
    if (ticket > issued_)
      return invalidArgument("wait: no all-reduce numbered " + std::to_string(ticket) +
                             " was started");
    // The communication stream runs in order: the newest started all-reduce up to `ticket`
    // covers the ones before it. None left: an earlier wait covered this one.
    CUevent last = nullptr;
    while (!started_.empty() && started_.front().first <= ticket) {
      if (last)
        idleEvents_.push_back(last);
      last = started_.front().second;
      started_.pop_front();
    }
    if (!last)
      return Status::ok();
    ScopedContext scope(d_, context_);
    PRECIS_RETURN_IF_ERROR(scope.status());
    Status s = stream
                   ? cuda::check(d_, d_.cuStreamWaitEvent(static_cast<CUstream>(stream), last, 0),
                                 "cuStreamWaitEvent")
                   : cuda::check(d_, d_.cuStreamSynchronize(commStream_), "cuStreamSynchronize");
    idleEvents_.push_back(last);
    return s;
  }

  Status allGather(const void *send, void *recv, size_t count, DType dtype, void *stream) override {
    PRECIS_RETURN_IF_ERROR(dist::checkAllGather(count, send, recv, dtype));
    const size_t elem = dtypeSize(dtype);
    ScopedContext scope(d_, context_);
    PRECIS_RETURN_IF_ERROR(scope.status());
    PRECIS_RETURN_IF_ERROR(behindStarted(stream));
    PRECIS_NCCL(api_, ncclAllGather, send, recv, count * elem, nccl::Uint8, comm_,
                static_cast<CUstream>(stream));
    return Status::ok();
  }

  Status broadcast(void *data, size_t bytes, int root, void *stream) override {
    if (root < 0 || root >= size_)
      return invalidArgument("broadcast: root " + std::to_string(root) + " is not a rank of " +
                             std::to_string(size_));
    if (bytes && !data)
      return invalidArgument("broadcast: null buffer for " + std::to_string(bytes) + " bytes");
    ScopedContext scope(d_, context_);
    PRECIS_RETURN_IF_ERROR(scope.status());
    PRECIS_RETURN_IF_ERROR(behindStarted(stream));
    PRECIS_NCCL(api_, ncclBroadcast, data, data, bytes, nccl::Uint8, root, comm_,
                static_cast<CUstream>(stream));
    return Status::ok();
  }

  Status barrier() override {
    // An all-reduce of one value on the device, waited for: every rank has reached it.
    ScopedContext scope(d_, context_);
    PRECIS_RETURN_IF_ERROR(scope.status());
    PRECIS_RETURN_IF_ERROR(behindStarted(nullptr));
    CUdeviceptr one = 0;
    PRECIS_CU(d_, cuMemAlloc, &one, sizeof(int32_t));
    Status s = cuda::check(d_, d_.cuMemsetD8(one, 0, sizeof(int32_t)), "cuMemsetD8");
    if (s.isOk())
      s = check(api_,
                api_.ncclAllReduce(reinterpret_cast<void *>(one), reinterpret_cast<void *>(one), 1,
                                   nccl::Int32, nccl::Sum, comm_, nullptr),
                "ncclAllReduce");
    if (s.isOk())
      s = cuda::check(d_, d_.cuStreamSynchronize(nullptr), "cuStreamSynchronize");
    d_.cuMemFree(one);
    return s;
  }

  [[noreturn]] void abort(int code) override {
    // Release the other ranks' NCCL kernels, then end the job through the launcher.
    {
      ScopedContext scope(d_, context_);
      api_.ncclCommAbort(comm_);
      comm_ = nullptr;
    }
    std::_Exit(code);
  }

private:
  static nccl::RedOp ncclOp(Reduction op) {
    return op == Reduction::Sum ? nccl::Sum : op == Reduction::Max ? nccl::Max : nccl::Avg;
  }

  /// An event to record: an idle one, or a new one (no timing).
  Status takeEvent(CUevent *e) {
    if (!idleEvents_.empty()) {
      *e = idleEvents_.back();
      idleEvents_.pop_back();
      return Status::ok();
    }
    PRECIS_CU(d_, cuEventCreate, e, CU_EVENT_DISABLE_TIMING);
    return Status::ok();
  }

  /// Orders `stream` behind every started all-reduce (the context is current).
  Status behindStarted(void *stream) {
    return started_.empty() ? Status::ok() : wait(started_.back().first, stream);
  }

  const nccl::Api &api_;
  const cuda::Driver &d_;
  CUdevice device_;
  CUcontext context_;
  nccl::Comm comm_ = nullptr;
  int rank_, size_;
  // Started all-reduces (see the file comment).
  CUstream commStream_ = nullptr;                    // made by the first startAllReduce
  std::deque<std::pair<uint64_t, CUevent>> started_; // ticket, recorded after its NCCL call
  std::vector<CUevent> idleEvents_;
  uint64_t issued_ = 0;
};

} // namespace

Status createNcclCommunicator(Communicator &bootstrap, int device,
                              std::shared_ptr<Communicator> *out) {
  if (!out)
    return invalidArgument("createNcclCommunicator: null output");
  if (bootstrap.deviceMemory())
    return invalidArgument("createNcclCommunicator: the bootstrap communicator must work on "
                           "host memory (MPI), not " +
                           std::string(bootstrap.backend()));
  // Every rank takes part in the id broadcast even when its own setup failed, so that no rank
  // waits for another forever; a failed rank sends an empty id and every rank then fails.
  const cuda::Driver *d = nullptr;
  const nccl::Api *api = nullptr;
  Status local = cuda::loadDriver(&d);
  if (!local.isOk())
    local = unavailable("no CUDA device: " + local.message());
  if (local.isOk())
    local = loadNccl(&api);
  CUdevice dev = 0;
  CUcontext context = nullptr;
  int count = 0;
  if (local.isOk())
    local = cuda::check(*d, d->cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (local.isOk() && (device < 0 || device >= count))
    local = invalidArgument("createNcclCommunicator: device " + std::to_string(device) +
                            " does not exist (" + std::to_string(count) + " CUDA devices)");
  if (local.isOk())
    local = cuda::check(*d, d->cuDeviceGet(&dev, device), "cuDeviceGet");
  if (local.isOk())
    local = cuda::check(*d, d->cuDevicePrimaryCtxRetain(&context, dev), "cuDevicePrimaryCtxRetain");

  // Byte 0 of the message: whether the sender (rank 0) is ready; then the id.
  struct {
    uint8_t ready = 0;
    nccl::UniqueId id{};
  } message;
  if (bootstrap.rank() == 0 && local.isOk()) {
    ScopedContext scope(*d, context);
    local = scope.status();
    if (local.isOk())
      local = check(*api, api->ncclGetUniqueId(&message.id), "ncclGetUniqueId");
    message.ready = local.isOk();
  }
  Status sent = bootstrap.broadcast(&message, sizeof(message), 0);
  // Whether every rank is ready: the maximum of "failed" over the ranks.
  uint8_t failed = !local.isOk() || !sent.isOk() || !message.ready;
  Status agreed = sent.isOk() ? bootstrap.allReduce(&failed, 1, DType::U8, Reduction::Max) : sent;
  if (!local.isOk() || !agreed.isOk() || failed) {
    if (context)
      d->cuDevicePrimaryCtxRelease(dev);
    if (!local.isOk())
      return local;
    if (!agreed.isOk())
      return withContext(agreed, "createNcclCommunicator");
    return unavailable("createNcclCommunicator: another rank could not set up NCCL");
  }
  auto comm = std::make_shared<NcclCommunicator>(*api, *d, dev, context, bootstrap.rank(),
                                                 bootstrap.size());
  PRECIS_RETURN_IF_ERROR(comm->init(message.id));
  *out = std::move(comm);
  return Status::ok();
}

} // namespace precis::rt

// The declarations above against NCCL's header, where the build machine has it.
#if __has_include(<nccl.h>)
#include <nccl.h>
static_assert(sizeof(ncclUniqueId) == sizeof(precis::rt::nccl::UniqueId));
static_assert(ncclSuccess == precis::rt::nccl::Success);
static_assert(ncclUint8 == precis::rt::nccl::Uint8 && ncclInt32 == precis::rt::nccl::Int32 &&
              ncclInt64 == precis::rt::nccl::Int64 && ncclFloat32 == precis::rt::nccl::Float32 &&
              ncclFloat64 == precis::rt::nccl::Float64);
static_assert(ncclSum == precis::rt::nccl::Sum && ncclMax == precis::rt::nccl::Max &&
              ncclAvg == precis::rt::nccl::Avg);
#endif
