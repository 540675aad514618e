//===- DefaultDomainShape.cpp - shape and data-movement ONNX ops ----------===//
//
// Handlers for the ops that compute or use shapes: Shape, Size, Constant, ConstantOfShape and
// Range always produce import-time values; Reshape, Squeeze, Unsqueeze, Expand, Slice, Split
// and Tile need their shape-like inputs known at import time (after folding) and become
// static precis ops; Transpose, Concat and Gather fold when their inputs are known and are
// emitted otherwise. Together they remove PyTorch's shape arithmetic at import. Sequences
// (SplitToSequence, SequenceConstruct, SequenceAt, SequenceLength, ConcatFromSequence) are
// resolved at import into the tensors they hold, where their splits and positions are known
// there; anything else about them is refused at the node.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include <numeric>

using namespace mlir;
using namespace mlir::precis;

namespace precis::onnx_import {

namespace {

int64_t product(ArrayRef<int64_t> values) {
  return std::accumulate(values.begin(), values.end(), int64_t(1), std::multiplies<>());
}

/// Binds output 0 to `input` reshaped to `shape` (folded when the input is known).
LogicalResult setReshaped(NodeContext &ctx, ArrayRef<int64_t> shape) {
  return ctx.setOutput(0, ctx.reshape(ctx.getInput(0), shape));
}

/// Normalises `axes` against `rank`, rejecting out-of-range and repeated axes.
FailureOr<SmallVector<int64_t>> normalizeAxes(NodeContext &ctx, ArrayRef<int64_t> axes,
                                              int64_t rank) {
  SmallVector<int64_t> out;
  for (int64_t a : axes) {
    FailureOr<int64_t> axis = ctx.normalizeAxis(a, rank, "axis");
    if (failed(axis))
      return failure();
    if (llvm::is_contained(out, *axis))
      return ctx.emitError() << "axis " << *axis << " appears twice";
    out.push_back(*axis);
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Values known at import time.
//===----------------------------------------------------------------------===//

LogicalResult importConstant(NodeContext &ctx) {
  MLIRContext *context = ctx.getContext();
  auto f32 = Float32Type::get(context);
  if (ctx.hasAttr("value"))
    return ctx.setOutput(0, ctx.getTensor("value"));
  if (ctx.hasAttr("value_float"))
    return ctx.setOutput(0, HostTensor::fromDoubles(RankedTensorType::get({}, f32),
                                                    {ctx.getFloat("value_float", 0)}));
  if (ctx.hasAttr("value_int"))
    return ctx.setOutput(
        0, HostTensor::fromInts(RankedTensorType::get({}, IntegerType::get(context, 64)),
                                {ctx.getInt("value_int", 0)}));
  if (ctx.hasAttr("value_ints"))
    return ctx.setOutput(0, HostTensor::i64Vector(context, ctx.getInts("value_ints")));
  SmallVector<double> values;
  if (const onnx::AttributeProto *floats = findAttribute(ctx.getNode(), "value_floats"))
    values.assign(floats->floats().begin(), floats->floats().end());
  return ctx.setOutput(
      0, HostTensor::fromDoubles(RankedTensorType::get({static_cast<int64_t>(values.size())}, f32),
                                 values));
}

void checkConstant(const onnx::NodeProto &node, int64_t, SmallVectorImpl<std::string> &problems) {
  for (StringRef name : {"value", "value_float", "value_floats", "value_int", "value_ints"})
    if (findAttribute(node, name))
      return;
  for (StringRef name : {"value_string", "value_strings", "sparse_value"})
    if (findAttribute(node, name)) {
      problems.push_back("attribute '" + name.str() +
                         "' (string or sparse constants) is not "
                         "supported");
      return;
    }
  problems.push_back("no value attribute");
}

/// Shape(x)[start:end] (opset 15 adds start and end, clamped like Python slices).
LogicalResult importShape(NodeContext &ctx) {
  ArrayRef<int64_t> shape = ctx.getInputType(0).getShape();
  int64_t rank = shape.size();
  auto clampIndex = [&](int64_t i) {
    if (i < 0)
      i += rank;
    return std::clamp<int64_t>(i, 0, rank);
  };
  int64_t start = clampIndex(ctx.getInt("start", 0));
  int64_t end = ctx.hasAttr("end") ? clampIndex(ctx.getInt("end", rank)) : rank;
  SmallVector<int64_t> dims;
  for (int64_t d = start; d < end; ++d)
    dims.push_back(shape[d]);
  return ctx.setOutput(0, HostTensor::i64Vector(ctx.getContext(), dims));
}

LogicalResult importSize(NodeContext &ctx) {
  auto type = RankedTensorType::get({}, IntegerType::get(ctx.getContext(), 64));
  return ctx.setOutput(0, HostTensor::fromInts(type, {ctx.getInputType(0).getNumElements()}));
}

LogicalResult importConstantOfShape(NodeContext &ctx) {
  FailureOr<SmallVector<int64_t>> shape = ctx.requireInts(0, "shape");
  if (failed(shape))
    return failure();
  for (int64_t d : *shape)
    if (d < 0)
      return ctx.emitError() << "negative dimension " << d << " in the shape";
  HostTensor value =
      HostTensor::fromDoubles(RankedTensorType::get({}, Float32Type::get(ctx.getContext())), {0.0});
  if (ctx.hasAttr("value")) {
    FailureOr<HostTensor> attr = ctx.getTensor("value");
    if (failed(attr))
      return failure();
    if (attr->size() != 1)
      return ctx.emitError() << "the 'value' attribute must hold one element";
    value = attr->reshaped({});
  }
  auto type = RankedTensorType::get(*shape, value.getElementType());
  return ctx.setOutput(
      0, ctx.getBuilder().create<ExpandOp>(ctx.getLoc(), type, ctx.materialize(value)));
}

/// Range(start, limit, delta): all three must be known (the result's size depends on them).
/// Evaluated here: precis has no range op, since a range is always an import-time constant.
LogicalResult importRange(NodeContext &ctx) {
  if (failed(ctx.requireSameElementType({0, 1, 2})))
    return failure();
  const HostTensor *args[3];
  for (unsigned i = 0; i < 3; ++i) {
    FailureOr<const HostTensor *> c = ctx.requireConstant(i, i == 0   ? "start"
                                                             : i == 1 ? "limit"
                                                                      : "delta");
    if (failed(c))
      return failure();
    if ((*c)->size() != 1)
      return ctx.emitError() << "expects scalar start, limit and delta";
    args[i] = *c;
  }
  double start = args[0]->getDouble(0), limit = args[1]->getDouble(0);
  double delta = args[2]->getDouble(0);
  if (delta == 0)
    return ctx.emitError() << "delta is zero";
  int64_t count = std::max<int64_t>(static_cast<int64_t>(std::ceil((limit - start) / delta)), 0);
  HostTensor out(RankedTensorType::get({count}, args[0]->getElementType()));
  for (int64_t i = 0; i < count; ++i) {
    if (out.isFloat())
      out.setDouble(i, start + i * delta);
    else
      out.setInt(i, args[0]->getInt(0) + i * args[2]->getInt(0));
  }
  return ctx.setOutput(0, std::move(out));
}

//===----------------------------------------------------------------------===//
// Reshaping.
//===----------------------------------------------------------------------===//

/// Reshape: 0 copies the input dimension (unless allowzero), -1 takes the rest.
LogicalResult importReshape(NodeContext &ctx) {
  FailureOr<SmallVector<int64_t>> requested = ctx.requireInts(1, "shape");
  if (failed(requested))
    return failure();
  ArrayRef<int64_t> in = ctx.getInputType(0).getShape();
  bool allowZero = ctx.getInt("allowzero", 0) != 0;
  SmallVector<int64_t> shape;
  std::optional<size_t> inferred;
  for (auto [i, d] : llvm::enumerate(*requested)) {
    if (d == 0 && !allowZero) {
      if (i >= in.size())
        return ctx.emitError() << "shape entry " << i << " is 0 (copy), but the input "
                               << ctx.getInputType(0) << " has no dimension " << i;
      shape.push_back(in[i]);
    } else if (d == -1) {
      if (inferred)
        return ctx.emitError() << "the shape has more than one -1";
      inferred = i;
      shape.push_back(1);
    } else if (d < -1) {
      return ctx.emitError() << "invalid shape entry " << d;
    } else {
      shape.push_back(d);
    }
  }
  int64_t total = product(in), known = product(shape);
  if (inferred) {
    if (known == 0 || total % known)
      return ctx.emitError() << "cannot infer the -1 in shape [" << *requested << "] for "
                             << ctx.getInputType(0);
    shape[*inferred] = total / known;
  } else if (known != total) {
    return ctx.emitError() << "cannot reshape " << ctx.getInputType(0) << " to [" << shape
                           << "]: element counts differ";
  }
  return setReshaped(ctx, shape);
}

LogicalResult importFlatten(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.getInputType(0).getShape();
  int64_t rank = in.size(), axis = ctx.getInt("axis", 1);
  if (axis < -rank || axis > rank)
    return ctx.emitError() << "axis " << axis << " is out of range for rank " << rank;
  if (axis < 0)
    axis += rank;
  return setReshaped(ctx, {product(in.take_front(axis)), product(in.drop_front(axis))});
}

/// Squeeze: the listed size-1 axes (an attribute before opset 13, an input from 13), or every
/// size-1 axis when none are given.
LogicalResult importSqueeze(NodeContext &ctx) {
  ArrayRef<int64_t> in = ctx.getInputType(0).getShape();
  FailureOr<std::optional<SmallVector<int64_t>>> requested = ctx.getIntsAttrOrInput("axes", 1, 13);
  if (failed(requested))
    return failure();
  SmallVector<int64_t> axes;
  if (*requested) {
    FailureOr<SmallVector<int64_t>> normalized = normalizeAxes(ctx, **requested, in.size());
    if (failed(normalized))
      return failure();
    axes = *normalized;
    for (int64_t a : axes)
      if (in[a] != 1)
        return ctx.emitError() << "cannot squeeze dimension " << a << " of size " << in[a];
  } else {
    for (auto [d, size] : llvm::enumerate(in))
      if (size == 1)
        axes.push_back(d);
  }
  SmallVector<int64_t> shape;
  for (auto [d, size] : llvm::enumerate(in))
    if (!llvm::is_contained(axes, static_cast<int64_t>(d)))
      shape.push_back(size);
  return setReshaped(ctx, shape);
}

/// Unsqueeze: axes (an attribute before opset 13, an input from 13) index the output, whose
/// rank is the input's plus the number of axes.
LogicalResult importUnsqueeze(NodeContext &ctx) {
  FailureOr<std::optional<SmallVector<int64_t>>> given = ctx.getIntsAttrOrInput("axes", 1, 13);
  if (failed(given))
    return failure();
  if (!*given)
    return ctx.emitError() << "'axes' is missing";
  ArrayRef<int64_t> in = ctx.getInputType(0).getShape();
  int64_t rank = in.size() + (*given)->size();
  FailureOr<SmallVector<int64_t>> axes = normalizeAxes(ctx, **given, rank);
  if (failed(axes))
    return failure();
  SmallVector<int64_t> shape;
  const int64_t *next = in.begin();
  for (int64_t d = 0; d < rank; ++d)
    shape.push_back(llvm::is_contained(*axes, d) ? 1 : *next++);
  return setReshaped(ctx, shape);
}

/// Expand broadcasts both ways: the result is the broadcast of the input shape and `shape`.
LogicalResult importExpand(NodeContext &ctx) {
  FailureOr<SmallVector<int64_t>> requested = ctx.requireInts(1, "shape");
  if (failed(requested))
    return failure();
  RankedTensorType in = ctx.getInputType(0);
  auto shape = broadcastShapes(in.getShape(), *requested);
  if (!shape)
    return ctx.emitError() << "cannot expand " << in << " to [" << *requested << "]";
  if (ArrayRef<int64_t>(*shape) == in.getShape())
    return ctx.forwardInput(0, 0);
  return ctx.setOutput(
      0, ctx.getBuilder().create<ExpandOp>(
             ctx.getLoc(), RankedTensorType::get(*shape, in.getElementType()), ctx.getInput(0)));
}

/// Tile(x, repeats) = reshape(expand(reshape(x, [1, d0, 1, d1, ...]), [r0, d0, r1, d1, ...]),
/// [r0 * d0, r1 * d1, ...]).
LogicalResult importTile(NodeContext &ctx) {
  FailureOr<SmallVector<int64_t>> repeats = ctx.requireInts(1, "repeats");
  if (failed(repeats))
    return failure();
  RankedTensorType in = ctx.getInputType(0);
  if (static_cast<int64_t>(repeats->size()) != in.getRank())
    return ctx.emitError() << "expects one repeat count per dimension of " << in;
  SmallVector<int64_t> interleaved, expanded, result;
  for (auto [d, r] : llvm::zip(in.getShape(), *repeats)) {
    if (r < 0)
      return ctx.emitError() << "negative repeat count " << r;
    interleaved.append({1, d});
    expanded.append({r, d});
    result.push_back(r * d);
  }
  Value x = ctx.reshape(ctx.getInput(0), interleaved);
  x = ctx.getBuilder().create<ExpandOp>(ctx.getLoc(),
                                        RankedTensorType::get(expanded, in.getElementType()), x);
  return ctx.setOutput(0, ctx.reshape(x, result));
}

//===----------------------------------------------------------------------===//
// Data movement.
//===----------------------------------------------------------------------===//

LogicalResult importTranspose(NodeContext &ctx) {
  int64_t rank = ctx.getInputType(0).getRank();
  SmallVector<int64_t> perm = ctx.getInts("perm");
  if (!ctx.hasAttr("perm"))
    for (int64_t d = rank - 1; d >= 0; --d)
      perm.push_back(d);
  SmallVector<bool> seen(rank, false);
  if (static_cast<int64_t>(perm.size()) != rank)
    return ctx.emitError() << "perm has " << perm.size() << " entries for rank " << rank;
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p])
      return ctx.emitError() << "perm [" << perm << "] is not a permutation";
    seen[p] = true;
  }
  if (llvm::equal(perm, llvm::seq<int64_t>(0, rank)))
    return ctx.forwardInput(0, 0);
  Value x = ctx.getInput(0);
  return ctx.emit<TransposeOp>(x.getType(), x, perm);
}

LogicalResult importConcat(NodeContext &ctx) {
  SmallVector<unsigned> all;
  for (unsigned i = 0; i < ctx.getNumInputs(); ++i)
    all.push_back(i);
  if (failed(ctx.requireSameElementType(all)))
    return failure();
  RankedTensorType first = ctx.getInputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.getInt("axis", 0), first.getRank(), "axis");
  if (failed(axis))
    return failure();
  for (unsigned i = 1; i < ctx.getNumInputs(); ++i) {
    RankedTensorType t = ctx.getInputType(i);
    bool ok = t.getRank() == first.getRank();
    for (int64_t d = 0; ok && d < t.getRank(); ++d)
      ok = d == *axis || t.getDimSize(d) == first.getDimSize(d);
    if (!ok)
      return ctx.emitError() << "inputs " << first << " and " << t
                             << " differ outside the concatenation axis " << *axis;
  }
  SmallVector<Value> inputs;
  for (unsigned i = 0; i < ctx.getNumInputs(); ++i)
    inputs.push_back(ctx.getInput(i));
  return ctx.emit<ConcatOp>(first, inputs, ctx.getBuilder().getI64IntegerAttr(*axis));
}

