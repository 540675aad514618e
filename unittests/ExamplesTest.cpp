//===- ExamplesTest.cpp - example models against onnxruntime ---------------===//
//
// The three example models (examples/<name>/model.onnx), imported, compiled and run on the
// CPU backend in fp32 on their first batch (batch0.npz), must reproduce onnxruntime's outputs
// (reference.npz, written by scripts/make_reference_outputs.py) to 1e-5 relative.
//
//===----------------------------------------------------------------------===//

#include "CompilerTestUtil.h"

#include "precis/Import/OnnxImporter.h"
#include "precis/runtime/Npy.h"
#include "precis/runtime/Session.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>

namespace {

constexpr double kRelativeTolerance = 1e-5;

class ExampleInference : public ::testing::TestWithParam<const char *> {};

TEST_P(ExampleInference, MatchesOnnxRuntime) {
  std::string dir = std::string(PRECIS_EXAMPLES_DIR) + "/" + GetParam();
  precis::testing::TestCompiler compiler;
  auto module = compiler.importModel(dir + "/model.onnx");
  ASSERT_TRUE(module) << compiler.diagnostics;
  std::unique_ptr<precis::rt::Session> session;
  ASSERT_TRUE(compiler.compile(*module, "", &session));
  precis::rt::Status status;

  std::vector<precis::rt::NamedTensor> batch, reference;
  ASSERT_TRUE(precis::rt::readNpz(dir + "/batch0.npz", &batch).isOk());
  ASSERT_TRUE(precis::rt::readNpz(dir + "/reference.npz", &reference).isOk());
  const precis::rt::FunctionInfo *forward = session->findFunction("forward");
  ASSERT_NE(forward, nullptr);
  std::vector<precis::rt::TensorView> inputs;
  for (const precis::rt::TensorInfo &in : forward->inputs) {
    auto it = std::find_if(batch.begin(), batch.end(), [&](auto &t) { return t.name == in.name; });
    ASSERT_NE(it, batch.end()) << "batch0.npz lacks input " << in.name;
    inputs.push_back(it->tensor.view());
  }
  std::vector<precis::rt::Tensor> outputs;
  status = session->run("forward", inputs, &outputs);
  ASSERT_TRUE(status.isOk()) << status.message();

  ASSERT_EQ(outputs.size(), forward->outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string &name = forward->outputs[i].name;
    auto ref = std::find_if(reference.begin(), reference.end(),
                            [&](auto &t) { return t.name == name; });
    ASSERT_NE(ref, reference.end()) << "reference.npz lacks output " << name;
    ASSERT_EQ(outputs[i].dtype, precis::rt::DType::F32);
    ASSERT_EQ(outputs[i].shape, ref->tensor.shape);
    for (int64_t j = 0; j < outputs[i].numElements(); ++j) {
      double got = outputs[i].as<float>()[j], want = ref->tensor.as<float>()[j];
      EXPECT_LE(std::fabs(got - want), kRelativeTolerance * std::fabs(want))
          << name << "[" << j << "]: precis " << got << ", onnxruntime " << want;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, ExampleInference, ::testing::Values("mlp", "cnn", "gpt"));

} // namespace
