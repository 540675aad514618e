//===- Resize.cpp - resize and resize_grad CUDA kernels -------------------===//
//
// The kernels compute each axis's taps on the device with the formulas of
// precis::resizeTaps (runtime/include/precis/runtime/ResizeTaps.h), in double, with the
// scale and the derived constants as exact literals, so they read the same positions with the
// same weights as the CPU kernels. resize is a gather over the 2^k corners of the k axes that
// are not the identity; resize_grad is a gather too: each input element binary-searches the
// first output that reads it along each axis (the taps are monotone) and sums the readers in
// order, so it needs no atomics. Cubic and antialiased resizes (more taps, with weights the
// device would compute differently) read the taps precis::resizeTable computes on the host,
// stored in the kernel as constant tables: resize sums the product of the active axes' taps,
// resize_grad walks each input coordinate's readers (the table transposed, in output order,
// as the CPU kernel does).
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"
#include "precis/runtime/ResizeTaps.h"

#include "llvm/Support/Format.h"

using namespace mlir;
using namespace mlir::precis;

namespace precis::cuda {
namespace {

/// An exact double literal.
std::string D(double v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::format("%.17g", v);
  if (s.find_first_of(".eEn") == std::string::npos)
    s += ".0";
  return s;
}

/// A device lambda `name(o, lo, hi, w)`: the tap of output coordinate `o` on one axis.
std::string tapLambda(StringRef name, int64_t in, int64_t out, double scale, StringRef mode,
                      StringRef coord, StringRef nearest) {
  const double resized = static_cast<double>(in) * scale;
  std::string x;
  if (coord == "align_corners")
    x = resized <= 1 ? "0.0"
                     : "(double)o * " + D(static_cast<double>(in - 1)) + " / " + D(resized - 1);
  else if (coord == "asymmetric")
    x = "(double)o / " + D(scale);
  else if (coord == "tf_half_pixel_for_nn")
    x = "((double)o + 0.5) / " + D(scale);
  else if (coord == "pytorch_half_pixel")
    x = resized > 1 ? "((double)o + 0.5) / " + D(scale) + " - 0.5" : "0.0";
  else if (coord == "half_pixel_symmetric") {
    const double adjustment = static_cast<double>(out) / resized;
    const double center = static_cast<double>(in) / 2;
    x = D(center * (1 - adjustment)) + " + ((double)o + 0.5) / " + D(scale) + " - 0.5";
  } else
    x = "((double)o + 0.5) / " + D(scale) + " - 0.5";
  std::string s;
  llvm::raw_string_ostream os(s);
  auto clamp = [&](StringRef v) {
    return "(" + v.str() + " < 0.0 ? 0LL : " + v.str() + " > " + D(double(in - 1)) + " ? " +
           L(in - 1) + " : (long long)" + v.str() + ")";
  };
  os << "auto " << name << " = [&](long long o, long long &lo, long long &hi, double &w) {\n"
     << "const double x = " << x << ";\nconst double fl = floor(x);\n";
  if (mode == "linear") {
    os << "lo = " << clamp("fl") << ";\nconst double f1 = fl + 1.0;\nhi = " << clamp("f1")
       << ";\nw = lo == hi ? 0.0 : x - fl;\n";
  } else {
    os << "double i;\n";
    if (nearest == "floor")
      os << "i = fl;\n";
    else if (nearest == "ceil")
      os << "i = ceil(x);\n";
    else if (nearest == "legacy")
      os << "i = " << (scale < 1 ? "ceil(x)" : "trunc(x)") << ";\n";
    else
      os << "i = x - fl == 0.5 ? " << (nearest == "round_prefer_ceil" ? "fl + 1.0" : "fl")
         << " : round(x);\n";
    os << "lo = hi = " << clamp("i") << ";\nw = 0.0;\n";
  }
  os << "};\n";
  return s;
}

/// A `__device__` constant array `name` of `values`.
template <typename T>
std::string table(StringRef type, StringRef name, const std::vector<T> &values,
                  std::string (*literal)(T)) {
  std::string s = "__device__ const " + type.str() + " " + name.str() + "[" +
                  std::to_string(std::max<size_t>(values.size(), 1)) + "] = {";
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? ", " : "") + literal(values[i]);
  return s + (values.empty() ? "0};\n" : "};\n");
}
std::string longLiteral(int64_t v) { return L(v); }
std::string doubleLiteral(double v) { return D(v); }

/// resize / resize_grad from the host's tables (cubic, antialias).
FailureOr<CudaKernel> emitResizeFromTables(Kernel &k, Operation *op, ArrayRef<int64_t> in,
                                           ArrayRef<int64_t> out, ArrayRef<double> scales,
                                           const ResizeFilter &f) {
  bool forward = isa<ResizeOp>(op);
  const int64_t rank = static_cast<int64_t>(in.size());
  SmallVector<int64_t> active;
  std::vector<ResizeTable> tables(static_cast<size_t>(rank));
  for (int64_t a = 0; a < rank; ++a) {
    tables[a] = resizeTable(in[a], out[a], scales[a], f);
    if (!isIdentityTable(tables[a], in[a], out[a]))
      active.push_back(a);
  }
  auto inStrides = stridesOf(in), outStrides = stridesOf(out);
  std::string acc = accType(elemType(op->getResult(0)));
  std::string body;
  llvm::raw_string_ostream os(body);
  if (forward) {
    for (int64_t a : active) {
      std::string sa = std::to_string(a);
      k.globals += table("long long", "precis_idx" + sa, tables[a].index, longLiteral) +
                   table("double", "precis_w" + sa, tables[a].weight, doubleLiteral);
    }
    os << coordinates(out, "t", "o") << "long long base = 0;\n";
    for (int64_t a = 0; a < rank; ++a)
      if (!llvm::is_contained(active, a))
        os << "base += o" << a << " * " << L(inStrides[a]) << ";\n";
    os << acc << " acc = 0;\n";
    // The corners in the CPU kernel's order: the first active axis's tap fastest.
    for (int64_t a : llvm::reverse(active)) {
      std::string sa = std::to_string(a);
      os << "for (long long c" << sa << " = 0; c" << sa << " < " << L(tables[a].count) << "; ++c"
         << sa << ") {\n";
    }
    os << "double w = 1.0;\nlong long off = base;\n";
    for (int64_t a : active) {
      std::string sa = std::to_string(a);
      std::string tap = "o" + sa + " * " + L(tables[a].count) + " + c" + sa;
      os << "if (w != 0.0) { w *= precis_w" << sa << "[" << tap << "]; off += precis_idx" << sa
         << "[" << tap << "] * " << L(inStrides[a]) << "; }\n";
    }
    os << "if (w != 0.0) acc += (" << acc << ")w * (" << acc << ")" << k.load(0, "off") << ";\n";
    for (size_t j = 0; j < active.size(); ++j)
      os << "}\n";
    os << k.store(0, "t", "acc");
    return perElement(k, "resize", numel(op->getResult(0)), body);
  }
  // resize_grad: per active axis, the readers of every input coordinate in CSR form.
  for (int64_t a : active) {
    std::string sa = std::to_string(a);
    std::vector<std::vector<std::pair<int64_t, double>>> lists(static_cast<size_t>(in[a]));
    const ResizeTable &t = tables[a];
    for (int64_t o = 0; o < out[a]; ++o)
      for (int64_t c = 0; c < t.count; ++c) {
        const size_t q = static_cast<size_t>(o * t.count + c);
        if (t.weight[q] != 0)
          lists[t.index[q]].push_back({o, t.weight[q]});
      }
    std::vector<int64_t> begin{0}, reader;
    std::vector<double> weight;
    for (auto &l : lists) {
      for (auto &[o, w] : l) {
        reader.push_back(o);
        weight.push_back(w);
      }
      begin.push_back(static_cast<int64_t>(reader.size()));
    }
    k.globals += table("long long", "precis_begin" + sa, begin, longLiteral) +
                 table("long long", "precis_reader" + sa, reader, longLiteral) +
                 table("double", "precis_rw" + sa, weight, doubleLiteral);
  }
  os << coordinates(in, "t", "o") << "long long base = 0;\n";
  for (int64_t a = 0; a < rank; ++a)
    if (!llvm::is_contained(active, a))
      os << "base += o" << a << " * " << L(outStrides[a]) << ";\n";
  os << acc << " acc = 0;\n";
  // An odometer over the readers of each active axis, the last axis fastest (the CPU order).
  for (int64_t a : active) {
    std::string sa = std::to_string(a);
    os << "for (long long r" << sa << " = precis_begin" << sa << "[o" << sa << "]; r" << sa
       << " < precis_begin" << sa << "[o" << sa << " + 1]; ++r" << sa << ") {\n";
  }
  std::string w = "1.0", off = "base";
  for (int64_t a : active) {
    std::string sa = std::to_string(a);
    w = "(" + w + ") * precis_rw" + sa + "[r" + sa + "]";
    off += " + precis_reader" + sa + "[r" + sa + "] * " + L(outStrides[a]);
  }
  if (active.empty())
    os << "acc = (" << acc << ")" << k.load(0, off) << ";\n";
  else
    os << "acc += (" << acc << ")(" << w << ") * (" << acc << ")" << k.load(0, off) << ";\n";
  for (size_t j = 0; j < active.size(); ++j)
    os << "}\n";
  os << k.store(0, "t", "acc");
  return perElement(k, "resize_grad", numel(op->getResult(0)), body);
}

} // namespace

