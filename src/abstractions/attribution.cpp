#include "abstractions/attribution.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>

#include "core/util/error.h"
#include "plot/sheet.h"
#include "zeroshot/zeroshot.h"

namespace clipscope::abstractions {

const std::vector<std::string>& emotion_templates() {
  static const std::vector<std::string> templates = {"i am feeling {}", "Me feeling {} on my face",
                                                     "a photo of me with a {} expression on my face"};
  return templates;
}

std::vector<std::string> attribution_points(CLIPImpl& model) {
  if (auto* resnet = dynamic_cast<ModifiedResNet*>(model.visual.get())) {
    const auto stages = resnet->stages.size();
    return {model.resolve_point(fmt::format("visual.layer{}", stages)),
            model.resolve_point(fmt::format("visual.layer{}.{}", stages, resnet->stages.back()->size() - 1))};
  }
  if (auto* vit = dynamic_cast<VisionTransformer*>(model.visual.get()))
    return {
        model.resolve_point(fmt::format("visual.transformer.resblocks.{}", vit->transformer->resblocks->size() - 1))};
  return {};
}

torch::Tensor unit_directions(CLIPImpl& model, const std::string& point) {
  const auto points = attribution_points(model);
  std::string canonical;
  try {
    canonical = model.resolve_point(point);
  } catch (const Error&) {}
  if (std::find(points.begin(), points.end(), canonical) == points.end())
    throw Error(fmt::format("point '{}' has no direction in the embedding space: only the last layer does ({})", point,
                            fmt::join(points, ", ")));
  torch::NoGradGuard no_grad;
  torch::Tensor d;
  if (auto* resnet = dynamic_cast<ModifiedResNet*>(model.visual.get()))
    d = resnet->attnpool->c_proj->weight.matmul(resnet->attnpool->v_proj->weight).t();  // (units, embed)
  else if (auto* vit = dynamic_cast<VisionTransformer*>(model.visual.get()))
    d = vit->ln_post->weight.unsqueeze(1) * vit->proj;  // ln_post's gain, then the projection
  return d.to(torch::kCPU, torch::kFloat32).contiguous();
}

std::vector<std::pair<int64_t, double>> Attribution::top(size_t t, int64_t k) const {
  const auto row = scores[static_cast<int64_t>(t)];
  const auto [values, units] = row.topk(std::min<int64_t>(k, row.size(0)));
  std::vector<std::pair<int64_t, double>> out;
  for (int64_t i = 0; i < values.size(0); ++i) out.emplace_back(units[i].item<int64_t>(), values[i].item<double>());
  return out;
}

Attribution attribute_texts(CLIP& model, const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                            const AttributionOptions& options) {
  if (texts.empty()) throw Error("attribution: no texts given");
  Attribution a;
  const auto points = attribution_points(*model);
  if (points.empty()) throw Error("attribution: the model's image tower has no affine last step");
  a.point = options.point.empty() ? points.front() : model->resolve_point(options.point);
  const torch::Tensor directions = unit_directions(*model, a.point);
  const torch::Tensor embeddings =
      zero_shot_weights(model, tokenizer, texts, options.templates, options.truncate).to(torch::kCPU, torch::kFloat32);
  a.texts = texts;
  a.scores = embeddings.matmul(directions.t());  // (texts, units)
  if (options.center) {
    if (texts.size() < 2) throw Error("attribution: centering needs at least two texts");
    a.scores = a.scores - a.scores.mean(0, true);
  }
  a.scores = a.scores.contiguous();
  return a;
}

void write_attribution_sheet(const std::filesystem::path& png, const Attribution& attribution, size_t text,
                             const atlas::Atlas& atlas, const AttributionSheetOptions& options) {
  if (text >= attribution.texts.size())
    throw ArgumentError("text", std::to_string(text), fmt::format("not below {}", attribution.texts.size()));
  if (options.units < 1) throw ArgumentError("units", std::to_string(options.units), "must be positive");
  if (options.examples < 1) throw ArgumentError("examples", std::to_string(options.examples), "must be positive");
  const atlas::LayerInfo& layer = atlas.layer(attribution.point);
  std::vector<plot::Tile> tiles;
  for (const auto& [unit, score] : attribution.top(text, options.units)) {
    const auto rows = atlas.examples(layer, unit, atlas::ExampleList::TopMax, options.examples);
    for (size_t i = 0; i < static_cast<size_t>(options.examples); ++i) {
      if (i >= rows.size()) {  // an atlas with fewer images than examples: a blank tile keeps the rows aligned
        plot::Tile blank;
        blank.image.width = blank.image.height = atlas.settings().n_px;
        blank.image.rgb.assign(static_cast<size_t>(blank.image.width) * blank.image.height * 3, 255);
        tiles.push_back(std::move(blank));
        continue;
      }
      const std::string caption = i == 0 ? fmt::format("unit {} ({:+.3g})\n#1 {:.3g}", unit, score, rows[i].value)
                                         : fmt::format("\n#{} {:.3g}", i + 1, rows[i].value);
      tiles.push_back(atlas::example_tile(layer, rows[i], atlas.settings().n_px, options.sheet, caption));
    }
  }
  plot::write_contact_sheet(png, tiles, options.examples, options.sheet.tile_size,
                            fmt::format("\"{}\": the units that raise its logit ({}), with their top images",
                                        attribution.texts[text], attribution.point));
}

}  // namespace clipscope::abstractions