/// Split sizes come from `split` (an attribute before opset 13, an input from 13), the
/// `num_outputs` attribute (opset 18: chunks of ceil(dim / n), the last one smaller) or an
/// even split over the outputs.
LogicalResult importSplit(NodeContext &ctx) {
  RankedTensorType in = ctx.getInputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.getInt("axis", 0), in.getRank(), "axis");
  if (failed(axis))
    return failure();
  int64_t extent = in.getDimSize(*axis);
  FailureOr<std::optional<SmallVector<int64_t>>> given = ctx.getIntsAttrOrInput("split", 1, 13);
  if (failed(given))
    return failure();
  SmallVector<int64_t> sizes;
  if (*given) {
    sizes = **given;
  } else {
    int64_t n = ctx.hasAttr("num_outputs") ? ctx.getInt("num_outputs", 1) : ctx.getNumOutputs();
    if (n < 1)
      return ctx.emitError() << "num_outputs must be positive";
    if (!ctx.hasAttr("num_outputs") && extent % n)
      return ctx.emitError() << "dimension " << *axis << " of size " << extent
                             << " does not split evenly into " << n << " outputs";
    int64_t chunk = (extent + n - 1) / n;
    for (int64_t i = 0, left = extent; i < n; ++i, left -= chunk)
      sizes.push_back(std::clamp<int64_t>(left, 0, chunk));
  }
  if (static_cast<int64_t>(sizes.size()) != ctx.getNumOutputs())
    return ctx.emitError() << "has " << ctx.getNumOutputs() << " outputs but " << sizes.size()
                           << " split sizes";
  if (std::accumulate(sizes.begin(), sizes.end(), int64_t(0)) != extent ||
      llvm::any_of(sizes, [](int64_t s) { return s < 0; }))
    return ctx.emitError() << "split sizes [" << sizes << "] do not add up to dimension " << *axis
                           << " of size " << extent;

  SmallVector<Type> types;
  for (int64_t size : sizes) {
    SmallVector<int64_t> shape(in.getShape());
    shape[*axis] = size;
    types.push_back(RankedTensorType::get(shape, in.getElementType()));
  }
  auto split = ctx.getBuilder().create<SplitOp>(ctx.getLoc(), types, ctx.getInput(0),
                                                static_cast<uint64_t>(*axis));
  for (auto [i, result] : llvm::enumerate(split.getResults()))
    (void)ctx.setOutput(i, result);
  return success();
}

