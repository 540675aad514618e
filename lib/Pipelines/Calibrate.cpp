//===- Calibrate.cpp - precis-calibrate: evidence for precision auto ------===//
//
// `precision auto` decides GEMM precisions from measurements: this pass builds three
// variants of @forward (fp32, bf16 GEMMs, fp8 GEMMs with current scaling), each returning
// every GEMM's output as an extra result, runs them on one batch with the CPU runtime, and
// records each GEMM's error against fp32 in the module's `precis.calibration` attribute.
// GEMMs are found by their precision class (PrecisionOpInterface), as the passes find them.
//
//===----------------------------------------------------------------------===//

#include "precis/Pipelines/Pipelines.h"
#include "precis/Target/Artifact.h"
#include "precis/Transforms/AttrNames.h"
#include "precis/runtime/Session.h"
#include "precis/runtime/Training.h"
#include "precis/runtime/numerics.h"

#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <map>

namespace precis {
#define GEN_PASS_DEF_CALIBRATEPASS
#include "precis/Pipelines/Passes.h.inc"
} // namespace precis

using namespace llvm;

namespace precis {
namespace {

constexpr StringLiteral kCalibId = "precis.calib_id";
using mlir::precis::kOnnxName;

/// One GEMM's identity in the fp32 module.
struct Site {
  std::string node, op;
};

/// Decodes any float tensor to doubles.
std::vector<double> toDoubles(const rt::Tensor &t) {
  std::vector<double> out(static_cast<size_t>(t.numElements()));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype) {
    case rt::DType::F32:
      out[i] = t.as<float>()[i];
      break;
    case rt::DType::F64:
      out[i] = t.as<double>()[i];
      break;
    case rt::DType::BF16:
      out[i] = bf16_to_float(t.as<uint16_t>()[i]);
      break;
    case rt::DType::F16:
      out[i] = fp16_to_float(t.as<uint16_t>()[i]);
      break;
    default:
      out[i] = NAN;
    }
  }
  return out;
}

/// A copy of `module`'s @forward with `precision` applied and every tagged GEMM's output
/// (in fp32) appended to its results as "precis.calib.<id>"; null after a diagnostic.
mlir::OwningOpRef<mlir::ModuleOp> variant(mlir::ModuleOp module,
                                          std::optional<PrecisionOptions> precision) {
  mlir::OwningOpRef<mlir::ModuleOp> copy = module.clone();
  for (auto fn : llvm::make_early_inc_range(copy->getOps<mlir::func::FuncOp>()))
    if (fn.getName() != names::kForward)
      fn.erase();
  if (precision) {
    mlir::PassManager pm(module->getContext());
    buildPrecisionPipeline(pm, *precision);
    if (failed(pm.run(*copy)))
      return nullptr;
  }
  auto fn = copy->lookupSymbol<mlir::func::FuncOp>(names::kForward);
  mlir::Block &body = fn.getBody().front();
  auto ret = body.getTerminator();
  mlir::OpBuilder b(ret);
  mlir::MLIRContext *ctx = module->getContext();
  SmallVector<mlir::Value> results(ret->getOperands());
  SmallVector<mlir::Attribute> attrs;
  for (unsigned i = 0; i < fn.getNumResults(); ++i)
    attrs.push_back(fn.getResultAttrDict(i) ? mlir::Attribute(fn.getResultAttrDict(i))
                                            : mlir::Attribute(mlir::DictionaryAttr::get(ctx)));
  for (mlir::Operation &op : body.without_terminator()) {
    auto id = op.getAttrOfType<mlir::IntegerAttr>(kCalibId);
    if (!id)
      continue;
    mlir::Value v = op.getResult(0);
    auto type = cast<mlir::RankedTensorType>(v.getType());
    if (!type.getElementType().isF32())
      v = b.create<mlir::precis::CastOp>(op.getLoc(), type.clone(b.getF32Type()), v);
    results.push_back(v);
    attrs.push_back(b.getDictionaryAttr(
        b.getNamedAttr(kOnnxName, b.getStringAttr("precis.calib." + std::to_string(id.getInt())))));
  }
  b.create<mlir::func::ReturnOp>(ret->getLoc(), results);
  ret->erase();
  fn.setType(
      mlir::FunctionType::get(ctx, fn.getArgumentTypes(), mlir::ValueRange(results).getTypes()));
  fn.setAllResultAttrs(attrs);
  return copy;
}

