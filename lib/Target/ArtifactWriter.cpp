//===- ArtifactWriter.cpp - precis IR to .precis artifacts ------*- C++ -*-===//
//
// Lowers every func.func of a precis module to one Function of the runtime's manifest: block
// arguments become caller inputs, precis.parameter / precis.constant become 64-byte aligned
// blobs in the data section, every other precis op becomes an Op whose kind is the op's name
// and whose attributes are the op's inherent attributes, converted generically.
// Activations are placed where the function's BufferPlan says. The CPU target takes no
// fusion groups (its pipeline splices them back with precis-inline-fusions).
//
//===----------------------------------------------------------------------===//

#include "precis/Target/Artifact.h"
#include "precis/Target/BufferPlan.h"
#include "precis/Target/CudaEmitter.h"

#include "precis/Dialect/Precis/IR/PrecisOps.h"
#include "precis/Transforms/AttrNames.h"

#include "precis/schema/ArtifactFormat.h"
#include "precis/schema/Names.h"
#include "precis/runtime/Random.h"
#include "precis/schema/artifact.pb.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>
#include <map>
#include <unistd.h>

using namespace mlir;
using namespace mlir::precis;

namespace precis {
namespace {

/// The schema's element type for `t`, or DTYPE_UNSPECIFIED when the runtime has none.
schema::DType toDType(Type t) {
  if (t.isF32())
    return schema::F32;
  if (t.isF16())
    return schema::F16;
  if (t.isBF16())
    return schema::BF16;
  if (t.isFloat8E4M3FN())
    return schema::F8E4M3FN;
  if (t.isFloat8E5M2())
    return schema::F8E5M2;
  if (t.isF64())
    return schema::F64;
  if (t.isSignlessInteger(64))
    return schema::I64;
  if (t.isSignlessInteger(32))
    return schema::I32;
  if (t.isSignlessInteger(8))
    return schema::I8;
  if (t.isUnsignedInteger(8))
    return schema::U8;
  if (t.isSignlessInteger(1))
    return schema::BOOL;
  return schema::DTYPE_UNSPECIFIED;
}

/// Bytes per element in the runtime's layout (bool takes a byte).
uint64_t elementBytes(Type t) {
  unsigned bits = t.getIntOrFloatBitWidth();
  return bits == 1 ? 1 : bits / 8;
}

uint64_t byteSize(RankedTensorType t) { return t.getNumElements() * elementBytes(t.getElementType()); }

/// Converts one inherent attribute; fails for kinds the runtime does not read.
LogicalResult convertAttr(Operation *op, StringRef name, Attribute attr, schema::Attr &out) {
  if (auto b = dyn_cast<BoolAttr>(attr))
    out.set_i(b.getValue());
  else if (auto i = dyn_cast<IntegerAttr>(attr))
    out.set_i(i.getValue().getSExtValue());
  else if (auto f = dyn_cast<FloatAttr>(attr))
    out.set_f(f.getValueAsDouble());
  else if (auto s = dyn_cast<StringAttr>(attr))
    out.set_s(s.str());
  else if (auto ints = dyn_cast<DenseI64ArrayAttr>(attr)) {
    schema::Ints *values = out.mutable_ints(); // set even when empty: [] is a value
    for (int64_t v : ints.asArrayRef())
      values->add_values(v);
  } else if (auto floats = dyn_cast<DenseF64ArrayAttr>(attr)) {
    schema::Floats *values = out.mutable_floats();
    for (double v : floats.asArrayRef())
      values->add_values(v);
  } else if (auto t = dyn_cast<TypeAttr>(attr))
    out.set_i(toDType(t.getValue()));
  else
    return op->emitError("attribute '") << name << "' has no artifact encoding: " << attr;
  return success();
}

/// The name of input `i`: its ONNX name, or for @train_step its parameter, optimizer-state or
/// learning-rate role ("lr"); empty when it has none.
StringRef inputName(func::FuncOp func, unsigned i) {
  for (StringRef attr : {kOnnxName, kParamName, kStateName})
    if (auto name = func.getArgAttrOfType<StringAttr>(i, attr))
      return name.getValue();
  return func.getArgAttr(i, kLr) ? StringRef(names::kLearningRate) : StringRef();
}

/// The name of output `i`: its ONNX name, or the state it updates (@train_step).
StringAttr outputName(func::FuncOp func, unsigned i) {
  if (auto name = func.getResultAttrOfType<StringAttr>(i, kOnnxName))
    return name;
  return func.getResultAttrOfType<StringAttr>(i, kUpdates);
}

/// The training role of argument `i` (schema::Value::Role): a parameter, the learning rate,
/// a data input, or the state role the pass that made the state recorded (precis.role).
FailureOr<schema::Value::Role> inputRole(func::FuncOp func, unsigned i) {
  if (func.getArgAttr(i, kParamName))
    return schema::Value::PARAMETER;
  if (func.getArgAttr(i, kLr))
    return schema::Value::LEARNING_RATE;
  if (auto role = func.getArgAttrOfType<StringAttr>(i, kRole)) {
    static const std::pair<const char *, schema::Value::Role> roles[] = {
        {names::kRoleOptimizerState, schema::Value::OPTIMIZER_STATE},
        {names::kRoleStep, schema::Value::STEP},
        {names::kRoleLossScale, schema::Value::LOSS_SCALE_STATE},
        {names::kRoleFp8AmaxHistory, schema::Value::FP8_AMAX_HISTORY},
        {names::kRoleBatchNormStats, schema::Value::BATCH_NORM_STATS},
        {names::kRoleRng, schema::Value::RNG_STATE}};
    for (auto [name, r] : roles)
      if (role.getValue() == name)
        return r;
    return func.emitError("argument ") << i << " has unknown role " << role;
  }
  if (func.getArgAttr(i, kOnnxName))
    return schema::Value::DATA_INPUT;
  return schema::Value::ROLE_UNSPECIFIED;
}

/// The uses of `v` that compute with it: casts (the precision passes' casts of fp32 master
/// weights) and fusion regions are looked through.
void computingUses(Value v, SmallVectorImpl<OpOperand *> &uses) {
  for (OpOperand &use : v.getUses()) {
    Operation *owner = use.getOwner();
    if (isa<mlir::precis::CastOp>(owner))
      computingUses(owner->getResult(0), uses);
    else if (auto fusion = dyn_cast<mlir::precis::FusionOp>(owner))
      computingUses(fusion.getBody().front().getArgument(use.getOperandNumber()), uses);
    else
      uses.push_back(&use);
  }
}

/// The initialisation of a parameter stored without bytes (ArtifactOptions::noWeights), as
/// docs/runtime.md states it: the scale of a normalisation is ones, any other parameter of
/// rank 0 or 1 zeros, and a matrix or kernel uniform in ±1/sqrt(fan_in), fan_in being the
/// contracted dimension when the parameter is a GEMM's right operand and the product of all
/// dimensions but the first otherwise ([out, in, kh, kw] convolution weights). The seed is
/// splitmix64(seed ^ FNV-1a(name)), so parameters differ and do not depend on their order.
schema::ParamInit parameterInit(Value param, StringRef name, uint64_t seed) {
  schema::ParamInit init;
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : name)
    h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  init.set_seed(rt::SplitMix64(seed ^ h).next());

