//===- AssignPrecision.cpp - decide every op's precision, with a reason ----===//
//
// Decides the precision of every op of every function and records the decision and its
// reason as `precis.decision` (docs/design.md decisions 2 and 3); `precis-insert-casts` then makes
// the types say it. The pass reads each op's precision class from PrecisionOpInterface and
// never switches over op names:
//
/// * compute ops (matmul, gemm, conv) run in the target precision and accumulate in fp32;
///   under fp8 a GEMM's forward operands are E4M3 and its gradient operands E5M2, and GEMMs
///   that tensor-core fp8 cannot run (a dimension not a multiple of 16, a convolution, two
///   gradient operands) run in bf16;
/// * sensitive ops (reductions, softmax, norms, exp/log/pow, losses, optimizer updates) stay
///   fp32;
/// * follow ops (element-wise, data movement) run in the widest precision among their
///   *activation* operands, so a bias add after a bf16 matmul stays bf16 and a residual add
///   of an fp32 stream stays fp32. Constants, parameters and values computed from them alone
///   do not vote: they are cast once where they are used.
///
/// Range safety: under fp16 an op never receives a constant or initializer outside fp16's
/// finite range (a -1e9 attention mask, a -inf fill); such an op stays fp32 and says so.
/// User rules (a JSON file) come first; calibration evidence (the `auto` precision, which
/// precis-calibrate leaves in the module's `precis.calibration` attribute) after.
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/AttrNames.h"
#include "precis/Transforms/Passes.h"
#include "precis/Transforms/Precision.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/GlobPattern.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>
#include <set>

namespace mlir::precis {
#define GEN_PASS_DEF_ASSIGNPRECISIONPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {

constexpr double kFp16Max = 65504.0;

/// One user rule: ops whose kind and node name match get `precision`.
struct UserRule {
  std::optional<llvm::GlobPattern> op, node;
  std::string opText, nodeText, precision;
  unsigned index; // 1-based, as the report names it
};

/// Per-node calibration evidence for `auto`: the observed |max| of the op's output and the
/// relative error of each candidate precision against fp32.
struct Evidence {
  double amax = 0;
  llvm::StringMap<double> error;
};

Type elementType(Value v) { return cast<RankedTensorType>(v.getType()).getElementType(); }

StringRef nodeName(Operation *op) { return mlir::precis::nodeName(op->getLoc()); }

/// A decision being made; `toAttr` records it.
struct Decision {
  DecisionRule rule = DecisionRule::NoFloat;
  unsigned userIndex = 0;
  SmallVector<Type> in; // one type for all float operands, or one per float operand
  Type out, acc;
  std::string reason;

