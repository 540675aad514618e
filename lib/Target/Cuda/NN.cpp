//===- NN.cpp - convolution, pooling, loss and optimizer CUDA kernels -----===//
//
// Direct kernels for the neural-network ops that are no GEMM: convolutions and their
// gradients, pooling and its gradients, losses, dropout (the CPU backend's Philox stream),
// optimizer updates and all_finite.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

using namespace mlir;
using namespace mlir::precis;

namespace precis::cuda {

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

/// Dropout: the CPU backend's stream bit for bit, since both call numerics.h's
/// precis::dropout_uniform (seed and step from the RNG state operand, 0 without one), with
/// element t of rank r drawing element r * n + t of the whole data-parallel batch.
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
  bool dropAll = ratio >= 1.0f;
  std::string ct = computeType(elemType(op.getInput()));
  if (op.getRng())
    os << "const unsigned long long seed = (unsigned long long)in1[0], step = (unsigned long "
          "long)in1[1];\n";
  else
    os << "const unsigned long long seed = 0ULL, step = 0ULL;\n";
  k.takesRank = true;
  os << "const float u = precis::dropout_uniform(seed, step, " << op.getStream()
     << "u, (unsigned long long)(rank * " << L(n) << " + t));\n"
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

} // namespace precis::cuda
