// The render loop and Deep Dream on tiny random CLIPs: they raise the objective,
// are reproducible from their seeds, keep the requested snapshots and reject bad
// options; the resolution rule, CLIP's normalization and the Gaussian blur.
#include "optvis/render.h"
#include "support/tiny_models.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/image/preprocess.h"
#include "core/util/error.h"
#include "optvis/deepdream.h"
#include "support/shared_data.h"

namespace clipscope::optvis {
namespace {

using clipscope::testing::error_message;
using torch::Tensor;

CLIPConfig tiny_resnet() { return testing::tiny_resnet_config(); }
CLIPConfig tiny_vit() { return testing::tiny_vit_config(2); }

using testing::tiny_model;

ParamOptions small_param(int64_t side = 64, uint64_t seed = 1, int64_t batch = 1) {
  ParamOptions o;
  o.batch = batch;
  o.height = o.width = side;
  o.seed = seed;
  return o;
}

RenderOptions quick(int steps, uint64_t seed = 0) {
  RenderOptions o;
  o.steps = steps;
  o.seed = seed;
  o.transforms = {jitter(2)};
  return o;
}

const char* const kLayer4 = "visual.layer4";

TEST(Render, RaisesTheObjective) {
  CLIP model = tiny_model(tiny_resnet(), 1);
  const Objective objective = channel(kLayer4, 3);
  auto param = make_image_param(small_param());
  const Tensor initial = param->image().detach().clone();
  RenderOptions options = quick(64);
  options.thresholds = {1};
  int calls = 0;
  std::vector<double> values;
  options.on_step = [&](int step, double v) {
    ++calls;
    EXPECT_EQ(step, calls);
    EXPECT_TRUE(std::isfinite(v)) << "step " << step;
    values.push_back(v);
  };
  const auto snapshots = render(model, objective, *param, options);
  EXPECT_EQ(calls, 64);
  ASSERT_EQ(snapshots.size(), 2u);
  EXPECT_EQ(snapshots[0].step, 1);
  EXPECT_EQ(snapshots[1].step, 64);
  EXPECT_DOUBLE_EQ(snapshots[0].objective, values.front());
  EXPECT_DOUBLE_EQ(snapshots[1].objective, values.back());
  const Tensor& final_images = snapshots[1].images;
  EXPECT_EQ(final_images.sizes(), (std::vector<int64_t>{1, 3, 64, 64}));
  EXPECT_EQ(final_images.scalar_type(), torch::kFloat);
  EXPECT_FALSE(final_images.requires_grad());
  EXPECT_GE(final_images.min().item<float>(), 0);
  EXPECT_LE(final_images.max().item<float>(), 1);
  // The snapshots are the parameterization's images after those steps.
  EXPECT_TRUE(torch::equal(final_images, param->image().detach()));
  const double start = evaluate(model, objective, initial), first = evaluate(model, objective, snapshots[0].images),
               last = evaluate(model, objective, final_images);
  // Clearly higher, not by a rounding error (the tiny model's activations are small).
  EXPECT_GT(last, 2 * first);
  EXPECT_GT(last, 2 * start);
  EXPECT_GT(start, 0);
  EXPECT_GT(values.back(), values.front());
}

TEST(Render, AUnitDeadAtTheStartIsRenderedWithRedirectedGradients) {
  CLIP model = tiny_model(tiny_resnet(), 1);
  // Close unit 3 of visual.layer4 for every image: the last block's output is ReLU(bn3 + shortcut).
  Tensor bias;
  for (const auto& p : model->named_parameters()) {
    const std::string& name = p.key();
    if (name.starts_with("visual.layer4.") && name.ends_with(".bn3.bias")) bias = p.value();
  }
  ASSERT_TRUE(bias.defined());
  {
    torch::NoGradGuard no_grad;
    bias[3] -= 1000;
  }
  const Objective objective = channel(kLayer4, 3);
  auto param = make_image_param(small_param());
  const Tensor initial = param->image().detach().clone();
  ASSERT_EQ(evaluate(model, objective, initial), 0) << "the unit is dead";
  RenderOptions options = quick(4);
  options.redirect_relu_steps = 0;  // no step is redirected by the schedule
  render(model, objective, *param, options);
  EXPECT_FALSE(torch::equal(param->image().detach(), initial))
      << "steps with no gradient are redone with redirected gradients";
}

TEST(Render, ReproducibleFromTheSeeds) {
  CLIP model = tiny_model(tiny_resnet(), 2);
  const Objective objective = channel(kLayer4, 5) - 0.001 * total_variation();
  auto run = [&](uint64_t param_seed, uint64_t render_seed) {
    auto param = make_image_param(small_param(48, param_seed));
    RenderOptions options = quick(6, render_seed);
    options.transforms = {pad(2), jitter(4), random_scale({0.9, 1.0, 1.1}), random_rotate({-5, 0, 5})};
    return render(model, objective, *param, options).back().images;
  };
  const Tensor a = run(1, 7), b = run(1, 7);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, run(1, 8)));  // other transform draws
  EXPECT_FALSE(torch::equal(a, run(2, 7)));  // other initial images
}

