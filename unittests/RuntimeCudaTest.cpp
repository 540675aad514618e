//===- RuntimeCudaTest.cpp - the CUDA backend against the CPU backend -----===//
//
// Without a device (or in a build without CUDA) creating a CUDA session must fail cleanly with
// Unavailable "no CUDA device: <reason>" (or "built without CUDA support"); those tests run
// everywhere. The device tests build small CUDA artifacts by hand (a kernel written as CUDA C++
// and compiled to PTX with NVRTC at test time, when NVRTC can be loaded; GEMMs of every kind the
// backend runs) and compare the results with the CPU backend on the same program, or with a host
// reference (scaled_matmul). They skip, saying why, only when no device is present. The
// RuntimeCudaFake test runs them on FakeCuda.cpp, a host stand-in for libcuda and cuBLASLt.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"
#include "TestCommunicator.h"

#include "precis/runtime/Session.h"
#include "precis/runtime/numerics.h"
#include "precis/runtime/precis.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <dlfcn.h>
#include <functional>
#include <memory>
#include <random>

using namespace precis::rt;
using namespace precis::rt::testing;
namespace schema = precis::schema;

namespace {

constexpr const char *kTarget = "cuda:sm_90a";

Status createSession(const std::string &bytes, const std::string &backend,
                     std::unique_ptr<Session> *out) {
  SessionOptions options;
  options.backend = backend;
  return Session::createFromMemory(bytes.data(), bytes.size(), options, out);
}

/// Why CUDA sessions cannot be created here, or "" when they can.
std::string noDeviceReason() {
  static const std::string reason = [] {
    schema::Manifest m = mlpManifest();
    m.set_target(kTarget);
    m.mutable_functions()->RemoveLast(); // relu_only: elementwise ops, no CUDA kernel
    m.mutable_functions(0)->clear_ops();
    m.mutable_functions(0)->clear_outputs();
    m.mutable_functions(0)->add_outputs(0);
    std::unique_ptr<Session> s;
    Status st = createSession(serialize(m, {bytesOf(mlpW()), bytesOf(mlpB())}), "", &s);
    return st.isOk() ? std::string() : st.message();
  }();
  return reason;
}

#define REQUIRE_DEVICE()                                                                           \
  do {                                                                                             \
    if (!noDeviceReason().empty())                                                                 \
      GTEST_SKIP() << noDeviceReason();                                                            \
  } while (0)

Tensor tensorOf(DType dtype, std::vector<int64_t> shape, const std::string &bytes) {
  Tensor t{dtype, std::move(shape), {}};
  t.data.assign(bytes.begin(), bytes.end());
  return t;
}

std::vector<float> floatsOf(const Tensor &t) {
  std::vector<float> v(t.data.size() / 4);
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

std::vector<float> randomFloats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(gen);
  return v;
}

std::string bf16Bytes(const std::vector<float> &v) {
  std::vector<uint16_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    b[i] = precis::float_to_bf16(v[i]);
  return bytesOf(b);
}

void expectNear(const std::vector<float> &got, const std::vector<float> &want, float rel) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], rel * (1.0f + std::fabs(want[i]))) << "element " << i;
}

/// Runs `bytes` (a manifest written for target "cpu") on the CPU and, retargeted, on CUDA,
/// twice (the second run replays the captured graph), and compares every output.
void compareWithCpu(schema::Manifest m, const std::vector<std::string> &blobs,
                    const std::vector<Tensor> &inputs, float rel) {
  m.set_target("cpu");
  std::unique_ptr<Session> cpu, gpu;
  Status st = createSession(serialize(m, blobs), "", &cpu);
  ASSERT_TRUE(st.isOk()) << st.message();
  m.set_target(kTarget);
  st = createSession(serialize(m, blobs), "", &gpu);
  ASSERT_TRUE(st.isOk()) << st.message();
  std::vector<Tensor> want, got;
  st = cpu->run("forward", inputs, &want);
  ASSERT_TRUE(st.isOk()) << st.message();
  for (int round = 0; round < 2; ++round) {
    st = gpu->run("forward", inputs, &got);
    ASSERT_TRUE(st.isOk()) << "run " << round << ": " << st.message();
    ASSERT_EQ(got.size(), want.size());
    for (size_t o = 0; o < got.size(); ++o) {
      SCOPED_TRACE("run " + std::to_string(round) + " output " + std::to_string(o));
      ASSERT_EQ(got[o].dtype, DType::F32);
      expectNear(floatsOf(got[o]), floatsOf(want[o]), rel);
    }
  }
}

/// forward(a, b) -> matmul(a, b) with the given types and attributes.
schema::Manifest matmulManifest(DType in, std::vector<int64_t> a, std::vector<int64_t> b,
                                std::vector<int64_t> out, const std::string &kind,
                                const std::function<void(schema::Op &)> &attrs = nullptr) {
  schema::Manifest m;
  m.set_producer("precis test");
  m.set_arena_size(1 << 20);
  addValue(m, in, std::move(a), "a")->set_input(0);
  addValue(m, in, std::move(b), "b")->set_input(1);
  addValue(m, DType::F32, std::move(out), "y")->set_arena_offset(0);
  schema::Function *f = m.add_functions();
  f->set_name("forward");
  f->add_inputs(0);
  f->add_inputs(1);
  schema::Op *op = addOp(*f, kind, {0, 1}, {2}, "MatMul_0");
  if (attrs)
    attrs(*op);
  f->add_outputs(2);
  return m;
}

//===----------------------------------------------------------------------===//
// NVRTC, loaded like the runtime loads libcuda: the test needs no CUDA library to link.
//===----------------------------------------------------------------------===//

/// Whether libcuda.so.1 is FakeCuda.cpp (the RuntimeCudaFake test), which runs kernels by name
/// and ignores their PTX. NVRTC must not run then: it would use the fake as its driver.
bool fakeCuda() {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  return lib && dlsym(lib, "precis_fake_cuda_graph_launches");
}

