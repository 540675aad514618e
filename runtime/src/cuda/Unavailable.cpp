//===- Unavailable.cpp - the CUDA backend in a build without CUDA ---------===//
//
// Compiled instead of the backend when the CUDA toolkit's headers were not found at build time.
//
//===----------------------------------------------------------------------===//

#include "cuda/Executor.h"
#include "precis/runtime/Communicator.h"

namespace precis::rt::cuda {

bool builtWithCuda() { return false; }

Status Executor::create(const Artifact &, const std::vector<uint8_t *> &,
                        std::shared_ptr<Communicator>, std::unique_ptr<Executor> *) {
  return unavailable("precis was built without CUDA support");
}

} // namespace precis::rt::cuda

namespace precis::rt {

Status createNcclCommunicator(Communicator &, int, std::shared_ptr<Communicator> *out) {
  if (!out)
    return invalidArgument("createNcclCommunicator: null output");
  return unavailable("precis was built without CUDA support (NCCL needs the CUDA backend)");
}

} // namespace precis::rt
