// Facet probes: fitting on features and on images of a tiny random CLIP, the
// default layers, folder features with unreadable files, and the saved format.
#include "optvis/facet_probe.h"
#include "support/tiny_models.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/image/image.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "core/util/npy.h"
#include "support/shared_data.h"

namespace clipscope::optvis {
namespace {

namespace fs = std::filesystem;

CLIPConfig tiny_resnet() { return testing::tiny_resnet_config(); }
CLIPConfig tiny_vit() { return testing::tiny_vit_config(6); }

// Grey noise, optionally with a red square at a random place: what separates the
// classes is known (redness in one region), everything else is noise.
Image synthetic_image(torch::Generator& gen, bool red_square, int size = 64) {
  Image image;
  image.width = image.height = size;
  const auto grey = torch::randint(60, 200, {size, size, 1}, gen, torch::kLong).repeat({1, 1, 3});
  image.rgb.assign(static_cast<size_t>(size) * size * 3, 0);
  auto acc = grey.accessor<int64_t, 3>();
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      for (int ch = 0; ch < 3; ++ch) image.pixel(x, y)[ch] = static_cast<uint8_t>(acc[y][x][ch]);
  if (red_square) {
    const int side = static_cast<int>(torch::randint(16, 28, {1}, gen).item<int64_t>());
    const int x0 = static_cast<int>(torch::randint(0, size - side, {1}, gen).item<int64_t>());
    const int y0 = static_cast<int>(torch::randint(0, size - side, {1}, gen).item<int64_t>());
    for (int y = y0; y < y0 + side; ++y)
      for (int x = x0; x < x0 + side; ++x) {
        image.pixel(x, y)[0] = 230;
        image.pixel(x, y)[1] = 20;
        image.pixel(x, y)[2] = 20;
      }
  }
  return image;
}

torch::Tensor synthetic_batch(torch::Generator& gen, bool red_square, int n) {
  std::vector<Image> images;
  for (int i = 0; i < n; ++i) images.push_back(synthetic_image(gen, red_square));
  return preprocess_batch(images, 64);  // the project's CLIP preprocessing
}

TEST(FacetProbe, SeparatesSyntheticImageSetsOnATinyModel) {
  torch::manual_seed(0);
  CLIP model(tiny_resnet());
  const auto layers = default_facet_layers(model);
  auto gen = at::detail::createCPUGenerator(7);
  const auto facet = facet_features(model, layers, synthetic_batch(gen, true, 40));
  const auto generic = facet_features(model, layers, synthetic_batch(gen, false, 40));
  EXPECT_EQ(facet.sizes(), (std::vector<int64_t>{40, 128 * 2}));
  FitOptions options;
  options.holdout = 0.25;
  const FacetProbe probe = fit_facet_probe(facet, generic, options);
  EXPECT_GT(probe.holdout_accuracy, 0.9);
  EXPECT_GT(probe.train_accuracy, 0.9);
  EXPECT_EQ(probe.facet_images, 40);
  EXPECT_EQ(probe.generic_images, 40);
  EXPECT_EQ(probe.weights.numel(), 256);
  EXPECT_EQ(probe.weights.scalar_type(), torch::kFloat);
  // The weights apply to raw activations: w.x + b is positive for (most) facet images.
  const auto score = [&](const torch::Tensor& f) { return torch::mv(f, probe.weights) + probe.bias; };
  EXPECT_GT((score(facet) > 0).to(torch::kFloat).mean().item<float>(), 0.9);
  EXPECT_GT((score(generic) < 0).to(torch::kFloat).mean().item<float>(), 0.9);
}

// Two classes that differ in feature 7 only; the columns have very different scales.
std::pair<torch::Tensor, torch::Tensor> synthetic_features(int64_t n_facet, int64_t n_generic, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto facet = torch::randn({n_facet, 20}, gen);
  auto generic = torch::randn({n_generic, 20}, gen);
  facet.select(1, 7).add_(4.0);
  const auto scale = torch::logspace(-2, 2, 20);  // 0.01 .. 100 per column
  const auto offset = torch::linspace(-5, 5, 20);
  return {facet * scale + offset, generic * scale + offset};
}

TEST(FacetProbe, LargestWeightIsOnTheSeparatingFeature) {
  // Imbalanced on purpose: classes are weighted equally, accuracy is balanced.
  const auto [facet, generic] = synthetic_features(150, 400, 1);
  const FacetProbe probe = fit_facet_probe(facet, generic);
  // Compare weights in standardized units (weight times the column's spread):
  // raw weights carry each column's scale.
  const auto all = torch::cat({facet, generic});
  const auto standardized = probe.weights.abs() * all.std(0);
  EXPECT_EQ(standardized.argmax().item<int64_t>(), 7);
  EXPECT_GT(probe.weights[7].item<float>(), 0);
  EXPECT_GT(probe.holdout_accuracy, 0.9);
  EXPECT_GT(probe.train_accuracy, 0.9);
  EXPECT_EQ(probe.layers.size(), 0u);
  EXPECT_EQ(probe.skipped_images, 0);
  EXPECT_DOUBLE_EQ(probe.l2, 1e-3);
}

TEST(FacetProbe, WeightsFollowTheScaleOfRawActivations) {
  // Scaling a column by k divides its weight by k; shifting it moves only the bias:
  // the probe is fitted on standardized features and folded back to raw units.
  const auto [facet, generic] = synthetic_features(50, 50, 2);
  const FacetProbe a = fit_facet_probe(facet, generic);
  auto facet2 = facet.clone(), generic2 = generic.clone();
  facet2.select(1, 7).mul_(1000).add_(3);
  generic2.select(1, 7).mul_(1000).add_(3);
  const FacetProbe b = fit_facet_probe(facet2, generic2);
  EXPECT_NEAR(b.weights[7].item<float>() * 1000, a.weights[7].item<float>(),
              1e-3 * std::abs(a.weights[7].item<float>()));
  EXPECT_NEAR(b.bias + 3 * b.weights[7].item<double>(), a.bias, 1e-3 * (1 + std::abs(a.bias)));
  EXPECT_DOUBLE_EQ(a.holdout_accuracy, b.holdout_accuracy);
}

TEST(FacetProbe, SameSeedSameProbe) {
  const auto [facet, generic] = synthetic_features(30, 30, 3);
  FitOptions options;
  options.seed = 5;
  const FacetProbe a = fit_facet_probe(facet, generic, options);
  const FacetProbe b = fit_facet_probe(facet, generic, options);
  EXPECT_TRUE(torch::equal(a.weights, b.weights));
  EXPECT_EQ(a.bias, b.bias);
  // Nothing held out: holdout accuracy is NaN, training uses every row.
  options.holdout = 0;
  EXPECT_TRUE(std::isnan(fit_facet_probe(facet, generic, options).holdout_accuracy));
}

TEST(FacetProbe, TooFewImagesOrBadInputsThrow) {
  const auto [facet, generic] = synthetic_features(10, 10, 4);
  const auto msg = testing::error_message([&] { fit_facet_probe(facet.slice(0, 0, 1), generic); });
  EXPECT_NE(msg.find("at least 2"), std::string::npos) << msg;
  EXPECT_THROW(fit_facet_probe(facet, generic.slice(0, 0, 1)), Error);
  EXPECT_THROW(fit_facet_probe(facet, torch::zeros({0, 20})), Error);
  EXPECT_THROW(fit_facet_probe(facet, generic.slice(1, 0, 5)), Error);  // channel mismatch
  FitOptions bad;
  bad.holdout = 1.0;
  EXPECT_THROW(fit_facet_probe(facet, generic, bad), Error);
}

FacetProbe sample_probe() {
  FacetProbe p;
  p.layers = {"visual.layer3.0", "visual.layer3.2"};
  p.channels = {3, 4};
  p.weights = torch::tensor({0.1f, -2.5f, 3e-7f, 1e6f, -0.0f, 7.25f, 1.0f / 3.0f});
  p.bias = -0.12345678901234567;
  p.facet_images = 12;
  p.generic_images = 34;
  p.skipped_images = 2;
  p.train_accuracy = 0.975;
  p.holdout_accuracy = 0.9166666666666666;
  p.l2 = 1e-3;
  p.model_sha256 = "ab12";
  return p;
}

TEST(FacetProbe, SaveLoadRoundTrip) {
  const fs::path dir = testing::temp_dir();
  const fs::path npy = dir / "faces.npy";
  const FacetProbe p = sample_probe();
  save_facet_probe(p, npy);
  ASSERT_TRUE(fs::exists(dir / "faces.json"));
  // The weights file is a plain float32 vector.
  const NpyArray raw = read_npy(npy);
  EXPECT_EQ(raw.dtype, "<f4");
  EXPECT_EQ(raw.shape, (std::vector<int64_t>{7}));

  const FacetProbe q = load_facet_probe(npy);
  EXPECT_TRUE(torch::equal(q.weights, p.weights));
  EXPECT_EQ(q.layers, p.layers);
  EXPECT_EQ(q.channels, p.channels);
  EXPECT_EQ(q.bias, p.bias);
  EXPECT_EQ(q.facet_images, 12);
  EXPECT_EQ(q.generic_images, 34);
  EXPECT_EQ(q.skipped_images, 2);
  EXPECT_EQ(q.train_accuracy, p.train_accuracy);
  EXPECT_EQ(q.holdout_accuracy, p.holdout_accuracy);
  EXPECT_EQ(q.l2, p.l2);
  EXPECT_EQ(q.model_sha256, "ab12");
  EXPECT_TRUE(torch::equal(q.layer_weights(1), torch::tensor({1e6f, -0.0f, 7.25f, 1.0f / 3.0f})));
  EXPECT_EQ(q.layer_weights(0).numel(), 3);

  const auto j = nlohmann::json::parse(testing::read_file(dir / "faces.json"));
  EXPECT_EQ(j["layers"], nlohmann::json(p.layers));
  EXPECT_EQ(j["channels"], nlohmann::json(p.channels));
  EXPECT_EQ(j["weights"], "faces.npy");

  // A NaN accuracy (nothing held out) survives as null.
  FacetProbe nan = p;
  nan.holdout_accuracy = std::nan("");
  save_facet_probe(nan, dir / "nan.npy");
  EXPECT_TRUE(std::isnan(load_facet_probe(dir / "nan.npy").holdout_accuracy));
}

TEST(FacetProbe, BadFilesNameTheFile) {
  const fs::path dir = testing::temp_dir();
  const fs::path npy = dir / "probe.npy", json = dir / "probe.json";
  auto expect_error_naming = [](const fs::path& file, const fs::path& load, const std::string& what) {
    const auto msg = testing::error_message([&] { load_facet_probe(load); });
    EXPECT_NE(msg.find(file.string()), std::string::npos) << what << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << what << ": " << msg;
  };
  // Missing JSON.
  write_npy_tensor(npy, torch::ones({7}));
  expect_error_naming(json, npy, "missing json");
  // Corrupt JSON.
  testing::write_file(json, "{\"format\": \"clipscope-facet-probe\",\n \"layers\": [");
  expect_error_naming(json, npy, "corrupt json");
  // Missing field.
  save_facet_probe(sample_probe(), npy);
  auto j = nlohmann::json::parse(testing::read_file(json));
  j.erase("bias");
  testing::write_file(json, j.dump());
  expect_error_naming(json, npy, "missing field");
  // Weights that do not match the channels.
  save_facet_probe(sample_probe(), npy);
  write_npy_tensor(npy, torch::ones({6}));
  expect_error_naming(npy, npy, "length mismatch");
  write_npy_tensor(npy, torch::ones({7}, torch::kLong));
  expect_error_naming(npy, npy, "integer weights");
  // Corrupt weights file.
  testing::write_file(npy, "not an npy file");
  expect_error_naming(npy, npy, "corrupt npy");
  // Missing weights file.
  expect_error_naming(dir / "absent.npy", dir / "absent.npy", "missing npy");
  // Saving a probe whose channels do not account for its weights.
  FacetProbe bad = sample_probe();
  bad.channels = {3, 3};
  EXPECT_THROW(save_facet_probe(bad, dir / "bad.npy"), Error);
}

TEST(FacetProbe, DefaultLayersAreEveryOtherLowerBlock) {
  CLIP resnet(tiny_resnet());
  const auto rn = default_facet_layers(resnet);
  EXPECT_EQ(rn, (std::vector<std::string>{"visual.layer3.0", "visual.layer3.2"}));
  for (const auto& l : rn) EXPECT_EQ(resnet->resolve_point(l), l);
  // The reference's name for the same point.
  EXPECT_EQ(resnet->resolve_point("image_block_3/2/Add_6"), "visual.layer3.2");

  CLIP vit(tiny_vit());
  const auto v = default_facet_layers(vit);  // 6 blocks: the first 4, every other
  EXPECT_EQ(v, (std::vector<std::string>{"visual.transformer.resblocks.0", "visual.transformer.resblocks.2"}));
  for (const auto& l : v) EXPECT_EQ(vit->resolve_point(l), l);
  // ViT features are token means of the residual stream: width channels per layer.
  const auto f = facet_features(vit, v, torch::randn({2, 3, 64, 64}));
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{2, 128}));
}