  void setAll(Type t) {
    in = {t};
    out = t;
  }
  bool inIs(Type t) const { return in.size() == 1 && in[0] == t; }
  DecisionAttr toAttr(MLIRContext *ctx) const {
    return DecisionAttr::get(ctx, rule, userIndex, in, out, acc, reason);
  }
};

std::string fmt(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

struct AssignPrecisionPass : mlir::precis::impl::AssignPrecisionPassBase<AssignPrecisionPass> {
  using AssignPrecisionPassBase::AssignPrecisionPassBase;

  void runOnOperation() override;

private:
  LogicalResult loadRules();
  LogicalResult loadCalibration();
  void assignFunction(func::FuncOp fn);
  /// One walk over `fn`'s ops in order: decides each and records it on the op.
  void decideAll(func::FuncOp fn);
  /// True if every use of `v` reads it as `low` (the operand type its user's decision names).
  bool everyUseReads(Value v, Type low);
  Decision decide(Operation *op);
  Decision decideCompute(Operation *op, StringRef low);
  Decision decideFollow(Operation *op, StringRef low);
  /// The largest finite |value| of the constant or initializer behind `v`, looking through
  /// data movement; -1 when `v` is not constant; +inf when it holds a non-finite value.
  double constantMagnitude(Value v);
  Type type(StringRef precision) { return precisionType(&getContext(), precision); }

  std::vector<UserRule> userRules;
  /// The rules' glob texts: a GlobPattern refers to its text, which must outlive it (the JSON
  /// document it was read from does not).
  llvm::StringSet<> globTexts;
  llvm::StringMap<Evidence> evidence;           // keyed by "node|op"
  llvm::StringMap<double> initializerMagnitude; // @forward's parameters, by name
  /// Values that are constants, parameters or computed from those alone.
  llvm::DenseSet<Value> weightLike;
  /// Values computed from the loss gradient (the backward pass).
  llvm::DenseSet<Value> gradient;
  /// The precision each float value has after the pass.
  DenseMap<Value, Type> decided;
  /// Results of sensitive ops computed in fp32 and stored in the low precision, because
  /// every use reads them in it.
  llvm::SetVector<Value> storedLow;
};

LogicalResult AssignPrecisionPass::loadRules() {
  if (rules.empty())
    return success();
  ModuleOp module = getOperation();
  auto buffer = llvm::MemoryBuffer::getFile(rules);
  if (!buffer)
    return module.emitError("cannot read the rules file '") << rules << "'";
  auto json = llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    return module.emitError("rules file '")
           << rules << "' is not JSON: " << llvm::toString(json.takeError());
  const llvm::json::Array *list = json->getAsArray();
  if (auto *obj = json->getAsObject())
    list = obj->getArray("rules");
  if (!list)
    return module.emitError("rules file '")
           << rules
           << "': expected {\"rules\": [{\"op\": ..., \"node\": ..., \"precision\": ...}]}";
  for (auto [i, entry] : llvm::enumerate(*list)) {
    const llvm::json::Object *obj = entry.getAsObject();
    auto fail = [&](const Twine &what) {
      return module.emitError("rules file '") << rules << "', rule " << i + 1 << ": " << what;
    };
    if (!obj)
      return fail("expected an object");
    UserRule rule;
    rule.index = i + 1;
    for (auto &kv : *obj)
      if (kv.first != "op" && kv.first != "node" && kv.first != "precision")
        return fail("unknown key '" + kv.first.str() + "' (expected op, node, precision)");
    auto precision = obj->getString("precision");
    if (!precision)
      return fail("needs \"precision\"");
    rule.precision = precision->str();
    if (rule.precision != "fp32" && rule.precision != "bf16" && rule.precision != "fp16" &&
        rule.precision != "fp8")
      return fail("precision '" + rule.precision + "' is not one of fp32, bf16, fp16, fp8");
    auto op = obj->getString("op");
    auto node = obj->getString("node");
    if (!op && !node)
      return fail("needs \"op\" or \"node\" (glob patterns)");
    if (op) {
      auto glob = llvm::GlobPattern::create(globTexts.insert(*op).first->getKey());
      if (!glob)
        return fail("bad op pattern: " + llvm::toString(glob.takeError()));
      rule.op = std::move(*glob);
      rule.opText = op->str();
    }
    if (node) {
      auto glob = llvm::GlobPattern::create(globTexts.insert(*node).first->getKey());
      if (!glob)
        return fail("bad node pattern: " + llvm::toString(glob.takeError()));
      rule.node = std::move(*glob);
      rule.nodeText = node->str();
    }
    userRules.push_back(std::move(rule));
  }
  return success();
}

LogicalResult AssignPrecisionPass::loadCalibration() {
  ModuleOp module = getOperation();
  auto entries = module->getAttrOfType<ArrayAttr>(kCalibration);
  if (precision != PrecisionPolicy::Auto)
    return success();
  if (!entries)
    return module.emitError("precision=auto needs calibration evidence: run precis-calibrate "
                            "first (the pipelines do, given a calibration batch)");
  for (Attribute entry : entries) {
    auto dict = dyn_cast<DictionaryAttr>(entry);
    auto node = dict ? dict.getAs<StringAttr>("node") : StringAttr();
    auto op = dict ? dict.getAs<StringAttr>("op") : StringAttr();
    if (!node || !op)
      return module.emitError("malformed ")
             << kCalibration << ": each entry needs \"node\" and \"op\"";
    Evidence e;
    for (NamedAttribute field : dict) {
      auto value = dyn_cast<FloatAttr>(field.getValue());
      if (!value)
        continue;
      if (field.getName() == "amax")
        e.amax = value.getValueAsDouble();
      else
        e.error[field.getName()] = value.getValueAsDouble();
    }
    evidence[(node.getValue() + "|" + op.getValue()).str()] = std::move(e);
  }
  return success();
}

double AssignPrecisionPass::constantMagnitude(Value v) {
  // Look through data movement and casts to the constant or initializer itself.
  while (Operation *def = v.getDefiningOp()) {
    if (isa<ReshapeOp, TransposeOp, ExpandOp, CastOp, SliceOp>(def)) {
      v = def->getOperand(0);
      continue;
    }
    break;
  }
  auto magnitude = [](ElementsAttr attr) {
    double m = 0;
    DenseElementsAttr value = getDenseElements(attr);
    if (!value || !isa<FloatType>(value.getElementType()))
      return -1.0;
    for (APFloat x : value.getValues<APFloat>()) {
      if (!x.isFinite())
        return HUGE_VAL;
      m = std::max(m, std::fabs(x.convertToDouble()));
    }
    return m;
  };
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    auto fn = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
    if (!fn)
      return -1;
    auto name = fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kParamName);
    if (!name)
      return -1;
    auto it = initializerMagnitude.find(name.getValue());
    return it == initializerMagnitude.end() ? -1 : it->second;
  }
  if (auto cst = v.getDefiningOp<ConstantOp>())
    return magnitude(cst.getValue());
  if (auto param = v.getDefiningOp<ParameterOp>()) {
    auto it = initializerMagnitude.find(param.getName());
    if (it != initializerMagnitude.end())
      return it->second;
    return initializerMagnitude[param.getName()] = magnitude(param.getValue());
  }
  return -1;
}

