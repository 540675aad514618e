//===- Fuse.cpp - group ops into precis.fusion kernels ---------------------===//
//
// Forms the fusion groups that the CUDA target turns into one kernel each (docs/cuda.md):
//
//   * GEMM + epilogue: a `matmul` followed by a bias add (a vector [N] along the last result
//     dimension), then a ReLU or a tanh-approximated GELU, as cuBLASLt's epilogues compute
//     them; when the GELU input has other users it is a second result (`GELU_AUX`, for a
//     product without batch dimensions only).
//   * element-wise chains: element-wise ops (`PerElement` or `IndexedCopy` in ODS) whose
//     results have one element count, so one thread computes one element of every value of
//     the group;
//   * row groups: one reduction or normalisation over trailing dimensions (`softmax`,
//     `log_softmax`, `layer_norm`, `reduce_*`) with the element-wise chain that feeds it and
//     the element-wise ops that follow it, one thread block per row.
//
// The rule is greedy and local. Ops are visited in order; an element-wise op joins the group
// of one of its operands' producers when every operand it takes from that group is indexed
// like its result (same element count, or for a row group the same domain: per element or
// per row), and no other operand depends on the group (checked on the graph of groups, so
// grouping never creates a cycle). Two element-wise groups that meet at an op merge when no
// path between them leaves both. A row group holds one reduction. Groups of a single op stay
// plain ops. Splat constants are cloned into the bodies; groups are materialised where their
// last op was and the block is re-sorted topologically.
//
//===----------------------------------------------------------------------===//

#include "precis/Transforms/AttrNames.h"
#include "precis/Transforms/Passes.h"

#include "mlir/Analysis/TopologicalSortUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"

#include <deque>

namespace mlir::precis {
#define GEN_PASS_DEF_FUSEPASS
#include "precis/Transforms/Passes.h.inc"
} // namespace mlir::precis

using namespace mlir;
using namespace mlir::precis;

namespace {

int64_t numElements(Value v) { return cast<RankedTensorType>(v.getType()).getNumElements(); }

/// Dimensions [first, rank) that a row reduction or normalisation works over, or -1 when
/// `op` is none or works over other dimensions. Global pools are not fused into row groups.
int64_t trailingRowAxis(Operation *op) {
  return isa<GlobalAvgPoolOp, GlobalMaxPoolOp>(op) ? -1 : getTrailingRowAxis(op);
}

/// GEMMs that take a cuBLASLt epilogue in the artifact (`gemm` has its own `c` instead).
bool isEpilogueGemm(Operation *op) {
  return isa<MatmulOp>(op) || op->getName().getStringRef() == "precis.scaled_matmul";
}

/// True if `bias` is a vector [N] along the last dimension of `result`, N its columns.
bool isBiasVector(Value bias, Value result) {
  auto b = cast<RankedTensorType>(bias.getType());
  auto r = cast<RankedTensorType>(result.getType());
  return r.getRank() >= 2 && b.getRank() == 1 && b.getElementType() == r.getElementType() &&
         b.getDimSize(0) == r.getShape().back();
}

/// True if `v`, a GEMM result, has no batch: cuBLASLt's *_AUX epilogues take one matrix.
bool isSingleMatrix(Value v) {
  auto shape = cast<RankedTensorType>(v.getType()).getShape();
  int64_t batch = 1;
  for (int64_t d : shape.drop_back(2))
    batch *= d;
  return batch == 1;
}

struct Group {
  enum Kind { Elementwise, Row, Gemm } kind;
  SmallVector<Operation *> ops;
  int64_t numel = 0;              ///< elements of the per-element domain
  Operation *reduction = nullptr; ///< row groups: the reduction or normalisation
  int64_t outNumel = 0;           ///< row groups: elements of the reduction's result
  std::optional<GemmEpilogueKind> epilogue; ///< GEMM groups
};

struct FusePass : mlir::precis::impl::FusePassBase<FusePass> {
  void runOnOperation() override;

private:
  DenseMap<Operation *, unsigned> index_;
  DenseMap<Operation *, Group *> groupOf_;
  std::deque<Group> groups_; // deque: members keep their addresses

