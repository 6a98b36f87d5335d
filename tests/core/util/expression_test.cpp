// The expression language shared by objectives and targets: signed weighted terms,
// calls with positional, named and quoted arguments, the shorthand, and its errors.
#include "core/util/expression.h"

#include <gtest/gtest.h>

#include "core/util/error.h"

namespace clipscope {
namespace {

TEST(Expression, SignedWeightedTermsWithCallsAndShorthands) {
  const auto t = parse_expression("-2 * unit(visual.layer4, 7) * 0.5 + visual.layer3:1 - 1e-2 * text(sad)", "target");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_TRUE(t[0].negative);
  EXPECT_DOUBLE_EQ(t[0].weight, 1.0);
  ASSERT_TRUE(t[0].call);
  EXPECT_EQ(t[0].call->name, "unit");
  EXPECT_EQ(t[0].call->positional, (std::vector<std::string>{"visual.layer4", "7"}));
  EXPECT_FALSE(t[1].negative);
  EXPECT_FALSE(t[1].call);
  EXPECT_EQ(t[1].shorthand, "visual.layer3:1");
  EXPECT_TRUE(t[2].negative);
  EXPECT_DOUBLE_EQ(t[2].weight, 0.01);
}

TEST(Expression, QuotedArgumentsKeepCommasParenthesesAndSpaces) {
  const auto t = parse_expression(R"(text("i am, (very) happy ", n=3) + image(photos/a b.png))", "target");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].call->positional, std::vector<std::string>{"i am, (very) happy "});
  EXPECT_EQ(t[0].call->arg(99, "n"), "3");
  EXPECT_EQ(t[0].call->arg(1, "m"), std::nullopt);
  EXPECT_EQ(t[1].call->positional, std::vector<std::string>{"photos/a b.png"});
  EXPECT_EQ(parse_expression(R"(text(""))", "target")[0].call->positional, std::vector<std::string>{""});
}

TEST(Expression, ErrorsNameTheExpressionAndTheProblem) {
  const auto message = [](const std::string& text) {
    try {
      parse_expression(text, "target");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message("  ").find("target '  ': the target is empty"), std::string::npos) << message("  ");
  EXPECT_NE(message("unit(a, 1) text(b)").find("expected + or -"), std::string::npos);
  EXPECT_NE(message("unit(a, 1) * text(b)").find("a term multiplies two targets"), std::string::npos);
  EXPECT_NE(message("2 * 3").find("a term has a number but no target"), std::string::npos);
  EXPECT_NE(message("text(a").find("text( is not closed"), std::string::npos);
  EXPECT_NE(message("unit(a, , 1)").find("an argument is empty"), std::string::npos);
  EXPECT_NE(message("unit(n=1, a)").find("'a' comes after a named argument"), std::string::npos);
  EXPECT_NE(message("banana").find("'banana' is not a number"), std::string::npos);
  EXPECT_NE(message("unit(a, 1) +").find("a term is missing at the end"), std::string::npos);
}

}  // namespace
}  // namespace clipscope