  auto type = cast<ShapedType>(param.getType());
  SmallVector<OpOperand *> uses;
  computingUses(param, uses);
  if (type.getRank() <= 1) {
    bool isScale = llvm::any_of(uses, [](OpOperand *use) {
      StringRef op = use->getOwner()->getName().getStringRef();
      return use->getOperandNumber() == 1 &&
             (op == "precis.layer_norm" || op.starts_with("precis.batch_norm"));
    });
    init.set_kind(schema::ParamInit::CONSTANT);
    init.set_value(isScale ? 1.0 : 0.0);
    return init;
  }
  ArrayRef<int64_t> shape = type.getShape();
  int64_t fanIn = type.getNumElements() / std::max<int64_t>(shape[0], 1);
  for (OpOperand *use : uses) {
    StringRef op = use->getOwner()->getName().getStringRef();
    if (use->getOperandNumber() != 1 ||
        (op != "precis.matmul" && op != "precis.gemm" && op != "precis.scaled_matmul"))
      continue;
    bool transposed = false;
    for (StringRef attr : {"transpose_b", "transpose_rhs"})
      if (auto b = use->getOwner()->getAttrOfType<BoolAttr>(attr))
        transposed |= b.getValue();
    fanIn = shape[shape.size() - (transposed ? 1 : 2)];
    break;
  }
  init.set_kind(schema::ParamInit::UNIFORM);
  init.set_bound(1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(fanIn, 1))));
  return init;
}

