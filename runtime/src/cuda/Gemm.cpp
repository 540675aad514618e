//===- Gemm.cpp - GEMM ops on cuBLASLt ------------------------------------===//
//
// Shapes are checked here (as the CPU kernels check theirs) before any descriptor is made; the
// heuristic is asked once per distinct problem. See Gemm.h for the layout mapping and operands.
//
//===----------------------------------------------------------------------===//

#include "cuda/Gemm.h"

#include <algorithm>

namespace precis::rt::cuda {
namespace {

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t product(const std::vector<int64_t> &v) {
  int64_t p = 1;
  for (int64_t d : v)
    p *= d;
  return p;
}

bool dataType(DType t, cudaDataType_t *out) {
  switch (t) {
  case DType::F32:
    *out = CUDA_R_32F;
    return true;
  case DType::F16:
    *out = CUDA_R_16F;
    return true;
  case DType::BF16:
    *out = CUDA_R_16BF;
    return true;
  case DType::F8E4M3FN:
    *out = CUDA_R_8F_E4M3;
    return true;
  case DType::F8E5M2:
    *out = CUDA_R_8F_E5M2;
    return true;
  case DType::F64:
    *out = CUDA_R_64F;
    return true;
  default:
    return false;
  }
}

bool isFp8(DType t) { return t == DType::F8E4M3FN || t == DType::F8E5M2; }

/// The largest power of two (at most 256) dividing `p`: what the heuristic may assume.
uint32_t alignmentOf(CUdeviceptr p) {
  uint32_t a = 256;
  while (a > 1 && p % a != 0)
    a /= 2;
  return a;
}

struct Epilogue {
  cublasLtEpilogue_t mode = CUBLASLT_EPILOGUE_DEFAULT;
  bool biasIn = false, auxIn = false, auxOut = false, biasGradOut = false;
};

bool parseEpilogue(const std::string &name, Epilogue *e) {
  static const std::map<std::string, Epilogue> kEpilogues = {
      {"", {CUBLASLT_EPILOGUE_DEFAULT}},
      {"bias", {CUBLASLT_EPILOGUE_BIAS, true}},
      {"relu", {CUBLASLT_EPILOGUE_RELU}},
      {"bias_relu", {CUBLASLT_EPILOGUE_RELU_BIAS, true}},
      {"gelu", {CUBLASLT_EPILOGUE_GELU}},
      {"bias_gelu", {CUBLASLT_EPILOGUE_GELU_BIAS, true}},
      {"gelu_aux", {CUBLASLT_EPILOGUE_GELU_AUX, false, false, true}},
      {"bias_gelu_aux", {CUBLASLT_EPILOGUE_GELU_AUX_BIAS, true, false, true}},
      {"dgelu", {CUBLASLT_EPILOGUE_DGELU, false, true}},
      // The op's b is cuBLASLt's A (Gemm.h), so reducing b over K is BGRADA.
      {"bgradb", {CUBLASLT_EPILOGUE_BGRADA, false, false, false, true}},
  };
  auto it = kEpilogues.find(name);
  if (it == kEpilogues.end())
    return false;
  *e = it->second;
  return true;
}

} // namespace

bool isGemmKind(const std::string &kind) {
  return kind == "matmul" || kind == "gemm" || kind == "scaled_matmul";
}

/// Builds one plan; a struct so the checks can return Status with the plan half-built (its
/// destructor frees whatever descriptors exist).
struct GemmBuilder {
  GemmContext &ctx;
  const std::string &kind;
  GemmPlan &plan;

  Status bad(const std::string &m) { return invalidArgument(kind + ": " + m); }
  Status unsupported(const std::string &m) { return unimplemented(kind + " on cuda: " + m); }

  template <typename T> Status setDesc(cublasLtMatmulDescAttributes_t attr, const T &value) {
    return check(*ctx.lt,
                 ctx.lt->cublasLtMatmulDescSetAttribute(plan.desc_, attr, &value, sizeof(T)),
                 "cublasLtMatmulDescSetAttribute");
  }

