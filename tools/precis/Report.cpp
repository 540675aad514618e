//===- Report.cpp - precis report -------------------------------------------===//
//
// `precis report`: which precision every op runs in, and why, as a table or JSON.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "precis/Transforms/Precision.h"
#include "precis/schema/Names.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <map>

using namespace llvm;

namespace precis::driver {

using precis::ReportRow;

int runReport(int argc, char **argv) {
  static cl::opt<std::string> input(cl::Positional, cl::Required,
                                    cl::desc("<model.onnx | model.onnxtxt | model.mlir>"),
                                    cl::cat(optionCategory()));
  static PrecisionFlags precisionFlags;
  static cl::opt<std::string> jsonPath("json", cl::desc("Also write the report as JSON"),
                                       cl::value_desc("report.json"), cl::cat(optionCategory()));
  static cl::opt<bool> train(
      "train",
      cl::desc("Report the training step (forward, backward and optimizer ops) "
               "instead of the forward function"),
      cl::cat(optionCategory()));
  static OptimizerFlags optimizerFlags;
  static cl::opt<int64_t> batch("batch",
                                cl::desc("Bind the symbolic leading dimension of the inputs"),
                                cl::value_desc("N"), cl::cat(optionCategory()));
  static cl::opt<bool> all("all", cl::desc("List constants, parameters and inserted casts too"),
                           cl::cat(optionCategory()));
  parseCommandLine(argc, argv, "precis report: which precision every op runs in, and why\n");
  const char *tool = "precis report";
  precis::ImportOptions options;
  if (!batchOption(batch, tool, options))
    return 1;
  CompileOptions compileOptions;
  if (rt::Status s = toCompileOptions(precisionFlags, optimizerFlags, train, &compileOptions); !s) {
    errs() << tool << ": error: " << s.message() << "\n";
    return 1;
  }
  // fp32 is a decision too: the report always runs the passes.
  compileOptions.precision.decideFp32 = true;

  CompilerContext compiler;
  mlir::OwningOpRef<mlir::ModuleOp> module = loadModel(compiler.context, input, options);
  if (!module || !runPipeline(*module, compileOptions, tool))
    return 1;
  StringRef fnName = train ? names::kTrainStep : names::kForward;
  auto fn = module->lookupSymbol<mlir::func::FuncOp>(fnName);
  if (!fn) {
    errs() << tool << ": error: the module has no @" << fnName << "\n";
    return 1;
  }
  std::vector<ReportRow> rows = reportRows(fn);

  // The table: every op that computes, then a summary.
  std::map<std::string, int> byPrecision;
  int casts = 0, scaling = 0;
  std::vector<const ReportRow *> shown;
  for (const ReportRow &row : rows) {
    bool value = row.rule == "value" || row.rule == "no-float";
    if (row.rule == "cast" || row.rule == "fp8.scaling")
      ++(row.rule == "cast" ? casts : scaling);
    else if (!value)
      ++byPrecision[row.out.empty() ? row.in : row.out];
    if (all || (!value && row.rule != "cast" && row.rule != "fp8.scaling"))
      shown.push_back(&row);
  }
  size_t wNode = 4, wOp = 2, wPhase = 5, wIn = 2, wOut = 3, wAcc = 3, wRule = 4;
  for (const ReportRow *r : shown) {
    wNode = std::max(wNode, r->node.size());
    wOp = std::max(wOp, r->op.size());
    wPhase = std::max(wPhase, r->phase.size());
    wIn = std::max(wIn, r->in.size());
    wOut = std::max(wOut, r->out.size());
    wAcc = std::max(wAcc, r->acc.size());
    wRule = std::max(wRule, r->rule.size());
  }
  wNode = std::min<size_t>(wNode, 40);
  auto line = [&](StringRef node, StringRef op, StringRef phase, StringRef in, StringRef out,
                  StringRef acc, StringRef rule, StringRef reason) {
    outs() << left_justify(node, wNode) << "  " << left_justify(op, wOp) << "  ";
    if (train)
      outs() << left_justify(phase, wPhase) << "  ";
    outs() << left_justify(in, wIn) << "  " << left_justify(out, wOut) << "  "
           << left_justify(acc, wAcc) << "  " << left_justify(rule, wRule) << "  " << reason
           << "\n";
  };
  outs() << "precision report: " << input << ", @" << fnName << ", --precision "
         << precisionFlags.precision << "\n\n";
  line("node", "op", "phase", "in", "out", "acc", "rule", "reason");
  for (const ReportRow *r : shown)
    line(r->node.empty() ? "-" : r->node, r->op, r->phase, r->in.empty() ? "-" : r->in,
         r->out.empty() ? "-" : r->out, r->acc.empty() ? "-" : r->acc, r->rule, r->reason);
  outs() << "\n" << rows.size() << " ops:";
  for (auto &[p, n] : byPrecision)
    outs() << " " << n << " " << p << ",";
  outs() << " " << casts << " casts inserted";
  if (scaling)
    outs() << ", " << scaling << " fp8 scaling ops";
  outs() << " (--all lists them)\n";

  if (!jsonPath.empty()) {
    json::Array ops;
    for (const ReportRow &r : rows)
      ops.push_back(json::Object{{"node", r.node},
                                 {"op", r.op},
                                 {"phase", r.phase},
                                 {"in", r.in},
                                 {"out", r.out},
                                 {"acc", r.acc},
                                 {"rule", r.rule},
                                 {"reason", r.reason}});
    json::Object summary;
    for (auto &[p, n] : byPrecision)
      summary[p] = n;
    summary["casts"] = casts;
    summary["fp8_scaling_ops"] = scaling;
    json::Value doc = json::Object{{"model", input.getValue()},
                                   {"function", fnName},
                                   {"precision", precisionFlags.precision.getValue()},
                                   {"ops", std::move(ops)},
                                   {"summary", std::move(summary)}};
    if (Error err = writeToOutput(jsonPath, [&](raw_ostream &os) {
          os << formatv("{0:2}", doc) << "\n";
          return Error::success();
        })) {
      errs() << tool << ": error: cannot write '" << jsonPath << "': " << toString(std::move(err))
             << "\n";
      return 1;
    }
  }
  return 0;
}

} // namespace precis::driver
