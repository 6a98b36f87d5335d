#pragma once
// CLIP hyperparameters. from_state_dict infers them exactly as openai/CLIP's
// build_model does, so any OpenAI or open_clip checkpoint of these two families
// builds without a config file.
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace clipscope {

using StateDict = std::map<std::string, torch::Tensor>;

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

  bool is_vit() const { return vision_patch_size > 0; }
  int64_t vision_heads() const { return is_vit() ? vision_width / 64 : vision_width * 32 / 64; }
  // "ModifiedResNet layers (3,4,6,3) width 64 @224px | text 512x12 | embed 1024".
  std::string describe() const;

  // build_model's inference; throws Error naming the missing key when the dict is
  // not a CLIP state dict.
  static CLIPConfig from_state_dict(const StateDict& sd);
  // The hyperparameters of OpenAI's released models ("RN50", "ViT-B/32", ...), for
  // random-weight models (benchmarks, training); throws Error for unknown names.
  static CLIPConfig preset(std::string_view name);
  static std::vector<std::string> preset_names();
};

}  // namespace clipscope
