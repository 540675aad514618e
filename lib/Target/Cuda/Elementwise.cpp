//===- Elementwise.cpp - element-wise CUDA kernels ------------------------===//
//
// Element-wise expressions (one per PerElement / IndexedCopy op, the CPU backend's arithmetic
// and FastMath.h functions), the kernels of element-wise groups (a grid-stride loop, one
// element per thread, or a vector of 4 / 8 elements through 16-byte loads and stores when no
// operand broadcasts) and rotary embedding.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::precis;

namespace precis::cuda {

//===----------------------------------------------------------------------===//
// Element-wise expressions.
//===----------------------------------------------------------------------===//

namespace {

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
      .Case<SoftplusOp>([&](auto) {
        // max(x, 0) + log1p(exp(-|x|)): NaN reaches the log1p term.
        const std::string &x = a[0];
        return "(" + f("fmax") + "(" + x + ", " + lit(0) + ") + " + f("log1p") + "(" + f("exp") +
               "(-" + f("fabs") + "(" + x + "))))";
      })
      .Case<ErfOp>([&](auto) { return (fast ? fm("fastErf") : f("erf")) + "(" + a[0] + ")"; })
      .Case<SqrtOp>([&](auto) { return f("sqrt") + "(" + a[0] + ")"; })
      .Case<ExpOp>([&](auto) { return (fast ? fm("fastExp") : f("exp")) + "(" + a[0] + ")"; })
      .Case<LogOp>([&](auto) { return f("log") + "(" + a[0] + ")"; })
      .Case<RsqrtOp>([&](auto) { return "(" + lit(1) + " / " + f("sqrt") + "(" + a[0] + "))"; })
      .Case<ReciprocalOp>([&](auto) { return "(" + lit(1) + " / " + a[0] + ")"; })
      .Case<SinOp>([&](auto) { return f("sin") + "(" + a[0] + ")"; })
      .Case<CosOp>([&](auto) { return f("cos") + "(" + a[0] + ")"; })
      .Case<HardSigmoidOp>([&](HardSigmoidOp o) {
        // precis_max / precis_min propagate NaN, as the CPU kernel's comparisons do.
        return "precis_max(" + lit(0) + ", precis_min(" + lit(1) + ", " +
               lit(o.getAlpha().convertToFloat()) + " * " + a[0] + " + " +
               lit(o.getBeta().convertToFloat()) + "))";
      })
      .Case<IsNaNOp>([&](auto) { return "(" + a[0] + " != " + a[0] + ")"; })
      .Case<ModOp>([&](ModOp o) -> R {
        if (!isInt)
          return f("fmod") + "(" + a[0] + ", " + a[1] + ")";
        // x % -1 is 0 (INT_MIN % -1 is undefined); without fmod the remainder takes the
        // divisor's sign.
        const std::string r = "(" + a[0] + " % " + a[1] + ")";
        const std::string zero = "(" + ct + ")0";
        if (o.getFmod())
          return "(" + a[1] + " == -1 ? " + zero + " : " + r + ")";
        return "(" + a[1] + " == -1 ? " + zero + " : (" + r + " != 0 && (" + r + " < 0) != (" +
               a[1] + " < 0)) ? (" + ct + ")(" + r + " + " + a[1] + ") : " + r + ")";
      })
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

} // namespace


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

/// precis.rotary: one thread per result element. A rotated channel finds its pair partner
/// and its cache entry (the pair's, or its own for per-channel caches, broadcast over the
/// leading dimensions) and computes x1 c - x2 s or x2 c + x1 s in the compute type, as the
/// CPU kernel does (NVRTC runs with --fmad=false: no contraction there either).
FailureOr<CudaKernel> emitRotary(Kernel &k, RotaryOp op) {
  ArrayRef<int64_t> shape = shapeOf(op.getInput()), cache = shapeOf(op.getCos());
  const int64_t width = shape.back(), rot = op.getRotatedChannels(), half = rot / 2;
  const int64_t cacheWidth = cache.back();
  SmallVector<int64_t> target(shape.drop_back());
  target.push_back(cacheWidth);
  std::string ct = computeType(elemType(op.getInput()));
  std::string body;
  llvm::raw_string_ostream os(body);
  os << "const long long j = t % " << L(width) << ", row = t / " << L(width) << ";\n"
     << "if (j >= " << L(rot) << ") {\n"
     << k.store(0, "t", k.load(0, "t")) << "} else {\n";
  if (op.getInterleaved())
    os << "const bool first = j % 2 == 0;\n"
       << "const long long pair = j / 2, partner = first ? j + 1 : j - 1;\n";
  else
    os << "const bool first = j < " << L(half) << ";\n"
       << "const long long pair = first ? j : j - " << L(half) << ", partner = first ? j + "
       << L(half) << " : j - " << L(half) << ";\n";
  std::string cacheIndex =
      "(row * " + L(cacheWidth) + " + " + (cacheWidth == half ? "pair" : "j") + ")";
  os << "const long long ci = " << broadcastIndex(cache, target, cacheIndex) << ";\n"
     << "const " << ct << " xj = " << k.load(0, "t") << ", xp = " << k.load(0, "t - j + partner")
     << ";\n"
     << "const " << ct << " c = " << k.load(1, "ci") << ", s = " << k.load(2, "ci") << ";\n"
     << k.store(0, "t", "first ? xj * c - xp * s : xj * c + xp * s") << "}\n";
  return perElement(k, "rotary", numel(op.getResult()), body);
}

} // namespace precis::cuda