class ArtifactBuilder {
public:
  explicit ArtifactBuilder(const ArtifactOptions &options) {
    manifest_.set_target(options.target);
    StringRef target = options.target;
    if (target.consume_front("cuda:")) {
      cuda_ = true;
      arch_ = target.str();
      dumpDir_ = options.kernelDumpDir;
    }
    noWeights_ = options.noWeights;
    initSeed_ = options.initSeed;
  }

  LogicalResult addFunction(func::FuncOp func);
  LogicalResult finish(ModuleOp module, std::vector<char> &bytes, ArtifactStats *stats);

private:
  uint32_t addValue(Value v, StringRef name);
  FailureOr<uint32_t> addBlob(Operation *op, ElementsAttr value, StringRef name);

  schema::Manifest manifest_;
  /// Bytes of each blob, in blob order; the shared writer lays them out.
  std::vector<std::string> blobs_;
  uint64_t blobBytes_ = 0;
  uint64_t arenaPeak_ = 0, unplanned_ = 0;
  std::vector<std::pair<std::string, uint64_t>> functionPeaks_;
  std::vector<uint64_t> functionInPlace_;
  size_t numOps_ = 0;
  /// Blob-backed values are shared across functions, keyed by their defining op.
  llvm::DenseMap<Operation *, uint32_t> blobValues_;
  llvm::StringMap<uint32_t> namedBlobs_;
  llvm::StringMap<Type> namedTypes_;
  /// noWeights: the blobs generated at load, by blob index.
  bool noWeights_ = false;
  uint64_t initSeed_ = 0;
  std::map<size_t, schema::ParamInit> blobInits_;
  std::map<size_t, uint64_t> generatedSizes_;

  /// CUDA target: every op but the cuBLASLt ones becomes a generated kernel, stored once per
  /// distinct source (Manifest.kernels), compiled for `arch_`.
  LogicalResult lowerForCuda(Operation &op, std::string &kind, SmallVector<Value> &inputs,
                             SmallVector<Value> &outputs, Operation *&attrSource,
                             schema::Op &out);
  bool cuda_ = false;
  std::string arch_, dumpDir_;
  llvm::StringMap<uint32_t> kernels_;
  /// Kernels in Manifest.kernels order, with an op that uses each (for diagnostics).
  std::vector<std::pair<Operation *, CudaKernel>> pendingKernels_;
  LogicalResult compileKernels();
};

uint32_t ArtifactBuilder::addValue(Value v, StringRef name) {
  auto type = cast<RankedTensorType>(v.getType());
  schema::Value *value = manifest_.add_values();
  value->set_name(name.str());
  value->mutable_type()->set_dtype(toDType(type.getElementType()));
  for (int64_t d : type.getShape())
    value->mutable_type()->add_shape(d);
  return manifest_.values_size() - 1;
}