/// Compiles `source` to PTX for compute_80 (JIT-compiled by the driver on any newer device),
/// or returns false with `*why` when NVRTC is missing or fails.
bool compileToPtx(const std::string &source, std::string *ptx, std::string *why) {
  if (fakeCuda()) {
    *ptx = "// FakeCuda.cpp runs its kernels by name\n.entry k(";
    return true;
  }
  using Create =
      int (*)(void **, const char *, const char *, int, const char *const *, const char *const *);
  using Compile = int (*)(void *, int, const char *const *);
  using Size = int (*)(void *, size_t *);
  using Get = int (*)(void *, char *);
  using Destroy = int (*)(void **);
  void *lib = nullptr;
  for (const char *name : {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"})
    if ((lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)))
      break;
  if (!lib) {
    *why = "NVRTC is not available";
    return false;
  }
  auto create = reinterpret_cast<Create>(dlsym(lib, "nvrtcCreateProgram"));
  auto compile = reinterpret_cast<Compile>(dlsym(lib, "nvrtcCompileProgram"));
  auto logSize = reinterpret_cast<Size>(dlsym(lib, "nvrtcGetProgramLogSize"));
  auto getLog = reinterpret_cast<Get>(dlsym(lib, "nvrtcGetProgramLog"));
  auto ptxSize = reinterpret_cast<Size>(dlsym(lib, "nvrtcGetPTXSize"));
  auto getPtx = reinterpret_cast<Get>(dlsym(lib, "nvrtcGetPTX"));
  auto destroy = reinterpret_cast<Destroy>(dlsym(lib, "nvrtcDestroyProgram"));
  if (!create || !compile || !logSize || !getLog || !ptxSize || !getPtx || !destroy) {
    *why = "NVRTC lacks an entry point";
    return false;
  }
  void *prog = nullptr;
  if (create(&prog, source.c_str(), "kernel.cu", 0, nullptr, nullptr) != 0) {
    *why = "nvrtcCreateProgram failed";
    return false;
  }
  const char *options[] = {"--gpu-architecture=compute_80"};
  const int rc = compile(prog, 1, options);
  size_t n = 0;
  if (rc != 0) {
    logSize(prog, &n);
    std::string log(n, '\0');
    getLog(prog, log.data());
    *why = "NVRTC: " + log;
    destroy(&prog);
    return false;
  }
  ptxSize(prog, &n);
  ptx->assign(n, '\0');
  getPtx(prog, ptx->data());
  destroy(&prog);
  return true;
}

} // namespace

//===----------------------------------------------------------------------===//
// Everywhere: selecting the backend, and the no-device path.
//===----------------------------------------------------------------------===//

TEST(RuntimeCuda, NoDeviceIsACleanStatus) {
  const std::string reason = noDeviceReason();
  if (reason.empty())
    GTEST_SKIP() << "a CUDA device is present; the no-device path cannot be taken here";
  schema::Manifest m = matmulManifest(DType::F32, {2, 4}, {4, 3}, {2, 3}, "matmul");
  m.set_target(kTarget);
  const std::string bytes = serialize(m, {});
  for (const char *backend : {"", "cuda"}) {
    std::unique_ptr<Session> s;
    Status st = createSession(bytes, backend, &s);
    EXPECT_EQ(st.code(), StatusCode::Unavailable) << st.message();
    EXPECT_TRUE(st.message().rfind("no CUDA device: ", 0) == 0 ||
                st.message().find("built without CUDA support") != std::string::npos)
        << st.message();
    EXPECT_FALSE(s);
  }
  std::printf("CUDA sessions here: %s\n", reason.c_str());

  // The same through the C API.
  precis_session_options_t options;
  precis_session_options_init(&options);
  precis_session_t *session = nullptr;
  precis_status_t status =
      precis_session_create_from_memory(bytes.data(), bytes.size(), &options, &session);
  EXPECT_EQ(precis_status_code(status), PRECIS_UNAVAILABLE);
  EXPECT_NE(std::string(precis_status_message(status)).find("CUDA"), std::string::npos);
  EXPECT_EQ(session, nullptr);
  precis_status_free(status);
}

TEST(RuntimeCuda, BackendFollowsTheTarget) {
  // A CPU artifact: "" and "cpu" run it; "cuda" is refused by name.
  const std::string cpu = makeMlpArtifact();
  std::unique_ptr<Session> s;
  EXPECT_TRUE(createSession(cpu, "", &s).isOk());
  Status st = createSession(cpu, "cuda", &s);
  EXPECT_TRUE(st.code() == StatusCode::InvalidArgument || st.code() == StatusCode::Unavailable)
      << st.message();
  EXPECT_NE(st.message().find("cuda"), std::string::npos) << st.message();
  st = createSession(cpu, "tpu", &s);
  EXPECT_EQ(st.code(), StatusCode::Unavailable);
  EXPECT_NE(st.message().find("backend 'tpu' is not available"), std::string::npos);

  // A CUDA artifact on the CPU backend, asked for explicitly, is refused.
  schema::Manifest m = mlpManifest();
  m.set_target(kTarget);
  st = createSession(serialize(m, {bytesOf(mlpW()), bytesOf(mlpB())}), "cpu", &s);
  EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
  EXPECT_NE(st.message().find("compiled for target 'cuda:sm_90a', not for backend 'cpu'"),
            std::string::npos)
      << st.message();
}

TEST(RuntimeCuda, CarryOutputsChecksItsArguments) {
  // The checks every backend shares (the CPU backend's writing of carried outputs into the
  // caller's inputs: RuntimeTest.cpp, RuntimeCarriedState).
  std::unique_ptr<Session> s;
  ASSERT_TRUE(createSession(makeMlpArtifact(), "", &s).isOk());
  EXPECT_EQ(s->carryOutputs("forward", {{0, 0}}).code(), StatusCode::Ok); // y f32[2,4] -> x
  EXPECT_EQ(s->carryOutputs("forward", {{1, 0}}).code(), StatusCode::InvalidArgument);
  EXPECT_EQ(s->carryOutputs("forward", {{2, 0}}).code(), StatusCode::InvalidArgument);
  EXPECT_EQ(s->carryOutputs("backward", {}).code(), StatusCode::NotFound);
}

