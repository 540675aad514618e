//===- PreviewTrainingDomain.cpp - ai.onnx.preview.training ops -----------===//
//
// Handlers for ONNX's training domain (version 1): the optimizers Adagrad, Adam and Momentum,
// decomposed at import into precis element-wise ops, and Gradient, differentiated at import
// through each op's GradientOpInterface rule.
//
// The optimizers update N tensors at once: their inputs are the learning rate R, the update
// count T, then N tensors X, N gradients G and the N tensors of each state (Adagrad H, Adam V
// and H, Momentum V); their outputs are the N new X, then the new state in the same order. R
// and T are run-time scalars (a training loop feeds them), so everything that depends on them
// is emitted as ops rather than folded, including the first-step special cases, which select
// on `T > 0` with `precis.where`. The arithmetic runs in the element type of X, as ONNX
// defines it; the precision passes decide later where it runs.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "precis/Dialect/Precis/IR/ReverseSweep.h"

#include "mlir/IR/IRMapping.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::precis;

namespace precis::onnx_import {

namespace {

//===----------------------------------------------------------------------===//
// Optimizers.
//===----------------------------------------------------------------------===//

/// Names of the per-tensor inputs and outputs of each optimizer, in their order.
struct OptimizerLayout {
  /// Input groups after R and T: "X", "G", then the state.
  llvm::ArrayRef<const char *> inputs;
  /// Output groups: "X_new", then the new state.
  llvm::ArrayRef<const char *> outputs;
};

constexpr const char *kAdagradInputs[] = {"X", "G", "H"};
constexpr const char *kAdagradOutputs[] = {"X_new", "H_new"};
constexpr const char *kAdamInputs[] = {"X", "G", "V", "H"};
constexpr const char *kAdamOutputs[] = {"X_new", "V_new", "H_new"};
constexpr const char *kMomentumInputs[] = {"X", "G", "V"};
constexpr const char *kMomentumOutputs[] = {"X_new", "V_new"};

OptimizerLayout layoutOf(llvm::StringRef opType) {
  if (opType == "Adagrad")
    return {kAdagradInputs, kAdagradOutputs};
  if (opType == "Adam")
    return {kAdamInputs, kAdamOutputs};
  return {kMomentumInputs, kMomentumOutputs};
}

std::string joinNames(llvm::ArrayRef<const char *> names) {
  std::string text;
  for (auto [i, name] : llvm::enumerate(names))
    text += (i ? ", " : "") + std::string(name);
  return text;
}

/// Input and output counts: the schema makes both variadic, so the ONNX checker accepts any;
/// a wrong count would leave tensors without gradients or state.
void checkOptimizerArity(const onnx::NodeProto &node, SmallVectorImpl<std::string> &problems) {
  OptimizerLayout layout = layoutOf(node.op_type());
  int64_t groups = layout.inputs.size();
  int64_t tensors = node.input_size() - 2;
  if (tensors < groups || tensors % groups != 0) {
    problems.push_back(llvm::formatv("expects R, T, then N tensors each of {0} (2 + {1}N "
                                     "inputs, N >= 1), got {2} inputs",
                                     joinNames(layout.inputs), groups, node.input_size())
                           .str());
    return;
  }
  int64_t n = tensors / groups;
  for (auto [i, input] : llvm::enumerate(node.input()))
    if (input.empty())
      problems.push_back(llvm::formatv("input {0} is empty; every input is required", i).str());
  int64_t expected = n * static_cast<int64_t>(layout.outputs.size());
  if (node.output_size() != expected)
    problems.push_back(llvm::formatv("updates {0} tensor(s), so it has {1} outputs ({2} of "
                                     "each), got {3}",
                                     n, expected, joinNames(layout.outputs), node.output_size())
                           .str());
}

void checkOptimizer(const onnx::NodeProto &node, int64_t, SmallVectorImpl<std::string> &problems) {
  checkOptimizerArity(node, problems);
}

void checkMomentum(const onnx::NodeProto &node, int64_t, SmallVectorImpl<std::string> &problems) {
  checkOptimizerArity(node, problems);
  // Momentum has no defaults: every attribute is required.
  for (const char *name : {"alpha", "beta", "norm_coefficient", "mode"})
    if (!findAttribute(node, name))
      problems.push_back("missing required attribute '" + std::string(name) + "'");
  if (findAttribute(node, "mode")) {
    std::string mode = getStringAttribute(node, "mode", "");
    if (mode != "standard" && mode != "nesterov")
      problems.push_back("mode='" + mode + "' is not 'standard' or 'nesterov'");
  }
}

/// The decomposition's building blocks. Operands are scalars or tensors of one shape (the
/// handler checks the shapes first), so results take the non-scalar operand's type and no
/// broadcast can fail.
class Optimizer {
public:
  Optimizer(NodeContext &ctx, Type elementType) : ctx(ctx), elementType(elementType) {}

