// Image parameterizations: lucid's Fourier spectrum and colour decorrelation,
// range mappings, seeding, and gradients against finite differences.
#include "optvis/param.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/util/error.h"

using namespace clipscope;
using namespace clipscope::optvis;

namespace {

// Autograd's gradient of sum(f() * weights) with respect to x against central
// differences, for every entry of x (a contiguous double leaf that f reads).
void expect_gradient_matches_fd(const std::function<torch::Tensor()>& f, torch::Tensor x, double tolerance = 1e-7) {
  ASSERT_EQ(x.scalar_type(), torch::kDouble);
  ASSERT_TRUE(x.is_contiguous());
  auto out = f();
  ASSERT_EQ(out.scalar_type(), torch::kDouble);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  auto weights = torch::randn(out.sizes(), gen, torch::kDouble);
  if (x.grad().defined()) x.mutable_grad().zero_();
  (out * weights).sum().backward();
  auto analytic = x.grad().clone();
  ASSERT_TRUE(analytic.defined());

  const double eps = 1e-6;
  torch::NoGradGuard no_grad;
  double* p = x.data_ptr<double>();
  auto g = analytic.contiguous();
  const double* a = g.data_ptr<double>();
  double max_abs = 0;
  for (int64_t i = 0; i < x.numel(); ++i) max_abs = std::max(max_abs, std::abs(a[i]));
  EXPECT_GT(max_abs, 1e-3) << "gradient is (nearly) zero everywhere";
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double saved = p[i];
    p[i] = saved + eps;
    const double up = (f() * weights).sum().item<double>();
    p[i] = saved - eps;
    const double down = (f() * weights).sum().item<double>();
    p[i] = saved;
    const double numeric = (up - down) / (2 * eps);
    EXPECT_NEAR(a[i], numeric, tolerance + 1e-6 * std::abs(numeric)) << "entry " << i;
  }
}

// Converts an ImageParam's parameters to double in place (the math follows their dtype).
std::vector<torch::Tensor> to_double(ImageParam& param) {
  auto ps = param.parameters();
  for (auto& p : ps) p.set_data(p.detach().to(torch::kDouble));
  return ps;
}

void check_param_gradients(const ParamOptions& o) {
  auto param = make_image_param(o);
  auto ps = to_double(*param);
  for (auto& p : ps) {
    SCOPED_TRACE(o.describe());
    expect_gradient_matches_fd([&] { return param->image(); }, p);
  }
}

ParamOptions small(bool fft, int64_t h = 6, int64_t w = 6) {
  ParamOptions o;
  o.fft = fft;
  o.height = h;
  o.width = w;
  o.batch = 1;
  o.sd = 0.3;  // large enough for the sigmoid to be visibly non-linear
  return o;
}

// Mean |rfft2| of (N, C, H, W) images over the frequencies in [lo, hi).
double band_magnitude(const torch::Tensor& images, double lo, double hi) {
  const int64_t h = images.size(2), w = images.size(3);
  auto centred = images.to(torch::kDouble) - images.to(torch::kDouble).mean({2, 3}, true);
  auto mag = torch::abs(torch::fft::rfft2(centred)).mean(std::vector<int64_t>{0, 1});
  auto f = rfft2d_freqs(h, w).to(torch::kDouble);
  auto mask = (f >= lo) & (f < hi);
  return mag.masked_select(mask).mean().item<double>();
}

double band_frequency(int64_t h, int64_t w, double lo, double hi) {
  auto f = rfft2d_freqs(h, w).to(torch::kDouble);
  return f.masked_select((f >= lo) & (f < hi)).mean().item<double>();
}

}  // namespace