//===----------------------------------------------------------------------===//
// Sequences, resolved at import.
//===----------------------------------------------------------------------===//

/// SplitToSequence: the pieces of a Split, as a sequence. `split` must be known at import: a
/// scalar chunk size (the last chunk may be smaller) or a list of sizes; without it, pieces of
/// one, the split axis dropped unless `keepdims`.
LogicalResult importSplitToSequence(NodeContext &ctx) {
  RankedTensorType in = ctx.getInputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.getInt("axis", 0), in.getRank(), "axis");
  if (failed(axis))
    return failure();
  const int64_t extent = in.getDimSize(*axis);
  SmallVector<int64_t> sizes;
  bool squeeze = false;
  if (ctx.hasInput(1)) {
    FailureOr<SmallVector<int64_t>> split = ctx.requireInts(1, "split");
    if (failed(split))
      return failure();
    if (ctx.getInputType(1).getRank() == 0) {
      const int64_t chunk = split->front();
      if (chunk <= 0)
        return ctx.emitError() << "a scalar split must be positive, got " << chunk;
      for (int64_t left = extent; left > 0; left -= chunk)
        sizes.push_back(std::min(left, chunk));
    } else {
      sizes = *split;
      if (std::accumulate(sizes.begin(), sizes.end(), int64_t(0)) != extent ||
          llvm::any_of(sizes, [](int64_t s) { return s < 0; }))
        return ctx.emitError() << "split sizes [" << sizes << "] do not add up to dimension "
                               << *axis << " of size " << extent;
    }
  } else {
    sizes.assign(extent, 1);
    squeeze = ctx.getInt("keepdims", 1) == 0;
  }
  SmallVector<Value> pieces;
  if (sizes.size() == 1) {
    pieces.push_back(ctx.getInput(0));
  } else if (!sizes.empty()) {
    SmallVector<Type> types;
    for (int64_t size : sizes) {
      SmallVector<int64_t> shape(in.getShape());
      shape[*axis] = size;
      types.push_back(in.clone(shape));
    }
    llvm::append_range(pieces, ctx.getBuilder()
                                   .create<SplitOp>(ctx.getLoc(), types, ctx.getInput(0),
                                                    static_cast<uint64_t>(*axis))
                                   .getResults());
  }
  if (squeeze) {
    SmallVector<int64_t> shape(in.getShape());
    shape.erase(shape.begin() + *axis);
    for (Value &piece : pieces)
      piece = ctx.reshape(piece, shape);
  }
  return ctx.setSequenceOutput(0, pieces);
}