  Status layout(cublasLtMatrixLayout_t *out, cudaDataType_t type, int64_t rows, int64_t cols,
                int64_t ld, int32_t batch, int64_t stride) {
    PRECIS_CUBLASLT(*ctx.lt, cublasLtMatrixLayoutCreate, out, type, static_cast<uint64_t>(rows),
                    static_cast<uint64_t>(cols), ld);
    if (batch > 1) {
      PRECIS_CUBLASLT(*ctx.lt, cublasLtMatrixLayoutSetAttribute, *out,
                      CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof(batch));
      PRECIS_CUBLASLT(*ctx.lt, cublasLtMatrixLayoutSetAttribute, *out,
                      CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride));
    }
    return Status::ok();
  }

  Status build(const Attrs &attrs, const std::vector<TensorView> &inputs,
               const std::vector<TensorView> &outputs, const std::vector<CUdeviceptr> &in,
               const std::vector<CUdeviceptr> &out, const std::pair<bool, bool> *transposes) {
    const bool scaled = kind == "scaled_matmul", gemm = kind == "gemm";
    Epilogue ep;
    const std::string epName = gemm ? "" : attrs.getString("epilogue", "");
    if (!parseEpilogue(epName, &ep))
      return bad("unknown epilogue '" + epName + "'");
    const size_t fixedIn = scaled ? 4 : 2;
    const size_t wantIn = fixedIn + ep.biasIn + ep.auxIn;
    const size_t wantOut = 1 + ep.auxOut + ep.biasGradOut;
    if (gemm ? (inputs.size() < 2 || inputs.size() > 3) : inputs.size() != wantIn)
      return bad(std::to_string(inputs.size()) + " inputs, expected " +
                 (gemm ? std::string("2 or 3") : std::to_string(wantIn)) +
                 (epName.empty() ? "" : " with epilogue '" + epName + "'"));
    if (outputs.size() != wantOut)
      return bad(std::to_string(outputs.size()) + " results, expected " + std::to_string(wantOut));
    const TensorView &A = inputs[0], &B = inputs[1], &D = outputs[0];
    const bool ta = transposes ? transposes->first
                               : attrs.getInt(gemm ? "transpose_a" : "transpose_lhs", 0) != 0;
    const bool tb = transposes ? transposes->second
                               : attrs.getInt(gemm ? "transpose_b" : "transpose_rhs", 0) != 0;

    // Types.
    cudaDataType_t aType, bType, dType;
    if (!dataType(A.dtype, &aType) || !dataType(B.dtype, &bType) || !dataType(D.dtype, &dType))
      return unsupported(std::string("operand types ") + dtypeName(A.dtype) + " x " +
                         dtypeName(B.dtype) + " -> " + dtypeName(D.dtype));
    if (scaled != (isFp8(A.dtype) || isFp8(B.dtype)) ||
        (scaled && !(isFp8(A.dtype) && isFp8(B.dtype))))
      return bad(
          std::string(scaled ? "takes fp8 operands" : "takes no fp8 operands (use scaled_matmul)") +
          ", got " + dtypeName(A.dtype) + " x " + dtypeName(B.dtype));
    if (!scaled && A.dtype != B.dtype)
      return bad(std::string("operand types differ: ") + dtypeName(A.dtype) + " x " +
                 dtypeName(B.dtype));
    if (scaled)
      for (size_t i = 2; i < 4; ++i)
        if (inputs[i].dtype != DType::F32 || inputs[i].numElements() != 1)
          return bad(std::string(i == 2 ? "a_descale" : "b_descale") +
                     " must be one f32 element, got " + dtypeName(inputs[i].dtype) +
                     shapeString(inputs[i].shape));
    plan.f64_ = A.dtype == DType::F64;

    // Shapes (the CPU kernels' rules: batched matmul with broadcast batch dimensions).
    if (A.rank() < 2 || B.rank() < 2 || (gemm && (A.rank() != 2 || B.rank() != 2)))
      return bad("operands must have rank " + std::string(gemm ? "2" : ">= 2") + ", got " +
                 shapeString(A.shape) + " and " + shapeString(B.shape));
    const size_t ra = A.rank(), rb = B.rank(), ro = std::max(ra, rb);
    const int64_t M = ta ? A.shape[ra - 1] : A.shape[ra - 2];
    const int64_t K = ta ? A.shape[ra - 2] : A.shape[ra - 1];
    const int64_t K2 = tb ? B.shape[rb - 1] : B.shape[rb - 2];
    const int64_t N = tb ? B.shape[rb - 2] : B.shape[rb - 1];
    if (K != K2)
      return bad("contraction sizes differ: " + shapeString(A.shape) + " and " +
                 shapeString(B.shape));
    if (D.shape.size() != ro || D.shape[ro - 2] != M || D.shape[ro - 1] != N)
      return bad("result shape " + shapeString(D.shape) + " does not match " +
                 shapeString(A.shape) + " x " + shapeString(B.shape));
    std::vector<int64_t> batch(D.shape.begin(), D.shape.end() - 2);
    std::vector<int64_t> aBatch(ro - ra, 1), bBatch(ro - rb, 1);
    aBatch.insert(aBatch.end(), A.shape.begin(), A.shape.end() - 2);
    bBatch.insert(bBatch.end(), B.shape.begin(), B.shape.end() - 2);
    for (size_t i = 0; i < batch.size(); ++i)
      if ((aBatch[i] != batch[i] && aBatch[i] != 1) || (bBatch[i] != batch[i] && bBatch[i] != 1) ||
          batch[i] != std::max(aBatch[i], bBatch[i]))
        return bad("batch dimensions of " + shapeString(A.shape) + " and " + shapeString(B.shape) +
                   " do not broadcast to " + shapeString(D.shape));
    if (M == 0 || N == 0 || K == 0 || product(batch) == 0)
      return unsupported("empty matrices (" + shapeString(A.shape) + " x " + shapeString(B.shape) +
                         ")");
    if (scaled && (ta || !tb))
      return unsupported("fp8 needs a as [M, K] and b as [N, K] (transpose_lhs = 0, "
                         "transpose_rhs = 1: cuBLASLt's TN layout); got transpose_lhs = " +
                         std::to_string(ta) + ", transpose_rhs = " + std::to_string(tb));

    // Batching: one strided-batched call when each operand is either full-batch or shared;
    // a shared b with a plain a folds the batch into M; anything else is one call per entry.
    const int64_t nb = product(batch);
    auto all = [](const std::vector<int64_t> &v, const std::vector<int64_t> &w) { return v == w; };
    const std::vector<int64_t> ones(batch.size(), 1);
    const bool aFull = all(aBatch, batch), aShared = all(aBatch, ones);
    const bool bFull = all(bBatch, batch), bShared = all(bBatch, ones);
    int64_t rowsM = M; // M of each call (batch folded in when possible)
    int32_t batchCount = 1;
    bool perEntry = false;
    if (nb > 1) {
      if (bShared && aFull && !ta)
        rowsM = nb * M;
      else if ((aFull || aShared) && (bFull || bShared))
        batchCount = static_cast<int32_t>(nb);
      else
        perEntry = true;
      if (nb > INT32_MAX)
        return unsupported("batch of " + std::to_string(nb));
    }
    if (nb > 1 && (ep.auxIn || ep.auxOut || ep.biasGradOut))
      return unsupported("epilogue '" + epName + "' on a batched product");

    // Epilogue operands.
    size_t nextIn = fixedIn, nextOut = 1;
    CUdeviceptr bias = 0, aux = 0;
    DType biasType = DType::Unspecified, auxType = DType::Unspecified;
    std::vector<int64_t> md = {M, N}, vn = {N};
    if (ep.biasIn) {
      const TensorView &t = inputs[nextIn];
      if (t.shape != vn)
        return bad("bias must be [" + std::to_string(N) + "], got " + shapeString(t.shape));
      bias = in[nextIn++];
      biasType = t.dtype;
    }
    if (ep.auxIn || ep.auxOut) {
      const TensorView &t = ep.auxIn ? inputs[nextIn] : outputs[nextOut];
      if (t.numElements() != M * N || t.shape.back() != N)
        return bad("aux must be [" + std::to_string(M) + "," + std::to_string(N) + "], got " +
                   shapeString(t.shape));
      aux = ep.auxIn ? in[nextIn++] : out[nextOut++];
      auxType = t.dtype;
    }
    if (ep.biasGradOut) {
      const TensorView &t = outputs[nextOut];
      if (t.shape != vn)
        return bad("bias gradient must be [" + std::to_string(N) + "], got " +
                   shapeString(t.shape));
      bias = out[nextOut++];
      biasType = t.dtype;
    }

    // gemm's c: a full [M, N] matrix of d's type is cuBLASLt's C; a row vector [N] / [1, N]
    // with beta = 1 is the bias epilogue.
    CUdeviceptr c = out[0];
    double alpha = gemm ? attrs.getFloat("alpha", 1.0) : 1.0;
    double beta = 0;
    if (gemm && inputs.size() == 3) {
      const TensorView &C = inputs[2];
      beta = attrs.getFloat("beta", 1.0);
      if (C.shape == md && C.dtype == D.dtype) {
        c = in[2];
      } else if ((C.shape == vn || C.shape == std::vector<int64_t>{1, N}) && beta == 1.0) {
        ep.mode = CUBLASLT_EPILOGUE_BIAS;
        bias = in[2];
        biasType = C.dtype;
        beta = 0;
      } else {
        return unsupported("c " + std::string(dtypeName(C.dtype)) + shapeString(C.shape) +
                           " with beta = " + std::to_string(beta) +
                           ": the cuda backend takes c as " + dtypeName(D.dtype) + shapeString(md) +
                           ", or as [" + std::to_string(N) + "] with beta = 1");
      }
    }
    plan.alpha64_ = alpha;
    plan.beta64_ = beta;
    plan.alpha32_ = static_cast<float>(alpha);
    plan.beta32_ = static_cast<float>(beta);

    // Descriptors. cuBLASLt's A is the op's b, its B the op's a (Gemm.h).
    const cublasComputeType_t compute = plan.f64_ ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F;
    const cudaDataType_t scaleType = plan.f64_ ? CUDA_R_64F : CUDA_R_32F;
    PRECIS_CUBLASLT(*ctx.lt, cublasLtMatmulDescCreate, &plan.desc_, compute, scaleType);
    const cublasOperation_t opA = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t opB = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    PRECIS_RETURN_IF_ERROR(setDesc(CUBLASLT_MATMUL_DESC_TRANSA, opA));
    PRECIS_RETURN_IF_ERROR(setDesc(CUBLASLT_MATMUL_DESC_TRANSB, opB));
    if (ep.mode != CUBLASLT_EPILOGUE_DEFAULT)
      PRECIS_RETURN_IF_ERROR(setDesc(CUBLASLT_MATMUL_DESC_EPILOGUE, ep.mode));
    if (bias) {
      cudaDataType_t t;
      if (!dataType(biasType, &t))
        return unsupported(std::string("bias of type ") + dtypeName(biasType));
      PRECIS_RETURN_IF_ERROR(setDesc(CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias));
      PRECIS_RETURN_IF_ERROR(setDesc(CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, t));
    }
    if (aux) {
      cudaDataType_t t;
      if (!dataType(auxType, &t))
        return unsupported(std::string("aux of type ") + dtypeName(auxType));
      const int64_t ld = N;
      PRECIS_RETURN_IF_ERROR(setDesc(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, aux));
      PRECIS_RETURN_IF_ERROR(setDesc(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, ld));
      if (t != dType)
        PRECIS_RETURN_IF_ERROR(setDesc(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE, t));
    }
    if (scaled) {
      // Descales multiply cuBLASLt's A and B: the op's b and a.
      PRECIS_RETURN_IF_ERROR(setDesc(CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, in[3]));
      PRECIS_RETURN_IF_ERROR(setDesc(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, in[2]));
    }

    const int32_t layoutBatch = perEntry ? 1 : batchCount;
    const int64_t strideOpB = bFull ? K * N : 0, strideOpA = aFull ? M * K : 0;
    PRECIS_RETURN_IF_ERROR(
        layout(&plan.aLayout_, bType, tb ? K : N, tb ? N : K, tb ? K : N, layoutBatch, strideOpB));
    PRECIS_RETURN_IF_ERROR(layout(&plan.bLayout_, aType, ta ? rowsM : K, ta ? K : rowsM,
                                  ta ? rowsM : K, layoutBatch, strideOpA));
    PRECIS_RETURN_IF_ERROR(layout(&plan.dLayout_, dType, N, rowsM, N, layoutBatch, M * N));
    PRECIS_RETURN_IF_ERROR(layout(&plan.cLayout_, dType, N, rowsM, N, layoutBatch, M * N));

    // The calls, and the alignment every call's pointers have.
    const int64_t aSize = static_cast<int64_t>(dtypeSize(A.dtype)),
                  bSize = static_cast<int64_t>(dtypeSize(B.dtype)),
                  dSize = static_cast<int64_t>(dtypeSize(D.dtype));
    if (!perEntry) {
      plan.calls_.push_back({in[1], in[0], c, out[0]});
    } else {
      // Row-major batch index -> each operand's (broadcast) batch offset.
      for (int64_t e = 0; e < nb; ++e) {
        int64_t rest = e, aIdx = 0, bIdx = 0, aMul = 1, bMul = 1;
        for (size_t i = batch.size(); i-- > 0;) {
          const int64_t idx = rest % batch[i];
          rest /= batch[i];
          aIdx += (aBatch[i] == 1 ? 0 : idx) * aMul;
          bIdx += (bBatch[i] == 1 ? 0 : idx) * bMul;
          aMul *= aBatch[i];
          bMul *= bBatch[i];
        }
        const CUdeviceptr dPtr = out[0] + static_cast<CUdeviceptr>(e * M * N * dSize);
        plan.calls_.push_back({in[1] + static_cast<CUdeviceptr>(bIdx * K * N * bSize),
                               in[0] + static_cast<CUdeviceptr>(aIdx * M * K * aSize),
                               c == out[0] ? dPtr : c, dPtr});
      }
    }
    uint32_t alignA = 256, alignB = 256, alignC = 256, alignD = 256;
    for (const GemmPlan::Call &call : plan.calls_) {
      alignA = std::min(alignA, alignmentOf(call.a));
      alignB = std::min(alignB, alignmentOf(call.b));
      alignC = std::min(alignC, alignmentOf(call.c));
      alignD = std::min(alignD, alignmentOf(call.d));
    }

    // The algorithm: the heuristic's first choice, once per distinct problem.
    std::string key =
        kind + "|" + epName + "|" + std::to_string(aType) + "," + std::to_string(bType) + "," +
        std::to_string(dType) + "|" + std::to_string(ta) + std::to_string(tb) + "|" +
        std::to_string(rowsM) + "," + std::to_string(N) + "," + std::to_string(K) + "|" +
        std::to_string(layoutBatch) + "," + std::to_string(strideOpA) + "," +
        std::to_string(strideOpB) + "|" + std::to_string(alignA) + "," + std::to_string(alignB) +
        "," + std::to_string(alignC) + "," + std::to_string(alignD) + "|" +
        std::to_string(ep.mode) + "," + std::to_string(static_cast<int>(biasType)) + "," +
        std::to_string(static_cast<int>(auxType)) + "|" + std::to_string(beta != 0);
    auto cached = ctx.algorithms.find(key);
    if (cached != ctx.algorithms.end()) {
      plan.algo_ = cached->second;
      return Status::ok();
    }
    cublasLtMatmulPreference_t pref = nullptr;
    PRECIS_CUBLASLT(*ctx.lt, cublasLtMatmulPreferenceCreate, &pref);
    struct PrefGuard {
      const BlasLt *lt;
      cublasLtMatmulPreference_t p;
      ~PrefGuard() { lt->cublasLtMatmulPreferenceDestroy(p); }
    } guard{ctx.lt, pref};
    const uint64_t workspace = GemmContext::kWorkspaceBytes;
    PRECIS_CUBLASLT(*ctx.lt, cublasLtMatmulPreferenceSetAttribute, pref,
                    CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace));
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, alignA},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, alignB},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, alignC},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, alignD}};
    for (const auto &[attr, value] : aligns)
      PRECIS_CUBLASLT(*ctx.lt, cublasLtMatmulPreferenceSetAttribute, pref, attr, &value,
                      sizeof(value));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t hs = ctx.lt->cublasLtMatmulAlgoGetHeuristic(
        ctx.handle, plan.desc_, plan.aLayout_, plan.bLayout_, plan.cLayout_, plan.dLayout_, pref, 1,
        &result, &found);
    if (hs != CUBLAS_STATUS_SUCCESS || found == 0) {
      const std::string why = hs != CUBLAS_STATUS_SUCCESS
                                  ? check(*ctx.lt, hs, "cublasLtMatmulAlgoGetHeuristic").message()
                                  : "no algorithm";
      return unsupported(std::string("cuBLASLt has no algorithm for ") + dtypeName(A.dtype) +
                         shapeString(A.shape) + " x " + dtypeName(B.dtype) + shapeString(B.shape) +
                         " -> " + dtypeName(D.dtype) + shapeString(D.shape) +
                         (epName.empty() ? "" : " with epilogue '" + epName + "'") + " (" + why +
                         ")");
    }
    plan.algo_ = result.algo;
    ctx.algorithms.emplace(std::move(key), result.algo);
    return Status::ok();
  }
};