/// The fp16 range check: the first float operand whose constant value fp16 cannot hold.
static std::optional<std::string> fp16RangeProblem(Operation *op,
                                                   function_ref<double(Value)> magnitude) {
  for (auto [i, v] : llvm::enumerate(op->getOperands())) {
    if (!isFloatTensor(v))
      continue;
    double m = magnitude(v);
    if (m < 0 || m <= kFp16Max)
      continue;
    std::string what = std::isinf(m) ? "a non-finite value" : "|value| " + fmt(m);
    return llvm::formatv("operand {0} is a constant holding {1}, outside fp16's range (max "
                         "65504)",
                         i, what)
        .str();
  }
  return std::nullopt;
}

Decision AssignPrecisionPass::decideCompute(Operation *op, StringRef low) {
  Decision d;
  d.acc = type("fp32");
  d.rule = DecisionRule::Compute;
  if (low == "fp32") {
    d.setAll(type("fp32"));
    d.rule = DecisionRule::Target;
    d.reason = "compute-class op; fp32 requested";
    return d;
  }
  if (low == "fp16")
    if (auto problem = fp16RangeProblem(op, [&](Value v) { return constantMagnitude(v); })) {
      d.setAll(type("fp32"));
      d.rule = DecisionRule::RangeFp16;
      d.reason = *problem + ": kept in fp32";
      return d;
    }
  // Attention runs its two GEMMs on tensor cores but no fp8 path exists for it; its softmax,
  // the additive mask and logsumexp stay in fp32 (scores never leave the kernel).
  const bool attention = isa<AttentionOp, AttentionGradOp>(op);
  if (attention && low == "fp8")
    low = "bf16";
  if (low != "fp8") {
    d.setAll(type(low));
    d.reason = ("compute-class op: " + low + " operands, fp32 accumulation").str();
    if (attention) {
      // Float operands in order: q, k, v, mask (attention); q, k, v, result, logsumexp,
      // grad, mask (attention_grad).
      Type f32 = type("fp32"), lo = type(low);
      d.in = isa<AttentionOp>(op) ? SmallVector<Type>{lo, lo, lo, f32}
                                  : SmallVector<Type>{lo, lo, lo, lo, f32, lo, f32};
      d.reason = ("attention: " + low +
                  " GEMM operands, fp32 scores, softmax and accumulation (the softmax "
                  "exponentiates score differences, which " +
                  low + " would round to a few digits), fp32 mask and logsumexp")
                     .str();
    }
    return d;
  }

  // fp8: tensor-core GEMMs only, with every dimension a multiple of 16.
  auto fallback = [&](DecisionRule rule, const Twine &why) {
    d.setAll(type("bf16"));
    d.rule = rule;
    d.reason = (why + ": bf16 operands, fp32 accumulation").str();
    return d;
  };
  int64_t m = 0, n = 0, k = 0;
  if (auto mm = dyn_cast<MatmulOp>(op)) {
    auto a = cast<RankedTensorType>(mm.getLhs().getType()).getShape();
    auto b = cast<RankedTensorType>(mm.getRhs().getType()).getShape();
    m = a[a.size() - (mm.getTransposeLhs() ? 1 : 2)];
    k = a[a.size() - (mm.getTransposeLhs() ? 2 : 1)];
    n = b[b.size() - (mm.getTransposeRhs() ? 2 : 1)];
  } else if (auto gemm = dyn_cast<GemmOp>(op)) {
    auto a = cast<RankedTensorType>(gemm.getA().getType()).getShape();
    auto b = cast<RankedTensorType>(gemm.getB().getType()).getShape();
    m = a[gemm.getTransposeA() ? 1 : 0];
    k = a[gemm.getTransposeA() ? 0 : 1];
    n = b[gemm.getTransposeB() ? 0 : 1];
  } else {
    return fallback(DecisionRule::Fp8Conv, "convolution: fp8 tensor cores run GEMMs only");
  }
  if (m % 16 || n % 16 || k % 16)
    return fallback(DecisionRule::Fp8Dims,
                    llvm::formatv("GEMM {0}x{1}x{2} (MxNxK): fp8 tensor cores need "
                                  "every dimension a multiple of 16",
                                  m, n, k));
  bool lhsGrad = gradient.contains(op->getOperand(0));
  bool rhsGrad = gradient.contains(op->getOperand(1));
  if (lhsGrad && rhsGrad)
    return fallback(DecisionRule::Fp8E5M2xE5M2,
                    "both operands are gradients (no E5M2 x E5M2 GEMM)");
  d.in = {type(lhsGrad ? "fp8e5m2" : "fp8e4m3"), type(rhsGrad ? "fp8e5m2" : "fp8e4m3")};
  // A gemm's bias (operand c) is added in the output precision.
  if (op->getNumOperands() > 2)
    d.in.push_back(type("bf16"));
  d.out = type("bf16");
  d.rule = DecisionRule::Compute;
  d.reason = llvm::formatv("compute-class GEMM {0}x{1}x{2}: fp8 operands ({3} {4}), fp32 "
                           "accumulation, bf16 result",
                           m, n, k, lhsGrad ? "gradient E5M2" : "E4M3",
                           rhsGrad ? "x gradient E5M2" : "x E4M3")
                 .str();
  return d;
}

