#include "zeroshot/zeroshot.h"

#include <fmt/format.h>

#include <fstream>

#include "core/model/tensor_io.h"
#include "core/util/error.h"

namespace clipscope {

std::vector<std::string> read_templates(const std::filesystem::path& path) {
  std::ifstream f(path);
  if (!f) throw Error(fmt::format("{}: cannot open template file", path.string()));
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (line.find("{}") == std::string::npos)
      throw Error(fmt::format("{}: template '{}' has no {{}} placeholder for the label", path.string(), line));
    out.push_back(line);
  }
  if (out.empty()) throw Error(fmt::format("{}: no templates in file", path.string()));
  return out;
}

std::string apply_template(const std::string& templ, const std::string& label) {
  std::string out = templ;
  if (auto pos = out.find("{}"); pos != std::string::npos) out.replace(pos, 2, label);
  return out;
}

torch::Tensor zero_shot_weights(CLIP& model, const Tokenizer& tokenizer, const std::vector<std::string>& labels,
                                const std::vector<std::string>& templates) {
  if (labels.empty()) throw Error("zero-shot classification needs at least one label");
  torch::NoGradGuard no_grad;
  const auto context = static_cast<int>(model->config().context_length);
  std::vector<torch::Tensor> rows;
  for (const auto& label : labels) {
    std::vector<std::string> prompts;
    if (templates.empty()) prompts.push_back(label);
    for (const auto& t : templates) prompts.push_back(apply_template(t, label));
    auto emb = model->encode_text(tokenize_batch(tokenizer, prompts, context, /*truncate=*/true));
    emb = emb / emb.norm(2, -1, true);
    auto mean = emb.mean(0);
    rows.push_back(mean / mean.norm());
  }
  return torch::stack(rows);
}

torch::Tensor zero_shot_probabilities(CLIP& model, const torch::Tensor& images, const torch::Tensor& class_weights) {
  torch::NoGradGuard no_grad;
  auto features = model->encode_image(images);
  features = features / features.norm(2, -1, true);
  return torch::softmax(model->logit_scale.exp() * torch::matmul(features, class_weights.t()), -1);
}

}  // namespace clipscope
