//===- Communicator.h - collectives for data-parallel training ---*- C++ -*-===//
//
// The processes of a data-parallel job, and the collectives a compiled training step and the
// training loop run across them. Implementations sit on existing engines, never a home-made
// transport:
//   * MPI (Open MPI; processes started by `mpirun`): host memory. With the CUDA backend the
//     executor stages device buffers through the host.
//   * NCCL (libnccl.so.2 loaded at run time, like libcuda): device memory, on a CUDA stream;
//     NCCL's unique id travels over an MPI communicator.
// A session without a communicator is a world of one: its collectives are identities.
//
// Every rank must call the same collectives in the same order with the same counts and types
// (a compiled step does, by construction). Calls are not thread-safe: one thread at a time.
// A started all-reduce (startAllReduce) may progress on a thread of the communicator's own
// while the caller computes; the calls themselves still come from one thread at a time.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_COMMUNICATOR_H
#define PRECIS_RUNTIME_COMMUNICATOR_H

#include "precis/runtime/Status.h"
#include "precis/runtime/Tensor.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace precis::rt {

/// How an all-reduce combines the ranks' values. Mean is the sum divided by size() (in the
/// element type, after the sum), as data-parallel gradient averaging does.
enum class Reduction { Sum, Mean, Max };

class Communicator {
public:
  virtual ~Communicator() = default;

  /// This process's index in [0, size()) and the number of processes.
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// "mpi" or "nccl".
  virtual const char *backend() const = 0;
  /// Whether the buffers passed to the collectives are device memory (NCCL) or host memory.
  virtual bool deviceMemory() const = 0;

  /// Combines `count` elements of `dtype` at `data` across all ranks, in place; every rank
  /// ends with the same bytes. dtype: F32, F64, I32 or I64 (Max also U8/Bool). `stream` is the
  /// CUDA stream for device memory (ignored for host memory).
  virtual Status allReduce(void *data, size_t count, DType dtype, Reduction op,
                           void *stream = nullptr) = 0;
  /// Starts allReduce(data, count, dtype, op, stream) and may return before it has finished,
  /// so that the caller computes while the ranks communicate: the `count` elements at `data`
  /// must be neither read nor written until wait(*ticket) has returned. The result is the one
  /// allReduce would give, bit for bit, and collectives called afterwards on this communicator
  /// (started or not) stay in order behind it on every rank. Errors found before starting are
  /// returned here; errors of the collective itself by wait. By default the all-reduce runs
  /// here, to the end, and wait has nothing left to do.
  virtual Status startAllReduce(void *data, size_t count, DType dtype, Reduction op, void *stream,
                                uint64_t *ticket) {
    *ticket = 0;
    return allReduce(data, count, dtype, op, stream);
  }
  /// Finishes the collective startAllReduce numbered `ticket`, and with it every collective
  /// started before it, and returns its status. For host memory it returns once the bytes are
  /// combined. For device memory (`stream` a CUDA stream) it orders the work enqueued on
  /// `stream` after the collective, without blocking the host.
  virtual Status wait(uint64_t ticket, void *stream = nullptr) {
    (void)ticket;
    (void)stream;
    return Status::ok();
  }
  /// Rank r's `count` elements at `send` land at `recv` + r * count elements on every rank
  /// (`recv` holds size() * count elements).
  virtual Status allGather(const void *send, void *recv, size_t count, DType dtype,
                           void *stream = nullptr) = 0;
  /// `bytes` at `data` on rank `root` overwrite `data` on every other rank (host memory for
  /// MPI, device memory for NCCL).
  virtual Status broadcast(void *data, size_t bytes, int root, void *stream = nullptr) = 0;
  /// Returns once every rank has called it.
  virtual Status barrier() = 0;
  /// Ends every process of the job with exit status `code` (MPI_Abort): what a rank does when
  /// it cannot go on, so that no other rank waits for it forever. Never returns.
  [[noreturn]] virtual void abort(int code) = 0;
};

/// Whether this runtime was built with MPI (Open MPI's libmpi, found at build time).
bool mpiAvailable();
/// Whether this process was started by an MPI launcher (`mpirun`): the launcher's environment
/// (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE) is present.
bool launchedByMpi();
/// The world of an MPI job: initialises MPI once per process (thread level SERIALIZED; the
/// first call initialises, MPI is finalised at exit) and duplicates MPI_COMM_WORLD.
/// Unavailable when the runtime was built without MPI.
Status createMpiCommunicator(std::shared_ptr<Communicator> *out);
/// An NCCL communicator over the same ranks as `bootstrap` (an MPI communicator: rank 0's
/// ncclUniqueId is broadcast over it), on CUDA device `device` of this process. libnccl.so.2
/// is loaded with dlopen (from the library path, then the CUDA installation); Unavailable
/// without it or without a CUDA device.
Status createNcclCommunicator(Communicator &bootstrap, int device,
                              std::shared_ptr<Communicator> *out);

} // namespace precis::rt

#endif // PRECIS_RUNTIME_COMMUNICATOR_H
