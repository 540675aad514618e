//===- Mpi.cpp - the MPI communicator (Open MPI) ---------------------------===//
//
// Collectives over host memory on a duplicate of MPI_COMM_WORLD. MPI is initialised by the
// first createMpiCommunicator of the process (unless the program initialised it already) and
// finalised at exit only in that case. The duplicate reports errors (MPI_ERRORS_RETURN), which
// become Status values with MPI's own text.
//
// An all-reduce started with startAllReduce runs on the communicator's own thread, which makes
// the same blocking MPI_Allreduce call allReduce makes (so the result is the same bits, and
// the transport progresses while the caller computes: Open MPI's non-blocking collectives
// progress only inside MPI calls of their process, and Open MPI 4 offers no asynchronous
// progress thread for the shared-memory transport). Started all-reduces run one after another
// in the order they were started; every other call waits until they have finished before it
// calls MPI, so only one thread is ever inside MPI with this communicator, as
// MPI_THREAD_SERIALIZED requires. The thread starts with the first startAllReduce.
//
// Built without MPI (PRECIS_WITH_MPI=OFF, or no MPI found), createMpiCommunicator is
// Unavailable and mpiAvailable() is false.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Communicator.h"

#include <cstdlib>
#include <string>

#if PRECIS_HAVE_MPI
#include "dist/Checks.h"

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <unistd.h>

// The C API only: the deprecated C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace precis::rt {

bool launchedByMpi() {
  for (const char *var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(var))
      return true;
  return false;
}

#if PRECIS_HAVE_MPI

namespace {

/// OK for MPI_SUCCESS; otherwise Internal "<what>: <MPI_Error_string>".
Status check(int rc, const char *what) {
  if (rc == MPI_SUCCESS)
    return Status::ok();
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
    return internalError(std::string(what) + ": MPI error " + std::to_string(rc));
  return internalError(std::string(what) + ": " + std::string(text, len));
}

#define PRECIS_MPI(fn, ...) PRECIS_RETURN_IF_ERROR(check(fn(__VA_ARGS__), #fn))

/// MPI finalised at exit when this runtime initialised it. Communicators still alive then are
/// not freed (their destructors check MPI_Finalized).
void finalizeAtExit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    MPI_Finalize();
}

Status initOnce() {
  static Status status;
  static std::once_flag once;
  std::call_once(once, [] {
    int initialized = 0;
    if (Status s = check(MPI_Initialized(&initialized), "MPI_Initialized"); !s.isOk()) {
      status = s;
      return;
    }
    if (initialized) {
      int provided = MPI_THREAD_SINGLE;
      MPI_Query_thread(&provided);
      if (provided < MPI_THREAD_SERIALIZED)
        status = unavailable("MPI was initialised with a thread level below "
                             "MPI_THREAD_SERIALIZED; the runtime calls MPI from whichever "
                             "thread runs a session");
      return;
    }
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) {
      status = unavailable("MPI was already finalised in this process");
      return;
    }
    int provided = MPI_THREAD_SINGLE;
    status = check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided),
                   "MPI_Init_thread");
    if (!status.isOk())
      return;
    std::atexit(finalizeAtExit);
    if (provided < MPI_THREAD_SERIALIZED)
      status = unavailable("MPI provides thread level " + std::to_string(provided) +
                           ", below MPI_THREAD_SERIALIZED");
  });
  return status;
}

/// The MPI type for a reduction's element type; null for types MPI reduces as something else.
MPI_Datatype mpiType(DType t) {
  switch (t) {
  case DType::F32:
    return MPI_FLOAT;
  case DType::F64:
    return MPI_DOUBLE;
  case DType::I32:
    return MPI_INT32_T;
  case DType::I64:
    return MPI_INT64_T;
  case DType::U8:
  case DType::Bool: // one byte, 0 or 1: the maximum is the logical or
    return MPI_UINT8_T;
  default:
    return MPI_DATATYPE_NULL;
  }
}

