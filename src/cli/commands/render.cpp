// clipscope render "text" -o out.png [--font F] [--size S] [--color C] ... | clipscope render --list-fonts
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cli/context.h"
#include "core/image/image.h"
#include "core/raster/text.h"
#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope::cli {
namespace {

// "center" (or "centre") is the middle of the canvas; anything else must be a number of pixels.
double parse_position(const std::string& option, const std::string& value, int extent) {
  if (value == "center" || value == "centre") return extent / 2.0;
  if (const auto v = to_number<double>(value)) return *v;
  throw Error(fmt::format("{} {}: not a number of pixels or 'center'", option, value));
}

}  // namespace

void add_render_command(CLI::App& app, Context& /*ctx*/) {
  struct Options {
    std::string text, out;
    std::string font = "DejaVuSans";
    double size = 32, rotation = 0;
    std::string color = "black", background = "white";
    int width = 224, height = 224;
    std::string x = "center", y = "center";
    bool list_fonts = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("render", "Draw text into a PNG with FreeType (prints the ink box as JSON)");
  auto* text = cmd->add_option("text", o->text, "The text to draw (UTF-8, one line)");
  cmd->add_option("-o,--out", o->out, "Output .png file");
  cmd->add_option("--font", o->font,
                  "DejaVu face name (DejaVuSans, DejaVuSerif-Bold, ...; see --list-fonts) or a .ttf/.otf path; "
                  "names are looked up in $CLIPSCOPE_FONT_DIR, else /usr/share/fonts/truetype/dejavu")
      ->default_val("DejaVuSans");
  cmd->add_option("--size", o->size, "Pixel size of the em square")->default_val(32);
  cmd->add_option("--color", o->color, "Text colour: a CSS name, #rrggbb or r,g,b")->default_val("black");
  cmd->add_option("--background", o->background, "Canvas colour: a CSS name, #rrggbb or r,g,b")->default_val("white");
  cmd->add_option("--rotation", o->rotation, "Degrees counter-clockwise about the text's centre")->default_val(0);
  cmd->add_option("--width", o->width, "Canvas width in pixels")->default_val(224);
  cmd->add_option("--height", o->height, "Canvas height in pixels")->default_val(224);
  cmd->add_option("--x", o->x, "Where the centre of the ink goes: pixels from the left, or 'center'")
      ->default_val("center");
  cmd->add_option("--y", o->y, "Where the centre of the ink goes: pixels from the top, or 'center'")
      ->default_val("center");
  cmd->add_flag("--list-fonts", o->list_fonts, "List the face names available and exit");
  cmd->callback([o, text] {
    TextRasterizer rasterizer;
    if (o->list_fonts) {
      for (const auto& name : rasterizer.available_fonts()) fmt::print("{}\n", name);
      return;
    }
    if (text->count() == 0) throw Error("render: give the text to draw (or --list-fonts)");
    if (o->out.empty()) throw Error("render: give the output file with -o FILE.png");
    if (o->width <= 0 || o->height <= 0 || static_cast<int64_t>(o->width) * o->height > (int64_t{1} << 28))
      throw Error(fmt::format("render: canvas {} x {}: width and height must be positive (and not absurd)", o->width,
                              o->height));
    const auto parent = std::filesystem::path(o->out).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent))
      throw Error(fmt::format("-o {}: folder {} does not exist", o->out, parent.string()));
    TextStyle style;
    style.font = o->font;
    style.size = o->size;
    style.color = parse_color(o->color);
    style.rotation = o->rotation;
    const Rgb background = parse_color(o->background);
    const TextPlacement where{parse_position("--x", o->x, o->width), parse_position("--y", o->y, o->height)};
    Image canvas = blank_image(o->width, o->height, background);
    const PixelBox box = rasterizer.draw(canvas, o->text, style, where);
    write_png(o->out, canvas);
    nlohmann::ordered_json j = {{"x0", box.x0}, {"y0", box.y0}, {"x1", box.x1}, {"y1", box.y1}};
    fmt::print("{}\n", j.dump());
  });
}

}  // namespace clipscope::cli
