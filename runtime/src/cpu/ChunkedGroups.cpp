//===- ChunkedGroups.cpp - element-wise op runs evaluated chunk by chunk ---===//
//
// Finding the groups (at session creation) and running them (on every call). See
// ChunkedGroups.h for what a group is and why its results equal unfused execution.
//
//===----------------------------------------------------------------------===//

#include "ChunkedGroups.h"

#include <algorithm>
#include <atomic>
#include <map>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace precis::rt {
namespace {

/// Bytes of operand chunks a thread should keep in flight: a conservative share of a core's L2
/// (1-2 MiB on current x86 server parts), so the chunk of every value the group touches stays
/// cached from the op that writes it to the ops that read it.
constexpr int64_t kChunkBudgetBytes = 256 << 10;
constexpr int64_t kMinChunk = 4096, kMaxChunk = 16384;

struct Planner {
  const std::vector<ValueDesc> &values;
  const FunctionDesc &fn;
  std::map<uint32_t, std::vector<size_t>> users; // value -> ops reading it
  std::vector<bool> isOutput;                    // per value: a function output

  Planner(const std::vector<ValueDesc> &values, const FunctionDesc &fn)
      : values(values), fn(fn), isOutput(values.size(), false) {
    for (size_t k = 0; k < fn.ops.size(); ++k)
      for (uint32_t v : fn.ops[k].inputs)
        users[v].push_back(k);
    for (uint32_t v : fn.outputs)
      isOutput[v] = true;
  }

  /// Op k can join a group of shape `shape`: an op the artifact marks element-wise with one
  /// result of that shape, each operand of that shape or a single element.
  bool fits(size_t k, const std::vector<int64_t> &shape) const {
    const OpDesc &op = fn.ops[k];
    if (!op.elementwise || op.outputs.size() != 1 || values[op.outputs[0]].shape != shape)
      return false;
    for (uint32_t v : op.inputs) {
      const ValueDesc &in = values[v];
      if (in.shape == shape)
        continue;
      int64_t n = 1;
      for (int64_t d : in.shape)
        n *= d;
      // A single element broadcasts when its rank is at most the result's (as the kernels'
      // NumPy broadcasting requires).
      if (n != 1 || in.shape.size() > shape.size())
        return false;
    }
    return true;
  }

  bool producedIn(uint32_t v, size_t first, size_t last) const {
    for (size_t k = first; k <= last; ++k)
      for (uint32_t o : fn.ops[k].outputs)
        if (o == v)
          return true;
    return false;
  }

  /// Ops [first, last] form a group: every value produced inside and read inside is read
  /// nowhere else and is not a function output (so it can live in scratch), and the arena
  /// memory the group writes overlaps no other memory it touches except index for index
  /// (chunks reorder accesses across elements, never within one).
  bool valid(size_t first, size_t last) const {
    struct Access {
      uint32_t value;
      bool write, full;
    };
    std::vector<Access> external;
    for (size_t k = first; k <= last; ++k) {
      const OpDesc &op = fn.ops[k];
      // Results are fresh arena values, written once and read only after they are written
      // (a loaded artifact promises less than that).
      const uint32_t result = op.outputs[0];
      if (values[result].storage != Storage::Arena)
        return false;
      for (size_t j = first; j <= last; ++j) {
        if (j != k && fn.ops[j].outputs[0] == result)
          return false;
        if (j <= k)
          for (uint32_t v : fn.ops[j].inputs)
            if (v == result)
              return false;
      }
      for (uint32_t v : op.inputs) {
        if (k > first && producedIn(v, first, k - 1)) {
          if (isOutput[v])
            return false;
          for (size_t u : users.at(v))
            if (u < first || u > last)
              return false;
          continue;
        }
        external.push_back({v, false, values[v].shape == values[op.outputs[0]].shape});
      }
      const uint32_t out = op.outputs[0];
      bool readInside = false;
      auto it = users.find(out);
      if (it != users.end())
        for (size_t u : it->second)
          readInside |= u > k && u <= last;
      if (!readInside)
        external.push_back({out, true, true});
    }
    for (size_t i = 0; i < external.size(); ++i) {
      for (size_t j = 0; j < external.size(); ++j) {
        const Access &a = external[i], &b = external[j];
        if (!a.write || a.value == b.value)
          continue;
        const ValueDesc &va = values[a.value], &vb = values[b.value];
        if (va.storage != Storage::Arena || vb.storage != Storage::Arena)
          continue;
        const bool overlap = va.offset < vb.offset + vb.byteSize && vb.offset < va.offset + va.byteSize;
        if (overlap && !(va.offset == vb.offset && b.full && dtypeSize(va.dtype) == dtypeSize(vb.dtype)))
          return false;
      }
    }
    return true;
  }