/// SequenceConstruct: the inputs as a sequence.
LogicalResult importSequenceConstruct(NodeContext &ctx) {
  SmallVector<unsigned> all;
  SmallVector<Value> elements;
  for (unsigned i = 0; i < ctx.getNumInputs(); ++i)
    all.push_back(i);
  if (failed(ctx.requireSameElementType(all)))
    return failure();
  for (unsigned i = 0; i < ctx.getNumInputs(); ++i)
    elements.push_back(ctx.getInput(i));
  return ctx.setSequenceOutput(0, elements);
}

/// SequenceAt: the element at a `position` known at import (negative counts from the end).
LogicalResult importSequenceAt(NodeContext &ctx) {
  const std::vector<Binding> &sequence = *ctx.getSequence(0);
  FailureOr<SmallVector<int64_t>> position = ctx.requireInts(1, "position");
  if (failed(position))
    return failure();
  const int64_t n = static_cast<int64_t>(sequence.size());
  int64_t at = position->front();
  if (position->size() != 1 || at < -n || at >= n)
    return ctx.emitError() << "position " << at << " is outside a sequence of " << n << " elements";
  return ctx.setOutputElement(0, sequence[at < 0 ? at + n : at]);
}

/// SequenceLength: the element count, an int64 scalar known at import.
LogicalResult importSequenceLength(NodeContext &ctx) {
  const int64_t n = static_cast<int64_t>(ctx.getSequence(0)->size());
  return ctx.setOutput(
      0, HostTensor::fromInts(RankedTensorType::get({}, ctx.getBuilder().getI64Type()), {n}));
}

