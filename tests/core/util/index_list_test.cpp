// Lists of indices as users type them ("0-9,12", "all"), and what is wrong with bad ones.
#include "core/util/index_list.h"

#include <gtest/gtest.h>

#include "support/shared_data.h"

namespace clipscope {
namespace {

TEST(IndexList, ParsesIndicesRangesAndAllAndNamesWhatIsWrong) {
  EXPECT_EQ(parse_index_list("3", 10, "unit", "x"), (std::vector<int64_t>{3}));
  EXPECT_EQ(parse_index_list("7, 1-3,0", 10, "unit", "x"), (std::vector<int64_t>{7, 1, 2, 3, 0}));
  EXPECT_EQ(parse_index_list("all", 3, "unit", "x"), (std::vector<int64_t>{0, 1, 2}));
  const auto message = [](std::string_view list) {
    return testing::error_message([&] { parse_index_list(list, 10, "unit", "layer4 (10 units)"); });
  };
  EXPECT_EQ(message("3-12"), "unit 3-12: unit 12 is out of range for layer4 (10 units)");
  EXPECT_EQ(message("5-2"), "unit 5-2: '5-2' is not an index or a range A-B");
  EXPECT_EQ(message("a"), "unit a: 'a' is not an index or a range A-B");
  EXPECT_EQ(message("-1"), "unit -1: '-1' is not an index or a range A-B");
  EXPECT_EQ(message("1,,2"), "unit 1,,2: '' is not an index or a range A-B");
}

}  // namespace
}  // namespace clipscope
