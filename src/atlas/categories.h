#pragma once
// A unit's activation distribution per category of images (the article's figure of
// one neuron's response to photos of different people): subfolders of a root are
// the categories; each image's value is the unit's spatial max, read where the
// atlas reads it (pre-ReLU where the layer has a ReLU).
#include <filesystem>
#include <string>
#include <vector>

#include "atlas/atlas.h"
#include "core/model/clip.h"

namespace clipscope::atlas {

struct CategoryValues {
  std::string name;
  std::vector<float> values;
  int64_t skipped = 0;
  double median = 0, mean = 0, std = 0;
};

// Categories: the subfolders of root that hold images, in sorted order (images
// found recursively below each). Throws Error when there are none.
std::vector<std::pair<std::string, std::vector<std::filesystem::path>>> category_folders(
    const std::filesystem::path& root);

std::vector<CategoryValues> category_values(
    CLIP& model, const LayerInfo& layer, int64_t unit,
    const std::vector<std::pair<std::string, std::vector<std::filesystem::path>>>& categories, int batch_size,
    bool progress);

}  // namespace clipscope::atlas
