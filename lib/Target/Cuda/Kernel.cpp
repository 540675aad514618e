//===- Kernel.cpp - the kernel being written and its helpers --------------===//
//
// What every generated kernel shares: the CUDA spelling of element types, loads, stores and
// literals, the device helpers each kernel's source starts with, and the signature, name and
// launch configuration of a finished kernel.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/xxhash.h"

#include <cmath>
#include <cstdio>

using namespace mlir;
using namespace mlir::precis;

namespace precis::cuda {

//===----------------------------------------------------------------------===//
// Types and literals.
//===----------------------------------------------------------------------===//

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }
Type elemType(Value v) { return tensorType(v).getElementType(); }
int64_t numel(Value v) { return tensorType(v).getNumElements(); }
ArrayRef<int64_t> shapeOf(Value v) { return tensorType(v).getShape(); }

int64_t product(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

/// How the artifact stores an element (bool takes a byte).
std::string storageType(Type t) {
  if (t.isF32())
    return "float";
  if (t.isF64())
    return "double";
  if (t.isBF16() || t.isF16())
    return "unsigned short";
  if (t.isFloat8E4M3FN() || t.isFloat8E5M2() || t.isUnsignedInteger(8) || t.isInteger(1))
    return "unsigned char";
  if (t.isInteger(64))
    return "long long";
  if (t.isInteger(32))
    return "int";
  if (t.isInteger(8))
    return "signed char";
  return "";
}

/// The type a kernel computes an element in.
std::string computeType(Type t) {
  if (t.isF64())
    return "double";
  if (isa<FloatType>(t))
    return "float";
  if (t.isInteger(1))
    return "bool";
  if (t.isInteger(64))
    return "long long";
  return "int";
}

/// Storage expression `x` to its compute type: exact for every format.
std::string decode(Type t, const std::string &x) {
  if (t.isBF16())
    return "precis::bf16_to_float(" + x + ")";
  if (t.isF16())
    return "precis::fp16_to_float(" + x + ")";
  if (t.isFloat8E4M3FN())
    return "precis::fp8_e4m3fn_to_float(" + x + ")";
  if (t.isFloat8E5M2())
    return "precis::fp8_e5m2_to_float(" + x + ")";
  if (t.isInteger(1))
    return "(" + x + " != 0)";
  if (t.isInteger(8))
    return "(int)" + x;
  return x;
}

/// Compute-type expression `v` to storage, rounding to nearest even (saturating for fp8).
std::string encode(Type t, const std::string &v) {
  if (t.isBF16())
    return "precis::float_to_bf16(" + v + ")";
  if (t.isF16())
    return "precis::float_to_fp16(" + v + ")";
  if (t.isFloat8E4M3FN())
    return "precis::float_to_fp8_e4m3fn(" + v + ")";
  if (t.isFloat8E5M2())
    return "precis::float_to_fp8_e5m2(" + v + ")";
  if (t.isF32() || t.isF64() || t.isInteger(64) || t.isInteger(32))
    return v;
  return "(" + storageType(t) + ")(" + v + ")";
}

/// `v` (compute type) rounded to the values of element type `t`.
std::string roundTo(Type t, const std::string &v) {
  if (t.isBF16())
    return "precis::round_to_bf16(" + v + ")";
  if (t.isF16())
    return "precis::round_to_fp16(" + v + ")";
  if (t.isFloat8E4M3FN())
    return "precis::round_to_fp8_e4m3fn(" + v + ")";
  if (t.isFloat8E5M2())
    return "precis::round_to_fp8_e5m2(" + v + ")";
  return v;
}

/// A floating-point literal of compute type `ct` ("float" or "double").
std::string floatLiteral(double v, StringRef ct) {
  bool isFloat = ct == "float";
  if (std::isnan(v))
    return isFloat ? "__int_as_float(0x7fffffff)" : "__longlong_as_double(0x7ff8000000000000LL)";
  if (std::isinf(v))
    return std::string(v < 0 ? "-" : "") +
           (isFloat ? "__int_as_float(0x7f800000)" : "__longlong_as_double(0x7ff0000000000000LL)");
  char buf[64];
  if (isFloat)
    std::snprintf(buf, sizeof buf, "%.9ef", static_cast<float>(v));
  else
    std::snprintf(buf, sizeof buf, "%.17e", v);
  return buf;
}

/// The value of a splat constant, as a literal of its compute type.
std::optional<std::string> splatLiteral(Value v) {
  auto cst = v.getDefiningOp<ConstantOp>();
  auto dense = cst ? dyn_cast<DenseElementsAttr>(cst.getValue()) : nullptr;
  if (!dense || !dense.isSplat())
    return std::nullopt;
  Type t = dense.getElementType();
  if (isa<FloatType>(t))
    return floatLiteral(dense.getSplatValue<APFloat>().convertToDouble(), computeType(t));
  if (t.isInteger(1))
    return std::string(dense.getSplatValue<bool>() ? "true" : "false");
  if (auto it = dyn_cast<IntegerType>(t)) {
    APInt value = dense.getSplatValue<APInt>();
    int64_t x = it.isUnsigned() ? static_cast<int64_t>(value.getZExtValue()) : value.getSExtValue();
    return "(" + computeType(t) + ")" + std::to_string(x) + "LL";
  }
  return std::nullopt;
}

/// `name` + "f" for float math, `name` for double.
std::string fn(StringRef name, StringRef ct) {
  return ct == "float" ? (name + "f").str() : name.str();
}

/// Linear index into an operand of shape `from` broadcast (NumPy style) to `to`, at linear
/// index `idx` of `to`. Equal element counts index alike (same shape up to unit dimensions,
/// or a reshape).
std::string broadcastIndex(ArrayRef<int64_t> from, ArrayRef<int64_t> to, StringRef idx) {
  if (product(from) == product(to))
    return idx.str();
  if (product(from) == 1)
    return "0";
  size_t r = to.size(), o = from.size();
  SmallVector<int64_t> toStride(r, 1), fromStride(o, 1);
  for (int64_t j = static_cast<int64_t>(r) - 2; j >= 0; --j)
    toStride[j] = toStride[j + 1] * to[j + 1];
  for (int64_t d = static_cast<int64_t>(o) - 2; d >= 0; --d)
    fromStride[d] = fromStride[d + 1] * from[d + 1];
  std::string expr;
  for (size_t d = 0; d < o; ++d) {
    if (from[d] == 1)
      continue;
    size_t j = d + r - o;
    std::string coord = toStride[j] == 1
                            ? idx.str()
                            : "(" + idx.str() + " / " + std::to_string(toStride[j]) + "LL)";
    if (j > 0)
      coord = "(" + coord + " % " + std::to_string(to[j]) + "LL)";
    if (!expr.empty())
      expr += " + ";
    expr += coord + " * " + std::to_string(fromStride[d]) + "LL";
  }
  return expr.empty() ? "0" : "(" + expr + ")";
}

/// Statements declaring `prefix0 ... prefix<rank-1>`, the coordinates of linear index `idx`
/// in `shape`.
std::string coordinates(ArrayRef<int64_t> shape, StringRef idx, StringRef prefix) {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << "long long " << prefix << "_rem = " << idx << ";\n";
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    os << "const long long " << prefix << d << " = " << prefix << "_rem % " << shape[d] << "LL; "
       << prefix << "_rem /= " << shape[d] << "LL;\n";
  }
  os << "(void)" << prefix << "_rem;\n";
  return out;
}

