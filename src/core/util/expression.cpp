#include "core/util/expression.h"

#include <fmt/format.h>

#include <cctype>

#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope {

std::optional<std::string> ExpressionCall::arg(size_t i, const std::string& key) const {
  if (auto it = named.find(key); it != named.end()) return it->second;
  if (i < positional.size()) return positional[i];
  return std::nullopt;
}

namespace {

bool is_word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/' || c == ':';
}

class Parser {
 public:
  Parser(const std::string& text, const std::string& what) : text_(text), what_(what) {}

  std::vector<ExpressionTerm> parse() {
    skip();
    if (pos_ >= text_.size()) fail(fmt::format("the {} is empty", what_));
    std::vector<ExpressionTerm> terms;
    bool negative = false;
    if (text_[pos_] == '-') {
      negative = true;
      ++pos_;
    }
    terms.push_back(term(negative));
    for (skip(); pos_ < text_.size(); skip()) {
      const char op = text_[pos_];
      if (op != '+' && op != '-') fail(fmt::format("expected + or - at '{}'", text_.substr(pos_)));
      ++pos_;
      terms.push_back(term(op == '-'));
    }
    return terms;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw Error(fmt::format("{} '{}': {}", what_, text_, why)); }
  void skip() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  // number * call * number ..., exactly one call (or LAYER:UNIT).
  ExpressionTerm term(bool negative) {
    ExpressionTerm t;
    t.negative = negative;
    bool has_target = false;
    while (true) {
      skip();
      const size_t start = pos_;
      while (pos_ < text_.size() &&
             (is_word_char(text_[pos_]) ||
              ((text_[pos_] == '-' || text_[pos_] == '+') && pos_ > start &&
               (text_[pos_ - 1] == 'e' || text_[pos_ - 1] == 'E') && to_number<double>(text_.substr(start, 1)))))
        ++pos_;
      const std::string word = text_.substr(start, pos_ - start);
      if (word.empty())
        fail(pos_ < text_.size() ? fmt::format("expected a term at '{}'", text_.substr(pos_))
                                 : "a term is missing at the end");
      skip();
      if (pos_ < text_.size() && text_[pos_] == '(') {
        if (has_target) fail(fmt::format("'{}': a term multiplies two {}s", word, what_));
        t.call = call(word);
        has_target = true;
      } else if (auto v = to_number<double>(word)) {
        t.weight *= *v;
      } else if (const auto colon = word.rfind(':');
                 colon != std::string::npos && to_number<double>(word.substr(colon + 1))) {
        if (has_target) fail(fmt::format("'{}': a term multiplies two {}s", word, what_));
        t.shorthand = word;
        has_target = true;
      } else {
        fail(fmt::format("'{}' is not a number, a LAYER:UNIT or a call like NAME(ARGUMENTS)", word));
      }
      skip();
      if (pos_ < text_.size() && text_[pos_] == '*') {
        ++pos_;
        continue;
      }
      break;
    }
    if (!has_target) fail(fmt::format("a term has a number but no {}", what_));
    return t;
  }

  ExpressionCall call(const std::string& name) {
    ++pos_;  // '('
    ExpressionCall c{name, {}, {}};
    std::string arg;
    int depth = 0;
    bool quoted = false, had_quotes = false;
    for (; pos_ < text_.size(); ++pos_) {
      const char ch = text_[pos_];
      if (ch == '"') {
        quoted = !quoted;
        had_quotes = true;
        continue;
      }
      if (!quoted) {
        if (ch == '(') ++depth;
        if (ch == ')' && depth-- == 0) break;
        if (ch == ',' && depth == 0) {
          add_arg(c, arg, had_quotes);
          arg.clear();
          had_quotes = false;
          continue;
        }
      }
      arg += ch;
    }
    if (pos_ >= text_.size()) fail(fmt::format("{}( is not closed", name));
    ++pos_;  // ')'
    if (had_quotes || !trim(arg).empty() || !c.positional.empty() || !c.named.empty()) add_arg(c, arg, had_quotes);
    return c;
  }

  void add_arg(ExpressionCall& c, const std::string& raw, bool quoted) {
    const std::string a = quoted ? raw : std::string(trim(raw));
    if (a.empty() && !quoted) fail(fmt::format("{}(): an argument is empty", c.name));
    const auto eq = quoted ? std::string::npos : a.find('=');
    if (eq != std::string::npos) {
      c.named[std::string(trim(a.substr(0, eq)))] = trim(a.substr(eq + 1));
    } else {
      if (!c.named.empty()) fail(fmt::format("{}(): '{}' comes after a named argument", c.name, a));
      c.positional.push_back(a);
    }
  }

  const std::string& text_;
  const std::string& what_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<ExpressionTerm> parse_expression(const std::string& text, const std::string& what) {
  return Parser(text, what).parse();
}

}  // namespace clipscope
