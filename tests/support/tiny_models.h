#pragma once
// Tiny random CLIPs for tests that need a real model but not a trained one.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/model/clip.h"

namespace clipscope::testing {

// A 64-px ModifiedResNet of width 8 with a one-layer text tower.
inline CLIPConfig tiny_resnet_config(std::vector<int64_t> layers = {1, 1, 3, 1}) {
  CLIPConfig c;
  c.embed_dim = 32;
  c.image_resolution = 64;
  c.resnet_layers = std::move(layers);
  c.vision_width = 8;
  c.context_length = 16;
  c.vocab_size = 100;
  c.transformer_width = 64;
  c.transformer_heads = 1;
  c.transformer_layers = 1;
  return c;
}

// The same with a 64-px ViT of width 64 and 16-px patches.
inline CLIPConfig tiny_vit_config(int64_t layers = 2) {
  CLIPConfig c = tiny_resnet_config();
  c.resnet_layers.clear();
  c.vit_layers = layers;
  c.vision_width = 64;
  c.vision_patch_size = 16;
  return c;
}

// A tiny random CLIP in eval mode. OpenAI's initialization zeroes every
// bottleneck's bn3 weight (each residual branch starts as zero); random ones make
// the branches, and so the gradients through them, matter.
inline CLIP tiny_model(const CLIPConfig& config, uint64_t seed = 0) {
  torch::manual_seed(seed);
  CLIP model(config);
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    if (name.size() >= 10 && name.compare(name.size() - 10, 10, "bn3.weight") == 0) item.value().uniform_(0.5, 1.5);
  }
  model->eval();
  return model;
}

}  // namespace clipscope::testing