  Group *newGroup(Group::Kind kind, Operation *op) {
    groups_.emplace_back();
    Group *g = &groups_.back();
    g->kind = kind;
    add(g, op);
    return g;
  }
  void add(Group *g, Operation *op) {
    g->ops.push_back(op);
    groupOf_[op] = g;
  }
  Group *groupOfValue(Value v) {
    Operation *def = v.getDefiningOp();
    return def ? groupOf_.lookup(def) : nullptr;
  }
  /// True if `v` cannot depend on `g`: no path of groups (or single ops) leads from `g` to
  /// it, so adding a user of `v` to `g` keeps the grouped graph acyclic.
  bool independent(Value v, Group *g) {
    Operation *def = v.getDefiningOp();
    if (!def || isSplatConstant(v))
      return true;
    SmallVector<Operation *> work{def};
    DenseSet<void *> seen;
    while (!work.empty()) {
      Operation *op = work.pop_back_val();
      Group *node = groupOf_.lookup(op);
      if (node == g)
        return false;
      if (!seen.insert(node ? static_cast<void *>(node) : op).second)
        continue;
      auto visit = [&](Operation *member) {
        for (Value operand : member->getOperands())
          if (Operation *d = operand.getDefiningOp())
            work.push_back(d);
      };
      if (node)
        llvm::for_each(node->ops, visit);
      else
        visit(op);
    }
    return true;
  }
  static bool isSplatConstant(Value v) {
    auto cst = v.getDefiningOp<ConstantOp>();
    auto dense = cst ? dyn_cast<DenseElementsAttr>(cst.getValue()) : nullptr;
    return dense && dense.isSplat();
  }
  /// True if `v`, a value of row group `g`, is computed from the group's reduction.
  bool afterReduction(Value v, Group *g) {
    SmallVector<Operation *> work{v.getDefiningOp()};
    DenseSet<Operation *> seen;
    while (!work.empty()) {
      Operation *op = work.pop_back_val();
      if (op == g->reduction)
        return true;
      if (!seen.insert(op).second)
        continue;
      for (Value operand : op->getOperands())
        if (Operation *d = operand.getDefiningOp(); d && groupOf_.lookup(d) == g)
          work.push_back(d);
    }
    return false;
  }
  /// Elements of the domain `v` (a value of `g`) is computed in: per element, or per row
  /// after a reduction that drops the trailing dimensions.
  int64_t domainOf(Value v, Group *g) {
    return g->reduction && afterReduction(v, g) ? g->outNumel : g->numel;
  }

