// clipscope embed ... --out F.npy | clipscope activations --layer NAME ... --out F.npy
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/context.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "core/util/progress.h"

namespace clipscope::cli {
namespace {

// Runs fn over batches of image files with progress; returns the rows concatenated
// in input order.
template <typename Fn>
torch::Tensor over_image_batches(const std::vector<std::string>& files, int n_px, int batch_size, bool progress,
                                 Fn&& fn) {
  if (batch_size <= 0) throw Error(fmt::format("--batch-size {}: must be positive", batch_size));
  Progress bar("images", static_cast<int64_t>(files.size()), "img", progress && files.size() > 1);
  std::vector<torch::Tensor> parts;
  for (size_t start = 0; start < files.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(files.size(), start + static_cast<size_t>(batch_size));
    std::vector<std::filesystem::path> paths(files.begin() + static_cast<std::ptrdiff_t>(start),
                                             files.begin() + static_cast<std::ptrdiff_t>(end));
    parts.push_back(fn(load_image_batch(paths, n_px)).to(torch::kCPU));
    bar.add(static_cast<int64_t>(end - start));
  }
  bar.finish();
  return torch::cat(parts);
}

void check_output_path(const std::string& out) {
  auto parent = std::filesystem::path(out).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent))
    throw Error(fmt::format("--out {}: folder {} does not exist", out, parent.string()));
}

}  // namespace

void add_embed_commands(CLI::App& app, Context& ctx) {
  struct EmbedOptions {
    std::string model, out;
    std::optional<std::string> vocab;
    std::vector<std::string> images, texts;
    bool normalize = false;
    int batch_size = 32;
  };
  auto e = std::make_shared<EmbedOptions>();
  auto* embed = app.add_subcommand("embed", "Image or text embeddings to .npy (one row per input, in order)");
  add_model_option(*embed, e->model);
  add_vocab_option(*embed, e->vocab);
  auto* img = embed->add_option("-i,--image", e->images, "Image files");
  auto* txt = embed->add_option("-t,--text", e->texts, "Texts");
  img->excludes(txt);
  embed->add_option("-o,--out", e->out, "Output .npy file")->required();
  embed->add_flag("--normalize", e->normalize, "L2-normalize each embedding (as for cosine similarity)");
  embed->add_option("--batch-size", e->batch_size, "Images per forward pass")->default_val(32);
  embed->callback([&ctx, e] {
    if (e->images.empty() && e->texts.empty()) throw Error("embed: give --image files or --text strings");
    check_output_path(e->out);
    CLIP model = ctx.load_model(e->model);
    torch::NoGradGuard no_grad;
    torch::Tensor features;
    if (!e->images.empty()) {
      features = over_image_batches(e->images, static_cast<int>(model->config().image_resolution), e->batch_size,
                                    !ctx.quiet, [&](const torch::Tensor& batch) { return model->encode_image(batch); });
    } else {
      Tokenizer tokenizer = ctx.load_tokenizer(e->vocab, e->model, model);
      features = model->encode_text(tokenize_batch(tokenizer, e->texts, static_cast<int>(model->config().context_length)));
    }
    if (e->normalize) features = features / features.norm(2, -1, true);
    write_npy_tensor(e->out, features);
    fmt::print(stderr, "wrote {} [{} x {}]\n", e->out, features.size(0), features.size(1));
  });

  struct ActivationOptions {
    std::string model, layer, out, reduce = "none";
    std::vector<std::string> images;
    int batch_size = 32;
  };
  auto a = std::make_shared<ActivationOptions>();
  auto* act = app.add_subcommand("activations", "Activations of one named point for images, to .npy (batch-first)");
  add_model_option(*act, a->model);
  act->add_option("-l,--layer", a->layer, "Point name (see `clipscope layers`), e.g. visual.layer4 or image_block_4/5/Add_6")
      ->required();
  act->add_option("-i,--image", a->images, "Image files")->required();
  act->add_option("--reduce", a->reduce, "none: full maps; mean or max over positions: (images, units)")
      ->default_val("none");
  act->add_option("-o,--out", a->out, "Output .npy file")->required();
  act->add_option("--batch-size", a->batch_size, "Images per forward pass")->default_val(32);
  act->callback([&ctx, a] {
    const Reduce reduce = parse_reduce(a->reduce);
    check_output_path(a->out);
    CLIP model = ctx.load_model(a->model);
    const std::string layer = model->resolve_point(a->layer);
    if (layer.rfind("visual", 0) != 0)
      throw Error(fmt::format("--layer {}: a text-tower point; activations reads image-tower points", a->layer));
    torch::NoGradGuard no_grad;
    auto result = over_image_batches(a->images, static_cast<int>(model->config().image_resolution), a->batch_size,
                                     !ctx.quiet, [&](const torch::Tensor& batch) {
                                       ActivationCache cache({layer});
                                       model->run_image(batch, cache);
                                       return reduce_positions(cache[layer], cache.layout(layer), reduce).contiguous();
                                     });
    write_npy_tensor(a->out, result);
    fmt::print(stderr, "wrote {} [{}] ({})\n", a->out, fmt::join(result.sizes(), " x "), layer);
  });
}

}  // namespace clipscope::cli
