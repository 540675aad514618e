//===- HostTensor.cpp - constant values and the reference evaluation of folds -===//
//
// The value folders work on (HostTensor.h) and a reference implementation of each folded
// op. Errors are not reported here: an op that cannot fold (integer division by zero, an
// index out of range) stays in the IR, where the importer or the verifier reports it.
//
//===----------------------------------------------------------------------===//

#include "precis/Dialect/Precis/IR/HostTensor.h"

#include "precis/Dialect/Precis/IR/PrecisOps.h"
#include "precis/runtime/numerics.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace mlir;

namespace mlir::precis {
//===----------------------------------------------------------------------===//
// HostTensor.
//===----------------------------------------------------------------------===//

/// Rounds `v` to the nearest value of `type` (ties to even), as a conversion to it would;
/// the fp8 types saturate to their largest finite value (numerics.h), infinities included.
static double roundToFloatType(double v, FloatType type) {
  if (type.isF64())
    return v;
  if (type.isF32())
    return static_cast<double>(static_cast<float>(v));
  double saturation = type.isFloat8E4M3FN() ? ::precis::kFP8E4M3FNMax
                      : type.isFloat8E5M2() ? ::precis::kFP8E5M2Max
                                            : 0.0;
  if (saturation != 0.0 && std::fabs(v) > saturation)
    v = std::copysign(saturation, v);
  APFloat f(v);
  bool losesInfo;
  f.convert(type.getFloatSemantics(), APFloat::rmNearestTiesToEven, &losesInfo);
  return f.convertToDouble();
}

/// Wraps `v` to the width and signedness of `type` (bool: non-zero is true).
static int64_t wrapToIntType(int64_t v, Type type) {
  auto intType = cast<IntegerType>(type);
  switch (intType.getWidth()) {
  case 1:
    return v != 0;
  case 8:
    return intType.isUnsigned() ? static_cast<int64_t>(static_cast<uint8_t>(v))
                                : static_cast<int64_t>(static_cast<int8_t>(v));
  case 32:
    return static_cast<int32_t>(v);
  default:
    return v;
  }
}

/// Truncates toward zero, saturating at the int64 range (NaN becomes 0).
static int64_t truncateToInt(double v) {
  if (std::isnan(v))
    return 0;
  if (v >= 9.2233720368547758e18)
    return std::numeric_limits<int64_t>::max();
  if (v <= -9.2233720368547758e18)
    return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(std::trunc(v));
}

HostTensor::HostTensor(RankedTensorType type) : type(type) {
  if (isFloat())
    floats.assign(size(), 0.0);
  else
    ints.assign(size(), 0);
}

HostTensor HostTensor::fromInts(RankedTensorType type, ArrayRef<int64_t> values) {
  HostTensor t(type);
  for (auto [i, v] : llvm::enumerate(values))
    t.setInt(i, v);
  return t;
}

HostTensor HostTensor::fromDoubles(RankedTensorType type, ArrayRef<double> values) {
  HostTensor t(type);
  for (auto [i, v] : llvm::enumerate(values))
    t.setDouble(i, v);
  return t;
}

HostTensor HostTensor::i64Vector(MLIRContext *context, ArrayRef<int64_t> values) {
  auto type =
      RankedTensorType::get({static_cast<int64_t>(values.size())}, IntegerType::get(context, 64));
  return fromInts(type, values);
}

HostTensor HostTensor::fromAttr(DenseElementsAttr attr) {
  HostTensor t(cast<RankedTensorType>(attr.getType()));
  if (t.isFloat()) {
    for (auto [i, v] : llvm::enumerate(attr.getValues<APFloat>()))
      t.floats[i] = v.convertToDouble();
  } else if (t.getElementType().isInteger(1)) {
    for (auto [i, v] : llvm::enumerate(attr.getValues<bool>()))
      t.ints[i] = v;
  } else {
    bool isUnsigned = t.getElementType().isUnsignedInteger();
    for (auto [i, v] : llvm::enumerate(attr.getValues<APInt>()))
      t.ints[i] = isUnsigned ? static_cast<int64_t>(v.getZExtValue()) : v.getSExtValue();
  }
  return t;
}

std::optional<HostTensor> HostTensor::fromConstant(Attribute attr) {
  DenseElementsAttr dense = getDenseElements(attr);
  if (!dense || !isa<RankedTensorType>(dense.getType()))
    return std::nullopt;
  Type elt = dense.getElementType();
  if (!isa<FloatType>(elt) && !isa<IntegerType>(elt))
    return std::nullopt;
  return fromAttr(dense);
}

int64_t HostTensor::getInt(int64_t i) const {
  return isFloat() ? truncateToInt(floats[i]) : ints[i];
}

double HostTensor::getDouble(int64_t i) const {
  return isFloat() ? floats[i] : static_cast<double>(ints[i]);
}

void HostTensor::setInt(int64_t i, int64_t v) {
  if (isFloat())
    floats[i] = roundToFloatType(static_cast<double>(v), cast<FloatType>(getElementType()));
  else
    ints[i] = wrapToIntType(v, getElementType());
}

void HostTensor::setDouble(int64_t i, double v) {
  if (isFloat())
    floats[i] = roundToFloatType(v, cast<FloatType>(getElementType()));
  else
    ints[i] = wrapToIntType(truncateToInt(v), getElementType());
}

SmallVector<int64_t> HostTensor::toInts() const {
  SmallVector<int64_t> out;
  for (int64_t i = 0, e = size(); i < e; ++i)
    out.push_back(getInt(i));
  return out;
}

HostTensor HostTensor::reshaped(ArrayRef<int64_t> shape) const {
  HostTensor t = *this;
  t.type = RankedTensorType::get(shape, getElementType());
  return t;
}

DenseElementsAttr HostTensor::toAttr() const {
  Type elt = getElementType();
  // A splat (a ConstantOfShape mask, say) is stored as one element.
  bool splat = isFloat() ? llvm::all_equal(floats) : llvm::all_equal(ints);
  int64_t count = splat ? std::min<int64_t>(size(), 1) : size();
  auto toAPFloat = [&](double v) {
    APFloat f(v);
    bool losesInfo;
    f.convert(cast<FloatType>(elt).getFloatSemantics(), APFloat::rmNearestTiesToEven, &losesInfo);
    return f;
  };
  if (isFloat()) {
    SmallVector<APFloat> values;
    for (int64_t i = 0; i < count; ++i)
      values.push_back(toAPFloat(floats[i]));
    return splat && count ? DenseElementsAttr::get(type, values.front())
                          : DenseElementsAttr::get(type, values);
  }
  if (elt.isInteger(1)) {
    SmallVector<bool> values(ints.begin(), ints.begin() + count);
    return splat && count ? DenseElementsAttr::get(type, values.front())
                          : DenseElementsAttr::get(type, values);
  }
  SmallVector<APInt> values;
  for (int64_t i = 0; i < count; ++i)
    values.push_back(APInt(elt.getIntOrFloatBitWidth(), static_cast<uint64_t>(ints[i]),
                           /*isSigned=*/!elt.isUnsignedInteger()));
  return splat && count ? DenseElementsAttr::get(type, values.front())
                        : DenseElementsAttr::get(type, values);
}

//===----------------------------------------------------------------------===//
// Index arithmetic.
//===----------------------------------------------------------------------===//

/// Row-major strides of `shape`.
static SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * shape[d + 1];
  return strides;
}