TEST(RuntimeCuda, TestKernelCompilesWithNvrtc) {
  // The device tests' kernels compile here too, when NVRTC is installed (no device needed).
  if (fakeCuda())
    GTEST_SKIP() << "libcuda.so.1 is FakeCuda.cpp: NVRTC is not used";
  std::string ptx, why;
  if (!compileToPtx("extern \"C\" __global__ void k(float *y) { y[threadIdx.x] = 1.0f; }", &ptx,
                    &why))
    GTEST_SKIP() << why;
  EXPECT_NE(ptx.find(".entry k("), std::string::npos) << ptx;
}

//===----------------------------------------------------------------------===//
// On a device.
//===----------------------------------------------------------------------===//

TEST(RuntimeCudaDevice, GeneratedKernelThenMatmul) {
  REQUIRE_DEVICE();
  // forward(x) = (y = relu(x + w), z = y @ b), as the shared reference artifact, with the
  // element-wise part as one generated kernel.
  const std::string source = R"(
extern "C" __global__ void add_relu(const float *x, const float *w, float *y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < 8) y[i] = fmaxf(x[i] + w[i], 0.0f);
})";
  std::string ptx, why;
  if (!compileToPtx(source, &ptx, &why))
    GTEST_SKIP() << why;
  schema::Manifest m = mlpManifest();
  m.set_target(kTarget);
  m.mutable_functions()->RemoveLast();
  schema::Kernel *k = m.add_kernels();
  k->set_name("add_relu");
  k->set_ptx(ptx);
  k->set_source(source);
  schema::Function *f = m.mutable_functions(0);
  f->clear_ops();
  schema::Op *op = addOp(*f, "kernel", {0, 1}, {3}, "Add_Relu_0");
  auto &attrs = *op->mutable_attrs();
  attrs["kernel"].set_i(0);
  for (int64_t d : {1, 1, 1})
    attrs["grid"].mutable_ints()->add_values(d);
  for (int64_t d : {32, 1, 1})
    attrs["block"].mutable_ints()->add_values(d);
  attrs["shared_bytes"].set_i(0);
  addOp(*f, "matmul", {3, 4}, {5}, "MatMul_2");

  std::unique_ptr<Session> s, cpu;
  Status st = createSession(serialize(m, {bytesOf(mlpW()), bytesOf(mlpB())}), "", &s);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_TRUE(createSession(makeMlpArtifact(), "", &cpu).isOk()); // add, relu, matmul
  for (int round = 0; round < 3; ++round) {
    const std::vector<float> x = randomFloats(8, 7 + round, 4.0f);
    std::vector<Tensor> out, want;
    st = s->run("forward", {tensorOf(DType::F32, {2, 4}, bytesOf(x))}, &out);
    ASSERT_TRUE(st.isOk()) << "run " << round << ": " << st.message();
    ASSERT_TRUE(cpu->run("forward", {tensorOf(DType::F32, {2, 4}, bytesOf(x))}, &want).isOk());
    expectNear(floatsOf(out[0]), floatsOf(want[0]), 0);
    expectNear(floatsOf(out[1]), floatsOf(want[1]), 1e-6f);
  }

  // Runs after the first replay the captured graph (checked where the test runs on
  // FakeCuda.cpp, which counts graph launches).
  if (void *fake = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD)) {
    if (auto launches =
            reinterpret_cast<long long (*)()>(dlsym(fake, "precis_fake_cuda_graph_launches"))) {
      EXPECT_GE(launches(), 2);
    }
    dlclose(fake);
  }

  // A new parameter value reaches the device (and the replayed graph).
  ASSERT_TRUE(
      s->setParameter("b", tensorOf(DType::F32, {4, 3}, bytesOf(std::vector<float>(12, 0))).view())
          .isOk());
  std::vector<Tensor> out;
  ASSERT_TRUE(
      s->run("forward", {tensorOf(DType::F32, {2, 4}, bytesOf(randomFloats(8, 1)))}, &out).isOk());
  expectNear(floatsOf(out[1]), std::vector<float>(6, 0.0f), 0);
}

TEST(RuntimeCudaDevice, CarriedStateStaysOnDevice) {
  REQUIRE_DEVICE();
  // step(acc, x) -> (acc + x): with the output carried into `acc`, the caller's `acc` is read
  // by the first run after carryOutputs only.
  const std::string source = R"(
extern "C" __global__ void accumulate(const float *acc, const float *x, float *out) {
  int i = threadIdx.x;
  if (i < 4) out[i] = acc[i] + x[i];
})";
  std::string ptx, why;
  if (!compileToPtx(source, &ptx, &why))
    GTEST_SKIP() << why;
  schema::Manifest m;
  m.set_producer("precis test");
  m.set_target(kTarget);
  m.set_arena_size(64);
  addValue(m, DType::F32, {4}, "acc")->set_input(0);
  addValue(m, DType::F32, {4}, "x")->set_input(1);
  addValue(m, DType::F32, {4}, "acc_next")->set_arena_offset(0);
  schema::Kernel *k = m.add_kernels();
  k->set_name("accumulate");
  k->set_ptx(ptx);
  schema::Function *f = m.add_functions();
  f->set_name("step");
  f->add_inputs(0);
  f->add_inputs(1);
  schema::Op *op = addOp(*f, "kernel", {0, 1}, {2}, "Add_0");
  auto &attrs = *op->mutable_attrs();
  attrs["kernel"].set_i(0);
  for (int64_t d : {1, 1, 1})
    attrs["grid"].mutable_ints()->add_values(d);
  for (int64_t d : {4, 1, 1})
    attrs["block"].mutable_ints()->add_values(d);
  f->add_outputs(2);
  std::unique_ptr<Session> s;
  Status st = createSession(serialize(m, {}), "", &s);
  ASSERT_TRUE(st.isOk()) << st.message();
  ASSERT_TRUE(s->carryOutputs("step", {{0, 0}}).isOk());
  const Tensor x = tensorOf(DType::F32, {4}, bytesOf(std::vector<float>{1, 2, 3, 4}));
  Tensor acc = tensorOf(DType::F32, {4}, bytesOf(std::vector<float>{10, 20, 30, 40}));
  const Tensor junk = tensorOf(DType::F32, {4}, bytesOf(std::vector<float>(4, -1000)));
  std::vector<Tensor> out;
  for (int step = 1; step <= 4; ++step) {
    st = s->run("step", {step == 1 ? acc : junk, x}, &out); // graph replay from step 2 on
    ASSERT_TRUE(st.isOk()) << st.message();
    EXPECT_EQ(floatsOf(out[0]), (std::vector<float>{10.0f + step, 20.0f + 2 * step,
                                                    30.0f + 3 * step, 40.0f + 4 * step}));
  }
  // Fetching no output leaves the state on the device, where carriedInput reads it.
  Tensor carried;
  ASSERT_TRUE(s->carriedInput("step", 0, &carried).isOk());
  EXPECT_EQ(floatsOf(carried), (std::vector<float>{14, 28, 42, 56}));
  st = s->run("step", std::vector<TensorView>{junk.view(), x.view()}, &out, {false});
  ASSERT_TRUE(st.isOk()) << st.message();
  EXPECT_TRUE(out[0].data.empty());
  ASSERT_TRUE(s->carriedInput("step", 0, &carried).isOk());
  EXPECT_EQ(floatsOf(carried), (std::vector<float>{15, 30, 45, 60}));
  // Re-arming reads the caller's value again.
  ASSERT_TRUE(s->carryOutputs("step", {{0, 0}}).isOk());
  ASSERT_TRUE(s->run("step", {acc, x}, &out).isOk());
  EXPECT_EQ(floatsOf(out[0]), (std::vector<float>{11, 22, 33, 44}));
}

