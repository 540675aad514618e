//===- DefaultDomainNN.cpp - neural-network ONNX ops ----------------------===//
//
// Handlers for contractions (MatMul, Gemm, Conv), reductions, softmax and normalisations,
// pooling and losses. Shapes are checked here so that a malformed model gets an importer
// error at the node rather than a verifier failure.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"
#include "precis/runtime/ResizeTaps.h"

#include <cctype>
#include <cmath>
#include <map>
#include <numeric>

using namespace mlir;
using namespace mlir::precis;

namespace precis::onnx_import {

namespace {

//===----------------------------------------------------------------------===//
// Contractions.
//===----------------------------------------------------------------------===//

/// If `v` is a `precis.transpose` that swaps exactly the last two dimensions, returns its
/// input: the matmul then takes the operand transposed instead (cuBLASLt's TN layout).
Value swappedLastTwo(Value v) {
  auto transpose = v.getDefiningOp<TransposeOp>();
  if (!transpose)
    return nullptr;
  ArrayRef<int64_t> perm = transpose.getPerm();
  int64_t rank = perm.size();
  if (rank < 2)
    return nullptr;
  for (int64_t d = 0; d < rank - 2; ++d)
    if (perm[d] != d)
      return nullptr;
  if (perm[rank - 2] != rank - 1 || perm[rank - 1] != rank - 2)
    return nullptr;
  return transpose.getInput();
}

/// MatMul with NumPy semantics: 1-D operands are promoted to matrices (and the added
/// dimension removed from the result), batch dimensions broadcast.
LogicalResult importMatMul(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1})) || failed(ctx.requireFloat(0)))
    return failure();
  RankedTensorType a = ctx.getInputType(0), b = ctx.getInputType(1);
  if (a.getRank() == 0 || b.getRank() == 0)
    return ctx.emitError() << "operands must have rank >= 1, got " << a << " and " << b;
  Value lhs = ctx.getInput(0), rhs = ctx.getInput(1);
  if (a.getRank() == 1)
    lhs = ctx.reshape(lhs, {1, a.getDimSize(0)});
  if (b.getRank() == 1)
    rhs = ctx.reshape(rhs, {b.getDimSize(0), 1});
  auto lt = cast<RankedTensorType>(lhs.getType()), rt = cast<RankedTensorType>(rhs.getType());
  int64_t k1 = lt.getShape().back(), k2 = rt.getShape()[rt.getRank() - 2];
  if (k1 != k2)
    return ctx.emitError() << "contraction dimensions differ: " << a << " times " << b;
  auto batch = broadcastShapes(lt.getShape().drop_back(2), rt.getShape().drop_back(2));
  if (!batch)
    return ctx.emitError() << "batch dimensions of " << a << " and " << b << " do not broadcast";

  bool transposeLhs = false, transposeRhs = false;
  if (Value inner = swappedLastTwo(lhs)) {
    lhs = inner;
    transposeLhs = true;
  }
  if (Value inner = swappedLastTwo(rhs)) {
    rhs = inner;
    transposeRhs = true;
  }
  Value result =
      ctx.getBuilder().create<MatmulOp>(ctx.getLoc(), lhs, rhs, transposeLhs, transposeRhs);
  SmallVector<int64_t> shape(cast<RankedTensorType>(result.getType()).getShape());
  if (b.getRank() == 1)
    shape.pop_back();
  if (a.getRank() == 1)
    shape.erase(shape.end() - (b.getRank() == 1 ? 1 : 2));
  return ctx.setOutput(0, ctx.reshape(result, shape));
}

/// Einsum with one or two operands and explicit letters (no `...`, no letter repeated within
/// a term), lowered to precis ops: letters found in one operand only and not in the output are
/// summed first; a single operand is then transposed to the output order; two operands are
/// transposed to [batch, free, contracted] and [batch, contracted, free], reshaped to 3-D,
/// multiplied by precis.matmul and reshaped and transposed to the output. This covers the
/// contractions exporters emit ("bhid,bhjd->bhij", "bij,bjk->bik", "i,j->ij", "ij->ji", ...).
LogicalResult importEinsum(NodeContext &ctx) {
  std::string eq;
  for (char c : ctx.getString("equation", ""))
    if (c != ' ')
      eq += c;
  const size_t n = ctx.getNumInputs();
  if (n < 1 || n > 2)
    return ctx.emitUnsupported() << "Einsum with " << n
                                 << " operands is not supported (one or two)";
  for (unsigned i = 0; i < n; ++i)
    if (failed(ctx.requireFloat(i)))
      return failure();
  if (n == 2 && failed(ctx.requireSameElementType({0, 1})))
    return failure();
  if (eq.find("...") != std::string::npos)
    return ctx.emitUnsupported() << "equation '" << eq << "': '...' is not supported";
  const size_t arrow = eq.find("->");
  std::string lhs = eq.substr(0, arrow);
  SmallVector<std::string> terms;
  for (size_t begin = 0;;) {
    size_t comma = lhs.find(',', begin);
    terms.push_back(lhs.substr(begin, comma == std::string::npos ? comma : comma - begin));
    if (comma == std::string::npos)
      break;
    begin = comma + 1;
  }
  if (terms.size() != n)
    return ctx.emitError() << "equation '" << eq << "' has " << terms.size() << " terms for " << n
                           << " operands";
  // Sizes by letter, checked across operands.
  std::map<char, int64_t> size;
  for (unsigned i = 0; i < n; ++i) {
    RankedTensorType t = ctx.getInputType(i);
    const std::string &term = terms[i];
    if (static_cast<int64_t>(term.size()) != t.getRank())
      return ctx.emitError() << "term '" << term << "' has " << term.size()
                             << " letters for operand " << i << " of rank " << t.getRank();
    for (size_t d = 0; d < term.size(); ++d) {
      const char c = term[d];
      if (!std::isalpha(static_cast<unsigned char>(c)))
        return ctx.emitError() << "equation '" << eq << "': '" << c << "' is not a letter";
      if (term.find(c) != d)
        return ctx.emitUnsupported() << "equation '" << eq << "': letter '" << c
                                     << "' repeats within a term (a diagonal), not supported";
      auto [it, fresh] = size.try_emplace(c, t.getDimSize(d));
      if (!fresh && it->second != t.getDimSize(d))
        return ctx.emitError() << "letter '" << c << "' has sizes " << it->second << " and "
                               << t.getDimSize(d);
    }
  }
  std::string out;
  if (arrow != std::string::npos) {
    out = eq.substr(arrow + 2);
  } else { // implicit output: the letters that occur once, alphabetically
    std::map<char, int> count;
    for (const std::string &term : terms)
      for (char c : term)
        ++count[c];
    for (auto [c, k] : count)
      if (k == 1)
        out += c;
  }
  for (size_t d = 0; d < out.size(); ++d)
    if (!size.count(out[d]) || out.find(out[d]) != d)
      return ctx.emitError() << "equation '" << eq << "': output letter '" << out[d]
                             << "' is repeated or in no input";

  OpBuilder &b = ctx.getBuilder();
  Location loc = ctx.getLoc();
  auto shapeOf = [&](StringRef letters) {
    SmallVector<int64_t> s;
    for (char c : letters)
      s.push_back(size[c]);
    return s;
  };
  auto elt = ctx.getInputElementType(0);
  // `v` with letters `from` rearranged to `to` (a permutation of them).
  auto transpose = [&](Value v, StringRef from, StringRef to) -> Value {
    if (from == to)
      return v;
    SmallVector<int64_t> perm;
    for (char c : to)
      perm.push_back(static_cast<int64_t>(from.find(c)));
    auto type =
        RankedTensorType::get(shapeOf(to), cast<RankedTensorType>(v.getType()).getElementType());
    return b.create<TransposeOp>(loc, type, v, b.getDenseI64ArrayAttr(perm));
  };
  // Sums the letters of operand `i` that no other term and not the output has.
  SmallVector<Value> vals;
  SmallVector<std::string> letters;
  for (unsigned i = 0; i < n; ++i) {
    Value v = ctx.getInput(i);
    std::string keep;
    SmallVector<int64_t> axes;
    for (size_t d = 0; d < terms[i].size(); ++d) {
      const char c = terms[i][d];
      bool elsewhere = out.find(c) != std::string::npos;
      for (unsigned j = 0; j < n; ++j)
        elsewhere |= j != i && terms[j].find(c) != std::string::npos;
      if (elsewhere)
        keep += c;
      else
        axes.push_back(static_cast<int64_t>(d));
    }
    if (!axes.empty())
      v = b.create<ReduceSumOp>(loc, RankedTensorType::get(shapeOf(keep), elt), v,
                                b.getDenseI64ArrayAttr(axes), b.getBoolAttr(false));
    vals.push_back(v);
    letters.push_back(keep);
  }
  if (n == 1)
    return ctx.setOutput(0, transpose(vals[0], letters[0], out));

  const std::string &la = letters[0], &lb = letters[1];
  std::string batch, contract, aFree, bFree;
  for (char c : out)
    if (la.find(c) != std::string::npos && lb.find(c) != std::string::npos)
      batch += c;
  for (char c : la)
    if (lb.find(c) == std::string::npos)
      aFree += c;
    else if (out.find(c) == std::string::npos)
      contract += c;
  for (char c : lb)
    if (la.find(c) == std::string::npos)
      bFree += c;
  auto prod = [&](StringRef s) {
    int64_t p = 1;
    for (char c : s)
      p *= size[c];
    return p;
  };
  const int64_t bt = prod(batch), m = prod(aFree), k = prod(contract), nn = prod(bFree);
  auto flat = [&](int64_t r, int64_t c) {
    return batch.empty() ? SmallVector<int64_t>{r, c} : SmallVector<int64_t>{bt, r, c};
  };
  // An operand already laid out [batch, contracted, free] (lhs) or [batch, free, contracted]
  // (rhs) is taken transposed by the matmul instead of transposed in memory (as
  // "bhid,bhjd->bhij" has its keys).
  const bool tl = la != batch + aFree + contract && la == batch + contract + aFree;
  const bool tr = lb != batch + contract + bFree && lb == batch + bFree + contract;
  Value a = tl ? ctx.reshape(vals[0], flat(k, m))
               : ctx.reshape(transpose(vals[0], la, batch + aFree + contract), flat(m, k));
  Value c = tr ? ctx.reshape(vals[1], flat(nn, k))
               : ctx.reshape(transpose(vals[1], lb, batch + contract + bFree), flat(k, nn));
  // f64 operands accumulate in f64 (the verifier rejects a narrower accumulator).
  Value prodv = b.create<MatmulOp>(loc, RankedTensorType::get(flat(m, nn), elt), a, c, tl, tr,
                                   elt.isF64() ? TypeAttr::get(elt) : TypeAttr());
  Value full = ctx.reshape(prodv, shapeOf(batch + aFree + bFree));
  return ctx.setOutput(0, transpose(full, batch + aFree + bFree, out));
}

