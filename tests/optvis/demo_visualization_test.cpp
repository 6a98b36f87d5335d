// Feature visualization against the synthetic world's ground truth, on the shipped
// demo model: the units the demo report finds for each colour and shape (computed
// here from the world, not stored) are rendered with lucid's defaults, and the
// images are checked for the concept: a colour unit's image is dominated by its
// colour, a shape unit's image drives the unit harder than any world image does.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "core/hub/zoo.h"
#include "core/model/loader.h"
#include "core/model/tensor_io.h"
#include "demo/report.h"
#include "optvis/objectives.h"
#include "optvis/param.h"
#include "optvis/render.h"
#include "world/concepts.h"
#include "world/generator.h"

namespace clipscope::optvis {
namespace {

namespace fs = std::filesystem;

class DemoVisualization : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(demo_model_path())) return;
    model_ = new CLIP(load_clip(std::string(kDemoModelName)));
    const Tokenizer tokenizer(resolve_vocab_path(std::nullopt, {}, std::string(kDemoModelName)),
                              static_cast<int>((*model_)->config().vocab_size));
    // Only the unit search matters here; the other measurements are kept small.
    demo::ReportOptions o;
    o.retrieval_pairs = 100;
    o.zero_shot_images = 8;
    o.attack_images = 4;
    o.stroop_images = 1;
    report_ = new demo::Report(demo::demo_report(*model_, tokenizer, o));
    (*model_)->eval();
    for (auto& p : (*model_)->parameters()) p.requires_grad_(false);
  }
  static void TearDownTestSuite() {
    delete report_;
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    if (!model_) GTEST_SKIP() << "demo model not found (train it with train-demo)";
  }

  // One image per unit, rendered together with lucid's defaults (Fourier,
  // decorrelated, standard transforms, redirected ReLU for 16 steps).
  static torch::Tensor visualize(const std::vector<int64_t>& units, int steps) {
    Objective objective = channel("visual.layer4", units[0], 0);
    for (size_t i = 1; i < units.size(); ++i) objective = objective + channel("visual.layer4", units[i], i);
    ParamOptions p;
    p.batch = static_cast<int64_t>(units.size());
    p.height = p.width = 64;
    p.seed = 3;
    auto param = make_image_param(p);
    RenderOptions r;
    r.steps = steps;
    r.seed = 3;
    return render(*model_, objective, *param, r).back().images;
  }

  static CLIP* model_;
  static demo::Report* report_;
};
CLIP* DemoVisualization::model_ = nullptr;
demo::Report* DemoVisualization::report_ = nullptr;

// The share of an image's pixels showing each of the world's eight colours: a
// saturated pixel (max - min > 0.25, not dark) shows the nearest chromatic colour, a
// dark one (max < 0.2) shows black, and grey-ish pixels show none.
std::vector<double> colour_shares(const torch::Tensor& chw) {
  const auto& colours = world::colors();
  const torch::Tensor pixels = chw.permute({1, 2, 0}).reshape({-1, 3}).to(torch::kFloat64);
  std::vector<float> palette;
  for (const auto& c : colours)
    for (uint8_t v : {c.rgb[0], c.rgb[1], c.rgb[2]}) palette.push_back(c.name == "black" ? 10.0f : v / 255.0f);
  const torch::Tensor centres = torch::tensor(palette, torch::kFloat32).view({-1, 3}).to(torch::kFloat64);
  const torch::Tensor nearest = torch::cdist(pixels, centres).argmin(1);  // black's centre is out of reach
  const torch::Tensor brightness = std::get<0>(pixels.max(1));
  const torch::Tensor chromatic = (brightness - std::get<0>(pixels.min(1)) > 0.25) & (brightness >= 0.2);
  std::vector<double> shares;
  for (size_t c = 0; c < colours.size(); ++c) {
    const torch::Tensor shows =
        colours[c].name == "black" ? brightness < 0.2 : (nearest == static_cast<int64_t>(c)) & chromatic;
    shares.push_back(shows.sum().item<double>() / pixels.size(0));
  }
  return shares;
}

// Whether colour c leads: a chromatic colour must have more pixels than every other
// chromatic colour (visualizations also draw dark edges, which say nothing about
// hue); black must have more than every chromatic colour.
bool leads(const std::vector<double>& shares, size_t c) {
  const bool black = world::colors()[c].name == "black";
  for (size_t k = 0; k < shares.size(); ++k)
    if (k != c && (black || world::colors()[k].name != "black") && shares[k] >= shares[c]) return false;
  return true;
}

TEST_F(DemoVisualization, AColourUnitsImageIsDominatedByItsColour) {
  const auto& units = report_->color_units;
  std::vector<int64_t> ids;
  for (const auto& u : units) ids.push_back(u.unit);
  const torch::Tensor images = visualize(ids, 256);
  int dominated = 0;
  bool red = false;
  for (size_t c = 0; c < units.size(); ++c) {
    const auto shares = colour_shares(images[c]);
    const bool hit = leads(shares, c);
    dominated += hit;
    if (units[c].name == "red") red = hit;
    std::string row;
    for (size_t k = 0; k < shares.size(); ++k) row += fmt::format(" {}={:.2f}", world::colors()[k].name, shares[k]);
    std::cout << fmt::format("{:>7} unit {:>3}:{}{}\n", units[c].name, units[c].unit, row,
                             hit ? "  <- its colour" : "");
  }
  EXPECT_TRUE(red) << "the red unit's image is not mostly red";
  // The issue asks for red and two more. (The first edition's model gave more; the second
  // edition's colour units also answer to written words and other concepts, and their
  // images are paler: 3 of 8 measured, red, orange and black.)
  EXPECT_GE(dominated, 3) << "of " << units.size() << " colour units";
}

TEST_F(DemoVisualization, AShapeUnitsImageDrivesItHarderThanAnyWorldImage) {
  // The world's images: 512 random items (objects, faces, words, mixed scenes).
  const world::World world(1 + 1000003, world::WorldOptions::first_edition());
  TextRasterizer raster;
  std::vector<Image> items;
  for (uint64_t i = 0; i < 512; ++i) items.push_back(world.sample(i, raster).image);
  torch::Tensor world_acts;
  {
    torch::NoGradGuard no_grad;
    ActivationCache cache({"visual.layer4"});
    (*model_)->run_image(preprocess_batch(items, 64), cache);
    world_acts = reduce_positions(cache["visual.layer4"], cache.layout("visual.layer4"), Reduce::Mean);
  }
  std::vector<int64_t> ids;
  for (const auto& u : report_->shape_units) ids.push_back(u.unit);
  const torch::Tensor images = visualize(ids, 256);
  int beaten = 0;
  for (size_t s = 0; s < ids.size(); ++s) {
    const double best_world = world_acts.select(1, ids[s]).max().item<double>();
    const double vis = evaluate(*model_, channel("visual.layer4", ids[s], s), images);
    beaten += vis > best_world;
    std::cout << fmt::format("{:>9} unit {:>3}: visualization {:.2f}, best of 512 world images {:.2f}\n",
                             report_->shape_units[s].name, ids[s], vis, best_world);
  }
  EXPECT_EQ(beaten, static_cast<int>(ids.size()));
}

}  // namespace
}  // namespace clipscope::optvis
