//===- CudaArtifactTest.cpp - the CUDA target's side of the artifact contract ===//
//
// What `--target cuda` writes, read back from the manifest (docs/cuda.md,
// runtime/schema/artifact.proto): a GEMM group is one GEMM op with its `epilogue` and the
// bias appended; every other group or op is a "kernel" op with its launch attributes, whose
// kernel is stored once, compiled (PTX and cubin) and named in its source. No GPU needed.
// Also what --no-weights records per parameter (any target).
//
//===----------------------------------------------------------------------===//

#include "CompilerTestUtil.h"

#include "precis/Target/CudaEmitter.h"
#include "precis/schema/artifact.pb.h"

#include "mlir/Parser/Parser.h"

#include <cmath>
#include <cstring>
#include <map>

namespace {

using namespace precis;
using precis::testing::TestCompiler;

/// Parses `ir`, runs precis-fuse (and for the cpu target precis-inline-fusions, as the
/// pipelines' target stage does), builds the artifact for `target` and returns its manifest.
::testing::AssertionResult compile(TestCompiler &compiler, const char *ir,
                                   const std::string &target, schema::Manifest *manifest,
                                   bool noWeights = false) {
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(ir, &compiler.context);
  if (!module)
    return ::testing::AssertionFailure() << "parse failed\n" << compiler.diagnostics;
  mlir::PassManager pm(&compiler.context);
  const bool cpu = !llvm::StringRef(target).starts_with("cuda:");
  if (mlir::failed(mlir::parsePassPipeline(
          cpu ? "func.func(precis-fuse,precis-inline-fusions)" : "func.func(precis-fuse)", pm)) ||
      mlir::failed(pm.run(*module)))
    return ::testing::AssertionFailure() << "the target's passes failed\n" << compiler.diagnostics;
  ArtifactOptions options;
  options.target = target;
  options.noWeights = noWeights;
  options.initSeed = 5;
  std::vector<char> bytes;
  if (mlir::failed(buildArtifact(*module, options, bytes)))
    return ::testing::AssertionFailure() << "compilation failed\n" << compiler.diagnostics;
  // Header: magic (8), version (4), reserved (4), manifest size (8, little-endian).
  uint64_t size = 0;
  std::memcpy(&size, bytes.data() + 16, sizeof size);
  if (!manifest->ParseFromArray(bytes.data() + 24, static_cast<int>(size)))
    return ::testing::AssertionFailure() << "unreadable manifest";
  return ::testing::AssertionSuccess();
}

std::vector<int64_t> ints(const schema::Op &op, const std::string &name) {
  const schema::Ints &v = op.attrs().at(name).ints();
  return std::vector<int64_t>(v.values().begin(), v.values().end());
}

// --no-weights (any target): which parameters lose their bytes, and the initialisation each
// gets (docs/runtime.md, "Artifacts without weights").
TEST(NoWeights, InitialisationFollowsUse) {
  const char *ir = R"mlir(
    func.func @forward(%x: tensor<4x8xf32>) -> (tensor<4x16xf32>, tensor<4x8xi1>) {
      %w = precis.parameter "w" = dense<0.5> : tensor<8x16xf32>
      %v = precis.parameter "v" = dense<0.5> : tensor<16x8xf32>
      %g = precis.parameter "ln.weight" = dense<2.0> : tensor<16xf32>
      %b = precis.parameter "ln.bias" = dense<2.0> : tensor<16xf32>
      %m = precis.parameter "mask" = dense<true> : tensor<4x8xi1>
      %c = precis.constant dense<3.0> : tensor<4x16xf32>
      %0 = precis.matmul %x, %w : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
      %1 = precis.cast %v : tensor<16x8xf32> to tensor<16x8xbf16>
      %2 = precis.cast %x : tensor<4x8xf32> to tensor<4x8xbf16>
      %3 = precis.matmul %2, %1 {transpose_rhs = true} : (tensor<4x8xbf16>, tensor<16x8xbf16>) -> tensor<4x16xf32>
      %6 = precis.add %0, %3 : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
      %4 = precis.layer_norm %6, %g, %b {epsilon = 1.0e-5 : f32, axis = -1 : i64} : (tensor<4x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
      %5 = precis.add %4, %c : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
      return %5, %m : tensor<4x16xf32>, tensor<4x8xi1>
    })mlir";
  TestCompiler compiler;
  schema::Manifest m;
  ASSERT_TRUE(compile(compiler, ir, "cpu", &m, /*noWeights=*/true));
  std::map<std::string, schema::Blob> blobs;
  for (const schema::Value &v : m.values())
    if (v.has_blob())
      blobs[v.name().empty() ? "constant" : v.name()] = m.blobs(static_cast<int>(v.blob()));
  ASSERT_EQ(blobs.size(), 6u);
  EXPECT_FALSE(blobs["mask"].has_init()) << "not floating-point: keeps its bytes";
  EXPECT_FALSE(blobs["constant"].has_init()) << "constants keep their bytes";
  EXPECT_EQ(blobs["constant"].size(), 4u * 16 * 4);
  ASSERT_TRUE(blobs["w"].has_init());
  EXPECT_EQ(blobs["w"].size(), 8u * 16 * 4);
  EXPECT_EQ(blobs["w"].offset(), 0u);
  EXPECT_EQ(blobs["w"].init().kind(), schema::ParamInit::UNIFORM);
  EXPECT_DOUBLE_EQ(blobs["w"].init().bound(), 1 / std::sqrt(8.0)); // [K, N]: K = 8, not 16
  EXPECT_DOUBLE_EQ(blobs["v"].init().bound(), 1 / std::sqrt(8.0)); // through the cast, [N, K]
  EXPECT_NE(blobs["w"].init().seed(), blobs["v"].init().seed());
  EXPECT_EQ(blobs["ln.weight"].init().kind(), schema::ParamInit::CONSTANT);
  EXPECT_EQ(blobs["ln.weight"].init().value(), 1.0);
  EXPECT_EQ(blobs["ln.bias"].init().kind(), schema::ParamInit::CONSTANT);
  EXPECT_EQ(blobs["ln.bias"].init().value(), 0.0);
}

class CudaArtifact : public ::testing::Test {
protected:
  void SetUp() override {
    if (!cudaCompilerAvailable())
      GTEST_SKIP() << "this build has no NVRTC (no CUDA toolkit at configure time)";
  }
  TestCompiler compiler;
};

TEST_F(CudaArtifact, GemmEpilogueIsOneGemmOp) {
  const char *ir = R"mlir(
    func.func @forward(%x: tensor<16x32xbf16>, %w: tensor<32x64xbf16>, %b: tensor<64xbf16>)
        -> (tensor<16x64xbf16>, tensor<16x64xbf16>) {
      %0 = precis.matmul %x, %w : (tensor<16x32xbf16>, tensor<32x64xbf16>) -> tensor<16x64xbf16>
      %1 = precis.add %0, %b : (tensor<16x64xbf16>, tensor<64xbf16>) -> tensor<16x64xbf16>
      %2 = precis.gelu %1 approximation = tanh : tensor<16x64xbf16>
      return %2, %1 : tensor<16x64xbf16>, tensor<16x64xbf16>
    })mlir";
  schema::Manifest m;
  ASSERT_TRUE(compile(compiler, ir, "cuda:sm_90a", &m));
  EXPECT_EQ(m.target(), "cuda:sm_90a");
  EXPECT_EQ(m.kernels_size(), 0);
  ASSERT_EQ(m.functions_size(), 1);
  const schema::Function &f = m.functions(0);
  ASSERT_EQ(f.ops_size(), 1);
  const schema::Op &op = f.ops(0);
  EXPECT_EQ(op.kind(), "matmul");
  EXPECT_EQ(op.attrs().at("epilogue").s(), "bias_gelu_aux");
  // Inputs: x, w, then the bias; outputs: the GELU, then its input (the aux).
  ASSERT_EQ(op.inputs_size(), 3);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(op.inputs(i), f.inputs(i));
  ASSERT_EQ(op.outputs_size(), 2);
  EXPECT_EQ(op.outputs(0), f.outputs(0));
  EXPECT_EQ(op.outputs(1), f.outputs(1));
}

