//===- matmul_bench.cpp - the CPU matmul kernel against raw oneDNN --------===//
//
// Times precis's CPU `matmul` kernel (findCpuKernel("matmul") on TensorViews, the way the
// executor calls it) against oneDNN's own matmul primitive created directly through the C
// API, on the same square problems (M = N = K), operand dtypes (f32 x f32 -> f32 and
// bf16 x bf16 -> f32), and thread count. The kernel is oneDNN underneath, so the ratio measures
// what precis adds per call: the primitive cache lookup, memory objects and a stream per call,
// the bf16 subnormal scan, the OpenMP thread-count switch.
//
// llm.c style: both results are validated against each other first, then timed. The two are
// timed alternately, one call each per round, so drift (frequency, neighbours) hits both alike;
// each reports the median of its rounds. Output: a markdown table on stdout.
//
//   precis-matmul-bench [--threads 1,2] [--sizes 256,512,1024,2048] [--min-seconds 1]
//
//===----------------------------------------------------------------------===//

#include "cpu/Kernel.h"

#include "precis/runtime/numerics.h"

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace precis::rt;

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/// "1,2,4" -> {1, 2, 4}; empty on a malformed list.
std::vector<int64_t> parseList(const char *s) {
  std::vector<int64_t> out;
  while (*s) {
    char *end = nullptr;
    const long long v = std::strtoll(s, &end, 10);
    if (end == s || v < 1)
      return {};
    out.push_back(v);
    s = *end == ',' ? end + 1 : end;
    if (*end && *end != ',')
      return {};
  }
  return out;
}

/// A row-major [rows, cols] operand, uniform in [-1, 1] (deterministic), stored as `dtype`.
std::vector<uint8_t> randomMatrix(int64_t rows, int64_t cols, DType dtype, uint64_t seed) {
  std::vector<uint8_t> bytes(static_cast<size_t>(rows * cols) * dtypeSize(dtype));
  uint64_t state = seed;
  for (int64_t i = 0; i < rows * cols; ++i) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    const float v = static_cast<float>((z ^ (z >> 31)) >> 40) * 0x1p-23f - 1.0f;
    if (dtype == DType::F32)
      reinterpret_cast<float *>(bytes.data())[i] = v;
    else
      reinterpret_cast<uint16_t *>(bytes.data())[i] = precis::float_to_bf16(v);
  }
  return bytes;
}

#define DNNL_CHECK(expr)                                                                           \
  do {                                                                                             \
    const dnnl_status_t st_ = (expr);                                                              \
    if (st_ != dnnl_success) {                                                                     \
      std::fprintf(stderr, "precis-matmul-bench: %s failed with status %d\n", #expr,               \
                   static_cast<int>(st_));                                                         \
      std::exit(1);                                                                                \
    }                                                                                              \
  } while (0)

/// oneDNN's matmul as its documentation builds one: plain row-major memory descriptors,
/// default attributes, primitive, memory objects and stream created once and reused.
class RawOnednnMatmul {
public:
  RawOnednnMatmul(int64_t n, dnnl_data_type_t dt, void *a, void *b, float *c) {
    DNNL_CHECK(dnnl_engine_create(&engine_, dnnl_cpu, 0));
    const dnnl_dims_t dims = {n, n};
    dnnl_memory_desc_t amd, bmd, cmd;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&amd, 2, dims, dt, dnnl_ab));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&bmd, 2, dims, dt, dnnl_ab));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&cmd, 2, dims, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t desc;
    DNNL_CHECK(dnnl_matmul_desc_init(&desc, &amd, &bmd, nullptr, &cmd));
    DNNL_CHECK(dnnl_primitive_desc_create(&pd_, &desc, nullptr, engine_, nullptr));
    DNNL_CHECK(dnnl_primitive_create(&prim_, pd_));
    const char *impl = nullptr;
    if (dnnl_primitive_desc_query(pd_, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
      impl_ = impl;
    DNNL_CHECK(dnnl_memory_create(&a_, &amd, engine_, a));
    DNNL_CHECK(dnnl_memory_create(&b_, &bmd, engine_, b));
    DNNL_CHECK(dnnl_memory_create(&c_, &cmd, engine_, c));
    args_ = {{DNNL_ARG_SRC, a_}, {DNNL_ARG_WEIGHTS, b_}, {DNNL_ARG_DST, c_}};
    const dnnl_memory_desc_t *scratch =
        dnnl_primitive_desc_query_md(pd_, dnnl_query_scratchpad_md, 0);
    if (scratch && dnnl_memory_desc_get_size(scratch) > 0) {
      DNNL_CHECK(dnnl_memory_create(&scratch_, scratch, engine_, DNNL_MEMORY_ALLOCATE));
      args_.push_back({DNNL_ARG_SCRATCHPAD, scratch_});
    }
    DNNL_CHECK(dnnl_stream_create(&stream_, engine_, dnnl_stream_default_flags));
  }
  ~RawOnednnMatmul() {
    dnnl_stream_destroy(stream_);
    for (dnnl_memory_t m : {a_, b_, c_, scratch_})
      if (m)
        dnnl_memory_destroy(m);
    dnnl_primitive_destroy(prim_);
    dnnl_primitive_desc_destroy(pd_);
    dnnl_engine_destroy(engine_);
  }
  void run() {
    DNNL_CHECK(
        dnnl_primitive_execute(prim_, stream_, static_cast<int>(args_.size()), args_.data()));
    DNNL_CHECK(dnnl_stream_wait(stream_));
  }
  const std::string &impl() const { return impl_; }

private:
  dnnl_engine_t engine_ = nullptr;
  dnnl_primitive_desc_t pd_ = nullptr;
  dnnl_primitive_t prim_ = nullptr;
  dnnl_memory_t a_ = nullptr, b_ = nullptr, c_ = nullptr, scratch_ = nullptr;
  dnnl_stream_t stream_ = nullptr;
  std::vector<dnnl_exec_arg_t> args_;
  std::string impl_;
};

