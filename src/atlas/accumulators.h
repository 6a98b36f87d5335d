#pragma once
// What the atlas keeps while images stream through: per unit, the k most extreme
// examples and exact running statistics. Both are independent of the order and the
// grouping in which images arrive (ties go to the lower image id; sums are kept in
// integer fixed point, so addition is associative), which is what makes a resumed
// run, or shards merged, identical to one uninterrupted run. Memory is units × k
// (plus a fixed histogram per unit), never proportional to the number of images.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace clipscope::atlas {

// Exact fixed-point sums need 128 bits (GCC's and Clang's extension: __extension__
// keeps -Wpedantic quiet about it).
__extension__ typedef __int128 Int128;

// One dataset example of a unit: the image, its value, and the spatial cell (or
// token) the value was read at.
struct Example {
  float value = 0;
  int64_t image = 0;
  int32_t cell = 0;
  bool operator==(const Example&) const = default;
};

enum class Extreme { Top, Bottom };

// The k largest (Top) or smallest (Bottom) finite examples of every unit.
class ExtremeLists {
 public:
  ExtremeLists() = default;
  ExtremeLists(int64_t units, int k, Extreme extreme);
  void add(int64_t unit, const Example& example);
  void merge(const ExtremeLists& other);
  // The unit's examples, most extreme first.
  std::vector<Example> sorted(int64_t unit) const;
  int64_t units() const { return static_cast<int64_t>(heaps_.size()); }
  int k() const { return k_; }
  Extreme extreme() const { return extreme_; }

  void serialize(std::string& out) const;
  static ExtremeLists deserialize(std::string_view& in);

 private:
  // a ranks before b: more extreme value, then lower image id.
  bool before(const Example& a, const Example& b) const;
  int k_ = 0;
  Extreme extreme_ = Extreme::Top;
  std::vector<std::vector<Example>> heaps_;  // heap with the least extreme kept example at front
};

// A unit's summary statistics over images.
struct Summary {
  int64_t count = 0;      // finite values
  int64_t nonfinite = 0;  // NaN/inf values, left out of everything else
  double mean = 0, std = 0;
  double rms = 0;  // "standard deviations from zero": sqrt(mean of squares)
  double min = 0, max = 0;
};

// A histogram in units of the RMS: bin i covers [lo + i*width, lo + (i+1)*width) · rms.
struct StdHistogram {
  double lo = 0, width = 0;
  std::vector<int64_t> counts;
};

// Exact per-unit statistics. Values and squares are summed as 128-bit integers in
// units of 2^-50 (values below that resolution round toward zero; |value| up to
// 2^38 is exact), and values are counted in a fixed logarithmic histogram (16 bins
// per octave from 2^-20 to 2^20, both signs), from which histograms in RMS units
// are drawn once the RMS is known.
class UnitStatistics {
 public:
  static constexpr int kBinsPerOctave = 16;
  static constexpr int kOctaves = 40;  // 2^-20 .. 2^20
  static constexpr int kSideBins = kBinsPerOctave * kOctaves;
  static constexpr int kBins = 2 * kSideBins + 1;  // negative side, zero, positive side

  UnitStatistics() = default;
  explicit UnitStatistics(int64_t units);
  void add(int64_t unit, float value);
  void merge(const UnitStatistics& other);
  Summary summary(int64_t unit) const;
  // bin_width in RMS units; covers min..max.
  StdHistogram std_histogram(int64_t unit, double bin_width) const;
  int64_t units() const { return static_cast<int64_t>(units_.size()); }

  static int bin_of(float value);
  // The value a bin's count is taken to sit at (its geometric centre).
  static double bin_value(int bin);

  void serialize(std::string& out) const;
  static UnitStatistics deserialize(std::string_view& in);

 private:
  struct Unit {
    int64_t count = 0, nonfinite = 0;
    Int128 sum = 0, sum_squares = 0;
    float min = 0, max = 0;
  };
  std::vector<Unit> units_;
  std::vector<uint32_t> histogram_;  // units × kBins
};

// One layer's per-image, per-unit values for a batch, as the atlas reads them
// (row-major (images, units) arrays).
struct LayerBatch {
  int64_t images = 0, units = 0;
  std::vector<float> max, min;          // spatial max / min of the values read (pre-ReLU where the layer has one)
  std::vector<int32_t> argmax, argmin;  // their cells
  std::vector<float> mean;              // spatial mean of the layer's output (after its ReLU)
  std::vector<float> pre_mean;          // spatial mean of the values read (= mean without a ReLU)
};

// values: (images, units, cells) contiguous floats read at the layer's pre-ReLU
// point, or at the layer itself when relu is false. Reduced in a fixed order in
// double, so every run computes the same numbers from the same values.
LayerBatch summarize(const float* values, int64_t images, int64_t units, int64_t cells, bool relu);

// Everything the atlas keeps for one layer.
struct LayerAccumulator {
  LayerAccumulator() = default;
  LayerAccumulator(int64_t units, int k);
  // image_ids: one per row of the batch.
  void add(const LayerBatch& batch, const std::vector<int64_t>& image_ids);
  void merge(const LayerAccumulator& other);
  std::string serialize() const;
  static LayerAccumulator deserialize(std::string_view blob);

  ExtremeLists top_max, top_mean;        // by spatial max; by spatial mean (post-ReLU)
  ExtremeLists bottom_min, bottom_mean;  // by spatial min; by spatial mean (pre-ReLU)
  UnitStatistics max_stats, mean_stats;  // over the per-image max (pre-ReLU) and mean (post-ReLU)
};

// The four example lists of a unit, stored in the database's `examples.list` column
// by name: top_max, top_mean, bottom_min, bottom_mean.
enum class ExampleList { TopMax, TopMean, BottomMin, BottomMean };
inline constexpr ExampleList kExampleLists[] = {ExampleList::TopMax, ExampleList::TopMean, ExampleList::BottomMin,
                                                ExampleList::BottomMean};
std::string_view example_list_name(ExampleList list);
// Throws ArgumentError naming `parameter` for any other name.
ExampleList parse_example_list(const std::string& name, const std::string& parameter = "list");
// The list that ranks by spatial max (bottom: spatial min) or by spatial mean.
ExampleList example_list(bool by_max, bool bottom);
const ExtremeLists& lists_of(const LayerAccumulator& layer, ExampleList list);

}  // namespace clipscope::atlas
