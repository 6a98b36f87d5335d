// Objectives: gradients against finite differences (every objective, on a tiny
// random ResNet and ViT), values against activations read directly, errors, the
// expression parser, and the redirected-ReLU gradient override.
#include "optvis/objectives.h"
#include "support/tiny_models.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cctype>
#include <cmath>
#include <functional>

#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "optvis/render.h"
#include "support/shared_data.h"

namespace clipscope::optvis {
namespace {

using clipscope::testing::error_message;
using torch::Tensor;
namespace idx = torch::indexing;

CLIPConfig tiny_resnet() { return testing::tiny_resnet_config(); }
CLIPConfig tiny_vit() { return testing::tiny_vit_config(3); }

using testing::tiny_model;

Tensor random_images(std::vector<int64_t> shape, uint64_t seed, torch::ScalarType dtype = torch::kFloat) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::rand(shape, gen, torch::kDouble).mul(0.8).add(0.1).to(dtype);
}

// The image tower on images in [0, 1], normalized as in the render loop, in the
// images' own dtype. CLIPImpl::encode_image (and so run_image) casts its input to
// float32, and the ResNet's bottlenecks and attention pool cast to float32 too, so a
// float64 model is reachable only through the tower itself and, on a ResNet, only
// up to its stem.
void run_tower_as_is(CLIP& model, const Tensor& images, ActivationCache& cache) {
  cache.clear();
  try {
    model->visual->forward(clip_normalize(images), &cache);
  } catch (const StopForward&) {}
}

enum class Path { Model, Tower };

// An objective's value on images; the model runs only as far as its points.
Tensor objective_on(CLIP& model, const Objective& objective, const Tensor& images, Path path = Path::Model) {
  ActivationCache cache(objective.points);
  if (!objective.points.empty()) {
    if (path == Path::Tower)
      run_tower_as_is(model, images, cache);
    else
      model->run_image(clip_normalize(images), cache);
  }
  return objective.value(ObjectiveInput{cache, images});
}

// The gradient of `analytic` at x0 (autograd) against central differences of
// `numeric` along the gradient's own direction and a few random unit directions;
// `tolerance` is relative to the gradient's norm (a directional derivative's bound).
void expect_gradient_matches_fd(const std::function<Tensor(const Tensor&)>& analytic,
                                const std::function<Tensor(const Tensor&)>& numeric, const Tensor& x0, double h,
                                double tolerance, int random_directions = 3) {
  const Tensor x = x0.detach().clone().requires_grad_(true);
  const Tensor value = analytic(x);
  ASSERT_EQ(value.dim(), 0);
  ASSERT_EQ(value.scalar_type(), x0.scalar_type());
  value.backward();
  ASSERT_TRUE(x.grad().defined());
  const Tensor grad = x.grad().detach();
  const double norm = grad.norm().item<double>();
  ASSERT_GT(norm, 1e-8) << "the gradient is zero: nothing to compare";
  ASSERT_TRUE(std::isfinite(norm));
  std::vector<Tensor> directions = {grad / norm};
  auto gen = at::make_generator<at::CPUGeneratorImpl>(99);
  for (int i = 0; i < random_directions; ++i) {
    const Tensor d = torch::randn(x0.sizes(), gen, torch::kDouble).to(x0.scalar_type());
    directions.push_back(d / d.norm());
  }
  for (size_t i = 0; i < directions.size(); ++i) {
    const Tensor& d = directions[i];
    const double expected = (grad * d).sum().item<double>();
    const double up = numeric(x0 + h * d).item<double>();
    const double down = numeric(x0 - h * d).item<double>();
    EXPECT_NEAR((up - down) / (2 * h), expected, tolerance * norm)
        << (i == 0 ? "along the gradient" : "along random direction " + std::to_string(i));
  }
}

void expect_objective_gradient(CLIP& model, const Objective& objective, const Tensor& x0, Path path, double h,
                               double tolerance) {
  SCOPED_TRACE(objective.description);
  auto f = [&](const Tensor& x) { return objective_on(model, objective, x, path); };
  expect_gradient_matches_fd(f, f, x0, h, tolerance);
}

// sum_b s_b * w . sum_positions(g(x) * C) with C = relu(d neuron / d g) frozen at x0:
// what facet_attribution's value is, with its inner gradient held constant.
std::function<Tensor(const Tensor&)> frozen_facet(CLIP& model, const Objective& neuron_objective,
                                                  const std::string& layer, const Tensor& weights, double lo, double hi,
                                                  const Tensor& x0, Path path) {
  std::vector<std::string> points = neuron_objective.points;
  points.push_back(layer);
  auto run = [&model, points, path](const Tensor& x) {
    auto cache = std::make_shared<ActivationCache>(points);
    if (path == Path::Tower)
      run_tower_as_is(model, x, *cache);
    else
      model->run_image(clip_normalize(x), *cache);
    return cache;
  };
  const Tensor x = x0.detach().clone().requires_grad_(true);
  const auto cache = run(x);
  const Tensor target = neuron_objective.value(ObjectiveInput{*cache, x});
  const Tensor contribution = torch::relu(torch::autograd::grad({target}, {(*cache)[layer]})[0]).detach();
  const Layout layout = cache->layout(layer);
  return [=](const Tensor& images) {
    const auto c = run(images);
    Tensor product = (*c)[layer] * contribution.to((*c)[layer].scalar_type());
    // (B, units): positions summed, whatever the layout.
    if (layout == Layout::LND)
      product = product.sum(0);
    else if (layout == Layout::NCHW)
      product = product.sum({2, 3});
    else if (layout == Layout::NLD)
      product = product.sum(1);
    const int64_t b = product.size(0);
    Tensor total = torch::zeros({}, product.options());
    for (int64_t i = 0; i < b; ++i) {
      const double s = b == 1 ? lo : lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(b - 1);
      total = total + s * (product[i] * weights.to(product.scalar_type())).sum();
    }
    return total;
  };
}

// ----- Gradients --------------------------------------------------------------

constexpr double kDoubleH = 1e-5, kDoubleTolerance = 1e-7;

class DoubleResNetStem : public ::testing::Test {
 protected:
  void SetUp() override { model->to(torch::kFloat64); }
  CLIP model = tiny_model(tiny_resnet(), 1);
  const std::string stem = "visual.relu3";  // (N, 8, 16, 16) on 32 px images
  Tensor x2 = random_images({2, 3, 32, 32}, 5, torch::kDouble);
};

TEST_F(DoubleResNetStem, TheStemRunsInFloat64) {
  ActivationCache cache({stem});
  run_tower_as_is(model, x2, cache);
  EXPECT_EQ(cache[stem].scalar_type(), torch::kDouble);
  EXPECT_EQ(cache[stem].sizes(), (std::vector<int64_t>{2, 8, 16, 16}));
}

TEST_F(DoubleResNetStem, ChannelAndNeuronGradients) {
  // A single cell after a ReLU may be dead; neurons read the batch norm before it.
  const std::string pre = "visual.bn3";
  for (const auto& o :
       {channel(stem, 2), channel(stem, 5, 1), neuron(pre, 1), neuron(pre, 6, 3, 5, 0), neuron(pre, 3, 12, 2)})
    expect_objective_gradient(model, o, x2, Path::Tower, kDoubleH, kDoubleTolerance);
}

TEST_F(DoubleResNetStem, DirectionGradients) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const Tensor dir = torch::randn({8}, gen);
  for (const auto& o :
       {direction(stem, dir), direction(stem, dir, 1), direction(stem, dir, 1, 1), direction(stem, dir, 2)})
    expect_objective_gradient(model, o, x2, Path::Tower, kDoubleH, kDoubleTolerance);
}