TEST(Param, Rfft2dFreqsMatchesFftfreq) {
  auto f = rfft2d_freqs(4, 6);
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{4, 4}));
  // fy = [0, 1/4, -1/2, -1/4], fx = [0, 1/6, 2/6, 1/2].
  EXPECT_FLOAT_EQ(f[0][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(f[1][0].item<float>(), 0.25f);
  EXPECT_FLOAT_EQ(f[2][0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(f[3][0].item<float>(), 0.25f);
  EXPECT_FLOAT_EQ(f[0][1].item<float>(), 1.0f / 6);
  EXPECT_FLOAT_EQ(f[0][3].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(f[3][2].item<float>(), static_cast<float>(std::sqrt(1.0 / 16 + 4.0 / 36)));
  // Odd width: w/2+1 columns, the last one below 1/2.
  auto g = rfft2d_freqs(5, 7);
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{5, 4}));
  EXPECT_FLOAT_EQ(g[0][3].item<float>(), 3.0f / 7);
  EXPECT_FLOAT_EQ(g[2][0].item<float>(), 2.0f / 5);
  EXPECT_FLOAT_EQ(g[3][0].item<float>(), 2.0f / 5);  // fftfreq(5)[3] = -2/5
}

TEST(Param, ColorCorrelationIsLucidsMatrixOverMaxColumnNorm) {
  const double raw[3][3] = {{0.26, 0.09, 0.02}, {0.27, 0.00, -0.05}, {0.27, -0.09, 0.03}};
  const double max_norm = std::sqrt(0.26 * 0.26 + 0.27 * 0.27 + 0.27 * 0.27);  // column 0 is the largest
  auto m = color_correlation_normalized();
  ASSERT_EQ(m.sizes(), (std::vector<int64_t>{3, 3}));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(m[i][j].item<double>(), raw[i][j] / max_norm, 1e-6) << i << "," << j;
  auto norms = m.to(torch::kDouble).norm(2, 0);
  EXPECT_NEAR(norms[0].item<double>(), 1.0, 1e-6);
  EXPECT_LT(norms[1].item<double>(), 1.0);
  EXPECT_LT(norms[2].item<double>(), 1.0);
  EXPECT_NEAR(m[0][0].item<double>(), 0.562830, 1e-5);
}

TEST(Param, DecorrelateMultipliesEachPixelByTheMatrix) {
  auto t = torch::randn({2, 3, 4, 5}, torch::kDouble);
  auto out = decorrelate_colors(t);
  ASSERT_EQ(out.sizes(), t.sizes());
  auto m = color_correlation_normalized().to(torch::kDouble);
  for (int64_t n : {0, 1})
    for (int64_t y : {0, 3})
      for (int64_t x : {1, 4}) {
        auto v = t.index({n, torch::indexing::Slice(), y, x});
        auto expected = torch::mv(m, v);  // M v, i.e. lucid's row vector times M^T
        // 1e-6: the public matrix is float32, the double path computes its own.
        EXPECT_TRUE(torch::allclose(out.index({n, torch::indexing::Slice(), y, x}), expected, 1e-6, 1e-7));
      }
  EXPECT_THROW(decorrelate_colors(torch::zeros({1, 1, 4, 4})), Error);
}

TEST(Param, ToValidRgbRanges) {
  auto t = torch::randn({1, 3, 8, 8}, torch::kDouble) * 3;
  auto s = to_valid_rgb(t, false, Range::Sigmoid);
  EXPECT_TRUE(torch::allclose(s, torch::sigmoid(t)));
  auto c = to_valid_rgb(t, false, Range::Clamp);
  EXPECT_TRUE(torch::equal(c, t.clamp(0, 1)));
  // Decorrelated clamp adds lucid's colour mean, so zeros give (0.48, 0.46, 0.41).
  auto grey = to_valid_rgb(torch::zeros({1, 3, 2, 2}), true, Range::Clamp);
  EXPECT_NEAR(grey[0][0][0][0].item<double>(), 0.48, 1e-6);
  EXPECT_NEAR(grey[0][1][1][1].item<double>(), 0.46, 1e-6);
  EXPECT_NEAR(grey[0][2][0][1].item<double>(), 0.41, 1e-6);
}

TEST(Param, FourierParametersAndImageShapes) {
  for (int64_t w : {8, 9}) {
    ParamOptions o;
    o.batch = 2;
    o.height = 7;
    o.width = w;
    auto p = make_image_param(o);
    auto ps = p->parameters();
    ASSERT_EQ(ps.size(), 2u);
    for (const auto& t : ps) {
      EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 3, 7, w / 2 + 1}));
      EXPECT_TRUE(t.requires_grad());
      EXPECT_EQ(t.scalar_type(), torch::kFloat);
    }
    auto img = p->image();
    EXPECT_EQ(img.sizes(), (std::vector<int64_t>{2, 3, 7, w}));
    EXPECT_EQ(img.scalar_type(), torch::kFloat);
  }
}

TEST(Param, InitialValuesHaveTheRequestedSd) {
  ParamOptions o;
  o.batch = 4;
  o.height = o.width = 64;
  o.sd = 0.05;
  for (bool fft : {true, false}) {
    o.fft = fft;
    for (const auto& t : make_image_param(o)->parameters()) {
      EXPECT_NEAR(t.std().item<double>(), 0.05, 0.002) << fft;
      EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.002) << fft;
    }
  }
}