  ElementwiseGroup build(size_t first, size_t last, const std::vector<KernelFn> &kernels) const {
    ElementwiseGroup g;
    g.firstOp = first;
    const std::vector<int64_t> &shape = values[fn.ops[first].outputs[0]].shape;
    g.numElements = 1;
    for (int64_t d : shape)
      g.numElements *= d;

    // Values produced inside and read inside get a scratch slot (laid out below, once the
    // chunk length is known); everything else is read or written in place.
    std::map<uint32_t, size_t> scratchSlot; // value -> slot
    std::vector<DType> slotTypes;
    std::vector<uint32_t> fullValues;
    for (size_t k = first; k <= last; ++k) {
      const OpDesc &op = fn.ops[k];
      GroupOp gop;
      gop.fn = kernels[k];
      gop.attrs = &op.attrs;
      for (uint32_t v : op.inputs) {
        GroupOperand o;
        o.value = v;
        o.dtype = values[v].dtype;
        if (scratchSlot.count(v))
          o.kind = GroupOperand::Kind::Scratch;
        else if (values[v].shape == shape)
          o.kind = GroupOperand::Kind::Full;
        else
          o.kind = GroupOperand::Kind::Scalar;
        if (o.kind == GroupOperand::Kind::Full)
          fullValues.push_back(v);
        gop.inputs.push_back(o);
      }
      const uint32_t out = op.outputs[0];
      GroupOperand o;
      o.value = out;
      o.dtype = values[out].dtype;
      bool readInside = false;
      auto it = users.find(out);
      if (it != users.end())
        for (size_t u : it->second)
          readInside |= u > k && u <= last;
      if (readInside) {
        o.kind = GroupOperand::Kind::Scratch;
        scratchSlot[out] = slotTypes.size();
        slotTypes.push_back(o.dtype);
      } else {
        fullValues.push_back(out);
      }
      gop.outputs.push_back(o);
      g.ops.push_back(std::move(gop));
    }

    // Chunk length: every value's chunk (scratch and in-place) within the budget.
    std::sort(fullValues.begin(), fullValues.end());
    fullValues.erase(std::unique(fullValues.begin(), fullValues.end()), fullValues.end());
    int64_t bytesPerElement = 0;
    for (DType t : slotTypes)
      bytesPerElement += static_cast<int64_t>(dtypeSize(t));
    for (uint32_t v : fullValues)
      bytesPerElement += static_cast<int64_t>(dtypeSize(values[v].dtype));
    int64_t chunk = kChunkBudgetBytes / std::max<int64_t>(bytesPerElement, 1);
    chunk = std::clamp(chunk, kMinChunk, kMaxChunk) / 64 * 64;
    g.chunkElements = std::min(chunk, g.numElements);

    std::vector<uint64_t> slotOffsets;
    for (DType t : slotTypes) {
      slotOffsets.push_back(g.scratchBytes);
      const uint64_t bytes = static_cast<uint64_t>(g.chunkElements) * dtypeSize(t);
      g.scratchBytes += (bytes + 63) / 64 * 64;
    }
    for (GroupOp &gop : g.ops)
      for (auto *list : {&gop.inputs, &gop.outputs})
        for (GroupOperand &o : *list)
          if (o.kind == GroupOperand::Kind::Scratch)
            o.scratchOffset = slotOffsets[scratchSlot.at(o.value)];
    return g;
  }
};

} // namespace

std::vector<ElementwiseGroup> findElementwiseGroups(const std::vector<ValueDesc> &values,
                                                    const FunctionDesc &fn,
                                                    const std::vector<KernelFn> &kernels) {
  Planner p(values, fn);
  std::vector<ElementwiseGroup> groups;
  const size_t n = fn.ops.size();
  size_t k = 0;
  while (k < n) {
    const OpDesc &op = fn.ops[k];
    if (op.outputs.size() != 1 || !p.fits(k, values[op.outputs[0]].shape) ||
        values[op.outputs[0]].byteSize == 0) {
      ++k;
      continue;
    }
    const std::vector<int64_t> &shape = values[op.outputs[0]].shape;
    size_t end = k;
    while (end + 1 < n && p.fits(end + 1, shape))
      ++end;
    // The longest valid prefix of [k, end]; validity is not monotone in the length (a value
    // read just past the end can make a shorter run invalid), so try every length.
    size_t last = k;
    for (size_t e = end; e > k; --e)
      if (p.valid(k, e)) {
        last = e;
        break;
      }
    if (last == k) {
      ++k;
      continue;
    }
    groups.push_back(p.build(k, last, kernels));
    k = last + 1;
  }
  return groups;
}

