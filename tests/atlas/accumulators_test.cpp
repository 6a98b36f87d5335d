// Unit tests of the atlas accumulators (src/atlas/accumulators.h): every result is
// compared with a brute-force computation over all values, and order / grouping
// independence is checked by accumulating shuffled and split copies.
#include "atlas/accumulators.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "support/shared_data.h"

namespace clipscope::atlas {
namespace {

using clipscope::testing::error_message;

struct Item {
  int64_t unit;
  Example example;
};

// Random examples with many ties: values from a small set, images shared between units.
std::vector<Item> tied_items(std::mt19937_64& rng, int64_t units, int64_t images, bool with_nonfinite) {
  const float choices[] = {-2.0f, -1.0f, -0.5f, 0.0f, 0.25f, 1.0f, 3.0f};
  std::uniform_int_distribution<int> pick(0, 6), cell(0, 48), rare(0, 19);
  std::vector<Item> items;
  for (int64_t image = 0; image < images; ++image)
    for (int64_t u = 0; u < units; ++u) {
      float value = choices[pick(rng)];
      if (with_nonfinite && rare(rng) == 0) {
        const float odd[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                             -std::numeric_limits<float>::infinity()};
        value = odd[pick(rng) % 3];
      }
      items.push_back({u, {value, image * 7 + 3, cell(rng)}});  // ids not contiguous
    }
  return items;
}

std::vector<Example> brute_force(const std::vector<Item>& items, int64_t unit, int k, Extreme extreme) {
  std::vector<Example> all;
  for (const auto& it : items)
    if (it.unit == unit && std::isfinite(it.example.value)) all.push_back(it.example);
  std::sort(all.begin(), all.end(), [&](const Example& a, const Example& b) {
    if (a.value != b.value) return extreme == Extreme::Top ? a.value > b.value : a.value < b.value;
    return a.image < b.image;
  });
  if (static_cast<int>(all.size()) > k) all.resize(static_cast<size_t>(k));
  return all;
}

ExtremeLists accumulate(const std::vector<Item>& items, int64_t units, int k, Extreme extreme) {
  ExtremeLists lists(units, k, extreme);
  for (const auto& it : items) lists.add(it.unit, it.example);
  return lists;
}

// Splits items into `parts` random groups (each item to a random part).
std::vector<std::vector<Item>> random_split(const std::vector<Item>& items, int parts, std::mt19937_64& rng) {
  std::vector<std::vector<Item>> out(static_cast<size_t>(parts));
  std::uniform_int_distribution<int> part(0, parts - 1);
  for (const auto& it : items) out[static_cast<size_t>(part(rng))].push_back(it);
  return out;
}

void expect_same_lists(const ExtremeLists& a, const ExtremeLists& b) {
  ASSERT_EQ(a.units(), b.units());
  ASSERT_EQ(a.k(), b.k());
  ASSERT_EQ(a.extreme(), b.extreme());
  for (int64_t u = 0; u < a.units(); ++u) {
    const auto x = a.sorted(u), y = b.sorted(u);
    ASSERT_EQ(x.size(), y.size()) << "unit " << u;
    for (size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(x[i].image, y[i].image) << "unit " << u << " rank " << i;
      EXPECT_EQ(x[i].cell, y[i].cell) << "unit " << u << " rank " << i;
      // Bitwise: the same example, not merely an equal value.
      EXPECT_EQ(std::memcmp(&x[i].value, &y[i].value, sizeof(float)), 0) << "unit " << u << " rank " << i;
    }
  }
}

// ---- ExtremeLists ------------------------------------------------------------

TEST(ExtremeLists, MatchBruteForceWithTiesAndNonfinite) {
  std::mt19937_64 rng(1);
  const int64_t units = 5;
  const auto items = tied_items(rng, units, 300, /*with_nonfinite=*/true);
  for (Extreme extreme : {Extreme::Top, Extreme::Bottom})
    for (int k : {1, 4, 17, 1000}) {
      const auto lists = accumulate(items, units, k, extreme);
      EXPECT_EQ(lists.k(), k);
      EXPECT_EQ(lists.units(), units);
      for (int64_t u = 0; u < units; ++u) {
        const auto got = lists.sorted(u);
        const auto want = brute_force(items, u, k, extreme);
        ASSERT_EQ(got, want) << "unit " << u << " k " << k << (extreme == Extreme::Top ? " top" : " bottom");
        for (const auto& e : got) EXPECT_TRUE(std::isfinite(e.value));
      }
    }
}

TEST(ExtremeLists, NonfiniteValuesAreIgnored) {
  ExtremeLists top(1, 3, Extreme::Top), bottom(1, 3, Extreme::Bottom);
  const float odd[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
  for (int i = 0; i < 3; ++i) {
    top.add(0, {odd[i], i, 0});
    bottom.add(0, {odd[i], i, 0});
  }
  EXPECT_TRUE(top.sorted(0).empty());
  EXPECT_TRUE(bottom.sorted(0).empty());
  top.add(0, {1.5f, 10, 2});
  top.add(0, {odd[0], 11, 0});
  top.add(0, {odd[1], 12, 0});
  ASSERT_EQ(top.sorted(0).size(), 1u);
  EXPECT_EQ(top.sorted(0)[0], (Example{1.5f, 10, 2}));
}

TEST(ExtremeLists, IndependentOfOrderAndGrouping) {
  std::mt19937_64 rng(2);
  const int64_t units = 4;
  const auto items = tied_items(rng, units, 250, /*with_nonfinite=*/true);
  for (Extreme extreme : {Extreme::Top, Extreme::Bottom})
    for (int k : {1, 5, 30}) {
      const auto whole = accumulate(items, units, k, extreme);
      for (int trial = 0; trial < 6; ++trial) {
        auto shuffled = items;
        std::shuffle(shuffled.begin(), shuffled.end(), rng);
        expect_same_lists(accumulate(shuffled, units, k, extreme), whole);

        const int parts = 2 + trial % 3;  // 2..4
        const auto split = random_split(shuffled, parts, rng);
        ExtremeLists merged = accumulate(split[0], units, k, extreme);
        for (int p = 1; p < parts; ++p) merged.merge(accumulate(split[static_cast<size_t>(p)], units, k, extreme));
        expect_same_lists(merged, whole);

        // Merging in the opposite direction too.
        ExtremeLists reverse = accumulate(split[static_cast<size_t>(parts - 1)], units, k, extreme);
        for (int p = parts - 2; p >= 0; --p)
          reverse.merge(accumulate(split[static_cast<size_t>(p)], units, k, extreme));
        expect_same_lists(reverse, whole);
      }
    }
}

TEST(ExtremeLists, SerializeRoundTrip) {
  std::mt19937_64 rng(3);
  const auto items = tied_items(rng, 3, 80, true);
  for (Extreme extreme : {Extreme::Top, Extreme::Bottom}) {
    const auto lists = accumulate(items, 3, 6, extreme);
    std::string blob;
    lists.serialize(blob);
    blob += "tail";
    std::string_view in = blob;
    const auto back = ExtremeLists::deserialize(in);
    EXPECT_EQ(in, "tail");  // consumed exactly its own bytes
    expect_same_lists(back, lists);
    // The restored lists keep working as the originals do.
    auto a = lists, b = back;
    a.add(1, {100.0f, 1, 1});
    b.add(1, {100.0f, 1, 1});
    a.add(2, {-100.0f, 2, 2});
    b.add(2, {-100.0f, 2, 2});
    expect_same_lists(a, b);
  }
  // Truncations of a serialized state throw Error.
  const auto lists = accumulate(items, 3, 6, Extreme::Top);
  std::string blob;
  lists.serialize(blob);
  for (size_t cut : {size_t{0}, size_t{3}, size_t{10}, blob.size() / 2, blob.size() - 1}) {
    std::string_view in(blob.data(), cut);
    EXPECT_NE(error_message([&] { ExtremeLists::deserialize(in); }), "") << "cut at " << cut;
  }
}

TEST(ExtremeLists, NonPositiveKThrows) {
  EXPECT_NE(error_message([] { ExtremeLists(3, 0, Extreme::Top); }), "");
  EXPECT_NE(error_message([] { ExtremeLists(3, -5, Extreme::Bottom); }), "");
  EXPECT_EQ(error_message([] { ExtremeLists(3, 1, Extreme::Top); }), "");
}

TEST(ExtremeLists, MergeOfDifferentShapesThrows) {
  ExtremeLists a(3, 4, Extreme::Top);
  EXPECT_NE(error_message([&] { a.merge(ExtremeLists(2, 4, Extreme::Top)); }), "");
  EXPECT_NE(error_message([&] { a.merge(ExtremeLists(3, 5, Extreme::Top)); }), "");
  EXPECT_NE(error_message([&] { a.merge(ExtremeLists(3, 4, Extreme::Bottom)); }), "");
  EXPECT_EQ(error_message([&] { a.merge(ExtremeLists(3, 4, Extreme::Top)); }), "");
}

// ---- UnitStatistics ----------------------------------------------------------

struct Brute {
  int64_t count = 0, nonfinite = 0;
  double mean = 0, std = 0, rms = 0, min = 0, max = 0;
};

Brute brute_stats(const std::vector<float>& values) {
  Brute b;
  std::vector<double> finite;
  for (float v : values) {
    if (std::isfinite(v))
      finite.push_back(v);
    else
      ++b.nonfinite;
  }
  b.count = static_cast<int64_t>(finite.size());
  if (finite.empty()) return b;
  long double sum = 0, squares = 0;
  for (double v : finite) sum += v, squares += static_cast<long double>(v) * v;
  b.mean = static_cast<double>(sum / finite.size());
  long double deviations = 0;
  for (double v : finite) deviations += (v - static_cast<long double>(b.mean)) * (v - static_cast<long double>(b.mean));
  b.std = std::sqrt(static_cast<double>(deviations / finite.size()));
  b.rms = std::sqrt(static_cast<double>(squares / finite.size()));
  b.min = *std::min_element(finite.begin(), finite.end());
  b.max = *std::max_element(finite.begin(), finite.end());
  return b;
}

void expect_close(double got, double want, double rel, const char* what) {
  EXPECT_LE(std::fabs(got - want), rel * std::max(std::fabs(want), 1e-300)) << what << ": " << got << " vs " << want;
}

// Per-unit random values of different distributions, with some NaN/inf.
std::vector<std::vector<float>> unit_values(std::mt19937_64& rng, int64_t units, int n) {
  std::vector<std::vector<float>> values(static_cast<size_t>(units));
  std::uniform_int_distribution<int> rare(0, 49);
  for (int64_t u = 0; u < units; ++u) {
    std::normal_distribution<float> normal(0.3f * static_cast<float>(u) - 0.5f, 0.5f + static_cast<float>(u));
    for (int i = 0; i < n; ++i) {
      float v = normal(rng);
      const int r = rare(rng);
      if (r == 0)
        v = std::numeric_limits<float>::quiet_NaN();
      else if (r == 1)
        v = std::numeric_limits<float>::infinity();
      else if (r == 2)
        v = -std::numeric_limits<float>::infinity();
      values[static_cast<size_t>(u)].push_back(v);
    }
  }
  return values;
}

TEST(UnitStatistics, SummaryMatchesBruteForce) {
  std::mt19937_64 rng(4);
  const int64_t units = 6;
  const auto values = unit_values(rng, units, 2000);
  UnitStatistics stats(units);
  EXPECT_EQ(stats.units(), units);
  for (int i = 0; i < 2000; ++i)
    for (int64_t u = 0; u < units; ++u) stats.add(u, values[static_cast<size_t>(u)][static_cast<size_t>(i)]);
  for (int64_t u = 0; u < units; ++u) {
    const Brute want = brute_stats(values[static_cast<size_t>(u)]);
    const Summary got = stats.summary(u);
    ASSERT_GT(want.nonfinite, 0);
    EXPECT_EQ(got.count, want.count);
    EXPECT_EQ(got.nonfinite, want.nonfinite);
    EXPECT_EQ(got.count + got.nonfinite, 2000);
    expect_close(got.mean, want.mean, 1e-12, "mean");
    expect_close(got.std, want.std, 1e-12, "std");
    expect_close(got.rms, want.rms, 1e-12, "rms");
    EXPECT_EQ(got.min, want.min);
    EXPECT_EQ(got.max, want.max);
  }
}

TEST(UnitStatistics, EmptyAndAllNonfiniteUnits) {
  UnitStatistics stats(2);
  stats.add(1, std::numeric_limits<float>::quiet_NaN());
  stats.add(1, std::numeric_limits<float>::infinity());
  for (int64_t u : {0, 1}) {
    const Summary s = stats.summary(u);
    EXPECT_EQ(s.count, 0);
    EXPECT_EQ(s.mean, 0);
    EXPECT_EQ(s.rms, 0);
    EXPECT_TRUE(stats.std_histogram(u, 0.25).counts.empty());
  }
  EXPECT_EQ(stats.summary(1).nonfinite, 2);
  EXPECT_EQ(stats.summary(0).nonfinite, 0);
}

TEST(UnitStatistics, ExactUnderSplitsAndMerges) {
  std::mt19937_64 rng(5);
  const int64_t units = 4;
  const int n = 1500;
  const auto values = unit_values(rng, units, n);
  std::vector<std::pair<int64_t, float>> items;
  for (int64_t u = 0; u < units; ++u)
    for (float v : values[static_cast<size_t>(u)]) items.push_back({u, v});

  UnitStatistics whole(units);
  for (const auto& [u, v] : items) whole.add(u, v);
  std::string want;
  whole.serialize(want);

  for (int trial = 0; trial < 6; ++trial) {
    auto shuffled = items;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const int parts = 2 + trial % 3;
    std::vector<UnitStatistics> pieces(static_cast<size_t>(parts), UnitStatistics(units));
    std::uniform_int_distribution<int> part(0, parts - 1);
    for (const auto& [u, v] : shuffled) pieces[static_cast<size_t>(part(rng))].add(u, v);
    UnitStatistics merged = pieces[static_cast<size_t>(parts - 1)];
    for (int p = parts - 2; p >= 0; --p) merged.merge(pieces[static_cast<size_t>(p)]);
    std::string got;
    merged.serialize(got);
    EXPECT_EQ(got, want) << "split into " << parts;
    // Summaries of the merged state are identical too, not merely close.
    for (int64_t u = 0; u < units; ++u) {
      const Summary a = merged.summary(u), b = whole.summary(u);
      EXPECT_EQ(a.mean, b.mean);
      EXPECT_EQ(a.std, b.std);
      EXPECT_EQ(a.rms, b.rms);
      EXPECT_EQ(a.min, b.min);
      EXPECT_EQ(a.max, b.max);
      EXPECT_EQ(merged.std_histogram(u, 0.25).counts, whole.std_histogram(u, 0.25).counts);
    }
  }
  EXPECT_NE(error_message([&] { whole.merge(UnitStatistics(units + 1)); }), "");
}

// The state must not depend on the order values arrive in, down to the bytes; the
// sign of a zero minimum / maximum does (std::min keeps the first of equal values).
TEST(UnitStatistics, SignedZeroExtremesIndependentOfOrder) {
  UnitStatistics a(1), b(1);
  for (float v : {0.0f, -0.0f, 1.0f}) a.add(0, v);
  for (float v : {-0.0f, 0.0f, 1.0f}) b.add(0, v);
  std::string x, y;
  a.serialize(x);
  b.serialize(y);
  EXPECT_EQ(x, y);
}

TEST(UnitStatistics, NonfiniteCountedSeparately) {
  UnitStatistics stats(1);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (float v : {1.0f, nan, 3.0f, inf, -inf, nan}) stats.add(0, v);
  const Summary s = stats.summary(0);
  EXPECT_EQ(s.count, 2);
  EXPECT_EQ(s.nonfinite, 4);
  EXPECT_DOUBLE_EQ(s.mean, 2.0);
  EXPECT_DOUBLE_EQ(s.std, 1.0);
  EXPECT_DOUBLE_EQ(s.rms, std::sqrt(5.0));
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 3.0);
  const auto h = stats.std_histogram(0, 0.25);
  EXPECT_EQ(std::accumulate(h.counts.begin(), h.counts.end(), int64_t{0}), 2);
}

TEST(UnitStatistics, BinOfAndBinValueAgree) {
  const double one_bin = 1.0 / UnitStatistics::kBinsPerOctave;  // in octaves
  int previous = -1;
  for (int i = 0; i <= 4000; ++i) {
    const double x = std::pow(10.0, -5.0 + 10.0 * i / 4000.0);  // 1e-5 .. 1e5
    for (int sign : {1, -1}) {
      const float v = static_cast<float>(sign * x);
      const int bin = UnitStatistics::bin_of(v);
      ASSERT_GE(bin, 0);
      ASSERT_LT(bin, UnitStatistics::kBins);
      const double centre = UnitStatistics::bin_value(bin);
      ASSERT_EQ(centre > 0, v > 0) << v;
      EXPECT_LE(std::fabs(std::log2(centre / static_cast<double>(v))), one_bin) << "value " << v << " bin " << bin;
    }
    // Monotone in the value.
    const int bin = UnitStatistics::bin_of(static_cast<float>(x));
    EXPECT_GE(bin, previous);
    previous = bin;
  }
  // Random values too, and the bins' order on the negative side.
  std::mt19937_64 rng(6);
  std::uniform_real_distribution<double> exponent(-5, 5);
  for (int i = 0; i < 2000; ++i) {
    const auto a = static_cast<float>(std::pow(10.0, exponent(rng))),
               b = static_cast<float>(std::pow(10.0, exponent(rng)));
    const float lo = std::min(a, b), hi = std::max(a, b);
    EXPECT_LE(UnitStatistics::bin_of(lo), UnitStatistics::bin_of(hi));
    EXPECT_GE(UnitStatistics::bin_of(-lo), UnitStatistics::bin_of(-hi));
    EXPECT_LE(std::fabs(std::log2(UnitStatistics::bin_value(UnitStatistics::bin_of(-lo)) / -lo)), one_bin);
  }
  EXPECT_EQ(UnitStatistics::bin_of(0.0f), UnitStatistics::kSideBins);
  EXPECT_EQ(UnitStatistics::bin_of(-0.0f), UnitStatistics::kSideBins);
  EXPECT_EQ(UnitStatistics::bin_of(1e-7f), UnitStatistics::kSideBins);  // below 2^-20
  EXPECT_EQ(UnitStatistics::bin_of(-1e-7f), UnitStatistics::kSideBins);
  EXPECT_EQ(UnitStatistics::bin_value(UnitStatistics::kSideBins), 0.0);
  EXPECT_GT(UnitStatistics::bin_of(1e-5f), UnitStatistics::kSideBins);
  EXPECT_LT(UnitStatistics::bin_of(-1e-5f), UnitStatistics::kSideBins);
  // Beyond the covered range: clamped to the outermost bins.
  EXPECT_EQ(UnitStatistics::bin_of(1e8f), UnitStatistics::kBins - 1);
  EXPECT_EQ(UnitStatistics::bin_of(-1e8f), 0);
}

// Checks a histogram against brute force: every value counted once, the bins
// spanning min..max, and the cumulative counts off only by values within one fine
// bin of a coarse edge.
void check_histogram(const UnitStatistics& stats, const std::vector<float>& values, double width) {
  const Brute b = brute_stats(values);
  const StdHistogram h = stats.std_histogram(0, width);
  ASSERT_FALSE(h.counts.empty());
  EXPECT_EQ(h.width, width);
  EXPECT_EQ(std::accumulate(h.counts.begin(), h.counts.end(), int64_t{0}), b.count);
  const double lo = b.min / b.rms, hi = b.max / b.rms;
  EXPECT_LE(h.lo, lo + 1e-12);
  EXPECT_GT(h.lo + width, lo);  // the first bin holds the minimum
  const double top = h.lo + width * static_cast<double>(h.counts.size());
  EXPECT_GT(top, hi);
  EXPECT_LE(top - width, hi + 1e-12);  // the last bin holds the maximum
  const double step = std::exp2(1.0 / UnitStatistics::kBinsPerOctave);
  int64_t cumulative = 0;
  for (size_t i = 0; i + 1 < h.counts.size(); ++i) {
    cumulative += h.counts[i];
    const double edge = (h.lo + width * static_cast<double>(i + 1)) * b.rms;  // value units
    int64_t below = 0, near = 0;
    for (float v : values) {
      if (!std::isfinite(v)) continue;
      if (v < edge) ++below;
      const double a = std::fabs(v), e = std::fabs(edge);
      if ((v < 0) == (edge < 0) && a >= e / step && a <= e * step)
        ++near;
      else if (std::fabs(v) < 1.0 / (1 << 20))
        ++near;  // the zero bin
    }
    EXPECT_LE(std::abs(cumulative - below), near) << "edge " << edge;
  }
}

TEST(UnitStatistics, StdHistogramAgainstBruteForce) {
  std::mt19937_64 rng(7);
  for (double mean : {3.0, 0.0, -1.5}) {
    std::normal_distribution<float> normal(static_cast<float>(mean), 1.0f);
    std::vector<float> values;
    UnitStatistics stats(1);
    for (int i = 0; i < 20000; ++i) {
      values.push_back(normal(rng));
      stats.add(0, values.back());
    }
    values.push_back(std::numeric_limits<float>::quiet_NaN());
    stats.add(0, values.back());
    for (double width : {0.1, 0.25, 1.0}) check_histogram(stats, values, width);

    // A normal sample's histogram peaks near mean/rms, and its mean is mean/rms.
    const Brute b = brute_stats(values);
    const double width = 0.1;
    const StdHistogram h = stats.std_histogram(0, width);
    const auto peak = std::max_element(h.counts.begin(), h.counts.end()) - h.counts.begin();
    const double peak_centre = h.lo + (static_cast<double>(peak) + 0.5) * width;
    EXPECT_NEAR(peak_centre, mean / b.rms, 0.25) << "mean " << mean;
    double weighted = 0;
    for (size_t i = 0; i < h.counts.size(); ++i)
      weighted += static_cast<double>(h.counts[i]) * (h.lo + (static_cast<double>(i) + 0.5) * width);
    EXPECT_NEAR(weighted / static_cast<double>(b.count), b.mean / b.rms, width) << "mean " << mean;
  }
}

TEST(UnitStatistics, SerializeRoundTripAndTruncation) {
  std::mt19937_64 rng(8);
  const auto values = unit_values(rng, 3, 500);
  UnitStatistics stats(3);
  for (int64_t u = 0; u < 3; ++u)
    for (float v : values[static_cast<size_t>(u)]) stats.add(u, v);
  std::string blob;
  stats.serialize(blob);
  std::string_view in = blob;
  const UnitStatistics back = UnitStatistics::deserialize(in);
  EXPECT_TRUE(in.empty());
  std::string again;
  back.serialize(again);
  EXPECT_EQ(again, blob);
  for (int64_t u = 0; u < 3; ++u) {
    const Summary a = back.summary(u), b = stats.summary(u);
    EXPECT_EQ(a.count, b.count);
    EXPECT_EQ(a.nonfinite, b.nonfinite);
    EXPECT_EQ(a.mean, b.mean);
    EXPECT_EQ(a.rms, b.rms);
    EXPECT_EQ(back.std_histogram(u, 0.25).counts, stats.std_histogram(u, 0.25).counts);
  }
  std::vector<size_t> cuts = {0, 4, 8, 20, blob.size() / 3, blob.size() / 2, blob.size() - 4, blob.size() - 1};
  for (size_t cut : cuts) {
    std::string_view part(blob.data(), cut);
    EXPECT_NE(error_message([&] { UnitStatistics::deserialize(part); }), "") << "cut at " << cut;
  }
}

// ---- summarize ---------------------------------------------------------------

TEST(Summarize, MatchesBruteForce) {
  std::mt19937_64 rng(9);
  for (bool ties : {true, false})
    for (int64_t cells : {1, 7, 49}) {
      const int64_t images = 5, units = 4;
      std::vector<float> values(static_cast<size_t>(images * units * cells));
      std::uniform_int_distribution<int> small(-3, 3);
      std::normal_distribution<float> normal(0.2f, 2.0f);
      for (auto& v : values) v = ties ? static_cast<float>(small(rng)) * 0.5f : normal(rng);
      for (bool relu : {true, false}) {
        const LayerBatch b = summarize(values.data(), images, units, cells, relu);
        EXPECT_EQ(b.images, images);
        EXPECT_EQ(b.units, units);
        ASSERT_EQ(b.max.size(), static_cast<size_t>(images * units));
        for (int64_t i = 0; i < images; ++i)
          for (int64_t u = 0; u < units; ++u) {
            const size_t row = static_cast<size_t>(i * units + u);
            const float* x = values.data() + row * static_cast<size_t>(cells);
            const float* max_at = std::max_element(x, x + cells);  // first of the largest
            const float* min_at = std::min_element(x, x + cells);  // first of the smallest
            EXPECT_EQ(b.max[row], *max_at);
            EXPECT_EQ(b.min[row], *min_at);
            EXPECT_EQ(b.argmax[row], max_at - x) << "image " << i << " unit " << u;
            EXPECT_EQ(b.argmin[row], min_at - x) << "image " << i << " unit " << u;
            long double sum = 0, positive = 0;
            for (int64_t c = cells - 1; c >= 0; --c) sum += x[c], positive += std::max(x[c], 0.0f);
            const double pre = static_cast<double>(sum / cells), post = static_cast<double>(positive / cells);
            EXPECT_NEAR(b.pre_mean[row], pre, 1e-6 * std::max(1.0, std::fabs(pre)));
            EXPECT_NEAR(b.mean[row], relu ? post : pre, 1e-6 * std::max(1.0, std::fabs(post)));
            if (!relu) {
              EXPECT_EQ(b.mean[row], b.pre_mean[row]);
            }
            if (relu) {
              EXPECT_GE(b.mean[row], 0.0f);
            }
          }
      }
    }
}

TEST(Summarize, FirstCellWinsTies) {
  const float x[] = {1, 5, 5, -2, 0, -2, 5};  // one image, one unit, 7 cells
  const LayerBatch b = summarize(x, 1, 1, 7, true);
  EXPECT_EQ(b.max[0], 5.0f);
  EXPECT_EQ(b.argmax[0], 1);
  EXPECT_EQ(b.min[0], -2.0f);
  EXPECT_EQ(b.argmin[0], 3);
  EXPECT_FLOAT_EQ(b.pre_mean[0], 12.0f / 7);
  EXPECT_FLOAT_EQ(b.mean[0], 16.0f / 7);
}

// ---- LayerAccumulator --------------------------------------------------------

struct Batch {
  LayerBatch summary;
  std::vector<int64_t> ids;
};

std::vector<Batch> random_batches(std::mt19937_64& rng, int64_t units, int64_t cells, int count, int64_t per_batch) {
  std::vector<Batch> batches;
  std::uniform_int_distribution<int> small(-4, 4);
  int64_t next_id = 0;
  for (int n = 0; n < count; ++n) {
    std::vector<float> values(static_cast<size_t>(per_batch * units * cells));
    for (auto& v : values) v = static_cast<float>(small(rng)) * 0.25f;
    Batch b{summarize(values.data(), per_batch, units, cells, true), {}};
    for (int64_t i = 0; i < per_batch; ++i) b.ids.push_back(next_id += 1 + (small(rng) + 4) % 3);
    batches.push_back(std::move(b));
  }
  return batches;
}

void expect_same_layer(const LayerAccumulator& a, const LayerAccumulator& b) {
  for (ExampleList list : kExampleLists) {
    SCOPED_TRACE(std::string(example_list_name(list)));
    expect_same_lists(lists_of(a, list), lists_of(b, list));
  }
  std::string x, y;
  a.max_stats.serialize(x);
  b.max_stats.serialize(y);
  EXPECT_EQ(x, y);
  x.clear(), y.clear();
  a.mean_stats.serialize(x);
  b.mean_stats.serialize(y);
  EXPECT_EQ(x, y);
}

TEST(LayerAccumulator, ListsAndStatisticsAgainstBruteForce) {
  std::mt19937_64 rng(10);
  const int64_t units = 3, cells = 5;
  const int k = 6;
  const auto batches = random_batches(rng, units, cells, 4, 9);
  LayerAccumulator acc(units, k);
  std::vector<Item> top_max, top_mean, bottom_min, bottom_mean;
  std::vector<std::vector<float>> max_values(units), mean_values(units);
  for (const auto& b : batches) {
    acc.add(b.summary, b.ids);
    for (int64_t i = 0; i < b.summary.images; ++i)
      for (int64_t u = 0; u < units; ++u) {
        const auto at = static_cast<size_t>(i * units + u);
        const int64_t id = b.ids[static_cast<size_t>(i)];
        top_max.push_back({u, {b.summary.max[at], id, b.summary.argmax[at]}});
        top_mean.push_back({u, {b.summary.mean[at], id, 0}});
        bottom_min.push_back({u, {b.summary.min[at], id, b.summary.argmin[at]}});
        bottom_mean.push_back({u, {b.summary.pre_mean[at], id, 0}});
        max_values[static_cast<size_t>(u)].push_back(b.summary.max[at]);
        mean_values[static_cast<size_t>(u)].push_back(b.summary.mean[at]);
      }
  }
  for (int64_t u = 0; u < units; ++u) {
    EXPECT_EQ(acc.top_max.sorted(u), brute_force(top_max, u, k, Extreme::Top));
    EXPECT_EQ(acc.top_mean.sorted(u), brute_force(top_mean, u, k, Extreme::Top));
    EXPECT_EQ(acc.bottom_min.sorted(u), brute_force(bottom_min, u, k, Extreme::Bottom));
    EXPECT_EQ(acc.bottom_mean.sorted(u), brute_force(bottom_mean, u, k, Extreme::Bottom));
    const Brute m = brute_stats(max_values[static_cast<size_t>(u)]);
    const Brute n = brute_stats(mean_values[static_cast<size_t>(u)]);
    EXPECT_EQ(acc.max_stats.summary(u).count, m.count);
    expect_close(acc.max_stats.summary(u).mean, m.mean, 1e-12, "max mean");
    expect_close(acc.mean_stats.summary(u).rms, n.rms, 1e-12, "mean rms");
  }
  // The lists by name, as the database and the page name them.
  EXPECT_EQ(&lists_of(acc, parse_example_list("top_max")), &acc.top_max);
  EXPECT_EQ(&lists_of(acc, parse_example_list("top_mean")), &acc.top_mean);
  EXPECT_EQ(&lists_of(acc, parse_example_list("bottom_min")), &acc.bottom_min);
  EXPECT_EQ(&lists_of(acc, parse_example_list("bottom_mean")), &acc.bottom_mean);
  for (ExampleList list : kExampleLists) EXPECT_EQ(parse_example_list(std::string(example_list_name(list))), list);
  EXPECT_EQ(example_list(true, false), ExampleList::TopMax);
  EXPECT_EQ(example_list(false, false), ExampleList::TopMean);
  EXPECT_EQ(example_list(true, true), ExampleList::BottomMin);
  EXPECT_EQ(example_list(false, true), ExampleList::BottomMean);
  EXPECT_EQ(error_message([&] { parse_example_list("top_min"); }),
            "list top_min: expected top_max, top_mean, bottom_min or bottom_mean");
}

TEST(LayerAccumulator, SerializeRoundTrip) {
  std::mt19937_64 rng(11);
  const auto batches = random_batches(rng, 4, 3, 3, 10);
  LayerAccumulator acc(4, 5);
  for (const auto& b : batches) acc.add(b.summary, b.ids);
  const std::string blob = acc.serialize();
  const LayerAccumulator back = LayerAccumulator::deserialize(blob);
  expect_same_layer(back, acc);
  EXPECT_EQ(back.serialize(), blob);
  EXPECT_EQ(back.top_max.k(), 5);
  EXPECT_EQ(back.bottom_min.extreme(), Extreme::Bottom);
  EXPECT_EQ(back.top_mean.extreme(), Extreme::Top);

  EXPECT_NE(error_message([&] { LayerAccumulator::deserialize(blob + "x"); }), "");
  EXPECT_NE(error_message([&] { LayerAccumulator::deserialize(blob.substr(0, blob.size() - 1)); }), "");
  EXPECT_NE(error_message([&] { LayerAccumulator::deserialize(std::string_view(blob).substr(0, 2)); }), "");
  std::string wrong_version = blob;
  wrong_version[0] = static_cast<char>(wrong_version[0] + 1);
  EXPECT_NE(error_message([&] { LayerAccumulator::deserialize(wrong_version); }), "");
}

TEST(LayerAccumulator, MergeOfBatchGroupsEqualsOneRun) {
  std::mt19937_64 rng(12);
  const auto batches = random_batches(rng, 3, 4, 6, 7);
  LayerAccumulator whole(3, 4), first(3, 4), second(3, 4);
  for (size_t i = 0; i < batches.size(); ++i) {
    whole.add(batches[i].summary, batches[i].ids);
    (i % 2 ? first : second).add(batches[i].summary, batches[i].ids);
  }
  second.merge(first);
  expect_same_layer(second, whole);
}

TEST(LayerAccumulator, MismatchedBatchThrows) {
  std::mt19937_64 rng(13);
  const auto batches = random_batches(rng, 3, 2, 1, 4);
  LayerAccumulator acc(3, 2);
  auto ids = batches[0].ids;
  ids.pop_back();
  EXPECT_NE(error_message([&] { acc.add(batches[0].summary, ids); }), "");
  ids = batches[0].ids;
  ids.push_back(1000);
  EXPECT_NE(error_message([&] { acc.add(batches[0].summary, ids); }), "");
  LayerAccumulator other_units(4, 2);
  EXPECT_NE(error_message([&] { other_units.add(batches[0].summary, batches[0].ids); }), "");
  EXPECT_EQ(error_message([&] { acc.add(batches[0].summary, batches[0].ids); }), "");
}

}  // namespace
}  // namespace clipscope::atlas