TEST_F(DoubleResNetStem, DiversityGradient) {
  expect_objective_gradient(model, diversity(stem), random_images({3, 3, 32, 32}, 6, torch::kDouble), Path::Tower,
                            kDoubleH, kDoubleTolerance);
}

TEST_F(DoubleResNetStem, PenaltyGradients) {
  for (const auto& o : {l1(), l1(kInputPoint, 0.5), l1(kInputPoint, 0.5, 1), l2(), l2(kInputPoint, 0.3, 0),
                        total_variation(), total_variation(kInputPoint, 1), alpha_norm(), alpha_norm(3, kInputPoint, 0),
                        mean_square(), mean_square(kInputPoint, 0.2), l2(stem), total_variation(stem)})
    expect_objective_gradient(model, o, x2, Path::Tower, kDoubleH, kDoubleTolerance);
}

TEST_F(DoubleResNetStem, CombinationGradients) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  const Tensor dir = torch::randn({8}, gen);
  const Objective c = channel(stem, 2), n = neuron("visual.bn3", 4, 7, 9);
  for (const auto& o : {c + n, c - n, -c, c * 2.5, -0.5 * n, c - 0.01 * total_variation() - 0.2 * l2(),
                        2 * (c + direction(stem, dir, 1)) - n * 3, -(c - n)})
    expect_objective_gradient(model, o, x2, Path::Tower, kDoubleH, kDoubleTolerance);
}

TEST_F(DoubleResNetStem, FacetAttributionGradientHoldsTheInnerGradientFixed) {
  const std::string layer = "visual.relu2";
  auto gen = at::make_generator<at::CPUGeneratorImpl>(8);
  const Tensor w = torch::randn({4}, gen);          // relu2 has width / 2 units
  const Tensor dir = torch::randn({8}, gen).abs();  // cosines with the (non-negative) avgpool above 0.1
  // Between relu2 and avgpool the stem is piecewise linear, so d channel / d relu2 is
  // locally constant; the cosine of a direction makes it vary with x, so only a
  // gradient that really treats it as a constant matches the frozen reference.
  for (const auto& target :
       {channel("visual.avgpool", 3), neuron("visual.avgpool", 6, 2, 5, 1), direction("visual.avgpool", dir, 2)}) {
    const Objective facet = facet_attribution(target, layer, w, 0.5, 2.0);
    SCOPED_TRACE(facet.description);
    auto analytic = [&](const Tensor& x) { return objective_on(model, facet, x, Path::Tower); };
    const auto reference = frozen_facet(model, target, layer, w, 0.5, 2.0, x2, Path::Tower);
    // The reference is the same number at x0.
    EXPECT_NEAR(analytic(x2).item<double>(), reference(x2).item<double>(),
                1e-9 * (1 + std::abs(reference(x2).item<double>())));
    expect_gradient_matches_fd(analytic, reference, x2, kDoubleH, kDoubleTolerance);
  }
}