// Independent of the decorrelation and range: with Clamp and no decorrelation
// the image is irfft2(spectrum * scale) / 4 + 0.5, so its rfft2 recovers the
// scaled spectrum exactly on the columns that irfft2 does not symmetrise.
TEST(Param, FourierImageIsTheScaledSpectrum) {
  ParamOptions o;
  o.height = 8;
  o.width = 12;
  o.batch = 2;
  o.decorrelate = false;
  o.range = Range::Clamp;
  o.decay_power = 1.5;
  o.sd = 0.002;  // keeps every pixel inside (0, 1)
  auto p = make_image_param(o);
  auto ps = to_double(*p);  // exact comparison in double
  auto img = p->image();
  ASSERT_GT(img.min().item<double>(), 0.0);
  ASSERT_LT(img.max().item<double>(), 1.0);
  auto spectrum = torch::fft::rfft2(img - 0.5) * 4.0;
  auto fy = torch::fft::fftfreq(8, torch::kDouble).unsqueeze(1), fx = torch::fft::rfftfreq(12, torch::kDouble);
  auto f = torch::sqrt(fy * fy + fx * fx);
  auto scale = torch::pow(torch::clamp_min(f, 1.0 / 12), -1.5) * std::sqrt(8.0 * 12.0);
  auto expected = torch::complex(ps[0].detach(), ps[1].detach()) * scale;
  using torch::indexing::Slice;
  auto inner = Slice(1, 12 / 2);  // columns 1..w/2-1
  auto got = spectrum.index({Slice(), Slice(), Slice(), inner});
  auto want = expected.index({Slice(), Slice(), Slice(), inner});
  EXPECT_TRUE(torch::allclose(got, want, 1e-9, 1e-12)) << (got - want).abs().max().item<double>();
}

TEST(Param, FourierSpectrumDecaysLikeLucids) {
  ParamOptions o;
  o.height = o.width = 32;
  o.batch = 64;
  o.decorrelate = false;
  o.range = Range::Clamp;  // linear around 0.5 for small values
  auto low = std::pair{0.06, 0.12}, high = std::pair{0.30, 0.45};
  const double f_low = band_frequency(32, 32, low.first, low.second);
  const double f_high = band_frequency(32, 32, high.first, high.second);

  // decay_power 1: |X| ~ 1/f, so |X| * f is flat.
  auto img = make_image_param(o)->image();
  ASSERT_LT(img.max().item<double>(), 1.0);
  ASSERT_GT(img.min().item<double>(), 0.0);
  const double m_low = band_magnitude(img, low.first, low.second);
  const double m_high = band_magnitude(img, high.first, high.second);
  EXPECT_GT(m_low, 2.5 * m_high);
  EXPECT_NEAR((m_low * f_low) / (m_high * f_high), 1.0, 0.2);

  // decay_power 2: |X| ~ 1/f^2 (a smaller sd: the low frequencies dominate).
  o.decay_power = 2;
  o.sd = 0.002;
  img = make_image_param(o)->image();
  ASSERT_LT(img.max().item<double>(), 1.0);
  ASSERT_GT(img.min().item<double>(), 0.0);
  const double q_low = band_magnitude(img, low.first, low.second);
  const double q_high = band_magnitude(img, high.first, high.second);
  EXPECT_NEAR((q_low * f_low * f_low) / (q_high * f_high * f_high), 1.0, 0.2);

  // Raw pixels are white noise: a flat spectrum.
  o.fft = false;
  o.decay_power = 1;
  img = make_image_param(o)->image();
  EXPECT_NEAR(band_magnitude(img, low.first, low.second) / band_magnitude(img, high.first, high.second), 1.0, 0.1);
}

TEST(Param, SigmoidImagesLieStrictlyInsideTheUnitInterval) {
  for (bool fft : {true, false}) {
    ParamOptions o;
    o.fft = fft;
    o.height = o.width = 32;
    o.sd = 1.0;
    auto img = make_image_param(o)->image();
    EXPECT_GT(img.min().item<double>(), 0.0);
    EXPECT_LT(img.max().item<double>(), 1.0);
    EXPECT_GT(img.std().item<double>(), 0.01);  // not a constant image
  }
}

TEST(Param, ClampImagesStartGrey) {
  ParamOptions o;
  o.height = o.width = 16;
  o.range = Range::Clamp;
  for (bool fft : {true, false}) {
    o.fft = fft;
    o.decorrelate = false;
    auto img = make_image_param(o)->image();
    EXPECT_NEAR(img.mean().item<double>(), 0.5, 0.01) << fft;
    EXPECT_LT((img - 0.5).abs().max().item<double>(), 0.2) << fft;
    o.decorrelate = true;  // lucid's colour mean
    img = make_image_param(o)->image();
    auto means = img.mean(std::vector<int64_t>{0, 2, 3});
    EXPECT_NEAR(means[0].item<double>(), 0.48, 0.01) << fft;
    EXPECT_NEAR(means[1].item<double>(), 0.46, 0.01) << fft;
    EXPECT_NEAR(means[2].item<double>(), 0.41, 0.01) << fft;
  }
}

