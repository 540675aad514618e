//===- Contraction.cpp - matmul, gemm, convolutions through oneDNN --------===//
//
// The compute-class ops. Every contraction accumulates in fp32 (fp64 for f64 operands) and
// rounds once, when its fp32 result is written to the output dtype (numerics.h), which is
// where a GPU rounds too:
//
//   f32 operands        oneDNN f32 primitive (fpmath mode strict: no implicit bf16 / tf32).
//   bf16 operands       oneDNN bf16 x bf16 -> f32 primitive (native on AVX512-BF16), unless
//                       the operands are small enough for a subnormal to arise (which the
//                       native path would flush; see bf16NativeIsExact) or oneDNN has no bf16
//                       implementation: then they are decoded to f32 (exact) and the f32
//                       primitive runs. The same products, accumulated in fp32 either way.
//   f16, fp8 operands   decoded to f32 exactly (numerics.h), then the f32 primitive.
//   f64 operands        plain loops in double (oneDNN has no f64 contractions).
//
// The convolution gradients (conv2d_grad_input, conv2d_grad_weight) run oneDNN's backward-data
// and backward-weights primitives with the same operand rules; their result shares the
// operands' dtype and is rounded once from the f32 result. f64, and any configuration oneDNN
// has no implementation for, runs the direct loops in Gradients.cpp, which the tests also use
// as the reference.
//
// oneDNN is used through its C API (dnnl.h), which reports errors as status codes, so this
// file builds under -fno-exceptions. Primitives are cached per (op, shapes, strides, dtypes,
// attributes, thread count) in a small mutex-protected FIFO cache and run with a user-managed
// scratchpad allocated per call, so one primitive may execute on several threads at once.
// oneDNN here uses the OpenMP runtime; the calling thread's OpenMP thread count is set to
// ctx.numThreads around creation and execution (oneDNN sizes its parallel regions from it).
//
//===----------------------------------------------------------------------===//

