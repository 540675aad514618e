//===- allreduce_bench.cpp - all-reduce bandwidth of the communicators ----===//
//
// Times Communicator::allReduce (f32 sum, in place) over message sizes from 8 B to --max-mb
// MiB, the way nccl-tests' all_reduce_perf reports it: per size the mean time of --iters
// calls after --warmup, the algorithm bandwidth algbw = bytes / time and the bus bandwidth
// busbw = algbw * 2 (N - 1) / N, which is what a ring all-reduce moves through each rank's
// link and so is comparable with the link's speed whatever N is. Rank 0 prints the table.
//
//   mpirun -np 2 precis-allreduce-bench [--backend mpi|nccl] [--max-mb 64] [--iters 20]
//
// --backend nccl reduces device buffers through NCCL (one GPU per rank, rank r on device
// r % visible devices); mpi reduces host memory. Expectations to compare with (nccl-tests'
// busbw for large messages): NVLink 4 on 8 H100s about 360-480 GB/s; 400 Gb/s InfiniBand
// about 45 GB/s per NIC; shared memory between two processes of one CPU, a few GB/s to tens of
// GB/s, bounded by memory bandwidth.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Communicator.h"

#if PRECIS_HAVE_CUDA
#include "cuda/CudaApi.h"
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace precis::rt;

namespace {

int usage(const char *message) {
  std::fprintf(stderr,
               "precis-allreduce-bench: %s\n"
               "usage: mpirun -np N precis-allreduce-bench [--backend mpi|nccl] [--max-mb M] "
               "[--iters K] [--warmup W]\n",
               message);
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  std::string backend = "mpi";
  double maxMb = 64;
  int iters = 20, warmup = 5;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc)
      return usage(("missing value after " + flag).c_str());
    const char *value = argv[++i];
    if (flag == "--backend")
      backend = value;
    else if (flag == "--max-mb")
      maxMb = std::atof(value);
    else if (flag == "--iters")
      iters = std::atoi(value);
    else if (flag == "--warmup")
      warmup = std::atoi(value);
    else
      return usage(("unknown flag " + flag).c_str());
  }
  if (backend != "mpi" && backend != "nccl")
    return usage("--backend must be mpi or nccl");
  if (!(maxMb > 0) || iters < 1 || warmup < 0)
    return usage("--max-mb must be positive, --iters >= 1, --warmup >= 0");
  std::shared_ptr<Communicator> mpi, comm;
  if (Status s = createMpiCommunicator(&mpi); !s) {
    std::fprintf(stderr, "precis-allreduce-bench: %s\n", s.message().c_str());
    return 1;
  }
  comm = mpi;
  if (backend == "nccl")
    if (Status s = createNcclCommunicator(*mpi, mpi->rank(), &comm); !s) {
      std::fprintf(stderr, "precis-allreduce-bench: rank %d: %s\n", mpi->rank(),
                   s.message().c_str());
      mpi->abort(1);
    }
  const int n = comm->size();
  const size_t maxBytes = static_cast<size_t>(maxMb * 1048576.0);
  std::vector<float> host(maxBytes / sizeof(float) + 1, 1.0f);
  void *data = host.data();
  // NCCL reduces device memory, on the device the communicator made current (the device's
  // primary context); a stream synchronisation closes every timed call.
#if PRECIS_HAVE_CUDA
  const cuda::Driver *d = nullptr;
  CUdeviceptr device = 0;
  if (comm->deviceMemory()) {
    Status s = cuda::loadDriver(&d);
    if (s)
      s = cuda::check(*d, d->cuMemAlloc(&device, host.size() * sizeof(float)), "cuMemAlloc");
    if (s)
      s = cuda::check(*d, d->cuMemcpyHtoD(device, host.data(), host.size() * sizeof(float)),
                      "cuMemcpyHtoD");
    if (!s) {
      std::fprintf(stderr, "rank %d: %s\n", comm->rank(), s.message().c_str());
      comm->abort(1);
    }
    data = reinterpret_cast<void *>(device);
  }
  auto syncDevice = [&] {
    if (d)
      (void)cuda::check(*d, d->cuStreamSynchronize(nullptr), "cuStreamSynchronize");
  };
  auto resetDevice = [&] {
    if (d)
      (void)cuda::check(*d, d->cuMemcpyHtoD(device, host.data(), host.size() * sizeof(float)),
                        "cuMemcpyHtoD");
    else
      std::fill(host.begin(), host.end(), 1.0f);
  };
#else
  if (comm->deviceMemory()) {
    std::fprintf(stderr, "precis-allreduce-bench: built without the CUDA backend\n");
    comm->abort(1);
  }
  auto syncDevice = [] {};
  auto resetDevice = [&] { std::fill(host.begin(), host.end(), 1.0f); };
#endif
  if (comm->rank() == 0) {
    std::printf("# all-reduce, f32 sum, in place, %d ranks, backend %s\n", n, comm->backend());
    std::printf("%12s %12s %12s %12s %12s\n", "size (B)", "count", "time (us)", "algbw (GB/s)",
                "busbw (GB/s)");
  }
  for (size_t bytes = 8; bytes <= maxBytes; bytes *= 4) {
    const size_t count = bytes / sizeof(float);
    for (int i = 0; i < warmup; ++i)
      if (Status s = comm->allReduce(data, count, DType::F32, Reduction::Sum); !s) {
        std::fprintf(stderr, "rank %d: %s\n", comm->rank(), s.message().c_str());
        comm->abort(1);
      }
    syncDevice();
    (void)mpi->barrier();
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i)
      (void)comm->allReduce(data, count, DType::F32, Reduction::Sum);
    syncDevice();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iters;
    // The slowest rank's time is the collective's.
    double worst = seconds;
    (void)mpi->allReduce(&worst, 1, DType::F64, Reduction::Max);
    const double algbw = static_cast<double>(bytes) / worst / 1e9;
    const double busbw = algbw * 2.0 * (n - 1) / n;
    if (comm->rank() == 0)
      std::printf("%12zu %12zu %12.1f %12.3f %12.3f\n", bytes, count, worst * 1e6, algbw, busbw);
    // Values grow by N every call; reset so they stay finite.
    resetDevice();
  }
  return 0;
}