FailureOr<uint32_t> ArtifactBuilder::addBlob(Operation *op, ElementsAttr value, StringRef name) {
  auto it = blobValues_.find(op);
  if (it != blobValues_.end())
    return it->second;
  // A parameter that several functions read (a mask that @forward and @gradients both keep)
  // is one value of the artifact: names identify parameters.
  if (!name.empty()) {
    auto named = namedBlobs_.find(name);
    if (named != namedBlobs_.end()) {
      if (namedTypes_.lookup(name) != value.getType())
        return op->emitError("parameter '") << name << "' appears with two types";
      blobValues_[op] = named->second;
      return named->second;
    }
  }
  auto tensorType = cast<ShapedType>(value.getType());
  if (noWeights_ && isa<mlir::precis::ParameterOp>(op) && isa<FloatType>(tensorType.getElementType())) {
    blobInits_[blobs_.size()] = parameterInit(op->getResult(0), name, initSeed_);
    generatedSizes_[blobs_.size()] =
        tensorType.getNumElements() * ((tensorType.getElementTypeBitWidth() + 7) / 8);
    blobs_.emplace_back();
  } else {
    auto bytes = artifactBytes(value);
    if (failed(bytes))
      return op->emitError("cannot read the data of ") << value.getType();
    blobs_.emplace_back(bytes->data(), bytes->size());
    blobBytes_ += bytes->size();
  }
  uint32_t id = addValue(op->getResult(0), name);
  manifest_.mutable_values(id)->set_blob(blobs_.size() - 1);
  blobValues_[op] = id;
  if (!name.empty()) {
    namedBlobs_[name] = id;
    namedTypes_[name] = value.getType();
  }
  return id;
}

/// Result `i` of `func`: a state update (precis.updates) takes the role of the input it
/// updates and records its ordinal; the other result of @train_step is its loss.
static LogicalResult setOutputRole(func::FuncOp func, unsigned i, schema::Value &value) {
  schema::Value::Role role = schema::Value::ROLE_UNSPECIFIED;
  if (auto updated = func.getResultAttrOfType<StringAttr>(i, kUpdates)) {
    unsigned input = func.getNumArguments();
    for (unsigned a = 0; a < func.getNumArguments(); ++a)
      for (StringRef attr : {kParamName, kStateName})
        if (auto name = func.getArgAttrOfType<StringAttr>(a, attr); name && name == updated)
          input = a;
    if (input == func.getNumArguments())
      return func.emitError("result ") << i << " updates " << updated << ", which is no argument";
    FailureOr<schema::Value::Role> updatedRole = inputRole(func, input);
    if (failed(updatedRole))
      return failure();
    role = *updatedRole;
    value.set_updates(input);
  } else if (func.getSymName() == names::kTrainStep) {
    role = schema::Value::LOSS;
  }
  if (role == schema::Value::ROLE_UNSPECIFIED)
    return success();
  // A value returned as it came in has its input's role already.
  if (value.role() != schema::Value::ROLE_UNSPECIFIED && value.role() != role)
    return func.emitError("result ") << i << " is also an argument with another training role";
  value.set_role(role);
  return success();
}

