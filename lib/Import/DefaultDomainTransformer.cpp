//===- DefaultDomainTransformer.cpp - RMSNormalization, RotaryEmbedding, Attention -===//
//
// The transformer building blocks ONNX added at opset 23: RMSNormalization becomes one
// `precis.layer_norm {rms}` (a sensitive op: computed in fp32 under every policy),
// RotaryEmbedding one `precis.rotary` on the caches its position ids select; Attention is
// lowered to the precis ops its definition is written in (matmuls, element-wise arithmetic,
// softmax), which the precision passes and fusion already understand: the two matmuls are
// compute ops, the softmax sensitive.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "mlir/IR/Matchers.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::precis;

namespace precis::onnx_import {
namespace {

RankedTensorType typeOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Builds precis ops at a node, working out result types (broadcast shapes, sliced and
/// concatenated dimensions) so the lowerings below read like their ONNX definitions.
class Lowering {
public:
  explicit Lowering(NodeContext &ctx) : ctx(ctx), b(ctx.getBuilder()), loc(ctx.getLoc()) {}

  template <typename OpTy> Value binary(Value x, Value y) {
    auto shape = broadcastShapes(typeOf(x).getShape(), typeOf(y).getShape());
    assert(shape && "operands checked to broadcast");
    return b.create<OpTy>(loc, RankedTensorType::get(*shape, typeOf(x).getElementType()), x, y);
  }
  Value add(Value x, Value y) { return binary<AddOp>(x, y); }
  Value sub(Value x, Value y) { return binary<SubOp>(x, y); }
  Value mul(Value x, Value y) { return binary<MulOp>(x, y); }
  Value div(Value x, Value y) { return binary<DivOp>(x, y); }
  Value tanh(Value x) { return b.create<TanhOp>(loc, x.getType(), x); }
  Value softmax(Value x) { return b.create<SoftmaxOp>(loc, x.getType(), x, int64_t(-1)); }

  /// A scalar of `elt`.
  Value scalar(double value, Type elt) {
    return ctx.materialize(HostTensor::fromDoubles(RankedTensorType::get({}, elt), {value}));
  }
  Value reshape(Value v, ArrayRef<int64_t> shape) { return ctx.reshape(v, shape); }
  Value transpose(Value v, ArrayRef<int64_t> perm) {
    SmallVector<int64_t> shape;
    for (int64_t p : perm)
      shape.push_back(typeOf(v).getDimSize(p));
    return b.create<TransposeOp>(loc, typeOf(v).clone(shape), v, b.getDenseI64ArrayAttr(perm));
  }
  /// `v[..., start:limit:step]` along `axis`.
  Value slice(Value v, int64_t axis, int64_t start, int64_t limit, int64_t step = 1) {
    auto t = typeOf(v);
    SmallVector<int64_t> starts(t.getRank(), 0), limits(t.getShape()), steps(t.getRank(), 1);
    starts[axis] = start;
    limits[axis] = limit;
    steps[axis] = step;
    SmallVector<int64_t> shape(t.getShape());
    shape[axis] = (limit - start + step - 1) / step;
    return b.create<SliceOp>(loc, t.clone(shape), v, b.getDenseI64ArrayAttr(starts),
                             b.getDenseI64ArrayAttr(limits), b.getDenseI64ArrayAttr(steps));
  }
  Value concat(ArrayRef<Value> vs, int64_t axis) {
    if (vs.size() == 1)
      return vs.front();
    SmallVector<int64_t> shape(typeOf(vs.front()).getShape());
    shape[axis] = 0;
    for (Value v : vs)
      shape[axis] += typeOf(v).getDimSize(axis);
    return b.create<ConcatOp>(loc, typeOf(vs.front()).clone(shape), vs, axis);
  }
  Value matmul(Value x, Value y, bool transposeRhs = false) {
    return b.create<MatmulOp>(loc, x, y, false, transposeRhs);
  }
  Value gather(Value data, Value indices) {
    SmallVector<int64_t> shape(typeOf(indices).getShape());
    llvm::append_range(shape, typeOf(data).getShape().drop_front());
    return b.create<GatherOp>(loc, typeOf(data).clone(shape), data, indices, int64_t(0));
  }
  Value where(Value cond, Value x, Value y) {
    auto s1 = broadcastShapes(typeOf(cond).getShape(), typeOf(x).getShape());
    auto shape = broadcastShapes(*s1, typeOf(y).getShape());
    return b.create<WhereOp>(loc, typeOf(x).clone(*shape), cond, x, y);
  }
  Value compare(CompareKind kind, Value x, Value y) {
    auto shape = broadcastShapes(typeOf(x).getShape(), typeOf(y).getShape());
    return b.create<CompareOp>(loc, RankedTensorType::get(*shape, b.getI1Type()), kind, x, y);
  }

private:
  NodeContext &ctx;
  OpBuilder &b;
  Location loc;
};

//===----------------------------------------------------------------------===//
// RMSNormalization.
//===----------------------------------------------------------------------===//

/// RMSNormalization (opset 23): `X / sqrt(mean(X^2 over axis..rank-1) + epsilon) * scale`, as
/// `precis.layer_norm {rms}`. precis computes every normalisation in fp32 (or wider), which is
/// `stash_type` = 1, the default; other stash types are not supported.
LogicalResult importRMSNormalization(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)) || failed(ctx.requireSameElementType({0, 1})))
    return failure();
  if (int64_t stash = ctx.getInt("stash_type", 1); stash != 1)
    return ctx.emitUnsupported() << "stash_type " << stash
                                 << " is not supported (precis normalises in float, stash_type 1)";
  RankedTensorType in = ctx.getInputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.getInt("axis", -1), in.getRank(), "axis");
  if (failed(axis))
    return failure();
  ArrayRef<int64_t> normalized = in.getShape().drop_front(*axis);
  auto shape = broadcastShapes(ctx.getInputType(1).getShape(), normalized);
  if (!shape || ArrayRef<int64_t>(*shape) != normalized)
    return ctx.emitError() << "scale " << ctx.getInputType(1)
                           << " does not broadcast to the normalised dimensions [" << normalized
                           << "]";
  OpBuilder &b = ctx.getBuilder();
  return ctx.setOutput(
      0, b.create<LayerNormOp>(ctx.getLoc(), in, ctx.getInput(0), ctx.getInput(1), Value(),
                               b.getI64IntegerAttr(*axis),
                               b.getF32FloatAttr(ctx.getFloat("epsilon", 1e-5f)),
                               b.getBoolAttr(true)));
}