/// ConcatFromSequence: the elements concatenated along `axis`, or stacked along a new one
/// with `new_axis`.
LogicalResult importConcatFromSequence(NodeContext &ctx) {
  std::vector<Binding> sequence = *ctx.getSequence(0);
  if (sequence.empty())
    return ctx.emitError() << "cannot concatenate an empty sequence";
  if (!ctx.hasAttr("axis"))
    return ctx.emitError() << "the axis attribute is required";
  const bool stack = ctx.getInt("new_axis", 0) != 0;
  RankedTensorType first = sequence.front().getType();
  FailureOr<int64_t> axis =
      ctx.normalizeAxis(ctx.getInt("axis", 0), first.getRank() + (stack ? 1 : 0), "axis");
  if (failed(axis))
    return failure();
  SmallVector<Value> inputs;
  for (Binding &element : sequence) {
    RankedTensorType t = element.getType();
    bool ok = t.getRank() == first.getRank() && t.getElementType() == first.getElementType();
    for (int64_t d = 0; ok && d < t.getRank(); ++d)
      ok = (!stack && d == *axis) || t.getDimSize(d) == first.getDimSize(d);
    if (!ok)
      return ctx.emitError() << "sequence elements " << first << " and " << t
                             << " do not concatenate along axis " << *axis;
    Value v = ctx.getValue(element);
    if (stack) {
      SmallVector<int64_t> shape(t.getShape());
      shape.insert(shape.begin() + *axis, 1);
      v = ctx.reshape(v, shape);
    }
    inputs.push_back(v);
  }
  if (inputs.size() == 1)
    return ctx.setOutput(0, inputs.front());
  return ctx.emit<ConcatOp>(cast<RankedTensorType>(inputs.front().getType()), inputs,
                            ctx.getBuilder().getI64IntegerAttr(*axis));
}

/// Slice: ONNX's starts/ends/axes/steps (attributes without steps before opset 10, inputs
/// from 10), clamped and normalised to one non-negative (start, limit, step) per dimension as
/// `precis.slice` takes them.
LogicalResult importSlice(NodeContext &ctx) {
  RankedTensorType in = ctx.getInputType(0);
  int64_t rank = in.getRank();
  SmallVector<int64_t> starts, ends;
  for (auto [name, i, list] : {std::tuple("starts", 1u, &starts), std::tuple("ends", 2u, &ends)}) {
    FailureOr<std::optional<SmallVector<int64_t>>> given = ctx.getIntsAttrOrInput(name, i, 10);
    if (failed(given))
      return failure();
    if (!*given)
      return ctx.emitError() << "'" << name << "' is missing";
    *list = **given;
  }
  size_t n = starts.size();
  SmallVector<int64_t> axes, steps(n, 1);
  for (size_t i = 0; i < n; ++i)
    axes.push_back(i);
  FailureOr<std::optional<SmallVector<int64_t>>> givenAxes = ctx.getIntsAttrOrInput("axes", 3, 10);
  FailureOr<std::optional<SmallVector<int64_t>>> givenSteps =
      ctx.getIntsAttrOrInput("steps", 4, 10);
  if (failed(givenAxes) || failed(givenSteps))
    return failure();
  if (*givenAxes)
    axes = **givenAxes;
  if (*givenSteps)
    steps = **givenSteps;
  if (ends.size() != n || axes.size() != n || steps.size() != n)
    return ctx.emitError() << "starts, ends, axes and steps differ in length";
  FailureOr<SmallVector<int64_t>> normalized = normalizeAxes(ctx, axes, rank);
  if (failed(normalized))
    return failure();

  SmallVector<int64_t> start(rank, 0), limit(in.getShape()), step(rank, 1);
  for (size_t i = 0; i < n; ++i) {
    int64_t d = (*normalized)[i], dim = in.getDimSize(d), st = steps[i];
    int64_t s = starts[i], e = ends[i];
    if (st == 0)
      return ctx.emitError() << "step is zero for axis " << d;
    if (s < 0)
      s += dim;
    if (e < 0)
      e += dim;
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
    } else if (dim == 0) {
      s = e = -1;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
    }
    start[d] = s;
    limit[d] = e;
    step[d] = st;
  }
  bool identity = true;
  for (int64_t d = 0; d < rank; ++d)
    identity &= start[d] == 0 && limit[d] == in.getDimSize(d) && step[d] == 1;
  if (identity)
    return ctx.forwardInput(0, 0);
  Value x = ctx.getInput(0);
  return ctx.emit<SliceOp>(x.getType(), x, start, limit, step);
}