/// The multi-index of flat element `flat` of `shape`.
static SmallVector<int64_t> unflatten(int64_t flat, ArrayRef<int64_t> shape) {
  SmallVector<int64_t> index(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    index[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  return index;
}

/// For every element of `resultShape`, the flat index of the element of a tensor of `shape`
/// that NumPy broadcasting reads (shapes right-aligned, size-1 dimensions repeated).
static std::vector<int64_t> broadcastIndices(ArrayRef<int64_t> shape,
                                             ArrayRef<int64_t> resultShape) {
  SmallVector<int64_t> strides = stridesOf(shape);
  int64_t offset = resultShape.size() - shape.size();
  int64_t count = 1;
  for (int64_t s : resultShape)
    count *= s;
  std::vector<int64_t> out(count);
  for (int64_t flat = 0; flat < count; ++flat) {
    SmallVector<int64_t> index = unflatten(flat, resultShape);
    int64_t src = 0;
    for (size_t d = 0; d < shape.size(); ++d)
      if (shape[d] != 1)
        src += index[d + offset] * strides[d];
    out[flat] = src;
  }
  return out;
}

/// A tensor of `type` whose element i is element `sources[i]` of `input`.
static HostTensor gatherElements(const HostTensor &input, RankedTensorType type,
                                 ArrayRef<int64_t> sources) {
  HostTensor out(type);
  for (auto [i, src] : llvm::enumerate(sources)) {
    if (input.isFloat())
      out.setDouble(i, input.getDouble(src));
    else
      out.setInt(i, input.getInt(src));
  }
  return out;
}

std::optional<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t x = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t y = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (x != y && x != 1 && y != 1)
      return std::nullopt;
    out[i] = x == 1 ? y : x;
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Folded ops.
//===----------------------------------------------------------------------===//

/// The comparison `fn` of `a` and `b`; nullopt when `fn` is not a comparison.
template <typename T> static std::optional<bool> compare(BinaryFn fn, T a, T b) {
  switch (fn) {
  case BinaryFn::Equal:
    return a == b;
  case BinaryFn::Less:
    return a < b;
  case BinaryFn::LessOrEqual:
    return a <= b;
  case BinaryFn::Greater:
    return a > b;
  case BinaryFn::GreaterOrEqual:
    return a >= b;
  default:
    return std::nullopt;
  }
}

/// `x ** n` for integers, by squaring (negative exponents give 0 except for bases 1 and -1).
static int64_t intPow(int64_t x, int64_t n) {
  if (n < 0)
    return x == 1 ? 1 : x == -1 ? (n % 2 ? -1 : 1) : 0;
  int64_t result = 1;
  for (; n; n >>= 1, x *= x)
    if (n & 1)
      result *= x;
  return result;
}

/// Float arithmetic in double (the caller rounds to the element type); NaN propagates
/// through max and min.
static double floatArithmetic(BinaryFn fn, double a, double b) {
  switch (fn) {
  case BinaryFn::Add:
    return a + b;
  case BinaryFn::Sub:
    return a - b;
  case BinaryFn::Mul:
    return a * b;
  case BinaryFn::Div:
    return a / b;
  case BinaryFn::Pow:
    return std::pow(a, b);
  case BinaryFn::FMod:
    return std::fmod(a, b);
  case BinaryFn::Mod: {
    double r = std::fmod(a, b);
    return r != 0 && (r < 0) != (b < 0) ? r + b : r;
  }
  case BinaryFn::Max:
    return std::isnan(a) || a > b ? a : b;
  case BinaryFn::Min:
    return std::isnan(a) || a < b ? a : b;
  default:
    llvm_unreachable("not an arithmetic function");
  }
}

/// Integer arithmetic wrapping like two's complement (the caller wraps to the element
/// width); nullopt for division by zero.
static std::optional<int64_t> intArithmetic(BinaryFn fn, int64_t a, int64_t b) {
  switch (fn) {
  case BinaryFn::Add:
    return static_cast<int64_t>(uint64_t(a) + uint64_t(b));
  case BinaryFn::Sub:
    return static_cast<int64_t>(uint64_t(a) - uint64_t(b));
  case BinaryFn::Mul:
    return static_cast<int64_t>(uint64_t(a) * uint64_t(b));
  case BinaryFn::Div:
    if (b == 0)
      return std::nullopt;
    return a == std::numeric_limits<int64_t>::min() && b == -1 ? a : a / b;
  case BinaryFn::Pow:
    return intPow(a, b);
  case BinaryFn::FMod:
  case BinaryFn::Mod: {
    if (b == 0)
      return std::nullopt;
    int64_t r = b == -1 ? 0 : a % b;
    if (fn == BinaryFn::Mod && r != 0 && (r < 0) != (b < 0))
      r += b;
    return r;
  }
  case BinaryFn::Max:
    return std::max(a, b);
  case BinaryFn::Min:
    return std::min(a, b);
  default:
    llvm_unreachable("not an arithmetic function");
  }
}

std::optional<HostTensor> evalBinary(BinaryFn fn, const HostTensor &lhs, const HostTensor &rhs) {
  auto shape = broadcastShapes(lhs.getShape(), rhs.getShape());
  if (!shape)
    return std::nullopt;
  bool comparison = compare<int64_t>(fn, 0, 0).has_value();
  Type elt = comparison ? IntegerType::get(lhs.getType().getContext(), 1) : lhs.getElementType();
  HostTensor out(RankedTensorType::get(*shape, elt));
  std::vector<int64_t> li = broadcastIndices(lhs.getShape(), *shape);
  std::vector<int64_t> ri = broadcastIndices(rhs.getShape(), *shape);
  for (int64_t i = 0, e = out.size(); i < e; ++i) {
    if (lhs.isFloat()) {
      double a = lhs.getDouble(li[i]), b = rhs.getDouble(ri[i]);
      if (comparison)
        out.setInt(i, *compare(fn, a, b));
      else
        out.setDouble(i, floatArithmetic(fn, a, b));
      continue;
    }
    int64_t a = lhs.getInt(li[i]), b = rhs.getInt(ri[i]);
    if (comparison) {
      out.setInt(i, *compare(fn, a, b));
      continue;
    }
    std::optional<int64_t> v = intArithmetic(fn, a, b);
    if (!v)
      return std::nullopt;
    out.setInt(i, *v);
  }
  return out;
}

std::optional<HostTensor> evalUnary(UnaryFn fn, const HostTensor &input) {
  HostTensor out(input.getType());
  for (int64_t i = 0, e = input.size(); i < e; ++i) {
    if (!input.isFloat()) {
      int64_t x = input.getInt(i);
      switch (fn) {
      case UnaryFn::Neg:
        out.setInt(i, static_cast<int64_t>(0 - uint64_t(x)));
        break;
      case UnaryFn::Abs:
        out.setInt(i, x < 0 ? -x : x);
        break;
      case UnaryFn::Relu:
        out.setInt(i, std::max<int64_t>(x, 0));
        break;
      case UnaryFn::Not:
        out.setInt(i, !x);
        break;
      default:
        return std::nullopt;
      }
      continue;
    }
    double x = input.getDouble(i);
    switch (fn) {
    case UnaryFn::Neg:
      out.setDouble(i, -x);
      break;
    case UnaryFn::Abs:
      out.setDouble(i, std::fabs(x));
      break;
    case UnaryFn::Sqrt:
      out.setDouble(i, std::sqrt(x));
      break;
    case UnaryFn::Rsqrt:
      out.setDouble(i, 1.0 / std::sqrt(x));
      break;
    case UnaryFn::Reciprocal:
      out.setDouble(i, 1.0 / x);
      break;
    case UnaryFn::Exp:
      out.setDouble(i, std::exp(x));
      break;
    case UnaryFn::Log:
      out.setDouble(i, std::log(x));
      break;
    case UnaryFn::Erf:
      out.setDouble(i, std::erf(x));
      break;
    case UnaryFn::Tanh:
      out.setDouble(i, std::tanh(x));
      break;
    case UnaryFn::Sigmoid:
      out.setDouble(i, 1.0 / (1.0 + std::exp(-x)));
      break;
    case UnaryFn::Relu:
      out.setDouble(i, x > 0 ? x : 0.0);
      break;
    case UnaryFn::Softplus:
      out.setDouble(i, std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))));
      break;
    case UnaryFn::Sin:
      out.setDouble(i, std::sin(x));
      break;
    case UnaryFn::Cos:
      out.setDouble(i, std::cos(x));
      break;
    case UnaryFn::Not:
      return std::nullopt;
    }
  }
  return out;
}

