//===- KernelTestUtil.h - what the CPU kernel tests share ------*- C++ -*-===//
//
// The fresh seed every test run draws (PRECIS_TEST_SEED=<seed> replays one), and float tensors
// built from doubles rounded to the tensor's format, so a reference computed from the doubles
// sees exactly what the kernel sees.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_UNITTESTS_CPU_KERNELTESTUTIL_H
#define PRECIS_UNITTESTS_CPU_KERNELTESTUTIL_H

#include "precis/runtime/Tensor.h"
#include "precis/runtime/numerics.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace precis::rt::testing {

inline uint64_t testSeed() {
  if (const char *env = std::getenv("PRECIS_TEST_SEED"))
    return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

inline int64_t count(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// A tensor's bytes with its type, viewed as the kernels take it.
struct Buffer {
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  TensorView view() { return {bytes.data(), dtype, shape}; }
};

/// A tensor of `dtype` (f64, f32, f16 or bf16) holding `values`, which are updated to the
/// stored (rounded) numbers.
inline Buffer floatBuffer(DType dtype, std::vector<int64_t> shape, std::vector<double> &values) {
  Buffer b{dtype, shape, std::vector<uint8_t>(values.size() * dtypeSize(dtype))};
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::F64) {
      std::memcpy(b.bytes.data() + 8 * i, &values[i], 8);
    } else if (dtype == DType::F32) {
      float f = static_cast<float>(values[i]);
      values[i] = f;
      std::memcpy(b.bytes.data() + 4 * i, &f, 4);
    } else {
      const float f = static_cast<float>(values[i]);
      uint16_t h = dtype == DType::F16 ? float_to_fp16(f) : float_to_bf16(f);
      values[i] = dtype == DType::F16 ? fp16_to_float(h) : bf16_to_float(h);
      std::memcpy(b.bytes.data() + 2 * i, &h, 2);
    }
  }
  return b;
}

} // namespace precis::rt::testing

#endif // PRECIS_UNITTESTS_CPU_KERNELTESTUTIL_H