LogicalResult ArtifactBuilder::addFunction(func::FuncOp func) {
  if (!func.getBody().hasOneBlock())
    return func.emitError("expects a function with a single block");
  schema::Function *fn = manifest_.add_functions();
  fn->set_name(func.getSymName().str());
  llvm::DenseMap<Value, uint32_t> ids;

  for (BlockArgument arg : func.getArguments()) {
    if (!isa<RankedTensorType>(arg.getType()) ||
        toDType(cast<RankedTensorType>(arg.getType()).getElementType()) ==
            schema::DTYPE_UNSPECIFIED)
      return func.emitError("argument ") << arg.getArgNumber() << " has unsupported type "
                                         << arg.getType();
    uint32_t id = addValue(arg, inputName(func, arg.getArgNumber()));
    manifest_.mutable_values(id)->set_input(arg.getArgNumber());
    FailureOr<schema::Value::Role> role = inputRole(func, arg.getArgNumber());
    if (failed(role))
      return failure();
    manifest_.mutable_values(id)->set_role(*role);
    // Training state that does not start at zero (the loss scale) records its first value.
    if (auto init = func.getArgAttrOfType<ElementsAttr>(arg.getArgNumber(), kInitialValue)) {
      auto bytes = artifactBytes(init);
      if (init.getType() != arg.getType() || failed(bytes))
        return func.emitError("argument ") << arg.getArgNumber() << ": initial value " << init
                                           << " does not fit its type " << arg.getType();
      blobs_.emplace_back(bytes->data(), bytes->size());
      blobBytes_ += bytes->size();
      manifest_.mutable_values(id)->set_initial_blob(blobs_.size() - 1);
    }
    fn->add_inputs(id);
    ids[arg] = id;
  }

  Block &body = func.getBody().front();
  BufferPlan plan(func, /*planInPlaceUpdates=*/!cuda_);
  for (Operation &op : body) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
        fn->add_outputs(ids.lookup(v));
        schema::Value *value = manifest_.mutable_values(ids.lookup(v));
        if (auto name = outputName(func, i))
          if (value->name().empty())
            value->set_name(name.str());
        if (failed(setOutputRole(func, i, *value)))
          return failure();
      }
      break;
    }
    if (op.getDialect() == nullptr || op.getDialect()->getNamespace() != "precis")
      return op.emitError("cannot lower op outside the precis dialect to an artifact");

    if (auto param = dyn_cast<mlir::precis::ParameterOp>(op)) {
      auto id = addBlob(&op, param.getValue(), param.getName());
      if (failed(id))
        return failure();
      ids[param.getResult()] = *id;
      continue;
    }
    if (auto cst = dyn_cast<mlir::precis::ConstantOp>(op)) {
      auto id = addBlob(&op, cst.getValue(), "");
      if (failed(id))
        return failure();
      ids[cst.getResult()] = *id;
      continue;
    }

    schema::Op *kernel = fn->add_ops();
    std::string kind = op.getName().stripDialect().str();
    SmallVector<Value> opInputs(op.getOperands()), opOutputs(op.getResults());
    Operation *attrSource = &op;
    if (cuda_ &&
        failed(lowerForCuda(op, kind, opInputs, opOutputs, attrSource, *kernel)))
      return failure();
    kernel->set_kind(kind);
    if (attrSource == &op && op.hasTrait<mlir::precis::PerElement>())
      kernel->set_elementwise(true);
    if (auto loc = dyn_cast<NameLoc>(op.getLoc()))
      kernel->set_name(loc.getName().str());
    else if (auto fused = dyn_cast<FusedLoc>(op.getLoc()))
      for (Location inner : fused.getLocations())
        if (auto name = dyn_cast<NameLoc>(inner)) {
          kernel->set_name(name.getName().str());
          break;
        }
    if (auto phase = op.getAttrOfType<StringAttr>(kPhase)) {
      if (phase.getValue() == "backward")
        kernel->set_phase(schema::PHASE_BACKWARD);
      else if (phase.getValue() == "optimizer")
        kernel->set_phase(schema::PHASE_OPTIMIZER);
      else if (phase.getValue() != "forward")
        return op.emitError("unknown precis.phase '") << phase.getValue() << "'";
    }
    for (Value operand : opInputs)
      kernel->add_inputs(ids.lookup(operand));
    for (NamedAttribute attr : attrSource ? attrSource->getAttrDictionary()
                                          : DictionaryAttr::get(op.getContext())) {
      if (attr.getName().getValue().contains('.')) // discardable, e.g. precis.reason
        continue;
      schema::Attr converted;
      if (failed(convertAttr(&op, attr.getName(), attr.getValue(), converted)))
        return failure();
      (*kernel->mutable_attrs())[attr.getName().str()] = std::move(converted);
    }
    for (Value result : opOutputs) {
      auto type = dyn_cast<RankedTensorType>(result.getType());
      if (!type || toDType(type.getElementType()) == schema::DTYPE_UNSPECIFIED)
        return op.emitError("result has unsupported type ") << result.getType();
      std::optional<uint64_t> offset = plan.offset(result);
      if (!offset)
        return op.emitError("result has no place in the buffer plan");
      uint32_t id = addValue(result, "");
      manifest_.mutable_values(id)->set_arena_offset(*offset);
      kernel->add_outputs(id);
      ids[result] = id;
    }
    ++numOps_;
  }
  arenaPeak_ = std::max(arenaPeak_, plan.peak());
  functionPeaks_.emplace_back(func.getSymName().str(), plan.peak());
  functionInPlace_.push_back(plan.inPlaceUpdateBytes());
  unplanned_ += plan.unplanned();
  return success();
}

