// Random image transforms: geometry of each transform, reproducibility from the
// seed, gradients against finite differences, and the spec parser.
#include "optvis/transforms.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "core/util/error.h"

using namespace clipscope;
using namespace clipscope::optvis;
using torch::indexing::Slice;

namespace {

torch::Tensor seeded(std::vector<int64_t> shape, uint64_t seed = 5) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::rand(shape, gen, torch::kDouble);
}

// Gradient of sum(transform(x) * w) from autograd against central differences;
// every evaluation starts from the same Rng state so the random draw is fixed.
void expect_gradient_matches_fd(const Transform& t, const std::vector<int64_t>& shape, uint64_t rng_seed = 3) {
  SCOPED_TRACE(t.name);
  auto x = seeded(shape).requires_grad_(true);
  const Rng start(rng_seed);
  auto run = [&] {
    Rng rng = start;
    return t.apply(x, rng);
  };
  auto out = run();
  auto weights = seeded(out.sizes().vec(), 9) - 0.5;
  (out * weights).sum().backward();
  auto analytic = x.grad().clone();
  EXPECT_GT(analytic.abs().max().item<double>(), 1e-3);

  const double eps = 1e-6;
  torch::NoGradGuard no_grad;
  double* p = x.data_ptr<double>();
  const double* a = analytic.data_ptr<double>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double saved = p[i];
    p[i] = saved + eps;
    const double up = (run() * weights).sum().item<double>();
    p[i] = saved - eps;
    const double down = (run() * weights).sum().item<double>();
    p[i] = saved;
    EXPECT_NEAR(a[i], (up - down) / (2 * eps), 1e-7) << "entry " << i;
  }
}

std::vector<std::string> names(const std::vector<Transform>& ts) {
  std::vector<std::string> out;
  for (const auto& t : ts) out.push_back(t.name);
  return out;
}

std::string error_of(const std::string& spec) {
  try {
    parse_transforms(spec);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Transforms, PadPutsTheConstantAroundTheOriginal) {
  auto x = seeded({2, 3, 5, 7});
  Rng rng(1);
  auto y = pad(3, 0.25).apply(x, rng);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 11, 13}));
  EXPECT_TRUE(torch::equal(y.index({Slice(), Slice(), Slice(3, 8), Slice(3, 10)}), x));
  auto border = torch::ones_like(y, torch::kBool);
  border.index_put_({Slice(), Slice(), Slice(3, 8), Slice(3, 10)}, false);
  EXPECT_TRUE(torch::all(y.masked_select(border) == 0.25).item<bool>());
  EXPECT_EQ(pad(12).name, "pad(12,0.5)");
}

TEST(Transforms, JitterIsACropAtAnOffsetWithinD) {
  const int64_t d = 3;
  auto x = seeded({2, 3, 10, 9});
  auto t = jitter(d);
  Rng rng(42);
  std::set<int64_t> seen_y, seen_x;
  for (int trial = 0; trial < 200; ++trial) {
    auto y = t.apply(x, rng);
    ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 10 - d, 9 - d}));
    int matches = 0;
    for (int64_t oy = 0; oy <= d; ++oy)
      for (int64_t ox = 0; ox <= d; ++ox)
        if (torch::equal(y, x.index({Slice(), Slice(), Slice(oy, oy + 10 - d), Slice(ox, ox + 9 - d)}))) {
          ++matches;
          seen_y.insert(oy);
          seen_x.insert(ox);
        }
    ASSERT_EQ(matches, 1) << "one offset in [0, d] for the whole batch";
  }
  EXPECT_EQ(seen_y.size(), static_cast<size_t>(d + 1));  // every offset occurs
  EXPECT_EQ(seen_x.size(), static_cast<size_t>(d + 1));
  EXPECT_THROW(t.apply(torch::zeros({1, 3, 3, 8}), rng), Error);
  EXPECT_THROW(jitter(-1), Error);
}