#include "cpu/KernelSupport.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cassert>
#include <deque>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace precis::rt::cpu {
namespace {

//===----------------------------------------------------------------------===//
// oneDNN plumbing.
//===----------------------------------------------------------------------===//

dnnl_engine_t cpuEngine() {
  // Created once, never destroyed: primitives cached until exit refer to it.
  static dnnl_engine_t engine = [] {
    dnnl_engine_t e = nullptr;
    if (dnnl_engine_create(&e, dnnl_cpu, 0) != dnnl_success)
      e = nullptr;
    return e;
  }();
  return engine;
}

Status dnnlError(const char *what, dnnl_status_t st) {
  return internalError(std::string("oneDNN ") + what + " failed with status " +
                       std::to_string(static_cast<int>(st)));
}

/// oneDNN memory objects for one execution of a primitive, in argument order; their data
/// handles are set per call.
struct MemorySet {
  int n = 0;
  int ids[5];
  dnnl_memory_t mems[5] = {};
  MemorySet() = default;
  MemorySet(const MemorySet &) = delete;
  MemorySet &operator=(const MemorySet &) = delete;
  ~MemorySet() {
    for (dnnl_memory_t m : mems)
      if (m)
        dnnl_memory_destroy(m);
  }
};

struct Primitive {
  dnnl_primitive_desc_t pd = nullptr;
  dnnl_primitive_t prim = nullptr;
  /// A backward primitive's forward hint; the backward descriptor refers to it.
  dnnl_primitive_desc_t hint = nullptr;
  size_t scratchpadBytes = 0;
  std::string impl;
  Primitive() = default;
  Primitive(const Primitive &) = delete;
  Primitive &operator=(const Primitive &) = delete;
  /// A set of memory objects not in use by another call, or null when there is none.
  std::unique_ptr<MemorySet> takeMemorySet() const {
    std::lock_guard<std::mutex> lock(poolMu_);
    if (pool_.empty())
      return nullptr;
    std::unique_ptr<MemorySet> set = std::move(pool_.back());
    pool_.pop_back();
    return set;
  }
  void returnMemorySet(std::unique_ptr<MemorySet> set) const {
    std::lock_guard<std::mutex> lock(poolMu_);
    pool_.push_back(std::move(set));
  }

private:
  // Sets are created by calls that found the pool empty, so there are at most as many as
  // calls that ever ran this primitive at once.
  mutable std::mutex poolMu_;
  mutable std::vector<std::unique_ptr<MemorySet>> pool_;

public:
  ~Primitive() {
    if (prim)
      dnnl_primitive_destroy(prim);
    if (pd)
      dnnl_primitive_desc_destroy(pd);
    if (hint)
      dnnl_primitive_desc_destroy(hint);
  }
};
using PrimitivePtr = std::shared_ptr<const Primitive>;

/// Created primitives by key. FIFO eviction; entries are shared_ptrs, so an evicted primitive
/// that another thread is still executing lives until that execution ends.
class PrimitiveCache {
public:
  PrimitivePtr find(const std::string &key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : it->second;
  }
  PrimitivePtr insert(const std::string &key, PrimitivePtr p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = map_.emplace(key, p);
    if (!inserted)
      return it->second; // another thread created it first
    order_.push_back(key);
    if (order_.size() > kCapacity) {
      map_.erase(order_.front());
      order_.pop_front();
    }
    return p;
  }

private:
  static constexpr size_t kCapacity = 256;
  std::mutex mu_;
  std::unordered_map<std::string, PrimitivePtr> map_;
  std::deque<std::string> order_;
};

PrimitiveCache &primitiveCache() {
  static PrimitiveCache *cache = new PrimitiveCache; // never destroyed, like the engine
  return *cache;
}

/// Sets the calling thread's OpenMP thread count for the lifetime of the object, within the
/// OpenMP thread limit (OMP_THREAD_LIMIT). oneDNN splits its work by omp_get_max_threads(),
/// which the limit does not lower, and assumes every thread it split for runs: asking for
/// more threads than the limit grants would leave parts of the result unwritten.
class ScopedOmpThreads {
public:
  explicit ScopedOmpThreads(int n) {
#ifdef _OPENMP
    saved_ = omp_get_max_threads();
    omp_set_num_threads(std::max(1, std::min(n, omp_get_thread_limit())));
#else
    (void)n;
#endif
  }
  ~ScopedOmpThreads() {
#ifdef _OPENMP
    omp_set_num_threads(saved_);
#endif
  }

private:
  int saved_ = 1;
};

/// Cache key builder: the integers that determine a primitive, as bytes.
class Key {
public:
  explicit Key(const char *op) : s_(op) { s_.push_back('\0'); }
  Key &add(int64_t v) {
    s_.append(reinterpret_cast<const char *>(&v), sizeof v);
    return *this;
  }
  Key &add(const int64_t *v, int n) {
    add(n);
    for (int i = 0; i < n; ++i)
      add(v[i]);
    return *this;
  }
  const std::string &str() const { return s_; }

private:
  std::string s_;
};

/// Creates the primitive for `opDesc` (any oneDNN op descriptor) or returns the cached one.
/// `hintDesc`, for a backward op, is the descriptor of the forward op it differentiates; oneDNN
/// picks the backward implementation to match the forward one's. Returns Unimplemented when
/// oneDNN has no implementation for it.
Status getPrimitive(const Key &key, const void *opDesc, PrimitivePtr &out,
                    const void *hintDesc = nullptr) {
  if ((out = primitiveCache().find(key.str())))
    return Status::ok();
  if (!cpuEngine())
    return internalError("oneDNN: cannot create the CPU engine");
  dnnl_primitive_attr_t attr = nullptr;
  dnnl_status_t st = dnnl_primitive_attr_create(&attr);
  if (st != dnnl_success)
    return dnnlError("primitive_attr_create", st);
  dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
  dnnl_primitive_attr_set_fpmath_mode(attr, dnnl_fpmath_mode_strict);
  auto p = std::make_shared<Primitive>();
  // A forward configuration without an implementation only loses the hint.
  if (hintDesc && dnnl_primitive_desc_create(&p->hint, static_cast<const_dnnl_op_desc_t>(hintDesc),
                                             attr, cpuEngine(), nullptr) != dnnl_success)
    p->hint = nullptr;
  st = dnnl_primitive_desc_create(&p->pd, static_cast<const_dnnl_op_desc_t>(opDesc), attr,
                                  cpuEngine(), p->hint);
  dnnl_primitive_attr_destroy(attr);
  if (st == dnnl_unimplemented)
    return unimplemented("oneDNN has no implementation for this configuration");
  if (st != dnnl_success)
    return dnnlError("primitive_desc_create", st);
  st = dnnl_primitive_create(&p->prim, p->pd);
  if (st != dnnl_success)
    return dnnlError("primitive_create", st);
  const dnnl_memory_desc_t *scratch =
      dnnl_primitive_desc_query_md(p->pd, dnnl_query_scratchpad_md, 0);
  p->scratchpadBytes = scratch ? dnnl_memory_desc_get_size(scratch) : 0;
  const char *impl = nullptr;
  if (dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
    p->impl = impl;
  out = primitiveCache().insert(key.str(), std::move(p));
  return Status::ok();
}

/// A oneDNN stream on the CPU engine, owned by one thread and destroyed with it.
struct ThreadStream {
  dnnl_stream_t stream = nullptr;
  dnnl_status_t get() {
    return stream ? dnnl_success
                  : dnnl_stream_create(&stream, cpuEngine(), dnnl_stream_default_flags);
  }
  ~ThreadStream() {
    if (stream)
      dnnl_stream_destroy(stream);
  }
};

/// The (argument id, buffer) pairs of one execution: at most src, weights, bias, dst and the
/// scratchpad, kept on the stack.
struct ExecArgs {
  static constexpr int kMax = 5;
  int n = 0;
  int ids[kMax];
  const void *ptrs[kMax];
  ExecArgs() = default;
  ExecArgs(std::initializer_list<std::pair<int, const void *>> list) {
    for (const auto &[id, ptr] : list)
      add(id, ptr);
  }
  void add(int id, const void *ptr) {
    assert(n < kMax && "too many oneDNN arguments");
    ids[n] = id;
    ptrs[n++] = ptr;
  }
};

/// Executes `p` with `args`; memory descriptors come from the primitive. The memory objects
/// come from the primitive's pool (created on first use, pointed at this call's buffers), so
/// a call allocates nothing once the pool holds a set for each concurrent caller.
Status execute(const Primitive &p, ExecArgs args) {
  // One grow-only scratchpad per calling thread: a kernel call runs to completion on its
  // thread, and reusing the buffer saves an allocation (and its page faults) per call.
  thread_local std::unique_ptr<char[]> scratchpad;
  thread_local size_t scratchpadCapacity = 0;
  if (p.scratchpadBytes > scratchpadCapacity) {
    scratchpad.reset(new char[p.scratchpadBytes]);
    scratchpadCapacity = p.scratchpadBytes;
  }
  if (p.scratchpadBytes)
    args.add(DNNL_ARG_SCRATCHPAD, scratchpad.get());
  std::unique_ptr<MemorySet> set = p.takeMemorySet();
  if (!set || set->n != args.n || !std::equal(args.ids, args.ids + args.n, set->ids)) {
    set = std::make_unique<MemorySet>();
    for (int i = 0; i < args.n; ++i) {
      const dnnl_memory_desc_t *md =
          dnnl_primitive_desc_query_md(p.pd, dnnl_query_exec_arg_md, args.ids[i]);
      if (!md)
        return dnnlError("memory_create", dnnl_invalid_arguments);
      dnnl_status_t st = dnnl_memory_create(&set->mems[i], md, cpuEngine(), DNNL_MEMORY_NONE);
      if (st != dnnl_success)
        return dnnlError("memory_create", st);
      set->ids[i] = args.ids[i];
      set->n = i + 1;
    }
  }
  dnnl_exec_arg_t execArgs[ExecArgs::kMax];
  for (int i = 0; i < args.n; ++i) {
    dnnl_status_t st = dnnl_memory_set_data_handle(set->mems[i], const_cast<void *>(args.ptrs[i]));
    if (st != dnnl_success)
      return dnnlError("memory_set_data_handle", st);
    execArgs[i] = {args.ids[i], set->mems[i]};
  }
  // One stream per calling thread, created on its first call: a CPU stream holds no state
  // between executions that are each waited for, and creating one costs microseconds, which
  // show in models whose ops take a few.
  thread_local ThreadStream stream;
  dnnl_status_t st = stream.get();
  if (st == dnnl_success) {
    st = dnnl_primitive_execute(p.prim, stream.stream, args.n, execArgs);
    if (st == dnnl_success)
      st = dnnl_stream_wait(stream.stream);
  }
  p.returnMemorySet(std::move(set));
  return st == dnnl_success ? Status::ok() : dnnlError("primitive_execute", st);
}

//===----------------------------------------------------------------------===//
// Operands.
//===----------------------------------------------------------------------===//

/// `t` (any float dtype) decoded to float, exactly for the narrow formats.
std::vector<float> decodeToFloat(const KernelContext &ctx, const TensorView &t) {
  std::vector<float> v(static_cast<size_t>(t.numElements()));
  auto none = [] { return Status::ok(); };
  (void)visitFloat(t.dtype, none, [&](auto tag) {
    using T = decltype(tag);
    const auto *p = static_cast<const typename T::S *>(t.data);
    parallelFor(ctx, t.numElements(), kGrainCheap, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        v[i] = static_cast<float>(T::E::load(p[i]));
    });
    return Status::ok();
  });
  return v;
}

/// Operands ready for oneDNN: either the tensors' own f32 / bf16 buffers or f32 copies.
struct Operands {
  dnnl_data_type_t dt = dnnl_f32;
  std::vector<const void *> ptrs;
  std::vector<std::vector<float>> decoded;
};

/// The smallest exponent field among the non-zero elements of a bf16 tensor (255 when all are
/// zero); 0 means a subnormal is present.
uint32_t bf16MinExponentField(const KernelContext &ctx, const TensorView &t) {
  const uint16_t *p = static_cast<const uint16_t *>(t.data);
  const int64_t n = t.numElements();
  const int64_t chunks =
      std::max<int64_t>(1, std::min<int64_t>(threadBudget(ctx), n / kGrainCheap));
  std::vector<uint32_t> mins(static_cast<size_t>(chunks), 255);
  parallelFor(ctx, chunks, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      // The exponent field is the top of the magnitude, so the smallest field among non-zero
      // elements is that of the smallest non-zero magnitude. (bits - 1) & 0x7FFF is
      // magnitude - 1 for non-zero magnitudes and 0x7FFF for both zeros, which keeps the
      // loop a branch-free 16-bit minimum that vectorises. Signed, because baseline x86-64
      // (SSE2) has pminsw but no unsigned pminuw; the values are never negative.
      int16_t m = 0x7FFF;
      const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
      for (int64_t i = begin; i < end; ++i) {
        const int16_t v = static_cast<int16_t>((p[i] - 1u) & 0x7FFFu);
        m = v < m ? v : m;
      }
      mins[c] = std::min<uint32_t>(255, (static_cast<uint32_t>(m) + 1) >> 7);
    }
  });
  return *std::min_element(mins.begin(), mins.end());
}

