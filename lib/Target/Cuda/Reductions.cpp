//===- Reductions.cpp - reduction and normalisation CUDA kernels ----------===//
//
// Row groups (a reduction or normalisation over trailing dimensions with its fused
// element-wise prologue and epilogue: one thread block per row, block-wide reductions through
// warp shuffles), reductions and softmax over other axes, and batch normalisation.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace mlir::precis;

namespace precis::cuda {

//===----------------------------------------------------------------------===//
// Row groups: a reduction or normalisation over trailing dimensions.
//===----------------------------------------------------------------------===//

/// First dimension of the trailing run `op` reduces or normalises over, or -1.
int64_t rowAxis(Operation *op) { return getTrailingRowAxis(op); }

namespace {

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

} // namespace


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
    if (ln.getRms()) {
      os << "const " << acc << " mean = (" << acc << ")0;\n";
    } else {
      if (failed(reduce("sum", zero, "PrecisSum()", "x", xCone, false)))
        return failure();
      os << "const " << acc << " mean = sum / (" << acc << ")" << cols << ";\n";
    }
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
    // PyTorch's running variance takes the unbiased batch variance.
    if (i == 2 && bn.getUnbiasedRunningVar() && N * S > 1)
      stat = "var * (" + acc + ")" + L(N * S) + " / (" + acc + ")" + L(N * S - 1);
    os << k.store(i, "c",
                  bn.getTraining() ? mom + " * " + run + " + (1 - " + mom + ") * " + stat : run);
  }
  os << "}\n";
  int64_t threads = std::min<int64_t>(1024, std::max<int64_t>(32, (N * S + 31) / 32 * 32));
  k.block = {threads, 1, 1};
  k.grid = {C, 1, 1};
  return k.finish("batch_norm", body);
}

} // namespace precis::cuda