LogicalResult importGemm(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1, 2})) || failed(ctx.requireFloat(0)))
    return failure();
  RankedTensorType a = ctx.getInputType(0), b = ctx.getInputType(1);
  if (a.getRank() != 2 || b.getRank() != 2)
    return ctx.emitError() << "expects rank-2 A and B, got " << a << " and " << b;
  bool transA = ctx.getInt("transA", 0), transB = ctx.getInt("transB", 0);
  int64_t m = a.getDimSize(transA ? 1 : 0), ka = a.getDimSize(transA ? 0 : 1);
  int64_t kb = b.getDimSize(transB ? 1 : 0), n = b.getDimSize(transB ? 0 : 1);
  if (ka != kb)
    return ctx.emitError() << "contraction dimensions differ: " << a << " and " << b
                           << " (transA = " << transA << ", transB = " << transB << ")";
  if (ctx.hasInput(2)) {
    RankedTensorType ct = ctx.getInputType(2);
    auto shape = broadcastShapes(ct.getShape(), {m, n});
    if (!shape || ArrayRef<int64_t>(*shape) != ArrayRef<int64_t>({m, n}))
      return ctx.emitError() << "C " << ct << " does not broadcast to [" << m << ", " << n << "]";
  }
  OpBuilder &builder = ctx.getBuilder();
  auto type = RankedTensorType::get({m, n}, a.getElementType());
  Value lhs = ctx.getInput(0), rhs = ctx.getInput(1);
  Value c = ctx.hasInput(2) ? ctx.getInput(2) : Value();
  return ctx.setOutput(
      0, builder.create<GemmOp>(
             ctx.getLoc(), type, lhs, rhs, c, builder.getF32FloatAttr(ctx.getFloat("alpha", 1.0f)),
             builder.getF32FloatAttr(ctx.getFloat("beta", 1.0f)), builder.getBoolAttr(transA),
             builder.getBoolAttr(transB), TypeAttr()));
}

/// Padding `[top, left, bottom, right]` of a 2-D window op: explicit `pads` or auto_pad.
/// SAME_* pads so that the output has ceil(in / stride) entries, the odd one at the end
/// (SAME_UPPER) or the beginning (SAME_LOWER).
FailureOr<SmallVector<int64_t>> windowPads(NodeContext &ctx, ArrayRef<int64_t> inSpatial,
                                           ArrayRef<int64_t> kernel, ArrayRef<int64_t> strides,
                                           ArrayRef<int64_t> dilations) {
  std::string autoPad = ctx.getString("auto_pad", "NOTSET");
  if (autoPad == "NOTSET") {
    SmallVector<int64_t> pads = ctx.getInts("pads");
    if (pads.empty())
      pads.assign(4, 0);
    if (pads.size() != 4)
      return ctx.emitError() << "expects 4 pads for a 2-D window, got " << pads.size();
    return pads;
  }
  SmallVector<int64_t> pads(4, 0);
  if (autoPad == "VALID")
    return pads;
  for (int i = 0; i < 2; ++i) {
    int64_t out = (inSpatial[i] + strides[i] - 1) / strides[i];
    int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] +
                                             1 - inSpatial[i]);
    int64_t small = total / 2;
    pads[i] = autoPad == "SAME_LOWER" ? total - small : small;
    pads[i + 2] = total - pads[i];
  }
  return pads;
}

/// The 2-D window attributes shared by Conv and the pools.
struct Window {
  SmallVector<int64_t> kernel, strides, pads, dilations;
};

/// Reads kernel_shape (or `kernel` when the op infers it), strides, dilations and pads.
FailureOr<Window> readWindow(NodeContext &ctx, RankedTensorType input, ArrayRef<int64_t> kernel) {
  if (input.getRank() != 4)
    return ctx.emitError() << "only 2-D windows (NCHW input) are supported, got " << input;
  Window w;
  w.kernel =
      ctx.hasAttr("kernel_shape") ? ctx.getInts("kernel_shape") : SmallVector<int64_t>(kernel);
  w.strides = ctx.getInts("strides");
  w.dilations = ctx.getInts("dilations");
  if (w.strides.empty())
    w.strides.assign(2, 1);
  if (w.dilations.empty())
    w.dilations.assign(2, 1);
  if (w.kernel.size() != 2 || w.strides.size() != 2 || w.dilations.size() != 2)
    return ctx.emitError() << "expects a 2-D kernel_shape, strides and dilations";
  for (int i = 0; i < 2; ++i)
    if (w.kernel[i] < 1 || w.strides[i] < 1 || w.dilations[i] < 1)
      return ctx.emitError() << "kernel, strides and dilations must be positive";
  FailureOr<SmallVector<int64_t>> pads =
      windowPads(ctx, input.getShape().drop_front(2), w.kernel, w.strides, w.dilations);
  if (failed(pads))
    return failure();
  if (llvm::any_of(*pads, [](int64_t p) { return p < 0; }))
    return ctx.emitError() << "pads [" << *pads << "] must be non-negative";
  w.pads = *pads;
  return w;
}

LogicalResult importConv(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1, 2})) || failed(ctx.requireFloat(0)))
    return failure();
  RankedTensorType x = ctx.getInputType(0), w = ctx.getInputType(1);
  if (w.getRank() != 4)
    return ctx.emitError() << "only 2-D convolution is supported, got weight " << w;
  FailureOr<Window> window = readWindow(ctx, x, w.getShape().drop_front(2));
  if (failed(window))
    return failure();
  if (ArrayRef<int64_t>(window->kernel) != w.getShape().drop_front(2))
    return ctx.emitError() << "kernel_shape [" << window->kernel << "] differs from the weight "
                           << w;
  int64_t groups = ctx.getInt("group", 1);
  if (groups < 1 || x.getDimSize(1) % groups || w.getDimSize(0) % groups ||
      w.getDimSize(1) * groups != x.getDimSize(1))
    return ctx.emitError() << "input " << x << " and weight " << w << " do not match for " << groups
                           << " group(s)";
  if (ctx.hasInput(2)) {
    RankedTensorType b = ctx.getInputType(2);
    if (b.getRank() != 1 || b.getDimSize(0) != w.getDimSize(0))
      return ctx.emitError() << "bias must be [" << w.getDimSize(0) << "], got " << b;
  }
  SmallVector<int64_t> shape = {x.getDimSize(0), w.getDimSize(0)};
  for (int i = 0; i < 2; ++i) {
    int64_t span = x.getDimSize(2 + i) + window->pads[i] + window->pads[2 + i] -
                   window->dilations[i] * (window->kernel[i] - 1) - 1;
    if (span < 0)
      return ctx.emitError() << "the kernel is larger than the padded input";
    shape.push_back(span / window->strides[i] + 1);
  }
  Value input = ctx.getInput(0), weight = ctx.getInput(1);
  Value bias = ctx.hasInput(2) ? ctx.getInput(2) : Value();
  return ctx.setOutput(0, ctx.getBuilder().create<Conv2DOp>(
                              ctx.getLoc(), RankedTensorType::get(shape, x.getElementType()), input,
                              weight, bias, window->strides, window->pads, window->dilations,
                              groups, TypeAttr()));
}

