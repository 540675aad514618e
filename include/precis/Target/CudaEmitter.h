//===- CudaEmitter.h - precis ops and fusion groups to CUDA kernels -*- C++ -*-===//
//
// The CUDA target's code generator (docs/design.md decision 8, docs/cuda.md). Every op that is
// not a GEMM, and every precis.fusion group that is not a GEMM with an epilogue, becomes one
// `extern "C" __global__` kernel in CUDA C++ with all sizes baked in; the artifact writer
// compiles it with NVRTC (when this build has it) and stores PTX and cubin in the artifact.
//
// Kernel ABI: one device pointer per operand of the op (or fusion group), in order, then one
// per result; element types as the artifact stores them (bool as one byte).
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TARGET_CUDAEMITTER_H
#define PRECIS_TARGET_CUDAEMITTER_H

#include "mlir/IR/Operation.h"
#include "mlir/IR/Value.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace precis {

/// One generated kernel and its launch configuration.
struct CudaKernel {
  std::string name;   ///< the entry point; derived from a hash of the source, so equal
                      ///< kernels (repeated layers) get equal names and are stored once
  std::string source; ///< CUDA C++, including numerics.h
  std::array<int64_t, 3> grid = {1, 1, 1}, block = {1, 1, 1};
  int64_t sharedBytes = 0;
  /// Whether the kernel takes this process's data-parallel rank as a last parameter
  /// (`const long long rank`, 0 in a world of one); the artifact records it as `rank_arg`.
  bool takesRank = false;
  std::string ptx, cubin; ///< filled by compileCudaKernel
};

/// True for ops the CUDA runtime runs through cuBLASLt rather than a generated kernel.
bool isCublasOp(mlir::Operation *op);
/// True for collectives (precis.all_reduce, all_gather, shard), which the CUDA runtime runs
/// through the session's communicator (NCCL on device memory, or MPI staged through the
/// host).
bool isCollectiveOp(mlir::Operation *op);

/// A GEMM with a fused cuBLASLt epilogue, as the artifact records it: the GEMM's operands,
/// then `bias` when present; the result, then `aux` (the GELU input) for the *_aux
/// epilogues.
struct GemmEpilogue {
  mlir::Operation *gemm = nullptr;        ///< inside the fusion body
  std::string epilogue;                   ///< "bias", "relu", "bias_relu", "gelu", "bias_gelu",
                                          ///< "gelu_aux", "bias_gelu_aux"
  llvm::SmallVector<mlir::Value> inputs;  ///< operands of the fusion op, in ABI order
  llvm::SmallVector<mlir::Value> outputs; ///< results of the fusion op, in ABI order
};

/// Describes `fusion` (a precis.fusion) when it is a GEMM with an epilogue.
std::optional<GemmEpilogue> matchGemmEpilogue(mlir::Operation *fusion);

/// Generates the kernel for `op`: a precis.fusion group or a single precis op that
/// isCublasOp rejects. Emits a diagnostic at `op` for ops it has no kernel for.
mlir::FailureOr<CudaKernel> emitCudaKernel(mlir::Operation *op);

/// True if this build can compile kernels (it found NVRTC at configure time).
bool cudaCompilerAvailable();

/// Compiles `kernel.source` with NVRTC: PTX for `compute_<arch>` and a cubin for `sm_<arch>`
/// (`arch` like "sm_90a"). On failure emits a diagnostic at `op` carrying NVRTC's log.
mlir::LogicalResult compileCudaKernel(mlir::Operation *op, llvm::StringRef arch,
                                      CudaKernel &kernel);

} // namespace precis

#endif // PRECIS_TARGET_CUDAEMITTER_H
