//===- Report.cpp - precis report -------------------------------------------===//
//
// `precis report`: which precision every op runs in, and why, as a table, JSON or a page
// (--html: the graph with every node coloured by its precision; docs/pictures.md); with
// --train also which initializers train, and why.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "precis/Dialect/Precis/IR/PrecisOps.h"
#include "precis/Transforms/AttrNames.h"
#include "precis/Transforms/Precision.h"
#include "precis/schema/Names.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <map>

using namespace llvm;

namespace precis::driver {

using precis::ReportRow;

/// How a type reads on the page: its MLIR spelling.
static std::string typeText(mlir::Type t) {
  std::string s;
  raw_string_ostream os(s);
  t.print(os);
  return s;
}

/// The precision a node is coloured by: its decision's output (or operand) precision, else
/// its first result's element type.
static std::string nodePrecision(mlir::precis::DecisionAttr d, mlir::TypeRange results) {
  if (d && d.getOut())
    return mlir::precis::precisionName(d.getOut());
  if (d && !d.getIn().empty())
    return mlir::precis::precisionName(d.getIn().front());
  if (results.empty())
    return "none";
  return mlir::precis::precisionName(mlir::getElementTypeOrSelf(results.front()));
}

/// The data of the `--html` page: every argument and op of `fn` as a node (with its
/// decision's fields, read from the typed attribute), every use of a value as an edge, and
/// `module`'s calibration measurements (precision auto).
static json::Object graphData(mlir::ModuleOp module, mlir::func::FuncOp fn) {
  using namespace mlir::precis;
  json::Array nodes, edges;
  llvm::DenseMap<mlir::Value, int64_t> producer;
  int64_t next = 0;
  mlir::Block &body = fn.getBody().front();
  // Arguments: named after the graph input, parameter or state they carry; their phase is
  // their first user's (what the page draws them next to).
  for (mlir::BlockArgument arg : body.getArguments()) {
    unsigned i = arg.getArgNumber();
    std::string name, role = "input";
    for (StringRef attr : {kOnnxName.data(), kParamName.data(), kStateName.data()})
      if (auto s = fn.getArgAttrOfType<mlir::StringAttr>(i, attr)) {
        name = s.getValue().str();
        break;
      }
    if (auto r = fn.getArgAttrOfType<mlir::StringAttr>(i, kRole))
      role = r.getValue().str();
    else if (fn.getArgAttr(i, kParamName))
      role = "parameter";
    else if (fn.getArgAttr(i, kLr))
      role = "lr";
    std::string phase = "forward";
    mlir::Operation *first = nullptr;
    for (mlir::Operation *user : arg.getUsers())
      if (user->getBlock() == &body && (!first || user->isBeforeInBlock(first)))
        first = user;
    if (first)
      if (auto p = first->getAttrOfType<mlir::StringAttr>(kPhase))
        phase = p.getValue().str();
    producer[arg] = next++;
    nodes.push_back(json::Object{{"name", name.empty() ? "%arg" + std::to_string(i) : name},
                                 {"op", "argument"},
                                 {"kind", "argument"},
                                 {"role", role},
                                 {"phase", phase},
                                 {"prec", nodePrecision({}, arg.getType())},
                                 {"outs", json::Array{typeText(arg.getType())}}});
  }
  for (mlir::Operation &op : body) {
    DecisionAttr d = getDecision(&op);
    json::Object node;
    node["name"] = nodeName(op.getLoc()).str();
    node["op"] = op.getName().stripDialect().str();
    bool isReturn = op.hasTrait<mlir::OpTrait::IsTerminator>();
    // The return belongs to the phase that ends the function.
    mlir::Operation *phaseOf = isReturn && op.getPrevNode() ? op.getPrevNode() : &op;
    auto phase = phaseOf->getAttrOfType<mlir::StringAttr>(kPhase);
    node["phase"] = phase ? phase.getValue().str() : std::string("forward");
    node["prec"] = nodePrecision(d, op.getResultTypes());
    std::string kind = isReturn ? "return" : "op";
    if (d) {
      std::string rule = d.getRuleName();
      if (rule == "cast")
        kind = "cast";
      else if (rule == "value" || rule == "no-float")
        kind = "value";
      json::Array in;
      for (mlir::Type t : d.getIn())
        in.push_back(precisionName(t));
      node["rule"] = rule;
      node["reason"] = d.getReason().str();
      node["in"] = std::move(in);
      if (d.getOut())
        node["out"] = precisionName(d.getOut());
      if (d.getAcc())
        node["acc"] = precisionName(d.getAcc());
    }
    node["kind"] = kind;
    json::Array ins, outs;
    for (mlir::Type t : op.getOperandTypes())
      ins.push_back(typeText(t));
    for (mlir::Type t : op.getResultTypes())
      outs.push_back(typeText(t));
    node["ins"] = std::move(ins);
    node["outs"] = std::move(outs);
    int64_t id = next++;
    llvm::SmallDenseSet<int64_t> from;
    for (mlir::Value v : op.getOperands()) {
      auto it = producer.find(v);
      if (it != producer.end() && from.insert(it->second).second)
        edges.push_back(json::Array{it->second, id});
    }
    for (mlir::Value r : op.getResults())
      producer[r] = id;
    nodes.push_back(std::move(node));
  }
  json::Array calibration;
  if (auto entries = module->getAttrOfType<mlir::ArrayAttr>(kCalibration))
    for (auto entry : entries.getAsRange<mlir::DictionaryAttr>()) {
      json::Object row;
      for (mlir::NamedAttribute field : entry) {
        if (auto s = dyn_cast<mlir::StringAttr>(field.getValue()))
          row[field.getName().str()] = s.getValue().str();
        else if (auto f = dyn_cast<mlir::FloatAttr>(field.getValue()))
          row[field.getName().str()] = f.getValueAsDouble();
      }
      calibration.push_back(std::move(row));
    }
  return json::Object{{"nodes", std::move(nodes)},
                      {"edges", std::move(edges)},
                      {"calibration", std::move(calibration)}};
}

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
  static cl::opt<std::string> htmlPath(
      "html",
      cl::desc("Also write the graph as a self-contained HTML page: every node coloured by "
               "its precision, its decision on hover or click (.png: a screenshot of it, "
               "by headless Chromium)"),
      cl::value_desc("report.html"), cl::cat(optionCategory()));
  static cl::opt<bool> all("all", cl::desc("List constants, parameters and inserted casts too"),
                           cl::cat(optionCategory()));
  parseCommandLine(argc, argv, "precis report: which precision every op runs in, and why\n");
  const char *tool = "precis report";
  precis::ImportOptions options;
  options.training = train;
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