TEST(RuntimeCudaDevice, MatmulAgainstCpu) {
  REQUIRE_DEVICE();
  struct Case {
    DType dtype;
    std::vector<int64_t> a, b, out;
    bool ta, tb;
    float rel;
  };
  const Case cases[] = {
      {DType::F32, {64, 48}, {48, 80}, {64, 80}, false, false, 1e-5f},
      {DType::F32, {48, 64}, {80, 48}, {64, 80}, true, true, 1e-5f},
      {DType::BF16, {64, 32}, {32, 16}, {64, 16}, false, false, 1e-3f},
      {DType::F16, {16, 32}, {16, 32}, {16, 16}, false, true, 1e-3f},
      {DType::F32, {3, 8, 16}, {16, 24}, {3, 8, 24}, false, false, 1e-5f},   // folded batch
      {DType::F32, {3, 16, 8}, {3, 16, 24}, {3, 8, 24}, true, false, 1e-5f}, // strided batch
      {DType::F32, {2, 1, 8, 16}, {1, 3, 16, 8}, {2, 3, 8, 8}, false, false, 1e-5f}, // per entry
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(std::string(dtypeName(c.dtype)) + " case with " + std::to_string(c.a.size()) +
                 "-d a, ta " + std::to_string(c.ta) + " tb " + std::to_string(c.tb));
    schema::Manifest m = matmulManifest(c.dtype, c.a, c.b, c.out, "matmul", [&](schema::Op &op) {
      (*op.mutable_attrs())["transpose_lhs"].set_i(c.ta);
      (*op.mutable_attrs())["transpose_rhs"].set_i(c.tb);
    });
    auto make = [&](const std::vector<int64_t> &shape, uint32_t seed) {
      int64_t n = 1;
      for (int64_t d : shape)
        n *= d;
      const std::vector<float> v = randomFloats(static_cast<size_t>(n), seed);
      if (c.dtype == DType::F32)
        return tensorOf(c.dtype, shape, bytesOf(v));
      if (c.dtype == DType::BF16)
        return tensorOf(c.dtype, shape, bf16Bytes(v));
      std::vector<uint16_t> h(v.size());
      for (size_t i = 0; i < v.size(); ++i)
        h[i] = precis::float_to_fp16(v[i]);
      return tensorOf(c.dtype, shape, bytesOf(h));
    };
    compareWithCpu(m, {}, {make(c.a, 1), make(c.b, 2)}, c.rel);
  }
}

TEST(RuntimeCudaDevice, GemmAgainstCpu) {
  REQUIRE_DEVICE();
  for (const std::vector<int64_t> &cShape : {std::vector<int64_t>{32, 24}, {24}}) {
    SCOPED_TRACE("c of rank " + std::to_string(cShape.size()));
    schema::Manifest m =
        matmulManifest(DType::F32, {16, 32}, {24, 16}, {32, 24}, "gemm", [&](schema::Op &op) {
          auto &a = *op.mutable_attrs();
          a["transpose_a"].set_i(1);
          a["transpose_b"].set_i(1);
          a["alpha"].set_f(0.5);
          a["beta"].set_f(cShape.size() == 2 ? 2.0 : 1.0);
          op.add_inputs(3);
        });
    addValue(m, DType::F32, cShape, "c")->set_input(2);
    m.mutable_functions(0)->add_inputs(3);
    int64_t n = 1;
    for (int64_t d : cShape)
      n *= d;
    compareWithCpu(m, {},
                   {tensorOf(DType::F32, {16, 32}, bytesOf(randomFloats(512, 3))),
                    tensorOf(DType::F32, {24, 16}, bytesOf(randomFloats(384, 4))),
                    tensorOf(DType::F32, cShape, bytesOf(randomFloats(static_cast<size_t>(n), 5)))},
                   1e-5f);
  }
}

TEST(RuntimeCudaDevice, MatmulBiasReluEpilogue) {
  REQUIRE_DEVICE();
  // y = relu(a b + bias), bias[N] appended to matmul's operands; against a host reference.
  const int64_t M = 16, K = 32, N = 24;
  schema::Manifest m =
      matmulManifest(DType::F32, {M, K}, {K, N}, {M, N}, "matmul", [](schema::Op &op) {
        (*op.mutable_attrs())["epilogue"].set_s("bias_relu");
        op.add_inputs(3);
      });
  addValue(m, DType::F32, {N}, "bias")->set_blob(0);
  m.set_target(kTarget);
  const std::vector<float> a = randomFloats(M * K, 21), b = randomFloats(K * N, 22),
                           bias = randomFloats(N, 23);
  std::unique_ptr<Session> s;
  Status st = createSession(serialize(m, {bytesOf(bias)}), "", &s);
  ASSERT_TRUE(st.isOk()) << st.message();
  std::vector<float> want(M * N);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = bias[j];
      for (int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(a[i * K + k]) * b[k * N + j];
      want[i * N + j] = static_cast<float>(std::max(acc, 0.0));
    }
  std::vector<Tensor> out;
  st = s->run("forward",
              {tensorOf(DType::F32, {M, K}, bytesOf(a)), tensorOf(DType::F32, {K, N}, bytesOf(b))},
              &out);
  ASSERT_TRUE(st.isOk()) << st.message();
  expectNear(floatsOf(out[0]), want, 1e-5f);
}

