#include "core/model/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <set>

#include "core/util/error.h"

namespace clipscope {
namespace {

const torch::Tensor& require(const StateDict& sd, const std::string& key) {
  auto it = sd.find(key);
  if (it == sd.end()) throw Error(fmt::format("not a CLIP checkpoint: missing key '{}'", key));
  return it->second;
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Number of distinct values of the dotted path component `index` among keys with `prefix`.
int64_t count_children(const StateDict& sd, std::string_view prefix, size_t index) {
  std::set<std::string> seen;
  for (const auto& [key, _] : sd) {
    if (!starts_with(key, prefix)) continue;
    size_t start = 0;
    for (size_t i = 0; i < index && start != std::string::npos; ++i) {
      start = key.find('.', start);
      if (start != std::string::npos) ++start;
    }
    if (start == std::string::npos) continue;
    seen.insert(key.substr(start, key.find('.', start) - start));
  }
  return static_cast<int64_t>(seen.size());
}

int64_t exact_sqrt(int64_t n, const std::string& what) {
  const auto r = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  if (r * r != n) throw Error(fmt::format("not a CLIP checkpoint: {} has {} positions, not a square grid", what, n));
  return r;
}

}  // namespace

CLIPConfig CLIPConfig::from_state_dict(const StateDict& sd) {
  CLIPConfig c;
  if (sd.count("visual.proj")) {
    const auto& conv1 = require(sd, "visual.conv1.weight");
    c.vision_width = conv1.size(0);
    c.vision_patch_size = conv1.size(-1);
    for (const auto& [key, _] : sd)
      if (starts_with(key, "visual.") && ends_with(key, ".attn.in_proj_weight")) ++c.vit_layers;
    const int64_t grid = exact_sqrt(require(sd, "visual.positional_embedding").size(0) - 1, "visual.positional_embedding");
    c.image_resolution = c.vision_patch_size * grid;
  } else {
    for (int stage = 1; stage <= 4; ++stage)
      c.resnet_layers.push_back(count_children(sd, fmt::format("visual.layer{}.", stage), 2));
    if (c.resnet_layers[0] == 0)
      throw Error("not a CLIP checkpoint: no 'visual.proj' (ViT) and no 'visual.layer1.*' (ResNet) keys");
    c.vision_width = require(sd, "visual.layer1.0.conv1.weight").size(0);
    const int64_t grid = exact_sqrt(require(sd, "visual.attnpool.positional_embedding").size(0) - 1,
                                    "visual.attnpool.positional_embedding");
    c.image_resolution = grid * 32;
  }
  c.embed_dim = require(sd, "text_projection").size(1);
  c.context_length = require(sd, "positional_embedding").size(0);
  c.vocab_size = require(sd, "token_embedding.weight").size(0);
  c.transformer_width = require(sd, "ln_final.weight").size(0);
  c.transformer_heads = c.transformer_width / 64;
  c.transformer_layers = count_children(sd, "transformer.resblocks.", 2);
  if (c.transformer_heads == 0 || c.transformer_layers == 0)
    throw Error("not a CLIP checkpoint: the text transformer has no heads or no layers");
  return c;
}

std::string CLIPConfig::describe() const {
  std::string vision = is_vit()
      ? fmt::format("ViT patch {} width {} layers {} heads {}", vision_patch_size, vision_width, vit_layers, vision_heads())
      : fmt::format("ModifiedResNet layers ({}) width {} heads {}", fmt::join(resnet_layers, ","), vision_width, vision_heads());
  return fmt::format("{} @{}px | text width {} layers {} heads {} context {} vocab {} | embed {}", vision,
                     image_resolution, transformer_width, transformer_layers, transformer_heads, context_length,
                     vocab_size, embed_dim);
}

namespace {
struct Preset {
  const char* name;
  CLIPConfig config;
};

CLIPConfig resnet(int64_t embed, int64_t res, std::vector<int64_t> layers, int64_t width, int64_t text_width) {
  CLIPConfig c;
  c.embed_dim = embed;
  c.image_resolution = res;
  c.resnet_layers = std::move(layers);
  c.vision_width = width;
  c.transformer_width = text_width;
  c.transformer_heads = text_width / 64;
  c.transformer_layers = 12;
  return c;
}

CLIPConfig vit(int64_t embed, int64_t res, int64_t layers, int64_t width, int64_t patch, int64_t text_width) {
  CLIPConfig c;
  c.embed_dim = embed;
  c.image_resolution = res;
  c.vit_layers = layers;
  c.vision_width = width;
  c.vision_patch_size = patch;
  c.transformer_width = text_width;
  c.transformer_heads = text_width / 64;
  c.transformer_layers = 12;
  return c;
}

// The shapes of OpenAI's released checkpoints (what build_model infers from them).
const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = {
      {"RN50", resnet(1024, 224, {3, 4, 6, 3}, 64, 512)},
      {"RN101", resnet(512, 224, {3, 4, 23, 3}, 64, 512)},
      {"RN50x4", resnet(640, 288, {4, 6, 10, 6}, 80, 640)},
      {"RN50x16", resnet(768, 384, {6, 8, 18, 8}, 96, 768)},
      {"RN50x64", resnet(1024, 448, {3, 15, 36, 10}, 128, 1024)},
      {"ViT-B/32", vit(512, 224, 12, 768, 32, 512)},
      {"ViT-B/16", vit(512, 224, 12, 768, 16, 512)},
      {"ViT-L/14", vit(768, 224, 24, 1024, 14, 768)},
      {"ViT-L/14@336px", vit(768, 336, 24, 1024, 14, 768)},
  };
  return p;
}
}  // namespace

CLIPConfig CLIPConfig::preset(std::string_view name) {
  for (const auto& p : presets())
    if (name == p.name) return p.config;
  throw Error(fmt::format("unknown architecture '{}' (known: {})", name, fmt::join(preset_names(), ", ")));
}

std::vector<std::string> CLIPConfig::preset_names() {
  std::vector<std::string> names;
  for (const auto& p : presets()) names.emplace_back(p.name);
  return names;
}

}  // namespace clipscope