  // What trains (docs/training.md, "What is trained"): precis-autodiff's decision for every
  // initializer, with its rule and reason.
  json::Array initializers, trainable;
  if (auto decisions = (*module)->getAttrOfType<mlir::ArrayAttr>(mlir::precis::kTrainable);
      train && decisions) {
    struct Row {
      std::string name, type, rule, reason;
      bool trained;
    };
    std::vector<Row> trows;
    int64_t trainedElements = 0;
    size_t wName = 11, wType = 4, wTRule = 4;
    for (auto d : decisions.getAsRange<mlir::DictionaryAttr>()) {
      auto name = d.getAs<mlir::StringAttr>("name");
      auto trained = d.getAs<mlir::BoolAttr>("trained");
      auto rule = d.getAs<mlir::StringAttr>("rule");
      auto reason = d.getAs<mlir::StringAttr>("reason");
      if (!name || !trained || !rule || !reason)
        continue;
      Row r;
      r.name = name.getValue().str();
      r.trained = trained.getValue();
      r.rule = rule.getValue().str();
      r.reason = reason.getValue().str();
      r.type = "-";
      json::Object entry{{"name", r.name}, {"trained", r.trained}, {"rule", r.rule}};
      if (auto t = d.getAs<mlir::TypeAttr>("type")) {
        r.type = typeText(t.getValue());
        entry["type"] = r.type;
        if (r.trained)
          trainedElements += mlir::cast<mlir::ShapedType>(t.getValue()).getNumElements();
      }
      if (auto merged = d.getAs<mlir::ArrayAttr>("merged")) {
        json::Array names;
        std::string list;
        for (auto n : merged.getAsRange<mlir::StringAttr>()) {
          names.push_back(n.getValue().str());
          list += (list.empty() ? "" : ", ") + n.getValue().str();
        }
        entry["merged"] = std::move(names);
        r.reason += "; the exporter merged " + list + " into it";
      }
      entry["reason"] = r.reason;
      if (r.trained)
        trainable.push_back(r.name);
      initializers.push_back(std::move(entry));
      wName = std::max(wName, r.name.size());
      wType = std::max(wType, r.type.size());
      wTRule = std::max(wTRule, r.rule.size());
      trows.push_back(std::move(r));
    }
    wName = std::min<size_t>(wName, 40);
    outs() << formatv("\ntrained parameters: {0} of {1} initializers, {2} elements\n",
                      trainable.size(), trows.size(), trainedElements);
    auto tline = [&](StringRef name, StringRef type, StringRef trained, StringRef rule,
                     StringRef reason) {
      outs() << left_justify(name, wName) << "  " << left_justify(type, wType) << "  "
             << left_justify(trained, 7) << "  " << left_justify(rule, wTRule) << "  " << reason
             << "\n";
    };
    tline("initializer", "type", "trained", "rule", "reason");
    for (const Row &r : trows)
      tline(r.name, r.type, r.trained ? "yes" : "no", r.rule, r.reason);
  }

