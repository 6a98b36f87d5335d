// Circuits: expanded weights equal the Jacobian of the block written out by hand with its
// ReLUs as identities; residual shares equal a hand computation from captured points;
// the follow-up's names resolve; bad arguments are one-line errors.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "circuits/contributions.h"
#include "circuits/expanded_weights.h"
#include "circuits/residual_share.h"
#include "core/hub/zoo.h"
#include "core/image/image.h"
#include "core/model/linear_relu.h"
#include "core/model/modules.h"
#include "core/model/point_names.h"
#include "core/util/npy.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"
#include "support/tiny_models.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;
using torch::Tensor;

CLIP tiny_resnet() { return testing::tiny_model(testing::tiny_resnet_config(), 11); }

BottleneckImpl& bottleneck(CLIP& model, int stage, int block) {
  auto& resnet = dynamic_cast<ModifiedResNet&>(*model->visual);
  return *(*resnet.stages[static_cast<size_t>(stage - 1)])[static_cast<size_t>(block)]->as<BottleneckImpl>();
}

Tensor batch_norm(const torch::nn::BatchNorm2d& bn, const Tensor& x) {
  return F::batch_norm(x, bn->running_mean, bn->running_var,
                       F::BatchNormFuncOptions().weight(bn->weight).bias(bn->bias).eps(bn->options.eps()));
}

TEST(ExpandedWeights, AreTheJacobianOfTheBlockWrittenOutWithLinearReLUs) {
  CLIP model = tiny_resnet();
  // visual.layer3.1 -> visual.layer3.2: one bottleneck without a downsample, so
  // y = bn3(conv3(bn2(conv2(bn1(conv1(x)))))) + x with the ReLUs taken out.
  auto& b = bottleneck(model, 3, 2);
  ASSERT_FALSE(b.downsample);
  const auto w = circuits::expanded_weights(model, "visual.layer3.1", "visual.layer3.2", 5);
  const int64_t c = w.weights.size(0), h = w.weights.size(1), wd = w.weights.size(2);
  const Tensor x = torch::randn({1, c, h, wd}, torch::kFloat).requires_grad_(true);
  Tensor y = batch_norm(b.bn1, b.conv1(x));
  y = batch_norm(b.bn2, b.conv2(y));
  y = batch_norm(b.bn3, b.conv3(y)) + x;
  const Tensor direct = torch::autograd::grad({y[0][5][w.cy][w.cx]}, {x})[0][0];
  EXPECT_TRUE(torch::allclose(w.weights, direct, 1e-5, 1e-6)) << (w.weights - direct).abs().max().item<double>();
  // The shortcut puts 1 at the unit itself, in its own cell.
  EXPECT_GT(w.weights[5][w.from_y][w.from_x].item<double>(), 0.5);
  // Ranked by the kernel's L2 norm, best first, every input unit once.
  ASSERT_EQ(w.ranked.size(), static_cast<size_t>(c));
  for (size_t i = 1; i < w.ranked.size(); ++i) EXPECT_GE(w.ranked[i - 1].second, w.ranked[i].second);
  EXPECT_NEAR(w.ranked[0].second, w.weights[w.ranked[0].first].norm().item<double>(), 1e-6);
}

TEST(ExpandedWeights, ThroughADownsamplingBlockAreLinearInTheInput) {
  CLIP model = tiny_resnet();
  const auto w = circuits::expanded_weights(model, "visual.layer2", "visual.layer3.0", 7, circuits::Rank::Mean);
  // With the ReLUs linear the network from layer2 to layer3.0 is affine: a change of the
  // input at layer2 changes the unit by the kernel's dot product with it.
  ActivationCache cache({"visual.layer2", "visual.layer3.0"});
  LinearReluGuard linear;
  torch::NoGradGuard no_grad;
  const Tensor image = torch::randn({1, 3, 64, 64});
  model->run_image(image, cache);
  const Tensor x = cache["visual.layer2"].clone();
  const double y0 = cache["visual.layer3.0"][0][7][w.cy][w.cx].item<double>();
  const Tensor delta = torch::randn_like(x) * 0.1;
  // x + delta through layer3's first block itself.
  const double y1 = bottleneck(model, 3, 0).forward(x + delta, nullptr)[0][7][w.cy][w.cx].item<double>();
  EXPECT_NEAR(y1 - y0, (w.weights * delta[0]).sum().item<double>(), 1e-4 * (1 + std::abs(y1 - y0)));
  for (size_t i = 1; i < w.ranked.size(); ++i) EXPECT_GE(w.ranked[i - 1].second, w.ranked[i].second);
  EXPECT_NEAR(w.ranked[0].second, w.weights[w.ranked[0].first].mean().item<double>(), 1e-6);
}

