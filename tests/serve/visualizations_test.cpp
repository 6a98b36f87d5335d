// The feature-visualization index: which visualize.json images the page shows.
#include "serve/visualizations.h"

#include <gtest/gtest.h>

#include "support/shared_data.h"

namespace fs = std::filesystem;
using clipscope::serve::VisualizationIndex;
using clipscope::testing::write_file;

namespace {

std::optional<std::string> atlas_layers(const std::string& name) {
  if (name == "visual.layer4" || name == "image_block_4/2/Add_6") return std::string("visual.layer4");
  return std::nullopt;
}

TEST(VisualizationIndex, ReadsPlainAndFacetReportsAndSkipsTheRest) {
  const fs::path dir = clipscope::testing::temp_dir("vis-index");
  write_file(dir / "plain/visualize.json", R"({"method": "lucid", "renders": [{"images": [
      {"file": "a.png", "layer": "visual.layer4", "unit": 3, "activation": 2.5},
      {"file": "b.png", "layer": "visual.layer3", "unit": 3},
      {"file": "gone.png", "layer": "visual.layer4", "unit": 9}]},
    {"images": [{"file": "objective_0.png"}]}]})");
  write_file(dir / "plain/a.png", "png");
  write_file(dir / "plain/b.png", "png");
  write_file(dir / "plain/objective_0.png", "png");
  write_file(dir / "facets/visualize.json",
             R"({"method": "lucid", "facet": {"probe": "probes/face.npy"}, "renders": [{"images": [
      {"file": "f_0.png", "layer": "image_block_4/2/Add_6", "unit": 3},
      {"file": "f_1.png", "layer": "image_block_4/2/Add_6", "unit": 3}]}]})");
  write_file(dir / "facets/f_0.png", "png");
  write_file(dir / "facets/f_1.png", "png");
  write_file(dir / "broken/visualize.json", "{not json");

  VisualizationIndex index;
  index.scan(dir, atlas_layers);
  EXPECT_EQ(index.skipped_reports(), 1);
  const auto vis = index.for_unit("visual.layer4", 3);
  ASSERT_EQ(vis.size(), 3u);
  // The plain visualization first (thumbnails use it), then the facets in batch order.
  EXPECT_EQ(vis[0].kind, "channel");
  EXPECT_EQ(vis[0].label, "lucid");
  EXPECT_EQ(vis[0].file, dir / "plain/a.png");
  EXPECT_DOUBLE_EQ(*vis[0].activation, 2.5);
  EXPECT_EQ(vis[1].kind, "facet");
  EXPECT_EQ(vis[1].label, "facet face #1");
  EXPECT_EQ(vis[2].label, "facet face #2");
  EXPECT_FALSE(vis[1].activation);
  // Other layers, missing files and free objectives are left out.
  EXPECT_TRUE(index.for_unit("visual.layer4", 9).empty());
  EXPECT_EQ(index.count("visual.layer4"), 1);
  for (const auto& v : vis) EXPECT_EQ(index.get(v.id)->file, v.file);
  EXPECT_FALSE(index.get(-1));
  EXPECT_FALSE(index.get(3));
  fs::remove_all(dir);
}

TEST(VisualizationIndex, MissingFolderIsEmpty) {
  VisualizationIndex index;
  index.scan("/nonexistent/clipscope/optvis", atlas_layers);
  EXPECT_EQ(index.count("visual.layer4"), 0);
  EXPECT_EQ(index.skipped_reports(), 0);
}

}  // namespace
