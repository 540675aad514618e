//===- ExporterMetadata.cpp - what the exporter says about initializers ---===//
//
// PyTorch's dynamo exporter (`torch.onnx.export(..., dynamo=True)`) knows which initializers
// are the module's parameters, which are its buffers and which are constants it made up (a
// `Pow` exponent, a norm epsilon, `sqrt(d)`). It writes that down twice, in fields newer than
// the ONNX that precis builds against, so protobuf keeps them as unknown fields:
//
//   GraphProto.metadata_props (16)       "pkg.torch.export.ExportedProgram.graph_signature":
//                                        `p_w: PARAMETER target='w'` per lifted input
//   ValueInfoProto.metadata_props (9)    "pkg.torch.export.graph_signature.InputSpec.kind":
//                                        PARAMETER / BUFFER / CONSTANT_TENSOR per initializer
//   NodeProto.metadata_props (9)         "pkg.torch.onnx.name_scopes": the module path of the
//                                        node, e.g. "['', 'h.1', 'h.1.ln', 'layer_norm_1']"
//
// Initializers the signature does not name are constants. The exporter's optimizer merges
// equal initializers (every LayerNorm's ones and zeros become one tensor); a merged parameter
// is missing from the initializers, and a node in the missing parameter's module reads the
// survivor instead. That is how the merge is recognised here.
//
//===----------------------------------------------------------------------===//

#include "Importer.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Regex.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>