/// Whether oneDNN's native bf16 path computes exactly what fp32 accumulation of the decoded
/// operands does. AVX512-BF16's vdpbf16ps runs with DAZ and FTZ: it flushes subnormal inputs,
/// products and partial sums, where a GPU (and the f32 path) keeps them. A product of bf16
/// values with exponents ea, eb is a multiple of 2^(ea + eb - 14), and so is every partial sum
/// of such products, so when min(ea) + min(eb) - 14 >= -126 over the non-zero elements nothing
/// subnormal can arise and the native path is exact.
bool bf16NativeIsExact(const KernelContext &ctx, const TensorView &a, const TensorView &b) {
  const uint32_t ea = bf16MinExponentField(ctx, a);
  if (ea == 0)
    return false;
  const uint32_t eb = bf16MinExponentField(ctx, b);
  // Fields are biased by 127: (ea - 127) + (eb - 127) - 14 >= -126.
  return eb != 0 && ea + eb >= 142;
}

/// Uses f32 and (unless `forceF32`, or when the bf16 operands could produce subnormals) bf16
/// buffers in place and decodes everything else.
Operands prepareOperands(const KernelContext &ctx, const std::vector<const TensorView *> &ts,
                         bool forceF32) {
  Operands ops;
  const DType d = ts[0]->dtype;
  if (d == DType::BF16 && !forceF32)
    forceF32 = !bf16NativeIsExact(ctx, *ts[0], *ts[1]);
  const bool native = d == DType::F32 || (d == DType::BF16 && !forceF32);
  ops.dt = d == DType::BF16 && native ? dnnl_bf16 : dnnl_f32;
  for (const TensorView *t : ts) {
    if (native) {
      ops.ptrs.push_back(t->data);
    } else {
      ops.decoded.push_back(decodeToFloat(ctx, *t));
      ops.ptrs.push_back(ops.decoded.back().data());
    }
  }
  return ops;
}

/// Checks `acc_type` (a DType integer; absent means f32): f32, or f64 for f64 operands.
Status checkAccType(const char *kind, const Attrs &attrs, DType operand) {
  const int64_t acc = attrs.getInt("acc_type", static_cast<int64_t>(DType::F32));
  if (acc == static_cast<int64_t>(DType::F32) ||
      (operand == DType::F64 && acc == static_cast<int64_t>(DType::F64)))
    return Status::ok();
  return unimplemented(std::string("cpu kernel '") + kind +
                       "' accumulates in f32 (f64 for f64 "
                       "operands), not in " +
                       dtypeName(static_cast<DType>(acc)));
}

//===----------------------------------------------------------------------===//
// Matrix products.
//===----------------------------------------------------------------------===//

/// A (batched) product dst[b, m, n] = sum_k A[b', m, k] B[b'', k, n] over `nd` dimensions
/// (batch dims first, broadcast where an operand's batch dim is 1). Strides are in elements.
struct MatmulProblem {
  int nd = 2;
  int64_t aDims[DNNL_MAX_NDIMS], aStrides[DNNL_MAX_NDIMS];
  int64_t bDims[DNNL_MAX_NDIMS], bStrides[DNNL_MAX_NDIMS];
  int64_t cDims[DNNL_MAX_NDIMS];
};

Status createMatmul(const Key &key, const MatmulProblem &pr, dnnl_data_type_t dt,
                    PrimitivePtr &prim);

/// Matrix products with fewer multiply-adds than this, and a contraction no longer than
/// kSerialMatmulMaxK, run on one thread.
constexpr int64_t kSerialMatmulMacs = 1 << 16;
constexpr int64_t kSerialMatmulMaxK = 512;

/// Runs one oneDNN matmul: A and B of type `dt`, f32 dst (contiguous).
Status onednnMatmul(const KernelContext &ctx, const MatmulProblem &pr, dnnl_data_type_t dt,
                    const void *a, const void *b, float *dst) {
  // Tiny products run on one thread: opening an OpenMP region and meeting the second thread at
  // oneDNN's barrier costs microseconds, more than the product (the mlp example's 8x32x64
  // layers). K stays short, so oneDNN splits no sum across threads at these sizes and the
  // result is the same as on two threads (tested).
  const int64_t K = pr.aDims[pr.nd - 1];
  int64_t macs = K;
  for (int i = 0; i < pr.nd; ++i)
    macs *= pr.cDims[i];
  const int nt = macs < kSerialMatmulMacs && K <= kSerialMatmulMaxK ? 1 : threadBudget(ctx);
  Key key("matmul");
  key.add(dt)
      .add(nt)
      .add(pr.aDims, pr.nd)
      .add(pr.aStrides, pr.nd)
      .add(pr.bDims, pr.nd)
      .add(pr.bStrides, pr.nd)
      .add(pr.cDims, pr.nd);
  ScopedOmpThreads threads(nt);
  // Descriptors only on a cache miss: building them costs as much as a small product.
  PrimitivePtr prim = primitiveCache().find(key.str());
  if (!prim)
    PRECIS_RETURN_IF_ERROR(createMatmul(key, pr, dt, prim));
  return execute(*prim, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, dst}});
}

