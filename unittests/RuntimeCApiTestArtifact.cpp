//===- RuntimeCApiTestArtifact.cpp - the C API test's artifact -------------===//
//
// The C test cannot build protobuf messages, so this C++ helper hands it the shared reference
// artifact (RuntimeTestUtil.h) through a C function.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include <cstdlib>

extern "C" void *precis_test_make_artifact(size_t *size) {
  const std::string bytes = precis::rt::testing::makeMlpArtifact();
  void *p = std::malloc(bytes.size());
  std::memcpy(p, bytes.data(), bytes.size());
  *size = bytes.size();
  return p;
}
