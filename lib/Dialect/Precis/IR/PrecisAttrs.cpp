//===- PrecisAttrs.cpp - precis attributes ----------------------*- C++ -*-===//
//
// The `#precis.decision` attribute: its verifier and its short custom syntax,
//
//   #precis.decision<rule [in-types] [-> out] [acc type], "reason">
//
// compact enough that an op with its decision fits on one line.
//
//===----------------------------------------------------------------------===//

#include "precis/Dialect/Precis/IR/PrecisOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::precis;

#define GET_ATTRDEF_CLASSES
#include "precis/Dialect/Precis/IR/PrecisAttrs.cpp.inc"

void PrecisDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "precis/Dialect/Precis/IR/PrecisAttrs.cpp.inc"
      >();
}

LogicalResult DecisionAttr::verify(function_ref<InFlightDiagnostic()> emitError, DecisionRule rule,
                                   unsigned ruleIndex, ArrayRef<Type> in, Type out, Type acc,
                                   StringRef reason) {
  if ((rule == DecisionRule::User) != (ruleIndex != 0))
    return emitError() << "a rule index goes with the user rule, and only with it";
  auto isFloat = [](Type t) { return !t || llvm::isa<FloatType>(t); };
  if (!llvm::all_of(in, isFloat) || !isFloat(out) || !isFloat(acc))
    return emitError() << "decision precisions must be float types";
  return success();
}

std::string DecisionAttr::getRuleName() const {
  if (getRule() == DecisionRule::User)
    return ("user." + Twine(getRuleIndex())).str();
  return stringifyDecisionRule(getRule()).str();
}

Type DecisionAttr::getOperandType(unsigned index) const {
  ArrayRef<Type> in = getIn();
  if (in.empty())
    return {};
  return in.size() == 1 ? in[0] : in[std::min<size_t>(index, in.size() - 1)];
}

void DecisionAttr::print(AsmPrinter &p) const {
  p << '<';
  p.printKeywordOrString(getRuleName());
  ArrayRef<Type> in = getIn();
  if (in.size() == 1) {
    p << ' ' << in[0];
  } else if (!in.empty()) {
    p << " (";
    llvm::interleaveComma(in, p);
    p << ')';
  }
  if (getOut())
    p << " -> " << getOut();
  if (getAcc())
    p << " acc " << getAcc();
  p << ", ";
  p.printString(getReason());
  p << '>';
}

Attribute DecisionAttr::parse(AsmParser &parser, Type) {
  std::string name, reason;
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseLess() || parser.parseKeywordOrString(&name))
    return {};
  unsigned index = 0;
  StringRef ruleName = name;
  if (ruleName.consume_front("user.")) {
    if (ruleName.getAsInteger(10, index) || index == 0) {
      parser.emitError(loc, "expected 'user.N' with N >= 1");
      return {};
    }
    ruleName = "user";
  }
  std::optional<DecisionRule> rule = symbolizeDecisionRule(ruleName);
  if (!rule || (*rule == DecisionRule::User && index == 0)) {
    parser.emitError(loc, "unknown decision rule '") << name << "'";
    return {};
  }
  SmallVector<Type> in;
  Type out, acc;
  if (succeeded(parser.parseOptionalLParen())) {
    if (parser.parseTypeList(in) || parser.parseRParen())
      return {};
  } else {
    Type one;
    OptionalParseResult parsed = parser.parseOptionalType(one);
    if (parsed.has_value()) {
      if (failed(*parsed))
        return {};
      in.push_back(one);
    }
  }
  if (succeeded(parser.parseOptionalArrow()) && parser.parseType(out))
    return {};
  if (succeeded(parser.parseOptionalKeyword("acc")) && parser.parseType(acc))
    return {};
  if (parser.parseComma() || parser.parseString(&reason) || parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(loc); }, parser.getContext(), *rule, index, in,
                    out, acc, reason);
}