TEST(Transforms, ScaleOneIsIdentityAndHalfHalves) {
  auto x = seeded({2, 3, 8, 10});
  Rng rng(1);
  EXPECT_TRUE(torch::equal(random_scale({1.0}).apply(x, rng), x));
  auto half = random_scale({0.5}).apply(x, rng);
  ASSERT_EQ(half.sizes(), (std::vector<int64_t>{2, 3, 4, 5}));
  // Bilinear, half-pixel centres, factor 2 down: the mean of each 2x2 block.
  EXPECT_TRUE(torch::allclose(half, torch::avg_pool2d(x, 2), 1e-12, 1e-12));
  auto up = random_scale({1.5}).apply(seeded({1, 1, 15, 7}), rng);
  EXPECT_EQ(up.sizes(), (std::vector<int64_t>{1, 1, 23, 11}));  // round(22.5), round(10.5)
  auto down = random_scale({0.9}).apply(seeded({1, 1, 15, 7}), rng);
  EXPECT_EQ(down.sizes(), (std::vector<int64_t>{1, 1, 14, 6}));  // round(13.5), round(6.3)
  EXPECT_THROW(random_scale({}), Error);
  EXPECT_THROW(random_scale({0.0}), Error);
}

TEST(Transforms, ScaleDrawsEveryFactor) {
  auto t = random_scale({0.5, 1.0, 2.0});
  auto x = seeded({1, 1, 8, 8});
  Rng rng(7);
  std::set<int64_t> sizes;
  for (int i = 0; i < 60; ++i) sizes.insert(t.apply(x, rng).size(2));
  EXPECT_EQ(sizes, (std::set<int64_t>{4, 8, 16}));
}

TEST(Transforms, RotateZeroIsIdentity) {
  auto x = seeded({2, 3, 9, 11});
  Rng rng(1);
  EXPECT_TRUE(torch::equal(random_rotate({0}).apply(x, rng), x));
  // A tiny angle is close to the identity away from the corners.
  auto y = random_rotate({0.01}).apply(x, rng);
  auto inner = std::vector<at::indexing::TensorIndex>{Slice(), Slice(), Slice(1, -1), Slice(1, -1)};
  EXPECT_LT((y.index(inner) - x.index(inner)).abs().max().item<double>(), 2e-3);
}

// Positive angles turn the picture counter-clockwise as seen on screen (rows
// down), like tf.contrib.image.rotate in lucid, and like torch::rot90 over (H, W).
TEST(Transforms, RotateNinetyIsCounterClockwise) {
  auto dot = torch::zeros({1, 1, 5, 5}, torch::kDouble);
  dot[0][0][2][4] = 1;  // right of the centre
  Rng rng(1);
  auto turned = random_rotate({90}).apply(dot, rng);
  EXPECT_NEAR(turned[0][0][0][2].item<double>(), 1.0, 1e-9);  // now above the centre
  EXPECT_NEAR(turned.sum().item<double>(), 1.0, 1e-9);

  for (int64_t side : {7, 8}) {
    auto x = seeded({2, 3, side, side});
    auto ccw = random_rotate({90}).apply(x, rng);
    auto cw = random_rotate({-90}).apply(x, rng);
    auto inner = std::vector<at::indexing::TensorIndex>{Slice(), Slice(), Slice(1, -1), Slice(1, -1)};
    EXPECT_TRUE(torch::allclose(ccw.index(inner), torch::rot90(x, 1, {2, 3}).index(inner), 1e-9, 1e-9)) << side;
    EXPECT_TRUE(torch::allclose(cw.index(inner), torch::rot90(x, -1, {2, 3}).index(inner), 1e-9, 1e-9)) << side;
  }
}

TEST(Transforms, RotateRespectsTheAspectRatio) {
  auto x = seeded({1, 2, 6, 10});
  Rng rng(1);
  // 180 degrees of a non-square image flips both axes.
  auto half_turn = random_rotate({180}).apply(x, rng);
  EXPECT_TRUE(torch::allclose(half_turn, torch::flip(x, {2, 3}), 1e-9, 1e-9));
  // 90 degrees: the central 6x6 square turns in place, in pixel (not normalised) units.
  auto quarter = random_rotate({90}).apply(x, rng);
  auto centre = std::vector<at::indexing::TensorIndex>{Slice(), Slice(), Slice(), Slice(2, 8)};
  EXPECT_TRUE(torch::allclose(quarter.index(centre), torch::rot90(x.index(centre), 1, {2, 3}), 1e-9, 1e-9));
  EXPECT_EQ(quarter.sizes(), x.sizes());
}