//===----------------------------------------------------------------------===//
// RotaryEmbedding.
//===----------------------------------------------------------------------===//

/// RotaryEmbedding (opset 23). X is [batch, heads, seq, head_size], or [batch, seq, hidden]
/// with `num_heads`; the caches are [max_pos, rot/2] indexed by `position_ids` [batch, seq],
/// or already [batch, seq, rot/2] without them. The first `rotary_embedding_dim` channels of
/// each head rotate as pairs (x1, x2) — the two halves, or even and odd channels when
/// `interleaved` — into (x1 cos - x2 sin, x1 sin + x2 cos); the rest pass through: one
/// `precis.rotary` with per-pair caches.
LogicalResult importRotaryEmbedding(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)) || failed(ctx.requireSameElementType({0, 1, 2})))
    return failure();
  if (ctx.hasInput(3) && failed(ctx.requireIndex(3)))
    return failure();
  RankedTensorType in = ctx.getInputType(0);
  const int64_t rank = in.getRank();
  if (rank != 3 && rank != 4)
    return ctx.emitError() << "input must be 3-D or 4-D, got " << in;
  const int64_t batch = in.getDimSize(0);
  int64_t seq, heads, headSize;
  if (rank == 4) {
    heads = in.getDimSize(1), seq = in.getDimSize(2), headSize = in.getDimSize(3);
  } else {
    heads = ctx.getInt("num_heads", 0);
    seq = in.getDimSize(1);
    if (heads <= 0 || in.getDimSize(2) % heads != 0)
      return ctx.emitError() << "a 3-D input needs num_heads dividing its hidden size "
                             << in.getDimSize(2) << ", got " << heads;
    headSize = in.getDimSize(2) / heads;
  }
  int64_t rot = ctx.getInt("rotary_embedding_dim", 0);
  if (rot == 0)
    rot = headSize;
  if (rot < 0 || rot > headSize || rot % 2 != 0)
    return ctx.emitError() << "rotary_embedding_dim " << rot
                           << " must be even and at most the head size " << headSize;
  const int64_t half = rot / 2;
  const bool interleaved = ctx.getInt("interleaved", 0) != 0;
  RankedTensorType cosType = ctx.getInputType(1), sinType = ctx.getInputType(2);
  if (cosType != sinType)
    return ctx.emitError() << "cos_cache " << cosType << " and sin_cache " << sinType
                           << " differ";
  if (ctx.hasInput(3)) {
    RankedTensorType pos = ctx.getInputType(3);
    if (cosType.getRank() != 2 || cosType.getDimSize(1) != half ||
        pos.getShape() != ArrayRef<int64_t>{batch, seq})
      return ctx.emitError() << "with position_ids " << pos << " the caches must be [max_pos, "
                             << half << "] and the ids [" << batch << ", " << seq << "], got "
                             << cosType;
  } else if (cosType.getShape() != ArrayRef<int64_t>{batch, seq, half}) {
    return ctx.emitError() << "without position_ids the caches must be [" << batch << ", " << seq
                           << ", " << half << "], got " << cosType;
  }

  Lowering l(ctx);
  // 4-D inputs rotate in place ([batch, heads, seq, head_size], the caches broadcast over the
  // heads); 3-D ones as [batch, seq, heads, head_size].
  Value x = rank == 4 ? ctx.getInput(0) : l.reshape(ctx.getInput(0), {batch, seq, heads, headSize});
  SmallVector<int64_t> cacheShape =
      rank == 4 ? SmallVector<int64_t>{batch, 1, seq, half} : SmallVector<int64_t>{batch, seq, 1, half};
  Value cos = ctx.getInput(1), sin = ctx.getInput(2);
  if (ctx.hasInput(3)) {
    Value pos = ctx.getInput(3);
    cos = l.gather(cos, pos), sin = l.gather(sin, pos);
  }
  cos = l.reshape(cos, cacheShape);
  sin = l.reshape(sin, cacheShape);
  OpBuilder &b = ctx.getBuilder();
  Value y = b.create<RotaryOp>(ctx.getLoc(), x.getType(), x, cos, sin, b.getBoolAttr(interleaved),
                               b.getI64IntegerAttr(rot == headSize ? 0 : rot));
  return ctx.setOutput(0, l.reshape(y, in.getShape()));
}

