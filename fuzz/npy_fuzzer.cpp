//===- npy_fuzzer.cpp - libFuzzer target for the .npy / .npz readers --------===//
//
// Parses arbitrary bytes as .npy and as .npz; whatever parses is written back and re-read,
// which must give the same tensors.
//
//===----------------------------------------------------------------------===//

#include "precis/runtime/Npy.h"

#include <cstdlib>

using namespace precis::rt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Tensor t;
  if (parseNpy(data, size, &t).isOk()) {
    std::string bytes;
    Tensor back;
    if (!serializeNpy(t.view(), &bytes).isOk() ||
        !parseNpy(bytes.data(), bytes.size(), &back).isOk() || back.data != t.data ||
        back.shape != t.shape || back.dtype != t.dtype)
      std::abort();
  }
  std::vector<NamedTensor> arrays;
  if (parseNpz(data, size, &arrays).isOk()) {
    std::vector<std::pair<std::string, TensorView>> views;
    for (const NamedTensor &a : arrays)
      views.push_back({a.name, a.tensor.view()});
    std::string bytes;
    std::vector<NamedTensor> back;
    if (!serializeNpz(views, &bytes).isOk() ||
        !parseNpz(bytes.data(), bytes.size(), &back).isOk() || back.size() != arrays.size())
      std::abort();
  }
  return 0;
}