template <typename T> void divide(void *data, size_t count, int n) {
  T *p = static_cast<T *>(data);
  const T d = static_cast<T>(n);
  for (size_t i = 0; i < count; ++i)
    p[i] /= d;
}

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator(MPI_Comm comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}
  ~MpiCommunicator() override {
    if (thread_.joinable()) {
      // The other ranks take part in every started all-reduce: finish them before stopping.
      (void)wait(issued_, nullptr);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
      }
      wake_.notify_all();
      thread_.join();
    }
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized)
      MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char *backend() const override { return "mpi"; }
  bool deviceMemory() const override { return false; }

  Status allReduce(void *data, size_t count, DType dtype, Reduction op, void *) override {
    PRECIS_RETURN_IF_ERROR(dist::checkAllReduce(count, data, dtype, op));
    PRECIS_RETURN_IF_ERROR(finishStarted());
    return reduce(data, count, dtype, op);
  }

  Status startAllReduce(void *data, size_t count, DType dtype, Reduction op, void *,
                        uint64_t *ticket) override {
    PRECIS_RETURN_IF_ERROR(dist::checkAllReduce(count, data, dtype, op));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!thread_.joinable())
        thread_ = std::thread([this] { serve(); });
      queue_.push_back({data, count, dtype, op});
      *ticket = ++issued_;
    }
    wake_.notify_all();
    return Status::ok();
  }

  Status wait(uint64_t ticket, void *) override {
    std::unique_lock<std::mutex> lock(mutex_);
    if (ticket > issued_)
      return invalidArgument("wait: no all-reduce numbered " + std::to_string(ticket) +
                             " was started");
    done_.wait(lock, [&] { return finished_ >= ticket; });
    return error_;
  }

  Status allGather(const void *send, void *recv, size_t count, DType dtype, void *) override {
    PRECIS_RETURN_IF_ERROR(dist::checkAllGather(count, send, recv, dtype));
    PRECIS_RETURN_IF_ERROR(finishStarted());
    return gather(send, recv, count, dtype);
  }

  Status broadcast(void *data, size_t bytes, int root, void *) override {
    if (root < 0 || root >= size_)
      return invalidArgument("broadcast: root " + std::to_string(root) + " is not a rank of " +
                             std::to_string(size_));
    if (bytes && !data)
      return invalidArgument("broadcast: null buffer for " + std::to_string(bytes) + " bytes");
    PRECIS_RETURN_IF_ERROR(finishStarted());
    for (size_t done = 0; done < bytes;) {
      const size_t n = std::min<size_t>(bytes - done, INT_MAX);
      PRECIS_MPI(MPI_Bcast, static_cast<char *>(data) + done, static_cast<int>(n), MPI_BYTE, root,
                 comm_);
      done += n;
    }
    return Status::ok();
  }

  Status barrier() override {
    PRECIS_RETURN_IF_ERROR(finishStarted());
    PRECIS_MPI(MPI_Barrier, comm_);
    return Status::ok();
  }

  [[noreturn]] void abort(int code) override {
    // Not ordered behind started all-reduces: a rank that cannot go on must not wait for
    // ranks that may never come.
    MPI_Abort(comm_, code);
    // MPI_Abort should not return; if it does, this process still ends.
    _exit(code);
  }

