#include "atlas/accumulators.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/util/error.h"

namespace clipscope::atlas {

namespace {

// Little-endian POD (de)serialization for the accumulator blobs.
template <typename T>
void put(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(T));
}
template <typename T>
void put_vector(std::string& out, const std::vector<T>& values) {
  put<uint64_t>(out, values.size());
  out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}
template <typename T>
T get(std::string_view& in) {
  if (in.size() < sizeof(T)) throw Error("atlas accumulator state is truncated");
  T value;
  std::memcpy(&value, in.data(), sizeof(T));
  in.remove_prefix(sizeof(T));
  return value;
}
template <typename T>
std::vector<T> get_vector(std::string_view& in) {
  const auto n = get<uint64_t>(in);
  if (n > in.size() / sizeof(T)) throw Error("atlas accumulator state is truncated");
  std::vector<T> values(n);
  std::memcpy(values.data(), in.data(), n * sizeof(T));
  in.remove_prefix(n * sizeof(T));
  return values;
}

constexpr double kFixedScale = 1125899906842624.0;  // 2^50
constexpr uint32_t kStateVersion = 1;

Int128 to_fixed(double value) { return static_cast<Int128>(value * kFixedScale); }
double from_fixed(Int128 value) { return static_cast<double>(value) / kFixedScale; }

void add_checked(Int128& total, Int128 term) {
  if (__builtin_add_overflow(total, term, &total))
    throw Error("activation sum overflows the atlas's exact accumulator (values beyond 2^38?)");
}

}  // namespace

// ---- ExtremeLists ----------------------------------------------------------

ExtremeLists::ExtremeLists(int64_t units, int k, Extreme extreme)
    : k_(k), extreme_(extreme), heaps_(static_cast<size_t>(units)) {
  if (k <= 0) throw ArgumentError("k", std::to_string(k), "must be positive");
}

bool ExtremeLists::before(const Example& a, const Example& b) const {
  if (a.value != b.value) return extreme_ == Extreme::Top ? a.value > b.value : a.value < b.value;
  return a.image < b.image;
}

void ExtremeLists::add(int64_t unit, const Example& example) {
  if (!std::isfinite(example.value)) return;
  auto& heap = heaps_[static_cast<size_t>(unit)];
  // The heap's front is the example that ranks last, the first to be displaced.
  auto ranks_earlier = [this](const Example& a, const Example& b) { return before(a, b); };
  if (static_cast<int>(heap.size()) < k_) {
    heap.push_back(example);
    std::push_heap(heap.begin(), heap.end(), ranks_earlier);
  } else if (before(example, heap.front())) {
    std::pop_heap(heap.begin(), heap.end(), ranks_earlier);
    heap.back() = example;
    std::push_heap(heap.begin(), heap.end(), ranks_earlier);
  }
}

void ExtremeLists::merge(const ExtremeLists& other) {
  if (other.units() != units() || other.k_ != k_ || other.extreme_ != extreme_)
    throw Error("cannot merge example lists of different shapes");
  for (int64_t u = 0; u < units(); ++u)
    for (const auto& e : other.heaps_[static_cast<size_t>(u)]) add(u, e);
}

std::vector<Example> ExtremeLists::sorted(int64_t unit) const {
  auto examples = heaps_.at(static_cast<size_t>(unit));
  std::sort(examples.begin(), examples.end(), [this](const Example& a, const Example& b) { return before(a, b); });
  return examples;
}

void ExtremeLists::serialize(std::string& out) const {
  put<int32_t>(out, k_);
  put<int32_t>(out, extreme_ == Extreme::Top ? 1 : 0);
  put<uint64_t>(out, heaps_.size());
  // Sorted, not in heap order: the heap's layout depends on the order examples came
  // in, and the state must be the same bytes however the images were split.
  for (int64_t unit = 0; unit < units(); ++unit) {
    const auto examples = sorted(unit);
    put<uint32_t>(out, static_cast<uint32_t>(examples.size()));
    for (const auto& e : examples) {
      put(out, e.value);
      put(out, e.image);
      put(out, e.cell);
    }
  }
}

