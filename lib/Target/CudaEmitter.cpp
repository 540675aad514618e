//===- CudaEmitter.cpp - precis ops and fusion groups to CUDA C++ ----------===//
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
//===----------------------------------------------------------------------===//

#include "precis/Target/CudaEmitter.h"

#include "precis/Dialect/Precis/IR/PrecisOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/xxhash.h"

#include <cmath>
#include <cstdio>

#ifdef PRECIS_HAVE_NVRTC
#include <nvrtc.h>
#endif

using namespace mlir;
using namespace mlir::precis;

namespace precis {
namespace {

/// The text of runtime/include/precis/runtime/numerics.h, embedded at build time so that
/// the compiler does not depend on the source tree at run time.
const char *const kNumericsHeader =
#include "NumericsHeader.inc"
    ;
/// The text of runtime/include/precis/runtime/FastMath.h: the CPU backend's float exp, tanh,
/// sigmoid, erf and GELU, which float kernels call too (compiled with --fmad=false) so both
/// backends agree bit for bit on those ops.
const char *const kFastMathHeader =
#include "FastMathHeader.inc"
    ;

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
std::string floatLiteral(double v, StringRef ct = "float") {
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
  CudaKernel finish(StringRef kind, const std::string &body) const {
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
    std::string src;
    llvm::raw_string_ostream os(src);
    os << "// precis generated kernel: " << kind << "\n#include \"precis/runtime/numerics.h\"\n"
          "#include \"precis/runtime/FastMath.h\"\n"
       << kPrelude << "\nextern \"C\" __global__ void __launch_bounds__("
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
    return kernel;
  }

  std::array<int64_t, 3> grid = {1, 1, 1}, block = {256, 1, 1};

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
std::string gridLoop(int64_t n, StringRef var = "t") {
  return llvm::formatv("for (long long {0} = (long long)blockIdx.x * blockDim.x + threadIdx.x; "
                       "{0} < {1}LL; {0} += (long long)gridDim.x * blockDim.x) {{\n",
                       var, n)
      .str();
}

//===----------------------------------------------------------------------===//
// Element-wise expressions.
//===----------------------------------------------------------------------===//

/// The compute-type expression of `op`'s result from its operands' (`a`).
FailureOr<std::string> elementExpr(Operation *op, ArrayRef<std::string> a) {
  Type t = elemType(op->getResult(0));
  std::string ct = computeType(t);
  auto lit = [&](double v) { return floatLiteral(v, ct); };
  auto f = [&](StringRef name) { return fn(name, ct); };
  bool isInt = ct != "float" && ct != "double";
  // Float exp, tanh, sigmoid, erf and GELU are FastMath.h's, as in the CPU backend.
  const bool fast = ct == "float";
  auto fm = [](StringRef name) { return ("precis::rt::cpu::" + name).str(); };
  using R = FailureOr<std::string>;
  return llvm::TypeSwitch<Operation *, R>(op)
      .Case<AddOp>([&](auto) { return "(" + a[0] + " + " + a[1] + ")"; })
      .Case<SubOp>([&](auto) { return "(" + a[0] + " - " + a[1] + ")"; })
      .Case<MulOp>([&](auto) { return "(" + a[0] + " * " + a[1] + ")"; })
      .Case<DivOp>([&](auto) { return "(" + a[0] + " / " + a[1] + ")"; })
      .Case<MaxOp>([&](auto) { return "precis_max(" + a[0] + ", " + a[1] + ")"; })
      .Case<MinOp>([&](auto) { return "precis_min(" + a[0] + ", " + a[1] + ")"; })
      .Case<PowOp>([&](auto) { return f("pow") + "(" + a[0] + ", " + a[1] + ")"; })
      .Case<NegOp>([&](auto) { return "(-" + a[0] + ")"; })
      .Case<AbsOp>([&](auto) -> R {
        if (isInt)
          return "(" + a[0] + " < 0 ? -" + a[0] + " : " + a[0] + ")";
        return f("fabs") + "(" + a[0] + ")";
      })
      .Case<ReluOp>(
          [&](auto) { return "(" + a[0] + " < " + lit(0) + " ? " + lit(0) + " : " + a[0] + ")"; })
      .Case<LeakyReluOp>([&](LeakyReluOp o) {
        return "(" + a[0] + " >= " + lit(0) + " ? " + a[0] + " : " +
               lit(o.getAlpha().convertToFloat()) + " * " + a[0] + ")";
      })
      .Case<GeluOp>([&](GeluOp o) -> R {
        const std::string &x = a[0];
        if (fast)
          return fm(o.getApproximation() == GeluApproximation::Tanh ? "fastGeluTanh"
                                                                     : "fastGeluErf") +
                 "(" + x + ")";
        if (o.getApproximation() == GeluApproximation::Tanh)
          return lit(0.5) + " * " + x + " * (" + lit(1) + " + " + f("tanh") + "(" +
                 lit(0.79788456080286535588) + " * (" + x + " + " + lit(0.044715) + " * " + x +
                 " * " + x + " * " + x + ")))";
        return lit(0.5) + " * " + x + " * (" + lit(1) + " + " + f("erf") + "(" + x + " * " +
               lit(0.70710678118654752440) + "))";
      })
      .Case<TanhOp>([&](auto) { return (fast ? fm("fastTanh") : f("tanh")) + "(" + a[0] + ")"; })
      .Case<SigmoidOp>([&](auto) {
        const std::string &x = a[0];
        if (fast)
          return fm("fastSigmoid") + "(" + x + ")";
        return "(" + x + " >= " + lit(0) + " ? " + lit(1) + " / (" + lit(1) + " + " + f("exp") +
               "(-" + x + ")) : " + f("exp") + "(" + x + ") / (" + lit(1) + " + " + f("exp") + "(" +
               x + ")))";
      })
      .Case<ErfOp>([&](auto) { return (fast ? fm("fastErf") : f("erf")) + "(" + a[0] + ")"; })
      .Case<SqrtOp>([&](auto) { return f("sqrt") + "(" + a[0] + ")"; })
      .Case<ExpOp>([&](auto) { return (fast ? fm("fastExp") : f("exp")) + "(" + a[0] + ")"; })
      .Case<LogOp>([&](auto) { return f("log") + "(" + a[0] + ")"; })
      .Case<RsqrtOp>([&](auto) { return "(" + lit(1) + " / " + f("sqrt") + "(" + a[0] + "))"; })
      .Case<ReciprocalOp>([&](auto) { return "(" + lit(1) + " / " + a[0] + ")"; })
      .Case<CompareOp>([&](CompareOp o) -> R {
        const char *cmp = "==";
        switch (o.getKind()) {
        case CompareKind::EQ:
          cmp = "==";
          break;
        case CompareKind::LT:
          cmp = "<";
          break;
        case CompareKind::LE:
          cmp = "<=";
          break;
        case CompareKind::GT:
          cmp = ">";
          break;
        case CompareKind::GE:
          cmp = ">=";
          break;
        }
        return "(" + a[0] + " " + cmp + " " + a[1] + ")";
      })
      .Case<NotOp>([&](auto) { return "(!" + a[0] + ")"; })
      .Case<WhereOp>([&](auto) { return "(" + a[0] + " ? " + a[1] + " : " + a[2] + ")"; })
      .Case<CastOp>([&](CastOp o) -> R {
        Type from = elemType(o.getInput());
        if (t.isInteger(1))
          return "(" + a[0] + " != 0)";
        if (from.isInteger(1))
          return "(" + a[0] + " ? (" + ct + ")1 : (" + ct + ")0)";
        return "(" + ct + ")(" + a[0] + ")";
      })
      .Case<ReshapeOp, ExpandOp>([&](auto) { return a[0]; })
      .Default([&](Operation *) -> R {
        return op->emitError("no CUDA element-wise code for ") << op->getName();
      });
}

/// Emits the statements computing `ops` (element-wise, in order) at linear index `idx` of
/// each op's result. Operands are `names` (values computed before in this scope, indexed
/// alike), kernel inputs (loaded with broadcasting), or splat constants. Every result gets
/// a local rounded to its element type.
LogicalResult emitElementwise(const Kernel &k, ArrayRef<Operation *> ops, StringRef idx,
                              llvm::DenseMap<Value, std::string> &names, raw_ostream &os) {
  for (Operation *op : ops) {
    SmallVector<std::string> operands;
    for (Value operand : op->getOperands()) {
      if (auto it = names.find(operand); it != names.end()) {
        operands.push_back(it->second);
      } else if (auto i = k.inputIndexOf(operand)) {
        operands.push_back(
            k.load(*i, broadcastIndex(shapeOf(operand), shapeOf(op->getResult(0)), idx)));
      } else if (auto literal = splatLiteral(operand)) {
        operands.push_back(*literal);
      } else {
        return op->emitError("CUDA emitter: operand is neither computed in the kernel nor "
                             "one of its inputs");
      }
    }
    auto expr = elementExpr(op, operands);
    if (failed(expr))
      return failure();
    Value result = op->getResult(0);
    std::string name = "v" + std::to_string(names.size());
    os << "const " << computeType(elemType(result)) << " " << name << " = "
       << roundTo(elemType(result), *expr) << ";\n";
    names[result] = name;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Element-wise groups.
//===----------------------------------------------------------------------===//

FailureOr<CudaKernel> emitElementwiseKernel(Kernel &k, ArrayRef<Operation *> ops) {
  int64_t n = numel(k.outputs().front());
  for (Value out : k.outputs())
    if (numel(out) != n)
      return k.op()->emitError("CUDA emitter: element-wise group results differ in size");
  // Vectorise when every input is read at the thread's own index (nothing broadcasts) and
  // the element count divides: 16-byte accesses for the narrowest type.
  bool contiguous = true;
  unsigned minBytes = 8;
  for (Value in : k.inputs()) {
    bool used = false, direct = true;
    for (Operation *op : ops)
      for (Value operand : op->getOperands())
        if (operand == in) {
          used = true;
          direct &= numel(in) == numel(op->getResult(0)) && numel(in) == n;
        }
    if (used && !direct)
      contiguous = false;
    unsigned bits = elemType(in).getIntOrFloatBitWidth();
    minBytes = std::min(minBytes, std::max(1u, bits / 8));
  }
  for (Value out : k.outputs()) {
    unsigned bits = elemType(out).getIntOrFloatBitWidth();
    minBytes = std::min(minBytes, std::max(1u, bits / 8));
  }
  int64_t vec = 1;
  if (contiguous)
    for (int64_t v : {16 / static_cast<int64_t>(minBytes), int64_t(8), int64_t(4)})
      if (v > 1 && v <= 16 && n % v == 0) {
        vec = v;
        break;
      }

  std::string body;
  llvm::raw_string_ostream os(body);
  k.launchOver((n + vec - 1) / vec);
  if (vec == 1) {
    os << gridLoop(n, "i");
    llvm::DenseMap<Value, std::string> names;
    if (failed(emitElementwise(k, ops, "i", names, os)))
      return failure();
    for (auto [o, v] : llvm::enumerate(k.outputs())) {
      auto it = names.find(v);
      std::string value = it != names.end() ? it->second : k.load(*k.inputIndexOf(v), "i");
      os << k.store(o, "i", value);
    }
    os << "}\n";
    return k.finish("elementwise", body);
  }
  // Vector form: each thread loads `vec` consecutive elements of every input into registers
  // with aligned vector accesses, computes them, and stores them the same way.
  os << gridLoop(n / vec, "j") << "const long long base = j * " << vec << "LL;\n";
  for (auto [i, in] : llvm::enumerate(k.inputs()))
    os << "alignas(16) " << storageType(elemType(in)) << " x" << i << "[" << vec << "];\n"
       << "precis_copy_vec<" << storageType(elemType(in)) << ", " << vec << ">(x" << i << ", in"
       << i << " + base);\n";
  for (auto [o, out] : llvm::enumerate(k.outputs()))
    os << "alignas(16) " << storageType(elemType(out)) << " y" << o << "[" << vec << "];\n";
  os << "#pragma unroll\nfor (int e = 0; e < " << vec << "; ++e) {\n";
  // Inputs are read from the register copies: rewrite the loads of the scalar form.
  llvm::DenseMap<Value, std::string> names;
  for (auto [i, in] : llvm::enumerate(k.inputs()))
    names[in] = decode(elemType(in), "x" + std::to_string(i) + "[e]");
  if (failed(emitElementwise(k, ops, "e", names, os)))
    return failure();
  for (auto [o, out] : llvm::enumerate(k.outputs()))
    os << "y" << o << "[e] = " << encode(elemType(out), names.lookup(out)) << ";\n";
  os << "}\n";
  for (auto [o, out] : llvm::enumerate(k.outputs()))
    os << "precis_copy_vec<" << storageType(elemType(out)) << ", " << vec << ">(out" << o
       << " + base, y" << o << ");\n";
  os << "}\n";
  return k.finish("elementwise", body);
}

//===----------------------------------------------------------------------===//
// Row groups: a reduction or normalisation over trailing dimensions.
//===----------------------------------------------------------------------===//

/// First dimension of the trailing run `op` reduces or normalises over, or -1.
int64_t rowAxis(Operation *op) { return getTrailingRowAxis(op); }

/// The ops of `ops` that `v` depends on, in order.
SmallVector<Operation *> coneOf(Value v, ArrayRef<Operation *> ops) {
  llvm::DenseSet<Operation *> in(ops.begin(), ops.end()), need;
  SmallVector<Operation *> work;
  if (Operation *d = v.getDefiningOp(); d && in.count(d))
    work.push_back(d);
  while (!work.empty()) {
    Operation *op = work.pop_back_val();
    if (!need.insert(op).second)
      continue;
    for (Value operand : op->getOperands())
      if (Operation *d = operand.getDefiningOp(); d && in.count(d))
        work.push_back(d);
  }
  SmallVector<Operation *> out;
  for (Operation *op : ops)
    if (need.count(op))
      out.push_back(op);
  return out;
}

FailureOr<CudaKernel> emitRowKernel(Kernel &k, ArrayRef<Operation *> ops, Operation *red) {
  Value x = red->getOperand(0);
  int64_t axis = rowAxis(red);
  int64_t cols = product(shapeOf(x).drop_front(axis));
  int64_t rows = cols == 0 ? 0 : numel(x) / cols;
  std::string xt = computeType(elemType(x));
  std::string acc = xt == "double" ? "double" : (xt == "float" || xt == "bool" ? "float" : xt);
  bool rowWise = numel(red->getResult(0)) != numel(x) ||
                 isa<ReduceSumOp, ReduceMeanOp, ReduceMaxOp, GlobalAvgPoolOp, GlobalMaxPoolOp>(red);
  SmallVector<Operation *> pre, post;
  {
    bool after = false;
    for (Operation *op : ops) {
      if (op == red) {
        after = true;
        continue;
      }
      // Ops that do not depend on the reduction but come after it in the body are part of
      // the per-element prologue all the same.
      bool dependsOnRed = false;
      for (Operation *c : coneOf(op->getResult(0), ops))
        dependsOnRed |= c == red;
      (after && dependsOnRed ? post : pre).push_back(op);
    }
  }
  SmallVector<Operation *> xCone = coneOf(x, pre);
  int64_t threads = std::min<int64_t>(1024, std::max<int64_t>(32, (cols + 31) / 32 * 32));
  k.block = {threads, 1, 1};
  k.grid = {std::max<int64_t>(rows, 1), 1, 1};

  std::string body;
  llvm::raw_string_ostream os(body);
  std::string colsL = std::to_string(cols) + "LL";
  os << "const long long row = blockIdx.x;\n";
  auto loopHead = [&] {
    os << "for (long long c = threadIdx.x; c < " << colsL << "; c += blockDim.x) {\n"
       << "const long long i = row * " << colsL << " + c;\n";
  };
  // The value of the reduction's data input at `i`, with what it needs of the prologue.
  auto emitX = [&](ArrayRef<Operation *> prologue,
                   llvm::DenseMap<Value, std::string> &names) -> FailureOr<std::string> {
    if (failed(emitElementwise(k, prologue, "i", names, os)))
      return failure();
    if (auto it = names.find(x); it != names.end())
      return it->second;
    if (auto i = k.inputIndexOf(x))
      return k.load(*i, "i");
    return red->emitError("CUDA emitter: reduction input is not available");
  };
  auto storeExports = [&](ArrayRef<Operation *> defined, llvm::DenseMap<Value, std::string> &names,
                          StringRef idx) {
    for (auto [o, out] : llvm::enumerate(k.outputs()))
      for (Operation *op : defined)
        if (out.getDefiningOp() == op)
          os << k.store(o, idx.str(), names.lookup(out));
  };
  auto reduce = [&](StringRef var, StringRef init, StringRef combine, StringRef valueExpr,
                    ArrayRef<Operation *> prologue, bool final) -> LogicalResult {
    os << acc << " " << var << " = " << init << ";\n";
    loopHead();
    llvm::DenseMap<Value, std::string> names;
    auto xv = emitX(prologue, names);
    if (failed(xv))
      return failure();
    os << "const " << acc << " x = (" << acc << ")" << *xv << ";\n";
    os << var << " = " << combine << "(" << var << ", " << valueExpr << ");\n";
    if (final)
      storeExports(prologue, names, "i");
    os << "}\n"
       << var << " = precis_block_reduce(" << var << ", "
       << (combine == "precis_max" ? "PrecisMax()" : "PrecisSum()") << ", " << init << ");\n";
    return success();
  };
  std::string lowest = acc == "float" || acc == "double"
                           ? "-" + floatLiteral(INFINITY, acc)
                           : "(" + acc + ")(-9223372036854775807LL - 1)";
  if (acc == "int")
    lowest = "(-2147483647 - 1)";
  std::string zero = "(" + acc + ")0";
  std::string expF = fn("exp", acc), logF = fn("log", acc), sqrtF = fn("sqrt", acc);

  if (rowWise) {
    bool isMax = isa<ReduceMaxOp, GlobalMaxPoolOp>(red);
    os << "// " << red->getName() << " over " << cols << " trailing elements per row\n";
    if (failed(reduce("r", isMax ? lowest : zero, isMax ? "precis_max" : "PrecisSum()", "x", pre,
                      /*final=*/true)))
      return failure();
    os << "if (threadIdx.x == 0) {\n";
    Value result = red->getResult(0);
    std::string value = "r";
    if (isa<ReduceMeanOp, GlobalAvgPoolOp>(red))
      value = "(r / (" + acc + ")" + std::to_string(cols) + ")";
    llvm::DenseMap<Value, std::string> names;
    os << "const " << computeType(elemType(result))
       << " red = " << roundTo(elemType(result), "(" + computeType(elemType(result)) + ")" + value)
       << ";\n";
    names[result] = "red";
    if (failed(emitElementwise(k, post, "row", names, os)))
      return failure();
    SmallVector<Operation *> defined(post.begin(), post.end());
    defined.push_back(red);
    storeExports(defined, names, "row");
    os << "}\n";
    std::string kind = red->getName().stripDialect().str();
    return k.finish(ops.size() > 1 ? "row_" + kind : kind, body);
  }

  // Softmax, log-softmax, layer norm: statistics passes, then a pass writing every
  // per-element value of the group.
  llvm::DenseMap<Value, std::string> names;
  std::string resultExpr;
  Type rt = elemType(red->getResult(0));
  if (isa<SoftmaxOp, LogSoftmaxOp>(red)) {
    if (failed(reduce("m", lowest, "precis_max", "x", xCone, false)) ||
        failed(reduce("s", zero, "PrecisSum()", expF + "(x - m)", xCone, false)))
      return failure();
    resultExpr = isa<SoftmaxOp>(red) ? expF + "(xr - m) / s" : "(xr - m) - " + logF + "(s)";
  } else if (auto ln = dyn_cast<LayerNormOp>(red)) {
    if (failed(reduce("sum", zero, "PrecisSum()", "x", xCone, false)))
      return failure();
    os << "const " << acc << " mean = sum / (" << acc << ")" << cols << ";\n";
    if (failed(reduce("sq", zero, "PrecisSum()", "(x - mean) * (x - mean)", xCone, false)))
      return failure();
    os << "const " << acc << " rstd = (" << acc << ")1 / " << sqrtF << "(sq / (" << acc << ")"
       << cols << " + (" << acc << ")" << floatLiteral(ln.getEpsilon().convertToFloat(), acc)
       << ");\n";
    auto scaleIdx = k.inputIndexOf(ln.getScale());
    std::string scale =
        scaleIdx ? k.load(*scaleIdx, broadcastIndex(shapeOf(ln.getScale()), shapeOf(x), "i"))
                 : splatLiteral(ln.getScale()).value_or("1");
    std::string bias = "0";
    if (Value b = ln.getBias()) {
      auto biasIdx = k.inputIndexOf(b);
      bias = biasIdx ? k.load(*biasIdx, broadcastIndex(shapeOf(b), shapeOf(x), "i"))
                     : splatLiteral(b).value_or("0");
    }
    resultExpr = "(xr - mean) * rstd * " + scale + " + " + bias;
  } else {
    return red->emitError("CUDA emitter: no row kernel for ") << red->getName();
  }
  loopHead();
  auto xv = emitX(pre, names);
  if (failed(xv))
    return failure();
  os << "const " << acc << " xr = (" << acc << ")" << *xv << ";\n";
  std::string rct = computeType(rt);
  os << "const " << rct << " red = " << roundTo(rt, "(" + rct + ")(" + resultExpr + ")") << ";\n";
  names[red->getResult(0)] = "red";
  if (failed(emitElementwise(k, post, "i", names, os)))
    return failure();
  SmallVector<Operation *> defined(pre.begin(), pre.end());
  defined.push_back(red);
  defined.append(post.begin(), post.end());
  storeExports(defined, names, "i");
  os << "}\n";
  std::string kind = red->getName().stripDialect().str();
  return k.finish(ops.size() > 1 ? "row_" + kind : kind, body);
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

/// Convolutions: direct loops, fp32 accumulation.
FailureOr<CudaKernel> emitConv(Kernel &k, Operation *op) {
  auto strides = attrInts(op, "strides", {1, 1}), pads = attrInts(op, "pads", {0, 0, 0, 0}),
       dil = attrInts(op, "dilations", {1, 1});
  int64_t groups = attrInt(op, "groups", 1);
  std::string acc = accType(elemType(op->getResult(0)));
  std::string body;
  llvm::raw_string_ostream os(body);
  if (auto conv = dyn_cast<Conv2DOp>(op)) {
    auto x = shapeOf(conv.getInput()), w = shapeOf(conv.getWeight()), y = shapeOf(conv.getResult());
    int64_t CG = w[1], OG = w[0] / groups;
    os << coordinates(y, "t", "o") << acc << " acc = 0;\n"
       << "const long long g = o1 / " << L(OG) << ";\n"
       << "for (long long ci = 0; ci < " << L(CG) << "; ++ci) {\n"
       << "const long long c = g * " << L(CG) << " + ci;\n"
       << "for (long long kh = 0; kh < " << L(w[2]) << "; ++kh) {\n"
       << "const long long h = o2 * " << L(strides[0]) << " - " << L(pads[0]) << " + kh * "
       << L(dil[0]) << ";\nif (h < 0 || h >= " << L(x[2]) << ") continue;\n"
       << "for (long long kw = 0; kw < " << L(w[3]) << "; ++kw) {\n"
       << "const long long ww = o3 * " << L(strides[1]) << " - " << L(pads[1]) << " + kw * "
       << L(dil[1]) << ";\nif (ww < 0 || ww >= " << L(x[3]) << ") continue;\n"
       << "acc += (" << acc << ")"
       << k.load(0, "((o0 * " + L(x[1]) + " + c) * " + L(x[2]) + " + h) * " + L(x[3]) + " + ww")
       << " * (" << acc << ")"
       << k.load(1, "((o1 * " + L(CG) + " + ci) * " + L(w[2]) + " + kh) * " + L(w[3]) + " + kw")
       << ";\n}\n}\n}\n";
    if (conv.getBias())
      os << "acc += (" << acc << ")" << k.load(2, "o1") << ";\n";
    os << k.store(0, "t", "acc");
    return perElement(k, "conv2d", numel(conv.getResult()), body);
  }
  if (auto gi = dyn_cast<Conv2DGradInputOp>(op)) {
    auto dy = shapeOf(gi.getGrad()), w = shapeOf(gi.getWeight()), x = shapeOf(gi.getResult());
    int64_t CG = w[1], OG = w[0] / groups;
    os << coordinates(x, "t", "o") << acc << " acc = 0;\n"
       << "const long long g = o1 / " << L(CG) << ", ci = o1 % " << L(CG) << ";\n"
       << "for (long long oc = g * " << L(OG) << "; oc < (g + 1) * " << L(OG) << "; ++oc)\n"
       << "for (long long kh = 0; kh < " << L(w[2]) << "; ++kh) {\n"
       << "const long long hh = o2 + " << L(pads[0]) << " - kh * " << L(dil[0]) << ";\n"
       << "if (hh < 0 || hh % " << L(strides[0]) << " != 0 || hh / " << L(strides[0])
       << " >= " << L(dy[2]) << ") continue;\n"
       << "for (long long kw = 0; kw < " << L(w[3]) << "; ++kw) {\n"
       << "const long long ww = o3 + " << L(pads[1]) << " - kw * " << L(dil[1]) << ";\n"
       << "if (ww < 0 || ww % " << L(strides[1]) << " != 0 || ww / " << L(strides[1])
       << " >= " << L(dy[3]) << ") continue;\n"
       << "acc += (" << acc << ")"
       << k.load(0, "((o0 * " + L(dy[1]) + " + oc) * " + L(dy[2]) + " + hh / " + L(strides[0]) +
                        ") * " + L(dy[3]) + " + ww / " + L(strides[1]))
       << " * (" << acc << ")"
       << k.load(1, "((oc * " + L(CG) + " + ci) * " + L(w[2]) + " + kh) * " + L(w[3]) + " + kw")
       << ";\n}\n}\n"
       << k.store(0, "t", "acc");
    return perElement(k, "conv2d_grad_input", numel(gi.getResult()), body);
  }
  auto gw = cast<Conv2DGradWeightOp>(op);
  auto x = shapeOf(gw.getInput()), dy = shapeOf(gw.getGrad()), w = shapeOf(gw.getResult());
  int64_t CG = w[1], OG = w[0] / groups;
  os << coordinates(w, "t", "o") << acc << " acc = 0;\n"
     << "const long long c = (o0 / " << L(OG) << ") * " << L(CG) << " + o1;\n"
     << "for (long long n = 0; n < " << L(x[0]) << "; ++n)\n"
     << "for (long long oh = 0; oh < " << L(dy[2]) << "; ++oh) {\n"
     << "const long long h = oh * " << L(strides[0]) << " - " << L(pads[0]) << " + o2 * "
     << L(dil[0]) << ";\nif (h < 0 || h >= " << L(x[2]) << ") continue;\n"
     << "for (long long ow = 0; ow < " << L(dy[3]) << "; ++ow) {\n"
     << "const long long ww = ow * " << L(strides[1]) << " - " << L(pads[1]) << " + o3 * "
     << L(dil[1]) << ";\nif (ww < 0 || ww >= " << L(x[3]) << ") continue;\n"
     << "acc += (" << acc << ")"
     << k.load(0, "((n * " + L(x[1]) + " + c) * " + L(x[2]) + " + h) * " + L(x[3]) + " + ww")
     << " * (" << acc << ")"
     << k.load(1, "((n * " + L(dy[1]) + " + o0) * " + L(dy[2]) + " + oh) * " + L(dy[3]) + " + ow")
     << ";\n}\n}\n"
     << k.store(0, "t", "acc");
  return perElement(k, "conv2d_grad_weight", numel(gw.getResult()), body);
}

/// Pooling and its gradients, with the CPU backend's window and divisor rules.
FailureOr<CudaKernel> emitPool(Kernel &k, Operation *op) {
  auto kernel = attrInts(op, "kernel", {1, 1}), s = attrInts(op, "strides", {1, 1}),
       p = attrInts(op, "pads", {0, 0, 0, 0}), d = attrInts(op, "dilations", {1, 1});
  if (isa<AvgPool2DOp, AvgPool2DGradOp>(op))
    d = {1, 1};
  bool includePad = attrInt(op, "count_include_pad", 0) != 0;
  bool isGrad = isa<MaxPool2DGradOp, AvgPool2DGradOp>(op);
  Value in = isa<MaxPool2DGradOp>(op) ? op->getOperand(1) : op->getOperand(0);
  ArrayRef<int64_t> x = isGrad ? shapeOf(op->getResult(0)) : shapeOf(in);
  ArrayRef<int64_t> y = isGrad ? shapeOf(op->getOperand(0)) : shapeOf(op->getResult(0));
  std::string acc = accType(elemType(op->getResult(0)));
  std::string body;
  llvm::raw_string_ostream os(body);
  // The max of the window at (plane, oh, ow) of the input (operand `xin`), and its position.
  auto windowMax = [&](unsigned xin) {
    os << acc << " m = -" << floatLiteral(INFINITY, acc) << "; long long arg = -1;\n"
       << "for (long long i = 0; i < " << L(kernel[0]) << "; ++i) {\n"
       << "const long long h = oh * " << L(s[0]) << " - " << L(p[0]) << " + i * " << L(d[0])
       << "; if (h < 0 || h >= " << L(x[2]) << ") continue;\n"
       << "for (long long j = 0; j < " << L(kernel[1]) << "; ++j) {\n"
       << "const long long w = ow * " << L(s[1]) << " - " << L(p[1]) << " + j * " << L(d[1])
       << "; if (w < 0 || w >= " << L(x[3]) << ") continue;\n"
       << "const " << acc << " v = (" << acc << ")"
       << k.load(xin, "plane * " + L(x[2] * x[3]) + " + h * " + L(x[3]) + " + w") << ";\n"
       << "if ((v > m || v != v) && m == m) { m = v; arg = h * " << L(x[3]) << " + w; }\n"
       << "}\n}\n";
  };
  // The divisor of average-pooling window (oh, ow).
  auto divisor = [&] {
    os << "const long long h0 = oh * " << L(s[0]) << " - " << L(p[0]) << ", w0 = ow * " << L(s[1])
       << " - " << L(p[1]) << ";\n"
       << "const long long hs = h0 > 0 ? h0 : 0, he = h0 + " << L(kernel[0]) << " < " << L(x[2])
       << " ? h0 + " << L(kernel[0]) << " : " << L(x[2]) << ";\n"
       << "const long long ws = w0 > 0 ? w0 : 0, we = w0 + " << L(kernel[1]) << " < " << L(x[3])
       << " ? w0 + " << L(kernel[1]) << " : " << L(x[3]) << ";\n";
    if (includePad)
      os << "const long long hp = h0 + " << L(kernel[0]) << " < " << L(x[2] + p[2]) << " ? h0 + "
         << L(kernel[0]) << " : " << L(x[2] + p[2]) << ";\n"
         << "const long long wp = w0 + " << L(kernel[1]) << " < " << L(x[3] + p[3]) << " ? w0 + "
         << L(kernel[1]) << " : " << L(x[3] + p[3]) << ";\n"
         << "const long long count = (hp - h0) * (wp - w0);\n";
    else
      os << "const long long count = (he > hs ? he - hs : 0) * (we > ws ? we - ws : 0);\n";
  };
  if (!isGrad) {
    os << coordinates(y, "t", "o") << "const long long plane = o0 * " << L(y[1])
       << " + o1, oh = o2, ow = o3;\n";
    if (isa<MaxPool2DOp>(op)) {
      windowMax(0);
      os << k.store(0, "t", "m");
    } else {
      divisor();
      os << "double sum = 0;\nfor (long long h = hs; h < he; ++h)\nfor (long long w = ws; w < we; "
            "++w) sum += (double)"
         << k.load(0, "plane * " + L(x[2] * x[3]) + " + h * " + L(x[3]) + " + w") << ";\n"
         << k.store(0, "t", "(" + acc + ")(sum / (double)count)");
    }
    return perElement(k, op->getName().stripDialect().str(), numel(op->getResult(0)), body);
  }
  // Gradients: one thread per input position gathers from the windows that contain it.
  os << coordinates(x, "t", "o") << "const long long plane = o0 * " << L(x[1]) << " + o1;\n"
     << acc << " acc = 0;\n"
     << "for (long long i = 0; i < " << L(kernel[0]) << "; ++i) {\n"
     << "const long long hh = o2 + " << L(p[0]) << " - i * " << L(d[0]) << ";\n"
     << "if (hh < 0 || hh % " << L(s[0]) << " != 0 || hh / " << L(s[0]) << " >= " << L(y[2])
     << ") continue;\nconst long long oh = hh / " << L(s[0]) << ";\n"
     << "for (long long jj = 0; jj < " << L(kernel[1]) << "; ++jj) {\n"
     << "const long long wq = o3 + " << L(p[1]) << " - jj * " << L(d[1]) << ";\n"
     << "if (wq < 0 || wq % " << L(s[1]) << " != 0 || wq / " << L(s[1]) << " >= " << L(y[3])
     << ") continue;\nconst long long ow = wq / " << L(s[1]) << ";\n"
     << "const " << acc << " g = (" << acc << ")"
     << k.load(0, "plane * " + L(y[2] * y[3]) + " + oh * " + L(y[3]) + " + ow") << ";\n";
  if (isa<MaxPool2DGradOp>(op)) {
    os << "{\n";
    windowMax(1);
    os << "if (arg == o2 * " << L(x[3]) << " + o3) acc += g;\n}\n";
  } else {
    os << "{\n";
    divisor();
    os << "acc += g / (" << acc << ")count;\n}\n";
  }
  os << "}\n}\n" << k.store(0, "t", "acc");
  return perElement(k, op->getName().stripDialect().str(), numel(op->getResult(0)), body);
}

/// Reductions over any axes: one thread per result element loops over the reduced ones.
FailureOr<CudaKernel> emitGenericReduce(Kernel &k, Operation *op) {
  Value x = op->getOperand(0);
  auto in = shapeOf(x);
  int64_t r = in.size();
  auto axesAttr = op->getAttrOfType<DenseI64ArrayAttr>("axes").asArrayRef();
  bool keep = attrInt(op, "keepdims", 1) != 0;
  if (auto b = op->getAttrOfType<BoolAttr>("keepdims"))
    keep = b.getValue();
  SmallVector<bool> reduced(r, axesAttr.empty());
  for (int64_t a : axesAttr)
    reduced[a < 0 ? a + r : a] = true;
  auto stride = stridesOf(in);
  auto out = shapeOf(op->getResult(0));
  std::string acc = isa<FloatType>(elemType(x)) ? accType(elemType(x)) : computeType(elemType(x));
  bool isMax = isa<ReduceMaxOp>(op);
  std::string body;
  llvm::raw_string_ostream os(body);
  os << coordinates(out, "t", "o") << "long long base = 0;\n";
  int64_t count = 1, od = 0;
  for (int64_t dim = 0; dim < r; ++dim) {
    if (reduced[dim]) {
      count *= in[dim];
      if (keep)
        ++od;
      continue;
    }
    os << "base += o" << od++ << " * " << L(stride[dim]) << ";\n";
  }
  std::string init =
      isMax ? (acc == "float" || acc == "double" ? "-" + floatLiteral(INFINITY, acc)
                                                 : "(" + acc + ")(-9223372036854775807LL - 1)")
            : "(" + acc + ")0";
  os << acc << " a = " << init << ";\nfor (long long q = 0; q < " << L(count) << "; ++q) {\n"
     << "long long rem = q, off = base;\n";
  for (int64_t dim = r - 1; dim >= 0; --dim)
    if (reduced[dim])
      os << "off += (rem % " << L(in[dim]) << ") * " << L(stride[dim]) << "; rem /= " << L(in[dim])
         << ";\n";
  os << "const " << acc << " v = (" << acc << ")" << k.load(0, "off") << ";\n"
     << (isMax ? "a = precis_max(a, v);\n" : "a += v;\n") << "}\n";
  if (isa<ReduceMeanOp>(op))
    os << "a = a / (" << acc << ")" << count << ";\n";
  os << k.store(0, "t", "a");
  return perElement(k, op->getName().stripDialect().str(), numel(op->getResult(0)), body);
}

/// Softmax / log-softmax over a non-trailing axis: one thread per (outer, inner) position.
FailureOr<CudaKernel> emitGenericSoftmax(Kernel &k, Operation *op) {
  auto in = shapeOf(op->getOperand(0));
  int64_t r = in.size(), axis = attrInt(op, "axis", -1);
  if (axis < 0)
    axis += r;
  int64_t A = in[axis], inner = product(in.drop_front(axis + 1));
  int64_t outer = product(in) / std::max<int64_t>(A * inner, 1);
  std::string acc = accType(elemType(op->getResult(0)));
  std::string ex = fn("exp", acc), lg = fn("log", acc);
  std::string idx =
      "(t / " + L(inner) + ") * " + L(A * inner) + " + t % " + L(inner) + " + a * " + L(inner);
  std::string body;
  llvm::raw_string_ostream os(body);
  os << acc << " m = -" << floatLiteral(INFINITY, acc) << ", s = 0;\n"
     << "for (long long a = 0; a < " << L(A) << "; ++a) m = precis_max(m, (" << acc << ")"
     << k.load(0, idx) << ");\n"
     << "for (long long a = 0; a < " << L(A) << "; ++a) s += " << ex << "((" << acc << ")"
     << k.load(0, idx) << " - m);\n"
     << "for (long long a = 0; a < " << L(A) << "; ++a) {\nconst " << acc << " x = (" << acc << ")"
     << k.load(0, idx) << ";\n"
     << k.store(0, idx, isa<SoftmaxOp>(op) ? ex + "(x - m) / s" : "(x - m) - " + lg + "(s)")
     << "}\n";
  return perElement(k, op->getName().stripDialect().str(), outer * inner, body);
}

FailureOr<CudaKernel> emitBatchNorm(Kernel &k, BatchNormOp bn) {
  auto in = shapeOf(bn.getInput());
  int64_t N = in[0], C = in.size() > 1 ? in[1] : 1, S = product(in.drop_front(2));
  std::string acc = accType(elemType(bn.getResult()));
  std::string body;
  llvm::raw_string_ostream os(body);
  std::string idx = "(e / " + L(S) + ") * " + L(C * S) + " + c * " + L(S) + " + e % " + L(S);
  std::string loop = "for (long long e = threadIdx.x; e < " + L(N * S) + "; e += blockDim.x) ";
  os << "const long long c = blockIdx.x;\n" << acc << " mean, var;\n";
  if (bn.getTraining()) {
    os << acc << " s = 0;\n"
       << loop << "s += (" << acc << ")" << k.load(0, idx) << ";\n"
       << "mean = precis_block_reduce(s, PrecisSum(), (" << acc << ")0) / (" << acc << ")" << N * S
       << ";\n"
       << acc << " q = 0;\n"
       << loop << "{ const " << acc << " d = (" << acc << ")" << k.load(0, idx)
       << " - mean; q += d * d; }\n"
       << "var = precis_block_reduce(q, PrecisSum(), (" << acc << ")0) / (" << acc << ")" << N * S
       << ";\n";
  } else {
    os << "mean = (" << acc << ")" << k.load(3, "c") << "; var = (" << acc << ")" << k.load(4, "c")
       << ";\n";
  }
  std::string eps = floatLiteral(bn.getEpsilon().convertToFloat(), acc);
  os << "const " << acc << " a = (" << acc << ")" << k.load(1, "c") << " / " << fn("sqrt", acc)
     << "(var + " << eps << "), b = (" << acc << ")" << k.load(2, "c") << ";\n"
     << loop << "{\n"
     << k.store(0, idx, "((" + acc + ")" + k.load(0, idx) + " - mean) * a + b")
     << "}\nif (threadIdx.x == 0) {\n";
  std::string mom = floatLiteral(bn.getMomentum().convertToFloat(), acc);
  for (unsigned i : {1u, 2u}) {
    std::string run = "(" + acc + ")" + k.load(2 + i, "c");
    std::string stat = i == 1 ? "mean" : "var";
    os << k.store(i, "c",
                  bn.getTraining() ? mom + " * " + run + " + (1 - " + mom + ") * " + stat : run);
  }
  os << "}\n";
  int64_t threads = std::min<int64_t>(1024, std::max<int64_t>(32, (N * S + 31) / 32 * 32));
  k.block = {threads, 1, 1};
  k.grid = {C, 1, 1};
  return k.finish("batch_norm", body);
}

/// Losses: one block walks the positions (deterministic sums, no atomics).
FailureOr<CudaKernel> emitLoss(Kernel &k, Operation *op) {
  Value scores = op->getOperand(0);
  auto in = shapeOf(scores);
  int64_t N = in[0], C = in.size() > 1 ? in[1] : 1, D = product(in.drop_front(2));
  int64_t P = N * D;
  auto reduction = op->getAttrOfType<LossReductionAttr>("reduction").getValue();
  auto ignore = op->getAttrOfType<IntegerAttr>("ignore_index");
  bool hasWeights = op->getNumOperands() > 2;
  std::string acc = accType(elemType(scores));
  std::string body;
  llvm::raw_string_ostream os(body);
  std::string base = "(p / " + L(D) + ") * " + L(C * D) + " + p % " + L(D);
  auto weightOf = [&](const std::string &label) {
    std::string w = hasWeights ? "(" + acc + ")" + k.load(2, label) : "(" + acc + ")1";
    if (ignore)
      w = "(" + label + " == " + L(ignore.getInt()) + " ? (" + acc + ")0 : " + w + ")";
    return w;
  };
  os << acc << " total = 0, denom = 0;\n";
  if (isa<SoftmaxCrossEntropyOp>(op)) {
    std::string x = "(" + acc + ")" + k.load(0, "b + c * " + L(D));
    os << "for (long long p = 0; p < " << L(P) << "; ++p) {\n"
       << "const long long b = " << base << ";\n"
       << acc << " m = -" << floatLiteral(INFINITY, acc) << ";\n"
       << "for (long long c = threadIdx.x; c < " << L(C) << "; c += blockDim.x) m = precis_max(m, "
       << x << ");\nm = precis_block_reduce(m, PrecisMax(), -" << floatLiteral(INFINITY, acc)
       << ");\n"
       << acc << " s = 0;\n"
       << "for (long long c = threadIdx.x; c < " << L(C)
       << "; c += blockDim.x) s += " << fn("exp", acc) << "(" << x << " - m);\n"
       << "const " << acc << " lse = m + " << fn("log", acc)
       << "(precis_block_reduce(s, PrecisSum(), (" << acc << ")0));\n"
       << "for (long long c = threadIdx.x; c < " << L(C) << "; c += blockDim.x) {\n"
       << k.store(1, "b + c * " + L(D), x + " - lse") << "}\n"
       << "if (threadIdx.x == 0) {\nconst long long label = (long long)" << k.load(1, "p")
       << ";\nconst " << acc << " w = " << weightOf("label") << ";\n"
       << "const " << acc << " lp = w == 0 ? (" << acc << ")0 : -w * ((" << acc << ")"
       << k.load(0, "b + label * " + L(D)) << " - lse);\n";
  } else {
    os << "for (long long p = threadIdx.x; p < " << L(P) << "; p += blockDim.x) {\n"
       << "const long long b = " << base << ";\n"
       << "{\nconst long long label = (long long)" << k.load(1, "p") << ";\nconst " << acc
       << " w = " << weightOf("label") << ";\n"
       << "const " << acc << " lp = w == 0 ? (" << acc << ")0 : -w * (" << acc << ")"
       << k.load(0, "b + label * " + L(D)) << ";\n";
  }
  if (reduction == LossReduction::None)
    os << k.store(0, "p", "lp");
  os << "total += lp; denom += w;\n}\n}\n";
  if (reduction != LossReduction::None) {
    if (isa<NllLossOp>(op))
      os << "total = precis_block_reduce(total, PrecisSum(), (" << acc << ")0);\n"
         << "denom = precis_block_reduce(denom, PrecisSum(), (" << acc << ")0);\n";
    os << "if (threadIdx.x == 0) {\n"
       << k.store(0, "0", reduction == LossReduction::Mean ? "total / denom" : "total") << "}\n";
  }
  k.block = {isa<SoftmaxCrossEntropyOp>(op)
                 ? std::min<int64_t>(1024, std::max<int64_t>(32, (C + 31) / 32 * 32))
                 : 256,
             1, 1};
  k.grid = {1, 1, 1};
  return k.finish(op->getName().stripDialect().str(), body);
}

FailureOr<CudaKernel> emitNllLossGrad(Kernel &k, NllLossGradOp op) {
  auto in = shapeOf(op.getResult());
  int64_t C = in.size() > 1 ? in[1] : 1, D = product(in.drop_front(2));
  int64_t P = in[0] * D;
  auto ignore = op.getIgnoreIndex();
  bool hasWeights = static_cast<bool>(op.getWeights());
  std::string acc = accType(elemType(op.getResult()));
  auto weightOf = [&](const std::string &label) {
    std::string w = hasWeights ? "(" + acc + ")" + k.load(2, label) : "(" + acc + ")1";
    if (ignore)
      w = "(" + label + " == " + L(*ignore) + " ? (" + acc + ")0 : " + w + ")";
    return w;
  };
  std::string body;
  llvm::raw_string_ostream os(body);
  os << acc << " denom = 1;\n";
  if (op.getReduction() == LossReduction::Mean)
    os << "{\n"
       << acc << " s = 0;\nfor (long long p = threadIdx.x; p < " << L(P)
       << "; p += blockDim.x) { const long long label = (long long)" << k.load(1, "p")
       << "; s += " << weightOf("label") << "; }\n"
       << "denom = precis_block_reduce(s, PrecisSum(), (" << acc << ")0);\n}\n";
  int64_t n = numel(op.getResult());
  // Every thread of every block runs the loop the same number of times (the block-wide
  // reduction above needs all threads), so the grid-stride loop comes after it.
  os << gridLoop(n) << "const long long c = (t / " << L(D) << ") % " << L(C) << ", p = (t / "
     << L(C * D) << ") * " << L(D) << " + t % " << L(D) << ";\n"
     << "const long long label = (long long)" << k.load(1, "p") << ";\n"
     << acc << " v = 0;\nif (c == label) v = -" << weightOf("label") << " * (" << acc << ")"
     << k.load(0, op.getReduction() == LossReduction::None ? "p" : "0") << " / denom;\n"
     << k.store(0, "t", "v") << "}\n";
  k.launchOver(n);
  return k.finish("nll_loss_grad", body);
}

FailureOr<CudaKernel> emitDataMovement(Kernel &k, Operation *op) {
  std::string body;
  llvm::raw_string_ostream os(body);
  std::string kind = op->getName().stripDialect().str();
  Value result = op->getResult(0);
  if (auto g = dyn_cast<GatherOp>(op)) {
    auto data = shapeOf(g.getData());
    int64_t axis = normAxis(static_cast<int64_t>(g.getAxis()), data.size());
    int64_t inner = product(data.drop_front(axis + 1)), J = numel(g.getIndices()), A = data[axis];
    os << "long long ix = (long long)" << k.load(1, "(t / " + L(inner) + ") % " + L(J)) << ";\n"
       << "if (ix < 0) ix += " << L(A) << ";\n"
       << k.store(0, "t",
                  k.load(0, "((t / " + L(J * inner) + ") * " + L(A) + " + ix) * " + L(inner) +
                                " + t % " + L(inner)));
    return perElement(k, kind, numel(result), body);
  }
  if (auto g = dyn_cast<GatherGradOp>(op)) {
    auto data = shapeOf(g.getResult());
    int64_t axis = normAxis(static_cast<int64_t>(g.getAxis()), data.size());
    int64_t inner = product(data.drop_front(axis + 1)), J = numel(g.getIndices()), A = data[axis];
    std::string acc = accType(elemType(result));
    os << "const long long o = t / " << L(A * inner) << ", r = (t / " << L(inner) << ") % " << L(A)
       << ", e = t % " << L(inner) << ";\n"
       << acc << " acc = 0;\nfor (long long j = 0; j < " << L(J) << "; ++j) {\n"
       << "long long ix = (long long)" << k.load(1, "j") << "; if (ix < 0) ix += " << L(A)
       << ";\nif (ix == r) acc += (" << acc << ")"
       << k.load(0, "(o * " + L(J) + " + j) * " + L(inner) + " + e") << ";\n}\n"
       << k.store(0, "t", "acc");
    return perElement(k, kind, numel(result), body);
  }
  if (auto s = dyn_cast<SliceOp>(op)) {
    auto in = stridesOf(shapeOf(s.getInput()));
    os << coordinates(shapeOf(result), "t", "o") << "const long long src = 0";
    for (size_t d = 0; d < in.size(); ++d)
      os << " + (" << L(s.getStart()[d]) << " + o" << d << " * " << L(s.getStep()[d]) << ") * "
         << L(in[d]);
    os << ";\n" << k.store(0, "t", k.load(0, "src"));
    return perElement(k, kind, numel(result), body);
  }
  if (auto s = dyn_cast<SliceGradOp>(op)) {
    auto g = shapeOf(s.getGrad());
    auto gs = stridesOf(g);
    os << coordinates(shapeOf(result), "t", "o") << "long long src = 0; bool hit = true;\n";
    for (size_t d = 0; d < g.size(); ++d)
      os << "{ const long long rel = o" << d << " - " << L(s.getStart()[d])
         << ", st = " << L(s.getStep()[d]) << "; const long long q = rel / st;\n"
         << "if (rel % st != 0 || q < 0 || q >= " << L(g[d]) << ") hit = false; else src += q * "
         << L(gs[d]) << "; }\n";
    os << k.store(0, "t",
                  "hit ? " + k.load(0, "src") + " : (" + computeType(elemType(result)) + ")0");
    return perElement(k, kind, numel(result), body);
  }
  if (auto tr = dyn_cast<TransposeOp>(op)) {
    auto in = stridesOf(shapeOf(tr.getInput()));
    os << coordinates(shapeOf(result), "t", "o") << "const long long src = 0";
    for (auto [i, p] : llvm::enumerate(tr.getPerm()))
      os << " + o" << i << " * " << L(in[p]);
    os << ";\n" << k.store(0, "t", k.load(0, "src"));
    return perElement(k, kind, numel(result), body);
  }
  if (auto c = dyn_cast<ConcatOp>(op)) {
    auto out = shapeOf(result);
    int64_t axis = normAxis(static_cast<int64_t>(c.getAxis()), out.size());
    int64_t inner = product(out.drop_front(axis + 1)), A = out[axis];
    os << "const long long o = t / " << L(A * inner) << ", a = (t / " << L(inner) << ") % " << L(A)
       << ", e = t % " << L(inner) << ";\n";
    int64_t offset = 0;
    for (auto [i, in] : llvm::enumerate(c.getInputs())) {
      int64_t Ai = shapeOf(in)[axis];
      os << (i ? "else " : "") << "if (a < " << L(offset + Ai) << ") "
         << k.store(
                0, "t",
                k.load(i, "(o * " + L(Ai) + " + a - " + L(offset) + ") * " + L(inner) + " + e"));
      offset += Ai;
    }
    return perElement(k, kind, numel(result), body);
  }
  if (auto s = dyn_cast<SplitOp>(op)) {
    auto in = shapeOf(s.getInput());
    int64_t axis = normAxis(static_cast<int64_t>(s.getAxis()), in.size());
    int64_t inner = product(in.drop_front(axis + 1)), A = in[axis];
    os << "const long long o = t / " << L(A * inner) << ", a = (t / " << L(inner) << ") % " << L(A)
       << ", e = t % " << L(inner) << ";\n";
    int64_t offset = 0;
    for (auto [i, r] : llvm::enumerate(s.getResults())) {
      int64_t Ai = shapeOf(r)[axis];
      os << (i ? "else " : "") << "if (a < " << L(offset + Ai) << ") "
         << k.store(i, "(o * " + L(Ai) + " + a - " + L(offset) + ") * " + L(inner) + " + e",
                    k.load(0, "t"));
      offset += Ai;
    }
    return perElement(k, kind, numel(s.getInput()), body);
  }
  return op->emitError("no CUDA kernel for ") << op->getName();
}

/// Dropout: the CPU backend's Philox-4x32-10 stream, bit for bit.
FailureOr<CudaKernel> emitDropout(Kernel &k, DropoutOp op) {
  float ratio = op.getRatio().convertToFloat();
  int64_t n = numel(op.getInput());
  std::string body;
  llvm::raw_string_ostream os(body);
  std::string x = k.load(0, "t");
  if (!op.getTraining() || ratio == 0.0f) {
    os << k.store(0, "t", x) << k.store(1, "t", "true");
    return perElement(k, "dropout", n, body);
  }
  uint64_t seed = static_cast<uint64_t>(op.getSeed());
  bool dropAll = ratio >= 1.0f;
  std::string ct = computeType(elemType(op.getInput()));
  os << "const unsigned long long g = (unsigned long long)t / 4ULL;\n"
     << "unsigned c0 = (unsigned)g, c1 = (unsigned)(g >> 32), c2 = 0, c3 = 0;\n"
     << "unsigned k0 = " << static_cast<uint32_t>(seed)
     << "u, k1 = " << static_cast<uint32_t>(seed >> 32) << "u;\n"
     << "for (int round = 0; round < 10; ++round) {\n"
     << "if (round > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }\n"
     << "const unsigned long long p0 = 0xD2511F53ull * c0, p1 = 0xCD9E8D57ull * c2;\n"
     << "const unsigned n0 = (unsigned)(p1 >> 32) ^ c1 ^ k0, n1 = (unsigned)p1;\n"
     << "const unsigned n2 = (unsigned)(p0 >> 32) ^ c3 ^ k1, n3 = (unsigned)p0;\n"
     << "c0 = n0; c1 = n1; c2 = n2; c3 = n3;\n}\n"
     << "const unsigned lane = (unsigned)(t & 3);\n"
     << "const unsigned w = lane == 0 ? c0 : lane == 1 ? c1 : lane == 2 ? c2 : c3;\n"
     << "const float u = (float)(w >> 8) * 5.9604644775390625e-08f;\n"
     << "const bool keep = " << (dropAll ? "false" : "u >= " + floatLiteral(ratio)) << ";\n"
     << "const " << ct << " scale = (" << ct << ")"
     << (dropAll ? std::string("0") : floatLiteral(1.0f / (1.0f - ratio))) << ";\n"
     << k.store(0, "t", "keep ? " + x + " * scale : (" + ct + ")0") << k.store(1, "t", "keep");
  return perElement(k, "dropout", n, body);
}

FailureOr<CudaKernel> emitOptimizer(Kernel &k, Operation *op) {
  std::string body;
  llvm::raw_string_ostream os(body);
  int64_t n = numel(op->getOperand(0));
  if (auto sgd = dyn_cast<SgdUpdateOp>(op)) {
    float wd = sgd.getWeightDecay().convertToFloat(), m = sgd.getMomentum().convertToFloat();
    float keep = static_cast<float>(1.0 - sgd.getDampening().convertToDouble());
    os << "const bool first = in2[0] == 1.0f;\nconst float negLr = -in3[0];\n"
       << "const float pv = in0[t];\nfloat d = in1[t];\n";
    if (wd != 0)
      os << "d = d + " << floatLiteral(wd) << " * pv;\n";
    if (sgd.getMomentumBuf()) {
      os << "const float b = first ? d : in4[t] * " << floatLiteral(m) << " + "
         << floatLiteral(keep) << " * d;\nout1[t] = b;\n"
         << (sgd.getNesterov() ? "d = d + " + floatLiteral(m) + " * b;\n" : "d = b;\n");
    }
    os << "out0[t] = pv + negLr * d;\n";
    return perElement(k, "sgd_update", n, body);
  }
  auto adam = cast<AdamUpdateOp>(op);
  double b1 = adam.getBeta1().convertToDouble(), b2 = adam.getBeta2().convertToDouble();
  double wd = adam.getWeightDecay().convertToDouble();
  // The attributes are f32: take their exact values as the CPU backend does.
  os << "const double step = in4[0], lr = in5[0];\n"
     << "const double biasC1 = 1.0 - pow(" << floatLiteral(b1, "double") << ", step);\n"
     << "const double biasC2 = 1.0 - pow(" << floatLiteral(b2, "double") << ", step);\n"
     << "const float stepSize = (float)(lr / biasC1), biasC2Sqrt = (float)sqrt(biasC2);\n"
     << "const float decay = (float)(1.0 - lr * " << floatLiteral(wd, "double") << ");\n"
     << "float pv = in0[t], gv = in1[t];\n";
  if (adam.getDecoupled())
    os << "pv = pv * decay;\n";
  else if (wd != 0)
    os << "gv = gv + " << floatLiteral(wd) << " * pv;\n";
  os << "(void)decay;\nconst float mv = in2[t] + " << floatLiteral(1 - b1) << " * (gv - in2[t]);\n"
     << "const float vv = in3[t] * " << floatLiteral(b2) << " + " << floatLiteral(1 - b2)
     << " * (gv * gv);\n"
     << "const float denom = sqrtf(vv) / biasC2Sqrt + "
     << floatLiteral(adam.getEps().convertToDouble())
     << ";\nout1[t] = mv;\nout2[t] = vv;\nout0[t] = pv + -stepSize * (mv / denom);\n";
  return perElement(k, "adam_update", n, body);
}

/// all_finite: one block walks every operand (a deterministic answer in one launch).
FailureOr<CudaKernel> emitAllFinite(Kernel &k, Operation *op) {
  std::string body;
  llvm::raw_string_ostream os(body);
  os << "int bad = 0;\n";
  for (auto [i, in] : llvm::enumerate(op->getOperands()))
    os << "for (long long t = threadIdx.x; t < " << L(numel(in)) << "; t += blockDim.x) {\n"
       << "const " << computeType(elemType(in)) << " x = " << k.load(i, "t") << ";\n"
       << "bad |= !isfinite(x);\n}\n";
  os << "bad = precis_block_reduce(bad, PrecisMax(), 0);\n"
     << "if (threadIdx.x == 0) " << k.store(0, "0", "bad == 0");
  k.block = {1024, 1, 1};
  k.grid = {1, 1, 1};
  return k.finish("all_finite", body);
}

/// The body ops of a fusion group that compute something (not constants, not the yield).
SmallVector<Operation *> computeOps(Block &body) {
  SmallVector<Operation *> ops;
  for (Operation &op : body.without_terminator())
    if (!isa<ConstantOp>(op))
      ops.push_back(&op);
  return ops;
}

} // namespace

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
      .Case<GatherOp, GatherGradOp, SliceOp, SliceGradOp, TransposeOp, ConcatOp, SplitOp>(
          [&](Operation *o) { return emitDataMovement(k, o); })
      .Case<DropoutOp>([&](DropoutOp o) { return emitDropout(k, o); })
      .Case<AllFiniteOp>([&](Operation *o) { return emitAllFinite(k, o); })
      .Case<SgdUpdateOp, AdamUpdateOp>([&](Operation *o) { return emitOptimizer(k, o); })
      .Default([&](Operation *o) -> FailureOr<CudaKernel> {
        return o->emitError("no CUDA kernel for ") << o->getName();
      });
}

bool cudaCompilerAvailable() {
#ifdef PRECIS_HAVE_NVRTC
  return true;
#else
  return false;
#endif
}

LogicalResult compileCudaKernel(Operation *op, StringRef arch, CudaKernel &kernel) {
#ifdef PRECIS_HAVE_NVRTC
  if (!arch.starts_with("sm_"))
    return op->emitError("CUDA architecture '") << arch << "' is not of the form sm_XX";
  std::string virtualArch = ("compute_" + arch.drop_front(3)).str();
  auto run = [&](const std::string &gpuArch, bool wantCubin, std::string &out) -> LogicalResult {
    const char *headers[] = {kNumericsHeader, kFastMathHeader};
    const char *headerNames[] = {"precis/runtime/numerics.h", "precis/runtime/FastMath.h"};
    nvrtcProgram prog;
    std::string file = kernel.name + ".cu";
    if (nvrtcCreateProgram(&prog, kernel.source.c_str(), file.c_str(), 2, headers, headerNames) !=
        NVRTC_SUCCESS)
      return op->emitError("NVRTC cannot create a program for kernel ") << kernel.name;
    std::string archOpt = "--gpu-architecture=" + gpuArch;
    std::string includeOpt = std::string("--include-path=") + PRECIS_CUDA_INCLUDE_DIR;
    // --fmad=false: no a * b + c contracted into an FMA, as on the CPU (x86-64 without FMA
    // instructions), so element-wise results match the CPU backend's bit for bit.
    const char *opts[] = {archOpt.c_str(), includeOpt.c_str(), "--std=c++17",
                          "--device-as-default-execution-space", "--fmad=false"};
    nvrtcResult result = nvrtcCompileProgram(prog, 5, opts);
    size_t logSize = 0;
    nvrtcGetProgramLogSize(prog, &logSize);
    std::string log(logSize, '\0');
    if (logSize)
      nvrtcGetProgramLog(prog, log.data());
    if (result != NVRTC_SUCCESS) {
      nvrtcDestroyProgram(&prog);
      return op->emitError("NVRTC failed to compile kernel ")
             << kernel.name << " for " << gpuArch << " (" << nvrtcGetErrorString(result) << "):\n"
             << log << "\n--- source ---\n"
             << kernel.source;
    }
    size_t size = 0;
    nvrtcResult got = wantCubin ? nvrtcGetCUBINSize(prog, &size) : nvrtcGetPTXSize(prog, &size);
    out.assign(size, '\0');
    if (got == NVRTC_SUCCESS)
      got = wantCubin ? nvrtcGetCUBIN(prog, out.data()) : nvrtcGetPTX(prog, out.data());
    nvrtcDestroyProgram(&prog);
    if (got != NVRTC_SUCCESS)
      return op->emitError("NVRTC produced no ")
             << (wantCubin ? "cubin" : "PTX") << " for kernel " << kernel.name;
    if (!wantCubin && !out.empty() && out.back() == '\0')
      out.pop_back();
    return success();
  };
  if (failed(run(virtualArch, false, kernel.ptx)) || failed(run(arch.str(), true, kernel.cubin)))
    return failure();
  return success();
#else
  (void)arch;
  (void)kernel;
  return op->emitError("this build of precis has no CUDA compiler (NVRTC was not found when "
                       "it was configured)");
#endif
}

} // namespace precis
