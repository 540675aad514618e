//===- Collective.cpp - all_reduce, all_gather, shard on the CPU backend ---===//
//
// The collectives of a data-parallel training step (docs/distributed.md). all_reduce copies
// its operands to its results and combines the results in place through the session's
// communicator (KernelContext::communicator), one call per operand, in operand order: every
// rank runs the same op with the same operands, so the calls match up across ranks. Given
// KernelContext::started (the executor's runs), it only starts the all-reduces and hands their
// tickets to the executor, which waits for them before the first reader of the results, so
// the step computes on while the ranks communicate. shard
// takes this rank's share of a flat tensor and all_gather joins the shares (ZeRO stage 1).
// Without a communicator (a world of one) all_reduce and all_gather are copies and shard
// takes share 0 of 1.
//
//===----------------------------------------------------------------------===//

#include "KernelSupport.h"

#include "precis/runtime/Communicator.h"

#include <cstring>

namespace precis::rt::cpu {

PRECIS_CPU_KERNEL(allReduceKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("all_reduce", inputs, outputs, 1, SIZE_MAX, inputs.size()));
  const int64_t kind = attrs.getInt("reduction", 0);
  if (kind < 0 || kind > 2)
    return invalidArgument("all_reduce: unknown reduction " + std::to_string(kind));
  const auto reduction = static_cast<Reduction>(kind);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorView &in = inputs[i];
    TensorView &out = outputs[i];
    const bool supported = in.dtype == DType::F32 || in.dtype == DType::F64 ||
                           in.dtype == DType::I32 || in.dtype == DType::I64;
    if (!supported || out.dtype != in.dtype || out.shape != in.shape)
      return unsupportedDtypes("all_reduce", inputs, outputs);
    if (out.data != in.data)
      std::memcpy(out.data, in.data, in.byteSize());
    Communicator *comm = ctx.communicator;
    if (!comm || comm->size() == 1)
      continue;
    if (comm->deviceMemory())
      return invalidArgument("all_reduce: the CPU backend needs a host-memory communicator "
                             "(MPI), not " +
                             std::string(comm->backend()));
    const auto count = static_cast<size_t>(out.numElements());
    Status s;
    if (ctx.started) {
      uint64_t ticket = 0;
      s = comm->startAllReduce(out.data, count, out.dtype, reduction, nullptr, &ticket);
      if (s.isOk())
        ctx.started->push_back(ticket);
    } else {
      s = comm->allReduce(out.data, count, out.dtype, reduction);
    }
    if (!s)
      return Status(s.code(), "all_reduce of operand " + std::to_string(i) + " on rank " +
                                  std::to_string(comm->rank()) + " of " +
                                  std::to_string(comm->size()) + ": " + s.message());
  }
  return Status::ok();
}

/// The rank and size shard / all_gather work with, and the share of `share` elements that
/// `full` elements divide into.
static Status shares(const char *kind, const KernelContext &ctx, const TensorView &full,
                     const TensorView &share, int *rank) {
  const int size = ctx.communicator ? ctx.communicator->size() : 1;
  *rank = ctx.communicator ? ctx.communicator->rank() : 0;
  if (full.dtype != DType::F32 || share.dtype != DType::F32)
    return invalidArgument(std::string(kind) + ": expects f32 tensors");
  if (full.numElements() != share.numElements() * size)
    return invalidArgument(std::string(kind) + ": " + std::to_string(full.numElements()) +
                           " elements are not " + std::to_string(size) + " shares of " +
                           std::to_string(share.numElements()) +
                           " (the step was compiled for another number of ranks)");
  if (ctx.communicator && ctx.communicator->deviceMemory())
    return invalidArgument(std::string(kind) +
                           ": the CPU backend needs a host-memory communicator (MPI), not " +
                           ctx.communicator->backend());
  return Status::ok();
}

PRECIS_CPU_KERNEL(shardKernel) {
  (void)attrs;
  PRECIS_RETURN_IF_ERROR(checkArity("shard", inputs, outputs, 1, 1, 1));
  int rank = 0;
  PRECIS_RETURN_IF_ERROR(shares("shard", ctx, inputs[0], outputs[0], &rank));
  const size_t bytes = outputs[0].byteSize();
  std::memcpy(outputs[0].data, static_cast<const uint8_t *>(inputs[0].data) + rank * bytes, bytes);
  return Status::ok();
}

PRECIS_CPU_KERNEL(allGatherKernel) {
  (void)attrs;
  PRECIS_RETURN_IF_ERROR(checkArity("all_gather", inputs, outputs, 1, 1, 1));
  int rank = 0;
  PRECIS_RETURN_IF_ERROR(shares("all_gather", ctx, outputs[0], inputs[0], &rank));
  Communicator *comm = ctx.communicator;
  if (!comm || comm->size() == 1) {
    std::memcpy(outputs[0].data, inputs[0].data, inputs[0].byteSize());
    return Status::ok();
  }
  Status s = comm->allGather(inputs[0].data, outputs[0].data,
                             static_cast<size_t>(inputs[0].numElements()), DType::F32);
  if (!s)
    return Status(s.code(), "all_gather on rank " + std::to_string(comm->rank()) + " of " +
                                std::to_string(comm->size()) + ": " + s.message());
  return Status::ok();
}

} // namespace precis::rt::cpu
