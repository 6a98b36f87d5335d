#pragma once
// Contact sheets: a grid of image tiles (e.g. the top-activating images of a
// neuron) with a caption under each, written as PNG with cairo.
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/image/image.h"

namespace clipscope::plot {

struct Box {
  int x = 0, y = 0, width = 0, height = 0;  // in the tile image's pixels
};

// The region of `image` inside box, clamped to the image (throws Error when the box misses the image entirely).
Image crop(const Image& image, Box box);

struct Tile {
  Image image;
  std::string caption;         // drawn under the tile (e.g. "#3  12.4  img 1023"), may be empty; '\n' splits lines
  std::optional<Box> outline;  // a rectangle drawn on the tile (in image pixels, scaled with it)
};

// The outline is drawn 2px thick just inside the scaled box, without antialiasing,
// so its pixels have exactly this colour.
constexpr std::array<uint8_t, 3> outline_colour() { return {255, 214, 0}; }

// Sheet geometry, in output pixels: every cell is tile_size wide and
// tile_size + caption_height tall, cells and the sheet edges are sheet_gap apart,
// and a title adds sheet_title_height at the top. caption_height is
// caption_line_height times the most caption lines of any tile (0 when all are empty).
// With c = min(columns, tiles) and r = ceil(tiles / c):
//   width  = sheet_gap + c * (tile_size + sheet_gap)
//   height = title + sheet_gap + r * (tile_size + caption_height + sheet_gap)
// A tile's image is centred in its tile_size x tile_size square.
constexpr int sheet_gap = 8;
constexpr int caption_line_height = 15;
constexpr int sheet_title_height = 28;

// A grid of tiles, each scaled (aspect kept, bicubic via resize_bicubic) to fit tile_size x tile_size,
// `columns` per row, caption lines under each, an optional title line at the top, white background. Writes PNG.
void write_contact_sheet(const std::filesystem::path& png, const std::vector<Tile>& tiles, int columns = 5,
                         int tile_size = 160, const std::string& title = "");

}  // namespace clipscope::plot
