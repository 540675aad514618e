//===- CudaEmitter.cpp - precis ops and fusion groups to CUDA C++ ---------===//
//
// Generates one `extern "C" __global__` kernel per non-GEMM op or fusion group, with every
// size a literal (shapes are static), and compiles it with NVRTC. The kernels compute in fp32
// (f64 in double, integers as themselves) and convert on every load and store with
// numerics.h, the one definition of the low-precision formats; an intermediate of a fused
// group is rounded to its declared element type exactly where the unfused op would have
// stored it, so a fused kernel computes what the CPU backend does op by op.
//
// Three shapes of kernel:
//   * element-wise groups: a grid-stride loop, one element per thread (or a vector of 4 / 8
//     elements through 16-byte loads and stores when no operand broadcasts);
//   * row groups (a reduction or normalisation over trailing dimensions): one thread block
//     per row, block-wide reductions through warp shuffles, the fused element-wise prologue
//     recomputed in each pass over the row;
//   * every other op (convolutions, pooling, gathers, losses, optimizer updates, reductions
//     over other axes, ...): a direct kernel, usually one thread per result element.
//
//
// This file picks the kernel family for an op or fusion group; the families live next to it
// (Elementwise, Reductions, NN, DataMovement), their shared pieces in Kernel.cpp.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::precis;

