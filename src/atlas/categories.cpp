#include "atlas/categories.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "core/image/stream.h"
#include "core/model/image_batches.h"
#include "core/util/error.h"
#include "core/util/progress.h"

namespace clipscope::atlas {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, std::vector<fs::path>>> category_folders(const fs::path& root) {
  if (!fs::is_directory(root)) throw ArgumentError("dir", root.string(), "no such directory");
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) folders.push_back(entry.path());
  std::sort(folders.begin(), folders.end());
  std::vector<std::pair<std::string, std::vector<fs::path>>> categories;
  for (const auto& folder : folders) {
    auto images = collect_image_paths({folder.string()});
    if (!images.empty()) categories.emplace_back(folder.filename().string(), std::move(images));
  }
  if (categories.empty())
    throw ArgumentError("dir", root.string(), "no subfolder with images (each subfolder is one category)");
  return categories;
}

std::vector<CategoryValues> category_values(
    CLIP& model, const LayerInfo& layer, int64_t unit,
    const std::vector<std::pair<std::string, std::vector<fs::path>>>& categories, int batch_size, bool progress) {
  if (unit < 0 || unit >= layer.units)
    throw ArgumentError("unit", fmt::format("{}:{}", layer.name, unit),
                        fmt::format("out of range ({} has units 0-{})", layer.name, layer.units - 1));
  std::vector<fs::path> paths;
  std::vector<size_t> category_of;
  for (size_t c = 0; c < categories.size(); ++c)
    for (const auto& p : categories[c].second) paths.push_back(p), category_of.push_back(c);

  std::vector<CategoryValues> result(categories.size());
  for (size_t c = 0; c < categories.size(); ++c) result[c].name = categories[c].first;
  ImageStreamOptions options;
  options.n_px = static_cast<int>(model->config().image_resolution);
  options.normalization = model->config().normalization;
  ImageBatcher batches(paths, batch_size, options);
  Progress bar("categories", static_cast<int64_t>(paths.size()), "img", progress);
  torch::NoGradGuard no_grad;
  while (auto batch = batches.next()) {
    ActivationCache cache({layer.read_at});
    model->run_image(batch->images.to(model->device()), cache);
    const torch::Tensor t = to_batch_first(cache[layer.read_at], cache.layout(layer.read_at)).to(torch::kCPU);
    torch::Tensor per_unit = t.dim() == 4 ? t.flatten(2) : (t.dim() == 3 ? t.transpose(1, 2) : t.unsqueeze(2));
    const torch::Tensor maxima = std::get<0>(per_unit.select(1, unit).max(1)).contiguous();
    for (size_t r = 0; r < batch->indices.size(); ++r)
      result[category_of[batch->indices[r]]].values.push_back(maxima[static_cast<int64_t>(r)].item<float>());
    bar.set(static_cast<int64_t>(batch->inputs_done));
  }
  bar.finish();
  for (const auto& s : batches.skipped()) ++result[category_of[s.index]].skipped;
  for (auto& c : result) {
    if (c.values.empty()) continue;
    std::vector<float> sorted = c.values;
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    c.median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    double sum = 0, squares = 0;
    for (float v : c.values) sum += v, squares += static_cast<double>(v) * v;
    c.mean = sum / static_cast<double>(n);
    c.std = std::sqrt(std::max(0.0, squares / static_cast<double>(n) - c.mean * c.mean));
  }
  return result;
}

}  // namespace clipscope::atlas