//===----------------------------------------------------------------------===//
// The kernel being written: parameters, launch configuration, body.
//===----------------------------------------------------------------------===//

/// Helpers every kernel may use, after numerics.h.
constexpr const char *kPrelude = R"cuda(
template <typename T> __device__ __forceinline__ T precis_max(T a, T b) {
  if (a != a || b != b) return a + b;  // NaN propagates
  return a > b ? a : b;
}
template <typename T> __device__ __forceinline__ T precis_min(T a, T b) {
  if (a != a || b != b) return a + b;
  return a < b ? a : b;
}
struct PrecisSum { template <typename T> __device__ T operator()(T a, T b) const { return a + b; } };
struct PrecisMax { template <typename T> __device__ T operator()(T a, T b) const { return precis_max(a, b); } };
template <typename T, typename Op> __device__ __forceinline__ T precis_warp_reduce(T v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
/// Reduces `v` over the block (blockDim.x a multiple of 32); every thread gets the result.
template <typename T, typename Op>
__device__ __forceinline__ T precis_block_reduce(T v, Op op, T init) {
  __shared__ T partial[32];
  v = precis_warp_reduce(v, op);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  v = lane < (int)((blockDim.x + 31) >> 5) ? partial[lane] : init;
  return precis_warp_reduce(v, op);
}
/// Copies N elements through the widest aligned vector accesses (16 bytes at most).
template <typename T, int N> __device__ __forceinline__ void precis_copy_vec(T *dst, const T *src) {
  constexpr int bytes = (int)sizeof(T) * N;
  if constexpr (bytes % 16 == 0) {
    for (int k = 0; k < bytes / 16; ++k) reinterpret_cast<uint4 *>(dst)[k] = reinterpret_cast<const uint4 *>(src)[k];
  } else if constexpr (bytes % 8 == 0) {
    for (int k = 0; k < bytes / 8; ++k) reinterpret_cast<uint2 *>(dst)[k] = reinterpret_cast<const uint2 *>(src)[k];
  } else if constexpr (bytes % 4 == 0) {
    for (int k = 0; k < bytes / 4; ++k) reinterpret_cast<unsigned *>(dst)[k] = reinterpret_cast<const unsigned *>(src)[k];
  } else {
    for (int k = 0; k < N; ++k) dst[k] = src[k];
  }
}
)cuda";

