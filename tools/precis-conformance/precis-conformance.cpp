//===- precis-conformance.cpp - ONNX backend node tests through precis ----===//
//
// Runs the ONNX backend node tests (a directory of <test>/model.onnx plus
// <test>/test_data_set_0/{input,output}_*.pb) through precis and tallies the outcome per op
// type. Each model is
//   1. imported: models that validation rejects (an op, attribute, opset or element type
//      precis does not support) are "unsupported"; every other model must import and verify;
//   2. with --run, compiled to an artifact, executed on the CPU backend with the test's
//      inputs, and compared with its outputs at the suite's tolerance (rtol 1e-3, atol 1e-7
//      for floats, exact for integers and booleans).
//
/// precis IR is statically shaped and folds shape arithmetic at import, so integer graph
/// inputs (shapes, axes, indices) are bound to their test values as initializers before the
/// import; float and bool inputs stay runtime inputs. Test models that contradict the code
/// that generated their expected outputs are corrected first (kDataFixes, with the reason).
//
// Exit status: 1 when a supported model fails to import, or (with --run) when fewer than
// --min-pass-percent of the supported models pass.
//
//===----------------------------------------------------------------------===//

#include "../../lib/Import/Importer.h"
#include "precis/Import/OnnxImporter.h"
#include "precis/InitAll.h"
#include "precis/Pipelines/Pipelines.h"
#include "precis/Target/Artifact.h"
#include "precis/runtime/Session.h"
#include "precis/schema/Names.h"
#include "precis/runtime/numerics.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>

using namespace mlir;
namespace cl = llvm::cl;
namespace rt = ::precis::rt;

static cl::opt<std::string> testRoot(cl::Positional, cl::desc("<node test directory>"),
                                     cl::init("/usr/share/libonnx-testdata/data/node"));
static cl::opt<bool> runModels("run", cl::desc("compile and execute, compare outputs"));
static cl::opt<std::string> markdownPath("markdown",
                                         cl::desc("write a per-op report to this file"));
static cl::opt<std::string> sourceName(
    "source", cl::init("Debian `libonnx-testdata`"),
    cl::desc("where the tests come from, for the markdown report"));
static cl::opt<std::string> titleText("title", cl::init("ONNX backend node tests"),
                                      cl::desc("the markdown report's title"));
static cl::opt<std::string> generatorName(
    "generator", cl::init("scripts/conformance.sh"),
    cl::desc("the command that regenerates the markdown report"));
static cl::opt<double> minPassPercent(
    "min-pass-percent", cl::init(95.0),
    cl::desc("with --run: fail unless this share of supported models passes"));
static cl::list<std::string> filters("filter", cl::CommaSeparated,
                                     cl::desc("only tests whose name contains one of these "
                                              "(comma-separated)"));
static cl::opt<bool> verbose("v", cl::desc("print every test's outcome"));

