//===- BufferPlan.cpp - arena placement of a function's activations -------===//
//
// See BufferPlan.h. First fit over the live ranges, in op order.
//
//===----------------------------------------------------------------------===//

#include "precis/Target/BufferPlan.h"

#include "precis/Dialect/Precis/IR/PrecisOps.h"
#include "precis/Target/Artifact.h"
#include "precis/schema/ArtifactFormat.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

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

BufferPlan::BufferPlan(Operation *op) {
  Block &body = cast<func::FuncOp>(op).getBody().front();

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

  ArenaPlanner planner;
  llvm::DenseMap<size_t, SmallVector<Value>> dyingAt;
  index = 0;
  for (Operation &op : body) {
    if (isa<func::ReturnOp>(op))
      break;
    if (!isa<mlir::precis::ParameterOp, mlir::precis::ConstantOp>(op)) {
      for (Value result : op.getResults()) {
        auto type = dyn_cast<RankedTensorType>(result.getType());
        uint64_t size = type ? artifactByteSize(type) : 0;
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
  peak_ = planner.peak();
}

std::optional<uint64_t> BufferPlan::offset(Value v) const {
  auto it = offsets_.find(v);
  if (it == offsets_.end())
    return std::nullopt;
  return it->second;
}

} // namespace precis
