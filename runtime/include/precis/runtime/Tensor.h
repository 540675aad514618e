//===- Tensor.h - element types and tensors of the runtime -------*- C++ -*-===//
//
// The tensor vocabulary shared by the C++ API (Session.h), the NumPy I/O (Npy.h) and the CPU
// kernels (src/cpu/Kernel.h): element types whose values match the artifact schema's DType,
// a non-owning view, and an owned tensor. All tensors are dense, row-major (C order) and
// little-endian.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_TENSOR_H
#define PRECIS_RUNTIME_TENSOR_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace precis::rt {

// clang-format off
/// Element types; values match precis.schema.DType (and precis_dtype_t in precis.h).
enum class DType : int32_t {
  Unspecified = 0, F32 = 1, F16 = 2, BF16 = 3, F8E4M3FN = 4, F8E5M2 = 5, F64 = 6,
  I64 = 7, I32 = 8, I8 = 9, U8 = 10, Bool = 11,
};
// clang-format on

/// Bytes per element of `t` (0 for Unspecified).
size_t dtypeSize(DType t);
/// "f32", "bf16", ... for messages.
const char *dtypeName(DType t);

/// A non-owning view of a dense, row-major tensor.
struct TensorView {
  void *data = nullptr;
  DType dtype = DType::Unspecified;
  std::vector<int64_t> shape;

  int64_t numElements() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  size_t byteSize() const { return static_cast<size_t>(numElements()) * dtypeSize(dtype); }
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
};

/// An owned tensor: what Session::run returns, what the NumPy readers produce.
struct Tensor {
  DType dtype = DType::Unspecified;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data; ///< numElements() * dtypeSize(dtype) bytes

  int64_t numElements() const { return view().numElements(); }
  /// A view of this tensor's bytes. The view is mutable even when taken from a const tensor;
  /// the runtime only reads the views it is given as inputs.
  TensorView view() const { return {const_cast<uint8_t *>(data.data()), dtype, shape}; }
  /// The elements as `T` (which must match dtype's size; no conversion).
  template <typename T> T *as() { return reinterpret_cast<T *>(data.data()); }
  template <typename T> const T *as() const { return reinterpret_cast<const T *>(data.data()); }
};

/// "f32[8,32]", "i64[]" (a scalar): how messages spell a tensor type.
std::string typeString(DType dtype, const std::vector<int64_t> &shape);

} // namespace precis::rt

#endif // PRECIS_RUNTIME_TENSOR_H
