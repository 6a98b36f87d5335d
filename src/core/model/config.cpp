#include "core/model/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "core/util/error.h"
#include "core/util/strings.h"

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

// build_model's inference without the final check (open_clip configs supply heads).
CLIPConfig infer(const StateDict& sd);

void check_heads(const CLIPConfig& c) {
  if (c.transformer_heads == 0 || c.transformer_layers == 0)
    throw Error("not a CLIP checkpoint: the text transformer has no heads or no layers");
}

}  // namespace

std::string_view activation_name(Activation activation) {
  return activation == Activation::GELU ? "gelu" : "quickgelu";
}

Activation parse_activation(std::string_view name) {
  const std::string lower = lower_ascii(name);
  if (lower == "gelu") return Activation::GELU;
  if (lower == "quickgelu" || lower == "quick_gelu") return Activation::QuickGELU;
  throw Error(fmt::format("activation '{}': expected gelu or quickgelu", name));
}

CLIPConfig CLIPConfig::from_state_dict(const StateDict& sd) {
  CLIPConfig c = infer(sd);
  check_heads(c);
  return c;
}

namespace {
CLIPConfig infer(const StateDict& sd) {
  CLIPConfig c;
  if (sd.count("visual.proj")) {
    const auto& conv1 = require(sd, "visual.conv1.weight");
    c.vision_width = conv1.size(0);
    c.vision_patch_size = conv1.size(-1);
    for (const auto& [key, _] : sd)
      if (starts_with(key, "visual.") && ends_with(key, ".attn.in_proj_weight")) ++c.vit_layers;
    const int64_t grid =
        exact_sqrt(require(sd, "visual.positional_embedding").size(0) - 1, "visual.positional_embedding");
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
  // build_model's width // 64, at least one head (towers narrower than 64 have one).
  c.transformer_heads = std::max<int64_t>(1, c.transformer_width / 64);
  c.transformer_layers = count_children(sd, "transformer.resblocks.", 2);
  return c;
}

// open_clip's model config fields and their defaults (open_clip's CLIPVisionCfg and
// CLIPTextCfg); a field the config leaves out has open_clip's default.
struct ConfigReader {
  const nlohmann::json& j;
  std::string where;  // "open_clip_config.json: vision_cfg"
  std::string source;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(fmt::format("{}: {}.{} {}", source, where, key, what));
  }
  bool has(const std::string& key) const { return j.contains(key) && !j[key].is_null(); }
  int64_t integer(const std::string& key) const {
    if (!j[key].is_number_integer()) fail(key, fmt::format("is {}, not an integer", j[key].dump()));
    return j[key].get<int64_t>();
  }
  // A stated size must be the one the weights have.
  void check(const std::string& key, int64_t weights) const {
    if (has(key) && integer(key) != weights)
      fail(key, fmt::format("is {} but the weights have {}", integer(key), weights));
  }
  // Options that change the architecture in ways clipscope does not build.
  void refuse_unless(const std::string& key, const nlohmann::json& default_value) const {
    if (has(key) && j[key] != default_value)
      fail(key, fmt::format("is {}: not supported (clipscope builds OpenAI's architecture; default {})", j[key].dump(),
                            default_value.dump()));
  }
};

// Refuses what changes the architecture in ways clipscope does not build.
void refuse_other_architectures(const ConfigReader& top, const ConfigReader& vision, const ConfigReader& text) {
  if (vision.has("timm_model_name")) vision.fail("timm_model_name", "names a timm tower: not supported");
  if (text.has("hf_model_name")) text.fail("hf_model_name", "names a Hugging Face text tower: not supported");
  top.refuse_unless("init_logit_bias", nullptr);  // SigLIP's sigmoid loss
  for (const auto* r : {&vision, &text}) {
    r->refuse_unless("ls_init_value", nullptr);
    r->refuse_unless("mlp_ratio", 4.0);
    r->refuse_unless("final_ln_after_pool", false);
    r->refuse_unless("act_kwargs", nullptr);
    r->refuse_unless("norm_kwargs", nullptr);
  }
  vision.refuse_unless("attentional_pool", false);
  vision.refuse_unless("no_ln_pre", false);
  vision.refuse_unless("pos_embed_type", "learnable");
  vision.refuse_unless("pool_type", "tok");
  vision.refuse_unless("input_patchnorm", false);
  vision.refuse_unless("global_average_pool", false);
  text.refuse_unless("embed_cls", false);
  text.refuse_unless("no_causal_mask", false);
  text.refuse_unless("pool_type", "argmax");
  text.refuse_unless("proj_bias", false);
  text.refuse_unless("proj_type", "linear");
}

// What the config states must match the weights (inferred into c).
void check_against_weights(const CLIPConfig& c, const ConfigReader& top, const ConfigReader& vision,
                           const ConfigReader& text) {
  top.check("embed_dim", c.embed_dim);
  vision.check("width", c.vision_width);
  if (vision.has("image_size")) {
    const auto& size = vision.j["image_size"];
    const bool square = size.is_number_integer() ||
                        (size.is_array() && size.size() == 2 && size[0].is_number_integer() && size[0] == size[1]);
    if (!square) vision.fail("image_size", fmt::format("is {}: only square inputs are supported", size.dump()));
    const int64_t n = size.is_array() ? size[0].get<int64_t>() : size.get<int64_t>();
    if (n != c.image_resolution)
      vision.fail("image_size",
                  fmt::format("is {} but the weights' position embeddings are for {}", n, c.image_resolution));
  }
  if (c.is_vit()) {
    vision.check("layers", c.vit_layers);
    vision.check("patch_size", c.vision_patch_size);
  } else if (vision.has("layers")) {
    const auto& layers = vision.j["layers"];
    if (!layers.is_array() || layers.get<std::vector<int64_t>>() != c.resnet_layers)
      vision.fail("layers",
                  fmt::format("is {} but the weights have ({})", layers.dump(), fmt::join(c.resnet_layers, ", ")));
  }
  text.check("width", c.transformer_width);
  text.check("layers", c.transformer_layers);
  text.check("context_length", c.context_length);
  text.check("vocab_size", c.vocab_size);
}

// preprocess_cfg's mean and std (open_clip's own preprocessing otherwise refused).
void read_preprocessing(const ConfigReader& pre, Normalization& normalization) {
  for (const char* key : {"mean", "std"}) {
    if (!pre.has(key)) continue;
    const auto& v = pre.j[key];
    if (!v.is_array() || v.size() != 3 || !std::all_of(v.begin(), v.end(), [](const auto& x) { return x.is_number(); }))
      pre.fail(key, fmt::format("is {}: expected three numbers", v.dump()));
    auto& target = std::string(key) == "mean" ? normalization.mean : normalization.std;
    for (size_t i = 0; i < 3; ++i) target[i] = v[i].get<float>();
  }
  for (float s : normalization.std)
    if (!(s > 0)) pre.fail("std", "must be positive");
  pre.refuse_unless("interpolation", "bicubic");
  pre.refuse_unless("resize_mode", "shortest");
}

}  // namespace

