//===- KernelBuilder.h - shared by the CUDA kernel generators ---*- C++ -*-===//
//
// Private to lib/Target/Cuda. The kernel being written (parameters, launch configuration,
// body), the CUDA spelling of element types and literals, and the entry point of each kernel
// family, one file each (Elementwise, Reductions, NN, DataMovement), that emitCudaKernel
// (CudaEmitter.cpp) dispatches to.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_LIB_TARGET_CUDA_KERNELBUILDER_H
#define PRECIS_LIB_TARGET_CUDA_KERNELBUILDER_H

#include "precis/Dialect/Precis/IR/PrecisOps.h"
#include "precis/Target/CudaEmitter.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <array>
#include <optional>
#include <string>

namespace precis::cuda {

// The generators are written against MLIR's and the dialect's names throughout; this private
// namespace takes them in once.
using namespace mlir;
using namespace mlir::precis;

//===----------------------------------------------------------------------===//
// Types and literals.
//===----------------------------------------------------------------------===//

/// The type of a tensor value, its element type, element count and shape.
RankedTensorType tensorType(Value v);
Type elemType(Value v);
int64_t numel(Value v);
ArrayRef<int64_t> shapeOf(Value v);
int64_t product(ArrayRef<int64_t> dims);

/// How the artifact stores an element (bool takes a byte).
std::string storageType(Type t);
/// The type a kernel computes an element in.
std::string computeType(Type t);
/// Storage expression `x` to its compute type: exact for every format.
std::string decode(Type t, const std::string &x);
/// Compute-type expression `v` to storage, rounding to nearest even (saturating for fp8).
std::string encode(Type t, const std::string &v);
/// `v` (compute type) rounded to the values of element type `t`.
std::string roundTo(Type t, const std::string &v);
/// A floating-point literal of compute type `ct` ("float" or "double").
std::string floatLiteral(double v, StringRef ct = "float");
/// The value of a splat constant, as a literal of its compute type.
std::optional<std::string> splatLiteral(Value v);
/// `name` + "f" for float math, `name` for double.
std::string fn(StringRef name, StringRef ct);
/// Linear index into an operand of shape `from` broadcast (NumPy style) to `to`.
std::string broadcastIndex(ArrayRef<int64_t> from, ArrayRef<int64_t> to, StringRef idx);
/// Statements declaring the coordinates `prefix0 ...` of linear index `idx` in `shape`.
std::string coordinates(ArrayRef<int64_t> shape, StringRef idx, StringRef prefix);

//===----------------------------------------------------------------------===//
// The kernel being written: parameters, launch configuration, body.
//===----------------------------------------------------------------------===//

class Kernel {
public:
  Kernel(Operation *op, ArrayRef<Value> inputs, ArrayRef<Value> outputs)
      : op_(op), inputs_(inputs), outputs_(outputs) {
    for (auto [i, v] : llvm::enumerate(inputs))
      inputIndex_.try_emplace(v, i);
  }

  Operation *op() const { return op_; }
  ArrayRef<Value> inputs() const { return inputs_; }
  ArrayRef<Value> outputs() const { return outputs_; }
  std::optional<unsigned> inputIndexOf(Value v) const {
    auto it = inputIndex_.find(v);
    return it == inputIndex_.end() ? std::nullopt : std::optional<unsigned>(it->second);
  }

  /// The compute-type value of input `i` at linear index `idx`.
  std::string load(unsigned i, const std::string &idx) const {
    return decode(elemType(inputs_[i]), "in" + std::to_string(i) + "[" + idx + "]");
  }
  /// The statement storing compute-type `v` at `idx` of output `i`.
  std::string store(unsigned i, const std::string &idx, const std::string &v) const {
    return "out" + std::to_string(i) + "[" + idx + "] = " + encode(elemType(outputs_[i]), v) +
           ";\n";
  }

  /// Finishes the kernel: prelude, signature, body.
  CudaKernel finish(StringRef kind, const std::string &body) const;

  std::array<int64_t, 3> grid = {1, 1, 1}, block = {256, 1, 1};
  /// Declarations placed before the kernel (constant tables).
  std::string globals;
  /// The kernel reads `rank`, the process's data-parallel rank (CudaKernel::takesRank).
  bool takesRank = false;

  /// A grid-stride launch over `n` work items with `threads` per block.
  void launchOver(int64_t n, int64_t threads = 256) {
    block = {threads, 1, 1};
    grid = {std::max<int64_t>(1, std::min<int64_t>((n + threads - 1) / threads, 1 << 20)), 1, 1};
  }

private:
  Operation *op_;
  SmallVector<Value> inputs_, outputs_;
  llvm::DenseMap<Value, unsigned> inputIndex_;
};

/// `for (t ...)` grid-stride loop header over `n` items.
std::string gridLoop(int64_t n, StringRef var = "t");
/// `v` as a long long literal.
std::string L(int64_t v);
int64_t normAxis(int64_t axis, size_t rank);
SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape);
/// Accumulator type for reading element type `t`.
std::string accType(Type t);
/// A kernel with one thread (grid-stride) per element of `n`, body given `t`.
CudaKernel perElement(Kernel &k, StringRef kind, int64_t n, const std::string &inner);
int64_t attrInt(Operation *op, StringRef name, int64_t dflt);
SmallVector<int64_t> attrInts(Operation *op, StringRef name, ArrayRef<int64_t> dflt);

//===----------------------------------------------------------------------===//
// The kernel families.
//===----------------------------------------------------------------------===//

// Elementwise.cpp
/// Emits the statements computing `ops` (element-wise, in order) at linear index `idx`.
LogicalResult emitElementwise(const Kernel &k, ArrayRef<Operation *> ops, StringRef idx,
                              llvm::DenseMap<Value, std::string> &names, raw_ostream &os);
FailureOr<CudaKernel> emitElementwiseKernel(Kernel &k, ArrayRef<Operation *> ops);
FailureOr<CudaKernel> emitRotary(Kernel &k, RotaryOp op);

// Reductions.cpp
/// First dimension of the trailing run `op` reduces or normalises over, or -1.
int64_t rowAxis(Operation *op);
FailureOr<CudaKernel> emitRowKernel(Kernel &k, ArrayRef<Operation *> ops, Operation *red);
FailureOr<CudaKernel> emitGenericReduce(Kernel &k, Operation *op);
FailureOr<CudaKernel> emitGenericSoftmax(Kernel &k, Operation *op);
FailureOr<CudaKernel> emitBatchNorm(Kernel &k, BatchNormOp bn);

// NN.cpp
FailureOr<CudaKernel> emitConv(Kernel &k, Operation *op);
FailureOr<CudaKernel> emitPool(Kernel &k, Operation *op);
FailureOr<CudaKernel> emitLoss(Kernel &k, Operation *op);
FailureOr<CudaKernel> emitNllLossGrad(Kernel &k, NllLossGradOp op);
FailureOr<CudaKernel> emitDropout(Kernel &k, DropoutOp op);
FailureOr<CudaKernel> emitOptimizer(Kernel &k, Operation *op);
FailureOr<CudaKernel> emitAllFinite(Kernel &k, Operation *op);

// DataMovement.cpp
FailureOr<CudaKernel> emitDataMovement(Kernel &k, Operation *op);

// Attention.cpp
FailureOr<CudaKernel> emitAttention(Kernel &k, Operation *op);

// Resize.cpp
FailureOr<CudaKernel> emitResize(Kernel &k, Operation *op);

} // namespace precis::cuda

#endif // PRECIS_LIB_TARGET_CUDA_KERNELBUILDER_H
