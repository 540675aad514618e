//===- RuntimeConcurrencyTest.cpp - many threads running one session ------===//
//
// Session::run and precis_session_run are documented as safe to call concurrently on one
// loaded artifact: runs share the weights and take their activation arenas from the session's
// pool. Here N threads each make M calls with inputs of their own on one session, and every
// output must equal, bit for bit, what the same session computed for that input with one
// caller. The artifact has an element-wise chain the executor runs chunk-wise (per-thread
// scratch), a oneDNN matmul and a softmax, so every kind of per-run state is exercised.
//
// The test also runs under ThreadSanitizer (scripts/test-sanitizers.sh): there OMP_THREAD_LIMIT=1
// keeps each run on its calling thread, because libgomp is not instrumented and its barriers
// would be reported as races; the threads racing on the session are this test's own.
//
//===----------------------------------------------------------------------===//

#include "RuntimeTestUtil.h"

#include "precis/runtime/Session.h"
#include "precis/runtime/precis.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>

namespace precis::rt {
namespace {

using testing::addOp;
using testing::addValue;
using testing::bytesOf;
using testing::serialize;

constexpr int64_t kRows = 64, kCols = 256, kOut = 32;
constexpr int kThreads = 8, kCallsPerThread = 24;

/// forward(x: f32[64,256]) -> (z = relu(tanh(x + w) * s) @ b, p = softmax(z))
/// The four element-wise ops form one chunk-wise group (16384 elements: four chunks).
std::string makeArtifact() {
  schema::Manifest m;
  m.set_producer("precis test");
  m.set_target("cpu");
  const uint64_t act = kRows * kCols * 4; // bytes of one [64,256] f32 activation
  addValue(m, DType::F32, {kRows, kCols}, "x")->set_input(0);             // 0
  addValue(m, DType::F32, {kRows, kCols}, "w")->set_blob(0);              // 1
  addValue(m, DType::F32, {1}, "s")->set_blob(1);                         // 2
  addValue(m, DType::F32, {kCols, kOut}, "b")->set_blob(2);               // 3
  addValue(m, DType::F32, {kRows, kCols})->set_arena_offset(0);           // 4 x + w
  addValue(m, DType::F32, {kRows, kCols})->set_arena_offset(act);         // 5 tanh
  addValue(m, DType::F32, {kRows, kCols})->set_arena_offset(0);           // 6 * s
  addValue(m, DType::F32, {kRows, kCols})->set_arena_offset(act);         // 7 relu
  addValue(m, DType::F32, {kRows, kOut}, "z")->set_arena_offset(0);       // 8
  addValue(m, DType::F32, {kRows, kOut}, "p")->set_arena_offset(2 * act); // 9
  m.set_arena_size(3 * act);

  schema::Function *f = m.add_functions();
  f->set_name("forward");
  f->add_inputs(0);
  addOp(*f, "add", {0, 1}, {4}, "Add")->set_elementwise(true);
  addOp(*f, "tanh", {4}, {5}, "Tanh")->set_elementwise(true);
  addOp(*f, "mul", {5, 2}, {6}, "Mul")->set_elementwise(true);
  addOp(*f, "relu", {6}, {7}, "Relu")->set_elementwise(true);
  (*addOp(*f, "matmul", {7, 3}, {8}, "MatMul")->mutable_attrs())["transpose_b"].set_i(0);
  (*addOp(*f, "softmax", {8}, {9}, "Softmax")->mutable_attrs())["axis"].set_i(-1);
  f->add_outputs(8);
  f->add_outputs(9);

  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> w(kRows * kCols), b(kCols * kOut);
  for (float &v : w)
    v = dist(rng);
  for (float &v : b)
    v = dist(rng) * 0.1f;
  return serialize(m, {bytesOf(w), bytesOf(std::vector<float>{1.5f}), bytesOf(b)});
}

/// Input `k`: a different tensor for every call of the test.
Tensor input(int k) {
  std::mt19937 rng(1000 + k);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> x(kRows * kCols);
  for (float &v : x)
    v = dist(rng);
  Tensor t;
  t.dtype = DType::F32;
  t.shape = {kRows, kCols};
  t.data.resize(x.size() * 4);
  std::memcpy(t.data.data(), x.data(), t.data.size());
  return t;
}

std::unique_ptr<Session> open(const std::string &artifact, int numThreads) {
  SessionOptions options;
  options.numThreads = numThreads;
  std::unique_ptr<Session> session;
  Status s = Session::createFromMemory(artifact.data(), artifact.size(), options, &session);
  EXPECT_TRUE(s.isOk()) << s.message();
  return session;
}

/// Checks z (forward's first output for input 0) against a host reference over the
/// session's current parameters: fp32 element-wise math, double sums. The kernels' tanh and
/// summation order differ from it, hence the tolerance: 1e-4 of the largest |z|.
void checkReference(Session &session, const Tensor &z) {
  const Tensor x = input(0);
  Tensor w, b, s;
  ASSERT_TRUE(session.getParameter("w", &w).isOk());
  ASSERT_TRUE(session.getParameter("b", &b).isOk());
  ASSERT_TRUE(session.getParameter("s", &s).isOk());
  const float *xp = x.as<float>(), *wp = w.as<float>(), *bp = b.as<float>();
  const float scale = s.as<float>()[0];
  double maxAbs = 0, maxErr = 0;
  for (int64_t i = 0; i < kRows; ++i)
    for (int64_t j = 0; j < kOut; ++j) {
      double sum = 0;
      for (int64_t k = 0; k < kCols; ++k) {
        const float h = std::max(std::tanh(xp[i * kCols + k] + wp[i * kCols + k]) * scale, 0.0f);
        sum += static_cast<double>(h) * bp[k * kOut + j];
      }
      maxAbs = std::max(maxAbs, std::fabs(sum));
      maxErr = std::max(maxErr, std::fabs(sum - z.as<float>()[i * kOut + j]));
    }
  EXPECT_LE(maxErr, 1e-4 * maxAbs) << "largest |z| " << maxAbs;
}

/// The single-caller outputs for inputs 0..n-1; input 0's checked against the reference.
std::vector<std::vector<Tensor>> serialResults(Session &session, int n) {
  std::vector<std::vector<Tensor>> results(n);
  for (int k = 0; k < n; ++k) {
    Status s = session.run("forward", {input(k)}, &results[k]);
    EXPECT_TRUE(s.isOk()) << s.message();
  }
  if (!results.empty() && results[0].size() == 2)
    checkReference(session, results[0][0]);
  return results;
}

bool sameBytes(const std::vector<Tensor> &a, const std::vector<Tensor> &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].dtype != b[i].dtype || a[i].shape != b[i].shape || a[i].data != b[i].data)
      return false;
  return true;
}