TEST(ExpandedWeights, ABatchOfUnitsGivesEachUnitsJacobianOnARealImage) {
  CLIP model = tiny_resnet();
  // Batches of 2 over units listed with a repeat; each row must equal the gradient of that
  // unit's centre cell taken through the whole model on a random image with linear ReLUs.
  const std::vector<int64_t> units{5, 0, 5, 31, 17};
  circuits::ExpandedKernelOptions options;
  options.batch = 2;
  const auto k = circuits::expanded_kernels(model, "visual.layer2", "visual.layer3.1", units, options);
  ASSERT_EQ(k.weights.size(0), static_cast<int64_t>(units.size()));
  LinearReluGuard linear;
  const Tensor image = torch::randn({1, 3, 64, 64});
  for (size_t i = 0; i < units.size(); ++i) {
    ActivationCache cache({"visual.layer2", "visual.layer3.1"});
    model->run_image(image.clone().requires_grad_(true), cache);
    const Tensor direct =
        torch::autograd::grad({cache["visual.layer3.1"][0][units[i]][k.cy][k.cx]}, {cache["visual.layer2"]})[0][0];
    EXPECT_TRUE(torch::allclose(k.weights[static_cast<int64_t>(i)], direct, 1e-5, 1e-6))
        << units[i] << ": " << (k.weights[static_cast<int64_t>(i)] - direct).abs().max().item<double>();
  }
  // The strongest connections are the largest scores, and the CSV lists top inputs per unit.
  const auto strongest = circuits::strongest_connections(k, circuits::Rank::L2, 3);
  ASSERT_EQ(strongest.size(), 3u);
  const Tensor scores = circuits::kernel_scores(k.weights, circuits::Rank::L2);
  EXPECT_NEAR(strongest[0].score, scores.max().item<double>(), 1e-6);
  EXPECT_GE(strongest[0].score, strongest[2].score);
  const fs::path dir = testing::temp_dir("expanded-kernels");
  circuits::write_expanded_kernels(k, dir, circuits::Rank::Max, 4);
  EXPECT_EQ(read_npy(dir / "weights.npy").shape, k.weights.sizes().vec());
  std::ifstream csv(dir / "strongest.csv");
  int64_t lines = 0;
  for (std::string line; std::getline(csv, line);) ++lines;
  EXPECT_EQ(lines, 1 + 4 * static_cast<int64_t>(units.size()));
}

TEST(ExpandedWeights, RefuseBadPointsUnitsAndModels) {
  CLIP model = tiny_resnet();
  const auto message = [&](auto&& f) { return testing::error_message(f); };
  EXPECT_NE(message([&] {
              circuits::expanded_weights(model, "visual.layer4", "visual.layer3", 0);
            }).find("from visual.layer4: is not before visual.layer3"),
            std::string::npos);
  EXPECT_NE(message([&] {
              circuits::expanded_weights(model, "visual.layer3", "visual.layer4", 9999);
            }).find("unit 9999: out of range for visual.layer4"),
            std::string::npos);
  EXPECT_NE(message([&] {
              circuits::expanded_weights(model, "visual.layer3", "visual.attnpool", 0);
            }).find("not a convolutional map"),
            std::string::npos);
  CLIP vit = testing::tiny_model(testing::tiny_vit_config(), 2);
  EXPECT_NE(message([&] {
              circuits::expanded_weights(vit, "visual.transformer.resblocks.0", "visual.transformer.resblocks.1", 0);
            }).find("not a convolutional map"),
            std::string::npos);
  EXPECT_NE(message([&] { circuits::parse_rank("median"); }).find("rank median: expected l2, max or mean"),
            std::string::npos);
}

