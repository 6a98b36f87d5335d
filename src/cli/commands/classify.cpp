// clipscope classify --model M --image IMG... --labels L... [--templates FILE]
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>

#include "cli/context.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "zeroshot/zeroshot.h"

namespace clipscope::cli {

void add_classify_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model;
    std::optional<std::string> vocab;
    std::vector<std::string> images, labels;
    std::string templates;
    int top = 5;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("classify", "Zero-shot classification of images among text labels");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  cmd->add_option("-i,--image", o->images, "Image files (JPEG or PNG)")->required();
  cmd->add_option("-l,--labels", o->labels, "Candidate labels, e.g. \"a dog\" \"a cat\"")->required();
  cmd->add_option("--templates", o->templates, "Prompt templates, one per line with {} for the label (e.g. imagenet_templates.txt)");
  cmd->add_option("--top", o->top, "Labels shown per image in the table (0 = all)")->default_val(5);
  cmd->add_flag("--json", o->json, "JSON output with every probability");
  cmd->callback([&ctx, o] {
    CLIP model = ctx.load_model(o->model);
    Tokenizer tokenizer = ctx.load_tokenizer(o->vocab, o->model, model);
    std::vector<std::string> templates;
    if (!o->templates.empty()) templates = read_templates(o->templates);
    std::vector<std::filesystem::path> paths(o->images.begin(), o->images.end());
    auto images = load_image_batch(paths, static_cast<int>(model->config().image_resolution));
    auto weights = zero_shot_weights(model, tokenizer, o->labels, templates);
    auto probs = zero_shot_probabilities(model, images, weights).to(torch::kCPU);

    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < o->images.size(); ++i) {
      const auto row_tensor = probs[static_cast<int64_t>(i)].contiguous();
      const std::vector<float> row(row_tensor.data_ptr<float>(), row_tensor.data_ptr<float>() + row_tensor.numel());
      std::vector<size_t> order(row.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return row[a] > row[b]; });
      if (o->json) {
        nlohmann::json p = nlohmann::json::object();
        for (size_t j = 0; j < row.size(); ++j) p[o->labels[j]] = row[j];
        out.push_back({{"image", o->images[i]}, {"top", o->labels[order[0]]}, {"probabilities", p}});
        continue;
      }
      fmt::print("{}\n", o->images[i]);
      const size_t shown = o->top > 0 ? std::min<size_t>(static_cast<size_t>(o->top), order.size()) : order.size();
      for (size_t k = 0; k < shown; ++k) fmt::print("  {:7.4f}  {}\n", row[order[k]], o->labels[order[k]]);
    }
    if (o->json) fmt::print("{}\n", out.dump(1));
  });
}

}  // namespace clipscope::cli