  /// Checks the inputs and reads R (cast to the element type of X) and T, both as scalars.
  static FailureOr<Optimizer> create(NodeContext &ctx);

  NodeContext &ctx;
  Type elementType;
  /// The number of tensors updated.
  unsigned n = 0;
  Value rate, step;

  /// Input `group` (0: X, 1: G, 2... the state) of tensor `i`.
  Value input(unsigned group, unsigned i) { return ctx.getInput(2 + group * n + i); }
  /// Binds output `group` of tensor `i`.
  void output(unsigned group, unsigned i, Value value) {
    (void)ctx.setOutput(group * n + i, value);
  }

  Value constant(double value) {
    auto type = RankedTensorType::get({}, elementType);
    return ctx.materialize(HostTensor::fromDoubles(type, {value}));
  }
  template <typename OpTy> Value binary(Value lhs, Value rhs) {
    auto type = cast<RankedTensorType>(lhs.getType());
    if (type.getRank() == 0)
      type = cast<RankedTensorType>(rhs.getType());
    return ctx.getBuilder().create<OpTy>(ctx.getLoc(), type, lhs, rhs);
  }
  Value add(Value a, Value b) { return binary<AddOp>(a, b); }
  Value sub(Value a, Value b) { return binary<SubOp>(a, b); }
  Value mul(Value a, Value b) { return binary<MulOp>(a, b); }
  Value div(Value a, Value b) { return binary<DivOp>(a, b); }
  Value pow(Value a, Value b) { return binary<PowOp>(a, b); }
  Value sqrt(Value a) { return ctx.getBuilder().create<SqrtOp>(ctx.getLoc(), a.getType(), a); }
  /// `T > 0 ? onTrue : onFalse` on scalars: the first step (T == 0) is special in Adam and
  /// Momentum.
  Value ifStepPositive(Value onTrue, Value onFalse) {
    OpBuilder &b = ctx.getBuilder();
    auto stepType = cast<RankedTensorType>(step.getType());
    Value zero = ctx.materialize(HostTensor(stepType));
    Value positive = b.create<CompareOp>(ctx.getLoc(), stepType.clone(b.getI1Type()),
                                         CompareKind::GT, step, zero);
    return b.create<WhereOp>(ctx.getLoc(), onTrue.getType(), positive, onTrue, onFalse);
  }
  /// The step count in the element type of X.
  Value stepAsFloat() { return ctx.castTo(step, elementType); }

