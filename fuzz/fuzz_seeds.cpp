//===- fuzz_seeds.cpp - writes a seed corpus for the fuzzers ---------------===//
//
// Usage: precis-fuzz-seeds DIR. Writes DIR/mlp.precis (the unit tests' reference artifact),
// DIR/x.npy and DIR/xy.npz.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include "precis/runtime/Npy.h"

#include <cstdio>
#include <fstream>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const std::string artifact = precis::rt::testing::makeMlpArtifact();
  std::ofstream(dir + "/mlp.precis", std::ios::binary).write(artifact.data(), artifact.size());
  precis::rt::Tensor x;
  x.dtype = precis::rt::DType::F32;
  x.shape = {2, 3};
  x.data.assign(24, 1);
  precis::rt::Tensor y = x;
  y.dtype = precis::rt::DType::I8;
  y.shape = {4, 6};
  if (!precis::rt::writeNpy(dir + "/x.npy", x.view()).isOk() ||
      !precis::rt::writeNpz(dir + "/xy.npz", {{"x", x.view()}, {"y", y.view()}}).isOk())
    return 1;
  return 0;
}