Decision AssignPrecisionPass::decideFollow(Operation *op, StringRef low) {
  Decision d;
  // The widest precision among the activation operands.
  Type widest;
  bool any = false;
  for (Value v : op->getOperands()) {
    if (!isFloatTensor(v) || weightLike.contains(v))
      continue;
    any = true;
    Type t = decided.lookup(v) ? decided.lookup(v) : elementType(v);
    if (!widest || t.getIntOrFloatBitWidth() > widest.getIntOrFloatBitWidth() ||
        (t.isF32() && !widest.isF32()))
      widest = t;
  }
  if (!any) {
    d.setAll(type("fp32"));
    d.rule = DecisionRule::Follow;
    d.reason = "follow-class op whose float inputs are constants or parameters: fp32";
    return d;
  }
  std::string p = precisionName(widest);
  if (p == "fp32" || low == "fp32") {
    d.setAll(type("fp32"));
    d.rule = DecisionRule::Follow;
    d.reason = "follow-class op: an fp32 input";
    return d;
  }
  if (p == "fp16")
    if (auto problem = fp16RangeProblem(op, [&](Value v) { return constantMagnitude(v); })) {
      d.setAll(type("fp32"));
      d.rule = DecisionRule::RangeFp16;
      d.reason = *problem + ": kept in fp32";
      return d;
    }
  d.setAll(widest);
  d.rule = DecisionRule::Follow;
  d.reason = "follow-class op: inputs in " + p;
  return d;
}