namespace {

enum class Outcome { Passed, Unsupported, ImportFailed, RunFailed };

struct Result {
  std::string test;
  std::set<std::string> opTypes;
  Outcome outcome;
  std::string reason; ///< first line of the diagnostic, or the mismatch
};

bool readProto(const std::string &path, google::protobuf::MessageLite &msg) {
  std::ifstream in(path, std::ios::binary);
  return in && msg.ParseFromIstream(&in);
}

/// The test's tensors named `prefix`_0.pb, `prefix`_1.pb, ... in order.
std::vector<onnx::TensorProto> readTensors(const std::string &dir, const std::string &prefix) {
  std::vector<onnx::TensorProto> tensors;
  for (int i = 0;; ++i) {
    std::string path = llvm::formatv("{0}/{1}_{2}.pb", dir, prefix, i).str();
    onnx::TensorProto tensor;
    if (!llvm::sys::fs::exists(path) || !readProto(path, tensor))
      break;
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

/// Older ONNX test data stores bfloat16 tensors as uint16 bit patterns: retag them with the
/// type the graph declares for the value.
void retagBfloat16(onnx::TensorProto &tensor, const onnx::ValueInfoProto &info) {
  if (tensor.data_type() == onnx::TensorProto::UINT16 && info.type().has_tensor_type() &&
      info.type().tensor_type().elem_type() == onnx::TensorProto::BFLOAT16)
    tensor.set_data_type(onnx::TensorProto::BFLOAT16);
}

bool isIntegerType(int32_t t) {
  return t == onnx::TensorProto::INT64 || t == onnx::TensorProto::INT32 ||
         t == onnx::TensorProto::INT8 || t == onnx::TensorProto::UINT8;
}

/// A runtime tensor holding `attr`'s elements.
rt::Tensor toTensor(DenseElementsAttr attr) {
  rt::Tensor t;
  auto type = cast<RankedTensorType>(attr.getType());
  t.dtype = static_cast<rt::DType>(::precis::artifactElementType(type.getElementType()));
  t.shape.assign(type.getShape().begin(), type.getShape().end());
  auto bytes = ::precis::artifactBytes(attr);
  if (succeeded(bytes))
    t.data.assign(bytes->begin(), bytes->end());
  return t;
}

/// Element `i` of a runtime tensor as double (floats decoded exactly).
double elementAt(const rt::Tensor &t, int64_t i) {
  using rt::DType;
  const uint8_t *p = t.data.data();
  switch (t.dtype) {
  case DType::F32: return reinterpret_cast<const float *>(p)[i];
  case DType::F64: return reinterpret_cast<const double *>(p)[i];
  case DType::F16: return ::precis::fp16_to_float(reinterpret_cast<const uint16_t *>(p)[i]);
  case DType::BF16: return ::precis::bf16_to_float(reinterpret_cast<const uint16_t *>(p)[i]);
  case DType::F8E4M3FN: return ::precis::fp8_e4m3fn_to_float(p[i]);
  case DType::F8E5M2: return ::precis::fp8_e5m2_to_float(p[i]);
  case DType::I64: return static_cast<double>(reinterpret_cast<const int64_t *>(p)[i]);
  case DType::I32: return reinterpret_cast<const int32_t *>(p)[i];
  case DType::I8: return reinterpret_cast<const int8_t *>(p)[i];
  case DType::U8: case DType::Bool: return p[i];
  default: return NAN;
  }
}

/// Compares `got` with `want` at the ONNX backend test tolerance; empty when equal.
std::string compare(const rt::Tensor &got, const rt::Tensor &want) {
  if (got.dtype != want.dtype || got.shape != want.shape)
    return "output is " + rt::typeString(got.dtype, got.shape) + ", expected " +
           rt::typeString(want.dtype, want.shape);
  bool isFloat = got.dtype == rt::DType::F32 || got.dtype == rt::DType::F64 ||
                 got.dtype == rt::DType::F16 || got.dtype == rt::DType::BF16 ||
                 got.dtype == rt::DType::F8E4M3FN ||
                 got.dtype == rt::DType::F8E5M2;
  for (int64_t i = 0, e = got.numElements(); i < e; ++i) {
    double g = elementAt(got, i), w = elementAt(want, i);
    bool ok = isFloat ? ((std::isnan(g) && std::isnan(w)) || g == w ||
                         std::fabs(g - w) <= 1e-7 + 1e-3 * std::fabs(w))
                      : g == w;
    if (!ok)
      return llvm::formatv("element {0} is {1:e8}, expected {2:e8}", i, g, w).str();
  }
  return "";
}

} // namespace

/// Tests whose expected outputs precis deliberately does not reproduce, with the reason.
static const char *const kTruncatedBfloat16 =
    "this test's data rounds float to bfloat16 by truncation; precis rounds to nearest even, "
    "as CUDA's conversions do";
static const char *const kLowPrecisionAttention =
    "the expected outputs round every intermediate (scaled Q and K, scores, softmax) to the "
    "16-bit type; precis accumulates in fp32 and computes the softmax in fp32, and its output is "
    "closer to the float64 result (max and mean error) than the expected one";
/// Training-mode dropout: the expected outputs hold a mask drawn by NumPy's generator, which
/// no other implementation reproduces; the runner imports for inference, where dropout is the
/// identity (precis trains with its own Philox stream, docs/runtime.md).
static const char kDropoutMask[] =
    "the expected mask comes from NumPy's generator; imported for inference, dropout is the "
    "identity";

static const std::map<std::string, std::string> kKnownDifferences = {
    {"test_cast_FLOAT_to_BFLOAT16", kTruncatedBfloat16},
    {"test_castlike_FLOAT_to_BFLOAT16", kTruncatedBfloat16},
    {"test_castlike_FLOAT_to_BFLOAT16_expanded", kTruncatedBfloat16},
    {"test_attention_3d_causal_bf16", kLowPrecisionAttention},
    {"test_attention_3d_causal_bf16_expanded", kLowPrecisionAttention},
    {"test_attention_4d_attn_mask_causal_bf16", kLowPrecisionAttention},
    {"test_attention_4d_attn_mask_causal_bf16_expanded", kLowPrecisionAttention},
    {"test_attention_4d_causal_bf16", kLowPrecisionAttention},
    {"test_attention_4d_causal_bf16_expanded", kLowPrecisionAttention},
    {"test_attention_4d_causal_fp16", kLowPrecisionAttention},
    {"test_attention_4d_causal_fp16_expanded", kLowPrecisionAttention},
    {"test_attention_4d_causal_padded_kv_bf16", kLowPrecisionAttention},
    {"test_attention_4d_causal_padded_kv_bf16_expanded", kLowPrecisionAttention},
    {"test_attention_4d_padded_kv_bf16", kLowPrecisionAttention},
    {"test_attention_4d_padded_kv_bf16_expanded", kLowPrecisionAttention},
    {"test_training_dropout", kDropoutMask},
    {"test_training_dropout_default", kDropoutMask},
    {"test_training_dropout_default_mask", kDropoutMask},
    {"test_training_dropout_mask", kDropoutMask},
};

/// Test models that contradict the generator code their expected outputs come from, with the
/// correction applied before the import and the reason (reported in the markdown).
struct DataFix {
  const char *reason;
  void (*apply)(onnx::ModelProto &model);
};
static const std::map<std::string, DataFix> kDataFixes = {
    {"test_adam_multiple",
     {"the model's Adam node lacks the `epsilon = 0.01` its expected outputs were computed with "
      "(onnx/onnx#7749); the attribute is added",
      [](onnx::ModelProto &model) {
        for (onnx::NodeProto &node : *model.mutable_graph()->mutable_node()) {
          if (node.op_type() != "Adam" ||
              llvm::any_of(node.attribute(), [](const onnx::AttributeProto &attr) {
                return attr.name() == "epsilon";
              }))
            continue;
          onnx::AttributeProto *epsilon = node.add_attribute();
          epsilon->set_name("epsilon");
          epsilon->set_type(onnx::AttributeProto::FLOAT);
          epsilon->set_f(0.01f);
        }
      }}},
};

/// Imports (and with --run executes) one node test.
static Result runTest(const std::string &dir, const std::string &name) {
  Result result{name, {}, Outcome::Passed, ""};
  onnx::ModelProto model;
  if (!readProto(dir + "/model.onnx", model)) {
    result.outcome = Outcome::ImportFailed;
    result.reason = "cannot read model.onnx";
    return result;
  }
  for (const onnx::NodeProto &node : model.graph().node())
    result.opTypes.insert((node.domain().empty() ? "" : node.domain() + ".") + node.op_type());
  if (auto fix = kDataFixes.find(name); fix != kDataFixes.end())
    fix->second.apply(model);

  std::string dataDir = dir + "/test_data_set_0";
  std::vector<onnx::TensorProto> inputs = readTensors(dataDir, "input");
  std::vector<onnx::TensorProto> outputs = readTensors(dataDir, "output");

  // Bind integer inputs as initializers, and the float scales and roi of Resize and Upsample
  // (shape arguments too, which a float initializer cannot carry: precis keeps those as
  // parameters) as Constant nodes; keep the rest as runtime inputs, in order.
  std::set<std::string> initializers, shapeArguments;
  for (const onnx::TensorProto &init : model.graph().initializer())
    initializers.insert(init.name());
  for (const onnx::NodeProto &node : model.graph().node()) {
    int last = node.op_type() == "Resize" ? 2 : node.op_type() == "Upsample" ? 1 : 0;
    for (int i = 1; i <= last && i < node.input_size(); ++i)
      shapeArguments.insert(node.input(i));
  }
  onnx::GraphProto *graph = model.mutable_graph();
  std::vector<onnx::ValueInfoProto> kept;
  std::vector<onnx::TensorProto> runtimeInputs;
  std::vector<onnx::NodeProto> boundConstants;
  int dataIndex = 0;
  for (const onnx::ValueInfoProto &input : graph->input()) {
    if (initializers.count(input.name()))
      continue;
    if (dataIndex >= static_cast<int>(inputs.size())) {
      kept.push_back(input);
      continue;
    }
    onnx::TensorProto data = inputs[dataIndex++];
    retagBfloat16(data, input);
    if (shapeArguments.count(input.name()) && input.type().has_tensor_type() &&
        !isIntegerType(input.type().tensor_type().elem_type())) {
      onnx::NodeProto constant;
      constant.set_op_type("Constant");
      constant.set_name(input.name() + "_bound");
      constant.add_output(input.name());
      onnx::AttributeProto *value = constant.add_attribute();
      value->set_name("value");
      value->set_type(onnx::AttributeProto::TENSOR);
      data.clear_name();
      *value->mutable_t() = std::move(data);
      boundConstants.push_back(std::move(constant));
      continue;
    }
    if (input.type().has_tensor_type() && isIntegerType(input.type().tensor_type().elem_type())) {
      data.set_name(input.name());
      *graph->add_initializer() = std::move(data);
      // Before IR version 4 every initializer must also be listed as a graph input.
      if (model.ir_version() < 4)
        kept.push_back(input);
      continue;
    }
    // precis compiles for static shapes: specialise the input to the test data's shape (a few
    // tests declare a different one than their data has).
    onnx::ValueInfoProto specialised = input;
    onnx::TensorShapeProto *shape =
        specialised.mutable_type()->mutable_tensor_type()->mutable_shape();
    shape->clear_dim();
    for (int64_t d : data.dims())
      shape->add_dim()->set_dim_value(d);
    kept.push_back(std::move(specialised));
    runtimeInputs.push_back(std::move(data));
  }
  graph->clear_input();
  for (onnx::ValueInfoProto &input : kept)
    *graph->add_input() = std::move(input);
  if (!boundConstants.empty()) {
    for (const onnx::NodeProto &node : graph->node())
      boundConstants.push_back(node);
    graph->clear_node();
    for (onnx::NodeProto &node : boundConstants)
      *graph->add_node() = std::move(node);
  }

  llvm::SmallString<128> tmp;
  if (llvm::sys::fs::createTemporaryFile("precis-conformance", "onnx", tmp)) {
    result.outcome = Outcome::ImportFailed;
    result.reason = "cannot create a temporary file";
    return result;
  }
  {
    std::ofstream out(tmp.c_str(), std::ios::binary);
    model.SerializeToOstream(&out);
  }

  MLIRContext context;
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    if (diagnostics.empty()) {
      diagnostics = diag.str();
      for (Diagnostic &note : diag.getNotes()) {
        diagnostics += "; " + note.str();
        break;
      }
    }
    return success();
  });
  ::precis::ImportFailure failure;
  ::precis::ImportOptions importOptions;
  std::set<std::string> needed;
  importOptions.neededInputs = &needed;
  OwningOpRef<ModuleOp> module = ::precis::importOnnxFile(context, tmp, importOptions, &failure);
  // Other inputs whose values the import needs (Dropout's float ratio and bool training_mode):
  // specialise the model on the test's values, as precis run does, one failing node at a time.
  auto pending = [&](const std::string &n) {
    return std::any_of(runtimeInputs.begin(), runtimeInputs.end(),
                       [&](const onnx::TensorProto &t) { return t.name() == n; });
  };
  while (!module && std::any_of(needed.begin(), needed.end(), pending) &&
         std::all_of(needed.begin(), needed.end(), [&](const std::string &n) {
           return pending(n) || importOptions.bind.count(n);
         })) {
    bool decoded = true;
    for (auto it = runtimeInputs.begin(); it != runtimeInputs.end();) {
      if (!needed.count(it->name())) {
        ++it;
        continue;
      }
      auto attr = ::precis::onnx_import::decodeTensor(*it, UnknownLoc::get(&context));
      decoded &= succeeded(attr);
      if (succeeded(attr))
        importOptions.bind[it->name()] = toTensor(*attr);
      it = runtimeInputs.erase(it);
    }
    if (!decoded)
      break;
    diagnostics.clear();
    module = ::precis::importOnnxFile(context, tmp, importOptions, &failure);
  }
  llvm::sys::fs::remove(tmp);
  if (!module) {
    result.outcome = failure == ::precis::ImportFailure::Unsupported ? Outcome::Unsupported
                                                                    : Outcome::ImportFailed;
    result.reason = diagnostics;
    return result;
  }
  if (!runModels)
    return result;