struct Result {
  double precisGflops, onednnGflops, maxDiff;
  std::string impl;
};

Result benchOne(int64_t n, DType dtype, int threads, double minSeconds) {
  std::vector<uint8_t> a = randomMatrix(n, n, dtype, 1), b = randomMatrix(n, n, dtype, 2);
  std::vector<float> cPrecis(static_cast<size_t>(n * n)), cOnednn(cPrecis.size());

  KernelFn matmul = findCpuKernel("matmul");
  if (!matmul) {
    std::fprintf(stderr, "precis-matmul-bench: the CPU backend has no 'matmul' kernel\n");
    std::exit(1);
  }
  KernelContext ctx;
  ctx.numThreads = threads;
  const std::vector<TensorView> inputs = {{a.data(), dtype, {n, n}}, {b.data(), dtype, {n, n}}};
  std::vector<TensorView> outputs = {{cPrecis.data(), DType::F32, {n, n}}};
  const Attrs attrs;
  auto runPrecis = [&] {
    Status s = matmul(ctx, inputs, outputs, attrs);
    if (!s) {
      std::fprintf(stderr, "precis-matmul-bench: matmul kernel: %s\n", s.message().c_str());
      std::exit(1);
    }
  };

  // oneDNN (OpenMP build) sizes its parallel regions from the caller's OpenMP thread count.
  omp_set_num_threads(threads);
  RawOnednnMatmul raw(n, dtype == DType::F32 ? dnnl_f32 : dnnl_bf16, a.data(), b.data(),
                      cOnednn.data());

  // Validate: both accumulate the same products in fp32.
  runPrecis();
  raw.run();
  double maxDiff = 0;
  for (size_t i = 0; i < cPrecis.size(); ++i)
    maxDiff = std::max(maxDiff, static_cast<double>(std::fabs(cPrecis[i] - cOnednn[i])));
  // |c| <= n; fp32 accumulation in different orders differs by a few ulps of n.
  if (!(maxDiff <= 1e-5 * n)) {
    std::fprintf(stderr, "precis-matmul-bench: n=%lld %s: results differ by %g\n",
                 static_cast<long long>(n), dtypeName(dtype), maxDiff);
    std::exit(1);
  }

  // Warm up, then alternate one timed call of each per round.
  for (int i = 0; i < 2; ++i) {
    runPrecis();
    raw.run();
  }
  std::vector<double> tPrecis, tOnednn;
  const Clock::time_point start = Clock::now();
  while (tPrecis.size() < 5 || seconds(Clock::now() - start) < minSeconds) {
    Clock::time_point t0 = Clock::now();
    runPrecis();
    Clock::time_point t1 = Clock::now();
    raw.run();
    Clock::time_point t2 = Clock::now();
    tPrecis.push_back(seconds(t1 - t0));
    tOnednn.push_back(seconds(t2 - t1));
  }
  const double flop = 2.0 * n * n * n;
  return {flop / median(tPrecis) * 1e-9, flop / median(tOnednn) * 1e-9, maxDiff, raw.impl()};
}

} // namespace

int main(int argc, char **argv) {
  std::vector<int64_t> threadCounts = {1, 2}, sizes = {256, 512, 1024, 2048};
  double minSeconds = 1.0;
  for (int i = 1; i < argc; ++i) {
    const bool hasValue = i + 1 < argc;
    if (!std::strcmp(argv[i], "--threads") && hasValue) {
      threadCounts = parseList(argv[++i]);
    } else if (!std::strcmp(argv[i], "--sizes") && hasValue) {
      sizes = parseList(argv[++i]);
    } else if (!std::strcmp(argv[i], "--min-seconds") && hasValue) {
      minSeconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: %s [--threads 1,2] [--sizes 256,512,1024,2048] "
                   "[--min-seconds 1]\n",
                   argv[0]);
      return 1;
    }
  }
  if (threadCounts.empty() || sizes.empty()) {
    std::fprintf(stderr, "precis-matmul-bench: --threads and --sizes take positive integers "
                         "separated by commas\n");
    return 1;
  }

  const dnnl_version_t *v = dnnl_version();
  std::printf("oneDNN %d.%d.%d (cpu runtime: %s), median of >= %g s per cell, GFLOP/s = 2 N^3 / "
              "time\n\n",
              v->major, v->minor, v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other",
              minSeconds);
  std::printf(
      "| dtype | N | threads | precis GFLOP/s | oneDNN GFLOP/s | precis / oneDNN | max abs diff "
      "| oneDNN impl |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
  for (DType dtype : {DType::F32, DType::BF16})
    for (int64_t threads : threadCounts)
      for (int64_t n : sizes) {
        const Result r = benchOne(n, dtype, static_cast<int>(threads), minSeconds);
        std::printf("| %s | %lld | %lld | %.1f | %.1f | %.2f | %.1e | %s |\n",
                    dtype == DType::F32 ? "f32" : "bf16 -> f32", static_cast<long long>(n),
                    static_cast<long long>(threads), r.precisGflops, r.onednnGflops,
                    r.precisGflops / r.onednnGflops, r.maxDiff, r.impl.c_str());
        std::fflush(stdout);
      }
  return 0;
}