TEST(FacetProbe, FeaturesAreSpatialMeansPerImage) {
  torch::manual_seed(1);
  CLIP model(tiny_resnet());
  model->train();
  const auto images = torch::randn({3, 3, 64, 64});
  const std::vector<std::string> layers = {"visual.layer2", "image_block_3/0/Add_6"};
  const auto f = facet_features(model, layers, images);
  EXPECT_TRUE(model->is_training());  // the caller's mode is restored
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{3, 64 + 128}));
  // The same values one image at a time (eval mode: no batch statistics), and as the
  // mean of each channel's map.
  model->eval();
  const auto one = facet_features(model, layers, images.slice(0, 1, 2));
  EXPECT_TRUE(torch::allclose(one[0], f[1], 1e-4, 1e-5));
  ActivationCache cache({"visual.layer3.0"});
  torch::NoGradGuard no_grad;
  model->run_image(images, cache);
  EXPECT_TRUE(torch::allclose(f.slice(1, 64), cache["visual.layer3.0"].mean({2, 3}), 1e-5, 1e-6));
  // Text-tower, unknown and repeated layers are refused.
  EXPECT_THROW(facet_features(model, {"transformer.resblocks.0"}, images), Error);
  EXPECT_THROW(facet_features(model, {"visual.layer9"}, images), Error);
  EXPECT_THROW(facet_features(model, {"visual.layer3.0", "image_block_3/0/Add_6"}, images), Error);
}