TEST(RuntimeCudaDevice, ScaledMatmulFp8WithBias) {
  REQUIRE_DEVICE();
  // y = (a_descale * A) (b_descale * B)^T + bias: A e4m3 [M, K], B e4m3 [N, K] (the TN layout),
  // bf16 bias, f32 result; against a host reference over the decoded fp8 values.
  const int64_t M = 32, N = 16, K = 64;
  std::vector<uint8_t> a(M * K), b(N * K);
  std::vector<float> af(a.size()), bf(b.size());
  const std::vector<float> ar = randomFloats(a.size(), 11, 8.0f),
                           br = randomFloats(b.size(), 12, 8.0f);
  for (size_t i = 0; i < a.size(); ++i)
    af[i] = precis::fp8_e4m3fn_to_float(a[i] = precis::float_to_fp8_e4m3fn(ar[i]));
  for (size_t i = 0; i < b.size(); ++i)
    bf[i] = precis::fp8_e4m3fn_to_float(b[i] = precis::float_to_fp8_e4m3fn(br[i]));
  const float aScale = 0.25f, bScale = 0.5f;
  const std::vector<float> biasF = randomFloats(N, 13);
  std::vector<float> bias(N);
  for (int64_t j = 0; j < N; ++j)
    bias[j] = precis::bf16_to_float(precis::float_to_bf16(biasF[j]));

  schema::Manifest m;
  m.set_producer("precis test");
  m.set_target(kTarget);
  m.set_arena_size(M * N * 4);
  addValue(m, DType::F8E4M3FN, {M, K}, "a")->set_input(0);
  addValue(m, DType::F8E4M3FN, {N, K}, "b")->set_blob(0);
  addValue(m, DType::F32, {}, "a_descale")->set_blob(1);
  addValue(m, DType::F32, {}, "b_descale")->set_blob(2);
  addValue(m, DType::BF16, {N}, "bias")->set_blob(3);
  addValue(m, DType::F32, {M, N}, "y")->set_arena_offset(0);
  schema::Function *f = m.add_functions();
  f->set_name("forward");
  f->add_inputs(0);
  schema::Op *op = addOp(*f, "scaled_matmul", {0, 1, 2, 3, 4}, {5}, "MatMul_0");
  (*op->mutable_attrs())["transpose_rhs"].set_i(1);
  (*op->mutable_attrs())["epilogue"].set_s("bias");
  f->add_outputs(5);
  std::unique_ptr<Session> s;
  Status st = createSession(serialize(m, {bytesOf(b), bytesOf(std::vector<float>{aScale}),
                                          bytesOf(std::vector<float>{bScale}), bf16Bytes(biasF)}),
                            "", &s);
  ASSERT_TRUE(st.isOk()) << st.message();
  std::vector<float> want(M * N);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(af[i * K + k]) * bf[j * K + k];
      want[i * N + j] = static_cast<float>(acc * aScale * bScale + bias[j]);
    }
  for (int round = 0; round < 2; ++round) {
    std::vector<Tensor> out;
    st = s->run("forward", {tensorOf(DType::F8E4M3FN, {M, K}, bytesOf(a))}, &out);
    ASSERT_TRUE(st.isOk()) << st.message();
    expectNear(floatsOf(out[0]), want, 1e-5f);
  }

  // The other layouts (a stored as [K, M], b as [K, N]) run too: the executor transposes
  // them into the TN layout first.
  std::vector<uint8_t> aT(a.size()), bT(b.size());
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k)
      aT[k * M + i] = a[i * K + k];
  for (int64_t j = 0; j < N; ++j)
    for (int64_t k = 0; k < K; ++k)
      bT[k * N + j] = b[j * K + k];
  auto &attrs = *m.mutable_functions(0)->mutable_ops(0)->mutable_attrs();
  attrs["transpose_lhs"].set_i(1);
  attrs["transpose_rhs"].set_i(0);
  m.mutable_values(0)->mutable_type()->set_shape(0, K);
  m.mutable_values(0)->mutable_type()->set_shape(1, M);
  m.mutable_values(1)->mutable_type()->set_shape(0, K);
  m.mutable_values(1)->mutable_type()->set_shape(1, N);
  st = createSession(serialize(m, {bytesOf(bT), bytesOf(std::vector<float>{aScale}),
                                   bytesOf(std::vector<float>{bScale}), bf16Bytes(biasF)}),
                     "", &s);
  ASSERT_TRUE(st.isOk()) << st.message();
  for (int round = 0; round < 2; ++round) {
    std::vector<Tensor> out;
    st = s->run("forward", {tensorOf(DType::F8E4M3FN, {K, M}, bytesOf(aT))}, &out);
    ASSERT_TRUE(st.isOk()) << st.message();
    expectNear(floatsOf(out[0]), want, 1e-5f);
  }
}

TEST(RuntimeCudaDevice, UnknownOpIsNamedAtCreation) {
  REQUIRE_DEVICE();
  std::unique_ptr<Session> s;
  schema::Manifest m = mlpManifest();
  m.set_target(kTarget);
  Status st = createSession(serialize(m, {bytesOf(mlpW()), bytesOf(mlpB())}), "", &s);
  EXPECT_EQ(st.code(), StatusCode::Unimplemented);
  EXPECT_NE(st.message().find("function 'forward' op 0 'add' (node \"Add_0\")"), std::string::npos)
      << st.message();
}

//===----------------------------------------------------------------------===//
// all_reduce (data-parallel training steps) on a device.
//===----------------------------------------------------------------------===//

namespace {

/// A manifest for the collective tests with the kernel `accumulate` (out = acc + x over 4
/// floats) compiled in, or false with `*why` when the kernel cannot be compiled here.
bool accumulateManifest(schema::Manifest *m, std::string *why) {
  const std::string source = R"(
extern "C" __global__ void accumulate(const float *acc, const float *x, float *out) {
  int i = threadIdx.x;
  if (i < 4) out[i] = acc[i] + x[i];
})";
  std::string ptx;
  if (!compileToPtx(source, &ptx, why))
    return false;
  m->set_producer("precis test");
  m->set_target(kTarget);
  m->set_arena_size(512);
  schema::Kernel *k = m->add_kernels();
  k->set_name("accumulate");
  k->set_ptx(ptx);
  return true;
}

