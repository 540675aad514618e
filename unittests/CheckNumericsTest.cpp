//===- CheckNumericsTest.cpp - SessionOptions::checkNumerics end to end ----===//
//
// Planted overflows compiled from precis IR: with checkNumerics the run fails at the first op
// (in execution order) whose output holds a NaN or an infinity, and the message names the
// ONNX node, the op kind, the output precision, the phase and the input ranges; without it
// the same run succeeds. The phase comes from the ops' `precis.phase` through the artifact.
//
//===----------------------------------------------------------------------===//

#include "CompilerTestUtil.h"

#include "precis/runtime/numerics.h"
#include "precis/runtime/precis.h"

#include "mlir/Parser/Parser.h"

#include <cmath>
#include <cstring>

namespace {

using precis::rt::DType;
using precis::rt::Session;
using precis::rt::SessionOptions;
using precis::rt::StatusCode;
using precis::rt::Tensor;

Tensor f16(std::vector<int64_t> shape, std::vector<float> values) {
  Tensor t{DType::F16, std::move(shape), std::vector<uint8_t>(values.size() * 2)};
  for (size_t i = 0; i < values.size(); ++i) {
    uint16_t bits = precis::float_to_fp16(values[i]);
    std::memcpy(t.data.data() + 2 * i, &bits, 2);
  }
  return t;
}

Tensor f32(std::vector<int64_t> shape, std::vector<float> values) {
  Tensor t{DType::F32, std::move(shape), std::vector<uint8_t>(values.size() * 4)};
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

// x + x is fine; (x + x)^2 overflows fp16 at 400 * 400; exp afterwards sees the infinity but
// is not the first op to produce one.
constexpr const char *kForwardOverflow = R"mlir(
func.func @forward(%x: tensor<2x2xf16> {precis.onnx_name = "x"})
    -> (tensor<2x2xf16> {precis.onnx_name = "y"}) {
  %s = precis.add %x, %x : (tensor<2x2xf16>, tensor<2x2xf16>) -> tensor<2x2xf16> loc("Add_0")
  %p = precis.mul %s, %s : (tensor<2x2xf16>, tensor<2x2xf16>) -> tensor<2x2xf16> loc("Mul_1")
  %e = precis.exp %p : tensor<2x2xf16> loc("Exp_2")
  return %e : tensor<2x2xf16>
}
)mlir";

// An exp marked as a backward op (as precis-autodiff marks the gradient ops) overflowing
// fp32, and a NaN-free input with a non-finite element on the other operand.
constexpr const char *kBackwardOverflow = R"mlir(
func.func @forward(%x: tensor<3xf32> {precis.onnx_name = "x"}, %y: tensor<3xf32> {precis.onnx_name = "y"})
    -> (tensor<3xf32> {precis.onnx_name = "z"}) {
  %e = precis.exp %x {precis.phase = "backward"} : tensor<3xf32> loc("Softmax_7")
  %z = precis.add %e, %y {precis.phase = "optimizer"} : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32> loc("Add_8")
  return %z : tensor<3xf32>
}
)mlir";

class CheckNumericsTest : public ::testing::Test {
protected:
  std::unique_ptr<Session> compile(const char *ir, bool check) {
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::parseSourceString<mlir::ModuleOp>(ir, &compiler.context);
    EXPECT_TRUE(module) << compiler.diagnostics;
    std::unique_ptr<Session> session;
    SessionOptions options;
    options.numThreads = 2;
    options.checkNumerics = check;
    EXPECT_TRUE(compiler.compile(*module, "", &session, options));
    return session;
  }

  precis::testing::TestCompiler compiler;
};

TEST_F(CheckNumericsTest, Fp16MultiplyOverflowNamesTheNodeAndInputRanges) {
  std::unique_ptr<Session> session = compile(kForwardOverflow, true);
  ASSERT_TRUE(session);
  std::vector<Tensor> outputs;
  precis::rt::Status s = session->run("forward", {f16({2, 2}, {200, 1, 2, -3})}, &outputs);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.code(), StatusCode::NonFinite);
  EXPECT_EQ(s.message(),
            "check-numerics: function 'forward' op 1 'mul' (node \"Mul_1\"), forward phase, "
            "output #0 in f16 (f16[2,2]) has 1 inf and 0 NaN of 4 elements; inputs: "
            "#0 f16[2,2] min -6 max 400, 0 non-finite; #1 f16[2,2] min -6 max 400, 0 non-finite");

  // Finite inputs pass, and the session stays usable after a failure.
  ASSERT_TRUE(session->run("forward", {f16({2, 2}, {1, 0.5f, -1, 0})}, &outputs).isOk());
}

