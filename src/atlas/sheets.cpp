#include "atlas/sheets.h"

#include <fmt/format.h>

#include "atlas/queries.h"
#include "core/image/preprocess.h"
#include "core/util/error.h"

namespace clipscope::atlas {

plot::Tile example_tile(const LayerInfo& layer, const ExampleRow& row, int n_px, const SheetOptions& options,
                        const std::string& caption) {
  plot::Tile tile;
  tile.caption = caption;
  Image seen;
  try {
    seen = resize_and_center_crop(read_image(row.path), n_px);
  } catch (const Error&) {
    seen.width = seen.height = n_px;
    seen.rgb.assign(static_cast<size_t>(n_px) * n_px * 3, 128);
    tile.caption += "\n(image unreadable now)";
    tile.image = std::move(seen);
    return tile;
  }
  const PixelBox cell = cell_box(layer, row.cell, n_px);
  if (options.full) {
    tile.image = std::move(seen);
    tile.outline = plot::Box{cell.x, cell.y, cell.width, cell.height};
  } else {
    const PixelBox crop = crop_around(cell, n_px, options.crop_fraction);
    tile.image = plot::crop(seen, {crop.x, crop.y, crop.width, crop.height});
  }
  return tile;
}

void write_example_sheet(const std::filesystem::path& png, const LayerInfo& layer, const std::vector<ExampleRow>& rows,
                         int n_px, const SheetOptions& options, const std::string& title) {
  std::vector<plot::Tile> tiles;
  for (const auto& row : rows)
    tiles.push_back(
        example_tile(layer, row, n_px, options, fmt::format("#{} {:.3g} img {}", row.rank + 1, row.value, row.image)));
  plot::write_contact_sheet(png, tiles, options.columns, options.tile_size, title);
}

}  // namespace clipscope::atlas