/// Creates (or finds) the primitive of `onednnMatmul`'s problem.
Status createMatmul(const Key &key, const MatmulProblem &pr, dnnl_data_type_t dt,
                    PrimitivePtr &prim) {
  dnnl_memory_desc_t amd, bmd, cmd;
  dnnl_dims_t ad, as, bd, bs, cd, cs;
  for (int i = 0; i < pr.nd; ++i) {
    ad[i] = pr.aDims[i];
    as[i] = pr.aStrides[i];
    bd[i] = pr.bDims[i];
    bs[i] = pr.bStrides[i];
    cd[i] = pr.cDims[i];
  }
  cs[pr.nd - 1] = 1;
  for (int i = pr.nd - 2; i >= 0; --i)
    cs[i] = cs[i + 1] * cd[i + 1];
  if (dnnl_memory_desc_init_by_strides(&amd, pr.nd, ad, dt, as) != dnnl_success ||
      dnnl_memory_desc_init_by_strides(&bmd, pr.nd, bd, dt, bs) != dnnl_success ||
      dnnl_memory_desc_init_by_strides(&cmd, pr.nd, cd, dnnl_f32, cs) != dnnl_success)
    return unimplemented("oneDNN rejects the matmul memory descriptors");
  dnnl_matmul_desc_t desc;
  if (dnnl_matmul_desc_init(&desc, &amd, &bmd, nullptr, &cmd) != dnnl_success)
    return unimplemented("oneDNN rejects the matmul descriptor");
  return getPrimitive(key, &desc, prim);
}

/// The logical [M, K] view of a row-major operand stored as [.., M, K] (or [.., K, M] when
/// transposed): (dims, strides) of its last two dimensions.
void matrixView(int64_t rows, int64_t cols, bool transposed, int64_t *dims, int64_t *strides) {
  dims[0] = rows;
  dims[1] = cols;
  if (!transposed) {
    strides[0] = cols;
    strides[1] = 1;
  } else {
    strides[0] = 1;
    strides[1] = rows;
  }
}

struct MatmulShapes {
  int64_t M, K, N;
  std::vector<int64_t> batch;          // the result's batch dims
  std::vector<int64_t> aBatch, bBatch; // the operands' batch dims, padded with 1s to batch's rank
};

/// dst (contiguous f32 [batch..., M, N]) = op(A) op(B) for f32 / bf16 / f16 / fp8 operands.
Status matmulToF32(const KernelContext &ctx, const TensorView &A, const TensorView &B, bool ta,
                   bool tb, const MatmulShapes &s, float *dst) {
  const int64_t nb = static_cast<int64_t>(s.batch.size());
  const int64_t aBatchCount = product(s.aBatch, 0, s.aBatch.size());
  const int64_t bBatchCount = product(s.bBatch, 0, s.bBatch.size());
  const int64_t outBatchCount = product(s.batch, 0, s.batch.size());

  // Builds the problem: batch dims folded into M when B is shared and A is not transposed,
  // otherwise the full broadcast batch (oneDNN's matmul broadcasts batch dims of size 1 in
  // either operand).
  auto build = [&]() {
    MatmulProblem pr;
    if (bBatchCount == 1 && !ta && aBatchCount == outBatchCount) {
      const int64_t M = s.M * aBatchCount;
      pr.nd = 2;
      matrixView(M, s.K, ta, pr.aDims, pr.aStrides);
      matrixView(s.K, s.N, tb, pr.bDims, pr.bStrides);
      pr.cDims[0] = M;
      pr.cDims[1] = s.N;
      return pr;
    }
    pr.nd = static_cast<int>(nb + 2);
    const std::vector<int64_t> aStr = contiguousStrides(s.aBatch);
    const std::vector<int64_t> bStr = contiguousStrides(s.bBatch);
    for (int64_t i = 0; i < nb; ++i) {
      pr.aDims[i] = s.aBatch[i];
      pr.aStrides[i] = aStr[i] * s.M * s.K;
      pr.bDims[i] = s.bBatch[i];
      pr.bStrides[i] = bStr[i] * s.K * s.N;
      pr.cDims[i] = s.batch[i];
    }
    matrixView(s.M, s.K, ta, pr.aDims + nb, pr.aStrides + nb);
    matrixView(s.K, s.N, tb, pr.bDims + nb, pr.bStrides + nb);
    pr.cDims[nb] = s.M;
    pr.cDims[nb + 1] = s.N;
    return pr;
  };

  auto run = [&](const Operands &ops) -> Status {
    MatmulProblem pr = build();
    if (pr.nd > DNNL_MAX_NDIMS)
      return unimplemented("matmul: too many batch dimensions for oneDNN");
    return onednnMatmul(ctx, pr, ops.dt, ops.ptrs[0], ops.ptrs[1], dst);
  };

  Status st = run(prepareOperands(ctx, {&A, &B}, false));
  if (st.code() == StatusCode::Unimplemented && A.dtype == DType::BF16)
    st = run(prepareOperands(ctx, {&A, &B}, true)); // no bf16 implementation: decode
  return st;
}

/// The f64 path: dst[b, m, n] = sum_k A B in double.
void matmulF64(const KernelContext &ctx, const TensorView &A, const TensorView &B, bool ta, bool tb,
               const MatmulShapes &s, double *dst) {
  const double *pa = static_cast<const double *>(A.data);
  const double *pb = static_cast<const double *>(B.data);
  const int64_t nb = static_cast<int64_t>(s.batch.size());
  std::vector<int64_t> aS, bS;
  broadcastStrides(s.aBatch, s.batch, aS);
  broadcastStrides(s.bBatch, s.batch, bS);
  const int64_t batches = product(s.batch, 0, s.batch.size());
  const int64_t M = s.M, K = s.K, N = s.N;
  parallelFor(ctx, batches * M, std::max<int64_t>(1, kGrainCheap / std::max<int64_t>(K * N, 1)),
              [&](int64_t b, int64_t e) {
                for (int64_t w = b; w < e; ++w) {
                  const int64_t bi = w / M, m = w % M;
                  int64_t aOff = 0, bOff = 0, r = bi;
                  for (int64_t d = nb - 1; d >= 0; --d) {
                    const int64_t idx = r % s.batch[d];
                    r /= s.batch[d];
                    aOff += idx * aS[d];
                    bOff += idx * bS[d];
                  }
                  const double *a = pa + aOff * M * K;
                  const double *bm = pb + bOff * K * N;
                  double *c = dst + w * N;
                  std::fill(c, c + N, 0.0);
                  for (int64_t k = 0; k < K; ++k) {
                    const double av = ta ? a[k * M + m] : a[m * K + k];
                    if (!tb) {
                      const double *brow = bm + k * N;
                      for (int64_t n = 0; n < N; ++n)
                        c[n] += av * brow[n];
                    } else {
                      for (int64_t n = 0; n < N; ++n)
                        c[n] += av * bm[n * K + k];
                    }
                  }
                }
              });
}