class DoubleViT : public ::testing::Test {
 protected:
  void SetUp() override { model->to(torch::kFloat64); }
  CLIP model = tiny_model(tiny_vit(), 2);
  const std::string block = "visual.transformer.resblocks.0";  // LND: (17, N, 64)
  Tensor x2 = random_images({2, 3, 64, 64}, 7, torch::kDouble);
};

TEST_F(DoubleViT, TheTowerRunsInFloat64) {
  ActivationCache cache({block});
  run_tower_as_is(model, x2, cache);
  EXPECT_EQ(cache[block].scalar_type(), torch::kDouble);
  EXPECT_EQ(cache.layout(block), Layout::LND);
  EXPECT_EQ(cache[block].sizes(), (std::vector<int64_t>{17, 2, 64}));
}

TEST_F(DoubleViT, ChannelNeuronDirectionDiversityGradients) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const Tensor dir = torch::randn({64}, gen);
  for (const auto& o :
       {channel(block, 5), channel(block, 9, 1), neuron(block, 5), neuron(block, 11, 3, std::nullopt, 1),
        neuron(block, 2, 0), direction(block, dir), direction(block, dir, 1), direction(block, dir, 1, 0),
        channel(block, 5) - 0.3 * neuron(block, 7, 16)})
    expect_objective_gradient(model, o, x2, Path::Tower, kDoubleH, kDoubleTolerance);
  expect_objective_gradient(model, diversity(block), random_images({3, 3, 64, 64}, 8, torch::kDouble), Path::Tower,
                            kDoubleH, kDoubleTolerance);
  // A later block and an MLP point (still LND).
  expect_objective_gradient(model, channel("visual.transformer.resblocks.2", 1), x2, Path::Tower, kDoubleH,
                            kDoubleTolerance);
  expect_objective_gradient(model, neuron("visual.transformer.resblocks.1.mlp.gelu", 100, 4), x2, Path::Tower, kDoubleH,
                            kDoubleTolerance);
}

TEST_F(DoubleViT, FacetAttributionGradientHoldsTheInnerGradientFixed) {
  const std::string layer = block;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  const Tensor w = torch::randn({64}, gen);
  const Objective target = channel("visual.transformer.resblocks.1", 3);
  const Objective facet = facet_attribution(target, layer, w, 1.0, 3.0);
  auto analytic = [&](const Tensor& x) { return objective_on(model, facet, x, Path::Tower); };
  const auto reference = frozen_facet(model, target, layer, w, 1.0, 3.0, x2, Path::Tower);
  EXPECT_NEAR(analytic(x2).item<double>(), reference(x2).item<double>(),
              1e-9 * (1 + std::abs(reference(x2).item<double>())));
  expect_gradient_matches_fd(analytic, reference, x2, kDoubleH, kDoubleTolerance);
}

// The whole model through run_image (float32 only): layer4 past the bottlenecks,
// with a looser tolerance for float32 rounding.
TEST(ObjectiveGradients, Float32ResNetLayer4) {
  CLIP model = tiny_model(tiny_resnet(), 3);
  const Tensor x = random_images({2, 3, 64, 64}, 9);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(6);
  const Tensor dir = torch::randn({256}, gen);
  const double h = 1e-2, tolerance = 2e-2;
  // A unit that is alive on these images (a dead one has no gradient to check).
  ActivationCache cache({"visual.layer4"});
  model->run_image(clip_normalize(x), cache);
  const int64_t alive = cache["visual.layer4"].mean({0, 2, 3}).argmax().item<int64_t>();
  for (const auto& o : {channel("visual.layer4", alive), neuron("visual.layer4.0.add", 9, 0, 1, 1),
                        direction("visual.layer4", dir, 1), channel("visual.layer3", 4) - 0.01 * total_variation()})
    expect_objective_gradient(model, o, x, Path::Model, h, tolerance);
  expect_objective_gradient(model, diversity("visual.layer4"), random_images({3, 3, 64, 64}, 10), Path::Model, h,
                            tolerance);
}

// ----- Values -----------------------------------------------------------------

class ResNetValues : public ::testing::Test {
 protected:
  CLIP model = tiny_model(tiny_resnet(), 4);
  Tensor x2 = random_images({2, 3, 64, 64}, 11);
  Tensor activations(const std::string& point, const Tensor& images) {
    ActivationCache cache({point});
    model->run_image(clip_normalize(images), cache);
    return cache[point].detach();
  }
  double value(const Objective& o, const Tensor& images) { return objective_on(model, o, images).item<double>(); }
};