private:
  /// An all-reduce startAllReduce queued for the communicator's thread.
  struct Started {
    void *data;
    size_t count;
    DType dtype;
    Reduction op;
  };

  /// Waits for every started all-reduce (before a call of this thread enters MPI).
  Status finishStarted() {
    uint64_t last;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last = issued_;
    }
    return last ? wait(last, nullptr) : Status::ok();
  }

  /// The communicator's thread: runs the started all-reduces in order until told to stop.
  void serve() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty())
        return; // stop_, with nothing left to do
      const Started job = queue_.front();
      queue_.pop_front();
      // After a failure the job is broken (the ranks no longer agree on what runs): the
      // remaining all-reduces only finish, with the first error.
      const bool failed = !error_.isOk();
      lock.unlock();
      Status s = failed ? Status::ok() : reduce(job.data, job.count, job.dtype, job.op);
      lock.lock();
      if (!s.isOk())
        error_ = s;
      ++finished_;
      done_.notify_all();
    }
  }

  /// The blocking all-reduce (arguments checked).
  Status reduce(void *data, size_t count, DType dtype, Reduction op) {
    MPI_Datatype type = mpiType(dtype);
    MPI_Op mpiOp = op == Reduction::Max ? MPI_MAX : MPI_SUM;
    const size_t elem = dtypeSize(dtype);
    for (size_t done = 0; done < count;) {
      const size_t n = std::min<size_t>(count - done, INT_MAX);
      PRECIS_MPI(MPI_Allreduce, MPI_IN_PLACE, static_cast<char *>(data) + done * elem,
                 static_cast<int>(n), type, mpiOp, comm_);
      done += n;
    }
    if (op == Reduction::Mean) {
      if (dtype == DType::F32)
        divide<float>(data, count, size_);
      else
        divide<double>(data, count, size_);
    }
    return Status::ok();
  }

  /// The blocking all-gather (arguments checked).
  Status gather(const void *send, void *recv, size_t count, DType dtype) {
    const size_t elem = dtypeSize(dtype);
    // Bytes when they fit an int, else whole elements; beyond that one call cannot say it.
    const size_t bytes = count * elem;
    if (bytes <= INT_MAX) {
      PRECIS_MPI(MPI_Allgather, send, static_cast<int>(bytes), MPI_BYTE, recv,
                 static_cast<int>(bytes), MPI_BYTE, comm_);
      return Status::ok();
    }
    if (count > INT_MAX)
      return invalidArgument("allGather: " + std::to_string(count) +
                             " elements per rank exceed MPI's count limit (INT_MAX)");
    MPI_Datatype element;
    PRECIS_MPI(MPI_Type_contiguous, static_cast<int>(elem), MPI_BYTE, &element);
    PRECIS_MPI(MPI_Type_commit, &element);
    Status s = check(MPI_Allgather(send, static_cast<int>(count), element, recv,
                                   static_cast<int>(count), element, comm_),
                     "MPI_Allgather");
    MPI_Type_free(&element);
    return s;
  }

  MPI_Comm comm_;
  int rank_, size_;

  // Started all-reduces (see the file comment), guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable wake_; // the thread: a job queued, or stop_
  std::condition_variable done_; // waiters: finished_ moved on
  std::deque<Started> queue_;
  uint64_t issued_ = 0;   // all-reduces started so far (the last ticket)
  uint64_t finished_ = 0; // all-reduces finished, in ticket order
  Status error_;          // the first failure of a started all-reduce
  bool stop_ = false;
  std::thread thread_;
};

} // namespace

bool mpiAvailable() { return true; }

Status createMpiCommunicator(std::shared_ptr<Communicator> *out) {
  if (!out)
    return invalidArgument("createMpiCommunicator: null output");
  PRECIS_RETURN_IF_ERROR(initOnce());
  MPI_Comm comm;
  PRECIS_MPI(MPI_Comm_dup, MPI_COMM_WORLD, &comm);
  int rank = 0, size = 0;
  Status s = check(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  if (s.isOk())
    s = check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  if (s.isOk())
    s = check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  if (!s.isOk()) {
    MPI_Comm_free(&comm);
    return s;
  }
  *out = std::make_shared<MpiCommunicator>(comm, rank, size);
  return Status::ok();
}

#else // !PRECIS_HAVE_MPI

bool mpiAvailable() { return false; }

Status createMpiCommunicator(std::shared_ptr<Communicator> *out) {
  if (!out)
    return invalidArgument("createMpiCommunicator: null output");
  return unavailable("precis was built without MPI (configure with an MPI installation and "
                     "-DPRECIS_WITH_MPI=ON)");
}

#endif // PRECIS_HAVE_MPI

} // namespace precis::rt