/// Stores doubles to a float output of any float dtype.
void storeDoubles(const KernelContext &ctx, const double *src, const TensorView &out) {
  auto none = [] { return Status::ok(); };
  (void)visitFloat(out.dtype, none, [&](auto tag) {
    using T = decltype(tag);
    auto *o = static_cast<typename T::S *>(out.data);
    parallelFor(ctx, out.numElements(), kGrainCheap, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        o[i] = T::E::store(static_cast<typename T::C>(src[i]));
    });
    return Status::ok();
  });
}

} // namespace

namespace {

/// Checks matmul shapes (`kind` names the op in messages) and fills `s`.
Status matmulShapes(const char *kind, const TensorView &A, const TensorView &B,
                    const TensorView &out, bool ta, bool tb, MatmulShapes &s) {
  if (A.rank() < 2 || B.rank() < 2)
    return badShape(kind, "operands must have rank >= 2");
  const int64_t ra = A.rank(), rb = B.rank();
  s.M = ta ? A.shape[ra - 1] : A.shape[ra - 2];
  s.K = ta ? A.shape[ra - 2] : A.shape[ra - 1];
  const int64_t K2 = tb ? B.shape[rb - 1] : B.shape[rb - 2];
  s.N = tb ? B.shape[rb - 2] : B.shape[rb - 1];
  if (s.K != K2)
    return badShape(kind, "contraction sizes differ: " + shapeString(A.shape) + " and " +
                              shapeString(B.shape));
  const int64_t ro = std::max(ra, rb);
  if (out.rank() != ro || out.shape[ro - 2] != s.M || out.shape[ro - 1] != s.N)
    return badShape(kind, "result shape " + shapeString(out.shape) + " does not match " +
                              shapeString(A.shape) + " x " + shapeString(B.shape));
  s.batch.assign(out.shape.begin(), out.shape.end() - 2);
  s.aBatch.assign(static_cast<size_t>(ro - ra), 1);
  s.aBatch.insert(s.aBatch.end(), A.shape.begin(), A.shape.end() - 2);
  s.bBatch.assign(static_cast<size_t>(ro - rb), 1);
  s.bBatch.insert(s.bBatch.end(), B.shape.begin(), B.shape.end() - 2);
  for (size_t i = 0; i < s.batch.size(); ++i)
    if ((s.aBatch[i] != s.batch[i] && s.aBatch[i] != 1) ||
        (s.bBatch[i] != s.batch[i] && s.bBatch[i] != 1) ||
        s.batch[i] != std::max(s.aBatch[i], s.bBatch[i]))
      return badShape(kind, "batch dimensions of " + shapeString(A.shape) + " and " +
                                shapeString(B.shape) + " do not broadcast to " +
                                shapeString(out.shape));
  return Status::ok();
}

/// Where a GEMM writes its fp32 result: `out` itself when it is f32, else this thread's scratch
/// buffer of at least out's size, kept across calls and not zeroed (the GEMM writes every
/// element). A vector per call zero-filled fresh pages for every narrow-output GEMM of every
/// step: 18 % of a bf16 GPT-2-sized training step.
float *f32Result(const TensorView &out) {
  if (out.dtype == DType::F32)
    return static_cast<float *>(out.data);
  thread_local std::unique_ptr<float[]> buffer;
  thread_local size_t capacity = 0;
  const size_t n = static_cast<size_t>(out.numElements());
  if (capacity < n) {
    buffer.reset(new float[n]);
    capacity = n;
  }
  return buffer.get();
}

/// out = op(A) op(B) (times `scale`, when given) for non-f64 operands: the sum in fp32, scaled
/// in fp32, rounded once to out's type.
Status matmulFloat(const KernelContext &ctx, const TensorView &A, const TensorView &B, bool ta,
                   bool tb, const MatmulShapes &s, const TensorView &out,
                   std::optional<float> scale) {
  const int64_t n = out.numElements();
  float *dst = f32Result(out);
  if (s.K == 0)
    std::fill(dst, dst + n, 0.0f);
  else
    PRECIS_RETURN_IF_ERROR(matmulToF32(ctx, A, B, ta, tb, s, dst));
  if (scale)
    parallelFor(ctx, n, kGrainCheap, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        dst[i] *= *scale;
    });
  if (out.dtype != DType::F32)
    storeFloats(ctx, dst, n, out);
  return Status::ok();
}

} // namespace

PRECIS_CPU_KERNEL(matmulKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("matmul", inputs, outputs, 2, 2, 1));
  const TensorView &A = inputs[0], &B = inputs[1], &out = outputs[0];
  const bool fp8Pair = isFp8(A.dtype) && isFp8(B.dtype);
  if ((A.dtype != B.dtype && !fp8Pair) || !isFloat(A.dtype) || !isFloat(out.dtype))
    return unsupportedDtypes("matmul", inputs, outputs);
  PRECIS_RETURN_IF_ERROR(checkAccType("matmul", attrs, A.dtype));
  const bool ta = attrs.getInt("transpose_lhs", 0) != 0;
  const bool tb = attrs.getInt("transpose_rhs", 0) != 0;
  MatmulShapes s;
  PRECIS_RETURN_IF_ERROR(matmulShapes("matmul", A, B, out, ta, tb, s));
  const int64_t n = out.numElements();
  if (n == 0)
    return Status::ok();
  if (A.dtype == DType::F64) {
    std::vector<double> tmp;
    double *dst = static_cast<double *>(out.data);
    if (out.dtype != DType::F64) {
      tmp.resize(static_cast<size_t>(n));
      dst = tmp.data();
    }
    matmulF64(ctx, A, B, ta, tb, s, dst);
    if (out.dtype != DType::F64)
      storeDoubles(ctx, dst, out);
    return Status::ok();
  }
  return matmulFloat(ctx, A, B, ta, tb, s, out, std::nullopt);
}

// (A x B) * lhs_descale * rhs_descale for fp8 operands (E4M3 / E5M2, mixed allowed): the
// operands decode exactly, products accumulate in fp32 and the scaled sum rounds once to the
// result type, as cuBLASLt's fp8 GEMM with A/B scale pointers does.
PRECIS_CPU_KERNEL(scaledMatmulKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("scaled_matmul", inputs, outputs, 4, 4, 1));
  const TensorView &A = inputs[0], &B = inputs[1], &out = outputs[0];
  const TensorView &sa = inputs[2], &sb = inputs[3];
  if (!isFp8(A.dtype) || !isFp8(B.dtype) || sa.dtype != DType::F32 || sb.dtype != DType::F32 ||
      sa.numElements() != 1 || sb.numElements() != 1 || !isFloat(out.dtype) ||
      out.dtype == DType::F64)
    return unsupportedDtypes("scaled_matmul", inputs, outputs);
  PRECIS_RETURN_IF_ERROR(checkAccType("scaled_matmul", attrs, DType::F32));
  const bool ta = attrs.getInt("transpose_lhs", 0) != 0;
  const bool tb = attrs.getInt("transpose_rhs", 0) != 0;
  MatmulShapes s;
  PRECIS_RETURN_IF_ERROR(matmulShapes("scaled_matmul", A, B, out, ta, tb, s));
  if (out.numElements() == 0)
    return Status::ok();
  const float scale = *static_cast<const float *>(sa.data) * *static_cast<const float *>(sb.data);
  return matmulFloat(ctx, A, B, ta, tb, s, out, scale);
}

