//===- FakeNccl.cpp - a host-memory stand-in for libnccl.so.2, one rank ---===//
//
// Lets the NCCL communicator's loading, id exchange and argument mapping run on machines
// without a GPU, next to FakeCuda.cpp (whose "device memory" is host memory): the RuntimeNcclFake
// test puts both on LD_LIBRARY_PATH and runs the NCCL test as a world of one. A communicator of
// one rank reduces, gathers and broadcasts by copying, after checking every argument as NCCL
// would; each call is recorded in precis_fake_nccl_last, which the test reads to check that
// the runtime's dtypes and reductions reach NCCL as nccl.h numbers them. Real multi-rank
// behaviour needs real NCCL (scripts/gpu-check).
//
//===----------------------------------------------------------------------===//

#include <cstdio>
#include <cstring>
#include <unistd.h>

struct Comm {
  int nranks, rank;
};

/// ncclUniqueId: passed by value, as NCCL declares it.
struct UniqueId {
  char internal[128];
};

namespace {

enum Result { Success = 0, InvalidArgument = 4 };
constexpr char kMagic[] = "precis-fake-nccl";

size_t typeSize(int t) {
  switch (t) {
  case 0: // int8
  case 1: // uint8
    return 1;
  case 2: // int32
  case 7: // float32
    return 4;
  case 4: // int64
  case 8: // float64
    return 8;
  default:
    return 0;
  }
}

} // namespace

extern "C" {

/// The last collective: which one, and its arguments as received.
struct PrecisFakeNcclCall {
  char what[32];
  int datatype, op, root;
  size_t count;
  void *stream;
  int initRanks, initRank; ///< from the last ncclCommInitRank
};
PrecisFakeNcclCall precis_fake_nccl_last;

int ncclGetVersion(int *version) {
  *version = 22800; // 2.28.0
  return Success;
}
const char *ncclGetErrorString(int r) {
  return r == Success ? "no error" : "invalid argument (fake NCCL)";
}
int ncclGetUniqueId(UniqueId *id) {
  std::memset(id->internal, 0, sizeof(id->internal));
  std::snprintf(id->internal, sizeof(id->internal), "%s:%d", kMagic, static_cast<int>(getpid()));
  return Success;
}
int ncclCommInitRank(Comm **comm, int nranks, UniqueId id, int rank) {
  if (std::strncmp(id.internal, kMagic, sizeof(kMagic) - 1) != 0 || nranks != 1 || rank != 0)
    return InvalidArgument;
  *comm = new Comm{nranks, rank};
  precis_fake_nccl_last.initRanks = nranks;
  precis_fake_nccl_last.initRank = rank;
  return Success;
}
int ncclCommDestroy(Comm *comm) {
  delete comm;
  return Success;
}
int ncclCommAbort(Comm *comm) {
  delete comm;
  return Success;
}

static void record(const char *what, int datatype, int op, int root, size_t count, void *stream) {
  std::snprintf(precis_fake_nccl_last.what, sizeof(precis_fake_nccl_last.what), "%s", what);
  precis_fake_nccl_last.datatype = datatype;
  precis_fake_nccl_last.op = op;
  precis_fake_nccl_last.root = root;
  precis_fake_nccl_last.count = count;
  precis_fake_nccl_last.stream = stream;
}

int ncclAllReduce(const void *send, void *recv, size_t count, int datatype, int op, Comm *comm,
                  void *stream) {
  record("allreduce", datatype, op, -1, count, stream);
  if (!comm || !typeSize(datatype) || (op != 0 && op != 1 && op != 2 && op != 3 && op != 4))
    return InvalidArgument;
  std::memmove(recv, send, count * typeSize(datatype)); // one rank: every reduction is a copy
  return Success;
}
int ncclAllGather(const void *send, void *recv, size_t count, int datatype, Comm *comm,
                  void *stream) {
  record("allgather", datatype, -1, -1, count, stream);
  if (!comm || !typeSize(datatype))
    return InvalidArgument;
  std::memmove(recv, send, count * typeSize(datatype));
  return Success;
}
int ncclBroadcast(const void *send, void *recv, size_t count, int datatype, int root, Comm *comm,
                  void *stream) {
  record("broadcast", datatype, -1, root, count, stream);
  if (!comm || !typeSize(datatype) || root < 0 || root >= comm->nranks)
    return InvalidArgument;
  std::memmove(recv, send, count * typeSize(datatype));
  return Success;
}

} // extern "C"
