//===- Npy.h - NumPy .npy and .npz files -------------------------*- C++ -*-===//
//
// How tools feed inputs to a session and save its outputs and parameters. Supported:
//
//   .npy  format versions 1.0, 2.0 and 3.0; C order only (fortran_order True is an error);
//         little-endian dtypes '<f4' '<f8' '<f2' '<i8' '<i4' '|i1' '|u1' '|b1', and bfloat16
//         as ml_dtypes saves it ('<V2': NumPy records only "2-byte void"; load it back with
//         np.load(f).view(ml_dtypes.bfloat16)). fp8 has no unambiguous NumPy spelling
//         (ml_dtypes saves E4M3FN as '<V1'), so fp8 tensors are Unimplemented here.
//   .npz  a zip of .npy files (what np.savez / np.savez_compressed write), entries STORED or
//         DEFLATE, zip64 included; entry "x.npy" is the array "x". Writing uses STORED.
//
// Malformed files are InvalidArgument errors that say what is wrong, never crashes; readers
// check every size against the bytes present before reading. Functions are thread-safe.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_NPY_H
#define PRECIS_RUNTIME_NPY_H

#include "precis/runtime/Status.h"
#include "precis/runtime/Tensor.h"

#include <string>
#include <utility>
#include <vector>

namespace precis::rt {

/// One array of an .npz archive, in archive order.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};

Status parseNpy(const void *data, size_t size, Tensor *out);
Status readNpy(const std::string &path, Tensor *out);
Status serializeNpy(const TensorView &tensor, std::string *out);
Status writeNpy(const std::string &path, const TensorView &tensor);

Status parseNpz(const void *data, size_t size, std::vector<NamedTensor> *out);
Status readNpz(const std::string &path, std::vector<NamedTensor> *out);
Status serializeNpz(const std::vector<std::pair<std::string, TensorView>> &arrays,
                    std::string *out);
Status writeNpz(const std::string &path,
                const std::vector<std::pair<std::string, TensorView>> &arrays);

} // namespace precis::rt

#endif // PRECIS_RUNTIME_NPY_H