/// result = alpha * op(a) op(b) + beta * c, c broadcast to [M, N]. As in ONNX's reference, a
/// present c is always read (beta * NaN is NaN even for beta = 0).
PRECIS_CPU_KERNEL(gemmKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("gemm", inputs, outputs, 2, 3, 1));
  const TensorView &A = inputs[0], &B = inputs[1], &out = outputs[0];
  const TensorView *Cm = inputs.size() > 2 ? &inputs[2] : nullptr;
  if (A.dtype != B.dtype || !isFloat(A.dtype) || !isFloat(out.dtype) || (Cm && !isFloat(Cm->dtype)))
    return unsupportedDtypes("gemm", inputs, outputs);
  PRECIS_RETURN_IF_ERROR(checkAccType("gemm", attrs, A.dtype));
  const bool ta = attrs.getInt("transpose_a", 0) != 0;
  const bool tb = attrs.getInt("transpose_b", 0) != 0;
  const double alpha = attrs.getFloat("alpha", 1.0), beta = attrs.getFloat("beta", 1.0);
  if (A.rank() != 2 || B.rank() != 2)
    return badShape("gemm", "a and b must have rank 2");
  MatmulShapes s;
  s.M = ta ? A.shape[1] : A.shape[0];
  s.K = ta ? A.shape[0] : A.shape[1];
  s.N = tb ? B.shape[0] : B.shape[1];
  if ((tb ? B.shape[1] : B.shape[0]) != s.K)
    return badShape("gemm", "contraction sizes differ");
  if (out.shape != std::vector<int64_t>{s.M, s.N})
    return badShape("gemm", "result shape " + shapeString(out.shape) + " should be " +
                                shapeString({s.M, s.N}));
  std::vector<int64_t> cStrides;
  if (Cm && !broadcastStrides(Cm->shape, out.shape, cStrides))
    return badShape("gemm", "c " + shapeString(Cm->shape) + " does not broadcast to " +
                                shapeString(out.shape));
  const int64_t n = out.numElements();
  if (n == 0)
    return Status::ok();

  auto epilogue = [&](auto *acc, auto *res) {
    using Acc = std::remove_pointer_t<decltype(acc)>;
    const Acc a = static_cast<Acc>(alpha), b = static_cast<Acc>(beta);
    if (!Cm) {
      if (a != Acc(1))
        for (int64_t i = 0; i < n; ++i)
          res[i] = a * acc[i];
      return;
    }
    // An f32 C of an f32 result is read in place; anything else is converted once.
    std::vector<Acc> converted;
    const Acc *c = nullptr;
    if constexpr (std::is_same_v<Acc, float>)
      if (Cm->dtype == DType::F32)
        c = static_cast<const float *>(Cm->data);
    if (!c) {
      converted.resize(static_cast<size_t>(Cm->numElements()));
      for (size_t i = 0; i < converted.size(); ++i)
        converted[i] = Cm->dtype == DType::F64
                           ? static_cast<Acc>(static_cast<const double *>(Cm->data)[i])
                           : static_cast<Acc>(loadAsFloat(*Cm, static_cast<int64_t>(i)));
      c = converted.data();
    }
    parallelFor(ctx, s.M, std::max<int64_t>(1, kGrainCheap / s.N), [&](int64_t rb, int64_t re) {
      for (int64_t i = rb; i < re; ++i)
        for (int64_t j = 0; j < s.N; ++j)
          res[i * s.N + j] = a * acc[i * s.N + j] + b * c[i * cStrides[0] + j * cStrides[1]];
    });
  };

  if (A.dtype == DType::F64) {
    std::vector<double> tmp(static_cast<size_t>(n));
    matmulF64(ctx, A, B, ta, tb, s, tmp.data());
    epilogue(tmp.data(), tmp.data());
    storeDoubles(ctx, tmp.data(), out);
    return Status::ok();
  }
  float *dst = f32Result(out);
  if (s.K == 0)
    std::fill(dst, dst + n, 0.0f);
  else
    PRECIS_RETURN_IF_ERROR(matmulToF32(ctx, A, B, ta, tb, s, dst));
  epilogue(dst, dst);
  if (out.dtype != DType::F32)
    storeFloats(ctx, dst, n, out);
  return Status::ok();
}

//===----------------------------------------------------------------------===//
// Convolution.
//===----------------------------------------------------------------------===//

