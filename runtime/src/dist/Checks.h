//===- Checks.h - argument checks every communicator makes alike --*- C++ -*-===//
//
// The contract of Communicator::allReduce and allGather (Communicator.h), checked the same way
// by the MPI and the NCCL implementations before any communication, so that a bad call fails
// on every rank with the same message.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SRC_DIST_CHECKS_H
#define PRECIS_RUNTIME_SRC_DIST_CHECKS_H

#include "precis/runtime/Communicator.h"

#include <string>

namespace precis::rt::dist {

inline Status checkAllReduce(size_t count, const void *data, DType dtype, Reduction op) {
  if (count && !data)
    return invalidArgument("allReduce: null buffer for " + std::to_string(count) + " elements");
  const bool number =
      dtype == DType::F32 || dtype == DType::F64 || dtype == DType::I32 || dtype == DType::I64;
  const bool byte = dtype == DType::U8 || dtype == DType::Bool;
  if (!number && !byte)
    return invalidArgument(std::string("allReduce: unsupported element type ") + dtypeName(dtype) +
                           " (f32, f64, i32, i64; max also u8, bool)");
  if (byte && op != Reduction::Max)
    return invalidArgument(std::string("allReduce: ") + dtypeName(dtype) +
                           " supports only the max reduction");
  if (op == Reduction::Mean && (dtype == DType::I32 || dtype == DType::I64))
    return invalidArgument(std::string("allReduce: the mean of ") + dtypeName(dtype) +
                           " is not defined (integer division); use sum");
  return Status::ok();
}

inline Status checkAllGather(size_t count, const void *send, const void *recv, DType dtype) {
  if (dtypeSize(dtype) == 0)
    return invalidArgument("allGather: element type unspecified");
  if (count && (!send || !recv))
    return invalidArgument("allGather: null buffer for " + std::to_string(count) + " elements");
  return Status::ok();
}

} // namespace precis::rt::dist

#endif // PRECIS_RUNTIME_SRC_DIST_CHECKS_H