HostTensor evalCast(const HostTensor &input, Type elementType) {
  HostTensor out(RankedTensorType::get(input.getShape(), elementType));
  for (int64_t i = 0, e = input.size(); i < e; ++i) {
    if (elementType.isInteger(1))
      out.setInt(i, input.getDouble(i) != 0.0);
    else if (input.isFloat())
      out.setDouble(i, input.getDouble(i));
    else
      out.setInt(i, input.getInt(i));
  }
  return out;
}

HostTensor evalIsNaN(const HostTensor &input) {
  HostTensor out(
      RankedTensorType::get(input.getShape(), IntegerType::get(input.getType().getContext(), 1)));
  for (int64_t i = 0, e = input.size(); i < e; ++i)
    out.setInt(i, input.isFloat() && std::isnan(input.getDouble(i)));
  return out;
}

std::optional<HostTensor> evalHardSigmoid(const HostTensor &input, double alpha, double beta) {
  if (!input.isFloat())
    return std::nullopt;
  HostTensor out(input.getType());
  for (int64_t i = 0, e = input.size(); i < e; ++i) {
    double v = alpha * input.getDouble(i) + beta;
    out.setDouble(i, v < 0 ? 0.0 : v > 1 ? 1.0 : v);
  }
  return out;
}

std::optional<HostTensor> evalWhere(const HostTensor &cond, const HostTensor &onTrue,
                                    const HostTensor &onFalse) {
  auto shape = broadcastShapes(cond.getShape(), onTrue.getShape());
  if (shape)
    shape = broadcastShapes(*shape, onFalse.getShape());
  if (!shape)
    return std::nullopt;
  HostTensor out(RankedTensorType::get(*shape, onTrue.getElementType()));
  std::vector<int64_t> ci = broadcastIndices(cond.getShape(), *shape);
  std::vector<int64_t> ti = broadcastIndices(onTrue.getShape(), *shape);
  std::vector<int64_t> fi = broadcastIndices(onFalse.getShape(), *shape);
  for (int64_t i = 0, e = out.size(); i < e; ++i) {
    const HostTensor &src = cond.getInt(ci[i]) ? onTrue : onFalse;
    int64_t j = cond.getInt(ci[i]) ? ti[i] : fi[i];
    if (out.isFloat())
      out.setDouble(i, src.getDouble(j));
    else
      out.setInt(i, src.getInt(j));
  }
  return out;
}