  auto fail = [&](std::string why) {
    result.outcome = Outcome::RunFailed;
    result.reason = std::move(why);
    return result;
  };
  std::vector<char> bytes;
  PassManager pm(&context);
  ::precis::buildInferencePipeline(pm, {});
  if (failed(pm.run(*module)) || failed(::precis::buildArtifact(*module, {}, bytes)))
    return fail("compile: " + diagnostics);
  std::unique_ptr<rt::Session> session;
  rt::SessionOptions options;
  options.numThreads = 1;
  if (rt::Status s =
          rt::Session::createFromMemory(bytes.data(), bytes.size(), options, &session);
      !s)
    return fail("load: " + s.message());

  Location loc = UnknownLoc::get(&context);
  std::vector<rt::Tensor> args, results;
  for (const onnx::TensorProto &input : runtimeInputs) {
    auto attr = ::precis::onnx_import::decodeTensor(input, loc);
    if (failed(attr))
      return fail("cannot decode input '" + input.name() + "'");
    args.push_back(toTensor(*attr));
  }
  if (rt::Status s = session->run(::precis::names::kForward, args, &results); !s)
    return fail("run: " + s.message());
  if (results.size() != outputs.size())
    return fail(llvm::formatv("{0} outputs, expected {1}", results.size(), outputs.size()));
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (static_cast<int>(i) < model.graph().output_size())
      retagBfloat16(outputs[i], model.graph().output(i));
    auto want = ::precis::onnx_import::decodeTensor(outputs[i], loc);
    if (failed(want))
      return fail("cannot decode expected output " + std::to_string(i));
    std::string mismatch = compare(results[i], toTensor(*want));
    if (!mismatch.empty()) {
      auto known = kKnownDifferences.find(name);
      return fail("output " + std::to_string(i) + ": " + mismatch +
                  (known == kKnownDifferences.end() ? "" : " (" + known->second + ")"));
    }
  }
  return result;
}