TEST(Render, SnapshotsAtThresholds) {
  CLIP model = tiny_model(tiny_resnet(), 3);
  const Objective objective = channel(kLayer4, 1);
  auto param = make_image_param(small_param(64));
  RenderOptions options = quick(6);
  options.thresholds = {5, 2, 5, 6};
  std::vector<Tensor> after_step;
  options.on_step = [&](int, double) { after_step.push_back(param->image().detach().clone()); };
  const auto snapshots = render(model, objective, *param, options);
  ASSERT_EQ(snapshots.size(), 3u);
  const std::vector<int> expected = {2, 5, 6};
  for (size_t i = 0; i < snapshots.size(); ++i) {
    EXPECT_EQ(snapshots[i].step, expected[i]);
    EXPECT_TRUE(torch::equal(snapshots[i].images, after_step[static_cast<size_t>(expected[i] - 1)])) << expected[i];
  }
  EXPECT_FALSE(torch::equal(snapshots[0].images, snapshots[1].images));
  // Without thresholds, only the last step.
  auto other = make_image_param(small_param(64));
  const auto last_only = render(model, objective, *other, quick(3));
  ASSERT_EQ(last_only.size(), 1u);
  EXPECT_EQ(last_only[0].step, 3);
}

TEST(Render, RejectsBadOptions) {
  CLIP model = tiny_model(tiny_resnet(), 4);
  const Objective objective = channel(kLayer4, 1);
  auto param = make_image_param(small_param(32));
  const Tensor before = param->image().detach().clone();
  auto message = [&](RenderOptions options) {
    return error_message([&] { render(model, objective, *param, options); });
  };
  RenderOptions o = quick(0);
  EXPECT_NE(message(o).find("steps"), std::string::npos);
  o = quick(-3);
  EXPECT_NE(message(o).find("steps"), std::string::npos);
  o = quick(5);
  o.thresholds = {6};
  EXPECT_NE(message(o).find("threshold 6"), std::string::npos);
  o.thresholds = {0};
  EXPECT_NE(message(o).find("threshold 0"), std::string::npos);
  o = quick(5);
  o.learning_rate = -0.1;
  EXPECT_NE(message(o).find("learning rate"), std::string::npos);
  o.learning_rate = 0;
  EXPECT_NE(message(o).find("learning rate"), std::string::npos);
  // Nothing was optimized.
  EXPECT_TRUE(torch::equal(param->image().detach(), before));
}

TEST(Render, ObjectiveErrorsPropagate) {
  CLIP model = tiny_model(tiny_resnet(), 4);
  auto param = make_image_param(small_param(64));
  const std::string m = error_message([&] { render(model, channel(kLayer4, 999), *param, quick(2)); });
  EXPECT_NE(m.find("unit 999"), std::string::npos) << m;
}

TEST(Render, NeedsModelResolution) {
  CLIP resnet = tiny_model(tiny_resnet(), 5);
  EXPECT_FALSE(needs_model_resolution(*resnet, {}));
  EXPECT_FALSE(needs_model_resolution(*resnet, {"visual.layer4"}));
  EXPECT_FALSE(needs_model_resolution(*resnet, {"visual.layer2.0.conv1", "visual.relu3"}));
  EXPECT_TRUE(needs_model_resolution(*resnet, {"visual.attnpool"}));
  EXPECT_TRUE(needs_model_resolution(*resnet, {"visual.layer3", "visual.attnpool.pattern"}));
  CLIP vit = tiny_model(tiny_vit(), 5);
  EXPECT_TRUE(needs_model_resolution(*vit, {"visual.conv1"}));
  EXPECT_TRUE(needs_model_resolution(*vit, {"visual.transformer.resblocks.0"}));
  EXPECT_TRUE(needs_model_resolution(*vit, {}));
}