TEST_F(ResNetValues, ChannelIsTheUnitsMean) {
  const Tensor t = activations("visual.layer4", x2);  // (2, 256, 2, 2)
  for (int64_t unit : {0, 17, 255}) {
    EXPECT_NEAR(value(channel("visual.layer4", unit), x2), t.select(1, unit).mean().item<double>(), 1e-6);
    EXPECT_NEAR(value(channel("visual.layer4", unit, 1), x2), t[1][unit].mean().item<double>(), 1e-6);
  }
}

TEST_F(ResNetValues, NeuronReadsColumnXRowY) {
  // 64 x 96 images: layer3 is 4 rows by 6 columns, so x and y cannot be swapped silently.
  const Tensor x = random_images({2, 3, 64, 96}, 12);
  const Tensor t = activations("visual.layer3", x);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{2, 128, 4, 6}));
  EXPECT_NEAR(value(neuron("visual.layer3", 5, 5, 1, 1), x), t[1][5][1][5].item<double>(), 1e-6);
  EXPECT_NEAR(value(neuron("visual.layer3", 5, 0, 3, 0), x), t[0][5][3][0].item<double>(), 1e-6);
  // The default is the centre (W/2, H/2), averaged over the batch.
  EXPECT_NEAR(value(neuron("visual.layer3", 9), x), t.index({idx::Slice(), 9, 2, 3}).mean().item<double>(), 1e-6);
  // Rows beyond the map.
  const std::string message = error_message([&] { value(neuron("visual.layer3", 5, 1, 5), x); });
  EXPECT_NE(message.find("neuron(visual.layer3, 5, x=1, y=5)"), std::string::npos) << message;
  EXPECT_NE(message.find("6x4"), std::string::npos) << message;
}

TEST_F(ResNetValues, OneHotDirectionIsTheChannel) {
  Tensor one_hot = torch::zeros({256});
  one_hot[42] = 1;
  EXPECT_NEAR(value(direction("visual.layer4", one_hot), x2), value(channel("visual.layer4", 42), x2), 1e-6);
  EXPECT_NEAR(value(direction("visual.layer4", one_hot, 0, 1), x2), value(channel("visual.layer4", 42, 1), x2), 1e-6);
  // cossim: every position's dot times max(0.1, cos)^p.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(13);
  const Tensor dir = torch::randn({256}, gen);
  const Tensor t = activations("visual.layer4", x2).movedim(1, -1).to(torch::kDouble);  // (2, 2, 2, 256)
  const Tensor d = dir.to(torch::kDouble);
  const Tensor dot = torch::matmul(t, d);
  const Tensor cos = dot / (1e-4 + t.norm(2, -1)) / (1e-4 + d.norm());
  EXPECT_NEAR(value(direction("visual.layer4", dir, 2), x2), (dot * cos.clamp_min(0.1).pow(2)).mean().item<double>(),
              1e-5 * (1 + dot.abs().mean().item<double>()));
}

TEST_F(ResNetValues, Diversity) {
  EXPECT_NEAR(value(diversity("visual.layer3"), random_images({1, 3, 64, 64}, 14)), 0, 1e-6);
  const Tensor one = random_images({1, 3, 64, 64}, 15);
  const double identical = value(diversity("visual.layer3"), one.repeat({3, 1, 1, 1}));
  EXPECT_NEAR(identical, 2.0, 1e-5);  // every pair has cosine 1: (B^2 - B) / B
  const double different = value(diversity("visual.layer3"), random_images({3, 3, 64, 64}, 16));
  EXPECT_LT(different, identical - 1e-4);
  EXPECT_GT(different, 0);  // ReLU maps: non-negative Gram matrices
}

TEST_F(ResNetValues, Penalties) {
  const Tensor constant = torch::full({2, 3, 8, 10}, 0.3);
  EXPECT_NEAR(value(total_variation(), constant), 0, 1e-9);
  EXPECT_NEAR(value(alpha_norm(), constant), 0, 1e-9);
  EXPECT_NEAR(value(alpha_norm(2), constant), 0, 1e-9);
  EXPECT_NEAR(value(l1(kInputPoint, 0.3), constant), 0, 1e-6);
  EXPECT_NEAR(value(l1(), constant), 0.3 * constant.numel(), 1e-4);
  EXPECT_NEAR(value(l1(kInputPoint, 0, 1), constant), 0.3 * constant.numel() / 2, 1e-4);
  EXPECT_NEAR(value(l2(), constant), std::sqrt(1e-6 + 0.09 * constant.numel()), 1e-4);
  EXPECT_NEAR(value(mean_square(), constant), 0.04, 1e-7);
  // Checkerboard of amplitude a: every neighbouring pair differs by a.
  const int64_t n = 2, c = 3, h = 5, w = 7;
  const double a = 0.8;
  const Tensor parity = (torch::arange(h).view({h, 1}) + torch::arange(w).view({1, w})).remainder(2).to(torch::kFloat);
  const Tensor board = (0.1 + a * parity).expand({n, c, h, w}).contiguous();
  const double per_image = c * ((h - 1) * w + h * (w - 1)) * a;
  EXPECT_NEAR(value(total_variation(), board), n * per_image, 1e-4);
  EXPECT_NEAR(value(total_variation(kInputPoint, 1), board), per_image, 1e-4);
  // alpha-norm of the board: every pixel is a/2 from the mean only when the counts are equal;
  // compute it from the definition instead.
  const Tensor flat = board.reshape({n, -1}).to(torch::kDouble);
  EXPECT_NEAR(value(alpha_norm(6), board), (flat - flat.mean(1, true)).abs().pow(6).sum().item<double>(), 1e-5);
}

