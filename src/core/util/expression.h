#pragma once
// The small expression language of objectives and targets: a signed sum of terms,
// each a call (or a LAYER:UNIT shorthand) with optional numeric factors:
//   "channel(visual.layer4, 12) - 0.05 * tv() + 2 * visual.layer3:1 * 0.5"
//   "unit(visual.layer4, 7) - 0.5 * text(\"a sad face\")"
// Arguments are positional then named (key=value); an argument in double quotes may
// hold commas and parentheses (the quotes are removed). What a call means is up to the
// caller (optvis's objectives, maximal text's targets).
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace clipscope {

struct ExpressionCall {
  std::string name;
  std::vector<std::string> positional;
  std::map<std::string, std::string> named;
  // Positional argument i or the named one `key`, or nullopt.
  std::optional<std::string> arg(size_t i, const std::string& key) const;
};

struct ExpressionTerm {
  bool negative = false;  // subtracted (or the first term negated)
  double weight = 1;      // the product of the term's numeric factors
  std::optional<ExpressionCall> call;
  std::string shorthand;  // "LAYER:UNIT" when the term is not a call
};

// Throws Error "{what} '{text}': {why}" for an empty expression, a term without or with
// two calls, a word that is neither a number, a LAYER:UNIT nor a call, an unclosed call,
// an empty argument or a positional argument after a named one.
std::vector<ExpressionTerm> parse_expression(const std::string& text, const std::string& what);

}  // namespace clipscope
