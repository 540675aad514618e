//===- ArtifactFormat.cpp - the .precis writer -----------------------------===//
//
// Writes the layout described in precis/schema/ArtifactFormat.h. The reader, with every check
// this writer's output must pass, is runtime/src/Artifact.cpp.
//
//===----------------------------------------------------------------------===//

#include "precis/schema/ArtifactFormat.h"

#include "precis/schema/artifact.pb.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

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
  // Generated blobs the caller listed keep their init and size; they take no bytes.
  std::vector<Blob> listed(manifest.blobs().begin(), manifest.blobs().end());
  manifest.clear_blobs();
  uint64_t offset = 0;
  for (size_t i = 0; i < blobs.size(); ++i) {
    Blob *b = manifest.add_blobs();
    if (i < listed.size() && listed[i].has_init()) {
      *b = listed[i];
      b->set_offset(0);
      continue;
    }
    b->set_offset(offset);
    b->set_size(blobs[i].size());
    offset = alignUp(offset + blobs[i].size());
  }
  // Deterministic: map fields (a kernel's attrs) in key order, so that one program always
  // gives the same bytes, whichever order its attributes were built or parsed in.
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!manifest.SerializeToCodedStream(&coded))
      return false;
  }

  out->append(kArtifactMagic, sizeof(kArtifactMagic));
  appendLE(*out, kFormatVersion, 4);
  appendLE(*out, 0, 4);
  appendLE(*out, bytes.size(), 8);
  out->append(bytes);
  out->resize(alignUp(out->size()), '\0');
  const size_t dataStart = out->size();
  for (size_t i = 0; i < blobs.size(); ++i) {
    const Blob &b = manifest.blobs(static_cast<int>(i));
    if (b.has_init())
      continue;
    out->resize(dataStart + b.offset(), '\0');
    out->append(blobs[i].data(), blobs[i].size());
  }
  return true;
}

} // namespace precis::schema