TEST_F(CudaArtifact, GroupsAndOpsBecomeKernels) {
  // Two identical softmax groups share one kernel; the transpose is a kernel of its own.
  const char *ir = R"mlir(
    func.func @forward(%x: tensor<8x128xf32>, %y: tensor<8x128xf32>)
        -> (tensor<8x128xbf16>, tensor<8x128xbf16>, tensor<128x8xf32>) {
      %c = precis.constant dense<0.5> : tensor<f32>
      %0 = precis.mul %x, %c : (tensor<8x128xf32>, tensor<f32>) -> tensor<8x128xf32>
      %1 = precis.softmax %0 : tensor<8x128xf32>
      %2 = precis.cast %1 : tensor<8x128xf32> to tensor<8x128xbf16>
      %3 = precis.mul %y, %c : (tensor<8x128xf32>, tensor<f32>) -> tensor<8x128xf32>
      %4 = precis.softmax %3 : tensor<8x128xf32>
      %5 = precis.cast %4 : tensor<8x128xf32> to tensor<8x128xbf16>
      %6 = precis.transpose %x {perm = array<i64: 1, 0>} : (tensor<8x128xf32>) -> tensor<128x8xf32>
      return %2, %5, %6 : tensor<8x128xbf16>, tensor<8x128xbf16>, tensor<128x8xf32>
    })mlir";
  schema::Manifest m;
  ASSERT_TRUE(compile(compiler, ir, "cuda:sm_90a", &m));
  ASSERT_EQ(m.kernels_size(), 2);
  for (const schema::Kernel &k : m.kernels()) {
    EXPECT_NE(k.source().find("extern \"C\" __global__ void __launch_bounds__"), std::string::npos);
    EXPECT_NE(k.source().find(k.name() + "("), std::string::npos) << k.name();
    EXPECT_NE(k.ptx().find(".target sm_90a"), std::string::npos) << k.name();
    EXPECT_FALSE(k.cubin().empty()) << k.name();
  }
  const schema::Function &f = m.functions(0);
  ASSERT_EQ(f.ops_size(), 3);
  for (const schema::Op &op : f.ops()) {
    EXPECT_EQ(op.kind(), "kernel");
    EXPECT_FALSE(op.elementwise()); // a generated kernel is not run in chunks
    int64_t index = op.attrs().at("kernel").i();
    ASSERT_GE(index, 0);
    ASSERT_LT(index, m.kernels_size());
    EXPECT_EQ(ints(op, "grid").size(), 3u);
    EXPECT_EQ(ints(op, "block").size(), 3u);
    EXPECT_EQ(op.attrs().at("shared_bytes").i(), 0);
  }
  EXPECT_EQ(f.ops(0).attrs().at("kernel").i(), f.ops(1).attrs().at("kernel").i());
  // A row group: one block per row.
  EXPECT_EQ(ints(f.ops(0), "grid"), (std::vector<int64_t>{8, 1, 1}));
  EXPECT_EQ(ints(f.ops(0), "block"), (std::vector<int64_t>{128, 1, 1}));
  EXPECT_EQ(f.ops(0).inputs_size(), 1); // the splat constant lives in the kernel
  EXPECT_EQ(f.ops(0).outputs(0), f.outputs(0));
}

