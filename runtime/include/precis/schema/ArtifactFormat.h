//===- ArtifactFormat.h - the .precis file layout, and its writer -*- C++ -*-===//
//
// The byte layout around the manifest (runtime/schema/artifact.proto), shared by the one
// writer (the compiler's emitter, and tests) and the one reader (runtime/src/Artifact.cpp):
//
//   offset 0   8 bytes  magic "PRECIS\0\0"
//   offset 8   u32 LE   format version (kFormatVersion)
//   offset 12  u32 LE   reserved, 0
//   offset 16  u64 LE   manifest size M
//   offset 24  M bytes  Manifest, protobuf wire format
//   zero padding to the data section, at the first multiple of 64 at or after 24 + M; blobs in
//   it are 64-byte aligned (offsets relative to the data section) with zero padding between.
//
// Bump kFormatVersion for any change a reader of the previous version would misread; adding
// optional manifest fields that older readers may ignore does not need a bump.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_SCHEMA_ARTIFACTFORMAT_H
#define PRECIS_SCHEMA_ARTIFACTFORMAT_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace precis::schema {

class Manifest;

inline constexpr char kArtifactMagic[8] = {'P', 'R', 'E', 'C', 'I', 'S', '\0', '\0'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint64_t kHeaderSize = 24;
/// Alignment of the data section and of every blob in it.
inline constexpr uint64_t kDataAlignment = 64;

/// Serialises an artifact into `out`: sets `manifest`'s blobs to one Blob per entry of
/// `blobs`, in order, at consecutive 64-aligned offsets, then writes header, manifest,
/// padding and blob bytes. Values refer to blobs by their index in `blobs`. A blob that
/// `manifest` already lists at the same index with `init` set is generated at load: it keeps
/// its `init` and `size`, gets offset 0 and no bytes (its entry in `blobs` is ignored). Returns false
/// (with `out` cleared) when the manifest cannot be serialised.
bool writeArtifact(Manifest &manifest, const std::vector<std::string_view> &blobs,
                   std::string *out);

} // namespace precis::schema

#endif // PRECIS_SCHEMA_ARTIFACTFORMAT_H
