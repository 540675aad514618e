//===- ArtifactFormat.cpp - the .precis writer -----------------------------===//
//
// Writes the layout described in precis/schema/ArtifactFormat.h. The reader, with every check
// this writer's output must pass, is runtime/src/Artifact.cpp.
//
//===----------------------------------------------------------------------===//

#include "precis/schema/ArtifactFormat.h"

#include "precis/schema/artifact.pb.h"

namespace precis::schema {

namespace {
uint64_t alignUp(uint64_t x) { return (x + kDataAlignment - 1) / kDataAlignment * kDataAlignment; }

void appendLE(std::string &out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
} // namespace

bool writeArtifact(Manifest &manifest, const std::vector<std::string_view> &blobs,
                   std::string *out) {
  out->clear();
  manifest.clear_blobs();
  uint64_t offset = 0;
  for (std::string_view blob : blobs) {
    Blob *b = manifest.add_blobs();
    b->set_offset(offset);
    b->set_size(blob.size());
    offset = alignUp(offset + blob.size());
  }
  std::string bytes;
  if (!manifest.SerializeToString(&bytes))
    return false;

  out->append(kArtifactMagic, sizeof(kArtifactMagic));
  appendLE(*out, kFormatVersion, 4);
  appendLE(*out, 0, 4);
  appendLE(*out, bytes.size(), 8);
  out->append(bytes);
  out->resize(alignUp(out->size()), '\0');
  const size_t dataStart = out->size();
  for (size_t i = 0; i < blobs.size(); ++i) {
    out->resize(dataStart + manifest.blobs(static_cast<int>(i)).offset(), '\0');
    out->append(blobs[i].data(), blobs[i].size());
  }
  return true;
}

} // namespace precis::schema
