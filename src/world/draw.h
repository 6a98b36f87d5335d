#pragma once
// Procedural drawing for the synthetic world: anti-aliased shapes, faces with
// emotions and plain or textured backgrounds, painted onto 8-bit RGB images.
#include <array>
#include <string>
#include <vector>

#include "core/image/image.h"
#include "core/raster/emoji.h"
#include "core/raster/text.h"
#include "world/rng.h"

namespace clipscope::world {

// Whether the point (u, v) of the unit square [-1, 1]^2 (v pointing down) lies in
// the shape; every shape fits in the unit circle. Throws Error for unknown shapes.
bool shape_contains(const std::string& shape, double u, double v);

// Paints a shape centred at (x, y) with radius r (pixels) rotated by `angle`
// radians, with 4x4-supersampled coverage.
void draw_shape(Image& image, const std::string& shape, double x, double y, double r, double angle, Rgb color);

// A round face of radius r with the expression of `emotion` (happy, sad,
// surprised, angry), in `skin` with dark features.
void draw_face(Image& image, const std::string& emotion, double x, double y, double r, Rgb skin);

// Composites a premultiplied RGBA picture centred at (x, y), scaled so that its
// larger side is `side` pixels and rotated by `angle` radians (bilinear sampling;
// 2x2 supersampled when shrinking). Returns the box of pixels it covered.
PixelBox draw_picture(Image& image, const RgbaImage& picture, double x, double y, double side, double angle);

// Fills the rings (even-odd) of a shape given in the unit box [-1, 1]^2 (y down),
// centred at (x, y) with half-size r pixels and rotated by `angle` radians, with
// 4x4-supersampled coverage.
void fill_rings(Image& image, const std::vector<std::vector<std::array<double, 2>>>& rings, double x, double y,
                double r, double angle, Rgb color);

// Background kinds: "plain", "noise", "stripes", "checker", "gradient" in light
// neutral tones (so that no background reads as a colour concept), and "white".
const std::vector<std::string>& background_kinds();
// Fills the whole image; `seed` fixes the texture.
void fill_background(Image& image, const std::string& kind, uint64_t seed);

}  // namespace clipscope::world
