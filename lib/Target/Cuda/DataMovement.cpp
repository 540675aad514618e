//===- DataMovement.cpp - data movement CUDA kernels ----------------------===//
//
// Gathers, slices, pads, triangles (trilu), transposes, concatenation and split, and their
// gradients: one thread per result element computing the source index.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

using namespace mlir;
using namespace mlir::precis;

namespace precis::cuda {

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
  if (auto g = dyn_cast<GatherElementsOp>(op)) {
    // One thread per result (index) element: its coordinates with the index at the axis.
    auto data = stridesOf(shapeOf(g.getData()));
    const int64_t axis = g.getAxis(), A = shapeOf(g.getData())[axis];
    os << coordinates(shapeOf(g.getIndices()), "t", "o") << "long long ix = (long long)"
       << k.load(1, "t") << ";\nif (ix < 0) ix += " << L(A) << ";\nconst long long src = 0";
    for (size_t d = 0; d < data.size(); ++d)
      os << " + " << (static_cast<int64_t>(d) == axis ? std::string("ix") : "o" + std::to_string(d))
         << " * " << L(data[d]);
    os << ";\n" << k.store(0, "t", k.load(0, "src"));
    return perElement(k, kind, numel(result), body);
  }
  if (auto g = dyn_cast<GatherElementsGradOp>(op)) {
    // One thread per data element, summing (in the accumulation type) the gradients of the
    // index positions along the axis that point at it: deterministic, no atomics.
    auto idxShape = shapeOf(g.getIndices());
    auto idx = stridesOf(idxShape);
    const int64_t axis = g.getAxis(), A = shapeOf(result)[axis];
    std::string acc = accType(elemType(result));
    os << coordinates(shapeOf(result), "t", "o") << acc << " acc = 0;\nif (true";
    for (size_t d = 0; d < idx.size(); ++d)
      if (static_cast<int64_t>(d) != axis)
        os << " && o" << d << " < " << L(idxShape[d]);
    os << ") {\nfor (long long j = 0; j < " << L(idxShape[axis]) << "; ++j) {\n"
       << "const long long at = 0";
    for (size_t d = 0; d < idx.size(); ++d)
      os << " + " << (static_cast<int64_t>(d) == axis ? std::string("j") : "o" + std::to_string(d))
         << " * " << L(idx[d]);
    os << ";\nlong long ix = (long long)" << k.load(1, "at") << "; if (ix < 0) ix += " << L(A)
       << ";\nif (ix == o" << axis << ") acc += (" << acc << ")" << k.load(0, "at") << ";\n}\n}\n"
       << k.store(0, "t", "acc");
    return perElement(k, kind, numel(result), body);
  }
  if (isa<GatherNDOp, ScatterNDOp>(op)) {
    // The flat offset `off` of the slice that the `width`-tuple `q` of operand 1 addresses.
    auto data = shapeOf(op->getOperand(0));
    auto strides = stridesOf(data);
    const int64_t width = shapeOf(op->getOperand(1)).back();
    const int64_t S = product(data.drop_front(width));
    auto tupleOffset = [&](StringRef q) {
      std::string s;
      llvm::raw_string_ostream ts(s);
      ts << "long long off = 0;\n";
      for (int64_t j = 0; j < width; ++j)
        ts << "{ long long ix = (long long)"
           << k.load(1, "(" + q.str() + ") * " + L(width) + " + " + L(j))
           << "; if (ix < 0) ix += " << L(data[j]) << "; off += ix * " << L(strides[j]) << "; }\n";
      return s;
    };
    if (isa<GatherNDOp>(op)) {
      // One thread per result element: tuple t / S, element t % S of its slice.
      os << "const long long q = t / " << L(S) << ";\n"
         << tupleOffset("q") << k.store(0, "t", k.load(0, "off + t % " + L(S)));
      return perElement(k, kind, numel(result), body);
    }
    // scatter_nd: one thread per data element walks the tuples in order (the last `none`
    // update wins, `add` sums in the accumulation type): deterministic, no atomics.
    auto sc = cast<ScatterNDOp>(op);
    const int64_t T = numel(sc.getIndices()) / std::max<int64_t>(width, 1);
    Type elt = elemType(result);
    const bool add = sc.getReduction() == ScatterReduction::Add;
    std::string acc = isa<FloatType>(elt) ? accType(elt) : computeType(elt);
    os << acc << " v = (" << acc << ")" << k.load(0, "t") << ";\nconst long long base = t - t % "
       << L(S) << ";\nfor (long long q = 0; q < " << L(T) << "; ++q) {\n"
       << tupleOffset("q") << "if (off == base) v " << (add ? "+=" : "=") << " (" << acc << ")"
       << k.load(2, "q * " + L(S) + " + t % " + L(S)) << ";\n}\n"
       << k.store(0, "t", "v");
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
  if (auto p = dyn_cast<PadOp>(op)) {
    auto inShape = shapeOf(p.getInput());
    auto in = stridesOf(inShape);
    const int64_t rank = static_cast<int64_t>(inShape.size());
    const PadMode mode = p.getMode();
    Type elt = elemType(result);
    std::string ct = computeType(elt);
    std::string fill =
        isa<FloatType>(elt) ? floatLiteral(p.getValue().convertToDouble(), ct)
        : elt.isInteger(1)
            ? std::string(p.getValue().convertToDouble() != 0.0 ? "true" : "false")
            : "(" + ct + ")" +
                  std::to_string(static_cast<long long>(p.getValue().convertToDouble())) + "LL";
    os << coordinates(shapeOf(result), "t", "o") << "long long src = 0; bool hit = true;\n";
    for (int64_t d = 0; d < rank; ++d) {
      const int64_t n = inShape[d];
      os << "{ long long i = o" << d << " - " << L(p.getPads()[d]) << ";\n";
      if (mode == PadMode::Constant)
        os << "if (i < 0 || i >= " << L(n) << ") hit = false;\n";
      else if (mode == PadMode::Reflect)
        os << "if (i < 0) i = -i; else if (i >= " << L(n) << ") i = " << L(2 * (n - 1))
           << " - i;\n";
      else
        os << "if (i < 0) i = 0; else if (i >= " << L(n) << ") i = " << L(n - 1) << ";\n";
      os << "src += i * " << L(in[d]) << "; }\n";
    }
    os << k.store(0, "t", "hit ? " + k.load(0, "src") + " : (" + ct + ")" + fill);
    return perElement(k, kind, numel(result), body);
  }
  if (auto tri = dyn_cast<TriluOp>(op)) {
    auto shape = shapeOf(result);
    const int64_t cols = shape.back(), rows = shape[shape.size() - 2];
    os << "const long long j = t % " << L(cols) << ", i = (t / " << L(cols) << ") % " << L(rows)
       << ";\nconst bool keep = j - i " << (tri.getUpper() ? ">=" : "<=") << " " << L(tri.getK())
       << ";\n"
       << k.store(0, "t",
                  "keep ? " + k.load(0, "t") + " : (" + computeType(elemType(result)) + ")0");
    return perElement(k, kind, numel(result), body);
  }
  if (auto tk = dyn_cast<TopKOp>(op)) {
    // One thread per (outer, inner) line; round r picks the first element in topk's order
    // (the CPU kernel's: NaN above every number, ties by index) that comes after round r-1's
    // pick. O(n k) per line, no scratch memory.
    auto shape = shapeOf(tk.getInput());
    const int64_t axis = tk.getAxis(), n = shape[axis], kk = tk.getK();
    const int64_t inner = product(shape.drop_front(axis + 1));
    std::string ct = computeType(elemType(tk.getInput()));
    // before(av, ai, bv, bi): a comes first.
    std::string nanFirst = tk.getLargest() ? "an" : "bn";
    std::string cmp = tk.getLargest() ? ">" : "<";
    auto before = [&](StringRef av, StringRef ai, StringRef bv, StringRef bi) {
      return ("precis_topk_before(" + av + ", " + ai + ", " + bv + ", " + bi + ")").str();
    };
    os << "auto precis_topk_before = [](" << ct << " a, long long ai, " << ct
       << " b, long long bi) {\nconst bool an = a != a, bn = b != b;\n"
       << "if (an || bn) return an == bn ? ai < bi : " << nanFirst << ";\n"
       << "if (a != b) return a " << cmp << " b;\nreturn ai < bi;\n};\n"
       << "const long long o = t / " << L(inner) << ", e = t % " << L(inner) << ";\n"
       << ct << " pv = 0; long long pi = -1;\n"
       << "for (long long r = 0; r < " << L(kk) << "; ++r) {\n"
       << ct << " cv = 0; long long ci = -1;\n"
       << "for (long long i = 0; i < " << L(n) << "; ++i) {\n"
       << "const " << ct << " v = " << k.load(0, "(o * " + L(n) + " + i) * " + L(inner) + " + e")
       << ";\nif (pi >= 0 && !" << before("pv", "pi", "v", "i") << ") continue;\n"
       << "if (ci < 0 || " << before("v", "i", "cv", "ci") << ") { cv = v; ci = i; }\n}\n"
       << "const long long at = (o * " << L(kk) << " + r) * " << L(inner) << " + e;\n"
       << k.store(0, "at", "cv") << "out1[at] = ci;\npv = cv; pi = ci;\n}\n";
    return perElement(k, kind, numel(result) / std::max<int64_t>(kk, 1), body);
  }
  if (isa<ArgMaxOp, ArgMinOp>(op)) {
    // One thread per (outer, inner) line walking the axis with the CPU kernel's rule: a NaN
    // wins, ties to the first index (the last with select_last_index).
    Value in = op->getOperand(0);
    auto shape = shapeOf(in);
    auto amax = dyn_cast<ArgMaxOp>(op);
    auto amin = dyn_cast<ArgMinOp>(op);
    const int64_t axis = amax ? amax.getAxis() : amin.getAxis(), n = shape[axis];
    const int64_t inner = product(shape.drop_front(axis + 1));
    const bool last = amax ? amax.getSelectLastIndex() : amin.getSelectLastIndex();
    const char *cmp = amax ? ">" : "<";
    std::string ct = computeType(elemType(in));
    os << "const long long o = t / " << L(inner) << ", e = t % " << L(inner) << ";\n"
       << "long long best = 0;\n"
       << ct << " bv = " << k.load(0, "o * " + L(n * inner) + " + e")
       << ";\nfor (long long i = 1; i < " << L(n) << "; ++i) {\n"
       << "const " << ct << " v = " << k.load(0, "(o * " + L(n) + " + i) * " + L(inner) + " + e")
       << ";\nconst bool vn = v != v, bn = bv != bv;\n"
       << "const bool better = bn ? false : (vn || v " << cmp << " bv);\n"
       << "const bool tie = bn ? vn : (!vn && v == bv);\n"
       << "if (better" << (last ? " || tie" : "") << ") { best = i; bv = v; }\n}\n"
       << "out0[t] = best;\n";
    return perElement(k, kind, numel(result), body);
  }
  if (auto c = dyn_cast<CumSumOp>(op)) {
    // One thread per (outer, inner) line, summing along the axis in the accumulation type.
    auto shape = shapeOf(result);
    const int64_t axis = c.getAxis(), n = shape[axis];
    const int64_t inner = product(shape.drop_front(axis + 1));
    std::string acc = accType(elemType(result));
    os << "const long long o = t / " << L(inner) << ", e = t % " << L(inner) << ";\n"
       << acc << " acc = 0;\nfor (long long s = 0; s < " << L(n) << "; ++s) {\n"
       << "const long long at = (o * " << L(n) << " + "
       << (c.getReverse() ? L(n - 1) + " - s" : std::string("s")) << ") * " << L(inner)
       << " + e;\nconst " << acc << " x = (" << acc << ")" << k.load(0, "at") << ";\n"
       << (c.getExclusive() ? "" : "acc += x;\n") << k.store(0, "at", "acc")
       << (c.getExclusive() ? "acc += x;\n" : "") << "}\n";
    return perElement(k, kind, numel(result) / std::max<int64_t>(n, 1), body);
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

} // namespace precis::cuda
