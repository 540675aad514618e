//===- Gemm.h - GEMM ops on cuBLASLt -----------------------------*- C++ -*-===//
//
// Every GEMM of a CUDA artifact (`matmul`, `gemm`, `scaled_matmul`) becomes one GemmPlan at
// session creation: cuBLASLt descriptors for its shapes, dtypes and epilogue, its device
// pointers (fixed for the session's lifetime: arena, parameters, input buffers) and the
// algorithm cuBLASLt's heuristic picked. Enqueueing a plan is then one cublasLtMatmul call
// (or one per batch entry for a batch broadcast strides cannot express), which graph capture
// records like any other launch.
//
// Row-major to column-major: cuBLASLt is column-major and a row-major [R, C] matrix is the
// column-major [C, R] matrix with the same bytes, so row-major D = op(A) op(B) is computed as
// column-major D^T = op(B)^T op(A)^T: cuBLASLt's "A" is the op's b and its "B" the op's a.
//
// Operands (inputs, then outputs), by kind:
//   matmul         a, b [, bias] [, aux_in]            -> d [, aux_out] [, bias_grad]
//   scaled_matmul  a, b, a_descale, b_descale [, ...]   (the same extras as matmul)
//   gemm           a, b [, c]                          -> d
// Epilogues (string attr "epilogue", matmul and scaled_matmul), named in the op's row-major
// terms: "bias", "relu", "bias_relu", "gelu", "bias_gelu" apply the activation (cuBLASLt's GELU is
// the tanh form) after adding bias[N] to every row when the name has "bias"; "gelu_aux" / "bias_gelu_aux" also write the pre-activation (aux_out, [M, N]);
// "dgelu" multiplies by GELU'(aux_in) (aux_in [M, N], the saved pre-activation); "bgradb" also
// writes the sum of b over K (bias_grad [N], the bias gradient when b is dY).
//
// FP8 (scaled_matmul): Hopper's cuBLASLt runs FP8 only in the "TN" layout, which in the op's
// terms is a [M, K] (transpose_lhs = 0) and b stored as [N, K] (transpose_rhs = 1). A plan
// refuses other layouts (Unimplemented, naming the one it needs); the executor (Executor.cpp)
// first transposes such operands into scratch buffers with a byte-transpose kernel, which is
// correct but costs a pass over the operand: a compiler that emits the TN layout avoids it.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_RUNTIME_SRC_CUDA_GEMM_H
#define PRECIS_RUNTIME_SRC_CUDA_GEMM_H

#include "cpu/Kernel.h"
#include "cuda/CudaApi.h"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace precis::rt::cuda {

/// What GEMM plans of one session share: the cuBLASLt handle, the workspace (one stream runs
/// the GEMMs one after another) and the algorithms the heuristic chose, per problem.
struct GemmContext {
  static constexpr size_t kWorkspaceBytes = 32u << 20;
  const BlasLt *lt = nullptr;
  cublasLtHandle_t handle = nullptr;
  CUdeviceptr workspace = 0;
  /// Heuristic results keyed by shapes, dtypes, transposes, layouts, epilogue and alignment.
  std::map<std::string, cublasLtMatmulAlgo_t> algorithms;
};

/// Whether `kind` is a GEMM this file runs.
bool isGemmKind(const std::string &kind);

class GemmPlan {
public:
  /// Plans op `kind` with operand types `inputs`/`outputs` (data pointers ignored) at device
  /// addresses `in`/`out`. InvalidArgument for shapes that do not fit the op, Unimplemented for
  /// what cuBLASLt (or this backend) cannot run, naming why.
  /// `transposes`, when given, replaces the op's (transpose_lhs, transpose_rhs) attributes:
  /// the executor passes operands it transposed itself (FP8 in a layout other than TN).
  static Status create(GemmContext &ctx, const std::string &kind, const Attrs &attrs,
                       const std::vector<TensorView> &inputs,
                       const std::vector<TensorView> &outputs, const std::vector<CUdeviceptr> &in,
                       const std::vector<CUdeviceptr> &out, std::unique_ptr<GemmPlan> *plan,
                       const std::pair<bool, bool> *transposes = nullptr);
  ~GemmPlan();
  GemmPlan(const GemmPlan &) = delete;
  GemmPlan &operator=(const GemmPlan &) = delete;

  /// Enqueues the product on `stream`.
  Status enqueue(CUstream stream) const;

private:
  GemmPlan() = default;
  friend struct GemmBuilder;

  const GemmContext *ctx_ = nullptr;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t aLayout_ = nullptr, bLayout_ = nullptr, cLayout_ = nullptr,
                         dLayout_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  double alpha64_ = 1, beta64_ = 0;
  float alpha32_ = 1, beta32_ = 0;
  bool f64_ = false;
  /// One entry per cublasLtMatmul call (cuBLASLt's A, B, C, D: the op's b, a, c, d).
  struct Call {
    CUdeviceptr a, b, c, d;
  };
  std::vector<Call> calls_;
};

} // namespace precis::rt::cuda

#endif // PRECIS_RUNTIME_SRC_CUDA_GEMM_H
