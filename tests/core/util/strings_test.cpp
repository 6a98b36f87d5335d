#include "core/util/strings.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "core/util/error.h"

namespace clipscope {
namespace {

TEST(Strings, TrimRemovesAsciiWhiteSpaceAtBothEndsOnly) {
  EXPECT_EQ(trim("  a b\t\r\n"), "a b");
  EXPECT_EQ(trim("\v\fx"), "x");
  EXPECT_EQ(trim(" \t\r\n"), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("caf\xc3\xa9 "), "caf\xc3\xa9");  // UTF-8 bytes are not white space
}

TEST(Strings, SplitKeepsEmptyPieces) {
  EXPECT_EQ(split("a,,b", ','), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(split("", ','), (std::vector<std::string>{""}));
}

TEST(Strings, ToNumberReadsTheWholeTextOrNothing) {
  EXPECT_EQ(to_number<int>("42"), 42);
  EXPECT_EQ(to_number<int>("+7"), 7);
  EXPECT_EQ(to_number<int>("-3"), -3);
  EXPECT_EQ(to_number<double>("1e3"), 1000.0);
  EXPECT_EQ(to_number<double>("-0.25"), -0.25);
  EXPECT_EQ(to_number<int64_t>("9223372036854775807"), std::numeric_limits<int64_t>::max());
  for (const char* bad : {"", " 1", "1 ", "1x", "0x10", "+", "+-1", "1.5", "--1"})
    EXPECT_FALSE(to_number<int>(bad)) << "'" << bad << "'";
  for (const char* bad : {"", "inf", "nan", "-inf", "1e999", "1,5", "."})
    EXPECT_FALSE(to_number<double>(bad)) << "'" << bad << "'";
  EXPECT_FALSE(to_number<int>("4294967296"));  // out of range
  EXPECT_FALSE(to_number<size_t>("-1"));
}

TEST(Strings, ParseNumberNamesTheValueAndTheProblem) {
  EXPECT_EQ(parse_number<int>("12", "k"), 12);
  try {
    parse_number<int>("12x", "atlas metadata k");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "atlas metadata k '12x': not an integer");
  }
  try {
    parse_number<double>("big", "size");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "size 'big': not a number");
  }
  try {
    parse_number<int8_t>("300", "level");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "level '300': out of range");
  }
}

TEST(Error, AnArgumentErrorNamesTheParameterNotAFlag) {
  const ArgumentError e("batch_size", "0", "must be positive");
  EXPECT_STREQ(e.what(), "batch_size 0: must be positive");
  EXPECT_EQ(e.parameter(), "batch_size");
  EXPECT_EQ(e.value(), "0");
  EXPECT_EQ(e.problem(), "must be positive");
  EXPECT_STREQ(ArgumentError("layers", "", "name at least one layer").what(), "layers: name at least one layer");
}

}  // namespace
}  // namespace clipscope
