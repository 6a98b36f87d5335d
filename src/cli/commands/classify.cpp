// clipscope classify --model M --image IMG... --labels L... [--templates FILE]
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>

#include "cli/context.h"
#include "cli/image_inputs.h"
#include "core/hub/zoo.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "zeroshot/zeroshot.h"

namespace clipscope::cli {

void add_classify_command(CLI::App& app, Context& ctx) {
  struct Options {
    std::string model, precision;
    std::optional<std::string> vocab;
    ImageInputs images;
    std::vector<std::string> labels;
    std::string templates;
    int top = 5;
    bool json = false, no_cache = false, truncate = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("classify", "Zero-shot classification of images among text labels");
  add_model_option(*cmd, o->model);
  add_vocab_option(*cmd, o->vocab);
  add_precision_option(*cmd, o->precision);
  add_image_input_options(*cmd, o->images);
  cmd->get_option("--image")->required();
  cmd->add_option("-l,--labels", o->labels, "Candidate labels, e.g. \"a dog\" \"a cat\"")->required();
  cmd->add_option("--templates", o->templates,
                  "Prompt templates, one per line with {} for the label (e.g. imagenet_templates.txt)");
  cmd->add_option("--top", o->top, "Labels shown per image in the table (0 = all)")->default_val(5);
  cmd->add_flag("--json", o->json, "JSON output with every probability");
  add_truncate_option(*cmd, o->truncate);
  cmd->add_flag("--no-cache", o->no_cache,
                "Recompute the label embeddings instead of reusing those cached for this model, vocabulary, precision, "
                "labels and templates");
  cmd->callback([&ctx, o] {
    // Resolved once: for an official name, resolving verifies the cached file's SHA-256.
    const LoadOptions load = ctx.load_options();
    const std::filesystem::path model_file = resolve_model_path(o->model, load);
    const std::filesystem::path vocab_file = resolve_vocab_path(o->vocab, load, o->model);
    CLIP model = ctx.load_model(model_file.string(), o->precision);
    const Tokenizer tokenizer(vocab_file, static_cast<int>(model->config().vocab_size));
    std::vector<std::string> templates;
    if (!o->templates.empty()) templates = read_templates(o->templates);
    auto weights =
        ctx.zero_shot_weights(model_file, vocab_file, model, tokenizer, o->labels, templates, o->truncate, o->no_cache);
    std::vector<torch::Tensor> parts;
    std::vector<std::filesystem::path> paths;
    run_over_images(
        o->images, model->config(), !ctx.quiet,
        [&](const torch::Tensor& batch) { return zero_shot_probabilities(model, batch, weights); },
        [&](const torch::Tensor& rows, const auto& batch_paths) {
          parts.push_back(rows);
          paths.insert(paths.end(), batch_paths.begin(), batch_paths.end());
        });
    const torch::Tensor probs = torch::cat(parts);

    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < paths.size(); ++i) {
      const std::string image = paths[i].string();
      const auto row_tensor = probs[static_cast<int64_t>(i)].contiguous();
      const std::vector<float> row(row_tensor.data_ptr<float>(), row_tensor.data_ptr<float>() + row_tensor.numel());
      std::vector<size_t> order(row.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return row[a] > row[b]; });
      if (o->json) {
        nlohmann::json p = nlohmann::json::object();
        for (size_t j = 0; j < row.size(); ++j) p[o->labels[j]] = row[j];
        out.push_back({{"image", image}, {"top", o->labels[order[0]]}, {"probabilities", p}});
        continue;
      }
      fmt::print("{}\n", image);
      const size_t shown = o->top > 0 ? std::min<size_t>(static_cast<size_t>(o->top), order.size()) : order.size();
      for (size_t k = 0; k < shown; ++k) fmt::print("  {:7.4f}  {}\n", row[order[k]], o->labels[order[k]]);
    }
    if (o->json) fmt::print("{}\n", out.dump(1));
  });
}

}  // namespace clipscope::cli