GroupThreads bindThreads(const ElementwiseGroup &group, int numThreads) {
  GroupThreads views;
  views.threads.resize(static_cast<size_t>(std::max(numThreads, 1)));
  for (GroupThreads::Thread &t : views.threads) {
    for (const GroupOp &op : group.ops) {
      std::vector<TensorView> ins, outs;
      for (const GroupOperand &o : op.inputs)
        ins.push_back({nullptr, o.dtype, {1}});
      for (const GroupOperand &o : op.outputs)
        outs.push_back({nullptr, o.dtype, {1}});
      t.inputs.push_back(std::move(ins));
      t.outputs.push_back(std::move(outs));
    }
  }
  return views;
}

Status runElementwiseGroup(const ElementwiseGroup &g, GroupThreads &views, int numThreads,
                           const std::vector<uint8_t *> &valueData,
                           const std::vector<uint8_t *> &scratch, size_t *failedOp) {
  const int64_t numChunks = (g.numElements + g.chunkElements - 1) / g.chunkElements;
  int threads = static_cast<int>(
      std::min<int64_t>({numThreads, numChunks, static_cast<int64_t>(views.threads.size())}));
  threads = std::max(threads, 1);
  std::atomic<bool> failed{false};
  const KernelContext serial{1};

  // Thread t of T runs chunks t, t + T, ... (static round robin: chunks cost the same).
  auto work = [&](int t, int T) {
    GroupThreads::Thread &tv = views.threads[t];
    tv.status = Status::ok();
    uint8_t *mine = scratch.empty() ? nullptr : scratch[t]; // none without intermediates
    for (int64_t c = t; c < numChunks && !failed.load(std::memory_order_relaxed); c += T) {
      const int64_t begin = c * g.chunkElements;
      const int64_t m = std::min(g.chunkElements, g.numElements - begin);
      for (size_t k = 0; k < g.ops.size(); ++k) {
        const GroupOp &op = g.ops[k];
        auto bind = [&](const std::vector<GroupOperand> &operands, std::vector<TensorView> &views) {
          for (size_t i = 0; i < operands.size(); ++i) {
            const GroupOperand &o = operands[i];
            TensorView &view = views[i];
            switch (o.kind) {
            case GroupOperand::Kind::Full:
              view.data = valueData[o.value] + begin * static_cast<int64_t>(dtypeSize(o.dtype));
              view.shape[0] = m;
              break;
            case GroupOperand::Kind::Scalar:
              view.data = valueData[o.value];
              break;
            case GroupOperand::Kind::Scratch:
              view.data = mine + o.scratchOffset;
              view.shape[0] = m;
              break;
            }
          }
        };
        bind(op.inputs, tv.inputs[k]);
        bind(op.outputs, tv.outputs[k]);
        Status s = op.fn(serial, tv.inputs[k], tv.outputs[k], *op.attrs);
        if (!s.isOk()) {
          tv.status = std::move(s);
          tv.failedOp = k;
          failed.store(true, std::memory_order_relaxed);
          break;
        }
      }
    }
    // Nothing may keep pointing at the caller's memory after the call.
    for (auto *lists : {&tv.inputs, &tv.outputs})
      for (std::vector<TensorView> &views : *lists)
        for (TensorView &view : views)
          view.data = nullptr;
  };

#ifdef _OPENMP
  if (threads > 1 && !omp_in_parallel()) {
    // The runtime may grant fewer threads than asked for; chunks go to those it grants.
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), T = omp_get_num_threads();
      if (t == 0)
        threads = T;
      work(t, T);
    }
  } else {
    threads = 1;
    work(0, 1);
  }
#else
  threads = 1;
  work(0, 1);
#endif

  for (int t = 0; t < threads; ++t)
    if (!views.threads[t].status.isOk()) {
      *failedOp = views.threads[t].failedOp;
      return views.threads[t].status;
    }
  return Status::ok();
}

} // namespace precis::rt