/// Adds a launch of `accumulate` (one block of 4 threads) to `f`.
void addAccumulate(schema::Function &f, std::vector<uint32_t> in, uint32_t out) {
  schema::Op *op = addOp(f, "kernel", std::move(in), {out}, "Add_0");
  auto &attrs = *op->mutable_attrs();
  attrs["kernel"].set_i(0);
  for (int64_t d : {1, 1, 1})
    attrs["grid"].mutable_ints()->add_values(d);
  for (int64_t d : {4, 1, 1})
    attrs["block"].mutable_ints()->add_values(d);
}

/// step(acc f32[4], x f32[4], n i64[3], d f64[2]) -> (g, m, e, h):
///   s = accumulate(acc, x)          (a generated kernel)
///   g, m = all_reduce(s, n)  sum
///   e = all_reduce(d)        max
///   h = all_reduce(x)        mean
/// or "" with `*why` when the kernel cannot be compiled here.
std::string allReduceArtifact(std::string *why, DType nType = DType::I64) {
  schema::Manifest m;
  if (!accumulateManifest(&m, why))
    return "";
  addValue(m, DType::F32, {4}, "acc")->set_input(0);
  addValue(m, DType::F32, {4}, "x")->set_input(1);
  addValue(m, nType, {3}, "n")->set_input(2);
  addValue(m, DType::F64, {2}, "d")->set_input(3);
  addValue(m, DType::F32, {4}, "s")->set_arena_offset(0);
  addValue(m, DType::F32, {4}, "g")->set_arena_offset(64);
  addValue(m, nType, {3}, "m")->set_arena_offset(128);
  addValue(m, DType::F64, {2}, "e")->set_arena_offset(192);
  addValue(m, DType::F32, {4}, "h")->set_arena_offset(256);
  schema::Function *f = m.add_functions();
  f->set_name("step");
  for (uint32_t i = 0; i < 4; ++i)
    f->add_inputs(i);
  addAccumulate(*f, {0, 1}, 4);
  (*addOp(*f, "all_reduce", {4, 2}, {5, 6}, "AllReduce_0")->mutable_attrs())["reduction"].set_i(0);
  (*addOp(*f, "all_reduce", {3}, {7}, "AllReduce_1")->mutable_attrs())["reduction"].set_i(2);
  (*addOp(*f, "all_reduce", {1}, {8}, "AllReduce_2")->mutable_attrs())["reduction"].set_i(1);
  for (uint32_t v : {5, 6, 7, 8})
    f->add_outputs(v);
  return serialize(m, {});
}

template <typename T> std::vector<T> valuesOf(const Tensor &t) {
  std::vector<T> v(t.data.size() / sizeof(T));
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

} // namespace

TEST(RuntimeCudaDevice, AllReduceAcrossCommunicators) {
  REQUIRE_DEVICE();
  std::string why;
  const std::string bytes = allReduceArtifact(&why);
  if (bytes.empty())
    GTEST_SKIP() << why;
  // No communicator, a world of one, a host-memory (MPI-like) and a device-memory (NCCL-like)
  // world of two.
  struct Case {
    const char *name;
    int size; // 0: no communicator
    bool device;
  };
  for (const Case &c : {Case{"none", 0, false}, Case{"one rank", 1, false},
                        Case{"host memory", 2, false}, Case{"device memory", 2, true}}) {
    SCOPED_TRACE(c.name);
    auto comm = c.size ? std::make_shared<PeerCommunicator>(c.size, c.device) : nullptr;
    SessionOptions options;
    options.communicator = comm;
    std::unique_ptr<Session> s;
    Status st = Session::createFromMemory(bytes.data(), bytes.size(), options, &s);
    ASSERT_TRUE(st.isOk()) << st.message();
    ASSERT_EQ(s->findFunction("step")->collectives, 3u);
    const long long graphsBefore = fakeGraphLaunches();
    const bool reduced = c.size == 2;
    for (int step = 0; step < 3; ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      const std::vector<float> acc = {1, 2, 3, 4}, x = {0.5f * step, -1, 10, 100};
      const std::vector<int64_t> n = {7, -8, int64_t(1) << 40};
      const std::vector<double> d = {0.25, -3.0 - step};
      std::vector<Tensor> out;
      st = s->run("step",
                  {tensorOf(DType::F32, {4}, bytesOf(acc)), tensorOf(DType::F32, {4}, bytesOf(x)),
                   tensorOf(DType::I64, {3}, bytesOf(n)), tensorOf(DType::F64, {2}, bytesOf(d))},
                  &out);
      ASSERT_TRUE(st.isOk()) << st.message();
      ASSERT_EQ(out.size(), 4u);
      // The other rank holds each value plus one (TestCommunicator.h).
      std::vector<float> g(4), h(4);
      std::vector<int64_t> m(3);
      std::vector<double> e(2);
      for (int i = 0; i < 4; ++i) {
        const float sum = acc[i] + x[i];
        g[i] = reduced ? sum + (sum + 1) : sum;
        h[i] = reduced ? (x[i] + (x[i] + 1)) / 2 : x[i];
      }
      for (int i = 0; i < 3; ++i)
        m[i] = reduced ? 2 * n[i] + 1 : n[i];
      for (int i = 0; i < 2; ++i)
        e[i] = reduced ? d[i] + 1 : d[i];
      EXPECT_EQ(valuesOf<float>(out[0]), g);
      EXPECT_EQ(valuesOf<int64_t>(out[1]), m);
      EXPECT_EQ(valuesOf<double>(out[2]), e);
      EXPECT_EQ(valuesOf<float>(out[3]), h);
    }
    // A function with collectives is never captured into a graph (checked on the fake).
    if (graphsBefore >= 0) {
      EXPECT_EQ(fakeGraphLaunches(), graphsBefore);
    }
    if (!comm)
      continue;
    if (!reduced) {
      EXPECT_TRUE(comm->calls.empty()); // a world of one: identities, no calls
      continue;
    }
    // One call per operand, in op and operand order, every step.
    ASSERT_EQ(comm->calls.size(), 12u);
    const PeerCommunicator::Call want[] = {{4, DType::F32, Reduction::Sum, nullptr, nullptr},
                                           {3, DType::I64, Reduction::Sum, nullptr, nullptr},
                                           {2, DType::F64, Reduction::Max, nullptr, nullptr},
                                           {4, DType::F32, Reduction::Mean, nullptr, nullptr}};
    for (size_t i = 0; i < comm->calls.size(); ++i) {
      const PeerCommunicator::Call &got = comm->calls[i], &w = want[i % 4];
      EXPECT_EQ(got.count, w.count) << "call " << i;
      EXPECT_EQ(got.dtype, w.dtype) << "call " << i;
      EXPECT_EQ(got.op, w.op) << "call " << i;
      // Device memory: the executor's stream; host memory: no stream, and the same staging
      // buffer every step (allocated at creation).
      EXPECT_EQ(got.stream != nullptr, c.device) << "call " << i;
      if (i >= 4) {
        EXPECT_EQ(got.data, comm->calls[i - 4].data) << "call " << i;
      }
    }
    if (!c.device) { // operands staged side by side: the first op's two in one buffer
      EXPECT_NE(comm->calls[0].data, comm->calls[1].data);
    }
  }
}

