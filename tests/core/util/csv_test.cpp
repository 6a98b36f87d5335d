// The one CSV mechanic: what csv_field writes, csv_fields reads back.
#include "core/util/csv.h"

#include <gtest/gtest.h>

namespace clipscope {
namespace {

TEST(Csv, FieldsAreQuotedOnlyWhenTheyMustBe) {
  EXPECT_EQ(csv_field("japan"), "japan");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("korea, south"), "\"korea, south\"");
  EXPECT_EQ(csv_field("the \"best\" unit"), "\"the \"\"best\"\" unit\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
}

TEST(Csv, WhatIsWrittenIsReadBack) {
  const std::vector<std::string> row = {"plain", "with, comma", "with \"quotes\"", "", "\u00e9t\u00e9"};
  std::string line;
  for (size_t i = 0; i < row.size(); ++i) line += (i ? "," : "") + csv_field(row[i]);
  EXPECT_EQ(csv_fields(line), row);
  EXPECT_EQ(csv_fields(line + "\r"), row);  // a CRLF file's line
  EXPECT_EQ(csv_fields("a,,b"), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(csv_fields(""), (std::vector<std::string>{""}));
}

}  // namespace
}  // namespace clipscope