LogicalResult ArtifactBuilder::lowerForCuda(Operation &op, std::string &kind,
                                           SmallVector<Value> &inputs,
                                           SmallVector<Value> &outputs,
                                           Operation *&attrSource, schema::Op &out) {
  if (isCublasOp(&op) || isCollectiveOp(&op))
    return success();
  // A GEMM with a fused epilogue stays a GEMM op: the runtime runs it as one cuBLASLt call.
  if (auto gemm = matchGemmEpilogue(&op)) {
    kind = gemm->gemm->getName().stripDialect().str();
    inputs = gemm->inputs;
    outputs = gemm->outputs;
    attrSource = gemm->gemm;
    schema::Attr epilogue;
    epilogue.set_s(gemm->epilogue);
    (*out.mutable_attrs())["epilogue"] = std::move(epilogue);
    return success();
  }
  FailureOr<CudaKernel> generated = emitCudaKernel(&op);
  if (failed(generated))
    return failure();
  auto [it, inserted] = kernels_.try_emplace(generated->name, manifest_.kernels_size());
  if (inserted) {
    manifest_.add_kernels()->set_name(generated->name);
    pendingKernels_.emplace_back(&op, *generated); // compiled in parallel by compileKernels
  }
  kind = "kernel";
  attrSource = nullptr;
  auto setInts = [&](StringRef name, ArrayRef<int64_t> values) {
    schema::Attr attr;
    schema::Ints *ints = attr.mutable_ints();
    for (int64_t v : values)
      ints->add_values(v);
    (*out.mutable_attrs())[name.str()] = std::move(attr);
  };
  schema::Attr index, shared;
  index.set_i(it->second);
  shared.set_i(generated->sharedBytes);
  (*out.mutable_attrs())["kernel"] = std::move(index);
  (*out.mutable_attrs())["shared_bytes"] = std::move(shared);
  setInts("grid", generated->grid);
  setInts("block", generated->block);
  if (generated->takesRank) {
    schema::Attr rankArg;
    rankArg.set_i(1);
    (*out.mutable_attrs())["rank_arg"] = std::move(rankArg);
  }
  return success();
}

/// Compiles every kernel with NVRTC, on all cores (each kernel is its own NVRTC program),
/// and stores PTX, cubin and source in the manifest (and the dump directory).
LogicalResult ArtifactBuilder::compileKernels() {
  if (pendingKernels_.empty())
    return success();
  std::vector<char> ok(pendingKernels_.size(), 0);
  {
    llvm::DefaultThreadPool pool(llvm::hardware_concurrency());
    for (size_t i = 0; i < pendingKernels_.size(); ++i)
      pool.async([&, i] {
        auto &[op, kernel] = pendingKernels_[i];
        ok[i] = succeeded(compileCudaKernel(op, arch_, kernel));
      });
    pool.wait();
  }
  if (llvm::is_contained(ok, 0))
    return failure();
  if (!dumpDir_.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(dumpDir_))
      return pendingKernels_.front().first->emitError("cannot create '")
             << dumpDir_ << "': " << ec.message();
  for (auto [i, pending] : llvm::enumerate(pendingKernels_)) {
    auto &[op, kernel] = pending;
    schema::Kernel *k = manifest_.mutable_kernels(i);
    k->set_ptx(kernel.ptx);
    k->set_cubin(kernel.cubin);
    k->set_source(kernel.source);
    if (dumpDir_.empty())
      continue;
    for (auto [ext, text] : {std::pair<StringRef, const std::string *>{".cu", &kernel.source},
                             {".ptx", &kernel.ptx}}) {
      std::string path = (dumpDir_ + "/" + kernel.name + ext).str();
      std::error_code ec;
      llvm::raw_fd_ostream os(path, ec);
      if (ec)
        return op->emitError("cannot write '") << path << "': " << ec.message();
      os << *text;
    }
  }
  return success();
}

