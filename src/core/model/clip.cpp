#include "core/model/clip.h"

#include "core/model/point_names.h"

#include <fmt/format.h>

#include <cmath>
#include <regex>

#include "core/util/error.h"

namespace clipscope {
using torch::Tensor;

CLIPImpl::CLIPImpl(const CLIPConfig& config) : config_(config) {
  if (config.is_vit()) {
    visual =
        register_module("visual", std::make_shared<VisionTransformer>(
                                      config.image_resolution, config.vision_patch_size, config.vision_width,
                                      config.vit_layers, config.vision_heads(), config.embed_dim, config.activation));
  } else {
    visual = register_module(
        "visual", std::make_shared<ModifiedResNet>(config.resnet_layers, config.embed_dim, config.vision_heads(),
                                                   config.image_resolution, config.vision_width));
  }
  transformer =
      register_module("transformer", Transformer("transformer", config.transformer_width, config.transformer_layers,
                                                 config.transformer_heads, config.activation));
  token_embedding =
      register_module("token_embedding", torch::nn::Embedding(config.vocab_size, config.transformer_width));
  positional_embedding =
      register_parameter("positional_embedding", torch::empty({config.context_length, config.transformer_width}));
  ln_final = register_module("ln_final", torch::nn::LayerNorm(torch::nn::LayerNormOptions({config.transformer_width})));
  text_projection = register_parameter("text_projection", torch::empty({config.transformer_width, config.embed_dim}));
  logit_scale = register_parameter("logit_scale", torch::full({}, std::log(1.0 / 0.07)));
  initialize_parameters();
}

void CLIPImpl::initialize_parameters() {
  torch::NoGradGuard no_grad;
  namespace init = torch::nn::init;
  init::normal_(token_embedding->weight, 0, 0.02);
  init::normal_(positional_embedding, 0, 0.01);
  if (auto* resnet = dynamic_cast<ModifiedResNet*>(visual.get())) {
    auto& pool = resnet->attnpool;
    const double std = 1.0 / std::sqrt(static_cast<double>(pool->c_proj->weight.size(1)));
    for (auto* lin : {&pool->q_proj, &pool->k_proj, &pool->v_proj, &pool->c_proj})
      init::normal_((*lin)->weight, 0, std);
    // Zero-init the last BN of every bottleneck so each block starts as identity.
    for (auto& stage : resnet->stages)
      for (const auto& block : *stage) init::zeros_(block->as<BottleneckImpl>()->bn3->weight);
  }
  const double width = static_cast<double>(config_.transformer_width);
  const double proj_std = std::pow(width, -0.5) * std::pow(2.0 * config_.transformer_layers, -0.5);
  const double attn_std = std::pow(width, -0.5);
  const double fc_std = std::pow(2.0 * width, -0.5);
  for (const auto& b : *transformer->resblocks) {
    auto* block = b->as<ResidualAttentionBlockImpl>();
    init::normal_(block->attn->in_proj_weight, 0, attn_std);
    init::normal_(block->attn->out_proj->weight, 0, proj_std);
    init::normal_(block->mlp->c_fc->weight, 0, fc_std);
    init::normal_(block->mlp->c_proj->weight, 0, proj_std);
  }
  init::normal_(text_projection, 0, attn_std);
}

Tensor CLIPImpl::causal_mask(int64_t n) const {
  return torch::full({n, n}, -std::numeric_limits<float>::infinity(), torch::TensorOptions().device(device())).triu(1);
}

void CLIPImpl::set_precision(Precision precision) {
  FastDtype dtype;
  if (precision == Precision::FP32) dtype = torch::kFloat;
  if (precision == Precision::BF16) dtype = torch::kBFloat16;
  visual->set_fast(dtype);
  transformer->set_fast(dtype);
  precision_ = precision;
}

Tensor CLIPImpl::encode_image(const Tensor& images, ActivationCache* cache) {
  return visual->forward(images.to(device(), torch::kFloat32), cache).to(torch::kFloat32);
}

Tensor CLIPImpl::encode_text(const Tensor& tokens_in, ActivationCache* cache) {
  Tensor tokens = tokens_in.to(device(), torch::kLong);
  // Pool at the end-of-text token, which has the largest id in each sequence.
  const Tensor eot = tokens.argmax(-1);
  // Attention is causal, so no position depends on a later one: the fast paths drop
  // the columns after the longest sequence's end token (77 -> ~10 for prompts). A
  // capture keeps them, so that points have the same shapes on every path.
  if (precision_ != Precision::Exact && !cache) tokens = tokens.slice(1, 0, eot.max().item<int64_t>() + 1);
  return encode_token_embeddings(token_embedding(tokens), eot, cache);
}

Tensor CLIPImpl::encode_token_embeddings(const Tensor& embeddings, const Tensor& eot_in, ActivationCache* cache) {
  const int64_t length = embeddings.size(1);
  const Tensor eot = eot_in.to(device(), torch::kLong);
  Tensor x = mark(cache, "token_embedding", "", embeddings, Layout::NLD);  // (N, L, D)
  x = (x + positional_embedding.slice(0, 0, length)).permute({1, 0, 2});   // -> (L, N, D)
  x = transformer->forward(x, causal_mask(length), cache);
  x = mark(cache, "ln_final", "", ln_final(x), Layout::LND);
  x = x.index({eot, torch::arange(embeddings.size(0), eot.options())});  // (N, D)
  return mark(cache, "text_projection", "", torch::matmul(x, text_projection), Layout::ND);
}

std::pair<Tensor, Tensor> CLIPImpl::forward(const Tensor& images, const Tensor& tokens, ActivationCache* image_cache) {
  Tensor img = encode_image(images, image_cache);
  Tensor txt = encode_text(tokens);
  img = img / img.norm(2, -1, true);
  txt = txt / txt.norm(2, -1, true);
  Tensor logits_per_image = logit_scale.exp() * torch::matmul(img, txt.t());
  return {logits_per_image, logits_per_image.t()};
}

void CLIPImpl::run_tower(bool image_tower, const Tensor& input, ActivationCache& cache) {
  if (!cache.captures_everything()) {
    for (const auto& name : cache.requested()) {
      point(name);  // throws for unknown names
      if ((name.rfind("visual", 0) == 0) != image_tower)
        throw Error(fmt::format("layer '{}' is in the {} tower, not the {} tower", name, image_tower ? "text" : "image",
                                image_tower ? "image" : "text"));
    }
  }
  cache.clear();
  try {
    if (image_tower)
      encode_image(input, &cache);
    else
      encode_text(input, &cache);
  } catch (const StopForward&) {
    // Every requested point is captured: the rest of the forward is not needed.
  }
}

void CLIPImpl::run_image(const Tensor& images, ActivationCache& cache) { run_tower(true, images, cache); }
void CLIPImpl::run_text(const Tensor& tokens, ActivationCache& cache) { run_tower(false, tokens, cache); }

const std::vector<PointInfo>& CLIPImpl::points() const {
  if (!points_.empty()) return points_;
  // Derive the list from a real forward pass so it can never drift from the code.
  torch::NoGradGuard no_grad;
  auto* self = const_cast<CLIPImpl*>(this);
  const bool was_training = is_training();
  self->eval();
  auto record = [&](ActivationCache& cache) {
    for (const auto& name : cache.order()) {
      const Tensor& t = cache[name];
      const Layout layout = cache.layout(name);
      auto sizes = to_batch_first(t, layout).sizes().vec();
      sizes.erase(sizes.begin());
      points_.push_back({name, sizes, layout, t.size(channel_dim(layout))});
    }
  };
  auto image_cache = ActivationCache::everything();
  self->encode_image(torch::zeros({1, 3, config_.image_resolution, config_.image_resolution}), &image_cache);
  record(image_cache);
  auto text_cache = ActivationCache::everything();
  auto tokens = torch::zeros({1, config_.context_length}, torch::kLong);
  tokens.index_put_({0, 1}, 1);
  self->encode_text(tokens, &text_cache);
  record(text_cache);
  if (was_training) self->train();
  return points_;
}

const PointInfo& CLIPImpl::point(const std::string& canonical_name) const {
  for (const auto& p : points())
    if (p.name == canonical_name) return p;
  throw Error(fmt::format("unknown layer '{}' (run `clipscope layers` to list this model's points)", canonical_name));
}

std::string CLIPImpl::resolve_point(const std::string& name) const {
  std::string canonical = name;
  std::smatch m;
  // Microscope's names for the ResNet units: image_block_<stage>/<block>/Add_6 is the
  // block's output after the residual add and the final ReLU.
  static const std::regex microscope(R"(image_block_(\d+)/(\d+)/Add_6)");
  static const std::regex relu_input(R"((visual\.layer\d+\.\d+)\.relu3:input)");
  // The circuits follow-up's names: <stage>/<block>/5 is the branch's last batch norm,
  // <stage>/<block>/6 (or Add_6) the block's output after the add and the final ReLU.
  static const std::regex followup(R"((\d+)/(\d+)/(5|6|Add_6))");
  if (std::regex_match(name, m, microscope))
    canonical = fmt::format("visual.layer{}.{}", m[1].str(), m[2].str());
  else if (std::regex_match(name, m, followup))
    canonical = fmt::format("visual.layer{}.{}{}", m[1].str(), m[2].str(), m[3].str() == "5" ? ".bn3" : "");
  else if (std::regex_match(name, m, relu_input))
    canonical = m[1].str() + ".add";
  point(canonical);  // throws for unknown names
  return canonical;
}

std::optional<std::pair<std::string, std::string>> split_followup_unit(const std::string& text) {
  static const std::regex unit(R"((\d+/\d+/(?:5|6|Add_6))/([0-9,\-]+|all))");
  std::smatch m;
  if (!std::regex_match(text, m, unit)) return std::nullopt;
  return std::make_pair(m[1].str(), m[2].str());
}

std::vector<std::string> point_aliases(const std::string& canonical) {
  static const std::regex block(R"(visual\.layer(\d+)\.(\d+))"), bn3(R"(visual\.layer(\d+)\.(\d+)\.bn3)"),
      add(R"((visual\.layer\d+\.\d+)\.add)");
  std::smatch m;
  if (std::regex_match(canonical, m, block))
    return {fmt::format("{}/{}/6", m[1].str(), m[2].str()),
            fmt::format("image_block_{}/{}/Add_6", m[1].str(), m[2].str())};
  if (std::regex_match(canonical, m, bn3)) return {fmt::format("{}/{}/5", m[1].str(), m[2].str())};
  if (std::regex_match(canonical, m, add)) return {m[1].str() + ".relu3:input"};
  return {};
}

}  // namespace clipscope