HostTensor evalTranspose(const HostTensor &input, ArrayRef<int64_t> perm) {
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(input.getShape()[p]);
  SmallVector<int64_t> inStrides = stridesOf(input.getShape());
  std::vector<int64_t> sources(input.size());
  for (int64_t flat = 0, e = input.size(); flat < e; ++flat) {
    SmallVector<int64_t> index = unflatten(flat, shape);
    int64_t src = 0;
    for (size_t d = 0; d < perm.size(); ++d)
      src += index[d] * inStrides[perm[d]];
    sources[flat] = src;
  }
  return gatherElements(input, RankedTensorType::get(shape, input.getElementType()), sources);
}

HostTensor evalSlice(const HostTensor &input, ArrayRef<int64_t> start, ArrayRef<int64_t> limit,
                     ArrayRef<int64_t> step) {
  SmallVector<int64_t> shape;
  for (size_t d = 0; d < start.size(); ++d) {
    int64_t n = step[d] > 0
                    ? (limit[d] > start[d] ? (limit[d] - start[d] + step[d] - 1) / step[d] : 0)
                    : (start[d] > limit[d] ? (start[d] - limit[d] - step[d] - 1) / -step[d] : 0);
    shape.push_back(n);
  }
  SmallVector<int64_t> inStrides = stridesOf(input.getShape());
  auto type = RankedTensorType::get(shape, input.getElementType());
  std::vector<int64_t> sources(type.getNumElements());
  for (int64_t flat = 0, e = sources.size(); flat < e; ++flat) {
    SmallVector<int64_t> index = unflatten(flat, shape);
    int64_t src = 0;
    for (size_t d = 0; d < shape.size(); ++d)
      src += (start[d] + index[d] * step[d]) * inStrides[d];
    sources[flat] = src;
  }
  return gatherElements(input, type, sources);
}

