#pragma once
// Images for the image tests.
#include <cstddef>
#include <cstdint>
#include <random>

#include "core/image/image.h"

namespace clipscope::testing {

// A width x height image of uniformly random RGB bytes, the same for the same seed.
inline Image random_image(int width, int height, unsigned seed) {
  std::mt19937 rng(seed);
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.resize(static_cast<size_t>(width) * height * 3);
  for (auto& v : image.rgb) v = static_cast<uint8_t>(rng() & 0xFF);
  return image;
}

}  // namespace clipscope::testing