TEST(Transforms, CropOrPadToCentres) {
  auto x = seeded({1, 2, 10, 10});
  Rng rng(1);
  auto cropped = crop_or_pad_to(6, 7).apply(x, rng);
  ASSERT_EQ(cropped.sizes(), (std::vector<int64_t>{1, 2, 6, 7}));
  EXPECT_TRUE(torch::equal(cropped, x.index({Slice(), Slice(), Slice(2, 8), Slice(1, 8)})));

  auto small = seeded({1, 2, 4, 4});
  auto padded = crop_or_pad_to(7, 8).apply(small, rng);
  ASSERT_EQ(padded.sizes(), (std::vector<int64_t>{1, 2, 7, 8}));
  EXPECT_TRUE(torch::equal(padded.index({Slice(), Slice(), Slice(1, 5), Slice(2, 6)}), small));
  EXPECT_DOUBLE_EQ(padded[0][0][0][0].item<double>(), 0.5);
  EXPECT_DOUBLE_EQ(padded[0][1][6][7].item<double>(), 0.5);
  EXPECT_NEAR(padded.sum().item<double>(), small.sum().item<double>() + 0.5 * 2 * (56 - 16), 1e-9);

  auto mixed = crop_or_pad_to(4, 12).apply(x, rng);
  ASSERT_EQ(mixed.sizes(), (std::vector<int64_t>{1, 2, 4, 12}));
  EXPECT_TRUE(torch::equal(mixed.index({Slice(), Slice(), Slice(), Slice(1, 11)}),
                           x.index({Slice(), Slice(), Slice(3, 7), Slice()})));
  EXPECT_TRUE(torch::equal(crop_or_pad_to(10, 10).apply(x, rng), x));
}

TEST(Transforms, ApplyAllIsReproducibleFromTheSeed) {
  auto x = seeded({2, 3, 32, 32}, 11);
  const auto ts = standard_transforms();
  Rng a(123), b(123);
  for (int step = 0; step < 5; ++step) {
    auto ya = apply_all(ts, x, a), yb = apply_all(ts, x, b);
    EXPECT_TRUE(torch::equal(ya, yb)) << step;
  }
  // Different seeds give different draws (some of them).
  int differing = 0;
  Rng r0(1);
  auto y0 = apply_all(ts, x, r0);
  for (uint64_t seed = 2; seed < 10; ++seed) {
    Rng r(seed);
    auto y = apply_all(ts, x, r);
    if (!y.sizes().equals(y0.sizes()) || !torch::equal(y, y0)) ++differing;
  }
  EXPECT_GE(differing, 6);
  // The draws are raw mt19937_64 outputs modulo the count (fixed by the standard,
  // unlike std::uniform_int_distribution): jitter takes the row, then the column offset.
  Rng probe(77), rng(77);
  const int64_t dy = static_cast<int64_t>(probe() % 9), dx = static_cast<int64_t>(probe() % 9);
  EXPECT_TRUE(
      torch::equal(jitter(8).apply(x, rng), x.index({Slice(), Slice(), Slice(dy, dy + 24), Slice(dx, dx + 24)})));
}

TEST(Transforms, StandardTransformsAreLucids) {
  auto ts = standard_transforms();
  ASSERT_EQ(ts.size(), 5u);
  EXPECT_EQ(ts[0].name, "pad(12,0.5)");
  EXPECT_EQ(ts[1].name, "jitter(8)");
  EXPECT_EQ(ts[2].name, "scale(0.9,0.92,0.94,0.96,0.98,1,1.02,1.04,1.06,1.08,1.1)");
  EXPECT_EQ(ts[3].name, "rotate(-10,-9,-8,-7,-6,-5,-4,-3,-2,-1,0,1,2,3,4,5,6,7,8,9,10,0,0,0,0,0)");
  EXPECT_EQ(ts[4].name, "jitter(4)");
  // 224 -> pad 248 -> jitter 240 -> scale -> rotate -> jitter 4 smaller.
  auto x = torch::rand({1, 3, 224, 224});
  Rng rng(5);
  for (int i = 0; i < 5; ++i) {
    auto y = apply_all(ts, x, rng);
    EXPECT_GE(y.size(2), std::llround(240 * 0.9) - 4);
    EXPECT_LE(y.size(2), std::llround(240 * 1.1) - 4);
    EXPECT_EQ(y.size(2), y.size(3));
  }
}

TEST(Transforms, FacetTransformsEndAtTheResolution) {
  auto ts = facet_transforms(64);
  ASSERT_EQ(ts.size(), 15u);
  EXPECT_EQ(ts[0].name, "pad(2,0.5)");
  for (int i = 1; i <= 10; ++i) EXPECT_EQ(ts[i].name, "jitter(4)");
  EXPECT_EQ(ts[13].name, "jitter(2)");
  EXPECT_EQ(ts[14].name, "crop(64,64)");
  Rng rng(9);
  auto y = apply_all(ts, torch::rand({1, 3, 64, 64}), rng);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 3, 64, 64}));
}