HostTensor evalPad(const HostTensor &input, ArrayRef<int64_t> pads, int fill, double value) {
  ArrayRef<int64_t> in = input.getShape();
  const size_t rank = in.size();
  SmallVector<int64_t> shape;
  for (size_t d = 0; d < rank; ++d)
    shape.push_back(pads[d] + in[d] + pads[d + rank]);
  HostTensor out(RankedTensorType::get(shape, input.getElementType()));
  SmallVector<int64_t> inStrides = stridesOf(in);
  for (int64_t flat = 0, e = out.size(); flat < e; ++flat) {
    SmallVector<int64_t> index = unflatten(flat, shape);
    int64_t src = 0;
    bool inside = true;
    for (size_t d = 0; d < rank; ++d) {
      int64_t i = index[d] - pads[d];
      if (i < 0 || i >= in[d]) {
        if (fill == 0)
          inside = false;
        else if (fill == 1)
          i = i < 0 ? -i : 2 * (in[d] - 1) - i;
        else
          i = i < 0 ? 0 : in[d] - 1;
      }
      src += i * inStrides[d];
    }
    if (out.isFloat())
      out.setDouble(flat, inside ? input.getDouble(src) : value);
    else
      out.setInt(flat, inside                              ? input.getInt(src)
                       : out.getElementType().isInteger(1) ? value != 0.0
                                                           : static_cast<int64_t>(value));
  }
  return out;
}

