//===- Calibrate.cpp - evidence for --precision auto ----------------------===//
//
// Builds three variants of @forward — fp32, bf16 GEMMs, fp8 GEMMs — each returning every
// GEMM's output as an extra result, runs them on one batch with the CPU runtime and compares.
// GEMMs are found by their precision class (PrecisionOpInterface), as the passes find them.
//
//===----------------------------------------------------------------------===//

#include "Calibrate.h"

#include "precis/InitAll.h"
#include "precis/Target/Artifact.h"
#include "precis/Transforms/AttrNames.h"
#include "precis/Transforms/Passes.h"
#include "precis/runtime/Session.h"
#include "precis/runtime/Training.h"
#include "precis/runtime/numerics.h"

#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <map>

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

/// A copy of `module` with `pipeline` applied to @forward and every tagged GEMM's output
/// (in fp32) appended to @forward's results as "precis.calib.<id>".
mlir::OwningOpRef<mlir::ModuleOp> variant(mlir::ModuleOp module, StringRef pipeline,
                                          StringRef tool) {
  mlir::OwningOpRef<mlir::ModuleOp> copy = module.clone();
  for (auto fn : llvm::make_early_inc_range(copy->getOps<mlir::func::FuncOp>()))
    if (fn.getName() != "forward")
      fn.erase();
  if (!pipeline.empty()) {
    mlir::PassManager pm(module->getContext());
    std::string error;
    raw_string_ostream os(error);
    if (failed(mlir::parsePassPipeline(pipeline, pm, os)) || failed(pm.run(*copy))) {
      errs() << tool << ": error: calibration pipeline '" << pipeline << "' failed " << error
             << "\n";
      return nullptr;
    }
  }
  auto fn = copy->lookupSymbol<mlir::func::FuncOp>("forward");
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
    attrs.push_back(b.getDictionaryAttr(b.getNamedAttr(
        kOnnxName, b.getStringAttr("precis.calib." + std::to_string(id.getInt())))));
  }
  b.create<mlir::func::ReturnOp>(ret->getLoc(), results);
  ret->erase();
  fn.setType(mlir::FunctionType::get(ctx, fn.getArgumentTypes(),
                                     mlir::ValueRange(results).getTypes()));
  fn.setAllResultAttrs(attrs);
  return copy;
}

/// Runs @forward of `module` on `batch` and returns the calibration outputs by id.
bool runVariant(mlir::ModuleOp module, const std::string &dataPath,
                std::map<int64_t, std::vector<double>> *out, StringRef tool) {
  std::vector<char> bytes;
  if (failed(buildArtifact(module, {}, bytes)))
    return false;
  rt::SessionOptions options;
  std::unique_ptr<rt::Session> session;
  auto fail = [&](const rt::Status &s) {
    errs() << tool << ": error: calibration: " << s.message() << "\n";
    return false;
  };
  if (rt::Status s = rt::Session::createFromMemory(bytes.data(), bytes.size(), options, &session);
      !s)
    return fail(s);
  const rt::FunctionInfo *info = session->findFunction("forward");
  rt::Dataset data;
  if (rt::Status s = rt::Dataset::open(dataPath, info->inputs, &data); !s)
    return fail(s);
  std::vector<rt::Tensor> inputs, outputs;
  data.batch(0, &inputs);
  if (rt::Status s = session->run("forward", inputs, &outputs); !s)
    return fail(s);
  for (size_t i = 0; i < info->outputs.size(); ++i) {
    StringRef name = info->outputs[i].name;
    int64_t id;
    if (name.consume_front("precis.calib.") && !name.getAsInteger(10, id))
      (*out)[id] = toDoubles(outputs[i]);
  }
  return true;
}

} // namespace

bool calibrate(mlir::ModuleOp module, StringRef dataPath, StringRef outPath, StringRef tool) {
  registerAllPasses();
  auto forward = module.lookupSymbol<mlir::func::FuncOp>("forward");
  if (!forward) {
    errs() << tool << ": error: calibration needs a @forward function\n";
    return false;
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

  const char *kPipelines[][2] = {
      {"fp32", ""},
      {"bf16", "precis-assign-precision{precision=bf16},precis-insert-casts,canonicalize,cse"},
      {"fp8", "precis-assign-precision{precision=fp8},precis-insert-casts,canonicalize,cse,"
              "precis-fp8-scaling{recipe=current},canonicalize,cse"}};
  std::map<std::string, std::map<int64_t, std::vector<double>>> results;
  for (auto &[name, pipeline] : kPipelines) {
    mlir::OwningOpRef<mlir::ModuleOp> copy = variant(module, pipeline, tool);
    if (!copy || !runVariant(*copy, dataPath.str(), &results[name], tool))
      return false;
  }

  json::Array ops;
  for (size_t id = 0; id < sites.size(); ++id) {
    const std::vector<double> &ref = results["fp32"][id];
    double amax = 0, norm = 0;
    for (double v : ref) {
      amax = std::max(amax, std::fabs(v));
      norm += v * v;
    }
    json::Object errors;
    for (const char *p : {"bf16", "fp8"}) {
      const std::vector<double> &got = results[p][id];
      if (got.size() != ref.size())
        continue;
      double diff = 0;
      for (size_t i = 0; i < ref.size(); ++i)
        diff += (got[i] - ref[i]) * (got[i] - ref[i]);
      errors[p] = norm > 0 ? std::sqrt(diff / norm) : (diff > 0 ? INFINITY : 0.0);
    }
    ops.push_back(json::Object{{"node", sites[id].node},
                               {"op", sites[id].op},
                               {"amax", amax},
                               {"error", std::move(errors)}});
  }
  forward.walk([](mlir::Operation *op) { op->removeAttr(kCalibId); });
  json::Value doc = json::Object{{"batch_of", dataPath.str()}, {"ops", std::move(ops)}};
  if (Error err = writeToOutput(outPath, [&](raw_ostream &os) {
        os << formatv("{0:2}", doc) << "\n";
        return Error::success();
      })) {
    errs() << tool << ": error: cannot write '" << outPath << "': " << toString(std::move(err))
           << "\n";
    return false;
  }
  return true;
}

} // namespace precis
