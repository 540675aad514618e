//===- RuntimeCommunicatorTest.cpp - the MPI and NCCL communicators -------===//
//
// Written for any number of processes: ctest runs it under `mpirun -np 2` and once without a
// launcher (a world of one). Each rank contributes values drawn from its rank, and every rank
// checks the collective's result against the exact value computed here from all ranks'
// contributions.
//
//   precis-runtime-communicator-test [gtest flags]   the tests
//   precis-runtime-communicator-test --abort-job     rank 1 calls abort(3) while rank 0 waits in
//                                                    a barrier (RuntimeMpiAbort: the job must
//                                                    end, with status 3)
//
// The NCCL test needs a GPU per rank and libnccl; elsewhere it checks that creation is a clean
// Unavailable and skips, saying so.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Communicator.h"
#include "precis/runtime/precis.h"

#include "RuntimeTestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <string>
#include <type_traits>
#include <vector>

using namespace precis::rt;

namespace {

#if PRECIS_TEST_MPI

/// The world communicator, made once per process (MPI_Comm_dup is collective: every rank
/// makes it at the same point, before the first test).
Communicator &world() {
  static std::shared_ptr<Communicator> comm = [] {
    std::shared_ptr<Communicator> c;
    Status s = createMpiCommunicator(&c);
    if (!s.isOk()) {
      std::fprintf(stderr, "createMpiCommunicator: %s\n", s.message().c_str());
      std::abort();
    }
    return c;
  }();
  return *comm;
}

/// The world size the launcher announced, or 1 without one.
int launchedSize() {
  const char *n = std::getenv("OMPI_COMM_WORLD_SIZE");
  return n ? std::atoi(n) : 1;
}

TEST(RuntimeMpi, RankAndSize) {
  EXPECT_TRUE(mpiAvailable());
  EXPECT_EQ(launchedByMpi(), std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr);
  Communicator &c = world();
  EXPECT_EQ(c.size(), launchedSize());
  if (const char *r = std::getenv("OMPI_COMM_WORLD_RANK"))
    EXPECT_EQ(c.rank(), std::atoi(r));
  else
    EXPECT_EQ(c.rank(), 0);
  EXPECT_STREQ(c.backend(), "mpi");
  EXPECT_FALSE(c.deviceMemory());
  EXPECT_TRUE(c.barrier().isOk());
}

/// Element i of rank r's contribution, per element type: fractions, negatives and values
/// beyond 32 bits, all exactly representable and summed exactly.
template <typename T> T contribution(int r, size_t i);
template <> float contribution<float>(int r, size_t i) {
  return (r + 1) * 0.25f - static_cast<float>(i % 97) * (r % 2 ? 1 : -1);
}
template <> double contribution<double>(int r, size_t i) {
  return (r + 1) * 0.125 + static_cast<double>(i) * (r + 2) * (r % 2 ? -1 : 1);
}
template <> int32_t contribution<int32_t>(int r, size_t i) {
  return static_cast<int32_t>(i * 1000) * (r % 2 ? -1 : 1) + r;
}
template <> int64_t contribution<int64_t>(int r, size_t i) {
  return (int64_t(1) << 40) * (r + 1) + static_cast<int64_t>(i) * (r - 1);
}
template <> uint8_t contribution<uint8_t>(int r, size_t i) {
  return static_cast<uint8_t>((r * 37 + i * 11) % 256);
}

template <typename T> DType dtypeOf();
template <> DType dtypeOf<float>() { return DType::F32; }
template <> DType dtypeOf<double>() { return DType::F64; }
template <> DType dtypeOf<int32_t>() { return DType::I32; }
template <> DType dtypeOf<int64_t>() { return DType::I64; }
template <> DType dtypeOf<uint8_t>() { return DType::U8; }

/// All-reduces every rank's contribution and compares with the exact result on every rank.
template <typename T> void checkAllReduce(Reduction op, size_t count) {
  Communicator &c = world();
  const int n = c.size();
  std::vector<T> data(count);
  for (size_t i = 0; i < count; ++i)
    data[i] = contribution<T>(c.rank(), i);
  ASSERT_TRUE(c.allReduce(data.data(), count, dtypeOf<T>(), op).isOk());
  for (size_t i = 0; i < count; ++i) {
    T expected = contribution<T>(0, i);
    for (int r = 1; r < n; ++r)
      expected = op == Reduction::Max ? std::max(expected, contribution<T>(r, i))
                                      : static_cast<T>(expected + contribution<T>(r, i));
    if (op == Reduction::Mean)
      expected = expected / static_cast<T>(n); // in the element type, after the sum
    ASSERT_EQ(data[i], expected) << "element " << i << " of " << count << ", rank " << c.rank();
  }
}

TEST(RuntimeMpi, AllReduceF32) {
  for (Reduction op : {Reduction::Sum, Reduction::Mean, Reduction::Max})
    checkAllReduce<float>(op, 1000);
}
TEST(RuntimeMpi, AllReduceF64) {
  for (Reduction op : {Reduction::Sum, Reduction::Mean, Reduction::Max})
    checkAllReduce<double>(op, 1000);
}
TEST(RuntimeMpi, AllReduceI32) {
  checkAllReduce<int32_t>(Reduction::Sum, 1000);
  checkAllReduce<int32_t>(Reduction::Max, 1000);
}
TEST(RuntimeMpi, AllReduceI64) {
  checkAllReduce<int64_t>(Reduction::Sum, 1000);
  checkAllReduce<int64_t>(Reduction::Max, 1000);
}
TEST(RuntimeMpi, AllReduceU8Max) { checkAllReduce<uint8_t>(Reduction::Max, 1000); }

TEST(RuntimeMpi, StartedAllReducesMatchAllReduce) {
  // Several all-reduces started back to back (they run on the communicator's thread while
  // this one goes on), a synchronous one after them (ordered behind them), and the waits in
  // reverse order: every buffer ends with the bits a synchronous allReduce gives.
  Communicator &c = world();
  const size_t counts[] = {1000, 1, 300000, 7};
  std::vector<std::vector<float>> started, expected;
  for (size_t count : counts) {
    std::vector<float> v(count);
    for (size_t i = 0; i < count; ++i)
      v[i] = contribution<float>(c.rank(), i) * 0.37f;
    std::vector<float> copy = v;
    ASSERT_TRUE(c.allReduce(copy.data(), count, DType::F32, Reduction::Mean).isOk());
    started.push_back(std::move(v));
    expected.push_back(std::move(copy));
  }
  std::vector<uint64_t> tickets;
  for (std::vector<float> &v : started) {
    uint64_t ticket = 0;
    ASSERT_TRUE(
        c.startAllReduce(v.data(), v.size(), DType::F32, Reduction::Mean, nullptr, &ticket).isOk());
    tickets.push_back(ticket);
  }
  double x = c.rank() + 1.0;
  ASSERT_TRUE(c.allReduce(&x, 1, DType::F64, Reduction::Sum).isOk());
  EXPECT_EQ(x, c.size() * (c.size() + 1) / 2.0);
  for (size_t k = tickets.size(); k-- > 0;) {
    ASSERT_TRUE(c.wait(tickets[k]).isOk());
    ASSERT_EQ(std::memcmp(started[k].data(), expected[k].data(), started[k].size() * 4), 0)
        << "all-reduce " << k;
  }
  // Errors found before starting come back at once, and nothing starts.
  uint64_t ticket = 0;
  int32_t i32 = 1;
  EXPECT_EQ(c.startAllReduce(&i32, 1, DType::I32, Reduction::Mean, nullptr, &ticket).code(),
            StatusCode::InvalidArgument);
  EXPECT_EQ(c.wait(tickets.back() + 1).code(), StatusCode::InvalidArgument);
  EXPECT_TRUE(c.barrier().isOk());
}

TEST(RuntimeMpi, AllReduceBoolMaxIsLogicalOr) {
  Communicator &c = world();
  const int n = c.size();
  // Element i is true on rank i % (n + 1) only: true after the reduction except where no
  // rank has it (i % (n + 1) == n).
  std::vector<uint8_t> flags(64);
  for (size_t i = 0; i < flags.size(); ++i)
    flags[i] = static_cast<int>(i % (n + 1)) == c.rank();
  ASSERT_TRUE(c.allReduce(flags.data(), flags.size(), DType::Bool, Reduction::Max).isOk());
  for (size_t i = 0; i < flags.size(); ++i)
    EXPECT_EQ(flags[i], static_cast<int>(i % (n + 1)) == n ? 0 : 1) << "element " << i;
}

TEST(RuntimeMpi, AllReduceOfNothing) {
  EXPECT_TRUE(world().allReduce(nullptr, 0, DType::F32, Reduction::Sum).isOk());
}

TEST(RuntimeMpi, AllReduceRejectsWhatItCannotDo) {
  // Checked before any communication, identically on every rank.
  Communicator &c = world();
  int32_t i32 = 1;
  int64_t i64 = 1;
  Status s = c.allReduce(&i32, 1, DType::I32, Reduction::Mean);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_NE(s.message().find("mean of i32"), std::string::npos) << s.message();
  EXPECT_EQ(c.allReduce(&i64, 1, DType::I64, Reduction::Mean).code(), StatusCode::InvalidArgument);
  uint8_t u8 = 1;
  s = c.allReduce(&u8, 1, DType::U8, Reduction::Sum);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_NE(s.message().find("only the max"), std::string::npos) << s.message();
  uint16_t half = 0;
  s = c.allReduce(&half, 1, DType::F16, Reduction::Sum);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_NE(s.message().find("f16"), std::string::npos) << s.message();
  EXPECT_EQ(c.allReduce(nullptr, 4, DType::F32, Reduction::Sum).code(),
            StatusCode::InvalidArgument);
  EXPECT_EQ(i32, 1);
  EXPECT_EQ(i64, 1);
}

TEST(RuntimeMpi, AllGather) {
  Communicator &c = world();
  const int n = c.size();
  std::vector<int64_t> send = {c.rank() * 10 + 0, c.rank() * 10 + 1, -(c.rank() + 1)};
  std::vector<int64_t> recv(3 * n, 7);
  ASSERT_TRUE(c.allGather(send.data(), recv.data(), 3, DType::I64).isOk());
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(recv[3 * r + 0], r * 10 + 0);
    EXPECT_EQ(recv[3 * r + 1], r * 10 + 1);
    EXPECT_EQ(recv[3 * r + 2], -(r + 1));
  }
  // Any element type, by bytes: bf16 bit patterns.
  std::vector<uint16_t> bf16 = {static_cast<uint16_t>(0x3f80 + c.rank())};
  std::vector<uint16_t> gathered(n);
  ASSERT_TRUE(c.allGather(bf16.data(), gathered.data(), 1, DType::BF16).isOk());
  for (int r = 0; r < n; ++r)
    EXPECT_EQ(gathered[r], 0x3f80 + r);
}