/// Gather: known indices are range-checked and made non-negative at import.
LogicalResult importGather(NodeContext &ctx) {
  if (failed(ctx.requireIndex(1)))
    return failure();
  RankedTensorType data = ctx.getInputType(0);
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.getInt("axis", 0), data.getRank(), "axis");
  if (failed(axis))
    return failure();
  const HostTensor *indices = ctx.getConstant(1);
  Value indexValue;
  if (indices) {
    HostTensor normalized = *indices;
    int64_t extent = data.getDimSize(*axis);
    bool changed = false;
    for (int64_t i = 0, e = normalized.size(); i < e; ++i) {
      int64_t index = normalized.getInt(i);
      if (index < -extent || index >= extent)
        return ctx.emitError() << "index " << index << " is out of range for dimension " << *axis
                               << " of size " << extent;
      if (index < 0) {
        normalized.setInt(i, index + extent);
        changed = true;
      }
    }
    // Unchanged indices keep their binding (and an initializer's name).
    indexValue = changed ? ctx.materialize(normalized) : ctx.getInput(1);
  } else {
    indexValue = ctx.getInput(1);
  }
  Value x = ctx.getInput(0);
  return ctx.emit<GatherOp>(x.getType(), x, indexValue, static_cast<uint64_t>(*axis));
}

/// GatherElements: the indices have the data's rank and, off the axis, dimensions at most
/// the data's; known indices are range-checked at import (negative ones stay: the kernels
/// count them from the end).
LogicalResult importGatherElements(NodeContext &ctx) {
  if (failed(ctx.requireIndex(1)))
    return failure();
  RankedTensorType data = ctx.getInputType(0), indices = ctx.getInputType(1);
  if (indices.getRank() != data.getRank())
    return ctx.emitError() << "indices rank " << indices.getRank() << " differs from data rank "
                           << data.getRank();
  FailureOr<int64_t> axis = ctx.normalizeAxis(ctx.getInt("axis", 0), data.getRank(), "axis");
  if (failed(axis))
    return failure();
  for (int64_t d = 0; d < data.getRank(); ++d)
    if (d != *axis && indices.getDimSize(d) > data.getDimSize(d))
      return ctx.emitError() << "indices dimension " << d << " (" << indices.getDimSize(d)
                             << ") exceeds the data's (" << data.getDimSize(d) << ")";
  if (const HostTensor *known = ctx.getConstant(1)) {
    const int64_t extent = data.getDimSize(*axis);
    for (int64_t i = 0, e = known->size(); i < e; ++i)
      if (known->getInt(i) < -extent || known->getInt(i) >= extent)
        return ctx.emitError() << "index " << known->getInt(i) << " is out of range for dimension "
                               << *axis << " of size " << extent;
  }
  OpBuilder &b = ctx.getBuilder();
  Value x = ctx.getInput(0);
  auto type = RankedTensorType::get(indices.getShape(), data.getElementType());
  return ctx.setOutput(0, b.create<GatherElementsOp>(ctx.getLoc(), type, x, ctx.getInput(1),
                                                     b.getI64IntegerAttr(*axis)));
}

/// GatherND and ScatterND: `indices` (input 1) is `[..., k]` with 1 <= k <= rank(data); known
/// index tuples are range-checked at import. Returns k.
FailureOr<int64_t> checkTupleIndices(NodeContext &ctx, RankedTensorType data) {
  if (failed(ctx.requireIndex(1)))
    return failure();
  RankedTensorType indices = ctx.getInputType(1);
  const int64_t k = indices.getRank() ? indices.getShape().back() : 0;
  if (k < 1 || k > data.getRank())
    return ctx.emitError() << "indices must have shape [..., k] with 1 <= k <= " << data.getRank()
                           << " (the data's rank), got " << indices;
  if (const HostTensor *known = ctx.getConstant(1))
    for (int64_t i = 0, e = known->size(); i < e; ++i) {
      const int64_t extent = data.getDimSize(i % k), v = known->getInt(i);
      if (v < -extent || v >= extent)
        return ctx.emitError() << "index " << v << " is out of range for dimension " << i % k
                               << " of size " << extent;
    }
  return k;
}

/// The shape of GatherND's result and ScatterND's updates: indices[:-1] + data[k:].
SmallVector<int64_t> tupleSliceShape(RankedTensorType data, RankedTensorType indices, int64_t k) {
  SmallVector<int64_t> shape(indices.getShape().drop_back());
  llvm::append_range(shape, data.getShape().drop_front(k));
  return shape;
}

/// GatherND with batch_dims 0.
LogicalResult importGatherND(NodeContext &ctx) {
  if (int64_t batchDims = ctx.getInt("batch_dims", 0); batchDims != 0)
    return ctx.emitUnsupported() << "batch_dims " << batchDims << " is not supported (only 0)";
  RankedTensorType data = ctx.getInputType(0);
  FailureOr<int64_t> k = checkTupleIndices(ctx, data);
  if (failed(k))
    return failure();
  auto type =
      RankedTensorType::get(tupleSliceShape(data, ctx.getInputType(1), *k), data.getElementType());
  return ctx.setOutput(
      0, ctx.getBuilder().create<GatherNDOp>(ctx.getLoc(), type, ctx.getInput(0), ctx.getInput(1)));
}

/// ScatterND with reduction none (every opset) or add (opset 16 on); mul, max and min are
/// reported as unsupported.
LogicalResult importScatterND(NodeContext &ctx) {
  std::string reduction = ctx.getString("reduction", "none");
  if (reduction != "none" && reduction != "add")
    return ctx.emitUnsupported() << "reduction '" << reduction
                                 << "' is not supported (only 'none' and 'add')";
  if (failed(ctx.requireSameElementType({0, 2})))
    return failure();
  if (reduction == "add" && failed(ctx.requireNumeric(0)))
    return failure();
  RankedTensorType data = ctx.getInputType(0);
  FailureOr<int64_t> k = checkTupleIndices(ctx, data);
  if (failed(k))
    return failure();
  SmallVector<int64_t> expected = tupleSliceShape(data, ctx.getInputType(1), *k);
  if (ctx.getInputType(2).getShape() != ArrayRef<int64_t>(expected))
    return ctx.emitError() << "updates must have shape indices[:-1] + data[k:] = "
                           << RankedTensorType::get(expected, data.getElementType()) << ", got "
                           << ctx.getInputType(2);
  return ctx.setOutput(0, ctx.getBuilder().create<ScatterNDOp>(
                              ctx.getLoc(), data, ctx.getInput(0), ctx.getInput(1), ctx.getInput(2),
                              reduction == "add" ? ScatterReduction::Add : ScatterReduction::None));
}

