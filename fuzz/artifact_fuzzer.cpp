//===- artifact_fuzzer.cpp - libFuzzer target for the artifact loader ------===//
//
// Loads arbitrary bytes as an artifact; when they load, runs every function on zero inputs and
// reads every parameter. Any crash, sanitizer report or leak is a bug: a bad artifact must be
// an error status (loader), a bad operand shape an error status (kernels).
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Session.h"

#include <cstddef>
#include <cstdint>

using namespace precis::rt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  SessionOptions options;
  options.backend = "cpu"; // the loader and the CPU kernels; CUDA artifacts are refused
  options.numThreads = 1;
  std::unique_ptr<Session> session;
  if (!Session::createFromMemory(data, size, options, &session).isOk())
    return 0;

  for (const TensorInfo &p : session->parameters()) {
    Tensor t;
    (void)session->getParameter(p.name, &t);
  }
  // Running touches the arena and copies outputs: keep memory bounded.
  constexpr uint64_t kMaxBytes = uint64_t(64) << 20;
  if (session->arenaBytes() > kMaxBytes)
    return 0;
  for (const FunctionInfo &f : session->functions()) {
    std::vector<Tensor> inputs;
    for (const TensorInfo &info : f.inputs) {
      uint64_t bytes = dtypeSize(info.dtype);
      for (int64_t d : info.shape)
        bytes *= static_cast<uint64_t>(d); // cannot overflow: the loader checked the value
      if (bytes > kMaxBytes)
        return 0;
      Tensor t;
      t.dtype = info.dtype;
      t.shape = info.shape;
      t.data.assign(bytes, 0);
      inputs.push_back(std::move(t));
    }
    std::vector<Tensor> outputs;
    (void)session->run(f.name, inputs, &outputs);
  }
  return 0;
}