TEST_F(ResNetValues, ErrorsNameThePointAndUnit) {
  std::string m = error_message([&] { value(channel("visual.layer4", 256), x2); });
  EXPECT_NE(m.find("visual.layer4"), std::string::npos) << m;
  EXPECT_NE(m.find("256"), std::string::npos) << m;
  m = error_message([&] { value(channel("visual.layer4", -1), x2); });
  EXPECT_NE(m.find("unit -1"), std::string::npos) << m;
  m = error_message([&] { value(neuron("visual.layer4", 300), x2); });
  EXPECT_NE(m.find("unit 300"), std::string::npos) << m;
  m = error_message([&] { value(channel("visual.layer4", 3, 2), x2); });
  EXPECT_NE(m.find("channel(visual.layer4, 3, batch=2)"), std::string::npos) << m;
  EXPECT_NE(m.find("batch index 2"), std::string::npos) << m;
  m = error_message([&] { value(l1(kInputPoint, 0, -1), x2); });
  EXPECT_NE(m.find("batch index -1"), std::string::npos) << m;
  m = error_message([&] { value(direction("visual.layer4", torch::ones({10})), x2); });
  EXPECT_NE(m.find("visual.layer4"), std::string::npos) << m;
  EXPECT_NE(m.find("10 values"), std::string::npos) << m;
  EXPECT_NE(m.find("256 units"), std::string::npos) << m;
  for (const auto& e : {channel("visual.layer4", 256).description, std::string(m)})
    EXPECT_EQ(e.find('\n'), std::string::npos);
}

TEST(ObjectiveValues, ViTChannelAndTokenNeuron) {
  CLIP model = tiny_model(tiny_vit(), 5);
  const std::string block = "visual.transformer.resblocks.1";
  const Tensor x = random_images({2, 3, 64, 64}, 17);
  ActivationCache cache({block});
  model->run_image(clip_normalize(x), cache);
  const Tensor t = cache[block].detach();  // (17, 2, 64), LND
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{17, 2, 64}));
  auto value = [&](const Objective& o) { return objective_on(model, o, x).item<double>(); };
  EXPECT_NEAR(value(channel(block, 7)), t.index({idx::Slice(), idx::Slice(), 7}).mean().item<double>(), 1e-5);
  EXPECT_NEAR(value(channel(block, 7, 1)), t.index({idx::Slice(), 1, 7}).mean().item<double>(), 1e-5);
  EXPECT_NEAR(value(neuron(block, 7, 5, std::nullopt, 0)), t[5][0][7].item<double>(), 1e-5);
  EXPECT_NEAR(value(neuron(block, 7)), t[8].index({idx::Slice(), 7}).mean().item<double>(), 1e-5);  // token 17 / 2
  Tensor one_hot = torch::zeros({64});
  one_hot[7] = 1;
  EXPECT_NEAR(value(direction(block, one_hot)), value(channel(block, 7)), 1e-5);
  EXPECT_NE(error_message([&] { value(neuron(block, 7, 2, 2)); }).find("token"), std::string::npos);
  EXPECT_NE(error_message([&] { value(neuron(block, 7, 17)); }).find("x=0..16"), std::string::npos);
  EXPECT_NE(error_message([&] { value(channel(block, 64)); }).find(block), std::string::npos);
}

// ----- parse_objective -----------------------------------------------------------

class Parse : public ::testing::Test {
 protected:
  CLIP model = tiny_model(tiny_resnet(), 6);
  Tensor x2 = random_images({2, 3, 64, 64}, 18);
  Objective parse(const std::string& text) { return parse_objective(text, *model); }
  double value(const Objective& o) { return objective_on(model, o, x2).item<double>(); }
  std::string error(const std::string& text) {
    const std::string m = error_message([&] { parse(text); });
    EXPECT_FALSE(m.empty()) << "'" << text << "' parsed";
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    return m;
  }
};

TEST_F(Parse, ShorthandIsChannel) {
  const Objective o = parse("visual.layer4:3");
  EXPECT_EQ(o.description, channel("visual.layer4", 3).description);
  EXPECT_EQ(o.points, std::vector<std::string>{"visual.layer4"});
  EXPECT_DOUBLE_EQ(value(o), value(channel("visual.layer4", 3)));
}

