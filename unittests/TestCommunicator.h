//===- TestCommunicator.h - a world of several ranks inside one process -*- C++ -*-===//
//
// PeerCommunicator stands in for a data-parallel job in tests that run one process: it says it
// is rank `rank` (0 unless given) of `size`, and combines every all-reduce as if each other rank
// held this rank's values plus one, element by element. So each reduction has a known result:
//   sum  v + (size - 1) (v + 1),   mean  that sum / size,   max  v + 1,
// and every call is recorded (count, dtype, reduction, buffer, stream). Likewise allGather (f32
// only) gathers as if rank r held this rank's share plus (r - rank), element by element: on rank
// 0 the result is the share, then the share + 1, ..., the share + size - 1; its calls are
// recorded in `gathers`.
//
// With deviceMemory, the buffers are CUDA device memory, as NCCL's are: the communicator waits
// for the stream it is given, copies the values to the host, combines them and copies them
// back on that stream, through libcuda.so.1 (the real driver or FakeCuda.cpp), so the test
// runs the same on a GPU and on the fake.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_UNITTESTS_TESTCOMMUNICATOR_H
#define PRECIS_UNITTESTS_TESTCOMMUNICATOR_H

#include "precis/runtime/Communicator.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <string>
#include <vector>

namespace precis::rt::testing {

class PeerCommunicator final : public Communicator {
public:
  struct Call {
    size_t count;
    DType dtype;
    Reduction op;
    void *data;
    void *stream;
  };

  PeerCommunicator(int size, bool deviceMemory, int rank = 0)
      : size_(size), rank_(rank), device_(deviceMemory) {}

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char *backend() const override { return "test"; }
  bool deviceMemory() const override { return device_; }

  Status allReduce(void *data, size_t count, DType dtype, Reduction op, void *stream) override {
    calls.push_back({count, dtype, op, data, stream});
    if (!failWith.empty())
      return internalError(failWith);
    const size_t bytes = count * dtypeSize(dtype);
    std::vector<uint8_t> host(bytes);
    if (device_) {
      PRECIS_RETURN_IF_ERROR(loadDriver());
      const auto p = reinterpret_cast<unsigned long long>(data);
      if (sync_(stream) != 0 || toHost_(host.data(), p, bytes) != 0)
        return internalError("PeerCommunicator: copying the device buffer to the host failed");
    } else {
      std::memcpy(host.data(), data, bytes);
    }
    switch (dtype) {
    case DType::F32:
      combine(reinterpret_cast<float *>(host.data()), count, op);
      break;
    case DType::F64:
      combine(reinterpret_cast<double *>(host.data()), count, op);
      break;
    case DType::I32:
      combine(reinterpret_cast<int32_t *>(host.data()), count, op);
      break;
    case DType::I64:
      combine(reinterpret_cast<int64_t *>(host.data()), count, op);
      break;
    default:
      return invalidArgument("PeerCommunicator: unsupported element type");
    }
    if (!device_) {
      std::memcpy(data, host.data(), bytes);
      return Status::ok();
    }
    // Pageable host memory: the copy has taken the bytes when it returns; the stream orders it
    // before the executor's next ops. Wait for it anyway, since `host` goes out of scope.
    const auto p = reinterpret_cast<unsigned long long>(data);
    if (toDevice_(p, host.data(), bytes, stream) != 0 || sync_(stream) != 0)
      return internalError("PeerCommunicator: copying the result to the device failed");
    return Status::ok();
  }
  Status allGather(const void *send, void *recv, size_t count, DType dtype, void *stream) override {
    gathers.push_back({count, dtype, send, recv, stream});
    if (!failWith.empty())
      return internalError(failWith);
    if (dtype != DType::F32)
      return invalidArgument("PeerCommunicator: allGather of f32 only");
    std::vector<float> share(count), all(count * static_cast<size_t>(size_));
    if (device_) {
      PRECIS_RETURN_IF_ERROR(loadDriver());
      const auto p = reinterpret_cast<unsigned long long>(send);
      if (sync_(stream) != 0 || toHost_(share.data(), p, count * sizeof(float)) != 0)
        return internalError("PeerCommunicator: copying the device buffer to the host failed");
    } else {
      std::memcpy(share.data(), send, count * sizeof(float));
    }
    for (int r = 0; r < size_; ++r)
      for (size_t i = 0; i < count; ++i)
        all[static_cast<size_t>(r) * count + i] = share[i] + static_cast<float>(r - rank_);
    if (!device_) {
      std::memcpy(recv, all.data(), all.size() * sizeof(float));
      return Status::ok();
    }
    const auto p = reinterpret_cast<unsigned long long>(recv);
    if (toDevice_(p, all.data(), all.size() * sizeof(float), stream) != 0 || sync_(stream) != 0)
      return internalError("PeerCommunicator: copying the result to the device failed");
    return Status::ok();
  }
  Status broadcast(void *, size_t, int, void *) override {
    return unimplemented("PeerCommunicator: broadcast");
  }
  Status barrier() override { return Status::ok(); }
  [[noreturn]] void abort(int code) override { std::exit(code); }

  struct Gather {
    size_t count;
    DType dtype;
    const void *send;
    void *recv;
    void *stream;
  };

  std::vector<Call> calls;
  std::vector<Gather> gathers;
  std::string failWith; ///< when set, every allReduce and allGather fails with this message

private:
  template <typename T> void combine(T *v, size_t count, Reduction op) const {
    for (size_t i = 0; i < count; ++i) {
      const T other = v[i] + 1;
      if (op == Reduction::Max)
        v[i] = other > v[i] ? other : v[i];
      else {
        const T sum = v[i] + static_cast<T>(size_ - 1) * other;
        v[i] = op == Reduction::Mean ? sum / static_cast<T>(size_) : sum;
      }
    }
  }

  Status loadDriver() {
    if (sync_)
      return Status::ok();
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
      return unavailable("PeerCommunicator: no libcuda.so.1");
    sync_ = reinterpret_cast<int (*)(void *)>(dlsym(lib, "cuStreamSynchronize"));
    toHost_ = reinterpret_cast<int (*)(void *, unsigned long long, size_t)>(
        dlsym(lib, "cuMemcpyDtoH_v2"));
    toDevice_ = reinterpret_cast<int (*)(unsigned long long, const void *, size_t, void *)>(
        dlsym(lib, "cuMemcpyHtoDAsync_v2"));
    if (!sync_ || !toHost_ || !toDevice_) {
      sync_ = nullptr;
      return unavailable("PeerCommunicator: libcuda.so.1 lacks an entry point");
    }
    return Status::ok();
  }

  int size_;
  int rank_;
  bool device_;
  int (*sync_)(void *) = nullptr;
  int (*toHost_)(void *, unsigned long long, size_t) = nullptr;
  int (*toDevice_)(unsigned long long, const void *, size_t, void *) = nullptr;
};

/// FakeCuda.cpp's count of graph launches, or -1 on a real driver: the collective tests check
/// with it that a step with collectives is never captured into a CUDA graph.
inline long long fakeGraphLaunches() {
  long long n = -1;
  if (void *fake = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD)) {
    if (auto launches =
            reinterpret_cast<long long (*)()>(dlsym(fake, "precis_fake_cuda_graph_launches")))
      n = launches();
    dlclose(fake);
  }
  return n;
}

} // namespace precis::rt::testing

#endif // PRECIS_UNITTESTS_TESTCOMMUNICATOR_H
