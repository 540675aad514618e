//===- HostTensor.h - constant values and the ops' folding on them -*- C++ -*-===//
//
// A tensor whose value is known at compile time, and the reference evaluation of every precis
// op that folds. The ops' folders (PrecisFolders.cpp) are the only callers of the eval*
// functions: the importer folds shape arithmetic by building ops and asking them to fold, and
// the canonicalizer folds through the same code, so each op's semantics on constants are
// written once.
//
// Float elements are held as doubles (exact for every supported float type) and rounded to
// the element type after each op; integer and bool elements as int64, wrapped to the element
// width. Rounding to fp8 saturates to the largest finite value, as numerics.h defines casts.
//
//===----------------------------------------------------------------------===//

#ifndef PRECIS_DIALECT_PRECIS_IR_HOSTTENSOR_H
#define PRECIS_DIALECT_PRECIS_IR_HOSTTENSOR_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace mlir::precis {

class HostTensor {
public:
  /// A zero-filled tensor of `type`.
  explicit HostTensor(RankedTensorType type);

  static HostTensor fromInts(RankedTensorType type, llvm::ArrayRef<int64_t> values);
  static HostTensor fromDoubles(RankedTensorType type, llvm::ArrayRef<double> values);
  /// A rank-1 int64 tensor (shapes, axes, indices).
  static HostTensor i64Vector(MLIRContext *context, llvm::ArrayRef<int64_t> values);
  /// Decodes a DenseElementsAttr of a supported element type.
  static HostTensor fromAttr(DenseElementsAttr attr);
  /// Decodes a constant operand as folders see it (inline or a dense_resource blob); nullopt
  /// when `attr` is not constant elements.
  static std::optional<HostTensor> fromConstant(Attribute attr);

  RankedTensorType getType() const { return type; }
  Type getElementType() const { return type.getElementType(); }
  llvm::ArrayRef<int64_t> getShape() const { return type.getShape(); }
  int64_t getRank() const { return type.getRank(); }
  int64_t size() const { return type.getNumElements(); }
  bool isFloat() const { return isa<FloatType>(getElementType()); }

  /// Element `i` converted (float elements truncate toward zero as integers).
  int64_t getInt(int64_t i) const;
  double getDouble(int64_t i) const;
  /// Stores `v` in element `i`, rounded or wrapped to the element type.
  void setInt(int64_t i, int64_t v);
  void setDouble(int64_t i, double v);

  /// All elements as int64 (for shapes, axes, indices).
  llvm::SmallVector<int64_t> toInts() const;
  /// The same elements under another shape of the same element count.
  HostTensor reshaped(llvm::ArrayRef<int64_t> shape) const;
  /// The value as a DenseElementsAttr (a splat when every element is equal).
  DenseElementsAttr toAttr() const;

private:
  RankedTensorType type;
  std::vector<double> floats;
  std::vector<int64_t> ints;
};

/// NumPy broadcast of two shapes; nullopt when they do not broadcast.
std::optional<llvm::SmallVector<int64_t>> broadcastShapes(llvm::ArrayRef<int64_t> a,
                                                          llvm::ArrayRef<int64_t> b);

/// Element-wise binary functions (comparisons give i1).
enum class BinaryFn {
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Mod,  // remainder of floor division (sign of the divisor)
  FMod, // remainder of truncated division (sign of the dividend), C fmod
  Max,
  Min,
  Equal,
  Less,
  LessOrEqual,
  Greater,
  GreaterOrEqual
};
enum class UnaryFn {
  Neg,
  Abs,
  Sqrt,
  Rsqrt,
  Reciprocal,
  Exp,
  Log,
  Erf,
  Tanh,
  Sigmoid,
  Relu,
  Not,
  Sin,
  Softplus,
  Cos
};
enum class ReduceFn { Sum, Mean, Max };

/// Reference evaluation of the folded ops. nullopt where the op does not fold: shapes that
/// do not broadcast, integer division by zero, an index out of range, a float function of
/// integers.
std::optional<HostTensor> evalBinary(BinaryFn fn, const HostTensor &lhs, const HostTensor &rhs);
std::optional<HostTensor> evalUnary(UnaryFn fn, const HostTensor &input);
HostTensor evalCast(const HostTensor &input, Type elementType);
/// i1 tensor, true where `input` (float) is a NaN.
HostTensor evalIsNaN(const HostTensor &input);
/// max(0, min(1, alpha * x + beta)), NaN propagating; nullopt for integers.
std::optional<HostTensor> evalHardSigmoid(const HostTensor &input, double alpha, double beta);
std::optional<HostTensor> evalWhere(const HostTensor &cond, const HostTensor &onTrue,
                                    const HostTensor &onFalse);
HostTensor evalTranspose(const HostTensor &input, llvm::ArrayRef<int64_t> perm);
/// `start`/`limit`/`step` as `precis.slice` takes them.
HostTensor evalSlice(const HostTensor &input, llvm::ArrayRef<int64_t> start,
                     llvm::ArrayRef<int64_t> limit, llvm::ArrayRef<int64_t> step);
std::optional<HostTensor> evalGather(const HostTensor &data, const HostTensor &indices,
                                     int64_t axis);
/// `precis.pad`: `pads` [begins..., ends...] non-negative; `fill` 0 constant (`value`),
/// 1 reflect, 2 edge (PadMode's values).
HostTensor evalPad(const HostTensor &input, llvm::ArrayRef<int64_t> pads, int fill, double value);
/// `precis.trilu`: rank >= 2; elements off the kept triangle become zero.
HostTensor evalTrilu(const HostTensor &input, bool upper, int64_t k);
/// `precis.cumsum` along `axis` (non-negative).
HostTensor evalCumSum(const HostTensor &input, int64_t axis, bool exclusive, bool reverse);
HostTensor evalConcat(llvm::ArrayRef<const HostTensor *> inputs, int64_t axis);
HostTensor evalExpand(const HostTensor &input, llvm::ArrayRef<int64_t> shape);
/// `axes` non-negative; empty reduces every dimension.
HostTensor evalReduce(ReduceFn fn, const HostTensor &input, llvm::ArrayRef<int64_t> axes,
                      bool keepdims);

} // namespace mlir::precis

#endif // PRECIS_DIALECT_PRECIS_IR_HOSTTENSOR_H