void checkSplit(const onnx::NodeProto &node, int64_t, SmallVectorImpl<std::string> &problems) {
  if (findAttribute(node, "num_outputs") && node.input_size() > 1 && !node.input(1).empty())
    problems.push_back("both the 'split' input and the 'num_outputs' attribute are given");
}

/// Pad: pads known at import time (an attribute before opset 11, an input from 11), with
/// opset 18's `axes`; the constant value (attribute before 11, optional scalar input from 11)
/// too. Negative pads crop: the op pads by the positive parts and a slice drops the rest.
LogicalResult importPad(NodeContext &ctx) {
  RankedTensorType in = ctx.getInputType(0);
  const int64_t rank = in.getRank();
  FailureOr<std::optional<SmallVector<int64_t>>> given = ctx.getIntsAttrOrInput("pads", 1, 11);
  if (failed(given))
    return failure();
  if (!*given)
    return ctx.emitError() << "pads are missing";
  SmallVector<int64_t> axes;
  if (ctx.getOpset() >= 18 && ctx.hasInput(3)) {
    FailureOr<SmallVector<int64_t>> a = ctx.requireInts(3, "axes");
    if (failed(a))
      return failure();
    for (int64_t axis : *a) {
      FailureOr<int64_t> d = ctx.normalizeAxis(axis, rank, "axis");
      if (failed(d))
        return failure();
      if (llvm::is_contained(axes, *d))
        return ctx.emitError() << "axis " << axis << " is repeated";
      axes.push_back(*d);
    }
  } else {
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  }
  const SmallVector<int64_t> &p = **given;
  const int64_t n = static_cast<int64_t>(axes.size());
  if (static_cast<int64_t>(p.size()) != 2 * n)
    return ctx.emitError() << "expects " << 2 * n << " pads (2 per padded axis), got " << p.size();
  SmallVector<int64_t> pads(2 * rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    pads[axes[i]] = p[i];
    pads[axes[i] + rank] = p[i + n];
  }

  std::string modeName = ctx.getString("mode", "constant");
  std::optional<PadMode> mode = symbolizePadMode(modeName);
  if (!mode)
    return ctx.emitUnsupported() << "mode '" << modeName << "' is not supported";
  double value = 0.0;
  // A constant_value computed at run time: pad with 0, then select it where the padding is.
  bool runtimeValue = false;
  if (ctx.getOpset() < 11) {
    value = ctx.getFloat("value", 0.0f);
  } else if (ctx.hasInput(2) && !ctx.getConstant(2) && *mode == PadMode::Constant) {
    if (ctx.getInputType(2).getNumElements() != 1)
      return ctx.emitError() << "constant_value must be a scalar";
    if (failed(ctx.requireSameElementType({0, 2})))
      return failure();
    runtimeValue = true;
  } else if (ctx.hasInput(2) && *mode == PadMode::Constant) { // the other modes ignore it
    FailureOr<const HostTensor *> v = ctx.requireConstant(2, "constant_value");
    if (failed(v))
      return failure();
    if ((*v)->size() != 1)
      return ctx.emitError() << "constant_value must be a scalar";
    value = (*v)->isFloat() ? (*v)->getDouble(0) : static_cast<double>((*v)->getInt(0));
  }

  // Positive parts padded, negative parts cropped afterwards.
  SmallVector<int64_t> positive(2 * rank), shape;
  bool pad = false, crop = false;
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t begin = pads[d], end = pads[d + rank], size = in.getDimSize(d);
    if (begin + size + end < 0)
      return ctx.emitError() << "pads (" << begin << ", " << end << ") remove more than the "
                             << size << " elements of dimension " << d;
    positive[d] = std::max<int64_t>(begin, 0);
    positive[d + rank] = std::max<int64_t>(end, 0);
    pad |= begin > 0 || end > 0;
    crop |= begin < 0 || end < 0;
    if (*mode == PadMode::Reflect && (positive[d] >= size || positive[d + rank] >= size) &&
        positive[d] + positive[d + rank] > 0)
      return ctx.emitError() << "reflect pads (" << begin << ", " << end << ") of dimension " << d
                             << " must be smaller than its size " << size;
    if (*mode == PadMode::Edge && size == 0 && positive[d] + positive[d + rank] > 0)
      return ctx.emitError() << "edge padding of the empty dimension " << d;
    shape.push_back(positive[d] + size + positive[d + rank]);
  }
  if (!pad && !crop)
    return ctx.forwardInput(0, 0);
  OpBuilder &b = ctx.getBuilder();
  Value x = ctx.getInput(0);
  if (pad) {
    x = ctx.fold(b.create<PadOp>(ctx.getLoc(), RankedTensorType::get(shape, in.getElementType()), x,
                                 b.getDenseI64ArrayAttr(positive),
                                 PadModeAttr::get(ctx.getContext(), *mode),
                                 b.getF64FloatAttr(value)));
    if (runtimeValue) {
      // The mask is a constant: true at the input's positions.
      auto i1 = b.getI1Type();
      HostTensor ones(RankedTensorType::get(in.getShape(), i1));
      for (int64_t i = 0, e = ones.size(); i < e; ++i)
        ones.setInt(i, 1);
      Value mask = ctx.materialize(evalPad(ones, positive, 0, 0.0));
      x = b.create<WhereOp>(ctx.getLoc(), x.getType(), mask, x, ctx.getInput(2));
    }
  }
  if (!crop)
    return ctx.setOutput(0, x);
  SmallVector<int64_t> start(rank), limit(rank), step(rank, 1);
  for (int64_t d = 0; d < rank; ++d) {
    start[d] = -std::min<int64_t>(pads[d], 0);
    limit[d] = shape[d] + std::min<int64_t>(pads[d + rank], 0);
  }
  return ctx.emit<SliceOp>(x.getType(), x, start, limit, step);
}