TEST_F(Parse, SumsAndWeights) {
  const double c = value(channel("visual.layer4", 3)), tv = value(total_variation());
  ASSERT_GT(tv, 1);
  EXPECT_NEAR(value(parse("channel(visual.layer4, 3) - 0.5 * tv()")), c - 0.5 * tv, 1e-5 * tv);
  EXPECT_NEAR(value(parse("2*channel(visual.layer4,3)*3")), 6 * c, 1e-6);
  EXPECT_NEAR(value(parse("-channel(visual.layer4, 3) + tv() * 1e-2")), -c + 1e-2 * tv, 1e-5 * tv);
  EXPECT_NEAR(value(parse("  channel( visual.layer4 , unit=3 )-tv(input)*0.25-visual.layer4:3 ")), c - 0.25 * tv - c,
              1e-5 * tv);
  const Objective two = parse("visual.layer4:3 + 0.5 * visual.layer3:1");
  EXPECT_EQ(two.points, (std::vector<std::string>{"visual.layer4", "visual.layer3"}));
  EXPECT_NEAR(value(two), c + 0.5 * value(channel("visual.layer3", 1)), 1e-6);
}

TEST_F(Parse, NeuronAndBatchArguments) {
  EXPECT_DOUBLE_EQ(value(parse("neuron(visual.layer4, 5, x=1, y=0, batch=1)")),
                   value(neuron("visual.layer4", 5, 1, 0, 1)));
  EXPECT_DOUBLE_EQ(value(parse("neuron(visual.layer4, 5)")), value(neuron("visual.layer4", 5)));
  EXPECT_DOUBLE_EQ(value(parse("channel(visual.layer4, 5, batch=0)")), value(channel("visual.layer4", 5, 0)));
  EXPECT_DOUBLE_EQ(value(parse("l2(constant=0.5, batch=1)")), value(l2(kInputPoint, 0.5, 1)));
  EXPECT_DOUBLE_EQ(value(parse("alpha_norm(4)")), value(alpha_norm(4)));
  EXPECT_DOUBLE_EQ(value(parse("square(input, 0.1)")), value(mean_square(kInputPoint, 0.1)));
  EXPECT_DOUBLE_EQ(value(parse("diversity(visual.layer3)")), value(diversity("visual.layer3")));
}

TEST_F(Parse, DirectionFromNpy) {
  const auto dir_path = clipscope::testing::temp_dir("objectives-test");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(19);
  const Tensor dir = torch::randn({256}, gen);
  write_npy_tensor(dir_path / "dir.npy", dir);
  Tensor one_hot = torch::zeros({256});
  one_hot[11] = 1;
  write_npy_tensor(dir_path / "onehot.npy", one_hot);
  write_npy_tensor(dir_path / "short.npy", torch::ones({10}));
  const std::string file = (dir_path / "dir.npy").string();
  EXPECT_NEAR(value(parse("direction(visual.layer4, " + file + ")")), value(direction("visual.layer4", dir)), 1e-6);
  EXPECT_NEAR(value(parse("direction(visual.layer4, " + file + ", cossim=1)")),
              value(direction("visual.layer4", dir, 1)), 1e-6);
  EXPECT_NEAR(value(parse("direction(visual.layer4, " + (dir_path / "onehot.npy").string() + ")")),
              value(channel("visual.layer4", 11)), 1e-6);
  const std::string m = error("direction(visual.layer4, " + (dir_path / "short.npy").string() + ")");
  EXPECT_NE(m.find("10 values"), std::string::npos) << m;
  EXPECT_NE(error("direction(visual.layer4)").find("direction() needs"), std::string::npos);
}

TEST_F(Parse, Aliases) {
  const Objective a = parse("channel(image_block_4/0/Add_6, 2)");
  EXPECT_EQ(a.points, std::vector<std::string>{"visual.layer4.0"});
  EXPECT_EQ(a.description, channel("visual.layer4.0", 2).description);
  EXPECT_DOUBLE_EQ(value(a), value(channel("visual.layer4.0", 2)));
  // The only block of layer4 is its output.
  EXPECT_DOUBLE_EQ(value(a), value(channel("visual.layer4", 2)));
  EXPECT_EQ(parse("image_block_4/0/Add_6:2").points, std::vector<std::string>{"visual.layer4.0"});
  EXPECT_EQ(parse("neuron(visual.layer3.1.relu3:input, 4)").points, std::vector<std::string>{"visual.layer3.1.add"});
}

TEST_F(Parse, DescriptionsArePrintable) {
  for (const std::string text :
       {"visual.layer4:3", "channel(visual.layer4, 3) - 0.5 * tv()", "2*channel(visual.layer4,3)*3",
        "neuron(visual.layer4, 5, x=1, y=0, batch=1) + 0.5 * diversity(visual.layer3) - l1() - l2(input, 0.5)",
        "-alpha_norm(6) - square()", "channel(visual.layer4, 1) - 2 * visual.layer3:1 - tv(batch=0)"}) {
    const std::string d = parse(text).description;
    EXPECT_FALSE(d.empty()) << text;
    for (char ch : d) EXPECT_TRUE(std::isprint(static_cast<unsigned char>(ch))) << d;
  }
  const Objective o = parse("channel(visual.layer4, 3) - 0.5 * tv() + visual.layer3:1");
  EXPECT_NE(o.description.find("channel(visual.layer4, 3)"), std::string::npos) << o.description;
  EXPECT_NE(o.description.find("0.5 * tv(input)"), std::string::npos) << o.description;
  EXPECT_NE(o.description.find("channel(visual.layer3, 1)"), std::string::npos) << o.description;
  // A compound subtrahend is parenthesized so the description reads as the value.
  EXPECT_EQ((channel("visual.layer4", 1) - (l1() + l2())).description,
            "channel(visual.layer4, 1) - (l1(input) + l2(input))");
}