/// A 3-D ConvTranspose of `input` [N, C_in, D, H, W] with `weight` [C_in, C_out / groups,
/// kD, kH, kW] to `shape` [N, C_out, D_out, H_out, W_out], as 2-D ones: input depth `d`
/// and kernel depth `k` add to output depth `d * stride + k * dilation` of the unpadded
/// output (`full[0]` deep) the 2-D ConvTranspose of input plane `d` with kernel plane `k`
/// (which crops height and width itself). So per kernel plane, one conv2d_grad_input over all
/// N * D input planes; its planes are spread `stride` apart (interleaved with zeros) and
/// shifted down by `k * dilation`; the sum over kernel planes is cropped to the depth pads (or
/// extended with zeros where output_shape asks for more than the full output). Every piece
/// (transpose, reshape, slice, concat, add, conv2d_grad_input) has its gradient rule, so the
/// composition trains.
static Value convTranspose3D(OpBuilder &b, Location loc, Value input, Value weight,
                             ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations,
                             ArrayRef<int64_t> pads, ArrayRef<int64_t> full,
                             ArrayRef<int64_t> shape, int64_t groups) {
  auto x = cast<RankedTensorType>(input.getType()), w = cast<RankedTensorType>(weight.getType());
  Type elt = x.getElementType();
  auto typeOf = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  auto reshape = [&](Value v, ArrayRef<int64_t> to) -> Value {
    return b.create<ReshapeOp>(loc, RankedTensorType::get(to, elt), v);
  };
  auto transpose = [&](Value v, ArrayRef<int64_t> perm) -> Value {
    SmallVector<int64_t> to;
    for (int64_t p : perm)
      to.push_back(typeOf(v).getDimSize(p));
    return b.create<TransposeOp>(loc, RankedTensorType::get(to, elt), v,
                                 b.getDenseI64ArrayAttr(perm));
  };
  auto slice = [&](Value v, int64_t axis, int64_t start, int64_t limit) -> Value {
    auto t = typeOf(v);
    SmallVector<int64_t> starts(t.getRank(), 0), limits(t.getShape()), steps(t.getRank(), 1),
        to(t.getShape());
    starts[axis] = start;
    limits[axis] = limit;
    to[axis] = limit - start;
    return b.create<SliceOp>(loc, RankedTensorType::get(to, elt), v, b.getDenseI64ArrayAttr(starts),
                             b.getDenseI64ArrayAttr(limits), b.getDenseI64ArrayAttr(steps));
  };
  auto zeros = [&](ArrayRef<int64_t> to) -> Value {
    auto t = RankedTensorType::get(to, elt);
    return b.create<ConstantOp>(loc, DenseElementsAttr::get(t, b.getFloatAttr(elt, 0.0)));
  };
  // Joins the non-empty pieces along `axis`.
  auto concat = [&](ArrayRef<Value> pieces, int64_t axis) -> Value {
    SmallVector<Value> kept;
    for (Value v : pieces)
      if (typeOf(v).getDimSize(axis) > 0)
        kept.push_back(v);
    if (kept.size() == 1)
      return kept.front();
    SmallVector<int64_t> to(typeOf(kept.front()).getShape());
    to[axis] = 0;
    for (Value v : kept)
      to[axis] += typeOf(v).getDimSize(axis);
    return b.create<ConcatOp>(loc, RankedTensorType::get(to, elt), kept, axis);
  };
  const int64_t n = x.getDimSize(0), cIn = x.getDimSize(1), depth = x.getDimSize(2);
  const int64_t cOut = shape[1], outH = shape[3], outW = shape[4], plane = cOut * outH * outW;
  const int64_t stride = strides[0], kDepth = w.getDimSize(2), fullDepth = full[0];
  // The input as N * D images, depth-major within each sample.
  Value images = reshape(transpose(input, {0, 2, 1, 3, 4}),
                         {n * depth, cIn, x.getDimSize(3), x.getDimSize(4)});
  SmallVector<int64_t> s2 = {strides[1], strides[2]}, d2 = {dilations[1], dilations[2]},
                       p2 = {pads[1], pads[2], std::max<int64_t>(pads[4], 0),
                             std::max<int64_t>(pads[5], 0)};
  Value sum;
  for (int64_t k = 0; k < kDepth; ++k) {
    Value kernel = reshape(slice(weight, 2, k, k + 1),
                           {w.getDimSize(0), w.getDimSize(1), w.getDimSize(3), w.getDimSize(4)});
    Value z =
        b.create<Conv2DGradInputOp>(loc, RankedTensorType::get({n * depth, cOut, outH, outW}, elt),
                                    images, kernel, s2, p2, d2, groups, TypeAttr());
    // Input plane d at depth d * stride: each plane followed by stride - 1 planes of zeros.
    z = reshape(z, {n, depth, 1, plane});
    if (stride > 1)
      z = concat({z, zeros({n, depth, stride - 1, plane})}, 2);
    z = reshape(z, {n, depth * stride, plane});
    const int64_t shift = k * dilations[0];
    const int64_t kept = std::min(depth * stride, fullDepth - shift);
    if (kept < depth * stride)
      z = slice(z, 1, 0, kept);
    z = concat({zeros({n, shift, plane}), z, zeros({n, fullDepth - shift - kept, plane})}, 1);
    sum = sum ? b.create<AddOp>(loc, sum, z).getResult() : z;
  }
  const int64_t begin = pads[0], outDepth = shape[2];
  const int64_t end = std::min(fullDepth, begin + outDepth);
  if (begin > 0 || end < fullDepth)
    sum = slice(sum, 1, begin, end);
  sum = concat({sum, zeros({n, begin + outDepth - end, plane})}, 1);
  return transpose(reshape(sum, {n, outDepth, cOut, outH, outW}), {0, 2, 1, 3, 4});
}