namespace {

struct ConvGeometry {
  int64_t N, C, H, W, O, KH, KW, OH, OW, G;
  int64_t sh, sw, dh, dw, pt, pl, pb, pr;
};

/// Which of the three convolution primitives: y = conv(x, w) (+ bias), dx from (dy, w), dw from
/// (x, dy).
enum class ConvPass { Forward, BackwardData, BackwardWeights };

/// Creates (or finds) the primitive of `onednnConv`'s problem.
Status createConv(const Key &key, ConvPass pass, const ConvGeometry &g, dnnl_data_type_t dt,
                  bool hasBias, PrimitivePtr &prim) {
  // Each pass reads two of (x, w, y) in dt and writes the third in f32.
  const dnnl_data_type_t xdt = pass == ConvPass::BackwardData ? dnnl_f32 : dt;
  const dnnl_data_type_t wdt = pass == ConvPass::BackwardWeights ? dnnl_f32 : dt;
  const dnnl_data_type_t ydt = pass == ConvPass::Forward ? dnnl_f32 : dt;
  dnnl_memory_desc_t xmd, wmd, bmd, ymd, hxmd, hwmd, hymd;
  const dnnl_dims_t xd = {g.N, g.C, g.H, g.W}, yd = {g.N, g.O, g.OH, g.OW}, bd = {g.O};
  const dnnl_dims_t wd1 = {g.O, g.C, g.KH, g.KW};
  const dnnl_dims_t wdG = {g.G, g.O / g.G, g.C / g.G, g.KH, g.KW};
  auto weights = [&](dnnl_memory_desc_t *md, dnnl_data_type_t t) {
    return g.G == 1 ? dnnl_memory_desc_init_by_tag(md, 4, wd1, t, dnnl_abcd)
                    : dnnl_memory_desc_init_by_tag(md, 5, wdG, t, dnnl_abcde);
  };
  if (dnnl_memory_desc_init_by_tag(&xmd, 4, xd, xdt, dnnl_abcd) != dnnl_success ||
      dnnl_memory_desc_init_by_tag(&ymd, 4, yd, ydt, dnnl_abcd) != dnnl_success ||
      dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a) != dnnl_success ||
      weights(&wmd, wdt) != dnnl_success ||
      // The forward hint of a backward pass: the forward op the model ran (dt, dt -> f32).
      dnnl_memory_desc_init_by_tag(&hxmd, 4, xd, dt, dnnl_abcd) != dnnl_success ||
      dnnl_memory_desc_init_by_tag(&hymd, 4, yd, dnnl_f32, dnnl_abcd) != dnnl_success ||
      weights(&hwmd, dt) != dnnl_success)
    return unimplemented("oneDNN rejects the convolution memory descriptors");
  const dnnl_dims_t strides = {g.sh, g.sw}, dilates = {g.dh - 1, g.dw - 1};
  const dnnl_dims_t padL = {g.pt, g.pl}, padR = {g.pb, g.pr};
  dnnl_convolution_desc_t desc, hint;
  dnnl_status_t st = dnnl_success;
  if (pass == ConvPass::Forward) {
    st = dnnl_dilated_convolution_forward_desc_init(
        &desc, dnnl_forward_inference, dnnl_convolution_direct, &xmd, &wmd,
        hasBias ? &bmd : nullptr, &ymd, strides, dilates, padL, padR);
  } else {
    st = dnnl_dilated_convolution_forward_desc_init(&hint, dnnl_forward_training,
                                                    dnnl_convolution_direct, &hxmd, &hwmd, nullptr,
                                                    &hymd, strides, dilates, padL, padR);
    if (st == dnnl_success && pass == ConvPass::BackwardData)
      st = dnnl_dilated_convolution_backward_data_desc_init(
          &desc, dnnl_convolution_direct, &xmd, &wmd, &ymd, strides, dilates, padL, padR);
    else if (st == dnnl_success)
      st = dnnl_dilated_convolution_backward_weights_desc_init(
          &desc, dnnl_convolution_direct, &xmd, &wmd, nullptr, &ymd, strides, dilates, padL, padR);
  }
  if (st != dnnl_success)
    return unimplemented("oneDNN rejects the convolution descriptor");
  return getPrimitive(key, &desc, prim, pass == ConvPass::Forward ? nullptr : &hint);
}

/// Runs one convolution primitive on plain layouts (NCHW activations, OIHW weights, GOIHW when
/// grouped; oneDNN reorders internally where its kernels want blocked ones). `a` and `b` are the
/// pass's two operands in `dt` (forward: x, w; backward data: dy, w; backward weights: x, dy);
/// the result `dst` is f32.
Status onednnConv(const KernelContext &ctx, ConvPass pass, const ConvGeometry &g,
                  dnnl_data_type_t dt, const void *a, const void *b, const float *bias,
                  float *dst) {
  static const char *const kNames[] = {"conv2d", "conv2d_backward_data", "conv2d_backward_weights"};
  const int nt = threadBudget(ctx);
  Key key(kNames[static_cast<int>(pass)]);
  const int64_t k[] = {dt,  nt,   g.N,  g.C,  g.H,  g.W,  g.O,  g.KH, g.KW, g.OH,           g.OW,
                       g.G, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.pb, g.pr, bias != nullptr};
  key.add(k, static_cast<int>(sizeof k / sizeof k[0]));
  ScopedOmpThreads threads(nt);
  // Descriptors only on a cache miss.
  PrimitivePtr prim = primitiveCache().find(key.str());
  if (!prim)
    PRECIS_RETURN_IF_ERROR(createConv(key, pass, g, dt, bias != nullptr, prim));
  ExecArgs args;
  switch (pass) {
  case ConvPass::Forward:
    args = {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, dst}};
    if (bias)
      args.add(DNNL_ARG_BIAS, bias);
    break;
  case ConvPass::BackwardData:
    args = {{DNNL_ARG_DIFF_DST, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DIFF_SRC, dst}};
    break;
  case ConvPass::BackwardWeights:
    args = {{DNNL_ARG_SRC, a}, {DNNL_ARG_DIFF_DST, b}, {DNNL_ARG_DIFF_WEIGHTS, dst}};
    break;
  }
  return execute(*prim, args);
}

void convF64(const KernelContext &ctx, const ConvGeometry &g, const double *x, const double *w,
             const std::vector<double> &bias, double *y) {
  const int64_t cg = g.C / g.G, og = g.O / g.G;
  parallelFor(ctx, g.N * g.O, 1, [&](int64_t b, int64_t e) {
    for (int64_t no = b; no < e; ++no) {
      const int64_t n = no / g.O, o = no % g.O, grp = o / og;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          double acc = bias.empty() ? 0.0 : bias[o];
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t i = 0; i < g.KH; ++i) {
              const int64_t h = oh * g.sh - g.pt + i * g.dh;
              if (h < 0 || h >= g.H)
                continue;
              for (int64_t j = 0; j < g.KW; ++j) {
                const int64_t ww = ow * g.sw - g.pl + j * g.dw;
                if (ww < 0 || ww >= g.W)
                  continue;
                acc += x[((n * g.C + grp * cg + c) * g.H + h) * g.W + ww] *
                       w[((o * cg + c) * g.KH + i) * g.KW + j];
              }
            }
          y[(no * g.OH + oh) * g.OW + ow] = acc;
        }
    }
  });
}

} // namespace

