#pragma once
// Contact sheets of a unit's dataset examples: each image as the model saw it
// (resized and centre-cropped to its input size), cropped around the cell the
// value was read at, or whole with that cell outlined.
#include <filesystem>
#include <string>
#include <vector>

#include "atlas/atlas.h"
#include "plot/sheet.h"

namespace clipscope::atlas {

struct SheetOptions {
  bool full = false;           // whole image with the cell outlined, instead of a crop around it
  double crop_fraction = 0.5;  // crop side as a fraction of the image side
  int columns = 5;
  int tile_size = 160;
};

// The tile for one example (an unreadable image becomes a grey tile saying so).
plot::Tile example_tile(const LayerInfo& layer, const ExampleRow& row, int n_px, const SheetOptions& options,
                        const std::string& caption);
void write_example_sheet(const std::filesystem::path& png, const LayerInfo& layer, const std::vector<ExampleRow>& rows,
                         int n_px, const SheetOptions& options, const std::string& title);

}  // namespace clipscope::atlas