LogicalResult ArtifactBuilder::finish(ModuleOp module, std::vector<char> &bytes,
                                      ArtifactStats *stats) {
  if (failed(compileKernels()))
    return failure();
  manifest_.set_producer("precis 0.1");
  manifest_.set_arena_size(arenaPeak_);
  // Generated blobs are listed ahead with their init; writeArtifact lays out the others.
  manifest_.clear_blobs();
  if (!blobInits_.empty())
    for (size_t i = 0; i < blobs_.size(); ++i) {
      schema::Blob *b = manifest_.add_blobs();
      auto init = blobInits_.find(i);
      if (init != blobInits_.end()) {
        *b->mutable_init() = init->second;
        b->set_size(generatedSizes_[i]);
      }
    }
  std::vector<std::string_view> blobs(blobs_.begin(), blobs_.end());
  std::string out;
  if (!schema::writeArtifact(manifest_, blobs, &out))
    return module.emitError("cannot serialise the artifact manifest");
  bytes.assign(out.begin(), out.end());
  if (stats) {
    stats->arenaBytes = arenaPeak_;
    stats->unplannedBytes = unplanned_;
    stats->functionArenaBytes = functionPeaks_;
    stats->functionInPlaceBytes = functionInPlace_;
    stats->blobBytes = blobBytes_;
    stats->numOps = numOps_;
  }
  return success();
}

} // namespace

int artifactElementType(Type type) { return toDType(type); }

uint64_t artifactByteSize(RankedTensorType type) { return byteSize(type); }

FailureOr<std::vector<char>> artifactBytes(ElementsAttr value) {
  auto type = cast<RankedTensorType>(value.getType());
  std::vector<char> out(byteSize(type));
  if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
    if (type.getElementType().isInteger(1)) {
      size_t i = 0;
      for (bool b : dense.getValues<bool>())
        out[i++] = b ? 1 : 0;
      return out;
    }
    ArrayRef<char> raw = dense.getRawData();
    if (dense.isSplat()) {
      size_t width = elementBytes(type.getElementType());
      for (size_t off = 0; off < out.size(); off += width)
        std::memcpy(out.data() + off, raw.data(), width);
    } else if (!out.empty()) { // an empty tensor has no data pointer to copy from
      std::memcpy(out.data(), raw.data(), out.size());
    }
    return out;
  }
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || blob->getData().size() != out.size())
      return failure();
    if (!out.empty())
      std::memcpy(out.data(), blob->getData().data(), out.size());
    return out;
  }
  return failure();
}

LogicalResult buildArtifact(ModuleOp module, const ArtifactOptions &options,
                            std::vector<char> &bytes, ArtifactStats *stats) {
  ArtifactBuilder builder(options);
  // The CPU backend runs ops one by one (it forms its element-wise chunks at load time).
  if (!StringRef(options.target).starts_with("cuda:")) {
    WalkResult fused = module.walk([](mlir::precis::FusionOp f) {
      f.emitError("the cpu target runs no fusion groups: run precis-inline-fusions first "
                  "(the pipelines do)");
      return WalkResult::interrupt();
    });
    if (fused.wasInterrupted())
      return failure();
  }
  bool any = false;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal())
      continue;
    if (failed(builder.addFunction(func)))
      return failure();
    any = true;
  }
  if (!any)
    return module.emitError("module has no function to compile");
  return builder.finish(module, bytes, stats);
}

LogicalResult writeArtifactFile(ModuleOp module, const ArtifactOptions &options,
                                llvm::StringRef path, ArtifactStats *stats) {
  std::vector<char> bytes;
  if (failed(buildArtifact(module, options, bytes, stats)))
    return failure();
  // Write next to the destination, flush to disk, then rename over it: readers never see a
  // partial artifact and a failure leaves nothing behind.
  llvm::SmallString<256> tmp(path);
  tmp += ".tmp-%%%%%%";
  int fd;
  llvm::SmallString<256> tmpPath;
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(tmp, fd, tmpPath))
    return module.emitError("cannot create '") << tmp << "': " << ec.message();
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/false);
    os.write(bytes.data(), bytes.size());
    os.flush();
    if (os.has_error() || ::fsync(fd) != 0) {
      ::close(fd);
      llvm::sys::fs::remove(tmpPath);
      return module.emitError("cannot write '") << tmpPath << "'";
    }
  }
  ::close(fd);
  if (std::error_code ec = llvm::sys::fs::rename(tmpPath, path)) {
    llvm::sys::fs::remove(tmpPath);
    return module.emitError("cannot rename to '") << path << "': " << ec.message();
  }
  return success();
}

} // namespace precis
