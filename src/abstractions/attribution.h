#pragma once
// The bilinear view of CLIP's logit (Goh et al. 2021, "Using Abstractions"):
// logit ∝ x_imgᵀ W x_text. Taking the image tower's last step as affine (ResNet: the
// attention pool's value path c_proj·v_proj, whose attention weights sum to one;
// ViT: ln_post's gain and the projection, the normalization held fixed) gives every
// unit of the last layer a direction in the embedding space, and a text a vector
// over those units: how much one more unit of each raises the text's logit.
#include <torch/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "atlas/sheets.h"

#include "core/model/clip.h"
#include "core/text/tokenizer.h"

namespace clipscope::abstractions {

// The article's three emotion prompts.
const std::vector<std::string>& emotion_templates();

// The points whose units have an embedding direction (canonical names): the ResNet's
// last stage and its last block, or the ViT's last residual block.
std::vector<std::string> attribution_points(CLIPImpl& model);
// (units, embed_dim): unit u's direction in the image embedding space at `point`
// (any name of a point attribution_points lists); throws Error naming the point and
// the points that have directions otherwise.
torch::Tensor unit_directions(CLIPImpl& model, const std::string& point);

struct AttributionOptions {
  std::string point;  // empty: the last layer (attribution_points' first)
  // Prompts averaged as zero-shot averages them ("{}" is the text); empty: the text alone.
  std::vector<std::string> templates = emotion_templates();
  bool truncate = false;  // cut prompts longer than the context instead of refusing them
  // Subtract the mean of the texts' vectors: CLIP's text embeddings share a large common
  // component, which makes the same few units top every text; centered, a text's
  // vector says what sets it apart from the others given (give several).
  bool center = false;
};

struct Attribution {
  std::string point;               // canonical
  std::vector<std::string> texts;  // in the order given
  torch::Tensor scores;            // (texts, units), fp32 on the CPU
  // The k units with the highest scores for text t, best first.
  std::vector<std::pair<int64_t, double>> top(size_t t, int64_t k) const;
};

// Each text's vector over the units of options.point: unit_directions · e(text),
// e(text) the normalized mean of its normalized prompt embeddings (minus the texts'
// mean with options.center). Throws Error for no texts, centering a single text, an
// unknown point or a prompt longer than the context.
Attribution attribute_texts(CLIP& model, const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                            const AttributionOptions& options = {});

// Text t's top `units` units, each as a row of its top `examples` dataset examples in
// `atlas` (by maximum), the first tile captioned with the unit and its score: what the
// units that raise the text's logit look for. The atlas must hold the attribution's
// point (Error naming the atlas and its layers otherwise).
struct AttributionSheetOptions {
  int units = 5;
  int examples = 6;
  atlas::SheetOptions sheet;  // crops or whole images; columns are set to `examples`
};
void write_attribution_sheet(const std::filesystem::path& png, const Attribution& attribution, size_t text,
                             const atlas::Atlas& atlas, const AttributionSheetOptions& options = {});

}  // namespace clipscope::abstractions
