//===- Artifact.h - write .precis artifacts ---------------------*- C++ -*-===//
//
// Lowers a module of precis IR to the runtime's artifact format (runtime/schema/artifact.proto):
// one Function per func.func, one Op per precis op, parameters and constants as aligned blobs,
// activations placed in one arena by a liveness-based buffer plan.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_TARGET_ARTIFACT_H
#define PRECIS_TARGET_ARTIFACT_H

#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>
#include <vector>

namespace precis {

struct ArtifactOptions {
  /// "cpu" or "cuda:<arch>" (e.g. "cuda:sm_90a").
  std::string target = "cpu";
  /// CUDA target: when set, every kernel's source and PTX are also written to
  /// `<dir>/<kernel name>.cu` and `.ptx` (for inspection and offline checks with ptxas).
  std::string kernelDumpDir;
  /// Store floating-point parameters (not constants) without their bytes: each blob records
  /// a schema::ParamInit instead, and the runtime generates the values at load. For
  /// artifacts too large to copy around (benchmarks); docs/runtime.md has the rule.
  bool noWeights = false;
  /// With noWeights: mixed with each parameter's name into the seed of its ParamInit.
  uint64_t initSeed = 0;
};

/// What the buffer plan achieved, for reports and tests.
struct ArtifactStats {
  uint64_t arenaBytes = 0;      ///< planned peak activation memory
  uint64_t unplannedBytes = 0;  ///< sum of all activations without reuse
  /// Each function's own planned peak, in the artifact's order (the arena is their maximum).
  std::vector<std::pair<std::string, uint64_t>> functionArenaBytes;
  /// Of each function's peak (same order), the bytes of optimizer updates a training loop
  /// writes in place into its state, which it then never touches (BufferPlan::inPlaceUpdateBytes).
  std::vector<uint64_t> functionInPlaceBytes;
  uint64_t blobBytes = 0;       ///< parameters and constants
  size_t numOps = 0;
};

/// The artifact's element type code for `type` (precis.schema.DType, equal to the runtime's
/// precis::rt::DType), or 0 when the runtime has no such type.
int artifactElementType(mlir::Type type);

/// Bytes a tensor of `type` takes in the runtime's layout (a boolean takes a byte).
uint64_t artifactByteSize(mlir::RankedTensorType type);

/// The bytes of a constant in the runtime's layout: row-major, little-endian, one byte per
/// boolean. Fails for storage it cannot read (e.g. a resource without data).
mlir::FailureOr<std::vector<char>> artifactBytes(mlir::ElementsAttr value);

/// Serialises `module` into the bytes of a `.precis` file. Emits a diagnostic at the offending
/// op and fails on anything the runtime cannot execute.
mlir::LogicalResult buildArtifact(mlir::ModuleOp module, const ArtifactOptions &options,
                                  std::vector<char> &bytes, ArtifactStats *stats = nullptr);

/// buildArtifact, then writes `path` atomically (temporary file, fsync, rename): a failure
/// leaves no file behind.
mlir::LogicalResult writeArtifactFile(mlir::ModuleOp module, const ArtifactOptions &options,
                                      llvm::StringRef path, ArtifactStats *stats = nullptr);

} // namespace precis

#endif // PRECIS_TARGET_ARTIFACT_H