HostTensor evalTrilu(const HostTensor &input, bool upper, int64_t k) {
  ArrayRef<int64_t> shape = input.getShape();
  const int64_t rows = shape[shape.size() - 2], cols = shape.back();
  HostTensor out(input.getType());
  for (int64_t flat = 0, e = out.size(); flat < e; ++flat) {
    const int64_t j = flat % cols, i = (flat / cols) % rows;
    const bool keep = upper ? j - i >= k : j - i <= k;
    if (out.isFloat())
      out.setDouble(flat, keep ? input.getDouble(flat) : 0.0);
    else
      out.setInt(flat, keep ? input.getInt(flat) : 0);
  }
  return out;
}

HostTensor evalCumSum(const HostTensor &input, int64_t axis, bool exclusive, bool reverse) {
  ArrayRef<int64_t> shape = input.getShape();
  int64_t inner = 1, n = shape[axis];
  for (size_t d = axis + 1; d < shape.size(); ++d)
    inner *= shape[d];
  const int64_t outer = n * inner ? input.size() / (n * inner) : 0;
  HostTensor out(input.getType());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t e = 0; e < inner; ++e) {
      double acc = 0;
      int64_t iacc = 0;
      for (int64_t s = 0; s < n; ++s) {
        const int64_t i = reverse ? n - 1 - s : s, flat = (o * n + i) * inner + e;
        if (input.isFloat()) {
          if (!exclusive)
            acc += input.getDouble(flat);
          out.setDouble(flat, acc);
          if (exclusive)
            acc += input.getDouble(flat);
        } else {
          if (!exclusive)
            iacc = static_cast<int64_t>(uint64_t(iacc) + uint64_t(input.getInt(flat)));
          out.setInt(flat, iacc);
          if (exclusive)
            iacc = static_cast<int64_t>(uint64_t(iacc) + uint64_t(input.getInt(flat)));
        }
      }
    }
  return out;
}