TEST(FollowupNames, ResolveToTheBlocksPoints) {
  CLIP model = tiny_resnet();
  EXPECT_EQ(model->resolve_point("3/1/5"), "visual.layer3.1.bn3");
  EXPECT_EQ(model->resolve_point("3/1/6"), "visual.layer3.1");
  EXPECT_EQ(model->resolve_point("3/1/Add_6"), "visual.layer3.1");
  EXPECT_THROW(model->resolve_point("3/7/6"), Error);
  EXPECT_EQ(split_followup_unit("3/1/6/34"), std::make_pair(std::string("3/1/6"), std::string("34")));
  EXPECT_EQ(split_followup_unit("3/1/Add_6/0-9"), std::make_pair(std::string("3/1/Add_6"), std::string("0-9")));
  EXPECT_FALSE(split_followup_unit("3/1/6"));
  EXPECT_FALSE(split_followup_unit("visual.layer3.1:34"));
  // Every alias `layers` prints resolves back to its point.
  int aliased = 0;
  for (const auto& p : model->points())
    for (const auto& alias : point_aliases(p.name)) {
      EXPECT_EQ(model->resolve_point(alias), p.name) << alias;
      ++aliased;
    }
  EXPECT_EQ(aliased, 6 * 4);  // 6 bottlenecks, each: 4/2/6, image_block_4/2/Add_6, 4/2/5, the add's relu3:input
}

TEST(ResidualShare, IsTheBlockInputsShareOfTheSumAtTheTopCell) {
  CLIP model = tiny_resnet();
  torch::manual_seed(3);
  const Tensor images = torch::randn({4, 3, 64, 64});
  const auto r = circuits::residual_shares(model, "3/2/6", images);
  EXPECT_EQ(r.block, "visual.layer3.2");
  ActivationCache cache({"visual.layer3.1", "visual.layer3.2"});
  {
    torch::NoGradGuard no_grad;
    model->run_image(images, cache);
  }
  const Tensor input = cache["visual.layer3.1"].flatten(2), output = cache["visual.layer3.2"].flatten(2);
  int checked = 0;
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t u = 0; u < output.size(1); ++u) {
      const int64_t cell = output[i][u].argmax().item<int64_t>();
      const double out = output[i][u][cell].item<double>(), in = input[i][u][cell].item<double>();
      if (out <= 1e-4) {
        if (out <= 0) {
          EXPECT_TRUE(std::isnan(r.share[i][u].item<double>())) << i << " " << u;
        }
        continue;
      }
      EXPECT_NEAR(r.shortcut[i][u].item<double>(), in, 1e-4) << i << " " << u;
      EXPECT_NEAR(r.share[i][u].item<double>(), in / out, 1e-3 * (1 + std::abs(in / out))) << i << " " << u;
      ++checked;
    }
  EXPECT_GT(checked, 100);
  // A stage stands for its last bottleneck.
  EXPECT_EQ(circuits::bottleneck_of(*model, "visual.layer3"), "visual.layer3.2");
  EXPECT_NE(testing::error_message([&] {
              circuits::bottleneck_of(*model, "visual.layer3.2.conv1");
            }).find("not a bottleneck"),
            std::string::npos);
}