Decision AssignPrecisionPass::decide(Operation *op) {
  Decision d;
  bool anyFloat = llvm::any_of(op->getOperands(), isFloatTensor) ||
                  llvm::any_of(op->getResults(), isFloatTensor);
  if (!anyFloat) {
    d.rule = DecisionRule::NoFloat;
    d.reason = "no float operands or results";
    return d;
  }
  // Only fp32 programs are re-typed; fp64 (or already low-precision) ops keep their types.
  SmallVector<Value> values(op->getOperands());
  llvm::append_range(values, op->getResults());
  for (Value v : values)
    if (isFloatTensor(v) && !elementType(v).isF32() && !isa<CastOp>(op)) {
      d.setAll(elementType(v));
      d.rule = DecisionRule::AsImported;
      d.reason = "the model computes this op in " + precisionName(elementType(v));
      return d;
    }
  if (isa<ConstantOp, ParameterOp>(op)) {
    d.out = type("fp32");
    d.rule = DecisionRule::Value;
    d.reason = "stored in fp32; cast once where a lower precision uses it";
    return d;
  }
  if (isa<CastOp>(op)) {
    Type from = decided.lookup(op->getOperand(0));
    d.in = {from ? from : elementType(op->getOperand(0))};
    d.out = elementType(op->getResult(0));
    d.rule = DecisionRule::ExplicitCast;
    d.reason = "a cast in the model";
    return d;
  }

  StringRef target = stringifyPrecisionPolicy(precision);
  StringRef low = target == "auto" ? "fp8" : target;
  StringRef followLow = low == "fp8" ? "bf16" : low;
  auto cls = cast<PrecisionOpInterface>(op).getPrecisionClass();
  std::string kind = op->getName().stripDialect().str();

  // User rules first: the first match wins.
  for (const UserRule &rule : userRules) {
    if (rule.op && !rule.op->match(kind))
      continue;
    if (rule.node && !rule.node->match(nodeName(op)))
      continue;
    std::string p = rule.precision;
    if (cls == PrecisionClass::Compute) {
      d = decideCompute(op, p);
    } else {
      if (p == "fp8")
        p = "bf16"; // fp8 is a GEMM-operand format; other ops run in bf16 around it
      d.setAll(type(p));
    }
    d.rule = DecisionRule::User;
    d.userIndex = rule.index;
    std::string match;
    if (!rule.opText.empty())
      match += "op '" + rule.opText + "'";
    if (!rule.nodeText.empty())
      match += (match.empty() ? "" : ", ") + std::string("node '") + rule.nodeText + "'";
    d.reason = llvm::formatv("user rule {0} ({1}): {2}", rule.index, match, rule.precision).str();
    return d;
  }

  switch (cls) {
  case PrecisionClass::Compute: {
    d = decideCompute(op, low);
    if (precision != PrecisionPolicy::Auto || d.inIs(type("fp32")))
      return d;
    // auto: calibration evidence may keep the op in a wider precision.
    auto it = evidence.find((nodeName(op) + "|" + kind).str());
    if (it == evidence.end())
      return d;
    const Evidence &e = it->second;
    auto error = [&](StringRef p) {
      auto f = e.error.find(p);
      return f == e.error.end() ? -1.0 : f->second;
    };
    bool fp8 = d.in[0].getIntOrFloatBitWidth() == 8;
    if (fp8 && error("fp8") > tolerance) {
      d.setAll(type("bf16"));
      d.rule = DecisionRule::CalibratedError;
      d.reason = llvm::formatv("calibrated: fp8 error {0} > tolerance {1} (amax {2}): bf16 "
                               "operands, fp32 accumulation",
                               fmt(error("fp8")), fmt(tolerance), fmt(e.amax))
                     .str();
      fp8 = false;
    }
    if (!fp8 && error("bf16") > tolerance) {
      d.setAll(type("fp32"));
      d.rule = DecisionRule::CalibratedError;
      d.reason = llvm::formatv("calibrated: bf16 error {0} > tolerance {1}: fp32",
                               fmt(error("bf16")), fmt(tolerance))
                     .str();
    } else if (d.rule == DecisionRule::Compute) {
      d.rule = DecisionRule::Calibrated;
      d.reason += llvm::formatv(" (calibrated amax {0}, error {1} <= {2})", fmt(e.amax),
                                fmt(error(fp8 ? "fp8" : "bf16")), fmt(tolerance))
                      .str();
    }
    return d;
  }
  case PrecisionClass::Sensitive:
    d.setAll(type("fp32"));
    d.rule = DecisionRule::Sensitive;
    d.reason = "sensitive-class op (" + kind + "): fp32";
    return d;
  case PrecisionClass::Follow:
    return decideFollow(op, followLow);
  }
  llvm_unreachable("unknown precision class");
}