/// Runs @forward of `module` on the first batch of `dataPath` and returns the calibration
/// outputs by id; a status naming the problem otherwise.
rt::Status runVariant(mlir::ModuleOp module, const std::string &dataPath,
                      std::map<int64_t, std::vector<double>> *out) {
  std::vector<char> bytes;
  if (failed(buildArtifact(module, {}, bytes)))
    return rt::internalError("cannot compile a calibration variant of @forward");
  rt::SessionOptions options;
  std::unique_ptr<rt::Session> session;
  PRECIS_RETURN_IF_ERROR(
      rt::Session::createFromMemory(bytes.data(), bytes.size(), options, &session));
  const rt::FunctionInfo *info = session->findFunction(names::kForward);
  rt::Dataset data;
  PRECIS_RETURN_IF_ERROR(rt::Dataset::open(dataPath, info->inputs, &data));
  std::vector<rt::Tensor> inputs, outputs;
  data.batch(0, &inputs);
  PRECIS_RETURN_IF_ERROR(session->run(names::kForward, inputs, &outputs));
  for (size_t i = 0; i < info->outputs.size(); ++i) {
    StringRef name = info->outputs[i].name;
    int64_t id;
    if (name.consume_front("precis.calib.") && !name.getAsInteger(10, id))
      (*out)[id] = toDoubles(outputs[i]);
  }
  return rt::Status::ok();
}

struct CalibratePass : impl::CalibratePassBase<CalibratePass> {
  using CalibratePassBase::CalibratePassBase;
  void runOnOperation() override;
};

void CalibratePass::runOnOperation() {
  mlir::ModuleOp module = getOperation();
  auto forward = module.lookupSymbol<mlir::func::FuncOp>(names::kForward);
  if (!forward) {
    module.emitError("precis-calibrate needs a @forward function");
    return signalPassFailure();
  }
  if (data.empty()) {
    module.emitError("precis-calibrate needs a calibration batch (data=file.npz)");
    return signalPassFailure();
  }
  // Tag the GEMMs (compute-class ops) so the variants can be compared op by op.
  std::vector<Site> sites;
  forward.walk([&](mlir::precis::PrecisionOpInterface op) {
    if (op.getPrecisionClass() != mlir::precis::PrecisionClass::Compute)
      return;
    Site site;
    if (auto loc = dyn_cast<mlir::NameLoc>(op->getLoc()))
      site.node = loc.getName().str();
    site.op = op->getName().stripDialect().str();
    op->setAttr(kCalibId, mlir::Builder(op->getContext()).getI64IntegerAttr(sites.size()));
    sites.push_back(site);
  });

  PrecisionOptions bf16, fp8;
  bf16.precision = PrecisionPolicy::BF16;
  fp8.precision = PrecisionPolicy::FP8;
  fp8.fp8Recipe = Fp8Recipe::Current;
  const std::pair<const char *, std::optional<PrecisionOptions>> variants[] = {
      {"fp32", std::nullopt}, {"bf16", bf16}, {"fp8", fp8}};
  std::map<std::string, std::map<int64_t, std::vector<double>>> results;
  for (auto &[name, precision] : variants) {
    mlir::OwningOpRef<mlir::ModuleOp> copy = variant(module, precision);
    if (!copy)
      return signalPassFailure();
    if (rt::Status s = runVariant(*copy, data, &results[name]); !s) {
      module.emitError("calibration (") << name << "): " << s.message();
      return signalPassFailure();
    }
  }
  forward.walk([](mlir::Operation *op) { op->removeAttr(kCalibId); });

  mlir::Builder b(&getContext());
  SmallVector<mlir::Attribute> entries;
  json::Array ops;
  for (size_t id = 0; id < sites.size(); ++id) {
    const std::vector<double> &ref = results["fp32"][id];
    double amax = 0, norm = 0;
    for (double v : ref) {
      amax = std::max(amax, std::fabs(v));
      norm += v * v;
    }
    SmallVector<mlir::NamedAttribute> fields = {
        b.getNamedAttr("node", b.getStringAttr(sites[id].node)),
        b.getNamedAttr("op", b.getStringAttr(sites[id].op)),
        b.getNamedAttr("amax", b.getF64FloatAttr(amax))};
    json::Object errors;
    for (const char *p : {"bf16", "fp8"}) {
      const std::vector<double> &got = results[p][id];
      if (got.size() != ref.size())
        continue;
      double diff = 0;
      for (size_t i = 0; i < ref.size(); ++i)
        diff += (got[i] - ref[i]) * (got[i] - ref[i]);
      double error = norm > 0 ? std::sqrt(diff / norm) : (diff > 0 ? INFINITY : 0.0);
      errors[p] = error;
      fields.push_back(b.getNamedAttr(p, b.getF64FloatAttr(error)));
    }
    entries.push_back(b.getDictionaryAttr(fields));
    ops.push_back(json::Object{{"node", sites[id].node},
                               {"op", sites[id].op},
                               {"amax", amax},
                               {"error", std::move(errors)}});
  }
  module->setAttr(mlir::precis::kCalibration, b.getArrayAttr(entries));

  if (out.empty())
    return;
  json::Value doc = json::Object{{"batch_of", data.getValue()}, {"ops", std::move(ops)}};
  if (Error err = writeToOutput(out, [&](raw_ostream &os) {
        os << formatv("{0:2}", doc) << "\n";
        return Error::success();
      })) {
    module.emitError("cannot write '") << out << "': " << toString(std::move(err));
    return signalPassFailure();
  }
}

} // namespace
} // namespace precis