ExtremeLists ExtremeLists::deserialize(std::string_view& in) {
  ExtremeLists lists;
  lists.k_ = get<int32_t>(in);
  lists.extreme_ = get<int32_t>(in) == 1 ? Extreme::Top : Extreme::Bottom;
  const auto units = get<uint64_t>(in);
  if (units > in.size()) throw Error("atlas accumulator state is truncated");
  lists.heaps_.resize(units);
  for (auto& heap : lists.heaps_) {
    heap.resize(get<uint32_t>(in));
    for (auto& e : heap) {
      e.value = get<float>(in);
      e.image = get<int64_t>(in);
      e.cell = get<int32_t>(in);
    }
    std::make_heap(heap.begin(), heap.end(),
                   [&lists](const Example& a, const Example& b) { return lists.before(a, b); });
  }
  return lists;
}

// ---- UnitStatistics --------------------------------------------------------

UnitStatistics::UnitStatistics(int64_t units)
    : units_(static_cast<size_t>(units)), histogram_(static_cast<size_t>(units) * kBins, 0) {}

int UnitStatistics::bin_of(float value) {
  const double magnitude = std::fabs(static_cast<double>(value));
  constexpr double kSmallest = 1.0 / (1 << 20);
  if (magnitude < kSmallest) return kSideBins;  // the zero bin
  const int step =
      std::clamp(static_cast<int>(std::floor(std::log2(magnitude) * kBinsPerOctave)) + kSideBins / 2, 0, kSideBins - 1);
  return value > 0 ? kSideBins + 1 + step : kSideBins - 1 - step;
}

double UnitStatistics::bin_value(int bin) {
  if (bin == kSideBins) return 0.0;
  const int step = bin > kSideBins ? bin - kSideBins - 1 : kSideBins - 1 - bin;
  const double magnitude = std::exp2((step - kSideBins / 2 + 0.5) / kBinsPerOctave);
  return bin > kSideBins ? magnitude : -magnitude;
}

void UnitStatistics::add(int64_t unit, float value) {
  auto& u = units_[static_cast<size_t>(unit)];
  if (!std::isfinite(value)) {
    ++u.nonfinite;
    return;
  }
  if (value == 0) value = 0.0f;             // -0 and +0 alike, so min/max do not depend on arrival order
  if (std::fabs(value) >= 274877906944.0f)  // 2^38: beyond it squares overflow the fixed-point sum
    throw Error(fmt::format("activation {} is too large for the atlas's exact statistics", value));
  const double v = value;
  add_checked(u.sum, to_fixed(v));
  add_checked(u.sum_squares, to_fixed(v * v));  // exact: a float's square fits a double
  u.min = u.count == 0 ? value : std::min(u.min, value);
  u.max = u.count == 0 ? value : std::max(u.max, value);
  ++u.count;
  ++histogram_[static_cast<size_t>(unit) * kBins + static_cast<size_t>(bin_of(value))];
}

void UnitStatistics::merge(const UnitStatistics& other) {
  if (other.units() != units()) throw Error("cannot merge statistics of different layers");
  for (size_t i = 0; i < units_.size(); ++i) {
    auto& a = units_[i];
    const auto& b = other.units_[i];
    if (b.count > 0) {
      a.min = a.count == 0 ? b.min : std::min(a.min, b.min);
      a.max = a.count == 0 ? b.max : std::max(a.max, b.max);
    }
    a.count += b.count;
    a.nonfinite += b.nonfinite;
    add_checked(a.sum, b.sum);
    add_checked(a.sum_squares, b.sum_squares);
  }
  for (size_t i = 0; i < histogram_.size(); ++i) histogram_[i] += other.histogram_[i];
}

Summary UnitStatistics::summary(int64_t unit) const {
  const auto& u = units_.at(static_cast<size_t>(unit));
  Summary s;
  s.count = u.count;
  s.nonfinite = u.nonfinite;
  if (u.count == 0) return s;
  const double n = static_cast<double>(u.count);
  s.mean = from_fixed(u.sum) / n;
  const double mean_square = from_fixed(u.sum_squares) / n;
  s.rms = std::sqrt(mean_square);
  s.std = std::sqrt(std::max(0.0, mean_square - s.mean * s.mean));
  s.min = u.min;
  s.max = u.max;
  return s;
}