TEST(Render, ResNetRendersAtAnySize) {
  // A layer point takes the images as they are: 40 px gives a 2 x 2 layer3 at any transform size.
  CLIP model = tiny_model(tiny_resnet(), 6);
  auto param = make_image_param(small_param(40));
  RenderOptions options = quick(4);
  options.transforms = {};
  const auto snapshots = render(model, channel("visual.layer3", 2), *param, options);
  EXPECT_EQ(snapshots.back().images.sizes(), (std::vector<int64_t>{1, 3, 40, 40}));
  // The attention pool's points need 64 px: other sizes are resized first.
  auto big = make_image_param(small_param(80));
  const auto pooled = render(model, channel("visual.attnpool", 0), *big, quick(2));
  EXPECT_EQ(pooled.back().images.sizes(), (std::vector<int64_t>{1, 3, 80, 80}));
  EXPECT_TRUE(std::isfinite(pooled.back().objective));
}

TEST(Render, ViTResizesALargerParameterization) {
  CLIP model = tiny_model(tiny_vit(), 7);
  const Objective objective = channel("visual.transformer.resblocks.1", 4);
  auto param = make_image_param(small_param(80, 3));
  const Tensor initial = param->image().detach().clone();
  RenderOptions options = quick(24);
  options.learning_rate = 0.05;
  const auto snapshots = render(model, objective, *param, options);
  const Tensor& images = snapshots.back().images;
  EXPECT_EQ(images.sizes(), (std::vector<int64_t>{1, 3, 80, 80}));
  EXPECT_TRUE(std::isfinite(snapshots.back().objective));
  // evaluate() resizes too.
  EXPECT_GT(evaluate(model, objective, images), evaluate(model, objective, initial) + 1);
}

TEST(Render, ClipNormalize) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const Tensor x = torch::rand({2, 3, 5, 4}, gen);
  const Tensor y = clip_normalize(x);
  ASSERT_EQ(y.sizes(), x.sizes());
  for (int64_t c = 0; c < 3; ++c) {
    const Tensor expected = (x.select(1, c) - kClipMean[static_cast<size_t>(c)]) / kClipStd[static_cast<size_t>(c)];
    EXPECT_TRUE(torch::allclose(y.select(1, c), expected, 1e-6, 1e-6)) << "channel " << c;
  }
  // The dtype is kept and the map is differentiable.
  const Tensor xd = x.to(torch::kDouble).requires_grad_(true);
  const Tensor yd = clip_normalize(xd);
  EXPECT_EQ(yd.scalar_type(), torch::kDouble);
  yd.sum().backward();
  for (int64_t c = 0; c < 3; ++c)
    EXPECT_NEAR(xd.grad().select(1, c).mean().item<double>(), 1.0 / kClipStd[static_cast<size_t>(c)], 1e-6);
}

// ----- Deep Dream --------------------------------------------------------------

// A layer4 unit that is active on the grey image (a dead one has no gradient to dream with).
int64_t active_unit(CLIP& model, const Tensor& images) {
  ActivationCache cache({kLayer4});
  torch::NoGradGuard no_grad;
  model->run_image(clip_normalize(images), cache);
  return cache[kLayer4].mean({0, 2, 3}).argmax().item<int64_t>();
}

DeepDreamOptions quick_dream(uint64_t seed = 0) {
  DeepDreamOptions o;
  o.octaves = 2;
  o.octave_scale = 1.4;
  o.steps_per_octave = 8;
  o.step_size = 0.02;
  o.max_shift = 4;
  o.seed = seed;
  return o;
}