/// Runs `call(thread, k)` for every thread and call; counts the calls whose outputs differ.
template <typename Call> int hammer(Call call) {
  std::atomic<int> mismatches{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      while (!go.load())
        std::this_thread::yield();
      for (int c = 0; c < kCallsPerThread; ++c)
        if (!call(t, (t * 7 + c * 3) % (kThreads * 2)))
          ++mismatches;
    });
  go = true;
  for (std::thread &th : threads)
    th.join();
  return mismatches.load();
}

// numThreads 1: runs are single-threaded, only the callers overlap. numThreads 2: every run
// also splits its kernels over OpenMP threads (unless OMP_THREAD_LIMIT forbids it).
class RuntimeConcurrency : public ::testing::TestWithParam<int> {};

TEST_P(RuntimeConcurrency, SessionRunFromManyThreads) {
  const std::string artifact = makeArtifact();
  std::unique_ptr<Session> session = open(artifact, GetParam());
  ASSERT_TRUE(session);
  ASSERT_EQ(session->elementwiseGroupCount(), 1u);
  const std::vector<std::vector<Tensor>> expected = serialResults(*session, kThreads * 2);
  std::vector<Tensor> inputs;
  for (int k = 0; k < kThreads * 2; ++k)
    inputs.push_back(input(k));

  const int mismatches = hammer([&](int, int k) {
    std::vector<Tensor> outputs;
    Status s = session->run("forward", {inputs[k]}, &outputs);
    if (!s.isOk()) {
      ADD_FAILURE() << s.message();
      return false;
    }
    return sameBytes(outputs, expected[k]);
  });
  EXPECT_EQ(mismatches, 0) << "of " << kThreads * kCallsPerThread << " calls";
}

