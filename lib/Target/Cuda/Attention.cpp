//===- Attention.cpp - CUDA kernels for attention and attention_grad ------===//
//
// Correct, simple kernels (not tuned): the forward runs one thread per query row with the
// online softmax over the keys, one score at a time, so no score matrix exists; the backward
// runs one thread per query row for dQ and one thread per key row for dK and dV (looping
// over the query heads of its group), both recomputing the probabilities from logsumexp. No
// atomics: every gradient element has one writer. Scores, softmax and sums are in fp32 (f64
// for f64 operands), as on the CPU backend.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

namespace precis::cuda {

namespace {

struct AttentionShape {
  int64_t B, H, Hkv, Sq, Skv, D, Dv, group;
  double scale;
  bool causal;
  SmallVector<int64_t> maskStrides;
};

AttentionShape attentionShape(Value q, Value k, Value v, Value mask, FloatAttr scale, bool causal) {
  auto qs = shapeOf(q), ks = shapeOf(k), vs = shapeOf(v);
  AttentionShape a{
      qs[0],  qs[1], ks[1], qs[2], ks[2], qs[3], vs[3], qs[1] / ks[1], scale.getValueAsDouble(),
      causal, {}};
  if (mask) {
    // Element strides of the mask broadcast (right-aligned) to [B, H, Sq, Skv].
    auto ms = shapeOf(mask);
    SmallVector<int64_t> own = stridesOf(ms);
    a.maskStrides.assign(4, 0);
    for (size_t d = 0; d < ms.size(); ++d)
      if (ms[d] != 1)
        a.maskStrides[4 - ms.size() + d] = own[d];
  }
  return a;
}

/// Statements computing `s`, the masked, scaled score of query row `qRow` (a linear row index
/// into Q) at coordinates (b, h, i) against key `j` of kv head row `kvh`.
std::string score(const Kernel &k, const AttentionShape &a, StringRef acc, unsigned maskInput,
                  bool hasMask) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << acc << " s = 0;\n"
     << "for (long long c = 0; c < " << L(a.D) << "; ++c) s += (" << acc << ")"
     << k.load(0, "qRow * " + L(a.D) + " + c") << " * (" << acc << ")"
     << k.load(1, "(kvh * " + L(a.Skv) + " + j) * " + L(a.D) + " + c") << ";\n"
     << "s *= " << floatLiteral(a.scale, acc) << ";\n";
  if (hasMask)
    os << "s += (" << acc << ")"
       << k.load(maskInput, "b * " + L(a.maskStrides[0]) + " + h * " + L(a.maskStrides[1]) +
                                " + i * " + L(a.maskStrides[2]) + " + j * " + L(a.maskStrides[3]))
       << ";\n";
  return s;
}

} // namespace