StdHistogram UnitStatistics::std_histogram(int64_t unit, double bin_width) const {
  const Summary s = summary(unit);
  StdHistogram h;
  h.width = bin_width;
  if (s.count == 0 || s.rms == 0) return h;
  const auto first = static_cast<int64_t>(std::floor(s.min / s.rms / bin_width));
  const auto last = static_cast<int64_t>(std::floor(s.max / s.rms / bin_width));
  h.lo = static_cast<double>(first) * bin_width;
  h.counts.assign(static_cast<size_t>(last - first + 1), 0);
  const uint32_t* bins = histogram_.data() + static_cast<size_t>(unit) * kBins;
  for (int b = 0; b < kBins; ++b) {
    if (bins[b] == 0) continue;
    // A fine bin's count sits at its centre, kept inside the observed range.
    const double value = std::clamp(bin_value(b), s.min, s.max);
    const auto i = std::clamp<int64_t>(static_cast<int64_t>(std::floor(value / s.rms / bin_width)) - first, 0,
                                       static_cast<int64_t>(h.counts.size()) - 1);
    h.counts[static_cast<size_t>(i)] += bins[b];
  }
  return h;
}

void UnitStatistics::serialize(std::string& out) const {
  put<uint64_t>(out, units_.size());
  for (const auto& u : units_) {
    put(out, u.count);
    put(out, u.nonfinite);
    put(out, u.sum);
    put(out, u.sum_squares);
    put(out, u.min);
    put(out, u.max);
  }
  // Sparse: most of a unit's fixed bins stay empty.
  for (size_t unit = 0; unit < units_.size(); ++unit) {
    const uint32_t* bins = histogram_.data() + unit * kBins;
    int lo = 0, hi = kBins;
    while (lo < hi && bins[lo] == 0) ++lo;
    while (hi > lo && bins[hi - 1] == 0) --hi;
    put<int32_t>(out, lo);
    put<int32_t>(out, hi);
    out.append(reinterpret_cast<const char*>(bins + lo), static_cast<size_t>(hi - lo) * sizeof(uint32_t));
  }
}

UnitStatistics UnitStatistics::deserialize(std::string_view& in) {
  const auto units = get<uint64_t>(in);
  if (units > in.size()) throw Error("atlas accumulator state is truncated");
  UnitStatistics stats(static_cast<int64_t>(units));
  for (auto& u : stats.units_) {
    u.count = get<int64_t>(in);
    u.nonfinite = get<int64_t>(in);
    u.sum = get<Int128>(in);
    u.sum_squares = get<Int128>(in);
    u.min = get<float>(in);
    u.max = get<float>(in);
  }
  for (size_t unit = 0; unit < units; ++unit) {
    const int lo = get<int32_t>(in), hi = get<int32_t>(in);
    if (lo < 0 || hi > kBins || lo > hi) throw Error("atlas accumulator state is corrupt");
    for (int b = lo; b < hi; ++b) stats.histogram_[unit * kBins + static_cast<size_t>(b)] = get<uint32_t>(in);
  }
  return stats;
}

// ---- Per-batch reduction ---------------------------------------------------

LayerBatch summarize(const float* values, int64_t images, int64_t units, int64_t cells, bool relu) {
  LayerBatch b;
  b.images = images;
  b.units = units;
  const auto n = static_cast<size_t>(images * units);
  b.max.resize(n);
  b.min.resize(n);
  b.argmax.resize(n);
  b.argmin.resize(n);
  b.mean.resize(n);
  b.pre_mean.resize(n);
  // Rows are independent, so splitting them across LibTorch's threads (--threads)
  // gives the same bytes as one thread.
  at::parallel_for(0, static_cast<int64_t>(n), 64, [&](int64_t first, int64_t last) {
    for (auto row = static_cast<size_t>(first); row < static_cast<size_t>(last); ++row) {
      const float* x = values + row * static_cast<size_t>(cells);
      float hi = x[0], lo = x[0];
      int32_t at_hi = 0, at_lo = 0;
      double sum = 0, positive_sum = 0;
      for (int64_t c = 0; c < cells; ++c) {
        const float v = x[c];
        // The first cell wins ties, as torch.argmax does.
        if (v > hi) hi = v, at_hi = static_cast<int32_t>(c);
        if (v < lo) lo = v, at_lo = static_cast<int32_t>(c);
        sum += v;
        positive_sum += v > 0 ? v : 0.0;
      }
      b.max[row] = hi;
      b.min[row] = lo;
      b.argmax[row] = at_hi;
      b.argmin[row] = at_lo;
      b.pre_mean[row] = static_cast<float>(sum / static_cast<double>(cells));
      b.mean[row] = relu ? static_cast<float>(positive_sum / static_cast<double>(cells)) : b.pre_mean[row];
    }
  });
  return b;
}