  // Data-parallel collectives (precis compile --data-parallel; docs/distributed.md): each
  // all_reduce is one bucket, in the order the step runs them.
  json::Array collectives;
  uint64_t collectiveBytes = 0;
  fn.walk([&](mlir::precis::AllReduceOp op) {
    uint64_t bytes = 0;
    for (mlir::Type t : op.getInputs().getTypes()) {
      auto shaped = mlir::cast<mlir::RankedTensorType>(t);
      bytes += shaped.getNumElements() * ((shaped.getElementTypeBitWidth() + 7) / 8);
    }
    collectiveBytes += bytes;
    std::string name;
    if (auto loc = mlir::dyn_cast<mlir::NameLoc>(op.getLoc()))
      name = loc.getName().str();
    collectives.push_back(json::Object{
        {"name", name},
        {"reduction", mlir::precis::stringifyCollectiveReduction(op.getReduction()).str()},
        {"tensors", static_cast<int64_t>(op.getInputs().size())},
        {"bytes", static_cast<int64_t>(bytes)}});
  });
  if (!collectives.empty()) {
    outs() << formatv("collectives: {0} all-reduces of {1:f2} MiB per step\n", collectives.size(),
                      collectiveBytes / 1048576.0);
    for (const json::Value &c : collectives) {
      const json::Object &o = *c.getAsObject();
      outs() << formatv("  {0,-24} {1,-5} {2,4} tensors {3,10} bytes\n", *o.getString("name"),
                        *o.getString("reduction"), *o.getInteger("tensors"),
                        *o.getInteger("bytes"));
    }
  }

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
    if (!collectives.empty())
      doc.getAsObject()->try_emplace("collectives", std::move(collectives));
    if (train && !initializers.empty()) {
      doc.getAsObject()->try_emplace("trainable", std::move(trainable));
      doc.getAsObject()->try_emplace("initializers", std::move(initializers));
    }
    if (!writeFile(jsonPath, formatv("{0:2}\n", doc).str(), tool))
      return 1;
  }
  if (!htmlPath.empty()) {
    json::Object data = graphData(*module, fn);
    data["model"] = input.getValue();
    data["function"] = fnName;
    data["precision"] = precisionFlags.precision.getValue();
    if (compileOptions.precision.precision == PrecisionPolicy::Auto)
      data["tolerance"] = precisionFlags.tolerance.getValue();
    if (!writePage(htmlPath, PageKind::Report, json::Value(std::move(data)), tool))
      return 1;
  }
  return 0;
}

} // namespace precis::driver
