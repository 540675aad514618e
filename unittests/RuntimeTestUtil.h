//===- RuntimeTestUtil.h - building small artifacts in runtime tests -*- C++ -*-===//
//
// A few lines per value or op to write .precis manifests by hand, and one reference artifact
// (`makeMlpArtifact`) that the loader, executor, corruption and C API tests share.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_UNITTESTS_RUNTIMETESTUTIL_H
#define PRECIS_UNITTESTS_RUNTIMETESTUTIL_H

#include "precis/runtime/Tensor.h"
#include "precis/schema/ArtifactFormat.h"
#include "precis/schema/artifact.pb.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace precis::rt::testing {

inline schema::Value *addValue(schema::Manifest &m, DType dtype, std::vector<int64_t> shape,
                               const std::string &name = "") {
  schema::Value *v = m.add_values();
  v->mutable_type()->set_dtype(static_cast<schema::DType>(dtype));
  for (int64_t d : shape)
    v->mutable_type()->add_shape(d);
  v->set_name(name);
  return v;
}

inline schema::Op *addOp(schema::Function &f, const std::string &kind, std::vector<uint32_t> inputs,
                         std::vector<uint32_t> outputs, const std::string &node = "") {
  schema::Op *op = f.add_ops();
  op->set_kind(kind);
  for (uint32_t i : inputs)
    op->add_inputs(i);
  for (uint32_t o : outputs)
    op->add_outputs(o);
  op->set_name(node);
  return op;
}

template <typename T> std::string bytesOf(const std::vector<T> &v) {
  return std::string(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(T));
}

inline std::string serialize(schema::Manifest m, const std::vector<std::string> &blobs) {
  std::vector<std::string_view> views(blobs.begin(), blobs.end());
  std::string out;
  schema::writeArtifact(m, views, &out);
  return out;
}

/// `artifact` with its manifest changed by `edit` and everything else (the data section
/// included) kept: unlike serialize(), blob offsets and sizes are not recomputed.
template <typename Edit> std::string rewriteManifest(const std::string &artifact, Edit edit) {
  uint64_t size = 0;
  for (int i = 7; i >= 0; --i)
    size = size << 8 | static_cast<uint8_t>(artifact[16 + i]);
  schema::Manifest m;
  m.ParseFromArray(artifact.data() + schema::kHeaderSize, static_cast<int>(size));
  const std::string data = artifact.substr((schema::kHeaderSize + size + 63) / 64 * 64);
  edit(m);
  std::string manifest = m.SerializeAsString();
  std::string out = artifact.substr(0, 16);
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((manifest.size() >> (8 * i)) & 0xFF));
  out += manifest;
  out.resize((out.size() + 63) / 64 * 64, '\0');
  return out + data;
}

/// The reference artifact's parameters.
inline std::vector<float> mlpW() { return {1, -2, 3, -4, 0.5f, -0.5f, 2, -1}; }   // f32[2,4]
inline std::vector<float> mlpB() { return {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}; } // f32[4,3]

/// The manifest of the reference artifact (blob bytes: mlpW, mlpB):
///   forward(x: f32[2,4]) -> (y = relu(x + w), z = matmul(y, b))
///   relu_only(x: f32[2,4]) -> (relu(x))
/// Values: 0 x (input 0), 1 w (blob 0), 2 t (arena 0), 3 y (arena 64), 4 b (blob 1),
/// 5 z (arena 128).
inline schema::Manifest mlpManifest() {
  schema::Manifest m;
  m.set_producer("precis test");
  m.set_target("cpu");
  m.set_arena_size(192);
  addValue(m, DType::F32, {2, 4}, "x")->set_input(0);
  addValue(m, DType::F32, {2, 4}, "w")->set_blob(0);
  addValue(m, DType::F32, {2, 4})->set_arena_offset(0);
  addValue(m, DType::F32, {2, 4}, "y")->set_arena_offset(64);
  addValue(m, DType::F32, {4, 3}, "b")->set_blob(1);
  addValue(m, DType::F32, {2, 3}, "z")->set_arena_offset(128);

  schema::Function *f = m.add_functions();
  f->set_name("forward");
  f->add_inputs(0);
  schema::Op *add = addOp(*f, "add", {0, 1}, {2}, "Add_0");
  (*add->mutable_attrs())["note"].set_s("bias");
  addOp(*f, "relu", {2}, {3}, "Relu_1");
  schema::Op *mm = addOp(*f, "matmul", {3, 4}, {5}, "MatMul_2");
  (*mm->mutable_attrs())["transpose_b"].set_i(0);
  f->add_outputs(3);
  f->add_outputs(5);

  schema::Function *g = m.add_functions();
  g->set_name("relu_only");
  g->add_inputs(0);
  addOp(*g, "relu", {0}, {2}, "Relu_0");
  g->add_outputs(2);
  return m;
}

inline std::string makeMlpArtifact() {
  return serialize(mlpManifest(), {bytesOf(mlpW()), bytesOf(mlpB())});
}

/// forward's expected outputs for input `x`.
inline void mlpReference(const std::vector<float> &x, std::vector<float> *y,
                         std::vector<float> *z) {
  const std::vector<float> w = mlpW(), b = mlpB();
  y->assign(8, 0);
  z->assign(6, 0);
  for (int i = 0; i < 8; ++i)
    (*y)[i] = std::max(x[i] + w[i], 0.0f);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        (*z)[i * 3 + j] += (*y)[i * 4 + k] * b[k * 3 + j];
}

} // namespace precis::rt::testing

#endif // PRECIS_UNITTESTS_RUNTIMETESTUTIL_H