TEST_F(CheckNumericsTest, OffByDefaultTheSameRunSucceeds) {
  std::unique_ptr<Session> session = compile(kForwardOverflow, false);
  ASSERT_TRUE(session);
  std::vector<Tensor> outputs;
  precis::rt::Status s = session->run("forward", {f16({2, 2}, {200, 1, 2, -3})}, &outputs);
  ASSERT_TRUE(s.isOk()) << s.message();
  uint16_t first;
  std::memcpy(&first, outputs[0].data.data(), 2);
  EXPECT_TRUE(std::isinf(precis::fp16_to_float(first)));
}

TEST_F(CheckNumericsTest, ReportsThePhaseAndNonFiniteInputs) {
  std::unique_ptr<Session> session = compile(kBackwardOverflow, true);
  ASSERT_TRUE(session);
  std::vector<Tensor> outputs;
  // exp(100) overflows fp32: the backward-phase exp is the first op to produce an infinity.
  precis::rt::Status s =
      session->run("forward", {f32({3}, {100, 1, -2}), f32({3}, {0, 0, 0})}, &outputs);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("op 0 'exp' (node \"Softmax_7\"), backward (gradient) phase, "
                             "output #0 in f32 (f32[3]) has 1 inf and 0 NaN of 3 elements; "
                             "inputs: #0 f32[3] min -2 max 100, 0 non-finite"),
            std::string::npos)
      << s.message();

  // A NaN input: exp passes it through, so exp is reported; its input range counts it.
  s = session->run("forward", {f32({3}, {NAN, 1, -2}), f32({3}, {0, 0, 0})}, &outputs);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("has 0 inf and 1 NaN of 3 elements; inputs: #0 f32[3] min -2 max "
                             "1, 1 non-finite"),
            std::string::npos)
      << s.message();

  // Finite exp, infinite addend: the optimizer-phase add is reported.
  s = session->run("forward", {f32({3}, {0, 1, -2}), f32({3}, {INFINITY, 0, 0})}, &outputs);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.message().find("op 1 'add' (node \"Add_8\"), optimizer phase"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("#1 f32[3] min 0 max 0, 1 non-finite"), std::string::npos)
      << s.message();
}

TEST_F(CheckNumericsTest, CApiOption) {
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(kForwardOverflow, &compiler.context);
  ASSERT_TRUE(module);
  std::vector<char> bytes;
  ASSERT_TRUE(mlir::succeeded(precis::buildArtifact(*module, {}, bytes)));
  Tensor x = f16({2, 2}, {200, 1, 2, -3});
  const int64_t shape[] = {2, 2};
  precis_tensor_t input{PRECIS_DTYPE_F16, 2, shape, x.data.data(), x.data.size()};
  for (int32_t check : {0, 1}) {
    precis_session_options_t options;
    precis_session_options_init(&options);
    EXPECT_EQ(options.check_numerics, 0);
    options.check_numerics = check;
    precis_session_t *session = nullptr;
    precis_status_t st =
        precis_session_create_from_memory(bytes.data(), bytes.size(), &options, &session);
    ASSERT_EQ(st, nullptr) << precis_status_message(st);
    precis_tensor_t *outputs = nullptr;
    size_t numOutputs = 0;
    st = precis_session_run(session, "forward", &input, 1, &outputs, &numOutputs);
    if (check) {
      EXPECT_EQ(precis_status_code(st), PRECIS_NON_FINITE);
      EXPECT_NE(std::string(precis_status_message(st)).find("node \"Mul_1\""), std::string::npos);
    } else {
      EXPECT_EQ(st, nullptr) << precis_status_message(st);
      precis_tensors_free(outputs, numOutputs);
    }
    precis_status_free(st);
    precis_session_release(session);
  }
}

} // namespace