static const char *outcomeName(Outcome o) {
  switch (o) {
  case Outcome::Passed: return runModels ? "passed" : "imported";
  case Outcome::Unsupported: return "unsupported";
  case Outcome::ImportFailed: return "import failed";
  case Outcome::RunFailed: return "run failed";
  }
  return "";
}

/// The report: a table per op type, then every failure and the unsupported reasons.
static void writeMarkdown(llvm::raw_ostream &os, const std::vector<Result> &results) {
  struct Counts { int total = 0, passed = 0, unsupported = 0, failed = 0; };
  std::map<std::string, Counts> perOp;
  Counts all;
  for (const Result &r : results) {
    auto bump = [&](Counts &c) {
      ++c.total;
      if (r.outcome == Outcome::Passed) ++c.passed;
      else if (r.outcome == Outcome::Unsupported) ++c.unsupported;
      else ++c.failed;
    };
    bump(all);
    for (const std::string &op : r.opTypes)
      bump(perOp[op]);
  }
  int supported = all.total - all.unsupported;
  os << "# " << titleText << "\n\n"
     << "Generated by `" << generatorName << "` from the ONNX backend node tests (" << sourceName
     << "). Each test model is imported; a model whose ops, "
        "attributes or element types precis does not support is *unsupported* (rejected by "
        "validation with a message naming the node). "
     << (runModels ? "Every other model is compiled, run on the CPU backend with the test's "
                     "inputs and compared with the test's outputs (rtol 1e-3, atol 1e-7; "
                     "integers and booleans exactly).\n\n"
                   : "Every other model must import and verify.\n\n")
     << "Integer graph inputs (shapes, axes, indices) and the scales and roi inputs of Resize "
        "and Upsample are bound to their test values at import (as initializers and Constant "
        "nodes), since precis IR is statically shaped; a float or bool input whose value the "
        "import needs (Dropout's ratio and training_mode) is bound too (as `precis run` binds "
        "it); the other float and bool inputs stay inputs. Models import for inference, so "
        "training-mode Dropout is the identity.\n\n"
     << "| | models |\n| --- | --- |\n"
     << "| total | " << all.total << " |\n"
     << "| supported | " << supported << " |\n"
     << "| " << (runModels ? "passed" : "imported") << " | " << all.passed << " ("
     << llvm::formatv("{0:F1}", supported ? 100.0 * all.passed / supported : 0.0)
     << " % of supported) |\n"
     << "| failed | " << all.failed << " |\n"
     << "| unsupported | " << all.unsupported << " |\n\n"
     << "## Per op type\n\nA model counts once for every op type it contains.\n\n"
     << "| op | models | " << (runModels ? "passed" : "imported")
     << " | failed | unsupported |\n| --- | --- | --- | --- | --- |\n";
  for (const auto &[op, c] : perOp)
    os << "| " << op << " | " << c.total << " | " << c.passed << " | " << c.failed << " | "
       << c.unsupported << " |\n";
  os << "\n## Failures\n\n";
  bool any = false;
  for (const Result &r : results)
    if (r.outcome == Outcome::ImportFailed || r.outcome == Outcome::RunFailed) {
      os << "- `" << r.test << "` (" << outcomeName(r.outcome) << "): " << r.reason << "\n";
      any = true;
    }
  if (!any)
    os << "None.\n";
  os << "\n## Corrected test data\n\n"
     << "Models that contradict the code their expected outputs were generated with are "
        "corrected before the import.\n\n| test | correction |\n| --- | --- |\n";
  for (const Result &r : results)
    if (auto fix = kDataFixes.find(r.test); fix != kDataFixes.end())
      os << "| `" << r.test << "` | " << fix->second.reason << " |\n";
  os << "\n## Unsupported models\n\n| test | reason |\n| --- | --- |\n";
  for (const Result &r : results)
    if (r.outcome == Outcome::Unsupported) {
      std::string reason = r.reason;
      std::replace(reason.begin(), reason.end(), '|', '/');
      std::replace(reason.begin(), reason.end(), '\n', ' ');
      os << "| `" << r.test << "` | " << reason << " |\n";
    }
}