  /// G + norm_coefficient * X: the gradient of the L2 penalty 0.5 * c * ||X||^2 added. A zero
  /// coefficient (the default) adds nothing and emits nothing.
  Value regularizedGradient(unsigned i) {
    Value g = input(1, i);
    float norm = ctx.getFloat("norm_coefficient", 0.0f);
    if (norm == 0.0f)
      return g;
    return add(mul(constant(norm), input(0, i)), g);
  }
};

FailureOr<Optimizer> Optimizer::create(NodeContext &ctx) {
  OptimizerLayout layout = layoutOf(ctx.getOpType());
  unsigned groups = layout.inputs.size();
  // Validation checked the counts.
  unsigned n = (ctx.getNumInputs() - 2) / groups;
  for (unsigned i = 2; i < ctx.getNumInputs(); ++i)
    if (failed(ctx.requireFloat(i)))
      return failure();
  Type elementType = ctx.getInputElementType(2);
  for (unsigned group = 0; group < groups; ++group)
    for (unsigned i = 0; i < n; ++i) {
      unsigned x = 2 + i, input = 2 + group * n + i;
      if (ctx.getInputType(input) != ctx.getInputType(x))
        return ctx.emitError() << layout.inputs[group] << " of tensor " << i + 1 << " (input "
                               << input << ") is " << ctx.getInputType(input) << ", but its "
                               << layout.inputs[0] << " (input " << x << ") is "
                               << ctx.getInputType(x) << "; they must match";
    }
  if (failed(ctx.requireFloat(0)) || failed(ctx.requireIndex(1)))
    return failure();
  for (auto [i, role] : {std::pair(0u, "learning rate R"), std::pair(1u, "update count T")})
    if (ctx.getInputType(i).getNumElements() != 1)
      return ctx.emitError() << "the " << role << " (input " << i << ") must be a scalar, got "
                             << ctx.getInputType(i);

  Optimizer opt(ctx, elementType);
  opt.n = n;
  opt.rate = ctx.castTo(ctx.reshape(ctx.getInput(0), {}), elementType);
  opt.step = ctx.reshape(ctx.getInput(1), {});
  return opt;
}

/// Adagrad:
///   r = R / (1 + T * decay_factor)
///   G_regularized = norm_coefficient * X + G
///   H_new = H + G_regularized * G_regularized
///   X_new = X - r * G_regularized / (sqrt(H_new) + epsilon)
LogicalResult importAdagrad(NodeContext &ctx) {
  FailureOr<Optimizer> opt = Optimizer::create(ctx);
  if (failed(opt))
    return failure();
  float decay = ctx.getFloat("decay_factor", 0.0f);
  float epsilon = ctx.getFloat("epsilon", 1e-6f);
  Value rate = opt->rate;
  if (decay != 0.0f)
    rate = opt->div(
        rate, opt->add(opt->constant(1.0), opt->mul(opt->stepAsFloat(), opt->constant(decay))));
  for (unsigned i = 0; i < opt->n; ++i) {
    Value g = opt->regularizedGradient(i);
    Value h = opt->add(opt->input(2, i), opt->mul(g, g));
    Value adaptive = opt->add(opt->sqrt(h), opt->constant(epsilon));
    Value x = opt->sub(opt->input(0, i), opt->div(opt->mul(rate, g), adaptive));
    opt->output(0, i, x);
    opt->output(1, i, h);
  }
  return success();
}

/// Adam:
///   G_regularized = norm_coefficient * X + G
///   V_new = alpha * V + (1 - alpha) * G_regularized
///   H_new = beta * H + (1 - beta) * G_regularized * G_regularized
///   R_adjusted = T > 0 ? R * sqrt(1 - beta^T) / (1 - alpha^T) : R
///   X_new = X - R_adjusted * V_new / (sqrt(H_new) + epsilon)
///   X_final = (1 - norm_coefficient_post) * X_new
LogicalResult importAdam(NodeContext &ctx) {
  FailureOr<Optimizer> opt = Optimizer::create(ctx);
  if (failed(opt))
    return failure();
  float alpha = ctx.getFloat("alpha", 0.9f);
  float beta = ctx.getFloat("beta", 0.999f);
  float epsilon = ctx.getFloat("epsilon", 1e-6f);
  float post = ctx.getFloat("norm_coefficient_post", 0.0f);

  // Bias correction, with T a run-time value. At T == 0 the corrected rate divides by
  // 1 - alpha^0 = 0; the select discards that branch.
  Value t = opt->stepAsFloat();
  Value one = opt->constant(1.0);
  Value corrected =
      opt->div(opt->mul(opt->rate, opt->sqrt(opt->sub(one, opt->pow(opt->constant(beta), t)))),
               opt->sub(one, opt->pow(opt->constant(alpha), t)));
  Value rate = opt->ifStepPositive(corrected, opt->rate);

  for (unsigned i = 0; i < opt->n; ++i) {
    Value g = opt->regularizedGradient(i);
    Value v = opt->add(opt->mul(opt->constant(alpha), opt->input(2, i)),
                       opt->mul(opt->constant(1.0 - alpha), g));
    Value h = opt->add(opt->mul(opt->constant(beta), opt->input(3, i)),
                       opt->mul(opt->constant(1.0 - beta), opt->mul(g, g)));
    Value denom = opt->add(opt->sqrt(h), opt->constant(epsilon));
    Value x = opt->sub(opt->input(0, i), opt->mul(rate, opt->div(v, denom)));
    if (post != 0.0f)
      x = opt->mul(opt->constant(1.0 - post), x);
    opt->output(0, i, x);
    opt->output(1, i, v);
    opt->output(2, i, h);
  }
  return success();
}

/// Momentum (mode "standard" or "nesterov"):
///   G_regularized = norm_coefficient * X + G
///   beta_adjusted = T > 0 ? beta : 1
///   V_new = alpha * V + beta_adjusted * G_regularized
///   X_new = X - R * V_new                                  (standard)
///   X_new = X - R * (G_regularized + alpha * V_new)        (nesterov)
LogicalResult importMomentum(NodeContext &ctx) {
  FailureOr<Optimizer> opt = Optimizer::create(ctx);
  if (failed(opt))
    return failure();
  float alpha = ctx.getFloat("alpha", 0.0f);
  float beta = ctx.getFloat("beta", 1.0f);
  bool nesterov = ctx.getString("mode", "standard") == "nesterov";
  Value betaAdjusted =
      beta == 1.0f ? Value() : opt->ifStepPositive(opt->constant(beta), opt->constant(1.0));
  for (unsigned i = 0; i < opt->n; ++i) {
    Value g = opt->regularizedGradient(i);
    Value scaled = betaAdjusted ? opt->mul(betaAdjusted, g) : g;
    Value v = opt->add(opt->mul(opt->constant(alpha), opt->input(2, i)), scaled);
    Value direction = nesterov ? opt->add(g, opt->mul(opt->constant(alpha), v)) : v;
    Value x = opt->sub(opt->input(0, i), opt->mul(opt->rate, direction));
    opt->output(0, i, x);
    opt->output(1, i, v);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Gradient.
//===----------------------------------------------------------------------===//

SmallVector<std::string> getStrings(const onnx::NodeProto &node, StringRef name) {
  SmallVector<std::string> values;
  if (const onnx::AttributeProto *attr = findAttribute(node, name))
    values.assign(attr->strings().begin(), attr->strings().end());
  return values;
}

void checkGradient(const onnx::NodeProto &node, int64_t, SmallVectorImpl<std::string> &problems) {
  size_t xs = getStrings(node, "xs").size(), zs = getStrings(node, "zs").size();
  if (xs == 0)
    problems.push_back("the required attribute 'xs' is missing or empty");
  if (getStringAttribute(node, "y", "").empty())
    problems.push_back("the required attribute 'y' is missing or empty");
  if (static_cast<size_t>(node.input_size()) != xs + zs)
    problems.push_back(llvm::formatv("has {0} inputs, but 'xs' and 'zs' name {1} values (one "
                                     "input each)",
                                     node.input_size(), xs + zs)
                           .str());
  for (auto [i, input] : llvm::enumerate(node.input()))
    if (input.empty())
      problems.push_back(llvm::formatv("input {0} is empty; every input is required", i).str());
  if (static_cast<size_t>(node.output_size()) != xs)
    problems.push_back(llvm::formatv("has {0} outputs, but 'xs' names {1} values (one "
                                     "gradient each)",
                                     node.output_size(), xs)
                           .str());
}

/// Gradient(xs, zs, y): the gradient of y with respect to each value named in `xs`, at the
/// point given by the node's inputs (one per name in `xs`, then `zs`). The ops that compute y
/// are already in the function: the sweep differentiates them. When an input differs from
/// the value it stands for, the ops between them and y are first cloned with the input in
/// its place. For a y of more than one element the gradient is that of the sum of its
/// elements (a seed of ones), as reverse-mode training frameworks define it.
LogicalResult importGradient(NodeContext &ctx) {
  const onnx::NodeProto &node = ctx.getNode();
  SmallVector<std::string> names = getStrings(node, "xs");
  size_t numXs = names.size();
  llvm::append_range(names, getStrings(node, "zs"));
  std::string yName = ctx.getString("y", "");

  Binding *yBinding = ctx.lookupValue(yName);
  if (!yBinding)
    return ctx.emitError() << "'y' names '" << yName
                           << "', which is not a graph input, an initializer or the output of "
                              "an earlier node";
  Block *block = ctx.getBuilder().getInsertionBlock();
  SmallVector<Operation *> ops;
  for (Operation &op : *block)
    ops.push_back(&op);

  // Bind the named values to the inputs; where they differ, recompute y from the inputs.
  IRMapping substitution;
  SmallVector<Value> wrt;
  for (auto [i, name] : llvm::enumerate(names)) {
    StringRef attr = i < numXs ? "xs" : "zs";
    Binding *named = ctx.lookupValue(name);
    if (!named)
      return ctx.emitError() << "'" << attr << "' names '" << name
                             << "', which is not a graph input, an initializer or the output of "
                                "an earlier node";
    RankedTensorType type = named->getType();
    if (i < numXs && !isa<FloatType>(type.getElementType()))
      return ctx.emitError() << "'xs' names '" << name << "' of type " << type
                             << "; gradients exist only for float tensors";
    bool same = node.input(i) == name;
    // A value folded at import time has no ops to differentiate or recompute.
    if (named->constant && (i < numXs || !same))
      return ctx.emitUnsupported()
             << "'" << attr << "' names '" << name << "', which is known at import time and folded";
    if (ctx.getInputType(i) != type)
      return ctx.emitError() << "input " << i << " ('" << node.input(i) << "') is "
                             << ctx.getInputType(i) << ", but the value it stands for, '" << name
                             << "', is " << type;
    Value input = ctx.getInput(i);
    if (!same)
      substitution.map(ctx.getValue(*named), input);
    if (i < numXs)
      wrt.push_back(input);
  }
  Value y = ctx.getValue(*yBinding);
  if (!isa<FloatType>(cast<RankedTensorType>(y.getType()).getElementType()))
    return ctx.emitError() << "'y' names '" << yName << "' of type " << y.getType()
                           << "; gradients exist only of float tensors";
  if (!substitution.getValueMap().empty()) {
    SmallVector<Operation *> cloned;
    for (Operation *op : ops)
      if (llvm::any_of(op->getOperands(), [&](Value v) { return substitution.contains(v); }))
        cloned.push_back(ctx.getBuilder().clone(*op, substitution));
    y = substitution.lookupOrDefault(y);
    llvm::append_range(ops, cloned);
  }

  // The sweep `precis-autodiff` runs over @forward, seeded with ones.
  auto seed = [&] {
    auto type = cast<RankedTensorType>(y.getType());
    return ctx.materialize(
        HostTensor::fromDoubles(type, SmallVector<double>(type.getNumElements(), 1.0)));
  };
  auto report = [&](Operation *op, SweepFailure failure, size_t) {
    if (failure == SweepFailure::NoRule)
      ctx.emitUnsupported() << "'" << op->getName()
                            << "' lies between 'xs' and 'y' but has no gradient rule";
    else
      ctx.emitError() << "building the gradient of '" << op->getName() << "' failed";
  };
  FailureOr<SmallVector<Value>> grads =
      buildReverseSweep(ctx.getBuilder(), ops, y, wrt, {seed, report, ctx.getLoc()});
  if (failed(grads))
    return failure();
  for (auto [i, g] : llvm::enumerate(*grads)) {
    if (!g)
      g = ctx.materialize(HostTensor(cast<RankedTensorType>(wrt[i].getType())));
    (void)ctx.setOutput(i, g);
  }
  return success();
}

} // namespace

void populateTrainingHandlers(HandlerRegistry &r) {
  r.add(Domain::PreviewTraining, "Adagrad", 1, kMaxTrainingOpset, importAdagrad, checkOptimizer);
  r.add(Domain::PreviewTraining, "Adam", 1, kMaxTrainingOpset, importAdam, checkOptimizer);
  r.add(Domain::PreviewTraining, "Momentum", 1, kMaxTrainingOpset, importMomentum, checkMomentum);
  r.add(Domain::PreviewTraining, "Gradient", 1, kMaxTrainingOpset, importGradient, checkGradient);
}

} // namespace precis::onnx_import