/// ConvTranspose is the adjoint of a convolution in its input, so it lowers to
/// conv2d_grad_input with the ConvTranspose weight `[C_in, C_out / group, kH, kW]` as the
/// convolution's `[O, C / groups, kH, kW]` weight; its gradients are then a conv2d and a
/// conv2d_grad_weight. A 1-D ConvTranspose runs as a 2-D one with a unit first spatial axis;
/// a 3-D one as a composition of 2-D ones (convTranspose3D).
LogicalResult importConvTranspose(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1, 2})) || failed(ctx.requireFloat(0)))
    return failure();
  RankedTensorType x = ctx.getInputType(0), w = ctx.getInputType(1);
  int64_t rank = x.getRank();
  if (rank != 3 && rank != 4 && rank != 5)
    return ctx.emitUnsupported() << "only 1-D, 2-D and 3-D ConvTranspose are supported, got input "
                                 << x;
  if (w.getRank() != rank)
    return ctx.emitError() << "weight " << w << " does not match the rank of input " << x;
  int64_t spatial = rank - 2;
  auto attr = [&](StringRef name, int64_t fill, size_t size) -> FailureOr<SmallVector<int64_t>> {
    SmallVector<int64_t> v = ctx.getInts(name);
    if (v.empty())
      v.assign(size, fill);
    if (v.size() != size)
      return ctx.emitError() << "expects " << size << " values in '" << name << "', got "
                             << v.size();
    return v;
  };
  SmallVector<int64_t> kernel(w.getShape().drop_front(2));
  FailureOr<SmallVector<int64_t>> strides = attr("strides", 1, spatial),
                                  dilations = attr("dilations", 1, spatial),
                                  outPad = attr("output_padding", 0, spatial),
                                  pads = attr("pads", 0, 2 * spatial);
  if (failed(strides) || failed(dilations) || failed(outPad) || failed(pads))
    return failure();
  if (ctx.hasAttr("kernel_shape") && ctx.getInts("kernel_shape") != kernel)
    return ctx.emitError() << "kernel_shape [" << ctx.getInts("kernel_shape")
                           << "] differs from the weight " << w;
  for (int64_t i = 0; i < spatial; ++i)
    if ((*strides)[i] < 1 || (*dilations)[i] < 1 || (*outPad)[i] < 0)
      return ctx.emitError() << "strides and dilations must be positive, output_padding "
                                "non-negative";
  int64_t groups = ctx.getInt("group", 1);
  int64_t cIn = x.getDimSize(1);
  if (groups < 1 || cIn % groups || w.getDimSize(0) != cIn)
    return ctx.emitError() << "input " << x << " and weight " << w << " do not match for " << groups
                           << " group(s)";
  int64_t cOut = w.getDimSize(1) * groups;
  if (ctx.hasInput(2)) {
    RankedTensorType b = ctx.getInputType(2);
    if (b.getRank() != 1 || b.getDimSize(0) != cOut)
      return ctx.emitError() << "bias must be [" << cOut << "], got " << b;
  }

  // The output size before padding is removed, then the pads: explicit, or derived from
  // output_shape (or auto_pad's `input * stride`) as the ONNX specification says.
  SmallVector<int64_t> full(spatial);
  for (int64_t i = 0; i < spatial; ++i)
    full[i] = (*strides)[i] * (x.getDimSize(2 + i) - 1) + (*outPad)[i] +
              (kernel[i] - 1) * (*dilations)[i] + 1;
  std::string autoPad = ctx.getString("auto_pad", "NOTSET");
  SmallVector<int64_t> outShape = ctx.getInts("output_shape");
  if (outShape.size() == size_t(rank))
    outShape.erase(outShape.begin(), outShape.begin() + 2);
  if (!outShape.empty() && outShape.size() != size_t(spatial))
    return ctx.emitError() << "output_shape [" << outShape << "] does not have " << spatial
                           << " spatial sizes";
  if (outShape.empty() && (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER"))
    for (int64_t i = 0; i < spatial; ++i)
      outShape.push_back(x.getDimSize(2 + i) * (*strides)[i]);
  bool derived = !outShape.empty();
  if (derived) {
    // total / 2 rounds down, as in the reference implementation; an output_shape larger than
    // the full output makes the trailing pad negative: extra zero rows (plus the bias).
    for (int64_t i = 0; i < spatial; ++i) {
      int64_t total = full[i] - outShape[i];
      int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      bool upper = autoPad == "SAME_UPPER";
      (*pads)[i] = upper ? half : total - half;
      (*pads)[i + spatial] = upper ? total - half : half;
    }
  } else if (autoPad != "NOTSET" && autoPad != "VALID") {
    return ctx.emitError() << "auto_pad='" << autoPad << "' is not a valid padding mode";
  }
  SmallVector<int64_t> shape = {x.getDimSize(0), cOut};
  for (int64_t i = 0; i < spatial; ++i) {
    int64_t &begin = (*pads)[i], &end = (*pads)[i + spatial];
    if (begin < 0 || (!derived && end < 0))
      return ctx.emitUnsupported() << "pads [" << *pads << "] must be non-negative";
    shape.push_back(full[i] - begin - end);
    if (shape.back() < 1)
      return ctx.emitError() << "pads [" << *pads << "] leave no output in spatial axis " << i;
    end = std::max<int64_t>(end, 0);
    // conv2d_grad_input's result must map back onto the input through the convolution
    // geometry, which holds while the extra rows (output_padding) are fewer than the stride.
    int64_t span = shape.back() + begin + end - (kernel[i] - 1) * (*dilations)[i] - 1;
    if (span < 0 || span / (*strides)[i] + 1 != x.getDimSize(2 + i))
      return ctx.emitUnsupported()
             << "an output of " << shape.back() << " in spatial axis " << i
             << " needs output padding of at least the stride " << (*strides)[i];
  }

  // Widen a 1-D problem to 2-D with a unit first spatial axis.
  OpBuilder &b = ctx.getBuilder();
  Location loc = ctx.getLoc();
  Type elt = x.getElementType();
  auto reshape = [&](Value v, ArrayRef<int64_t> to) -> Value {
    return b.create<ReshapeOp>(loc, RankedTensorType::get(to, elt), v);
  };
  Value input = ctx.getInput(0), weight = ctx.getInput(1);
  if (spatial == 3) {
    Value y =
        convTranspose3D(b, loc, input, weight, *strides, *dilations, *pads, full, shape, groups);
    if (ctx.hasInput(2))
      y = b.create<AddOp>(loc, y, reshape(ctx.getInput(2), {cOut, 1, 1, 1}));
    return ctx.setOutput(0, y);
  }
  SmallVector<int64_t> s2 = *strides, d2 = *dilations, p2 = *pads, shape2 = shape;
  if (spatial == 1) {
    input = reshape(input, {x.getDimSize(0), cIn, 1, x.getDimSize(2)});
    weight = reshape(weight, {w.getDimSize(0), w.getDimSize(1), 1, w.getDimSize(2)});
    s2 = {1, (*strides)[0]};
    d2 = {1, (*dilations)[0]};
    p2 = {0, (*pads)[0], 0, (*pads)[1]};
    shape2 = {shape[0], shape[1], 1, shape[2]};
  }
  Value y = b.create<Conv2DGradInputOp>(loc, RankedTensorType::get(shape2, elt), input, weight, s2,
                                        p2, d2, groups, TypeAttr());
  if (spatial == 1)
    y = reshape(y, shape);
  if (ctx.hasInput(2)) {
    SmallVector<int64_t> biasShape(rank - 1, 1);
    biasShape[0] = cOut;
    y = b.create<AddOp>(loc, y, reshape(ctx.getInput(2), biasShape));
  }
  return ctx.setOutput(0, y);
}

void checkConvTranspose(const onnx::NodeProto &node, int64_t,
                        SmallVectorImpl<std::string> &problems) {
  std::string autoPad = getStringAttribute(node, "auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" &&
      autoPad != "SAME_LOWER")
    problems.push_back("auto_pad='" + autoPad + "' is not a valid padding mode");
  if (const onnx::AttributeProto *kernel = findAttribute(node, "kernel_shape"))
    if (kernel->ints_size() < 1 || kernel->ints_size() > 3)
      problems.push_back("only 1-D, 2-D and 3-D ConvTranspose are supported (kernel_shape has " +
                         std::to_string(kernel->ints_size()) + " entries)");
}

//===----------------------------------------------------------------------===//
// Resize and Upsample.
//===----------------------------------------------------------------------===//

/// Resize (10 to 19) and Upsample (7 to 9): the scales or sizes must be import-time
/// constants; they give precis.resize its per-axis scales and the result its static shape.
/// Before Resize 11 (and for Upsample) the coordinates are asymmetric and nearest truncates.
LogicalResult importResize(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)))
    return failure();
  RankedTensorType x = ctx.getInputType(0);
  int64_t rank = x.getRank();
  bool legacy = ctx.getOpType() == "Upsample" || ctx.getOpset() < 11;
  std::string mode = ctx.getString("mode", "nearest");
  if (mode == "bilinear")
    mode = "linear";
  if (mode != "nearest" && mode != "linear" && (mode != "cubic" || legacy))
    return ctx.emitError() << "mode='" << mode << "' is not a valid mode"
                           << (legacy ? " (only 'nearest' and 'linear' before Resize 11)" : "");
  // Resize 11: cubic_coeff_a, exclude_outside; Resize 18: antialias.
  double cubicCoeffA = legacy ? -0.75 : ctx.getFloat("cubic_coeff_a", -0.75);
  bool excludeOutside = !legacy && ctx.getInt("exclude_outside", 0) != 0;
  bool antialias = !legacy && ctx.getInt("antialias", 0) != 0;
  if (!std::isfinite(cubicCoeffA))
    return ctx.emitError() << "cubic_coeff_a=" << cubicCoeffA << " is not finite";
  std::string coordinateMode =
      legacy ? "asymmetric" : ctx.getString("coordinate_transformation_mode", "half_pixel");
  if (!isResizeCoordinateMode(coordinateMode))
    return ctx.emitUnsupported() << "coordinate_transformation_mode='" << coordinateMode
                                 << "' is not supported";
  std::string nearestMode = legacy ? "legacy" : ctx.getString("nearest_mode", "round_prefer_floor");
  if (!legacy && (!isResizeNearestMode(nearestMode) || nearestMode == "legacy"))
    return ctx.emitError() << "nearest_mode='" << nearestMode << "' is not a valid mode";

  // The axes the scales or sizes list (opset 18), all by default.
  SmallVector<int64_t> axes;
  for (int64_t a : ctx.getInts("axes")) {
    FailureOr<int64_t> axis = ctx.normalizeAxis(a, rank, "axis");
    if (failed(axis))
      return failure();
    if (llvm::is_contained(axes, *axis))
      return ctx.emitError() << "axis " << a << " is repeated in 'axes'";
    axes.push_back(*axis);
  }
  if (axes.empty())
    for (int64_t a = 0; a < rank; ++a)
      axes.push_back(a);

  // Scales: Upsample 7's attribute, Upsample 9's and Resize 10's input 1, Resize 11's input 2.
  // Sizes: Resize 11's input 3. An empty tensor counts as absent.
  SmallVector<double> given;
  bool haveScales = false, haveSizes = false;
  if (ctx.getOpType() == "Upsample" && ctx.getOpset() < 9) {
    if (const onnx::AttributeProto *attr = findAttribute(ctx.getNode(), "scales"))
      for (float f : attr->floats())
        given.push_back(f);
    haveScales = true;
  } else {
    unsigned scalesInput = legacy ? 1 : 2;
    if (ctx.hasInput(scalesInput)) {
      FailureOr<const HostTensor *> t = ctx.requireConstant(scalesInput, "scales");
      if (failed(t))
        return failure();
      for (int64_t i = 0; i < (*t)->size(); ++i)
        given.push_back((*t)->getDouble(i));
      haveScales = !given.empty();
    }
    if (!legacy && !haveScales && ctx.hasInput(3)) {
      FailureOr<SmallVector<int64_t>> sizes = ctx.requireInts(3, "sizes");
      if (failed(sizes))
        return failure();
      for (int64_t v : *sizes)
        given.push_back(double(v));
      haveSizes = !given.empty();
    }
  }
  if (!haveScales && !haveSizes)
    return ctx.emitError() << "expects one of 'scales' and 'sizes'";
  if (given.size() != axes.size())
    return ctx.emitError() << "expects " << axes.size() << " " << (haveScales ? "scales" : "sizes")
                           << ", got " << given.size();

  SmallVector<double> scales(rank, 1.0);
  SmallVector<int64_t> shape(x.getShape());
  std::string policy = ctx.getString("keep_aspect_ratio_policy", "stretch");
  if (haveSizes && policy != "stretch") {
    if (policy != "not_larger" && policy != "not_smaller")
      return ctx.emitError() << "keep_aspect_ratio_policy='" << policy << "' is not valid";
    double scale = policy == "not_larger" ? HUGE_VAL : 0;
    for (auto [k, a] : llvm::enumerate(axes)) {
      double r = given[k] / double(x.getDimSize(a));
      scale = policy == "not_larger" ? std::min(scale, r) : std::max(scale, r);
    }
    for (int64_t a : axes) {
      scales[a] = scale;
      shape[a] = int64_t(std::floor(scale * double(x.getDimSize(a)) + 0.5));
    }
  } else {
    for (auto [k, a] : llvm::enumerate(axes)) {
      if (!(given[k] > 0))
        return ctx.emitError() << (haveScales ? "scales" : "sizes") << " must be positive, got "
                               << given[k] << " for axis " << a;
      if (haveScales) {
        scales[a] = given[k];
        shape[a] = int64_t(std::floor(double(x.getDimSize(a)) * given[k]));
      } else {
        shape[a] = int64_t(given[k]);
        scales[a] = given[k] / double(x.getDimSize(a));
      }
    }
  }
  for (int64_t a = 0; a < rank; ++a)
    if (shape[a] < 1 || x.getDimSize(a) < 1)
      return ctx.emitError() << "resizing " << x << " leaves axis " << a << " empty";
  OpBuilder &b = ctx.getBuilder();
  SmallVector<NamedAttribute> attrs{
      b.getNamedAttr("scales", b.getDenseF64ArrayAttr(scales)),
      b.getNamedAttr("mode", b.getStringAttr(mode)),
      b.getNamedAttr("coordinate_transformation_mode", b.getStringAttr(coordinateMode)),
      b.getNamedAttr("nearest_mode", b.getStringAttr(nearestMode))};
  // The cubic and antialias attributes only where they differ from their defaults.
  if (cubicCoeffA != -0.75)
    attrs.push_back(b.getNamedAttr("cubic_coeff_a", b.getF64FloatAttr(cubicCoeffA)));
  if (excludeOutside)
    attrs.push_back(b.getNamedAttr("exclude_outside", b.getBoolAttr(true)));
  if (antialias)
    attrs.push_back(b.getNamedAttr("antialias", b.getBoolAttr(true)));
  return ctx.setOutput(
      0,
      b.create<ResizeOp>(ctx.getLoc(), TypeRange{RankedTensorType::get(shape, x.getElementType())},
                         ValueRange{ctx.getInput(0)}, attrs));
}