FailureOr<CudaKernel> emitAttention(Kernel &k, Operation *op) {
  std::string body;
  llvm::raw_string_ostream os(body);
  if (auto att = dyn_cast<AttentionOp>(op)) {
    AttentionShape a = attentionShape(att.getQuery(), att.getKey(), att.getValue(), att.getMask(),
                                      att.getScaleAttr(), att.getIsCausal());
    std::string acc = accType(elemType(att.getQuery()));
    std::string ninf = floatLiteral(-INFINITY, acc);
    os << "const long long qRow = t, i = t % " << L(a.Sq) << ", bh = t / " << L(a.Sq)
       << ", h = bh % " << L(a.H) << ", b = bh / " << L(a.H) << ";\n"
       << "const long long kvh = b * " << L(a.Hkv) << " + h / " << L(a.group) << ";\n"
       << acc << " o[" << a.Dv << "];\n"
       << "for (long long c = 0; c < " << L(a.Dv) << "; ++c) o[c] = 0;\n"
       << acc << " m = " << ninf << ", l = 0;\n"
       << "const long long jEnd = " << (a.causal ? "min(" + L(a.Skv) + ", i + 1)" : L(a.Skv))
       << ";\nfor (long long j = 0; j < jEnd; ++j) {\n"
       << score(k, a, acc, 3, static_cast<bool>(att.getMask())) << "if (s == " << ninf
       << ") continue;\n"
       << "if (s > m) {\nconst " << acc << " corr = m == " << ninf << " ? (" << acc
       << ")0 : " << fn("exp", acc) << "(m - s);\nl *= corr;\n"
       << "for (long long c = 0; c < " << L(a.Dv) << "; ++c) o[c] *= corr;\nm = s;\n}\n"
       << "const " << acc << " p = " << fn("exp", acc) << "(s - m);\nl += p;\n"
       << "for (long long c = 0; c < " << L(a.Dv) << "; ++c) o[c] += p * (" << acc << ")"
       << k.load(2, "(kvh * " + L(a.Skv) + " + j) * " + L(a.Dv) + " + c") << ";\n}\n"
       << "const " << acc << " inv = l > 0 ? (" << acc << ")1 / l : (" << acc << ")0;\n"
       << "for (long long c = 0; c < " << L(a.Dv) << "; ++c) "
       << k.store(0, "t * " + L(a.Dv) + " + c", "o[c] * inv")
       << k.store(1, "t", "l > 0 ? m + " + fn("log", acc) + "(l) : " + ninf);
    return perElement(k, "attention", a.B * a.H * a.Sq, body);
  }
  auto grad = cast<AttentionGradOp>(op);
  AttentionShape a = attentionShape(grad.getQuery(), grad.getKey(), grad.getValue(), grad.getMask(),
                                    grad.getScaleAttr(), grad.getIsCausal());
  const bool hasMask = static_cast<bool>(grad.getMask());
  std::string acc = accType(elemType(grad.getQuery()));
  std::string ninf = floatLiteral(-INFINITY, acc);
  // Inputs: 0 q, 1 k, 2 v, 3 o, 4 lse, 5 dO, 6 mask. A (query row, key) pair's ds, given
  // qRow, b, h, i, kvh, j and the row's delta.
  auto pair = [&]() {
    std::string s;
    llvm::raw_string_ostream ps(s);
    ps << score(k, a, acc, 6, hasMask) << "const " << acc << " p = " << fn("exp", acc)
       << "(s - lse);\n"
       << acc << " dp = 0;\n"
       << "for (long long c = 0; c < " << L(a.Dv) << "; ++c) dp += (" << acc << ")"
       << k.load(5, "qRow * " + L(a.Dv) + " + c") << " * (" << acc << ")"
       << k.load(2, "(kvh * " + L(a.Skv) + " + j) * " + L(a.Dv) + " + c") << ";\n"
       << "const " << acc << " ds = p * (dp - delta) * " << floatLiteral(a.scale, acc) << ";\n";
    return s;
  };
  auto rowStats = [&]() {
    std::string s;
    llvm::raw_string_ostream rs(s);
    rs << "const " << acc << " lse = (" << acc << ")" << k.load(4, "qRow") << ";\n"
       << acc << " delta = 0;\n"
       << "for (long long c = 0; c < " << L(a.Dv) << "; ++c) delta += (" << acc << ")"
       << k.load(5, "qRow * " + L(a.Dv) + " + c") << " * (" << acc << ")"
       << k.load(3, "qRow * " + L(a.Dv) + " + c") << ";\n";
    return s;
  };
  const int64_t rows = a.B * a.H * a.Sq, keys = a.B * a.Hkv * a.Skv;
  os << "if (t < " << L(rows) << ") {\n"
     << "const long long qRow = t, i = t % " << L(a.Sq) << ", bh = t / " << L(a.Sq) << ", h = bh % "
     << L(a.H) << ", b = bh / " << L(a.H) << ";\n"
     << "const long long kvh = b * " << L(a.Hkv) << " + h / " << L(a.group) << ";\n"
     << acc << " dq[" << a.D << "];\n"
     << "for (long long c = 0; c < " << L(a.D) << "; ++c) dq[c] = 0;\n"
     << rowStats() << "if (lse != " << ninf << ") {\n"
     << "const long long jEnd = " << (a.causal ? "min(" + L(a.Skv) + ", i + 1)" : L(a.Skv))
     << ";\nfor (long long j = 0; j < jEnd; ++j) {\n"
     << pair() << "for (long long c = 0; c < " << L(a.D) << "; ++c) dq[c] += ds * (" << acc << ")"
     << k.load(1, "(kvh * " + L(a.Skv) + " + j) * " + L(a.D) + " + c") << ";\n}\n}\n"
     << "for (long long c = 0; c < " << L(a.D) << "; ++c) "
     << k.store(0, "t * " + L(a.D) + " + c", "dq[c]") << "} else {\n"
     << "const long long kr = t - " << L(rows) << ", j = kr % " << L(a.Skv) << ", kvh = kr / "
     << L(a.Skv) << ", b = kvh / " << L(a.Hkv) << ", hk = kvh % " << L(a.Hkv) << ";\n"
     << acc << " dk[" << a.D << "], dv[" << a.Dv << "];\n"
     << "for (long long c = 0; c < " << L(a.D) << "; ++c) dk[c] = 0;\n"
     << "for (long long c = 0; c < " << L(a.Dv) << "; ++c) dv[c] = 0;\n"
     << "for (long long h = hk * " << L(a.group) << "; h < (hk + 1) * " << L(a.group) << "; ++h)\n"
     << "for (long long i = " << (a.causal ? "j" : "0") << "; i < " << L(a.Sq) << "; ++i) {\n"
     << "const long long qRow = (b * " << L(a.H) << " + h) * " << L(a.Sq) << " + i;\n"
     << rowStats() << "if (lse == " << ninf << ") continue;\n"
     << pair() << "for (long long c = 0; c < " << L(a.Dv) << "; ++c) dv[c] += p * (" << acc << ")"
     << k.load(5, "qRow * " + L(a.Dv) + " + c") << ";\n"
     << "for (long long c = 0; c < " << L(a.D) << "; ++c) dk[c] += ds * (" << acc << ")"
     << k.load(0, "qRow * " + L(a.D) + " + c") << ";\n}\n"
     << "for (long long c = 0; c < " << L(a.D) << "; ++c) "
     << k.store(1, "kr * " + L(a.D) + " + c", "dk[c]") << "for (long long c = 0; c < " << L(a.Dv)
     << "; ++c) " << k.store(2, "kr * " + L(a.Dv) + " + c", "dv[c]") << "}\n";
  return perElement(k, "attention_grad", rows + keys, body);
}

} // namespace precis::cuda