TEST(RuntimeCudaDevice, AllReduceErrorsNameTheOp) {
  REQUIRE_DEVICE();
  std::string why;
  const std::string bytes = allReduceArtifact(&why);
  if (bytes.empty())
    GTEST_SKIP() << why;
  const std::vector<Tensor> inputs = {
      tensorOf(DType::F32, {4}, bytesOf(std::vector<float>(4, 1))),
      tensorOf(DType::F32, {4}, bytesOf(std::vector<float>(4, 2))),
      tensorOf(DType::I64, {3}, bytesOf(std::vector<int64_t>(3, 3))),
      tensorOf(DType::F64, {2}, bytesOf(std::vector<double>(2, 4)))};
  // A failing communicator: the run fails naming the op, the operand and the rank.
  for (bool device : {false, true}) {
    SCOPED_TRACE(device ? "device memory" : "host memory");
    auto comm = std::make_shared<PeerCommunicator>(2, device);
    comm->failWith = "the peer went away";
    SessionOptions options;
    options.communicator = comm;
    std::unique_ptr<Session> s;
    Status st = Session::createFromMemory(bytes.data(), bytes.size(), options, &s);
    ASSERT_TRUE(st.isOk()) << st.message();
    std::vector<Tensor> out;
    st = s->run("step", inputs, &out);
    EXPECT_EQ(st.code(), StatusCode::Internal);
    EXPECT_NE(st.message().find("op 1 'all_reduce' (node \"AllReduce_0\")"), std::string::npos)
        << st.message();
    EXPECT_NE(
        st.message().find("all_reduce of operand 0 on rank 0 of 2 (test): the peer went away"),
        std::string::npos)
        << st.message();
    EXPECT_EQ(comm->calls.size(), 1u);
  }

  // An element type the collective does not take is refused at creation, naming the op.
  const std::string bf16 = allReduceArtifact(&why, DType::BF16);
  std::unique_ptr<Session> s;
  Status st = Session::createFromMemory(bf16.data(), bf16.size(), SessionOptions(), &s);
  EXPECT_EQ(st.code(), StatusCode::Unimplemented);
  EXPECT_NE(st.message().find("function 'step' op 1 'all_reduce' (node \"AllReduce_0\")"),
            std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("all_reduce of operand 1: element type bf16"), std::string::npos)
      << st.message();
}

//===----------------------------------------------------------------------===//
// shard and all_gather (ZeRO stage 1) on a device.
//===----------------------------------------------------------------------===//

namespace {

/// step(x f32[ranks*4]) -> (s, y), compiled for `ranks` ranks:
///   s = shard(x)              f32[4], this rank's share
///   u = accumulate(s, s)      f32[4], a generated kernel: 2 s
///   y = all_gather(u)         f32[ranks*4]
/// or "" with `*why` when the kernel cannot be compiled here. `xType` other than f32 makes an
/// invalid artifact.
std::string zeroArtifact(int ranks, std::string *why, DType xType = DType::F32) {
  schema::Manifest m;
  if (!accumulateManifest(&m, why))
    return "";
  addValue(m, xType, {ranks * 4}, "x")->set_input(0);
  addValue(m, DType::F32, {4}, "s")->set_arena_offset(0);
  addValue(m, DType::F32, {4}, "u")->set_arena_offset(64);
  addValue(m, DType::F32, {ranks * 4}, "y")->set_arena_offset(128);
  schema::Function *f = m.add_functions();
  f->set_name("step");
  f->add_inputs(0);
  addOp(*f, "shard", {0}, {1}, "Shard_0");
  addAccumulate(*f, {1, 1}, 2);
  addOp(*f, "all_gather", {2}, {3}, "AllGather_0");
  f->add_outputs(1);
  f->add_outputs(3);
  return serialize(m, {});
}

} // namespace