TEST(DeepDream, RaisesTheObjectiveFromGrey) {
  CLIP model = tiny_model(tiny_resnet(), 8);
  const Tensor grey = torch::full({1, 3, 64, 64}, 0.5);
  const Objective objective = channel(kLayer4, active_unit(model, grey));
  int calls = 0;
  DeepDreamOptions options = quick_dream();
  options.on_step = [&](int step, int total, double v) {
    ++calls;
    EXPECT_EQ(step, calls);
    EXPECT_EQ(total, 16);
    EXPECT_TRUE(std::isfinite(v));
  };
  const Tensor dream = deep_dream(model, objective, grey, options);
  EXPECT_EQ(calls, 16);
  EXPECT_EQ(dream.sizes(), grey.sizes());
  EXPECT_GE(dream.min().item<float>(), 0);
  EXPECT_LE(dream.max().item<float>(), 1);
  EXPECT_GT(evaluate(model, objective, dream), evaluate(model, objective, grey) * 2);
}

TEST(DeepDream, ReproducibleFromTheSeed) {
  CLIP model = tiny_model(tiny_resnet(), 9);
  const Tensor grey = torch::full({1, 3, 48, 48}, 0.5);
  const Objective objective = channel(kLayer4, active_unit(model, grey));
  const Tensor a = deep_dream(model, objective, grey, quick_dream(3));
  EXPECT_TRUE(torch::equal(a, deep_dream(model, objective, grey, quick_dream(3))));
  EXPECT_FALSE(torch::equal(a, deep_dream(model, objective, grey, quick_dream(4))));
  DeepDreamOptions bad = quick_dream();
  bad.octaves = 0;
  EXPECT_NE(error_message([&] { deep_dream(model, objective, grey, bad); }).find("octaves"), std::string::npos);
  bad = quick_dream();
  bad.steps_per_octave = 0;
  EXPECT_NE(error_message([&] { deep_dream(model, objective, grey, bad); }).find("steps"), std::string::npos);
  bad = quick_dream();
  bad.octave_scale = 0.5;
  EXPECT_NE(error_message([&] { deep_dream(model, objective, grey, bad); }).find("octave scale"), std::string::npos);
}

TEST(GaussianBlur, PreservesConstantsAndImpulseMass) {
  const Tensor constant = torch::full({2, 3, 20, 17}, 0.37);
  const Tensor blurred = gaussian_blur(constant, 1.5);
  ASSERT_EQ(blurred.sizes(), constant.sizes());
  EXPECT_TRUE(torch::allclose(blurred, constant, 1e-6, 1e-6));
  // Smaller than the kernel: reflect padding is cut short and replicated beyond.
  const Tensor tiny = torch::full({1, 1, 4, 3}, 0.8);
  const Tensor tiny_blurred = gaussian_blur(tiny, 3.0);
  ASSERT_EQ(tiny_blurred.sizes(), tiny.sizes());
  EXPECT_TRUE(torch::allclose(tiny_blurred, tiny, 1e-6, 1e-6));

  Tensor impulse = torch::zeros({1, 2, 33, 33});
  impulse[0][1][16][16] = 1;
  const double sigma = 1.5;
  const Tensor spread = gaussian_blur(impulse, sigma);
  EXPECT_NEAR(spread[0][1].sum().item<double>(), 1, 1e-5);
  EXPECT_EQ(spread[0][0].abs().max().item<float>(), 0);  // channels stay separate
  EXPECT_EQ(spread[0][1].argmax().item<int64_t>(), 16 * 33 + 16);
  // A separable Gaussian: the value one pixel away relative to the centre is exp(-1 / (2 sigma^2)).
  const double centre = spread[0][1][16][16].item<double>();
  EXPECT_NEAR(spread[0][1][16][17].item<double>() / centre, std::exp(-1 / (2 * sigma * sigma)), 1e-4);
  EXPECT_NEAR(spread[0][1][15][16].item<double>() / centre, std::exp(-1 / (2 * sigma * sigma)), 1e-4);
  EXPECT_NEAR(spread[0][1][17][17].item<double>() / centre, std::exp(-2 / (2 * sigma * sigma)), 1e-4);
  // Wider sigma, lower peak.
  EXPECT_LT(gaussian_blur(impulse, 3.0)[0][1][16][16].item<double>(), centre);

  auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
  const Tensor noise = torch::rand({1, 3, 9, 9}, gen);
  EXPECT_TRUE(torch::equal(gaussian_blur(noise, 0), noise));
  EXPECT_TRUE(torch::equal(gaussian_blur(noise, -1), noise));
  EXPECT_LT(gaussian_blur(noise, 1.0).std().item<double>(), noise.std().item<double>());
}

}  // namespace
}  // namespace clipscope::optvis
