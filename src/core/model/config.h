#pragma once
// CLIP hyperparameters. from_state_dict infers them exactly as openai/CLIP's
// build_model does, so any OpenAI checkpoint builds without a config file;
// from_open_clip adds what weights cannot say (heads, the activation, the
// preprocessing) from an open_clip model config.
#include <torch/types.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/image/preprocess.h"

namespace clipscope {

using StateDict = std::map<std::string, torch::Tensor>;

// The transformers' MLP activation. OpenAI's towers use QuickGELU (x * sigmoid(1.702 x));
// open_clip's (LAION-trained ones) use nn.GELU unless their config says quick_gelu.
// Nothing in the weights tells them apart.
enum class Activation { QuickGELU, GELU };
// "quickgelu" / "gelu".
std::string_view activation_name(Activation activation);
// Accepts "quickgelu", "quick_gelu", "gelu" (any case); throws Error naming the value.
Activation parse_activation(std::string_view name);

struct CLIPConfig {
  int64_t embed_dim = 0;
  int64_t image_resolution = 0;
  // Vision tower: a ModifiedResNet when vision_patch_size == 0, else a ViT.
  std::vector<int64_t> resnet_layers;  // blocks per stage, ResNet only
  int64_t vit_layers = 0;              // ViT only
  int64_t vision_width = 0;
  int64_t vision_patch_size = 0;
  // Text tower.
  int64_t context_length = 77;
  int64_t vocab_size = 49408;
  int64_t transformer_width = 0;
  int64_t transformer_heads = 0;
  int64_t transformer_layers = 0;
  int64_t vision_head_width = 64;  // OpenAI's and open_clip's default
  Activation activation = Activation::QuickGELU;
  Normalization normalization;  // the image preprocessing's mean and std (OpenAI's by default)

  bool is_vit() const { return vision_patch_size > 0; }
  int64_t vision_heads() const {
    return std::max<int64_t>(1, (is_vit() ? vision_width : vision_width * 32) / vision_head_width);
  }
  // "ModifiedResNet layers (3,4,6,3) width 64 @224px | text 512x12 | embed 1024 | quickgelu".
  std::string describe() const;

  // build_model's inference; throws Error naming the missing key when the dict is
  // not a CLIP state dict.
  static CLIPConfig from_state_dict(const StateDict& sd);
  // An open_clip model config (the "model_cfg" of a hub folder's open_clip_config.json,
  // or a bare one from open_clip's model_configs, with its "preprocess_cfg" when
  // present) applied to what the weights say: heads, head width, quick_gelu (absent
  // = nn.GELU, as open_clip builds it) and mean/std come from the config; every size
  // it states must agree with the weights. Options clipscope does not implement
  // (timm or Hugging Face towers, layer scale, attentional pooling, ...) are refused,
  // named. Throws Error naming `source` and the field.
  static CLIPConfig from_open_clip(const nlohmann::json& config, const StateDict& sd, const std::string& source);
  // The hyperparameters of OpenAI's released models ("RN50", "ViT-B/32", ...), for
  // random-weight models (benchmarks, training); throws Error for unknown names.
  static CLIPConfig preset(std::string_view name);
  static std::vector<std::string> preset_names();
};

}  // namespace clipscope