TEST(CpuArtifact, FusionGroupsAreInlined) {
  // The CPU target's pipeline splices fused groups back; its artifact has plain ops.
  TestCompiler compiler;
  const char *ir = R"mlir(
    func.func @forward(%x: tensor<8x128xf32>) -> tensor<8x128xf32> {
      %0 = precis.exp %x : tensor<8x128xf32>
      %1 = precis.softmax %0 : tensor<8x128xf32>
      return %1 : tensor<8x128xf32>
    })mlir";
  schema::Manifest m;
  ASSERT_TRUE(compile(compiler, ir, "cpu", &m));
  EXPECT_EQ(m.kernels_size(), 0);
  ASSERT_EQ(m.functions(0).ops_size(), 2);
  EXPECT_EQ(m.functions(0).ops(0).kind(), "exp");
  EXPECT_EQ(m.functions(0).ops(1).kind(), "softmax");
}

// The ops whose ODS definition carries PerElement are marked element-wise for the CPU
// executor's chunked groups; nothing else is, reshape (an IndexedCopy) included.
TEST(CpuArtifact, PerElementOpsAreMarkedElementwise) {
  TestCompiler compiler;
  const char *ir = R"mlir(
    func.func @forward(%x: tensor<8x128xf32>, %b: tensor<128xf32>) -> tensor<1024xbf16> {
      %0 = precis.add %x, %b : (tensor<8x128xf32>, tensor<128xf32>) -> tensor<8x128xf32>
      %1 = precis.softmax %0 : tensor<8x128xf32>
      %2 = precis.reshape %1 : tensor<8x128xf32> to tensor<1024xf32>
      %3 = precis.cast %2 : tensor<1024xf32> to tensor<1024xbf16>
      return %3 : tensor<1024xbf16>
    })mlir";
  schema::Manifest m;
  ASSERT_TRUE(compile(compiler, ir, "cpu", &m));
  const schema::Function &f = m.functions(0);
  ASSERT_EQ(f.ops_size(), 4);
  const std::pair<const char *, bool> expected[] = {
      {"add", true}, {"softmax", false}, {"reshape", false}, {"cast", true}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(f.ops(i).kind(), expected[i].first);
    EXPECT_EQ(f.ops(i).elementwise(), expected[i].second) << f.ops(i).kind();
  }
}

} // namespace

TEST(CpuArtifact, FusionGroupsAreRefused) {
  // The artifact writer does not undo fusion behind the pipeline's back: a group reaching the
  // cpu target is an error naming the pass that splices it.
  TestCompiler compiler;
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceString<mlir::ModuleOp>(R"mlir(
    func.func @forward(%x: tensor<8xf32>) -> tensor<8xf32> {
      %r = precis.fusion elementwise (%x : tensor<8xf32>) -> tensor<8xf32> {
      ^bb0(%a: tensor<8xf32>):
        %0 = precis.relu %a : tensor<8xf32>
        precis.yield %0 : tensor<8xf32>
      }
      return %r : tensor<8xf32>
    })mlir",
                                                                                   &compiler.context);
  ASSERT_TRUE(module) << compiler.diagnostics;
  std::vector<char> bytes;
  EXPECT_TRUE(mlir::failed(buildArtifact(*module, {}, bytes)));
  EXPECT_NE(compiler.diagnostics.find("run precis-inline-fusions first"), std::string::npos)
      << compiler.diagnostics;
}