void checkResize(const onnx::NodeProto &node, int64_t opset,
                 SmallVectorImpl<std::string> &problems) {
  if (node.op_type() == "Resize" && opset >= 11) {
    std::string coord = getStringAttribute(node, "coordinate_transformation_mode", "half_pixel");
    if (!isResizeCoordinateMode(coord))
      problems.push_back("coordinate_transformation_mode='" + coord + "' is not supported");
  }
}

void checkWindowOp(const onnx::NodeProto &node, int64_t, SmallVectorImpl<std::string> &problems) {
  std::string autoPad = getStringAttribute(node, "auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" &&
      autoPad != "SAME_LOWER")
    problems.push_back("auto_pad='" + autoPad + "' is not a valid padding mode");
  if (const onnx::AttributeProto *kernel = findAttribute(node, "kernel_shape"))
    if (kernel->ints_size() != 2)
      problems.push_back("only 2-D windows are supported (kernel_shape has " +
                         std::to_string(kernel->ints_size()) + " entries)");
  if (node.op_type() == "AveragePool")
    if (const onnx::AttributeProto *dilations = findAttribute(node, "dilations"))
      for (int64_t d : dilations->ints())
        if (d != 1)
          problems.push_back("dilated average pooling is not supported");
}

//===----------------------------------------------------------------------===//
// Pooling.
//===----------------------------------------------------------------------===//

/// Pooling windows must overlap the input: each pad smaller than the kernel.
FailureOr<Window> readPoolWindow(NodeContext &ctx) {
  FailureOr<Window> w = readWindow(ctx, ctx.getInputType(0), {});
  if (failed(w))
    return failure();
  for (int i = 0; i < 4; ++i)
    if (w->pads[i] >= w->kernel[i % 2])
      return ctx.emitError() << "pads [" << w->pads << "] must be smaller than the kernel ["
                             << w->kernel << "]";
  return w;
}

LogicalResult importMaxPool(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)))
    return failure();
  if (ctx.isOutputUsed(1))
    return ctx.emitUnsupported() << "the Indices output is not supported";
  FailureOr<Window> w = readPoolWindow(ctx);
  if (failed(w))
    return failure();
  OpBuilder &b = ctx.getBuilder();
  Value x = ctx.getInput(0);
  return ctx.emit<MaxPool2DOp>(x.getType(), x, b.getDenseI64ArrayAttr(w->kernel),
                               b.getDenseI64ArrayAttr(w->strides), b.getDenseI64ArrayAttr(w->pads),
                               b.getDenseI64ArrayAttr(w->dilations),
                               b.getBoolAttr(ctx.getInt("ceil_mode", 0)));
}

LogicalResult importAveragePool(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)))
    return failure();
  FailureOr<Window> w = readPoolWindow(ctx);
  if (failed(w))
    return failure();
  OpBuilder &b = ctx.getBuilder();
  Value x = ctx.getInput(0);
  return ctx.emit<AvgPool2DOp>(x.getType(), x, b.getDenseI64ArrayAttr(w->kernel),
                               b.getDenseI64ArrayAttr(w->strides), b.getDenseI64ArrayAttr(w->pads),
                               b.getBoolAttr(ctx.getInt("ceil_mode", 0)),
                               b.getBoolAttr(ctx.getInt("count_include_pad", 0)));
}

template <typename OpTy> LogicalResult importGlobalPool(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)))
    return failure();
  Value x = ctx.getInput(0);
  return ctx.emit<OpTy>(x.getType(), x);
}

//===----------------------------------------------------------------------===//
// Reductions and normalisation.
//===----------------------------------------------------------------------===//