TEST(RuntimeMpi, BroadcastFromRankOne) {
  Communicator &c = world();
  const int root = std::min(1, c.size() - 1);
  std::vector<uint8_t> bytes(4099);
  for (size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<uint8_t>(i * 7 + c.rank() * 101);
  ASSERT_TRUE(c.broadcast(bytes.data(), bytes.size(), root).isOk());
  for (size_t i = 0; i < bytes.size(); ++i)
    ASSERT_EQ(bytes[i], static_cast<uint8_t>(i * 7 + root * 101)) << "byte " << i;

  Status s = c.broadcast(bytes.data(), bytes.size(), c.size());
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
  EXPECT_NE(s.message().find("is not a rank"), std::string::npos) << s.message();
}

TEST(RuntimeMpi, CommunicatorsAreIndependent) {
  // A second communicator of the same world: its own duplicate, usable next to the first.
  std::shared_ptr<Communicator> second;
  ASSERT_TRUE(createMpiCommunicator(&second).isOk());
  EXPECT_EQ(second->rank(), world().rank());
  EXPECT_EQ(second->size(), world().size());
  double x = world().rank() + 1.0;
  ASSERT_TRUE(second->allReduce(&x, 1, DType::F64, Reduction::Sum).isOk());
  const int n = world().size();
  EXPECT_EQ(x, n * (n + 1) / 2.0);
  EXPECT_TRUE(world().barrier().isOk());
}

TEST(RuntimeMpi, CApi) {
  precis_status_t nullOut = precis_communicator_create_mpi(nullptr);
  EXPECT_EQ(precis_status_code(nullOut), PRECIS_INVALID_ARGUMENT);
  precis_status_free(nullOut);
  precis_communicator_t *comm = nullptr;
  precis_status_t st = precis_communicator_create_mpi(&comm);
  ASSERT_EQ(st, nullptr) << precis_status_message(st);
  EXPECT_EQ(precis_communicator_rank(comm), world().rank());
  EXPECT_EQ(precis_communicator_size(comm), world().size());
  EXPECT_EQ(precis_communicator_rank(nullptr), 0);
  EXPECT_EQ(precis_communicator_size(nullptr), 1);

  // In a session's options: NULL by default; a session made with one runs as before, and the
  // session keeps the communicator alive after the caller's handle is destroyed.
  precis_session_options_t options;
  std::memset(&options, 0xff, sizeof(options));
  precis_session_options_init(&options);
  EXPECT_EQ(options.communicator, nullptr);
  options.communicator = comm;
  const std::string artifact = precis::rt::testing::makeMlpArtifact();
  precis_session_t *session = nullptr;
  st = precis_session_create_from_memory(artifact.data(), artifact.size(), &options, &session);
  ASSERT_EQ(st, nullptr) << precis_status_message(st);
  precis_communicator_destroy(comm);
  std::vector<float> x = {1, -1, 2, -2, 0.5f, 3, -3, 0};
  const int64_t shape[] = {2, 4};
  precis_tensor_t input{PRECIS_DTYPE_F32, 2, shape, x.data(), x.size() * sizeof(float)};
  precis_tensor_t *outputs = nullptr;
  size_t numOutputs = 0;
  st = precis_session_run(session, "forward", &input, 1, &outputs, &numOutputs);
  ASSERT_EQ(st, nullptr) << precis_status_message(st);
  std::vector<float> y, z;
  precis::rt::testing::mlpReference(x, &y, &z);
  ASSERT_EQ(numOutputs, 2u);
  ASSERT_EQ(outputs[1].byte_size, z.size() * sizeof(float));
  const float *got = static_cast<const float *>(outputs[1].data);
  for (size_t i = 0; i < z.size(); ++i)
    EXPECT_NEAR(got[i], z[i], 1e-5f * std::abs(z[i])) << "z[" << i << "]";
  precis_tensors_free(outputs, numOutputs);
  precis_session_release(session);
  precis_communicator_destroy(nullptr);

  precis_communicator_t *nccl = nullptr;
  st = precis_communicator_create_nccl(nullptr, 0, &nccl);
  EXPECT_EQ(precis_status_code(st), PRECIS_INVALID_ARGUMENT);
  precis_status_free(st);
}

//===----------------------------------------------------------------------===//
// NCCL: device memory through the driver API, loaded here as the runtime loads it.
//===----------------------------------------------------------------------===//

/// What FakeNccl.cpp records of the last collective (its precis_fake_nccl_last).
struct FakeNcclCall {
  char what[32];
  int datatype, op, root;
  size_t count;
  void *stream;
  int initRanks, initRank;
};

/// The few driver entry points the NCCL test needs (plain C types: no CUDA header here).
struct TestDriver {
  using Ptr = unsigned long long;
  int (*cuDeviceGetCount)(int *) = nullptr;
  int (*cuDeviceGet)(int *, int) = nullptr;
  int (*cuDevicePrimaryCtxRetain)(void **, int) = nullptr;
  int (*cuDevicePrimaryCtxRelease)(int) = nullptr;
  int (*cuCtxPushCurrent)(void *) = nullptr;
  int (*cuCtxPopCurrent)(void **) = nullptr;
  int (*cuStreamSynchronize)(void *) = nullptr;
  int (*cuStreamCreate)(void **, unsigned) = nullptr;
  int (*cuStreamDestroy)(void *) = nullptr;
  int (*cuMemAlloc)(Ptr *, size_t) = nullptr;
  int (*cuMemFree)(Ptr) = nullptr;
  int (*cuMemcpyHtoD)(Ptr, const void *, size_t) = nullptr;
  int (*cuMemcpyDtoH)(void *, Ptr, size_t) = nullptr;

  bool load() {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
      return false;
    auto get = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      return fn != nullptr;
    };
    return get(cuDeviceGetCount, "cuDeviceGetCount") && get(cuDeviceGet, "cuDeviceGet") &&
           get(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") &&
           get(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2") &&
           get(cuCtxPushCurrent, "cuCtxPushCurrent_v2") &&
           get(cuCtxPopCurrent, "cuCtxPopCurrent_v2") &&
           get(cuStreamSynchronize, "cuStreamSynchronize") &&
           get(cuStreamCreate, "cuStreamCreate") && get(cuStreamDestroy, "cuStreamDestroy_v2") &&
           get(cuMemAlloc, "cuMemAlloc_v2") && get(cuMemFree, "cuMemFree_v2") &&
           get(cuMemcpyHtoD, "cuMemcpyHtoD_v2") && get(cuMemcpyDtoH, "cuMemcpyDtoH_v2");
  }
};

TEST(RuntimeNccl, CollectivesOnTheDevice) {
  Communicator &c = world();
  // One device per rank when the machine has enough (NCCL does not put two ranks on one
  // device); the device count is agreed on so that every rank takes the same path.
  TestDriver d;
  int devices = 0;
  if (d.load() && d.cuDeviceGetCount(&devices) != 0)
    devices = 0;
  int64_t negated = -devices;
  ASSERT_TRUE(c.allReduce(&negated, 1, DType::I64, Reduction::Max).isOk());
  const int64_t fewest = -negated;
  if (fewest > 0 && fewest < c.size())
    GTEST_SKIP() << "NCCL needs a GPU per rank: " << c.size() << " ranks, " << fewest << " GPUs";

  std::shared_ptr<Communicator> nccl;
  Status s = createNcclCommunicator(c, fewest ? c.rank() : 0, &nccl);
  if (fewest == 0) {
    // No GPU: creation is a clean Unavailable on every rank.
    ASSERT_EQ(s.code(), StatusCode::Unavailable) << s.message();
    EXPECT_NE(s.message().find("CUDA"), std::string::npos) << s.message();
    GTEST_SKIP() << "no GPU: " << s.message();
  }
  if (s.code() == StatusCode::Unavailable && s.message().find("libnccl") != std::string::npos)
    GTEST_SKIP() << "no NCCL: " << s.message();
  ASSERT_TRUE(s.isOk()) << s.message();
  // Under FakeNccl.cpp (RuntimeNcclFake) the arguments NCCL received, by nccl.h's numbers.
  const FakeNcclCall *fake = nullptr;
  if (void *lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_NOLOAD))
    fake = static_cast<const FakeNcclCall *>(dlsym(lib, "precis_fake_nccl_last"));
  if (fake) {
    EXPECT_EQ(fake->initRanks, c.size());
    EXPECT_EQ(fake->initRank, c.rank());
  }
  EXPECT_STREQ(nccl->backend(), "nccl");
  EXPECT_TRUE(nccl->deviceMemory());
  EXPECT_EQ(nccl->rank(), c.rank());
  EXPECT_EQ(nccl->size(), c.size());

  int dev = 0;
  void *ctx = nullptr, *popped = nullptr;
  ASSERT_EQ(d.cuDeviceGet(&dev, c.rank()), 0);
  ASSERT_EQ(d.cuDevicePrimaryCtxRetain(&ctx, dev), 0);
  ASSERT_EQ(d.cuCtxPushCurrent(ctx), 0);
  const int n = c.size();
  const size_t count = 4096;
  TestDriver::Ptr buf = 0, gathered = 0;
  ASSERT_EQ(d.cuMemAlloc(&buf, count * sizeof(float)), 0);
  ASSERT_EQ(d.cuMemAlloc(&gathered, n * count * sizeof(float)), 0);
  for (Reduction op : {Reduction::Sum, Reduction::Mean, Reduction::Max}) {
    std::vector<float> host(count);
    for (size_t i = 0; i < count; ++i)
      host[i] = contribution<float>(c.rank(), i);
    ASSERT_EQ(d.cuMemcpyHtoD(buf, host.data(), count * sizeof(float)), 0);
    ASSERT_TRUE(nccl->allReduce(reinterpret_cast<void *>(buf), count, DType::F32, op).isOk());
    if (fake) {
      EXPECT_STREQ(fake->what, "allreduce");
      EXPECT_EQ(fake->datatype, 7);                                                 // ncclFloat32
      EXPECT_EQ(fake->op, op == Reduction::Sum ? 0 : op == Reduction::Max ? 2 : 4); // ncclAvg
      EXPECT_EQ(fake->count, count);
    }
    ASSERT_EQ(d.cuStreamSynchronize(nullptr), 0);
    ASSERT_EQ(d.cuMemcpyDtoH(host.data(), buf, count * sizeof(float)), 0);
    for (size_t i = 0; i < count; ++i) {
      float expected = contribution<float>(0, i);
      for (int r = 1; r < n; ++r)
        expected = op == Reduction::Max ? std::max(expected, contribution<float>(r, i))
                                        : expected + contribution<float>(r, i);
      if (op == Reduction::Mean)
        expected /= static_cast<float>(n);
      // Sums of these values are exact in f32; ncclAvg may divide or multiply by 1/n.
      ASSERT_NEAR(host[i], expected, op == Reduction::Mean ? 1e-6f * std::abs(expected) : 0.0f)
          << "element " << i;
    }
  }
  // i64 and bool, through the same buffer; the mean of integers never reaches NCCL.
  std::vector<int64_t> wide(count / 2);
  for (size_t i = 0; i < wide.size(); ++i)
    wide[i] = contribution<int64_t>(c.rank(), i);
  ASSERT_EQ(d.cuMemcpyHtoD(buf, wide.data(), wide.size() * sizeof(int64_t)), 0);
  ASSERT_TRUE(
      nccl->allReduce(reinterpret_cast<void *>(buf), wide.size(), DType::I64, Reduction::Max)
          .isOk());
  if (fake) {
    EXPECT_EQ(fake->datatype, 4); // ncclInt64
    EXPECT_EQ(fake->op, 2);       // ncclMax
  }
  ASSERT_EQ(d.cuStreamSynchronize(nullptr), 0);
  ASSERT_EQ(d.cuMemcpyDtoH(wide.data(), buf, wide.size() * sizeof(int64_t)), 0);
  for (size_t i = 0; i < wide.size(); ++i) {
    int64_t expected = contribution<int64_t>(0, i);
    for (int r = 1; r < n; ++r)
      expected = std::max(expected, contribution<int64_t>(r, i));
    ASSERT_EQ(wide[i], expected) << "element " << i;
  }
  EXPECT_EQ(nccl->allReduce(reinterpret_cast<void *>(buf), 1, DType::I32, Reduction::Mean).code(),
            StatusCode::InvalidArgument);
  EXPECT_EQ(nccl->allReduce(reinterpret_cast<void *>(buf), 1, DType::Bool, Reduction::Sum).code(),
            StatusCode::InvalidArgument);

  std::vector<float> mine(count, static_cast<float>(c.rank()) + 0.5f);
  ASSERT_EQ(d.cuMemcpyHtoD(buf, mine.data(), count * sizeof(float)), 0);
  ASSERT_TRUE(nccl->allGather(reinterpret_cast<void *>(buf), reinterpret_cast<void *>(gathered),
                              count, DType::F32)
                  .isOk());
  if (fake) {
    EXPECT_STREQ(fake->what, "allgather");
    EXPECT_EQ(fake->datatype, 1); // ncclUint8: any dtype, as bytes
    EXPECT_EQ(fake->count, count * sizeof(float));
  }
  ASSERT_EQ(d.cuStreamSynchronize(nullptr), 0);
  std::vector<float> all(n * count);
  ASSERT_EQ(d.cuMemcpyDtoH(all.data(), gathered, all.size() * sizeof(float)), 0);
  for (int r = 0; r < n; ++r)
    EXPECT_EQ(all[r * count + count - 1], r + 0.5f);
  const int root = std::min(1, n - 1);
  ASSERT_TRUE(nccl->broadcast(reinterpret_cast<void *>(buf), count * sizeof(float), root).isOk());
  if (fake) {
    EXPECT_STREQ(fake->what, "broadcast");
    EXPECT_EQ(fake->root, root);
    EXPECT_EQ(fake->count, count * sizeof(float));
  }
  ASSERT_EQ(d.cuStreamSynchronize(nullptr), 0);
  ASSERT_EQ(d.cuMemcpyDtoH(mine.data(), buf, count * sizeof(float)), 0);
  EXPECT_EQ(mine[0], root + 0.5f);

  // A started all-reduce runs on the communicator's own stream; waiting for it orders the
  // caller's stream (an event on a GPU), and the result is the synchronous one.
  void *stream = nullptr;
  ASSERT_EQ(d.cuStreamCreate(&stream, 0), 0);
  std::vector<float> host(count), sync(count);
  for (size_t i = 0; i < count; ++i)
    host[i] = contribution<float>(c.rank(), i);
  ASSERT_EQ(d.cuMemcpyHtoD(buf, host.data(), count * sizeof(float)), 0);
  ASSERT_TRUE(
      nccl->allReduce(reinterpret_cast<void *>(buf), count, DType::F32, Reduction::Sum, stream)
          .isOk());
  ASSERT_EQ(d.cuStreamSynchronize(stream), 0);
  ASSERT_EQ(d.cuMemcpyDtoH(sync.data(), buf, count * sizeof(float)), 0);
  ASSERT_EQ(d.cuMemcpyHtoD(buf, host.data(), count * sizeof(float)), 0);
  uint64_t ticket = 0;
  ASSERT_TRUE(nccl->startAllReduce(reinterpret_cast<void *>(buf), count, DType::F32, Reduction::Sum,
                                   stream, &ticket)
                  .isOk());
  if (fake) {
    EXPECT_STREQ(fake->what, "allreduce");
    EXPECT_NE(fake->stream, stream);
    EXPECT_NE(fake->stream, nullptr);
  }
  using Counter = long long (*)();
  Counter eventWaits = nullptr;
  if (void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD))
    eventWaits = reinterpret_cast<Counter>(dlsym(lib, "precis_fake_cuda_event_waits"));
  const long long waitsBefore = eventWaits ? eventWaits() : 0;
  ASSERT_TRUE(nccl->wait(ticket, stream).isOk());
  if (eventWaits) {
    EXPECT_EQ(eventWaits(), waitsBefore + 1);
  }
  ASSERT_EQ(d.cuStreamSynchronize(stream), 0);
  ASSERT_EQ(d.cuMemcpyDtoH(host.data(), buf, count * sizeof(float)), 0);
  EXPECT_EQ(host, sync);
  EXPECT_TRUE(nccl->wait(ticket, stream).isOk()); // already finished: nothing to do
  EXPECT_EQ(nccl->wait(ticket + 1, stream).code(), StatusCode::InvalidArgument);
  d.cuStreamDestroy(stream);
  EXPECT_TRUE(nccl->barrier().isOk());
  d.cuMemFree(buf);
  d.cuMemFree(gathered);
  d.cuCtxPopCurrent(&popped);
  d.cuDevicePrimaryCtxRelease(dev);
}