std::optional<HostTensor> evalGather(const HostTensor &data, const HostTensor &indices,
                                     int64_t axis) {
  ArrayRef<int64_t> dataShape = data.getShape();
  SmallVector<int64_t> shape(dataShape.take_front(axis));
  llvm::append_range(shape, indices.getShape());
  llvm::append_range(shape, dataShape.drop_front(axis + 1));
  int64_t outer = 1, inner = 1, extent = dataShape[axis];
  for (int64_t d = 0; d < axis; ++d)
    outer *= dataShape[d];
  for (size_t d = axis + 1; d < dataShape.size(); ++d)
    inner *= dataShape[d];
  std::vector<int64_t> sources;
  sources.reserve(outer * indices.size() * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0, e = indices.size(); k < e; ++k) {
      int64_t index = indices.getInt(k);
      if (index < -extent || index >= extent)
        return std::nullopt;
      if (index < 0)
        index += extent;
      for (int64_t i = 0; i < inner; ++i)
        sources.push_back((o * extent + index) * inner + i);
    }
  return gatherElements(data, RankedTensorType::get(shape, data.getElementType()), sources);
}

HostTensor evalConcat(ArrayRef<const HostTensor *> inputs, int64_t axis) {
  SmallVector<int64_t> shape(inputs.front()->getShape());
  shape[axis] = 0;
  for (const HostTensor *t : inputs)
    shape[axis] += t->getShape()[axis];
  auto type = RankedTensorType::get(shape, inputs.front()->getElementType());
  HostTensor out(type);
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d)
    outer *= shape[d];
  int64_t next = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (const HostTensor *t : inputs) {
      int64_t chunk = t->size() / std::max<int64_t>(outer, 1);
      for (int64_t i = 0; i < chunk; ++i, ++next) {
        if (out.isFloat())
          out.setDouble(next, t->getDouble(o * chunk + i));
        else
          out.setInt(next, t->getInt(o * chunk + i));
      }
    }
  return out;
}

HostTensor evalExpand(const HostTensor &input, ArrayRef<int64_t> shape) {
  return gatherElements(input, RankedTensorType::get(shape, input.getElementType()),
                        broadcastIndices(input.getShape(), shape));
}

HostTensor evalReduce(ReduceFn fn, const HostTensor &input, ArrayRef<int64_t> axes, bool keepdims) {
  int64_t rank = input.getRank();
  SmallVector<bool> reduced(rank, axes.empty());
  for (int64_t a : axes)
    reduced[a] = true;
  SmallVector<int64_t> keptShape;
  for (int64_t d = 0; d < rank; ++d)
    keptShape.push_back(reduced[d] ? 1 : input.getShape()[d]);
  SmallVector<int64_t> outStrides = stridesOf(keptShape);
  int64_t outSize = 1;
  for (int64_t s : keptShape)
    outSize *= s;
  std::vector<double> acc(outSize, fn == ReduceFn::Max ? -INFINITY : 0.0);
  int64_t count = outSize ? input.size() / outSize : 0;
  for (int64_t flat = 0, e = input.size(); flat < e; ++flat) {
    SmallVector<int64_t> index = unflatten(flat, input.getShape());
    int64_t dst = 0;
    for (int64_t d = 0; d < rank; ++d)
      if (!reduced[d])
        dst += index[d] * outStrides[d];
    double v = input.getDouble(flat);
    switch (fn) {
    case ReduceFn::Sum:
    case ReduceFn::Mean:
      acc[dst] += v;
      break;
    case ReduceFn::Max:
      acc[dst] = std::max(acc[dst], v);
      break;
    }
  }
  if (fn == ReduceFn::Mean)
    for (double &v : acc)
      v /= count;
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d)
    if (!reduced[d] || keepdims)
      shape.push_back(keptShape[d]);
  return HostTensor::fromDoubles(RankedTensorType::get(shape, input.getElementType()), acc);
}

} // namespace mlir::precis