/// ReduceSum (axes input since opset 13), ReduceMean and ReduceMax (axes input since 18,
/// attribute before). Empty axes reduce everything, unless noop_with_empty_axes (which comes
/// with the axes input) says to do nothing.
/// TopK: k an attribute before opset 10, a constant input from 10; largest and sorted from 11
/// (the result is always sorted, which `sorted = 0` allows).
LogicalResult importTopK(NodeContext &ctx) {
  if (failed(ctx.requireNumeric(0)))
    return failure();
  RankedTensorType in = ctx.getInputType(0);
  if (in.getRank() == 0)
    return ctx.emitError() << "input must have rank >= 1";
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.getInt("axis", -1), in.getRank(), "axis");
  if (failed(axis))
    return failure();
  int64_t k = ctx.getInt("k", -1);
  if (ctx.getOpset() >= 10) {
    FailureOr<SmallVector<int64_t>> ks = ctx.requireInts(1, "k");
    if (failed(ks))
      return failure();
    if (ks->size() != 1)
      return ctx.emitError() << "k must have one element";
    k = (*ks)[0];
  }
  if (k < 0 || k > in.getDimSize(*axis))
    return ctx.emitError() << "k " << k << " is out of range for dimension " << *axis << " of size "
                           << in.getDimSize(*axis);
  SmallVector<int64_t> shape(in.getShape());
  shape[*axis] = k;
  OpBuilder &b = ctx.getBuilder();
  auto op = b.create<TopKOp>(ctx.getLoc(), RankedTensorType::get(shape, in.getElementType()),
                             RankedTensorType::get(shape, b.getI64Type()), ctx.getInput(0),
                             b.getI64IntegerAttr(*axis), b.getI64IntegerAttr(k),
                             b.getBoolAttr(ctx.getInt("largest", 1) != 0));
  if (failed(ctx.setOutput(0, op.getValues())))
    return failure();
  return ctx.setOutput(1, op.getIndices());
}

/// ArgMax / ArgMin: negative axes (opset 11), select_last_index (12); an i64 result.
template <typename OpTy> LogicalResult importArgReduce(NodeContext &ctx) {
  if (failed(ctx.requireNumeric(0)))
    return failure();
  RankedTensorType in = ctx.getInputType(0);
  if (in.getRank() == 0)
    return ctx.emitError() << "input must have rank >= 1";
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.getInt("axis", 0), in.getRank(), "axis");
  if (failed(axis))
    return failure();
  const bool keepdims = ctx.getInt("keepdims", 1) != 0;
  SmallVector<int64_t> shape(in.getShape());
  if (keepdims)
    shape[*axis] = 1;
  else
    shape.erase(shape.begin() + *axis);
  OpBuilder &b = ctx.getBuilder();
  auto type = RankedTensorType::get(shape, b.getI64Type());
  return ctx.setOutput(0, b.create<OpTy>(ctx.getLoc(), type, ctx.getInput(0),
                                         b.getI64IntegerAttr(*axis), b.getBoolAttr(keepdims),
                                         b.getBoolAttr(ctx.getInt("select_last_index", 0) != 0)));
}

/// Reduction axes resolved against `rank`; a repeated axis is an error.
FailureOr<SmallVector<int64_t>> normalizeReduceAxes(NodeContext &ctx, ArrayRef<int64_t> axes,
                                                    int64_t rank) {
  SmallVector<int64_t> normalized;
  for (int64_t a : axes) {
    FailureOr<int64_t> axis = ctx.normalizeAxis(a, rank, "axis");
    if (failed(axis))
      return failure();
    if (llvm::is_contained(normalized, *axis))
      return ctx.emitError() << "axis " << *axis << " appears twice";
    normalized.push_back(*axis);
  }
  return normalized;
}

template <typename OpTy, int64_t AxesInputSince> LogicalResult importReduce(NodeContext &ctx) {
  FailureOr<std::optional<SmallVector<int64_t>>> requested =
      ctx.getIntsAttrOrInput("axes", 1, AxesInputSince);
  if (failed(requested))
    return failure();
  SmallVector<int64_t> axes = requested->value_or(SmallVector<int64_t>());
  if (axes.empty() && ctx.getOpset() >= AxesInputSince && ctx.getInt("noop_with_empty_axes", 0))
    return ctx.forwardInput(0, 0);
  RankedTensorType in = ctx.getInputType(0);
  FailureOr<SmallVector<int64_t>> resolved = normalizeReduceAxes(ctx, axes, in.getRank());
  if (failed(resolved))
    return failure();
  SmallVector<int64_t> normalized = std::move(*resolved);
  bool keepdims = ctx.getInt("keepdims", 1) != 0;
  if (!ctx.allInputsConstant() && failed(ctx.requireNumeric(0)))
    return failure();
  Value x = ctx.getInput(0);
  return ctx.emit<OpTy>(x.getType(), x, normalized, keepdims);
}

/// The composite reductions, lowered to precis ops so that every step keeps its precision
/// class: ReduceL1 = reduce_sum(|x|), ReduceL2 = sqrt(reduce_sum(x^2)), ReduceSumSquare =
/// reduce_sum(x^2), ReduceLogSum = log(reduce_sum(x)) and ReduceLogSumExp = log(reduce_sum(
/// exp(x - m))) + m with m = reduce_max(x) (no overflow for large x). The squares are
/// `precis.pow` (sensitive, fp32 under every policy) rather than a follow-class `mul`, which
/// would round them to bf16 before the fp32 sum; the sums are reduce_sum (sensitive). Axes
/// are an input from opset 18, an attribute before, as for ReduceMean.
enum class CompositeReduce { L1, L2, SumSquare, LogSum, LogSumExp };

template <CompositeReduce Kind> LogicalResult importCompositeReduce(NodeContext &ctx) {
  FailureOr<std::optional<SmallVector<int64_t>>> requested = ctx.getIntsAttrOrInput("axes", 1, 18);
  if (failed(requested))
    return failure();
  SmallVector<int64_t> axes = requested->value_or(SmallVector<int64_t>());
  RankedTensorType in = ctx.getInputType(0);
  if (failed(ctx.requireFloat(0)))
    return failure();
  FailureOr<SmallVector<int64_t>> resolved = normalizeReduceAxes(ctx, axes, in.getRank());
  if (failed(resolved))
    return failure();
  SmallVector<int64_t> normalized = std::move(*resolved);
  // noop_with_empty_axes: the element-wise part without the reduction (the ONNX reference).
  const bool reduce =
      !(normalized.empty() && ctx.getOpset() >= 18 && ctx.getInt("noop_with_empty_axes", 0));
  const bool keepdims = ctx.getInt("keepdims", 1) != 0;
  OpBuilder &b = ctx.getBuilder();
  Value x = ctx.getInput(0);
  auto scalar = [&](double v) {
    return ctx.materialize(
        HostTensor::fromDoubles(RankedTensorType::get({}, in.getElementType()), {v}));
  };
  auto sum = [&](Value v, bool keep) -> FailureOr<Value> {
    if (!reduce)
      return v;
    return ctx.build<ReduceSumOp>(v.getType(), v, normalized, keep);
  };
  FailureOr<Value> result = failure();
  switch (Kind) {
  case CompositeReduce::L1:
    result = sum(b.create<AbsOp>(ctx.getLoc(), x), keepdims);
    break;
  case CompositeReduce::L2:
  case CompositeReduce::SumSquare: {
    FailureOr<Value> squares = ctx.build<PowOp>(in, x, scalar(2.0));
    if (failed(squares))
      return failure();
    result = sum(*squares, keepdims);
    if (succeeded(result) && Kind == CompositeReduce::L2)
      result = b.create<SqrtOp>(ctx.getLoc(), *result).getResult();
    break;
  }
  case CompositeReduce::LogSum:
    result = sum(x, keepdims);
    if (succeeded(result))
      result = b.create<LogOp>(ctx.getLoc(), *result).getResult();
    break;
  case CompositeReduce::LogSumExp: {
    if (!reduce) {
      result = x;
      break;
    }
    FailureOr<Value> max = ctx.build<ReduceMaxOp>(in, x, normalized, true);
    if (failed(max))
      return failure();
    FailureOr<Value> shifted = ctx.build<SubOp>(in, x, *max);
    if (failed(shifted))
      return failure();
    FailureOr<Value> s = sum(b.create<ExpOp>(ctx.getLoc(), *shifted), true);
    if (failed(s))
      return failure();
    result = ctx.build<AddOp>(in, b.create<LogOp>(ctx.getLoc(), *s).getResult(), *max);
    if (succeeded(result) && !keepdims) {
      SmallVector<int64_t> shape;
      for (int64_t d = 0; d < in.getRank(); ++d)
        if (!normalized.empty() && !llvm::is_contained(normalized, d))
          shape.push_back(in.getDimSize(d));
      result = ctx.reshape(*result, shape);
    }
    break;
  }
  }
  if (failed(result))
    return failure();
  return ctx.setOutput(0, ctx.fold(*result));
}

template <typename OpTy> LogicalResult importSoftmax(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)))
    return failure();
  RankedTensorType in = ctx.getInputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.getInt("axis", -1), in.getRank(), "axis");
  if (failed(axis))
    return failure();
  return ctx.setOutput(0, ctx.getBuilder().create<OpTy>(ctx.getLoc(), in, ctx.getInput(0),
                                                        static_cast<uint64_t>(*axis)));
}