  void formGemmGroups(Block &block);
  bool tryJoin(Operation *op, Group *g, bool isReduction);
  bool canMerge(Group *h, Group *g, int64_t n);
  void materialize(Group *g);
};

/// GEMM + epilogue: bias, then ReLU or tanh-GELU, each with the previous value's only user
/// (GELU's input may have others when the product is one matrix: it becomes the GELU_AUX
/// result).
void FusePass::formGemmGroups(Block &block) {
  for (Operation &op : block) {
    if (!isEpilogueGemm(&op) || groupOf_.count(&op))
      continue;
    Value v = op.getResult(0);
    SmallVector<Operation *> chain;
    auto onlyUser = [](Value value) -> Operation * {
      return value.hasOneUse() ? *value.getUsers().begin() : nullptr;
    };
    if (auto add = dyn_cast_or_null<AddOp>(onlyUser(v))) {
      Value bias = add.getLhs() == v ? add.getRhs() : add.getLhs();
      if (bias != v && add.getType() == v.getType() && isBiasVector(bias, v) &&
          (!bias.getDefiningOp() || bias.getDefiningOp()->isBeforeInBlock(&op) ||
           isSplatConstant(bias))) {
        chain.push_back(add);
        v = add.getResult();
      }
    }
    Operation *act = nullptr;
    if (Operation *user = onlyUser(v); user && isa<ReluOp>(user))
      act = user;
    for (Operation *user : v.getUsers())
      if (auto gelu = dyn_cast<GeluOp>(user); gelu &&
                                              gelu.getApproximation() == GeluApproximation::Tanh &&
                                              !act && (v.hasOneUse() || isSingleMatrix(v)))
        act = gelu;
    if (act)
      chain.push_back(act);
    if (chain.empty())
      continue;
    // The epilogue's name: bias, then the activation, then `_aux` when the GELU input is also
    // a result of the group.
    std::string epilogue = chain.front() != act ? "bias" : "";
    if (act)
      epilogue += (epilogue.empty() ? "" : "_") + act->getName().stripDialect().str();
    if (act && !act->getOperand(0).hasOneUse())
      epilogue += "_aux";
    Group *g = newGroup(Group::Gemm, &op);
    g->epilogue = symbolizeGemmEpilogueKind(epilogue);
    for (Operation *c : chain)
      add(g, c);
  }
}

/// Adds `op` to `g` if the rule in the file comment allows it.
bool FusePass::tryJoin(Operation *op, Group *g, bool isReduction) {
  if (g->kind == Group::Gemm)
    return false;
  if (isReduction) {
    if (g->reduction || g->numel != numElements(op->getOperand(0)))
      return false;
    for (auto [i, operand] : llvm::enumerate(op->getOperands())) {
      if (groupOfValue(operand) == g) {
        if (i != 0 || domainOf(operand, g) != g->numel)
          return false;
      } else if (!independent(operand, g)) {
        return false;
      }
    }
    add(g, op);
    g->kind = Group::Row;
    g->reduction = op;
    g->outNumel = numElements(op->getResult(0));
    return true;
  }
  int64_t n = numElements(op->getResult(0));
  // After a reduction that drops dimensions, per-element and per-row values are computed in
  // different phases of the kernel: an op takes its group operands from one of them.
  bool rowPhase = false, elementPhase = false;
  Group *merge = nullptr;
  for (Value operand : op->getOperands()) {
    Group *h = groupOfValue(operand);
    if (h == g) {
      if (numElements(operand) != n || domainOf(operand, g) != n)
        return false;
      bool row = g->reduction && g->outNumel != g->numel && afterReduction(operand, g);
      (row ? rowPhase : elementPhase) = true;
    } else if (merge && h == merge) {
      continue; // checked below, once the merge is decided
    } else if (h && !merge && numElements(operand) == n && canMerge(h, g, n)) {
      merge = h; // two element-wise chains meeting here become one group
    } else if (!independent(operand, g)) {
      return false;
    }
  }
  if (rowPhase && elementPhase)
    return false;
  if (merge) {
    for (Value operand : op->getOperands())
      if (groupOfValue(operand) != g && groupOfValue(operand) != merge &&
          !independent(operand, merge))
        return false;
    for (Operation *member : merge->ops)
      add(g, member);
    merge->ops.clear();
  }
  add(g, op);
  return true;
}

/// True if element-wise groups `h` and `g` of `n` elements can become one: no path between
/// them leads through an op outside both.
bool FusePass::canMerge(Group *h, Group *g, int64_t n) {
  if (h->kind != Group::Elementwise || g->kind != Group::Elementwise || h->numel != n ||
      g->numel != n)
    return false;
  auto external = [&](Group *from, Group *other) {
    for (Operation *member : from->ops)
      for (Value operand : member->getOperands()) {
        Group *owner = groupOfValue(operand);
        if (owner != from && owner != other && !independent(operand, other))
          return false;
      }
    return true;
  };
  return external(g, h) && external(h, g);
}

void FusePass::materialize(Group *g) {
  DenseSet<Operation *> members(g->ops.begin(), g->ops.end());
  llvm::sort(g->ops, [&](Operation *a, Operation *b) { return index_[a] < index_[b]; });
  Operation *last = g->ops.back();
  llvm::SetVector<Value> inputs;
  SmallVector<Operation *> constants;
  for (Operation *op : g->ops)
    for (Value operand : op->getOperands()) {
      Operation *def = operand.getDefiningOp();
      if (def && members.count(def))
        continue;
      if (isSplatConstant(operand)) {
        if (!llvm::is_contained(constants, def))
          constants.push_back(def);
        continue;
      }
      inputs.insert(operand);
    }
  SmallVector<Value> outputs;
  for (Operation *op : g->ops)
    for (Value result : op->getResults())
      if (llvm::any_of(result.getUsers(), [&](Operation *user) { return !members.count(user); }))
        outputs.push_back(result);

  OpBuilder builder(last);
  SmallVector<Location> locs;
  for (Operation *op : g->ops)
    locs.push_back(op->getLoc());
  FusionKind kind = g->kind == Group::Gemm  ? FusionKind::Gemm
                    : g->kind == Group::Row ? FusionKind::Row
                                            : FusionKind::Elementwise;
  GemmEpilogueKindAttr epilogue =
      g->epilogue ? GemmEpilogueKindAttr::get(builder.getContext(), *g->epilogue) : nullptr;
  auto fusion = builder.create<FusionOp>(builder.getFusedLoc(locs), ValueRange(outputs).getTypes(),
                                         inputs.getArrayRef(), kind, epilogue);
  Block *body = builder.createBlock(&fusion.getBody());
  IRMapping mapping;
  for (Value input : inputs)
    mapping.map(input, body->addArgument(input.getType(), input.getLoc()));
  builder.setInsertionPointToStart(body);
  for (Operation *cst : constants)
    builder.clone(*cst, mapping);
  for (Operation *op : g->ops)
    builder.clone(*op, mapping);
  SmallVector<Value> yielded;
  for (Value out : outputs)
    yielded.push_back(mapping.lookup(out));
  builder.create<YieldOp>(fusion.getLoc(), yielded);
  // The group runs where its last op ran (forward, backward or optimizer phase).
  if (Attribute phase = last->getAttr(kPhase))
    fusion->setAttr(kPhase, phase);

  for (auto [out, result] : llvm::zip(outputs, fusion.getResults()))
    out.replaceUsesWithIf(result, [&](OpOperand &use) { return !members.count(use.getOwner()); });
  for (Operation *op : llvm::reverse(g->ops))
    op->erase();
  for (Operation *cst : constants) // cloned into the body; the original may be dead now
    if (cst->use_empty())
      cst->erase();
}

void FusePass::runOnOperation() {
  func::FuncOp func = getOperation();
  for (Block &block : func.getBody()) {
    index_.clear();
    groupOf_.clear();
    groups_.clear();
    unsigned i = 0;
    for (Operation &op : block)
      index_[&op] = i++;

    formGemmGroups(block);
    for (Operation &op : block) {
      if (groupOf_.count(&op))
        continue;
      bool reduction = trailingRowAxis(&op) >= 0;
      if (!reduction && !isFusibleElementwise(&op))
        continue;
      bool joined = false;
      for (Value operand : op.getOperands()) {
        Group *g = groupOfValue(operand);
        if (g && tryJoin(&op, g, reduction)) {
          joined = true;
          break;
        }
        if (reduction) // a reduction joins its data input's group or none
          break;
      }
      if (joined)
        continue;
      Group *g = newGroup(reduction ? Group::Row : Group::Elementwise, &op);
      g->numel = numElements(op.getOperand(0));
      if (reduction) {
        g->reduction = &op;
        g->outNumel = numElements(op.getResult(0));
      } else {
        g->numel = numElements(op.getResult(0));
      }
    }

    bool changed = false;
    for (Group &g : groups_) {
      if (g.ops.size() < 2)
        continue;
      materialize(&g);
      changed = true;
    }
    if (changed && !sortTopologically(&block)) {
      func.emitError("precis-fuse: grouping created a cycle");
      return signalPassFailure();
    }
  }
}

} // namespace