/// Trilu: `k` (optional input) must be known at import time.
LogicalResult importTrilu(NodeContext &ctx) {
  RankedTensorType in = ctx.getInputType(0);
  if (in.getRank() < 2)
    return ctx.emitError() << "input rank " << in.getRank() << " is below 2";
  int64_t k = 0;
  if (ctx.hasInput(1)) {
    FailureOr<SmallVector<int64_t>> v = ctx.requireInts(1, "k");
    if (failed(v))
      return failure();
    if (v->size() != 1)
      return ctx.emitError() << "k must be a scalar";
    k = (*v)[0];
  }
  OpBuilder &b = ctx.getBuilder();
  Value x = ctx.getInput(0);
  return ctx.setOutput(0, b.create<TriluOp>(ctx.getLoc(), x.getType(), x,
                                            b.getBoolAttr(ctx.getInt("upper", 1) != 0),
                                            b.getI64IntegerAttr(k)));
}

/// CumSum: the axis input must be known at import time.
LogicalResult importCumSum(NodeContext &ctx) {
  if (failed(ctx.requireNumeric(0)))
    return failure();
  RankedTensorType in = ctx.getInputType(0);
  FailureOr<SmallVector<int64_t>> a = ctx.requireInts(1, "axis");
  if (failed(a))
    return failure();
  if (a->size() != 1)
    return ctx.emitError() << "axis must be a scalar";
  FailureOr<int64_t> axis = ctx.normalizeAxis((*a)[0], in.getRank(), "axis");
  if (failed(axis))
    return failure();
  OpBuilder &b = ctx.getBuilder();
  Value x = ctx.getInput(0);
  return ctx.setOutput(0,
                       b.create<CumSumOp>(ctx.getLoc(), x.getType(), x, b.getI64IntegerAttr(*axis),
                                          b.getBoolAttr(ctx.getInt("exclusive", 0) != 0),
                                          b.getBoolAttr(ctx.getInt("reverse", 0) != 0)));
}

} // namespace

void populateShapeHandlers(HandlerRegistry &r) {
  // Constant gains value_* attributes at 12, Shape start/end at 15, Reshape allowzero at 14,
  // Flatten, Concat, Gather, Squeeze, Unsqueeze and Split negative axes or indices at 11: the
  // handlers read absent attributes as their defaults and accept the later, wider ranges.
  r.add("Constant", kMinOpset, kMaxOpset, importConstant, checkConstant);
  r.add("Shape", kMinOpset, kMaxOpset, importShape);
  r.add("Size", kMinOpset, kMaxOpset, importSize);
  r.add("ConstantOfShape", 9, kMaxOpset, importConstantOfShape);
  r.add("Range", 11, kMaxOpset, importRange);

  r.add("Reshape", kMinOpset, kMaxOpset, importReshape);
  r.add("Flatten", kMinOpset, kMaxOpset, importFlatten);
  r.add("Squeeze", kMinOpset, kMaxOpset, importSqueeze);
  r.add("Unsqueeze", kMinOpset, kMaxOpset, importUnsqueeze);
  r.add("Expand", 8, kMaxOpset, importExpand);
  r.add("Tile", kMinOpset, kMaxOpset, importTile);

  r.add("Transpose", kMinOpset, kMaxOpset, importTranspose);
  r.add("Concat", kMinOpset, kMaxOpset, importConcat);
  r.add("Split", kMinOpset, kMaxOpset, importSplit, checkSplit);
  r.add("SplitToSequence", 11, kMaxOpset, importSplitToSequence);
  r.add("SequenceConstruct", 11, kMaxOpset, importSequenceConstruct);
  r.add("SequenceAt", 11, kMaxOpset, importSequenceAt);
  r.add("SequenceLength", 11, kMaxOpset, importSequenceLength);
  r.add("ConcatFromSequence", 11, kMaxOpset, importConcatFromSequence);
  r.add("Slice", kMinOpset, kMaxOpset, importSlice);
  r.add("Pad", kMinOpset, kMaxOpset, importPad);
  r.add("Trilu", 14, kMaxOpset, importTrilu);
  r.add("CumSum", 11, kMaxOpset, importCumSum);
  r.add("Gather", kMinOpset, kMaxOpset, importGather);
  r.add("GatherElements", 11, kMaxOpset, importGatherElements);
  r.add("GatherND", 11, kMaxOpset, importGatherND);
  r.add("ScatterND", 11, kMaxOpset, importScatterND);
}

} // namespace precis::onnx_import
