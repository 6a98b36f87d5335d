#include "zeroshot/zeroshot.h"

#include <fmt/format.h>

#include <fstream>

#include "core/hub/download.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "core/util/files.h"

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
                                const std::vector<std::string>& templates, bool truncate) {
  if (labels.empty()) throw Error("zero-shot classification needs at least one label");
  torch::NoGradGuard no_grad;
  const auto context = static_cast<int>(model->config().context_length);
  std::vector<torch::Tensor> rows;
  for (const auto& label : labels) {
    std::vector<std::string> prompts;
    if (templates.empty()) prompts.push_back(label);
    for (const auto& t : templates) prompts.push_back(apply_template(t, label));
    auto emb = model->encode_text(tokenize_batch(tokenizer, prompts, context, truncate));
    emb = emb / emb.norm(2, -1, true);
    auto mean = emb.mean(0);
    rows.push_back(mean / mean.norm());
  }
  return torch::stack(rows);
}

std::string file_identity(const std::filesystem::path& path) {
  std::error_code ec;
  const auto canonical = std::filesystem::canonical(path, ec);
  const auto size = std::filesystem::file_size(path, ec);
  const auto mtime = std::filesystem::last_write_time(path, ec).time_since_epoch().count();
  return fmt::format("{}|{}|{}", (ec ? path : canonical).string(), size, mtime);
}

torch::Tensor zero_shot_weights_cached(CLIP& model, const Tokenizer& tokenizer, const std::vector<std::string>& labels,
                                       const std::vector<std::string>& templates, const std::string& identity,
                                       const std::filesystem::path& cache_dir, bool truncate) {
  // Separators keep ("ab", "c") and ("a", "bc") apart.
  std::string key = fmt::format("zero-shot v1\x1f{}\x1f{}\x1f{}\x1f{}", identity, precision_name(model->precision()),
                                model->config().context_length, labels.size());
  for (const auto& label : labels) key += "\x1e" + label;
  for (const auto& t : templates) key += "\x1d" + t;
  const auto file = cache_dir / "zeroshot" / (sha256_text(key) + ".npy");
  std::error_code ec;
  if (std::filesystem::exists(file, ec)) {
    try {
      torch::Tensor cached = read_npy_tensor(file);
      if (cached.dim() == 2 && cached.size(0) == static_cast<int64_t>(labels.size()) &&
          cached.size(1) == model->config().embed_dim)
        return cached.to(model->device());
    } catch (const Error&) {
      // A damaged entry (e.g. a full disk during an earlier write): recompute below.
    }
  }
  torch::Tensor weights = zero_shot_weights(model, tokenizer, labels, templates, truncate);
  std::filesystem::create_directories(file.parent_path(), ec);
  try {
    write_atomically(file, [&](const std::filesystem::path& part) { write_npy_tensor(part, weights); });
  } catch (const Error&) {
    // The cache is an optimization: a read-only or full cache directory is not an error.
  }
  return weights;
}

torch::Tensor zero_shot_probabilities(CLIP& model, const torch::Tensor& images, const torch::Tensor& class_weights) {
  torch::NoGradGuard no_grad;
  auto features = model->encode_image(images);
  features = features / features.norm(2, -1, true);
  return torch::softmax(model->logit_scale.exp() * torch::matmul(features, class_weights.t()), -1);
}

}  // namespace clipscope