TEST_F(Parse, ErrorsAreOneLineAndNameTheProblem) {
  EXPECT_NE(error("blob(visual.layer4, 3)").find("unknown objective 'blob'"), std::string::npos);
  EXPECT_NE(error("channel(visual.layer9, 3)").find("visual.layer9"), std::string::npos);
  EXPECT_NE(error("visual.nope:3").find("visual.nope"), std::string::npos);
  std::string m = error("channel(visual.layer4, 256)");
  EXPECT_NE(m.find("unit 256 is out of range for visual.layer4"), std::string::npos) << m;
  EXPECT_NE(error("visual.layer4:999").find("unit 999"), std::string::npos);
  EXPECT_NE(error("channel(visual.layer4, 3").find("not closed"), std::string::npos);
  EXPECT_NE(error("").find("empty"), std::string::npos);
  EXPECT_NE(error("   ").find("empty"), std::string::npos);
  m = error("channel(visual.layer4, 3) garbage");
  EXPECT_NE(m.find("garbage"), std::string::npos) << m;
  EXPECT_NE(error("channel(visual.layer4, 3))").find(")"), std::string::npos);
  EXPECT_NE(error("2 * 3").find("no objective"), std::string::npos);
  m = error("channel(visual.layer4, 1.5)");
  EXPECT_NE(m.find("'1.5'"), std::string::npos) << m;
  EXPECT_NE(error("channel(visual.layer4, two)").find("'two'"), std::string::npos);
  EXPECT_NE(error("channel(visual.layer4, -1)").find("'-1'"), std::string::npos);
  m = error("channel(visual.layer4, 3, colour=1)");
  EXPECT_NE(m.find("'colour'"), std::string::npos) << m;
  EXPECT_NE(error("neuron(visual.layer4, 3, x=0.5)").find("x must be an integer"), std::string::npos);
  EXPECT_NE(error("channel(visual.layer4, 3) +").find("missing"), std::string::npos);
  EXPECT_NE(error("channel(visual.layer4, 3) * channel(visual.layer4, 2)").find("two objectives"), std::string::npos);
  EXPECT_NE(error("channel(visual.layer4)").find("needs a unit"), std::string::npos);
  EXPECT_NE(error("channel(visual.layer4, , 3)").find("empty"), std::string::npos);
  EXPECT_NE(error("channel(visual.layer4, 3, 4)").find("positional"), std::string::npos);
}

// ----- Redirected ReLU ---------------------------------------------------------------

// The rule, element by element: a batch item whose ReLU gradient is non-zero
// somewhere gets the ReLU gradient; another gets g, zeroed where x < 0 and g > 0.
Tensor expected_redirected_grad(const Tensor& x, const Tensor& g) {
  const Tensor xs = x.reshape({x.size(0), -1}).to(torch::kDouble), gs = g.reshape({x.size(0), -1}).to(torch::kDouble);
  Tensor out = torch::zeros_like(xs);
  auto xa = xs.accessor<double, 2>(), ga = gs.accessor<double, 2>();
  auto oa = out.accessor<double, 2>();
  for (int64_t b = 0; b < xs.size(0); ++b) {
    bool passes = false;
    for (int64_t i = 0; i < xs.size(1); ++i) passes = passes || (xa[b][i] >= 0 && ga[b][i] != 0);
    for (int64_t i = 0; i < xs.size(1); ++i) {
      if (passes)
        oa[b][i] = xa[b][i] >= 0 ? ga[b][i] : 0;
      else
        oa[b][i] = xa[b][i] < 0 && ga[b][i] > 0 ? 0 : ga[b][i];
    }
  }
  return out.reshape(x.sizes()).to(x.scalar_type());
}

