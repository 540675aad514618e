//===- BufferPlan.cpp - arena placement of a function's activations -------===//
//
// See BufferPlan.h. First fit over the live ranges, in op order.
//
//===----------------------------------------------------------------------===//

#include "precis/Target/BufferPlan.h"

#include "precis/Dialect/Precis/IR/PrecisOps.h"
#include "precis/Target/Artifact.h"
#include "precis/Transforms/AttrNames.h"
#include "precis/schema/ArtifactFormat.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseSet.h"

#include <map>

using namespace mlir;

namespace precis {
namespace {

constexpr uint64_t kAlign = schema::kDataAlignment;

uint64_t alignUp(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

/// First-fit placement of live ranges in one arena.
class ArenaPlanner {
public:
  uint64_t allocate(uint64_t size) {
    size = alignUp(std::max<uint64_t>(size, 1));
    uint64_t offset = 0;
    for (auto [start, length] : live_) {
      if (start >= offset + size)
        break;
      offset = std::max(offset, alignUp(start + length));
    }
    live_.emplace(offset, size);
    peak_ = std::max(peak_, offset + size);
    return offset;
  }
  void release(uint64_t offset) { live_.erase(offset); }
  uint64_t peak() const { return peak_; }

private:
  std::map<uint64_t, uint64_t> live_; // offset -> size, ordered by offset
  uint64_t peak_ = 0;
};

} // namespace

/// The results of `func` that an optimizer update computes in the memory of the argument it
/// updates (see BufferPlan.h): returned once as the new value of an argument (precis.updates)
/// that is neither returned itself nor used after the update.
static llvm::DenseSet<Value> inPlaceUpdates(func::FuncOp func) {
  llvm::DenseSet<Value> inPlace;
  Block &body = func.getBody().front();
  auto ret = dyn_cast<func::ReturnOp>(body.getTerminator());
  if (!ret)
    return inPlace;
  llvm::DenseMap<Operation *, size_t> order;
  for (Operation &op : body)
    order[&op] = order.size();
  llvm::DenseSet<Value> returned(ret.getOperands().begin(), ret.getOperands().end());
  for (auto [i, result] : llvm::enumerate(ret.getOperands())) {
    auto updated = func.getResultAttrOfType<StringAttr>(i, mlir::precis::kUpdates);
    Operation *def = result.getDefiningOp();
    if (!updated || !def || !isa<mlir::precis::AdamUpdateOp, mlir::precis::SgdUpdateOp>(def) ||
        def->getBlock() != &body)
      continue;
    for (BlockArgument arg : func.getArguments()) {
      auto param = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), mlir::precis::kParamName);
      auto state = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), mlir::precis::kStateName);
      if ((param != updated && state != updated) || returned.contains(arg))
        continue;
      bool usedAfter = llvm::any_of(arg.getUsers(), [&](Operation *user) {
        return user->getBlock() != &body || order.lookup(user) > order.lookup(def);
      });
      if (!usedAfter)
        inPlace.insert(result);
    }
  }
  return inPlace;
}

BufferPlan::BufferPlan(Operation *op, bool planInPlaceUpdates) {
  auto func = cast<func::FuncOp>(op);
  Block &body = func.getBody().front();
  llvm::DenseSet<Value> inPlace;
  if (planInPlaceUpdates)
    inPlace = inPlaceUpdates(func);

  // Last use of every value, in op order; returned values live to the end.
  llvm::DenseMap<Value, size_t> lastUse;
  size_t index = 0;
  for (Operation &op : body) {
    for (Value operand : op.getOperands())
      lastUse[operand] = isa<func::ReturnOp>(op) ? SIZE_MAX : index;
    for (Value result : op.getResults())
      if (!lastUse.count(result))
        lastUse[result] = index;
    ++index;
  }

  ArenaPlanner planner, updates; // `updates`: the in-place results, after the activations
  SmallVector<Value> placedAfter;
  llvm::DenseMap<size_t, SmallVector<Value>> dyingAt;
  index = 0;
  for (Operation &op : body) {
    if (isa<func::ReturnOp>(op))
      break;
    if (!isa<mlir::precis::ParameterOp, mlir::precis::ConstantOp>(op)) {
      for (Value result : op.getResults()) {
        auto type = dyn_cast<RankedTensorType>(result.getType());
        uint64_t size = type ? artifactByteSize(type) : 0;
        if (inPlace.contains(result)) { // returned: lives to the end
          offsets_[result] = updates.allocate(size);
          placedAfter.push_back(result);
          unplanned_ += alignUp(std::max<uint64_t>(size, 1));
          continue;
        }
        offsets_[result] = planner.allocate(size);
        unplanned_ += alignUp(std::max<uint64_t>(size, 1));
        size_t last = lastUse.lookup(result);
        if (last != SIZE_MAX)
          dyingAt[std::max(last, index)].push_back(result);
      }
    }
    // Values whose last use is this op free their space for the next op's results.
    for (Value dead : dyingAt.lookup(index))
      planner.release(offsets_.lookup(dead));
    ++index;
  }
  for (Value v : placedAfter)
    offsets_[v] += planner.peak();
  peak_ = planner.peak() + updates.peak();
  inPlace_ = updates.peak();
}

std::optional<uint64_t> BufferPlan::offset(Value v) const {
  auto it = offsets_.find(v);
  if (it == offsets_.end())
    return std::nullopt;
  return it->second;
}

} // namespace precis