Status GemmPlan::create(GemmContext &ctx, const std::string &kind, const Attrs &attrs,
                        const std::vector<TensorView> &inputs,
                        const std::vector<TensorView> &outputs, const std::vector<CUdeviceptr> &in,
                        const std::vector<CUdeviceptr> &out, std::unique_ptr<GemmPlan> *plan,
                        const std::pair<bool, bool> *transposes) {
  std::unique_ptr<GemmPlan> p(new GemmPlan());
  p->ctx_ = &ctx;
  GemmBuilder builder{ctx, kind, *p};
  PRECIS_RETURN_IF_ERROR(builder.build(attrs, inputs, outputs, in, out, transposes));
  *plan = std::move(p);
  return Status::ok();
}

GemmPlan::~GemmPlan() {
  const BlasLt &lt = *ctx_->lt;
  for (cublasLtMatrixLayout_t l : {aLayout_, bLayout_, cLayout_, dLayout_})
    if (l)
      lt.cublasLtMatrixLayoutDestroy(l);
  if (desc_)
    lt.cublasLtMatmulDescDestroy(desc_);
}

Status GemmPlan::enqueue(CUstream stream) const {
  const void *alpha = f64_ ? static_cast<const void *>(&alpha64_) : &alpha32_;
  const void *beta = f64_ ? static_cast<const void *>(&beta64_) : &beta32_;
  for (const Call &call : calls_)
    PRECIS_CUBLASLT(*ctx_->lt, cublasLtMatmul, ctx_->handle, desc_, alpha,
                    reinterpret_cast<const void *>(call.a), aLayout_,
                    reinterpret_cast<const void *>(call.b), bLayout_, beta,
                    reinterpret_cast<const void *>(call.c), cLayout_,
                    reinterpret_cast<void *>(call.d), dLayout_, &algo_,
                    reinterpret_cast<void *>(ctx_->workspace), GemmContext::kWorkspaceBytes,
                    reinterpret_cast<cudaStream_t>(stream));
  return Status::ok();
}

} // namespace precis::rt::cuda