CudaKernel Kernel::finish(StringRef kind, const std::string &body) const {
  std::string params;
  auto param = [&](Value v, bool out, unsigned i) {
    if (!params.empty())
      params += ", ";
    params += (out ? "" : "const ") + storageType(elemType(v)) + " *" + (out ? "out" : "in") +
              std::to_string(i);
  };
  for (auto [i, v] : llvm::enumerate(inputs_))
    param(v, false, i);
  for (auto [i, v] : llvm::enumerate(outputs_))
    param(v, true, i);
  if (takesRank)
    params += ", const long long rank";
  std::string src;
  llvm::raw_string_ostream os(src);
  os << "// precis generated kernel: " << kind
     << "\n#include \"precis/runtime/numerics.h\"\n"
        "#include \"precis/runtime/FastMath.h\"\n"
     << kPrelude << globals << "\nextern \"C\" __global__ void __launch_bounds__("
     << block[0] * block[1] * block[2] << ") @NAME@(" << params << ") {\n"
     << body << "}\n";
  CudaKernel kernel;
  std::string hashed = src;
  std::string name =
      llvm::formatv("precis_{0}_{1:x-16}", kind, llvm::xxh3_64bits(llvm::StringRef(hashed)))
          .str();
  for (char &c : name)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_')
      c = '_';
  size_t at = src.find("@NAME@");
  src.replace(at, 6, name);
  kernel.name = name;
  kernel.source = src;
  kernel.grid = grid;
  kernel.block = block;
  kernel.sharedBytes = 0;
  kernel.takesRank = takesRank;
  return kernel;
}

/// `for (t ...)` grid-stride loop header over `n` items.
std::string gridLoop(int64_t n, StringRef var) {
  return llvm::formatv("for (long long {0} = (long long)blockIdx.x * blockDim.x + threadIdx.x; "
                       "{0} < {1}LL; {0} += (long long)gridDim.x * blockDim.x) {{\n",
                       var, n)
      .str();
}

//===----------------------------------------------------------------------===//
// Direct kernels for the other ops.
//===----------------------------------------------------------------------===//

std::string L(int64_t v) { return std::to_string(v) + "LL"; }

int64_t normAxis(int64_t axis, size_t rank) {
  return axis < 0 ? axis + static_cast<int64_t>(rank) : axis;
}

SmallVector<int64_t> stridesOf(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> s(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d)
    s[d] = s[d + 1] * shape[d + 1];
  return s;
}

/// Accumulator type for reading element type `t`.
std::string accType(Type t) { return t.isF64() ? "double" : "float"; }

/// A kernel with one thread (grid-stride) per element of `n`, body given `t`.
CudaKernel perElement(Kernel &k, StringRef kind, int64_t n, const std::string &inner) {
  k.launchOver(n);
  return k.finish(kind, gridLoop(n) + inner + "}\n");
}

int64_t attrInt(Operation *op, StringRef name, int64_t dflt) {
  auto a = op->getAttrOfType<IntegerAttr>(name);
  return a ? a.getInt() : dflt;
}
SmallVector<int64_t> attrInts(Operation *op, StringRef name, ArrayRef<int64_t> dflt) {
  if (auto a = op->getAttrOfType<DenseI64ArrayAttr>(name))
    return SmallVector<int64_t>(a.asArrayRef());
  return SmallVector<int64_t>(dflt);
}

} // namespace precis::cuda