TEST(ResidualShare, SummaryAveragesTheImagesAUnitIsOnIn) {
  circuits::ResidualShares s;
  s.block = "b";
  const double nan = std::numeric_limits<double>::quiet_NaN();
  s.share = torch::tensor({0.95, 0.2, nan, 0.97, 0.4, nan}, torch::kFloat).reshape({3, 2});
  auto summary = circuits::summarize(s);
  EXPECT_NEAR(summary.units[0].share, (0.95 + 0.4) / 2, 1e-6);
  EXPECT_EQ(summary.units[0].images, 2);
  EXPECT_NEAR(summary.units[1].share, (0.2 + 0.97) / 2, 1e-6);
  EXPECT_EQ(summary.defined, 2);
  EXPECT_DOUBLE_EQ(summary.above_90, 0);
  summary = circuits::summarize(s, {{0}, {1}});  // each unit on its own rows
  EXPECT_NEAR(summary.units[0].share, 0.95, 1e-6);
  EXPECT_NEAR(summary.units[1].share, 0.97, 1e-6);
  EXPECT_DOUBLE_EQ(summary.above_90, 1);
  summary = circuits::summarize(s, {{2}, {2}});  // unit 1 is off there
  EXPECT_EQ(summary.defined, 1);
  EXPECT_TRUE(std::isnan(summary.units[1].share));
}

// A unit's spatial mean with every unit of an earlier point set to 0 (the path's biases).
Tensor value_at_zero(CLIP& model, const Tensor& images, const std::string& zeroed, const std::string& point,
                     int64_t unit) {
  ActivationCache cache({point});
  cache.edit(zeroed, UnitEdit{UnitEdit::Op::Set, {}, 0});
  torch::NoGradGuard no_grad;
  model->run_image(images, cache);
  return cache[point].flatten(2).mean(2).select(1, unit);
}

TEST(Contributions, SumToTheValueWhereThePathIsLinear) {
  CLIP model = tiny_resnet();
  torch::manual_seed(4);
  const Tensor images = torch::randn({3, 3, 64, 64});
  // relu2 -> bn3 of one block is conv3 and bn3 alone: linear with or without the guard.
  const auto b = circuits::backward_contributions(model, "visual.layer3.2.relu2", "3/2/5", 9, images);
  ASSERT_EQ(b.contributions.sizes(), (std::vector<int64_t>{3, 32}));
  const Tensor at_zero = value_at_zero(model, images, "visual.layer3.2.relu2", "visual.layer3.2.bn3", 9);
  EXPECT_TRUE(torch::allclose(b.rest, at_zero, 1e-4, 1e-5)) << b.rest << at_zero;
  // Across whole blocks with the ReLUs linear: the same identity.
  LinearReluGuard linear;
  const auto across = circuits::backward_contributions(model, "visual.layer2", "visual.layer3.1", 4, images);
  const Tensor v0 = value_at_zero(model, images, "visual.layer2", "visual.layer3.1", 4);
  EXPECT_TRUE(torch::allclose(across.rest, v0, 1e-3, 1e-4)) << across.rest << v0;
  EXPECT_GT((across.values - across.rest).abs().max().item<double>(), 1e-3);  // the contributions carry something
}

TEST(Contributions, ForwardAndBackwardAreTheSameQuantity) {
  CLIP model = tiny_resnet();
  torch::manual_seed(5);
  const Tensor images = torch::randn({2, 3, 64, 64});
  const auto f =
      circuits::forward_contributions(model, "visual.layer2.0", 6, {"visual.layer3.0", "3/2/6"}, images, Reduce::Max);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[1].to, "visual.layer3.2");
  for (int64_t u : {0, 17, 101}) {
    const auto b =
        circuits::backward_contributions(model, "visual.layer2.0", "visual.layer3.2", u, images, Reduce::Max);
    for (int64_t i = 0; i < 2; ++i)
      EXPECT_NEAR(f[1].contributions[i][u].item<double>(), b.contributions[i][6].item<double>(),
                  1e-4 * (1 + std::abs(b.contributions[i][6].item<double>())))
          << u << " " << i;
  }
  EXPECT_NE(testing::error_message([&] {
              circuits::forward_contributions(model, "visual.layer3", 0, {"visual.layer2"}, images);
            }).find("is not before visual.layer2"),
            std::string::npos);
}

TEST(Contributions, SarleSeparatesOneModeFromTwo) {
  torch::manual_seed(6);
  const Tensor normal = torch::randn({4000}, torch::kDouble);
  const Tensor two = torch::cat({torch::randn({2000}, torch::kDouble) - 4, torch::randn({2000}, torch::kDouble) + 4});
  EXPECT_NEAR(circuits::sarle_bimodality(normal), 1.0 / 3, 0.03);
  EXPECT_GT(circuits::sarle_bimodality(two), 5.0 / 9);
  EXPECT_NEAR(circuits::sarle_bimodality(torch::rand({20000}, torch::kDouble)), 5.0 / 9, 0.03);
  EXPECT_TRUE(std::isnan(circuits::sarle_bimodality(torch::ones({3}))));
}