namespace precis::onnx_import {

namespace {

constexpr llvm::StringLiteral kSignatureKey = "pkg.torch.export.ExportedProgram.graph_signature";
constexpr llvm::StringLiteral kInputKindKey = "pkg.torch.export.graph_signature.InputSpec.kind";
constexpr llvm::StringLiteral kNameScopesKey = "pkg.torch.onnx.name_scopes";
constexpr llvm::StringLiteral kRewriteRuleKey = "pkg.onnxscript.rewriter.rule_name";

/// Calls `fn` with each key and value of `message`'s repeated StringStringEntryProto field
/// `number`: a known field where this ONNX has it, else protobuf's unknown fields.
void forEachMetadata(const google::protobuf::Message &message, int number,
                     llvm::function_ref<void(llvm::StringRef, llvm::StringRef)> fn) {
  const google::protobuf::Reflection *reflection = message.GetReflection();
  if (const google::protobuf::FieldDescriptor *field =
          message.GetDescriptor()->FindFieldByNumber(number)) {
    if (!field->is_repeated() || field->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE)
      return;
    for (int i = 0, e = reflection->FieldSize(message, field); i < e; ++i) {
      onnx::StringStringEntryProto entry;
      entry.CopyFrom(reflection->GetRepeatedMessage(message, field, i));
      fn(entry.key(), entry.value());
    }
    return;
  }
  const google::protobuf::UnknownFieldSet &unknown = reflection->GetUnknownFields(message);
  for (int i = 0, e = unknown.field_count(); i < e; ++i) {
    const google::protobuf::UnknownField &f = unknown.field(i);
    if (f.number() != number || f.type() != google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED)
      continue;
    onnx::StringStringEntryProto entry;
    if (entry.ParseFromString(f.length_delimited()))
      fn(entry.key(), entry.value());
  }
}

/// "parameter", "buffer" or "constant" for a torch.export InputSpec kind.
llvm::StringRef kindName(llvm::StringRef specKind) {
  if (specKind == "PARAMETER")
    return "parameter";
  if (specKind == "BUFFER")
    return "buffer";
  return "constant";
}

/// The module path in a name_scopes value: the next-to-last entry of the Python list
/// ("['', 'h.1', 'h.1.ln', 'layer_norm_1']" -> "h.1.ln"; the root module is "").
std::string modulePath(llvm::StringRef scopes) {
  llvm::SmallVector<std::string> entries;
  static const llvm::Regex quoted("'([^']*)'");
  llvm::SmallVector<llvm::StringRef, 2> match;
  llvm::StringRef rest = scopes;
  while (quoted.match(rest, &match)) {
    entries.push_back(match[1].str());
    rest = rest.substr(match[0].data() - rest.data() + match[0].size());
  }
  return entries.size() >= 2 ? entries[entries.size() - 2] : std::string();
}

} // namespace

ExporterInfo readExporterInfo(const onnx::ModelProto &model) {
  ExporterInfo info;
  const onnx::GraphProto &graph = model.graph();
  // Lifted inputs by target name, from the signature text, then the value_info entries.
  llvm::StringMap<std::string> kinds;
  forEachMetadata(graph, 16, [&](llvm::StringRef key, llvm::StringRef value) {
    if (key != kSignatureKey)
      return;
    info.present = true;
    static const llvm::Regex spec("^[^:]+: ([A-Z_]+) target='([^']*)'");
    llvm::SmallVector<llvm::StringRef> lines;
    value.split(lines, '\n');
    for (llvm::StringRef line : lines) {
      if (line.trim() == "# outputs")
        break;
      llvm::SmallVector<llvm::StringRef, 3> m;
      if (spec.match(line.trim(), &m))
        kinds[m[2]] = m[1].str();
    }
  });
  for (const onnx::ValueInfoProto &vi : graph.value_info())
    forEachMetadata(vi, 9, [&](llvm::StringRef key, llvm::StringRef value) {
      if (key != kInputKindKey)
        return;
      info.present = true;
      kinds[vi.name()] = value.str();
    });
  if (!info.present)
    return info;

  llvm::StringSet<> initializerNames, graphInputs;
  for (const onnx::TensorProto &init : graph.initializer()) {
    initializerNames.insert(init.name());
    auto it = kinds.find(init.name());
    info.kind[init.name()] = kindName(it == kinds.end() ? "" : it->second).str();
  }
  for (const onnx::ValueInfoProto &input : graph.input())
    graphInputs.insert(input.name());

  // Parameters and buffers of the signature that no initializer carries.
  llvm::StringSet<> missing;
  for (const auto &entry : kinds)
    if ((entry.second == "PARAMETER" || entry.second == "BUFFER") &&
        !initializerNames.contains(entry.first()) && !graphInputs.contains(entry.first()))
      missing.insert(entry.first());

  // A node of module M that reads initializer `a.b.w` where `M.w` is missing: `M.w` was
  // merged into `a.b.w`. A node an optimizer rule rewrote (a BatchNorm fused into the Gemm
  // before it, reading the Gemm's weight) shows a fusion, not a merge.
  llvm::StringSet<> explained;
  for (const onnx::NodeProto &node : graph.node()) {
    std::optional<std::string> path;
    std::string rule;
    forEachMetadata(node, 9, [&](llvm::StringRef key, llvm::StringRef value) {
      if (key == kNameScopesKey)
        path = modulePath(value);
      else if (key == kRewriteRuleKey)
        rule = value.str();
    });
    if (!rule.empty() && !llvm::is_contained(info.rewriteRules, rule))
      info.rewriteRules.push_back(rule);
    if (!path || !rule.empty())
      continue;
    for (const std::string &input : node.input()) {
      auto kind = info.kind.find(input);
      if (kind == info.kind.end() || kind->second == "constant")
        continue;
      llvm::StringRef leaf = llvm::StringRef(input).rsplit('.').second;
      if (leaf.empty())
        leaf = input;
      std::string candidate = path->empty() ? leaf.str() : *path + "." + leaf.str();
      if (candidate == input || !missing.contains(candidate))
        continue;
      std::vector<std::string> &names = info.merged[input];
      if (!llvm::is_contained(names, candidate))
        names.push_back(candidate);
      explained.insert(candidate);
    }
  }
  for (const auto &entry : missing)
    if (!explained.contains(entry.first()))
      info.unaccounted.push_back(entry.first().str());
  llvm::sort(info.unaccounted);
  return info;
}

} // namespace precis::onnx_import