void AssignPrecisionPass::decideAll(func::FuncOp fn) {
  weightLike.clear();
  gradient.clear();
  decided.clear();
  for (BlockArgument arg : fn.getArguments())
    if (fn.getArgAttr(arg.getArgNumber(), kParamName))
      weightLike.insert(arg);
  for (Operation &op : fn.getBody().front().without_terminator()) {
    Decision d = decide(&op);
    op.setAttr(kDecisionAttr, d.toAttr(&getContext()));

    // Facts about the results for the ops that follow.
    // Weight-like: computed from constants and parameters alone (an embedding lookup with
    // runtime indices is an activation).
    bool weights = isa<ConstantOp, ParameterOp>(op) ||
                   (op.getNumOperands() > 0 && llvm::all_of(op.getOperands(), [&](Value v) {
                      return weightLike.contains(v);
                    }));
    auto phase = op.getAttrOfType<StringAttr>(kPhase);
    bool grad = (phase && phase.getValue() == "backward" && !isa<ConstantOp>(op)) ||
                llvm::any_of(op.getOperands(), [&](Value v) { return gradient.contains(v); }) ||
                op.hasAttr(kLossSeed);
    Type out = d.out;
    for (Value r : op.getResults()) {
      if (!isFloatTensor(r))
        continue;
      if (weights)
        weightLike.insert(r);
      if (grad)
        gradient.insert(r);
      if (storedLow.contains(r))
        decided[r] = type("bf16");
      else if (out && !isFp32Result(r))
        decided[r] = out;
    }
  }
}

bool AssignPrecisionPass::everyUseReads(Value v, Type low) {
  for (OpOperand &use : v.getUses()) {
    Operation *user = use.getOwner();
    DecisionAttr d = getDecision(user);
    if (!d || user->hasTrait<OpTrait::IsTerminator>())
      return false;
    // A cast in the model names its operand's type after the operand's own decision, which
    // here assumes the storage being checked; only a cast to `low` itself rounds the same.
    if (isa<CastOp>(user)) {
      if (elementType(user->getResult(0)) != low)
        return false;
      continue;
    }
    unsigned floatIndex = 0;
    for (unsigned i = 0; i < use.getOperandNumber(); ++i)
      floatIndex += isFloatTensor(user->getOperand(i));
    if (d.getOperandType(floatIndex) != low)
      return false;
  }
  return true;
}