/// --abort-job: rank 1 ends the job while rank 0 waits for it in a barrier.
int abortJob() {
  Communicator &c = world();
  if (c.size() < 2) {
    std::fprintf(stderr, "--abort-job needs 2 or more processes\n");
    return 2;
  }
  if (c.rank() == 1) {
    std::fprintf(stderr, "rank 1: aborting the job with status 3\n");
    c.abort(3);
  }
  Status s = c.barrier();
  std::fprintf(stderr, "rank %d: the barrier returned (%s): abort did not end the job\n", c.rank(),
               s.isOk() ? "ok" : s.message().c_str());
  return 0;
}

#else // !PRECIS_TEST_MPI

TEST(RuntimeMpi, UnavailableWithoutMpi) {
  EXPECT_FALSE(mpiAvailable());
  std::shared_ptr<Communicator> c;
  Status s = createMpiCommunicator(&c);
  EXPECT_EQ(s.code(), StatusCode::Unavailable);
  EXPECT_NE(s.message().find("built without MPI"), std::string::npos) << s.message();
  EXPECT_EQ(c, nullptr);
  precis_communicator_t *comm = nullptr;
  precis_status_t st = precis_communicator_create_mpi(&comm);
  EXPECT_EQ(precis_status_code(st), PRECIS_UNAVAILABLE);
  precis_status_free(st);
}