int main(int argc, char **argv) {
  cl::ParseCommandLineOptions(argc, argv, "precis ONNX backend node test runner\n");
  std::vector<std::string> tests;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(testRoot, ec), end; it != end && !ec;
       it.increment(ec)) {
    std::string name = llvm::sys::path::filename(it->path()).str();
    if (llvm::sys::fs::exists(it->path() + "/model.onnx") &&
        (filters.empty() || llvm::any_of(filters, [&](const std::string &f) {
           return name.find(f) != std::string::npos;
         })))
      tests.push_back(name);
  }
  if (ec || tests.empty()) {
    llvm::errs() << "error: no node tests under '" << testRoot << "'\n";
    return 1;
  }
  std::sort(tests.begin(), tests.end());

  std::vector<Result> results;
  int counts[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < tests.size(); ++i) {
    results.push_back(runTest(testRoot + "/" + tests[i], tests[i]));
    const Result &r = results.back();
    ++counts[static_cast<int>(r.outcome)];
    bool failedRun = r.outcome == Outcome::ImportFailed || r.outcome == Outcome::RunFailed;
    if (verbose || failedRun)
      llvm::outs() << llvm::formatv("[{0}/{1}] {2}: {3}{4}\n", i + 1, tests.size(), r.test,
                                    outcomeName(r.outcome),
                                    r.reason.empty() ? "" : " — " + r.reason);
  }
  int supported = tests.size() - counts[1];
  double passPercent = supported ? 100.0 * counts[0] / supported : 0.0;
  llvm::outs() << llvm::formatv(
      "{0} tests: {1} {2}, {3} import failed, {4} run failed, {5} unsupported ({6:F1} % of "
      "supported {2})\n",
      tests.size(), counts[0], outcomeName(Outcome::Passed), counts[2], counts[3], counts[1],
      passPercent);

  if (!markdownPath.empty()) {
    std::error_code wec;
    llvm::raw_fd_ostream os(markdownPath, wec);
    if (wec) {
      llvm::errs() << "error: cannot write '" << markdownPath << "': " << wec.message() << "\n";
      return 1;
    }
    writeMarkdown(os, results);
  }
  if (counts[2] > 0)
    return 1;
  if (runModels && passPercent < minPassPercent)
    return 1;
  return 0;
}