TEST(RedirectedRelu, BackwardPerBatchItem) {
  // (4, 2, 3): item 0 passes gradient through positive inputs; item 1 is all negative;
  // item 2 has positive inputs but a zero gradient there; item 3 passes through one cell only.
  const Tensor x = torch::tensor({{{1.0, -2.0, 0.5}, {-1.0, 3.0, -0.5}},
                                  {{-1.0, -2.0, -0.5}, {-1.0, -3.0, -0.5}},
                                  {{1.0, -2.0, 0.5}, {-1.0, 3.0, -0.5}},
                                  {{-1.0, -2.0, -0.5}, {-1.0, -3.0, 0.25}}});
  const Tensor g = torch::tensor({{{0.3, -0.7, 0.2}, {0.4, -0.1, -0.6}},
                                  {{0.3, -0.7, 0.2}, {-0.4, 0.1, -0.6}},
                                  {{0.0, -0.7, 0.0}, {0.4, 0.0, -0.6}},
                                  {{0.3, -0.7, 0.2}, {0.4, -0.1, -0.6}}});
  const Tensor xr = x.clone().requires_grad_(true);
  const Tensor y = redirected_relu(xr);
  EXPECT_TRUE(torch::equal(y, torch::relu(x)));
  y.backward(g);
  const Tensor expected = expected_redirected_grad(x, g);
  EXPECT_TRUE(torch::equal(xr.grad(), expected)) << xr.grad() << "\n" << expected;
  // Items 0 and 3 got the plain ReLU gradient; 1 and 2 the redirected one, which is not.
  const Tensor relu_grad = g * (x >= 0);
  EXPECT_TRUE(torch::equal(xr.grad()[0], relu_grad[0]));
  EXPECT_TRUE(torch::equal(xr.grad()[3], relu_grad[3]));
  EXPECT_TRUE(torch::equal(xr.grad()[1], torch::tensor({{0.0, -0.7, 0.0}, {-0.4, 0.0, -0.6}})));
  EXPECT_FALSE(torch::equal(xr.grad()[2], relu_grad[2]));
  // Random cases, four-dimensional.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(20);
  for (int trial = 0; trial < 5; ++trial) {
    Tensor xx = torch::randn({5, 2, 3, 3}, gen) - 0.5 * trial;
    const Tensor gg = torch::randn({5, 2, 3, 3}, gen);
    xx.select(0, 1).abs_().neg_();  // item 1 all negative: redirected
    const Tensor leaf = xx.clone().requires_grad_(true);
    redirected_relu(leaf).backward(gg);
    EXPECT_TRUE(torch::equal(leaf.grad(), expected_redirected_grad(xx, gg))) << "trial " << trial;
  }
}

TEST(RedirectedRelu, GuardRestoresThePreviousState) {
  const bool initial = redirected_relu_enabled();
  {
    RedirectedReluGuard on;
    EXPECT_TRUE(redirected_relu_enabled());
    {
      RedirectedReluGuard off(false);
      EXPECT_FALSE(redirected_relu_enabled());
      {
        RedirectedReluGuard on_again(true);
        EXPECT_TRUE(redirected_relu_enabled());
      }
      EXPECT_FALSE(redirected_relu_enabled());
    }
    EXPECT_TRUE(redirected_relu_enabled());
  }
  EXPECT_EQ(redirected_relu_enabled(), initial);
}

TEST(RedirectedRelu, ForwardValuesAreUnchanged) {
  CLIP model = tiny_model(tiny_resnet(), 7);
  const std::vector<std::string> points = {"visual.relu1", "visual.layer1.0.relu1", "visual.layer2.0.add",
                                           "visual.layer3.2", "visual.layer4"};
  const Tensor x = random_images({2, 3, 64, 64}, 21).requires_grad_(true);
  ActivationCache plain(points), redirected(points);
  model->run_image(clip_normalize(x), plain);
  {
    RedirectedReluGuard guard;
    model->run_image(clip_normalize(x), redirected);
  }
  for (const auto& p : points) EXPECT_TRUE(torch::equal(plain[p], redirected[p])) << p;
}

TEST(RedirectedRelu, DeadUnitGetsAGradientOnlyWithTheGuard) {
  CLIP model = tiny_model(tiny_resnet(), 8);
  const Tensor x0 = random_images({1, 3, 64, 64}, 22);
  ActivationCache cache({"visual.layer4"});
  {
    torch::NoGradGuard no_grad;
    model->run_image(clip_normalize(x0), cache);
  }
  const Tensor per_unit = cache["visual.layer4"][0].reshape({256, -1}).amax(1);
  const auto dead = (per_unit == 0).nonzero();
  ASSERT_GT(dead.size(0), 0) << "no dead layer4 unit in this tiny model";
  ASSERT_LT(dead.size(0), 256);
  const int64_t unit = dead[0][0].item<int64_t>();
  const Objective o = channel("visual.layer4", unit);
  auto input_grad = [&](bool redirect) {
    const Tensor x = x0.clone().requires_grad_(true);
    RedirectedReluGuard guard(redirect);
    const Tensor v = objective_on(model, o, x);
    EXPECT_EQ(v.item<double>(), 0);
    (-v).backward();  // the render loop minimizes -objective
    return x.grad();
  };
  const Tensor without = input_grad(false), with = input_grad(true);
  EXPECT_EQ(without.abs().max().item<double>(), 0);
  EXPECT_GT(with.abs().max().item<double>(), 0);
  // A small step along the redirected gradient (descending the loss) wakes the unit up,
  // or at least moves its pre-activation up.
  ActivationCache add_cache({"visual.layer4.0.add"});
  auto pre = [&](const Tensor& images) {
    torch::NoGradGuard no_grad;
    model->run_image(clip_normalize(images), add_cache);
    return add_cache["visual.layer4.0.add"][0][unit].mean().item<double>();
  };
  EXPECT_GT(pre(x0 - 1e-3 * with / with.abs().max()), pre(x0));
}

}  // namespace
}  // namespace clipscope::optvis