/// Softmax and LogSoftmax before opset 13 coerce the input to 2-D, [d0 * ... * d(axis-1),
/// d(axis) * ... * d(n-1)] (axis defaults to 1), normalise its rows and restore the shape:
/// a reshape, the op over the last axis and a reshape back.
template <typename OpTy> LogicalResult importSoftmaxCoerced(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)))
    return failure();
  RankedTensorType in = ctx.getInputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.getInt("axis", 1), in.getRank(), "axis");
  if (failed(axis))
    return failure();
  Value x = ctx.getInput(0);
  if (*axis != in.getRank() - 1) {
    auto product = [](ArrayRef<int64_t> dims) {
      return std::accumulate(dims.begin(), dims.end(), int64_t(1), std::multiplies<>());
    };
    x = ctx.reshape(
        x, {product(in.getShape().take_front(*axis)), product(in.getShape().drop_front(*axis))});
  }
  auto type = cast<RankedTensorType>(x.getType());
  Value y = ctx.getBuilder().create<OpTy>(ctx.getLoc(), type, x,
                                          static_cast<uint64_t>(type.getRank() - 1));
  return ctx.setOutput(0, ctx.reshape(y, in.getShape()));
}

/// LayerNormalization: only the normalised output; the Mean and InvStdDev outputs are not
/// supported.
LogicalResult importLayerNormalization(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1, 2})) || failed(ctx.requireFloat(0)))
    return failure();
  if (ctx.isOutputUsed(1) || ctx.isOutputUsed(2))
    return ctx.emitUnsupported() << "the Mean and InvStdDev outputs are not supported";
  RankedTensorType in = ctx.getInputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.getInt("axis", -1), in.getRank(), "axis");
  if (failed(axis))
    return failure();
  ArrayRef<int64_t> normalized = in.getShape().drop_front(*axis);
  for (unsigned i : {1u, 2u}) {
    if (!ctx.hasInput(i))
      continue;
    auto shape = broadcastShapes(ctx.getInputType(i).getShape(), normalized);
    if (!shape || ArrayRef<int64_t>(*shape) != normalized)
      return ctx.emitError() << (i == 1 ? "scale " : "bias ") << ctx.getInputType(i)
                             << " does not broadcast to the normalised dimensions [" << normalized
                             << "]";
  }
  OpBuilder &b = ctx.getBuilder();
  Value input = ctx.getInput(0), scale = ctx.getInput(1);
  Value bias = ctx.hasInput(2) ? ctx.getInput(2) : Value();
  return ctx.setOutput(0, b.create<LayerNormOp>(ctx.getLoc(), in, input, scale, bias,
                                                b.getI64IntegerAttr(*axis),
                                                b.getF32FloatAttr(ctx.getFloat("epsilon", 1e-5f)),
                                                /*rms=*/b.getBoolAttr(false)));
}

/// Normalises `x` [N, C, D...] per sample over groups of `groups` channels and the spatial
/// dimensions, as `precis.layer_norm` of `x` reshaped to [N, groups, C / groups * D...] with a
/// scale of 1: the statistics and the normalisation are one sensitive op, fp32 under every
/// precision policy, with layer_norm's gradient rule. Returns the normalised [N, groups, -1].
FailureOr<Value> normalizeGroups(NodeContext &ctx, int64_t groups) {
  RankedTensorType in = ctx.getInputType(0);
  int64_t n = in.getDimSize(0), c = in.getDimSize(1);
  int64_t spatial = std::accumulate(in.getShape().begin() + 2, in.getShape().end(), int64_t(1),
                                    std::multiplies<>());
  Value x = ctx.reshape(ctx.getInput(0), {n, groups, c / groups * spatial});
  auto type = cast<RankedTensorType>(x.getType());
  Value one = ctx.materialize(
      HostTensor::fromDoubles(RankedTensorType::get({1}, in.getElementType()), {1.0}));
  OpBuilder &b = ctx.getBuilder();
  return b
      .create<LayerNormOp>(ctx.getLoc(), type, x, one, Value(), b.getI64IntegerAttr(2),
                           b.getF32FloatAttr(ctx.getFloat("epsilon", 1e-5f)),
                           /*rms=*/b.getBoolAttr(false))
      .getResult();
}

/// `y * scale + bias` with `scale` and `bias` [K] applied along dimension 1 of `y` [N, K, M].
FailureOr<Value> scaleAndShift(NodeContext &ctx, Value y, unsigned scale, unsigned bias) {
  auto type = cast<RankedTensorType>(y.getType());
  int64_t k = type.getDimSize(1);
  FailureOr<Value> scaled = ctx.build<MulOp>(type, y, ctx.reshape(ctx.getInput(scale), {k, 1}));
  if (failed(scaled))
    return failure();
  return ctx.build<AddOp>(type, *scaled, ctx.reshape(ctx.getInput(bias), {k, 1}));
}

/// Checks that inputs 1 and 2 (scale and bias) are vectors of `size` (`what` says per what).
LogicalResult requireAffineShapes(NodeContext &ctx, int64_t size, StringRef what) {
  for (unsigned i : {1u, 2u}) {
    RankedTensorType t = ctx.getInputType(i);
    if (t.getRank() != 1 || t.getDimSize(0) != size)
      return ctx.emitError() << (i == 1 ? "scale" : "bias") << " must be [" << size << "] (one per "
                             << what << "), got " << t;
  }
  return success();
}

/// InstanceNormalization (opset 6 semantics): each (sample, channel) normalised over its
/// spatial dimensions, then the per-channel scale and bias.
LogicalResult importInstanceNormalization(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1, 2})) || failed(ctx.requireFloat(0)))
    return failure();
  RankedTensorType in = ctx.getInputType(0);
  if (in.getRank() < 3)
    return ctx.emitError() << "expects an input of rank >= 3 (N, C, D...), got " << in;
  if (failed(requireAffineShapes(ctx, in.getDimSize(1), "channel")))
    return failure();
  FailureOr<Value> y = normalizeGroups(ctx, in.getDimSize(1));
  if (failed(y))
    return failure();
  y = scaleAndShift(ctx, *y, 1, 2);
  if (failed(y))
    return failure();
  return ctx.setOutput(0, ctx.reshape(*y, in.getShape()));
}

/// GroupNormalization: the channels split into `num_groups` groups, each normalised per
/// sample over its channels and the spatial dimensions. Opset 18 takes scale and bias per
/// group, opset 21 per channel (18 is deprecated for disagreeing with every framework);
/// `stash_type` (21) asks for the statistics in fp32, which is what precis computes.
LogicalResult importGroupNormalization(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1, 2})) || failed(ctx.requireFloat(0)))
    return failure();
  if (ctx.getInt("stash_type", 1) != 1)
    return ctx.emitUnsupported() << "stash_type " << ctx.getInt("stash_type", 1)
                                 << " is not supported: precis computes the statistics in fp32 "
                                    "(stash_type 1)";
  RankedTensorType in = ctx.getInputType(0);
  if (in.getRank() < 2)
    return ctx.emitError() << "expects an input of rank >= 2 (N, C, D...), got " << in;
  if (!ctx.hasAttr("num_groups"))
    return ctx.emitError() << "the num_groups attribute is required";
  int64_t groups = ctx.getInt("num_groups", 0), c = in.getDimSize(1);
  if (groups <= 0 || c % groups != 0)
    return ctx.emitError() << "num_groups " << groups << " does not divide the " << c
                           << " channels";
  const bool perChannel = ctx.getOpset() >= 21;
  if (failed(requireAffineShapes(ctx, perChannel ? c : groups, perChannel ? "channel" : "group")))
    return failure();
  FailureOr<Value> y = normalizeGroups(ctx, groups);
  if (failed(y))
    return failure();
  if (perChannel) {
    int64_t spatial = std::accumulate(in.getShape().begin() + 2, in.getShape().end(), int64_t(1),
                                      std::multiplies<>());
    y = ctx.reshape(*y, {in.getDimSize(0), c, spatial});
  }
  y = scaleAndShift(ctx, *y, 1, 2);
  if (failed(y))
    return failure();
  return ctx.setOutput(0, ctx.reshape(*y, in.getShape()));
}