TEST(Param, GrayscaleGivesEqualChannels) {
  for (bool fft : {true, false})
    for (Range range : {Range::Sigmoid, Range::Clamp}) {
      ParamOptions o;
      o.fft = fft;
      o.range = range;
      o.grayscale = true;
      o.height = o.width = 16;
      o.sd = 0.5;
      auto p = make_image_param(o);
      for (const auto& t : p->parameters()) EXPECT_EQ(t.size(1), 1);
      auto img = p->image();
      ASSERT_EQ(img.sizes(), (std::vector<int64_t>{1, 3, 16, 16}));
      EXPECT_TRUE(torch::equal(img[0][0], img[0][1]));
      EXPECT_TRUE(torch::equal(img[0][0], img[0][2]));
      EXPECT_GT(img.std().item<double>(), 1e-3);
    }
}

TEST(Param, SeedDeterminesTheImage) {
  for (bool fft : {true, false}) {
    ParamOptions o;
    o.fft = fft;
    o.height = o.width = 16;
    o.seed = 7;
    torch::manual_seed(1);
    auto a = make_image_param(o)->image();
    torch::manual_seed(99);  // the global RNG must not matter
    torch::randn({10});
    auto b = make_image_param(o)->image();
    EXPECT_TRUE(torch::equal(a, b)) << fft;
    o.seed = 8;
    auto c = make_image_param(o)->image();
    EXPECT_FALSE(torch::allclose(a, c)) << fft;
  }
}

TEST(Param, FourierGradientsMatchFiniteDifferences) {
  check_param_gradients(small(true));        // even width: a Nyquist column
  check_param_gradients(small(true, 5, 7));  // odd width
  auto o = small(true, 6, 5);
  o.decorrelate = false;
  check_param_gradients(o);
  o = small(true);
  o.range = Range::Clamp;
  o.sd = 0.01;  // stays inside the clamp
  check_param_gradients(o);
  o.decorrelate = false;
  check_param_gradients(o);
  o = small(true);
  o.grayscale = true;
  o.decay_power = 2;
  check_param_gradients(o);
}

TEST(Param, PixelGradientsMatchFiniteDifferences) {
  check_param_gradients(small(false));
  auto o = small(false, 4, 5);
  o.decorrelate = false;
  check_param_gradients(o);
  o.range = Range::Clamp;
  o.sd = 0.05;
  check_param_gradients(o);
  o.grayscale = true;
  o.range = Range::Sigmoid;
  check_param_gradients(o);
}

TEST(Param, PixelsFromHoldsACopyOfTheImages) {
  auto images = torch::rand({2, 3, 5, 6});
  auto p = pixels_from(images);
  EXPECT_TRUE(torch::equal(p->image(), images));
  auto ps = p->parameters();
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_TRUE(ps[0].requires_grad());
  images.fill_(0.25);  // the parameter is a copy
  EXPECT_FALSE(torch::equal(p->image(), images));
  {
    torch::NoGradGuard no_grad;
    ps[0].fill_(2.0);  // clamp keeps it valid
  }
  EXPECT_EQ(p->image().max().item<double>(), 1.0);

  auto q = pixels_from(torch::rand({1, 3, 3, 4}, torch::kDouble) * 0.8 + 0.1);
  expect_gradient_matches_fd([&] { return q->image(); }, q->parameters()[0]);

  EXPECT_THROW(pixels_from(torch::rand({3, 5, 6})), Error);
  EXPECT_THROW(pixels_from(torch::rand({1, 4, 5, 6})), Error);
}

TEST(Param, RejectsBadOptions) {
  ParamOptions o;
  o.batch = 0;
  EXPECT_THROW(make_image_param(o), Error);
  o = {};
  o.width = 0;
  EXPECT_THROW(make_image_param(o), Error);
  o = {};
  o.sd = -1;
  EXPECT_THROW(make_image_param(o), Error);
}

TEST(Param, DescribeIsOneLine) {
  ParamOptions o;
  EXPECT_EQ(o.describe(), "fft sd=0.01 decay=1 decorrelated sigmoid 224x224 x1");
  o.fft = false;
  o.range = Range::Clamp;
  o.grayscale = true;
  o.seed = 3;
  o.batch = 2;
  o.height = 64;
  o.width = 32;
  EXPECT_EQ(o.describe(), "pixel sd=0.01 grayscale clamp 64x32 x2 seed=3");
  o.grayscale = false;
  o.decorrelate = false;
  EXPECT_EQ(o.describe().find('\n'), std::string::npos);
  EXPECT_NE(o.describe().find(" rgb "), std::string::npos);
}