int abortJob() { return 2; }

#endif // PRECIS_TEST_MPI

} // namespace

// PRECIS_TEST_ASAN / PRECIS_TEST_TSAN: the build's PRECIS_SANITIZE (unittests/CMakeLists.txt).
//
// Under LeakSanitizer: Open MPI keeps allocations from MPI_Init past MPI_Finalize (its
// operation tables, the run-time environment's state), reported as leaks. Reports whose
// allocation stack passes through libmpi, libopen-rte or libopen-pal are suppressed, and those
// made on Open MPI's progress threads, which run in libevent's loop (Debian's Open MPI uses the
// system libevent) in plugins that MPI_Finalize has unloaded by the time of the report. The
// full stack through these uninstrumented libraries needs the slow unwinder at malloc.
#if PRECIS_TEST_MPI && PRECIS_TEST_ASAN
extern "C" const char *__asan_default_options() { return "fast_unwind_on_malloc=0"; }
extern "C" const char *__lsan_default_suppressions() {
  return "leak:libmpi.so\n"
         "leak:libopen-rte.so\n"
         "leak:libopen-pal.so\n"
         "leak:libevent_core\n";
}
#endif

// Under ThreadSanitizer: Open MPI (libmpi and its plugins) is not instrumented, so TSan sees
// it only through its calls to intercepted functions, and reports the TCP transport's taking
// two of its own locks in both orders (mca_btl_tcp_add_procs / _del_procs) as a potential
// deadlock. Reports with a frame in an Open MPI library are suppressed, and only those.
#if PRECIS_TEST_MPI && PRECIS_TEST_TSAN
extern "C" const char *__tsan_default_suppressions() {
  return "deadlock:libmpi.so\n"
         "deadlock:libopen-pal.so\n"
         "deadlock:libopen-rte.so\n"
         "deadlock:mca_\n" // Open MPI's plugins: mca_btl_tcp.so, ...
         "race:libmpi.so\n"
         "race:libopen-pal.so\n"
         "race:libopen-rte.so\n"
         "race:mca_\n";
}
#endif

int main(int argc, char **argv) {
  if (argc == 2 && std::strcmp(argv[1], "--abort-job") == 0)
    return abortJob();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