/// Compute precision is not storage precision (docs/design.md decision 14). Under bf16 a
/// sensitive op of the forward pass computes in fp32, but when every use of its result
/// reads it in bf16 (a bf16
/// GEMM, an element-wise op that then runs in bf16, such as the ReLU after a batch norm or
/// the backward's `x > 0` mask) the result is stored as bf16: it is cast once, right after
/// the op, so its fp32 form lives only until then and what the backward pass keeps of it is
/// half the size.
///
/// Whether a use reads bf16 depends on the decisions of follow ops, which depend on what is
/// stored, so the set is the greatest fixed point: start from every result of a sensitive
/// op, decide the function assuming those are stored as bf16, drop the results that some use
/// still reads in fp32, and repeat until none is dropped. A result that a GEMM reads in bf16
/// anyway is rounded exactly where it was before; one that feeds element-wise ops moves
/// their rounding ahead of them, as bf16 autocast does.
void AssignPrecisionPass::assignFunction(func::FuncOp fn) {
  storedLow.clear();
  decideAll(fn);
  if (precision != PrecisionPolicy::BF16)
    return;
  Type low = type("bf16");
  for (Operation &op : fn.getBody().front().without_terminator()) {
    DecisionAttr d = getDecision(&op);
    // Forward activations only: a reduction in the backward pass (a bias gradient) is read
    // by the optimizer, and rounding it would change the update, not the memory kept.
    if (!d || d.getRule() != DecisionRule::Sensitive || !d.getOut() || !d.getOut().isF32() ||
        op.hasAttr(kPhase))
      continue;
    for (Value r : op.getResults())
      if (isFloatTensor(r) && !weightLike.contains(r) && !r.use_empty())
        storedLow.insert(r);
  }
  if (storedLow.empty())
    return;
  while (true) {
    decideAll(fn);
    SmallVector<Value> drop;
    for (Value v : storedLow)
      if (!everyUseReads(v, low))
        drop.push_back(v);
    if (drop.empty())
      break;
    for (Value v : drop)
      storedLow.remove(v);
  }

  // The reason says so on the producer; precis-insert-casts then casts the result once,
  // right after it, for every use.
  for (Value v : storedLow) {
    Operation *op = v.getDefiningOp();
    DecisionAttr d = getDecision(op);
    std::set<StringRef> readers;
    for (Operation *user : v.getUsers())
      readers.insert(user->getName().stripDialect());
    std::string what = op->getNumResults() > 1
                           ? llvm::formatv("result {0}", cast<OpResult>(v).getResultNumber()).str()
                           : "result";
    std::string reason = llvm::formatv("{0}; {1} stored as bf16: every consumer reads it in bf16 "
                                       "({2})",
                                       d.getReason(), what, llvm::join(readers, ", "))
                             .str();
    op->setAttr(kDecisionAttr, DecisionAttr::get(&getContext(), d.getRule(), d.getRuleIndex(),
                                                 d.getIn(), d.getOut(), d.getAcc(), reason));
  }
}

void AssignPrecisionPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (failed(loadRules()) || failed(loadCalibration()))
    return signalPassFailure();
  // Initializer ranges are read from @forward, where parameters still hold their values.
  if (auto forward = module.lookupSymbol<func::FuncOp>(names::kForward))
    forward.walk([&](ParameterOp param) { (void)constantMagnitude(param.getResult()); });
  for (auto fn : module.getOps<func::FuncOp>())
    if (!fn.isExternal() && fn.getBody().hasOneBlock())
      assignFunction(fn);
}

} // namespace
