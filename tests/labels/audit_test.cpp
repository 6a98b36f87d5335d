// The audit's arithmetic: Wilson's interval and reading a filled sheet back. (The sheet
// itself is written from a demo atlas in families_test.cpp, which builds one.)
#include "labels/audit.h"

#include <gtest/gtest.h>

#include "core/util/error.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"

namespace clipscope::labels {
namespace {

namespace fs = std::filesystem;

TEST(Audit, WilsonIntervalMatchesTheFormula) {
  // 38 of 50 (the article's 76 %): 0.626 to 0.857.
  const auto [lo, hi] = wilson_interval(38, 50);
  EXPECT_NEAR(lo, 0.6259, 5e-4);
  EXPECT_NEAR(hi, 0.8570, 5e-4);
  // All or none: the interval stays inside [0, 1] and is not empty.
  const auto [lo0, hi0] = wilson_interval(0, 10);
  EXPECT_DOUBLE_EQ(lo0, 0.0);
  EXPECT_NEAR(hi0, 0.2775, 5e-4);
  const auto [lo1, hi1] = wilson_interval(10, 10);
  EXPECT_NEAR(lo1, 0.7225, 5e-4);
  EXPECT_DOUBLE_EQ(hi1, 1.0);
}

TEST(Audit, AFilledSheetIsScoredAndBadValuesAreRefused) {
  const fs::path dir = testing::temp_dir("audit-score");
  testing::write_file(dir / "audit.csv",
                      "id,layer,unit,family,words,labels,interpretable,notes\n"
                      "1,visual.layer4,3,other,\"red, blue\",red,y,\n"
                      "2,visual.layer4,9,regional,france,paris,Yes,\"a map, clearly\"\n"
                      "3,visual.layer4,12,,,,n,\n"
                      "4,visual.layer4,40,,,,,\n"
                      "\n");
  const auto s = score_audit(dir / "audit.csv");
  EXPECT_EQ(s.rated, 3);
  EXPECT_EQ(s.interpretable, 2);
  EXPECT_EQ(s.unrated, 1);
  EXPECT_NEAR(s.share, 2.0 / 3.0, 1e-12);
  EXPECT_EQ(std::make_pair(s.low, s.high), wilson_interval(2, 3));

  testing::write_file(dir / "bad.csv", "id,interpretable\n1,y\n2,maybe\n");
  EXPECT_EQ(testing::error_message([&] { score_audit(dir / "bad.csv"); }),
            (dir / "bad.csv").string() + ":3: interpretable 'maybe': expected y or n");
  testing::write_file(dir / "blank.csv", "id,interpretable\n1,\n");
  EXPECT_NE(testing::error_message([&] { score_audit(dir / "blank.csv"); }).find("no unit rated yet"),
            std::string::npos);
  testing::write_file(dir / "other.csv", "id,label\n1,y\n");
  EXPECT_NE(testing::error_message([&] { score_audit(dir / "other.csv"); }).find("no interpretable column"),
            std::string::npos);
  EXPECT_THROW(score_audit(dir / "missing.csv"), Error);
}

}  // namespace
}  // namespace clipscope::labels