TEST(RuntimeCudaDevice, ShardAndAllGatherAcrossCommunicators) {
  REQUIRE_DEVICE();
  // No communicator, a world of one, host-memory (MPI-like) and device-memory (NCCL-like)
  // worlds of two, as rank 0 and as rank 1.
  struct Case {
    const char *name;
    int size; // 0: no communicator
    bool device;
    int rank;
  };
  for (const Case &c :
       {Case{"none", 0, false, 0}, Case{"one rank", 1, false, 0},
        Case{"host memory, rank 0", 2, false, 0}, Case{"host memory, rank 1", 2, false, 1},
        Case{"device memory, rank 0", 2, true, 0}, Case{"device memory, rank 1", 2, true, 1}}) {
    SCOPED_TRACE(c.name);
    const int ranks = c.size ? c.size : 1;
    std::string why;
    const std::string bytes = zeroArtifact(ranks, &why);
    if (bytes.empty())
      GTEST_SKIP() << why;
    auto comm = c.size ? std::make_shared<PeerCommunicator>(c.size, c.device, c.rank) : nullptr;
    SessionOptions options;
    options.communicator = comm;
    std::unique_ptr<Session> s;
    Status st = Session::createFromMemory(bytes.data(), bytes.size(), options, &s);
    ASSERT_TRUE(st.isOk()) << st.message();
    const long long graphsBefore = fakeGraphLaunches();
    for (int step = 0; step < 3; ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      std::vector<float> x(static_cast<size_t>(ranks) * 4);
      for (size_t i = 0; i < x.size(); ++i)
        x[i] = 0.5f * static_cast<float>(i) - static_cast<float>(step);
      std::vector<Tensor> out;
      st = s->run("step", {tensorOf(DType::F32, {ranks * 4}, bytesOf(x))}, &out);
      ASSERT_TRUE(st.isOk()) << st.message();
      ASSERT_EQ(out.size(), 2u);
      // The share is elements [rank*4, rank*4 + 4); rank r of the gather holds this rank's
      // 2 * share plus (r - rank) (TestCommunicator.h).
      std::vector<float> share(4), gathered(x.size());
      for (int i = 0; i < 4; ++i)
        share[i] = x[c.rank * 4 + i];
      for (int r = 0; r < ranks; ++r)
        for (int i = 0; i < 4; ++i)
          gathered[r * 4 + i] = 2 * share[i] + static_cast<float>(r - c.rank);
      EXPECT_EQ(valuesOf<float>(out[0]), share);
      EXPECT_EQ(valuesOf<float>(out[1]), gathered);
    }
    // Never captured into a graph (checked on the fake).
    if (graphsBefore >= 0) {
      EXPECT_EQ(fakeGraphLaunches(), graphsBefore);
    }
    if (!comm)
      continue;
    EXPECT_TRUE(comm->calls.empty()); // no all_reduce
    if (c.size == 1) {
      EXPECT_TRUE(comm->gathers.empty()); // a world of one: a copy, no calls
      continue;
    }
    // One allGather of 4 floats per step; host memory: from and into the same staging buffer
    // every step, the share apart from the gathered elements.
    ASSERT_EQ(comm->gathers.size(), 3u);
    for (size_t i = 0; i < comm->gathers.size(); ++i) {
      const PeerCommunicator::Gather &g = comm->gathers[i];
      EXPECT_EQ(g.count, 4u) << "call " << i;
      EXPECT_EQ(g.dtype, DType::F32) << "call " << i;
      EXPECT_EQ(g.stream != nullptr, c.device) << "call " << i;
      EXPECT_EQ(g.send, comm->gathers[0].send) << "call " << i;
      EXPECT_EQ(g.recv, comm->gathers[0].recv) << "call " << i;
      const auto *send = static_cast<const uint8_t *>(g.send);
      const auto *recv = static_cast<const uint8_t *>(g.recv);
      EXPECT_TRUE(send >= recv + 8 * sizeof(float) || send + 4 * sizeof(float) <= recv)
          << "call " << i << ": the share overlaps the gathered elements";
    }
  }
}

TEST(RuntimeCudaDevice, ShardAndAllGatherErrorsNameTheOp) {
  REQUIRE_DEVICE();
  std::string why;
  const std::string two = zeroArtifact(2, &why), one = zeroArtifact(1, &why);
  if (two.empty())
    GTEST_SKIP() << why;
  // A step compiled for two ranks in a world of one (no communicator, or one rank), and one
  // compiled for one rank in a world of two: refused at creation, naming the op.
  struct Case {
    const std::string *bytes;
    int size; // 0: no communicator
    const char *message;
  };
  for (const Case &c :
       {Case{&two, 0, "op 0 'shard' (node \"Shard_0\"): shard: 8 elements are not 1 shares of 4"},
        Case{&two, 1, "op 0 'shard' (node \"Shard_0\"): shard: 8 elements are not 1 shares of 4"},
        Case{&one, 2,
             "op 0 'shard' (node \"Shard_0\"): shard: 4 elements are not 2 shares of 4"}}) {
    SCOPED_TRACE(c.message);
    SessionOptions options;
    if (c.size)
      options.communicator = std::make_shared<PeerCommunicator>(c.size, false);
    std::unique_ptr<Session> s;
    Status st = Session::createFromMemory(c.bytes->data(), c.bytes->size(), options, &s);
    EXPECT_EQ(st.code(), StatusCode::InvalidArgument);
    EXPECT_NE(st.message().find(c.message), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("(the step was compiled for another number of ranks)"),
              std::string::npos)
        << st.message();
  }

  // Not f32: an invalid artifact, refused at creation naming the op.
  {
    const std::string f64 = zeroArtifact(2, &why, DType::F64);
    SessionOptions options;
    options.communicator = std::make_shared<PeerCommunicator>(2, false);
    std::unique_ptr<Session> s;
    Status st = Session::createFromMemory(f64.data(), f64.size(), options, &s);
    EXPECT_EQ(st.code(), StatusCode::InvalidArtifact);
    EXPECT_NE(st.message().find("function 'step' op 0 'shard' (node \"Shard_0\"): shard: expects "
                                "f32 tensors, not f64[8] -> f32[4]"),
              std::string::npos)
        << st.message();
  }

  // A failing communicator: the run fails naming the op and the rank.
  for (bool device : {false, true}) {
    SCOPED_TRACE(device ? "device memory" : "host memory");
    auto comm = std::make_shared<PeerCommunicator>(2, device, 1);
    comm->failWith = "the peer went away";
    SessionOptions options;
    options.communicator = comm;
    std::unique_ptr<Session> s;
    Status st = Session::createFromMemory(two.data(), two.size(), options, &s);
    ASSERT_TRUE(st.isOk()) << st.message();
    std::vector<Tensor> out;
    st = s->run("step", {tensorOf(DType::F32, {8}, bytesOf(std::vector<float>(8, 1)))}, &out);
    EXPECT_EQ(st.code(), StatusCode::Internal);
    EXPECT_NE(st.message().find("op 2 'all_gather' (node \"AllGather_0\")"), std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find("all_gather on rank 1 of 2 (test): the peer went away"),
              std::string::npos)
        << st.message();
    EXPECT_EQ(comm->gathers.size(), 1u);
  }
}