TEST(Transforms, GradientsFlowThroughEveryTransform) {
  expect_gradient_matches_fd(pad(2, 0.5), {1, 2, 4, 5});
  expect_gradient_matches_fd(jitter(2), {1, 2, 6, 5});
  expect_gradient_matches_fd(random_scale({0.7}), {1, 2, 6, 7});
  expect_gradient_matches_fd(random_scale({1.3}), {1, 2, 5, 6});
  expect_gradient_matches_fd(random_rotate({17}), {1, 2, 6, 7});
  expect_gradient_matches_fd(random_rotate({-35}), {1, 1, 7, 7});
  expect_gradient_matches_fd(crop_or_pad_to(4, 9), {1, 2, 6, 7});
}

TEST(Transforms, GradientsFlowThroughTheStandardPipeline) {
  auto ts = standard_transforms();
  const Transform all{"standard", [&](const torch::Tensor& x, Rng& rng) { return apply_all(ts, x, rng); }};
  for (uint64_t seed : {1, 2}) expect_gradient_matches_fd(all, {1, 1, 12, 12}, seed);
}

TEST(Transforms, ParseAndDescribeRoundTrip) {
  const std::string spec = "pad(12,0.5),jitter(8),scale(0.9,1,1.1),rotate(-5,0,5),jitter(4),crop(224,224)";
  auto ts = parse_transforms(spec);
  EXPECT_EQ(names(ts), (std::vector<std::string>{"pad(12,0.5)", "jitter(8)", "scale(0.9,1,1.1)", "rotate(-5,0,5)",
                                                 "jitter(4)", "crop(224,224)"}));
  EXPECT_EQ(describe(ts), "pad(12,0.5), jitter(8), scale(0.9,1,1.1), rotate(-5,0,5), jitter(4), crop(224,224)");
  EXPECT_EQ(names(parse_transforms(describe(ts))), names(ts));
  EXPECT_EQ(names(parse_transforms(" pad( 3 , 0.25 ) , jitter(2)")),
            (std::vector<std::string>{"pad(3,0.25)", "jitter(2)"}));
  EXPECT_EQ(names(parse_transforms("pad(3)")), (std::vector<std::string>{"pad(3,0.5)"}));

  EXPECT_EQ(names(parse_transforms("standard")), names(standard_transforms()));
  EXPECT_EQ(names(parse_transforms("facet:224")), names(facet_transforms(224)));
  // The facet scales are long decimals; their names still read back exactly.
  EXPECT_EQ(names(parse_transforms(describe(facet_transforms(224)))), names(facet_transforms(224)));
  EXPECT_TRUE(parse_transforms("none").empty());
  EXPECT_EQ(describe({}), "");

  // A parsed transform behaves like the constructed one.
  auto x = seeded({1, 1, 2, 2});
  Rng rng(1);
  auto padded = parse_transforms("pad(1,0.25)")[0].apply(x, rng);
  EXPECT_DOUBLE_EQ(padded[0][0][0][0].item<double>(), 0.25);
}

TEST(Transforms, ParseErrorsNameTheBadPiece) {
  for (const char* spec : {"jitter(x)", "unknown(1)", "pad(12", "scale()", "jitter(-1)", "facet:abc",
                           "jitter(8),,pad(1)", "jitter(1.5)", "rotate(5,y)", "crop(0,3)", "", "pad(1,2,3)"}) {
    SCOPED_TRACE(spec);
    EXPECT_THROW(parse_transforms(spec), Error);
    const std::string message = error_of(spec);
    EXPECT_EQ(message.find('\n'), std::string::npos);
  }
  EXPECT_NE(error_of("jitter(x)").find("jitter(x)"), std::string::npos);
  EXPECT_NE(error_of("jitter(x)").find("\"x\""), std::string::npos);
  EXPECT_NE(error_of("unknown(1)").find("unknown(1)"), std::string::npos);
  EXPECT_NE(error_of("pad(1),rotate(5,y),jitter(2)").find("rotate(5,y)"), std::string::npos);
  EXPECT_NE(error_of("jitter(-1)").find("jitter(-1)"), std::string::npos);
  EXPECT_NE(error_of("facet:abc").find("facet:abc"), std::string::npos);
}