/// BatchNormalization: `training_mode` (opset 14+) selects batch statistics and produces the
/// updated running mean and variance as outputs 1 and 2. ONNX's reference updates the running
/// variance with the biased batch variance, torch.nn.BatchNorm with the unbiased one; the
/// exporter writes PyTorch's momentum as ONNX's but not the variance rule, so a model PyTorch
/// exported (producer "pytorch") keeps PyTorch's rule (`unbiased_running_var`): training it in
/// precis gives the running statistics training it in PyTorch would.
LogicalResult importBatchNormalization(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1, 2, 3, 4})) || failed(ctx.requireFloat(0)))
    return failure();
  if (ctx.isOutputUsed(3) || ctx.isOutputUsed(4))
    return ctx.emitError() << "the saved mean and variance outputs are not supported";
  RankedTensorType in = ctx.getInputType(0);
  if (in.getRank() < 2)
    return ctx.emitError() << "expects an input of rank >= 2 (N, C, ...), got " << in;
  for (unsigned i = 1; i < 5; ++i) {
    RankedTensorType t = ctx.getInputType(i);
    if (t.getRank() != 1 || t.getDimSize(0) != in.getDimSize(1))
      return ctx.emitError() << "per-channel input " << i << " must be [" << in.getDimSize(1)
                             << "], got " << t;
  }
  bool training = ctx.getOpset() >= 14 ? ctx.getInt("training_mode", 0) != 0
                                       : ctx.isOutputUsed(1) || ctx.isOutputUsed(2);
  OpBuilder &b = ctx.getBuilder();
  SmallVector<Value, 5> operands;
  for (unsigned i = 0; i < 5; ++i)
    operands.push_back(ctx.getInput(i));
  return ctx.emit<BatchNormOp>(
      in, ctx.getInputType(3), ctx.getInputType(4), operands[0], operands[1], operands[2],
      operands[3], operands[4], b.getF32FloatAttr(ctx.getFloat("epsilon", 1e-5f)),
      b.getF32FloatAttr(ctx.getFloat("momentum", 0.9f)), b.getBoolAttr(training),
      b.getBoolAttr(training && ctx.getProducerName() == "pytorch"));
}

/// BatchNormalization 7 and 8 could normalise per activation (`spatial` = 0, statistics of
/// shape [C, D1, ...]); precis supports only per-channel statistics.
void checkBatchNormalization(const onnx::NodeProto &node, int64_t opset,
                             SmallVectorImpl<std::string> &problems) {
  if (opset >= 9)
    return;
  if (const onnx::AttributeProto *spatial = findAttribute(node, "spatial"))
    if (spatial->i() == 0)
      problems.push_back("spatial=0 (per-activation statistics) is not supported");
}

//===----------------------------------------------------------------------===//
// Losses.
//===----------------------------------------------------------------------===//

LossReduction lossReduction(const std::string &name) {
  return name == "none"  ? LossReduction::None
         : name == "sum" ? LossReduction::Sum
                         : LossReduction::Mean;
}

void checkLoss(const onnx::NodeProto &node, int64_t, SmallVectorImpl<std::string> &problems) {
  std::string reduction = getStringAttribute(node, "reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    problems.push_back("reduction='" + reduction + "' is not 'none', 'sum' or 'mean'");
}

/// Scores [N, C, D...] against labels [N, D...] and optional weights [C].
LogicalResult checkLossShapes(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)) || failed(ctx.requireIndex(1)) ||
      failed(ctx.requireSameElementType({0, 2})))
    return failure();
  RankedTensorType scores = ctx.getInputType(0), labels = ctx.getInputType(1);
  if (scores.getRank() < 2)
    return ctx.emitError() << "expects scores of rank >= 2 (N, C, ...), got " << scores;
  SmallVector<int64_t> expected = {scores.getDimSize(0)};
  llvm::append_range(expected, scores.getShape().drop_front(2));
  if (labels.getShape() != ArrayRef<int64_t>(expected))
    return ctx.emitError() << "labels " << labels << " do not match scores " << scores;
  if (ctx.hasInput(2)) {
    RankedTensorType w = ctx.getInputType(2);
    if (w.getRank() != 1 || w.getDimSize(0) != scores.getDimSize(1))
      return ctx.emitError() << "weights must be [" << scores.getDimSize(1) << "], got " << w;
  }
  return success();
}

template <typename OpTy> LogicalResult importLoss(NodeContext &ctx) {
  if (failed(checkLossShapes(ctx)))
    return failure();
  OpBuilder &b = ctx.getBuilder();
  Value scores = ctx.getInput(0), labels = ctx.getInput(1);
  Value weights = ctx.hasInput(2) ? ctx.getInput(2) : Value();
  IntegerAttr ignoreIndex =
      ctx.hasAttr("ignore_index") ? b.getI64IntegerAttr(ctx.getInt("ignore_index", 0)) : nullptr;
  LossReduction reduction = lossReduction(ctx.getString("reduction", "mean"));
  Type type = scores.getType();
  if constexpr (std::is_same_v<OpTy, SoftmaxCrossEntropyOp>)
    return ctx.emit<OpTy>(type, type, scores, labels, weights, reduction, ignoreIndex);
  else
    return ctx.emit<OpTy>(type, scores, labels, weights, reduction, ignoreIndex);
}

} // namespace

void populateNeuralNetHandlers(HandlerRegistry &r) {
  // Gemm's C is optional from opset 11 (required before); Conv 11, MaxPool 11 and
  // AveragePool 11 only reword their documentation; MaxPool 10 and AveragePool 10 add
  // ceil_mode, MaxPool 10 dilations, MaxPool 8 the Indices output: absent attributes take
  // their defaults.
  r.add("MatMul", kMinOpset, kMaxOpset, importMatMul);
  r.add("Einsum", 12, kMaxOpset, importEinsum);
  r.add("Gemm", kMinOpset, kMaxOpset, importGemm);
  r.add("Conv", kMinOpset, kMaxOpset, importConv, checkWindowOp);
  // ConvTranspose 11 only makes kernel_shape and output_shape's semantics precise.
  r.add("ConvTranspose", kMinOpset, kMaxOpset, importConvTranspose, checkConvTranspose);
  // Resize 13 adds bf16 and makes roi optional, 18 adds antialias, axes and
  // keep_aspect_ratio_policy, 19 half_pixel_symmetric; Upsample 9 takes its scales as an input.
  r.add("Resize", 10, kMaxOpset, importResize, checkResize);
  r.add("Upsample", kMinOpset, kMaxOpset, importResize, checkResize);

  r.add("MaxPool", kMinOpset, kMaxOpset, importMaxPool, checkWindowOp);
  r.add("AveragePool", kMinOpset, kMaxOpset, importAveragePool, checkWindowOp);
  r.add("GlobalAveragePool", kMinOpset, kMaxOpset, importGlobalPool<GlobalAvgPoolOp>);
  r.add("GlobalMaxPool", kMinOpset, kMaxOpset, importGlobalPool<GlobalMaxPoolOp>);

  r.add("ReduceSum", kMinOpset, kMaxOpset, importReduce<ReduceSumOp, 13>);
  r.add("ReduceMean", kMinOpset, kMaxOpset, importReduce<ReduceMeanOp, 18>);
  r.add("ReduceMax", kMinOpset, kMaxOpset, importReduce<ReduceMaxOp, 18>);
  r.add("ReduceL1", kOldestOpset, kMaxOpset, importCompositeReduce<CompositeReduce::L1>);
  r.add("ReduceL2", kOldestOpset, kMaxOpset, importCompositeReduce<CompositeReduce::L2>);
  r.add("ReduceSumSquare", kOldestOpset, kMaxOpset,
        importCompositeReduce<CompositeReduce::SumSquare>);
  r.add("ReduceLogSum", kOldestOpset, kMaxOpset, importCompositeReduce<CompositeReduce::LogSum>);
  r.add("ReduceLogSumExp", kOldestOpset, kMaxOpset,
        importCompositeReduce<CompositeReduce::LogSumExp>);
  r.add("TopK", kMinOpset, kMaxOpset, importTopK);
  r.add("ArgMax", kMinOpset, kMaxOpset, importArgReduce<ArgMaxOp>);
  r.add("ArgMin", kMinOpset, kMaxOpset, importArgReduce<ArgMinOp>);
  r.add("Softmax", kMinOpset, 12, importSoftmaxCoerced<SoftmaxOp>);
  r.add("Softmax", 13, kMaxOpset, importSoftmax<SoftmaxOp>);
  r.add("LogSoftmax", kMinOpset, 12, importSoftmaxCoerced<LogSoftmaxOp>);
  r.add("LogSoftmax", 13, kMaxOpset, importSoftmax<LogSoftmaxOp>);
  r.add("LayerNormalization", 17, kMaxOpset, importLayerNormalization);
  r.add("InstanceNormalization", kOldestOpset, kMaxOpset, importInstanceNormalization);
  r.add("GroupNormalization", 18, 20, importGroupNormalization);
  r.add("GroupNormalization", 21, kMaxOpset, importGroupNormalization);
  // Before opset 14 the used outputs say whether BatchNormalization trains.
  r.add("BatchNormalization", kMinOpset, kMaxOpset, importBatchNormalization,
        checkBatchNormalization);

  // The losses' opset-13 versions only add bfloat16.
  r.add("SoftmaxCrossEntropyLoss", 12, kMaxOpset, importLoss<SoftmaxCrossEntropyOp>, checkLoss);
  r.add("NegativeLogLikelihoodLoss", 12, kMaxOpset, importLoss<NllLossOp>, checkLoss);
}

} // namespace precis::onnx_import