// ---- LayerAccumulator ------------------------------------------------------

LayerAccumulator::LayerAccumulator(int64_t units, int k)
    : top_max(units, k, Extreme::Top),
      top_mean(units, k, Extreme::Top),
      bottom_min(units, k, Extreme::Bottom),
      bottom_mean(units, k, Extreme::Bottom),
      max_stats(units),
      mean_stats(units) {}

void LayerAccumulator::add(const LayerBatch& batch, const std::vector<int64_t>& image_ids) {
  if (static_cast<int64_t>(image_ids.size()) != batch.images || batch.units != top_max.units())
    throw Error("atlas: batch does not match the layer's accumulator");
  // Units are independent and each sees the images in order, so splitting units
  // across threads gives the same state as one thread.
  at::parallel_for(0, batch.units, 32, [&](int64_t first, int64_t last) {
    for (int64_t i = 0; i < batch.images; ++i) {
      const int64_t image = image_ids[static_cast<size_t>(i)];
      for (int64_t u = first; u < last; ++u) {
        const auto at = static_cast<size_t>(i * batch.units + u);
        top_max.add(u, {batch.max[at], image, batch.argmax[at]});
        top_mean.add(u, {batch.mean[at], image, 0});
        bottom_min.add(u, {batch.min[at], image, batch.argmin[at]});
        bottom_mean.add(u, {batch.pre_mean[at], image, 0});
        max_stats.add(u, batch.max[at]);
        mean_stats.add(u, batch.mean[at]);
      }
    }
  });
}

void LayerAccumulator::merge(const LayerAccumulator& other) {
  top_max.merge(other.top_max);
  top_mean.merge(other.top_mean);
  bottom_min.merge(other.bottom_min);
  bottom_mean.merge(other.bottom_mean);
  max_stats.merge(other.max_stats);
  mean_stats.merge(other.mean_stats);
}

std::string LayerAccumulator::serialize() const {
  std::string out;
  put(out, kStateVersion);
  for (const auto* lists : {&top_max, &top_mean, &bottom_min, &bottom_mean}) lists->serialize(out);
  max_stats.serialize(out);
  mean_stats.serialize(out);
  return out;
}

LayerAccumulator LayerAccumulator::deserialize(std::string_view blob) {
  if (get<uint32_t>(blob) != kStateVersion) throw Error("atlas accumulator state has an unknown version");
  LayerAccumulator layer;
  for (auto* lists : {&layer.top_max, &layer.top_mean, &layer.bottom_min, &layer.bottom_mean})
    *lists = ExtremeLists::deserialize(blob);
  layer.max_stats = UnitStatistics::deserialize(blob);
  layer.mean_stats = UnitStatistics::deserialize(blob);
  if (!blob.empty()) throw Error("atlas accumulator state has trailing bytes");
  return layer;
}

std::string_view example_list_name(ExampleList list) {
  switch (list) {
    case ExampleList::TopMax:
      return "top_max";
    case ExampleList::TopMean:
      return "top_mean";
    case ExampleList::BottomMin:
      return "bottom_min";
    case ExampleList::BottomMean:
      return "bottom_mean";
  }
  throw Error("example list: not one of the four");
}

ExampleList parse_example_list(const std::string& name, const std::string& parameter) {
  for (ExampleList list : kExampleLists)
    if (name == example_list_name(list)) return list;
  throw ArgumentError(parameter, name, "expected top_max, top_mean, bottom_min or bottom_mean");
}

ExampleList example_list(bool by_max, bool bottom) {
  if (bottom) return by_max ? ExampleList::BottomMin : ExampleList::BottomMean;
  return by_max ? ExampleList::TopMax : ExampleList::TopMean;
}

const ExtremeLists& lists_of(const LayerAccumulator& layer, ExampleList list) {
  switch (list) {
    case ExampleList::TopMax:
      return layer.top_max;
    case ExampleList::TopMean:
      return layer.top_mean;
    case ExampleList::BottomMin:
      return layer.bottom_min;
    case ExampleList::BottomMean:
      return layer.bottom_mean;
  }
  throw Error("example list: not one of the four");
}

}  // namespace clipscope::atlas