namespace precis {

using namespace cuda;

namespace {

/// The body ops of a fusion group that compute something (not constants, not the yield).
SmallVector<Operation *> computeOps(Block &body) {
  SmallVector<Operation *> ops;
  for (Operation &op : body.without_terminator())
    if (!isa<ConstantOp>(op))
      ops.push_back(&op);
  return ops;
}

} // namespace

bool isCollectiveOp(Operation *op) { return isa<AllReduceOp, AllGatherOp, ShardOp>(op); }

bool isCublasOp(Operation *op) {
  return isa<MatmulOp, GemmOp>(op) || op->getName().getStringRef() == "precis.scaled_matmul";
}

std::optional<GemmEpilogue> matchGemmEpilogue(Operation *op) {
  auto fusion = dyn_cast<FusionOp>(op);
  if (!fusion || fusion.getKind() != FusionKind::Gemm || !fusion.getEpilogue())
    return std::nullopt;
  // precis-fuse recorded the epilogue; its body is the GEMM, then the bias add when there is
  // one, then the activation when there is one. What is left to find is which values of the
  // body are the bias, the result and the GELU input.
  GemmEpilogueKind kind = *fusion.getEpilogue();
  StringRef name = stringifyGemmEpilogueKind(kind);
  const bool hasBias = name.starts_with("bias"), hasAux = name.ends_with("_aux");
  Block &body = fusion.getBody().front();
  SmallVector<Operation *> ops = computeOps(body);
  if (ops.empty() || !isCublasOp(ops.front()))
    return std::nullopt;
  GemmEpilogue e;
  e.gemm = ops.front();
  auto outer = [&](Value inner) -> Value {
    if (auto arg = dyn_cast<BlockArgument>(inner))
      return fusion.getInputs()[arg.getArgNumber()];
    return Value();
  };
  for (Value operand : e.gemm->getOperands())
    e.inputs.push_back(outer(operand));
  if (hasBias) {
    auto add = ops.size() > 1 ? dyn_cast<AddOp>(ops[1]) : nullptr;
    if (!add)
      return std::nullopt;
    Value product = e.gemm->getResult(0);
    // A splat constant bias cloned into the body is not an operand: outer() gives null.
    e.inputs.push_back(outer(add.getLhs() == product ? add.getRhs() : add.getLhs()));
  }
  YieldOp yield = fusion.getYield();
  auto resultOf = [&](Value inner) -> Value {
    for (auto [i, y] : llvm::enumerate(yield.getValues()))
      if (y == inner)
        return fusion.getResult(i);
    return Value();
  };
  Operation *last = ops.back();
  e.outputs.push_back(resultOf(last->getResult(0)));
  if (hasAux)
    e.outputs.push_back(resultOf(last->getOperand(0)));
  if (llvm::is_contained(e.outputs, Value()) || llvm::is_contained(e.inputs, Value()) ||
      e.outputs.size() != fusion.getNumResults())
    return std::nullopt;
  e.epilogue = name.str();
  return e;
}

FailureOr<CudaKernel> emitCudaKernel(Operation *op) {
  if (auto fusion = dyn_cast<FusionOp>(op)) {
    Block &body = fusion.getBody().front();
    SmallVector<Value> inputs(body.getArguments().begin(), body.getArguments().end());
    SmallVector<Value> outputs(fusion.getYield().getValues());
    Kernel k(op, inputs, outputs);
    SmallVector<Operation *> ops = computeOps(body);
    switch (fusion.getKind()) {
    case FusionKind::Row:
      for (Operation *inner : ops)
        if (rowAxis(inner) >= 0)
          return emitRowKernel(k, ops, inner);
      return op->emitError("CUDA emitter: a row group without a row reduction");
    case FusionKind::Elementwise:
      for (Operation *inner : ops)
        if (!isFusibleElementwise(inner))
          return inner->emitError("CUDA emitter: cannot fuse ") << inner->getName();
      return emitElementwiseKernel(k, ops);
    case FusionKind::Gemm:
      return op->emitError("CUDA emitter: a GEMM group whose epilogue cuBLASLt cannot take");
    }
    llvm_unreachable("unknown fusion kind");
  }
  if (isCublasOp(op))
    return op->emitError("CUDA emitter: ") << op->getName() << " runs through cuBLASLt";
  if (isCollectiveOp(op))
    return op->emitError("CUDA emitter: ") << op->getName() << " runs through the communicator";
  SmallVector<Value> all(op->getOperands());
  all.append(op->result_begin(), op->result_end());
  for (Value v : all)
    if (!isa<RankedTensorType>(v.getType()) || storageType(elemType(v)).empty())
      return op->emitError("CUDA emitter: unsupported type ") << v.getType();
  SmallVector<Value> inputs(op->getOperands()), outputs(op->getResults());
  Kernel k(op, inputs, outputs);
  if (isFusibleElementwise(op))
    return emitElementwiseKernel(k, {op});
  if (rowAxis(op) >= 0)
    return emitRowKernel(k, {op}, op);
  return llvm::TypeSwitch<Operation *, FailureOr<CudaKernel>>(op)
      .Case<Conv2DOp, Conv2DGradInputOp, Conv2DGradWeightOp>(
          [&](Operation *o) { return emitConv(k, o); })
      .Case<MaxPool2DOp, AvgPool2DOp, MaxPool2DGradOp, AvgPool2DGradOp>(
          [&](Operation *o) { return emitPool(k, o); })
      .Case<ReduceSumOp, ReduceMeanOp, ReduceMaxOp>(
          [&](Operation *o) { return emitGenericReduce(k, o); })
      .Case<SoftmaxOp, LogSoftmaxOp>([&](Operation *o) { return emitGenericSoftmax(k, o); })
      .Case<BatchNormOp>([&](BatchNormOp o) { return emitBatchNorm(k, o); })
      .Case<SoftmaxCrossEntropyOp, NllLossOp>([&](Operation *o) { return emitLoss(k, o); })
      .Case<NllLossGradOp>([&](NllLossGradOp o) { return emitNllLossGrad(k, o); })
      .Case<GatherOp, GatherGradOp, GatherElementsOp, GatherElementsGradOp, GatherNDOp, ScatterNDOp,
            SliceOp, SliceGradOp, PadOp, TriluOp, CumSumOp, ArgMaxOp, ArgMinOp, TopKOp, TransposeOp,
            ConcatOp, SplitOp>([&](Operation *o) { return emitDataMovement(k, o); })
      .Case<AttentionOp, AttentionGradOp>([&](Operation *o) { return emitAttention(k, o); })
      .Case<ResizeOp, ResizeGradOp>([&](Operation *o) { return emitResize(k, o); })
      .Case<DropoutOp>([&](DropoutOp o) { return emitDropout(k, o); })
      .Case<RotaryOp>([&](RotaryOp o) { return emitRotary(k, o); })
      .Case<AllFiniteOp>([&](Operation *o) { return emitAllFinite(k, o); })
      .Case<SgdUpdateOp, AdamUpdateOp>([&](Operation *o) { return emitOptimizer(k, o); })
      .Default([&](Operation *o) -> FailureOr<CudaKernel> {
        return o->emitError("no CUDA kernel for ") << o->getName();
      });
}

} // namespace precis