TEST(FacetProbe, FolderFeaturesSkipUnreadableImages) {
  torch::manual_seed(2);
  CLIP model(tiny_resnet());
  const fs::path dir = testing::temp_dir();
  auto gen = at::detail::createCPUGenerator(3);
  std::vector<fs::path> good;
  for (int i = 0; i < 3; ++i) {
    good.push_back(dir / ("img" + std::to_string(i) + ".png"));
    write_png(good.back(), synthetic_image(gen, i == 1, 80));
  }
  testing::write_file(dir / "img1b.png", "not a png");
  const auto layers = default_facet_layers(model);
  int64_t skipped = -1;
  const auto f = folder_features(model, layers, dir, 2, skipped, false);
  EXPECT_EQ(skipped, 1);
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{3, 256}));
  // Rows in sorted path order, the same as preprocessing the files directly.
  const auto expected = facet_features(model, layers, load_image_batch(good, 64));
  EXPECT_TRUE(torch::allclose(f, expected, 1e-4, 1e-5));

  EXPECT_THROW(folder_features(model, layers, dir / "absent", 2, skipped, false), Error);
  const fs::path empty = testing::temp_dir();
  EXPECT_EQ(folder_features(model, layers, empty, 2, skipped, false).sizes(), (std::vector<int64_t>{0, 256}));
}

}  // namespace
}  // namespace clipscope::optvis