TEST_P(RuntimeConcurrency, CApiRunFromManyThreads) {
  const std::string artifact = makeArtifact();
  std::unique_ptr<Session> reference = open(artifact, GetParam());
  ASSERT_TRUE(reference);
  const std::vector<std::vector<Tensor>> expected = serialResults(*reference, kThreads * 2);
  std::vector<Tensor> inputs;
  for (int k = 0; k < kThreads * 2; ++k)
    inputs.push_back(input(k));

  precis_session_options_t options;
  precis_session_options_init(&options);
  options.num_threads = GetParam();
  precis_session_t *session = nullptr;
  precis_status_t st =
      precis_session_create_from_memory(artifact.data(), artifact.size(), &options, &session);
  ASSERT_EQ(st, nullptr) << precis_status_message(st);

  const int64_t shape[2] = {kRows, kCols};
  const int mismatches = hammer([&](int, int k) {
    precis_tensor_t x{PRECIS_DTYPE_F32, 2, shape, inputs[k].data.data(), inputs[k].data.size()};
    precis_tensor_t *out = nullptr;
    size_t n = 0;
    precis_status_t s = precis_session_run(session, "forward", &x, 1, &out, &n);
    if (s) {
      ADD_FAILURE() << precis_status_message(s);
      precis_status_free(s);
      return false;
    }
    bool same = n == expected[k].size();
    for (size_t i = 0; same && i < n; ++i)
      same = out[i].byte_size == expected[k][i].data.size() &&
             std::memcmp(out[i].data, expected[k][i].data.data(), out[i].byte_size) == 0;
    precis_tensors_free(out, n);
    return same;
  });
  EXPECT_EQ(mismatches, 0) << "of " << kThreads * kCallsPerThread << " calls";
  precis_session_release(session);
}

// Parameters are shared by all runs: a value set before the threads start is what every
// concurrent run sees, and reading parameters may overlap runs.
TEST(RuntimeConcurrencyParameters, RunsSeeParametersSetBeforehand) {
  const std::string artifact = makeArtifact();
  std::unique_ptr<Session> session = open(artifact, 1);
  ASSERT_TRUE(session);
  Tensor s;
  ASSERT_TRUE(session->getParameter("s", &s).isOk());
  s.as<float>()[0] = 0.5f;
  ASSERT_TRUE(session->setParameter("s", s.view()).isOk());
  const std::vector<std::vector<Tensor>> expected = serialResults(*session, kThreads * 2);
  std::vector<Tensor> inputs;
  for (int k = 0; k < kThreads * 2; ++k)
    inputs.push_back(input(k));

  const int mismatches = hammer([&](int t, int k) {
    std::vector<Tensor> outputs;
    Tensor w;
    if (t % 2 && !session->getParameter("w", &w).isOk())
      return false;
    Status st = session->run("forward", {inputs[k]}, &outputs);
    return st.isOk() && sameBytes(outputs, expected[k]);
  });
  EXPECT_EQ(mismatches, 0) << "of " << kThreads * kCallsPerThread << " calls";
}

INSTANTIATE_TEST_SUITE_P(Threads, RuntimeConcurrency, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int> &info) {
                           return "numThreads" + std::to_string(info.param);
                         });

} // namespace
} // namespace precis::rt