FailureOr<CudaKernel> emitResize(Kernel &k, Operation *op) {
  bool forward = isa<ResizeOp>(op);
  Value small = forward ? op->getOperand(0) : op->getResult(0);
  Value large = forward ? op->getResult(0) : op->getOperand(0);
  auto in = shapeOf(small), out = shapeOf(large);
  auto scales = cast<DenseF64ArrayAttr>(op->getAttr("scales")).asArrayRef();
  auto str = [&](StringRef name, StringRef dflt) {
    auto a = op->getAttrOfType<StringAttr>(name);
    return a ? a.getValue().str() : dflt.str();
  };
  std::string mode = str("mode", "nearest"),
              coord = str("coordinate_transformation_mode", "half_pixel"),
              nearest = str("nearest_mode", "round_prefer_floor");
  auto flag = [&](StringRef name) {
    auto a = op->getAttrOfType<BoolAttr>(name);
    return a && a.getValue();
  };
  if (mode == "cubic" || (mode == "linear" && flag("antialias"))) {
    ResizeFilter f;
    f.mode = mode;
    f.coordinateMode = coord;
    f.nearestMode = nearest;
    if (auto a = op->getAttrOfType<FloatAttr>("cubic_coeff_a"))
      f.cubicCoeffA = a.getValueAsDouble();
    f.excludeOutside = flag("exclude_outside");
    f.antialias = flag("antialias");
    return emitResizeFromTables(k, op, in, out, scales, f);
  }
  const int64_t rank = static_cast<int64_t>(in.size());
  SmallVector<int64_t> active;
  for (int64_t a = 0; a < rank; ++a) {
    std::vector<ResizeTap> taps = resizeTaps(in[a], out[a], scales[a], mode, coord, nearest);
    bool identity = in[a] == out[a];
    for (int64_t o = 0; identity && o < out[a]; ++o)
      identity = taps[o].lo == o && taps[o].weight == 0;
    if (!identity)
      active.push_back(a);
  }
  auto inStrides = stridesOf(in), outStrides = stridesOf(out);
  std::string acc = accType(elemType(op->getResult(0)));
  std::string body;
  llvm::raw_string_ostream os(body);
  for (int64_t a : active)
    os << tapLambda("tap" + std::to_string(a), in[a], out[a], scales[a], mode, coord, nearest);
  if (forward) {
    os << coordinates(out, "t", "o") << "long long base = 0;\n";
    for (int64_t a = 0; a < rank; ++a)
      if (!llvm::is_contained(active, a))
        os << "base += o" << a << " * " << L(inStrides[a]) << ";\n";
    for (int64_t a : active)
      os << "long long lo" << a << ", hi" << a << "; double w" << a << ";\ntap" << a << "(o" << a
         << ", lo" << a << ", hi" << a << ", w" << a << ");\n";
    os << acc << " acc = 0;\n";
    // The corners in the CPU kernel's order: bit j of the corner picks hi on active axis j.
    for (int64_t corner = 0; corner < (int64_t(1) << active.size()); ++corner) {
      std::string w = "1.0", off = "base";
      for (auto [j, a] : llvm::enumerate(active)) {
        bool high = (corner >> j) & 1;
        std::string sa = std::to_string(a);
        w = "(" + w + ") * " + (high ? "w" + sa : "(1.0 - w" + sa + ")");
        off += " + " + std::string(high ? "hi" : "lo") + sa + " * " + L(inStrides[a]);
      }
      os << "{ const double c = " << w << ";\nif (c != 0.0) acc += (" << acc << ")c * " << "("
         << acc << ")" << k.load(0, off) << "; }\n";
    }
    os << k.store(0, "t", "acc");
    return perElement(k, "resize", numel(op->getResult(0)), body);
  }
  // resize_grad: one thread per input element.
  os << coordinates(in, "t", "o") << "long long base = 0;\n";
  for (int64_t a = 0; a < rank; ++a)
    if (!llvm::is_contained(active, a))
      os << "base += o" << a << " * " << L(outStrides[a]) << ";\n";
  os << acc << " acc = 0;\n";
  for (int64_t a : active) {
    std::string sa = std::to_string(a);
    // The first output whose high tap reaches this input coordinate.
    os << "long long r" << sa << " = 0;\n{ long long l = 0, h = " << L(out[a])
       << ";\nwhile (l < h) {\nconst long long m = (l + h) / 2;\nlong long lo, hi; double w;\ntap"
       << sa << "(m, lo, hi, w);\nif (hi < o" << sa << ") l = m + 1; else h = m;\n}\nr" << sa
       << " = l; }\n"
       << "for (; r" << sa << " < " << L(out[a]) << "; ++r" << sa << ") {\n"
       << "long long lo" << sa << ", hi" << sa << "; double w" << sa << ";\ntap" << sa << "(r" << sa
       << ", lo" << sa << ", hi" << sa << ", w" << sa << ");\nif (lo" << sa << " > o" << sa
       << ") break;\nconst double c" << sa << " = (lo" << sa << " == o" << sa << " ? 1.0 - w" << sa
       << " : 0.0) + (hi" << sa << " == o" << sa << " && hi" << sa << " != lo" << sa << " ? w" << sa
       << " : 0.0);\nif (c" << sa << " == 0.0) continue;\n";
  }
  std::string w = "1.0", off = "base";
  for (int64_t a : active) {
    std::string sa = std::to_string(a);
    w = "(" + w + ") * c" + sa;
    off += " + r" + sa + " * " + L(outStrides[a]);
  }
  os << "acc += (" << acc << ")(" << w << ") * (" << acc << ")" << k.load(0, off) << ";\n";
  for (size_t j = 0; j < active.size(); ++j)
    os << "}\n";
  os << k.store(0, "t", "acc");
  return perElement(k, "resize_grad", numel(op->getResult(0)), body);
}

} // namespace precis::cuda