TEST(CircuitsCommands, WriteTheirFilesAndRefuseBadInput) {
  if (!fs::exists(demo_model_path())) GTEST_SKIP() << "demo model not found";
  const fs::path dir = testing::temp_dir("circuits-cli");
  auto r = testing::run_clipscope(
      {"expanded-weights", "--from", "visual.layer3", "--to", "4/0/6/10", "--top", "4", "-o", (dir / "ew").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("visual.layer3 -> visual.layer4.0:10"), std::string::npos) << r.out;
  const auto weights = read_npy(dir / "ew/weights.npy");
  ASSERT_EQ(weights.shape.size(), 3u);
  std::ifstream csv(dir / "ew/ranking.csv");
  int64_t lines = 0;
  for (std::string line; std::getline(csv, line);) ++lines;
  EXPECT_EQ(lines, weights.shape[0] + 1);  // every input unit, and the header
  EXPECT_TRUE(fs::exists(dir / "ew/kernels.png"));
  r = testing::run_clipscope({"expanded-weights", "--from", "visual.layer3", "--to", "visual.layer4:0-5,9", "--top",
                              "3", "--batch", "4", "-o", (dir / "ew-all").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("visual.layer3 -> visual.layer4: 7 units"), std::string::npos) << r.out;
  EXPECT_EQ(read_npy(dir / "ew-all/weights.npy").shape.at(0), 7);
  EXPECT_TRUE(fs::exists(dir / "ew-all/strongest.csv"));
  testing::expect_one_line_error(
      testing::run_clipscope({"expanded-weights", "--from", "visual.layer3", "--to", "visual.layer4:0-99999"}),
      "--to visual.layer4:0-99999: unit 99999 is out of range for visual.layer4 (512 units)");
  testing::expect_one_line_error(
      testing::run_clipscope({"expanded-weights", "--from", "visual.layer4", "--to", "visual.layer3:1"}),
      "--from visual.layer4: is not before visual.layer3");
  testing::expect_one_line_error(
      testing::run_clipscope({"expanded-weights", "--from", "visual.layer3", "--to", "visual.layer4"}),
      "--to visual.layer4: expected LAYER:UNITS");

  r = testing::run_clipscope({"layers", "--filter", "4/0/5"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("visual.layer4.0.bn3"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("visual.layer4.0.add"), std::string::npos) << r.out;

  // residual-share on a few images, one of them unreadable (skipped and counted).
  fs::create_directories(dir / "images");
  Image image{64, 64, std::vector<uint8_t>(64 * 64 * 3, 90)};
  for (int i = 0; i < 3; ++i) {
    for (size_t p = 0; p < image.rgb.size(); ++p) image.rgb[p] = static_cast<uint8_t>((p * (i + 3)) % 251);
    write_png(dir / "images" / fmt::format("{}.png", i), image);
  }
  testing::write_file(dir / "images/bad.png", "not a png");
  r = testing::run_clipscope({"residual-share", "--block", "visual.layer4", "--images", (dir / "images").string(),
                              "--json", "-o", (dir / "rs").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["block"], "visual.layer4.0");
  EXPECT_EQ(j["skipped"], 1);
  EXPECT_EQ(j["units"].size(), 512u);
  EXPECT_TRUE(fs::exists(dir / "rs/shares.csv"));
  EXPECT_TRUE(fs::exists(dir / "rs/shares.png"));
  testing::expect_one_line_error(testing::run_clipscope({"residual-share", "--block", "visual.layer4"}), "--images");
  testing::expect_one_line_error(
      testing::run_clipscope({"residual-share", "--block", "visual.conv1", "--images", (dir / "images").string()}),
      "not a bottleneck");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace clipscope