//===----------------------------------------------------------------------===//
// Attention.
//===----------------------------------------------------------------------===//

/// Attention (opsets 23-25): softmax(Q K^T * scale (softcapped) + bias) V per head, with
/// 3-D inputs split into heads by `q_num_heads` / `kv_num_heads`, grouped-query attention
/// (each key/value head serves q_heads / kv_heads query heads: the matmuls broadcast over
/// the group instead of copying keys and values), `past_key`/`past_value` prepended to K and V
/// (and returned as `present_*`), and a bias summing the boolean or additive `attn_mask`
/// (padded with masked columns up to the key length), the causal mask aligned to the bottom
/// right (query i sees keys j <= i + past length, or + nonpad_kv_seqlen - q_len per batch), the
/// sliding window of opset 25 and the `nonpad_kv_seqlen` padding. A query row whose bias masks
/// every key gives zeros, as the definition says. `softmax_precision` needs nothing: the
/// softmax is a sensitive op, computed in fp32 under every precision policy.
LogicalResult importAttention(NodeContext &ctx) {
  if (failed(ctx.requireFloat(0)) || failed(ctx.requireSameElementType({0, 1, 2})))
    return failure();
  const bool hasMask = ctx.hasInput(3), hasPast = ctx.hasInput(4) || ctx.hasInput(5);
  const bool hasNonpad = ctx.hasInput(6);
  if (ctx.hasInput(4) != ctx.hasInput(5))
    return ctx.emitError() << "past_key and past_value must be given together";
  if (hasPast && failed(ctx.requireSameElementType({0, 4, 5})))
    return failure();
  if (hasNonpad && (hasPast || failed(ctx.requireIndex(6))))
    return hasPast ? ctx.emitError() << "nonpad_kv_seqlen cannot be combined with past_key"
                   : failure();
  RankedTensorType qt = ctx.getInputType(0), kt = ctx.getInputType(1), vt = ctx.getInputType(2);
  const int64_t rank = qt.getRank();
  if ((rank != 3 && rank != 4) || kt.getRank() != rank || vt.getRank() != rank)
    return ctx.emitError() << "Q, K and V must all be 3-D or all 4-D, got " << qt << ", " << kt
                           << ", " << vt;
  const int64_t batch = qt.getDimSize(0);
  int64_t qHeads, kvHeads, qLen, kvLen, headSize, vHeadSize;
  Lowering l(ctx);
  Value q = ctx.getInput(0), k = ctx.getInput(1), v = ctx.getInput(2);
  if (rank == 3) {
    qHeads = ctx.getInt("q_num_heads", 0), kvHeads = ctx.getInt("kv_num_heads", 0);
    if (qHeads <= 0 || kvHeads <= 0 || qt.getDimSize(2) % qHeads || kt.getDimSize(2) % kvHeads ||
        vt.getDimSize(2) % kvHeads)
      return ctx.emitError() << "3-D inputs need q_num_heads and kv_num_heads dividing the hidden "
                                "sizes, got "
                             << qHeads << " and " << kvHeads;
    qLen = qt.getDimSize(1), kvLen = kt.getDimSize(1);
    headSize = qt.getDimSize(2) / qHeads, vHeadSize = vt.getDimSize(2) / kvHeads;
    q = l.transpose(l.reshape(q, {batch, qLen, qHeads, headSize}), {0, 2, 1, 3});
    k = l.transpose(l.reshape(k, {batch, kvLen, kvHeads, kt.getDimSize(2) / kvHeads}),
                    {0, 2, 1, 3});
    v = l.transpose(l.reshape(v, {batch, kvLen, kvHeads, vHeadSize}), {0, 2, 1, 3});
  } else {
    qHeads = qt.getDimSize(1), kvHeads = kt.getDimSize(1);
    qLen = qt.getDimSize(2), kvLen = kt.getDimSize(2);
    headSize = qt.getDimSize(3), vHeadSize = vt.getDimSize(3);
  }
  if (kvHeads <= 0 || qHeads % kvHeads != 0 || typeOf(v).getDimSize(1) != kvHeads ||
      typeOf(k).getDimSize(3) != headSize || typeOf(v).getDimSize(2) != kvLen ||
      typeOf(k).getDimSize(0) != batch || typeOf(v).getDimSize(0) != batch)
    return ctx.emitError() << "Q, K and V do not agree: Q " << qt << ", K " << kt << ", V " << vt
                           << " (query heads must be a multiple of key/value heads)";
  const int64_t group = qHeads / kvHeads;

  int64_t pastLen = 0;
  if (hasPast) {
    RankedTensorType pk = ctx.getInputType(4), pv = ctx.getInputType(5);
    pastLen = pk.getRank() == 4 ? pk.getDimSize(2) : -1;
    if (pk.getShape() != ArrayRef<int64_t>{batch, kvHeads, pastLen, headSize} ||
        pv.getShape() != ArrayRef<int64_t>{batch, kvHeads, pastLen, vHeadSize})
      return ctx.emitError() << "past_key " << pk << " and past_value " << pv
                             << " must be [batch, kv_heads, past, head_size]";
    k = l.concat({ctx.getInput(4), k}, 2);
    v = l.concat({ctx.getInput(5), v}, 2);
    kvLen += pastLen;
  }
  if ((ctx.isOutputUsed(1) && failed(ctx.setOutput(1, k))) ||
      (ctx.isOutputUsed(2) && failed(ctx.setOutput(2, v))))
    return failure();

  Type elt = qt.getElementType();
  const double inf = std::numeric_limits<double>::infinity();
  // The additive bias, [.., qLen, kvLen] broadcasting to [batch, qHeads, qLen, kvLen]: null
  // while nothing is masked.
  Value bias;
  bool mayMaskRows = false;
  auto addBias = [&](Value term) { bias = bias ? l.add(bias, term) : term; };
  Value zero = l.scalar(0.0, elt), minusInf = l.scalar(-inf, elt);
  if (hasMask) {
    Value mask = ctx.getInput(3);
    RankedTensorType mt = ctx.getInputType(3);
    const bool boolean = mt.getElementType().isInteger(1);
    if (!boolean && mt.getElementType() != elt)
      return ctx.emitError() << "attn_mask " << mt << " must be bool or of Q's element type";
    const int64_t maskLen = mt.getRank() ? mt.getShape().back() : 0;
    SmallVector<int64_t> padded(mt.getShape());
    if (!padded.empty())
      padded.back() = kvLen;
    if (mt.getRank() == 0 || maskLen > kvLen ||
        !broadcastShapes(padded, ArrayRef<int64_t>{batch, qHeads, qLen, kvLen}))
      return ctx.emitError() << "attn_mask " << mt << " does not broadcast to [" << batch << ", "
                             << qHeads << ", " << qLen << ", " << kvLen << "]";
    if (maskLen < kvLen) { // masked columns up to the key length
      SmallVector<int64_t> padShape(mt.getShape());
      padShape.back() = kvLen - maskLen;
      auto padType = mt.clone(padShape);
      HostTensor pad(padType);
      if (!boolean)
        for (int64_t i = 0; i < pad.size(); ++i)
          pad.setDouble(i, -inf);
      mask = l.concat({mask, ctx.materialize(pad)}, mt.getRank() - 1);
    }
    addBias(boolean ? l.where(mask, zero, minusInf) : mask);
    mayMaskRows = true;
  }
  // Causal and window masks: query i (at absolute position i + offset) sees key j when
  // j <= i + offset (causal), i + offset - j <= left and j - (i + offset) <= right (window).
  const bool causal = ctx.getInt("is_causal", 0) != 0;
  const int64_t left = ctx.getInt("left_window_size", -1);
  const int64_t right = ctx.getInt("right_window_size", -1);
  if (left < -1 || right < -1)
    return ctx.emitError() << "window sizes must be -1 or non-negative, got " << left << " and "
                           << right;
  // precis.attention takes the cases without a softcap or a qk_matmul_output: a causal mask
  // with no past, window or padding is its is_causal; anything else masked goes in as the
  // additive bias, unless a parameter reaches it (the op's mask takes no gradient).
  const float softcap = ctx.getFloat("softcap", 0.0f);
  const bool fused = softcap <= 0.0f && !ctx.isOutputUsed(3) &&
                     !(hasMask && isReachedByParameter(ctx.getInput(3)));
  const bool opCausal = fused && causal && pastLen == 0 && !hasNonpad && left < 0 && right < 0;
  Type i64 = ctx.getBuilder().getI64Type();
  // nonpad_kv_seqlen as [batch, 1, 1, 1]: how many keys each batch row holds.
  Value nonpad =
      hasNonpad ? l.reshape(ctx.castTo(ctx.getInput(6), i64), {batch, 1, 1, 1}) : Value();
  auto maskUnless = [&](Value allowed) { addBias(l.where(allowed, zero, minusInf)); };
  if ((causal && !opCausal) || left >= 0 || right >= 0) {
    if (hasNonpad) {
      // Per-batch offset nonpad - qLen: each bound compares a constant built from
      // d = j - i + qLen with nonpad[b].
      auto shifted = [&](int64_t shift) {
        SmallVector<int64_t> d;
        for (int64_t i = 0; i < qLen; ++i)
          for (int64_t j = 0; j < kvLen; ++j)
            d.push_back(j - i + qLen + shift);
        return ctx.materialize(
            HostTensor::fromInts(RankedTensorType::get({1, 1, qLen, kvLen}, i64), d));
      };
      if (causal) // j <= i + nonpad - qLen
        maskUnless(l.compare(CompareKind::LE, shifted(0), nonpad));
      if (left >= 0) // i + nonpad - qLen - j <= left
        maskUnless(l.compare(CompareKind::LE, nonpad, shifted(left)));
      if (right >= 0) // j - (i + nonpad - qLen) <= right
        maskUnless(l.compare(CompareKind::LE, shifted(-right), nonpad));
    } else {
      HostTensor allowed(RankedTensorType::get({qLen, kvLen}, elt));
      for (int64_t i = 0; i < qLen; ++i)
        for (int64_t j = 0; j < kvLen; ++j) {
          const int64_t diff = i + pastLen - j;
          bool ok = (!causal || diff >= 0) && (left < 0 || diff <= left) &&
                    (right < 0 || -diff <= right);
          allowed.setDouble(i * kvLen + j, ok ? 0.0 : -inf);
        }
      addBias(ctx.materialize(allowed));
    }
    mayMaskRows = true;
  }
  if (hasNonpad) {
    // Keys at or past nonpad_kv_seqlen[b] are padding.
    SmallVector<int64_t> cols;
    for (int64_t j = 0; j < kvLen; ++j)
      cols.push_back(j);
    Value j = ctx.materialize(HostTensor::fromInts(RankedTensorType::get({kvLen}, i64), cols));
    maskUnless(l.compare(CompareKind::LT, j, nonpad));
    mayMaskRows = true;
  }

  float scaleAttr = ctx.getFloat("scale", 0.0f);
  const double scale = scaleAttr != 0.0f ? scaleAttr : 1.0 / std::sqrt(double(headSize));
  if (fused) {
    OpBuilder &b = ctx.getBuilder();
    auto qt4 = typeOf(q);
    SmallVector<Value> operands{q, k, v};
    if (bias)
      operands.push_back(bias);
    auto att = b.create<AttentionOp>(
        ctx.getLoc(),
        TypeRange{qt4.clone({batch, qHeads, qLen, vHeadSize}),
                  RankedTensorType::get({batch, qHeads, qLen},
                                        elt.isF64() ? b.getF64Type() : b.getF32Type())},
        operands,
        ArrayRef<NamedAttribute>{b.getNamedAttr("scale", b.getF32FloatAttr(scale)),
                                 b.getNamedAttr("is_causal", b.getBoolAttr(opCausal))});
    Value out = att.getOut();
    if (rank == 3)
      out = l.reshape(l.transpose(out, {0, 2, 1, 3}), {batch, qLen, qHeads * vHeadSize});
    return ctx.setOutput(0, out);
  }

  // Scores per key/value head group: Q [b, kv, g, q, d] x K [b, kv, 1, kv_len, d].
  Value qg = l.reshape(q, {batch, kvHeads, group, qLen, headSize});
  Value kg = l.reshape(k, {batch, kvHeads, 1, kvLen, headSize});
  Value vg = l.reshape(v, {batch, kvHeads, 1, kvLen, vHeadSize});
  Value scores = l.matmul(l.mul(qg, l.scalar(scale, elt)), kg, /*transposeRhs=*/true);
  scores = l.reshape(scores, {batch, qHeads, qLen, kvLen});
  // The values qk_matmul_output_mode 0, 1, 2 and 3 select.
  Value stages[4];
  stages[0] = scores;
  if (softcap > 0.0f) {
    Value cap = l.scalar(softcap, elt);
    scores = l.mul(l.tanh(l.div(scores, cap)), cap);
  }
  stages[1] = scores;
  if (bias)
    scores = l.add(scores, bias);
  stages[2] = scores;
  Value probs = l.softmax(scores);
  if (mayMaskRows) {
    // Rows whose bias masks every key: zeros rather than 0/0.
    OpBuilder &b = ctx.getBuilder();
    auto bt = typeOf(bias);
    SmallVector<int64_t> rowShape(bt.getShape());
    rowShape.back() = 1;
    Value rowMax = b.create<ReduceMaxOp>(ctx.getLoc(), bt.clone(rowShape), bias,
                                         b.getDenseI64ArrayAttr({bt.getRank() - 1}),
                                         b.getBoolAttr(true));
    Value masked = ctx.fold(l.compare(CompareKind::EQ, ctx.fold(rowMax), minusInf));
    // A constant bias (causal, window) that masks no row whole needs no select.
    DenseElementsAttr known;
    bool none = matchPattern(masked, m_Constant(&known)) && known.isSplat() &&
                !known.getSplatValue<bool>();
    if (!none)
      probs = l.where(masked, zero, probs);
  }
  Value out = l.matmul(l.reshape(probs, {batch, kvHeads, group, qLen, kvLen}), vg);
  out = l.reshape(out, {batch, qHeads, qLen, vHeadSize});
  if (rank == 3)
    out = l.reshape(l.transpose(out, {0, 2, 1, 3}), {batch, qLen, qHeads * vHeadSize});
  stages[3] = probs;
  if (ctx.isOutputUsed(3)) {
    int64_t mode = ctx.getInt("qk_matmul_output_mode", 0);
    if (mode < 0 || mode > 3)
      return ctx.emitError() << "qk_matmul_output_mode must be 0 to 3, got " << mode;
    if (failed(ctx.setOutput(3, stages[mode])))
      return failure();
  }
  return ctx.setOutput(0, out);
}

} // namespace

void populateTransformerHandlers(HandlerRegistry &r) {
  r.add("RMSNormalization", 23, kMaxOpset, importRMSNormalization);
  r.add("RotaryEmbedding", 23, kMaxOpset, importRotaryEmbedding);
  r.add("Attention", 23, kMaxOpset, importAttention);
}

} // namespace precis::onnx_import
