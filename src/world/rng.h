#pragma once
// A small, portable random generator for the synthetic world. std::*_distribution
// results differ between standard libraries, so the world draws its numbers
// itself: the same seed gives the same world on every machine.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace clipscope::world {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  // The generator of item `index` of a stream `seed`: independent of how the items
  // are split among threads.
  static Rng for_item(uint64_t seed, uint64_t index) { return Rng(mix(seed * 0x9E3779B97F4A7C15ULL + mix(index + 1))); }

  uint64_t next() { return mix(state_ += 0x9E3779B97F4A7C15ULL); }            // splitmix64
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int integer(int lo, int hi) {
    return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1));
  }  // [lo, hi]
  bool chance(double p) { return uniform() < p; }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[next() % items.size()];
  }
  // An index drawn with the given (unnormalized, non-negative) weights.
  size_t weighted(const std::vector<double>& weights) {
    double total = 0;
    for (double w : weights) total += w;
    double r = uniform() * total;
    for (size_t i = 0; i < weights.size(); ++i) {
      if (r < weights[i]) return i;
      r -= weights[i];
    }
    return weights.size() - 1;
  }

 private:
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

}  // namespace clipscope::world
