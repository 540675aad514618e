//===- Collective.cpp - all_reduce on the CPU backend ---------------------===//
//
// The collectives of a data-parallel training step (docs/distributed.md). A kernel copies its
// operands to its results and combines the results in place through the session's
// communicator (KernelContext::communicator), one call per operand, in operand order: every
// rank runs the same op with the same operands, so the calls match up across ranks. Without a
// communicator (a world of one) the results are the operands.
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
    Status s =
        comm->allReduce(out.data, static_cast<size_t>(out.numElements()), out.dtype, reduction);
    if (!s)
      return Status(s.code(), "all_reduce of operand " + std::to_string(i) + " on rank " +
                                  std::to_string(comm->rank()) + " of " +
                                  std::to_string(comm->size()) + ": " + s.message());
  }
  return Status::ok();
}

} // namespace precis::rt::cpu