PRECIS_CPU_KERNEL(conv2dKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("conv2d", inputs, outputs, 2, 3, 1));
  const TensorView &X = inputs[0], &Wt = inputs[1], &out = outputs[0];
  const TensorView *bias = inputs.size() > 2 ? &inputs[2] : nullptr;
  if (X.dtype != Wt.dtype || !isFloat(X.dtype) || !isFloat(out.dtype) ||
      (bias && !isFloat(bias->dtype)))
    return unsupportedDtypes("conv2d", inputs, outputs);
  PRECIS_RETURN_IF_ERROR(checkAccType("conv2d", attrs, X.dtype));
  if (X.rank() != 4 || Wt.rank() != 4 || out.rank() != 4)
    return badShape("conv2d", "input, weight and result must have rank 4");
  const std::vector<int64_t> st = attrs.getInts("strides", {1, 1});
  const std::vector<int64_t> pd = attrs.getInts("pads", {0, 0, 0, 0});
  const std::vector<int64_t> dl = attrs.getInts("dilations", {1, 1});
  const int64_t G = attrs.getInt("groups", 1);
  if (st.size() != 2 || pd.size() != 4 || dl.size() != 2)
    return badShape("conv2d", "strides and dilations need 2 values, pads 4");
  ConvGeometry g{X.shape[0],  X.shape[1],   X.shape[2],   X.shape[3], Wt.shape[0], Wt.shape[2],
                 Wt.shape[3], out.shape[2], out.shape[3], G,          st[0],       st[1],
                 dl[0],       dl[1],        pd[0],        pd[1],      pd[2],       pd[3]};
  if (G < 1 || g.C % G != 0 || g.O % G != 0 || Wt.shape[1] * G != g.C)
    return badShape("conv2d", "weight " + shapeString(Wt.shape) + " and groups " +
                                  std::to_string(G) + " do not fit input " + shapeString(X.shape));
  if (g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.pt < 0 || g.pl < 0 || g.pb < 0 || g.pr < 0)
    return badShape("conv2d", "strides and dilations must be positive, pads non-negative");
  const int64_t eh = (g.H + g.pt + g.pb - g.dh * (g.KH - 1) - 1) / g.sh + 1;
  const int64_t ew = (g.W + g.pl + g.pr - g.dw * (g.KW - 1) - 1) / g.sw + 1;
  if (out.shape[0] != g.N || out.shape[1] != g.O || out.shape[2] != eh || out.shape[3] != ew)
    return badShape("conv2d", "result shape " + shapeString(out.shape) + " should be " +
                                  shapeString({g.N, g.O, eh, ew}));
  if (bias && bias->numElements() != g.O)
    return badShape("conv2d", "bias must have O elements");
  const int64_t n = out.numElements();
  if (n == 0)
    return Status::ok();

  if (X.dtype == DType::F64) {
    std::vector<double> b;
    if (bias)
      for (int64_t o = 0; o < g.O; ++o)
        b.push_back(bias->dtype == DType::F64 ? static_cast<const double *>(bias->data)[o]
                                              : loadAsFloat(*bias, o));
    std::vector<double> tmp;
    double *dst = static_cast<double *>(out.data);
    if (out.dtype != DType::F64) {
      tmp.resize(static_cast<size_t>(n));
      dst = tmp.data();
    }
    convF64(ctx, g, static_cast<const double *>(X.data), static_cast<const double *>(Wt.data), b,
            dst);
    if (out.dtype != DType::F64)
      storeDoubles(ctx, dst, out);
    return Status::ok();
  }
  std::vector<float> b;
  if (bias)
    b = toFloatVector(*bias);
  std::vector<float> tmp;
  float *dst = static_cast<float *>(out.data);
  if (out.dtype != DType::F32) {
    tmp.resize(static_cast<size_t>(n));
    dst = tmp.data();
  }
  auto run = [&](bool forceF32) {
    Operands ops = prepareOperands(ctx, {&X, &Wt}, forceF32);
    return onednnConv(ctx, ConvPass::Forward, g, ops.dt, ops.ptrs[0], ops.ptrs[1],
                      bias ? b.data() : nullptr, dst);
  };
  Status s = run(false);
  if (s.code() == StatusCode::Unimplemented && X.dtype == DType::BF16)
    s = run(true);
  PRECIS_RETURN_IF_ERROR(s);
  if (out.dtype != DType::F32)
    storeFloats(ctx, dst, n, out);
  return Status::ok();
}

namespace {

/// The oneDNN path of a convolution gradient: `A`, `B` are the pass's operands, of the result's
/// float dtype; the f32 result is rounded to that dtype once.
Status onednnConvGradient(const KernelContext &ctx, ConvPass pass, const ConvDims &d,
                          const TensorView &A, const TensorView &B, const TensorView &out) {
  if (d.pt < 0 || d.pl < 0 || d.pb < 0 || d.pr < 0)
    return unimplemented("negative pads");
  const ConvGeometry g{d.N,      d.C,  d.H,  d.W,  d.O,  d.KH, d.KW, d.OH, d.OW,
                       d.groups, d.sh, d.sw, d.dh, d.dw, d.pt, d.pl, d.pb, d.pr};
  const int64_t n = out.numElements();
  std::vector<float> tmp;
  float *dst = static_cast<float *>(out.data);
  if (out.dtype != DType::F32) {
    tmp.resize(static_cast<size_t>(n));
    dst = tmp.data();
  }
  auto run = [&](bool forceF32) {
    Operands ops = prepareOperands(ctx, {&A, &B}, forceF32);
    return onednnConv(ctx, pass, g, ops.dt, ops.ptrs[0], ops.ptrs[1], nullptr, dst);
  };
  Status s = run(false);
  if (s.code() == StatusCode::Unimplemented && A.dtype == DType::BF16)
    s = run(true);
  PRECIS_RETURN_IF_ERROR(s);
  if (out.dtype != DType::F32)
    storeFloats(ctx, dst, n, out);
  return Status::ok();
}

/// Whether the gradient goes to oneDNN: f64 has no oneDNN convolution and empty tensors
/// nothing to compute.
bool onednnTakes(const TensorView &a, const TensorView &b, const TensorView &out) {
  return out.dtype != DType::F64 && a.numElements() > 0 && b.numElements() > 0 &&
         out.numElements() > 0;
}

bool sameFloat(const TensorView &a, const TensorView &b) {
  return isFloat(a.dtype) && a.dtype == b.dtype;
}

} // namespace

PRECIS_CPU_KERNEL(conv2dGradInputKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("conv2d_grad_input", inputs, outputs, 2, 2, 1));
  const TensorView &G = inputs[0], &Wt = inputs[1], &out = outputs[0];
  if (!sameFloat(G, Wt) || !sameFloat(G, out))
    return unsupportedDtypes("conv2d_grad_input", inputs, outputs);
  ConvDims d;
  PRECIS_RETURN_IF_ERROR(convGradDims("conv2d_grad_input", out.shape, Wt.shape, G.shape, attrs, d));
  if (onednnTakes(G, Wt, out)) {
    Status s = onednnConvGradient(ctx, ConvPass::BackwardData, d, G, Wt, out);
    if (s.code() != StatusCode::Unimplemented)
      return s;
  }
  return conv2dGradInputLoops(ctx, G, Wt, out, d);
}

PRECIS_CPU_KERNEL(conv2dGradWeightKernel) {
  PRECIS_RETURN_IF_ERROR(checkArity("conv2d_grad_weight", inputs, outputs, 2, 2, 1));
  const TensorView &X = inputs[0], &G = inputs[1], &out = outputs[0];
  if (!sameFloat(G, X) || !sameFloat(G, out))
    return unsupportedDtypes("conv2d_grad_weight", inputs, outputs);
  ConvDims d;
  PRECIS_RETURN_IF_ERROR(convGradDims("conv2d_grad_weight", X.shape, out.shape, G.shape, attrs, d));
  if (onednnTakes(X, G, out)) {
    Status s = onednnConvGradient(ctx, ConvPass::BackwardWeights, d, X, G, out);
    if (s.code() != StatusCode::Unimplemented)
      return s;
  }
  return conv2dGradWeightLoops(ctx, X, G, out, d);
}

} // namespace precis::rt::cpu