CLIPConfig CLIPConfig::from_open_clip(const nlohmann::json& file, const StateDict& sd, const std::string& source) {
  if (!file.is_object()) throw Error(fmt::format("{}: not a JSON object", source));
  const nlohmann::json& model = file.contains("model_cfg") ? file["model_cfg"] : file;
  if (!model.is_object() || !model.contains("vision_cfg") || !model.contains("text_cfg"))
    throw Error(fmt::format("{}: not an open_clip model config (no model_cfg with vision_cfg and text_cfg)", source));
  const ConfigReader top{model, "model_cfg", source};
  const ConfigReader vision{model["vision_cfg"], "vision_cfg", source};
  const ConfigReader text{model["text_cfg"], "text_cfg", source};
  if (!vision.j.is_object() || !text.j.is_object())
    throw Error(fmt::format("{}: vision_cfg and text_cfg must be objects", source));
  refuse_other_architectures(top, vision, text);

  CLIPConfig c = infer(sd);
  // What the weights cannot say.
  c.transformer_heads = text.has("heads") ? text.integer("heads") : 8;
  c.vision_head_width = vision.has("head_width") ? vision.integer("head_width") : 64;
  if (c.transformer_heads <= 0 || c.transformer_width % c.transformer_heads)
    text.fail("heads", fmt::format("is {}: does not divide the width {}", c.transformer_heads, c.transformer_width));
  if (c.vision_head_width <= 0 || (c.is_vit() ? c.vision_width : c.vision_width * 32) % c.vision_head_width)
    vision.fail("head_width", fmt::format("is {}: does not divide the width", c.vision_head_width));
  if (top.has("quick_gelu") && !model["quick_gelu"].is_boolean()) top.fail("quick_gelu", "is not true or false");
  c.activation = top.has("quick_gelu") && model["quick_gelu"].get<bool>() ? Activation::QuickGELU : Activation::GELU;

  check_against_weights(c, top, vision, text);
  check_heads(c);
  if (file.contains("preprocess_cfg") && file["preprocess_cfg"].is_object())
    read_preprocessing({file["preprocess_cfg"], "preprocess_cfg", source}, c.normalization);
  return c;
}

std::string CLIPConfig::describe() const {
  std::string vision = is_vit() ? fmt::format("ViT patch {} width {} layers {} heads {}", vision_patch_size,
                                              vision_width, vit_layers, vision_heads())
                                : fmt::format("ModifiedResNet layers ({}) width {} heads {}",
                                              fmt::join(resnet_layers, ","), vision_width, vision_heads());
  std::string out = fmt::format("{} @{}px | text width {} layers {} heads {} context {} vocab {} | embed {} | {}",
                                vision, image_resolution, transformer_width, transformer_layers, transformer_heads,
                                context_length, vocab_size, embed_dim, activation_name(activation));
  if (normalization != Normalization{})
    out +=
        fmt::format(" | mean ({}) std ({})", fmt::join(normalization.mean, ", "), fmt::join(normalization.std, ", "));
  return out;
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
