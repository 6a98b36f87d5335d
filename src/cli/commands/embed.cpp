// clipscope embed ... --out F.npy | clipscope activations --layer NAME ... --out F.npy
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/context.h"
#include "cli/image_inputs.h"
#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "core/util/progress.h"

namespace clipscope::cli {
namespace {

namespace fs = std::filesystem;

void check_output_path(const std::string& out) {
  auto parent = fs::path(out).parent_path();
  if (!parent.empty() && !fs::is_directory(parent))
    throw Error(fmt::format("--out {}: folder {} does not exist", out, parent.string()));
}

}  // namespace

void add_embed_commands(CLI::App& app, Context& ctx) {
  struct EmbedOptions {
    std::string model, out, precision;
    std::optional<std::string> vocab;
    std::vector<std::string> texts;
    ImageInputs images;
    bool normalize = false, truncate = false;
  };
  auto e = std::make_shared<EmbedOptions>();
  auto* embed = app.add_subcommand("embed", "Image or text embeddings to .npy (one row per readable input, in order)");
  add_model_option(*embed, e->model);
  add_vocab_option(*embed, e->vocab);
  add_precision_option(*embed, e->precision);
  add_image_input_options(*embed, e->images);
  auto* txt = embed->add_option("-t,--text", e->texts, "Texts");
  txt->excludes(embed->get_option("--image"));
  embed->add_option("-o,--out", e->out, "Output .npy file (image rows' paths go to NAME.paths.txt beside it)")
      ->required();
  embed->add_flag("--normalize", e->normalize, "L2-normalize each embedding (as for cosine similarity)");
  add_truncate_option(*embed, e->truncate);
  embed->callback([&ctx, e] {
    if (e->images.inputs.empty() && e->texts.empty()) throw Error("embed: give --image files or --text strings");
    check_output_path(e->out);
    CLIP model = ctx.load_model(e->model, e->precision);
    torch::NoGradGuard no_grad;
    auto normalized = [&](torch::Tensor f) { return e->normalize ? f / f.norm(2, -1, true) : f; };
    std::vector<int64_t> shape;
    if (!e->images.inputs.empty()) {
      shape = write_rows_over_images(e->images, e->out, model->config(), !ctx.quiet, [&](const torch::Tensor& batch) {
        return normalized(model->encode_image(batch));
      });
    } else {
      Tokenizer tokenizer = ctx.load_tokenizer(e->vocab, e->model, model);
      const auto tokens =
          tokenize_batch(tokenizer, e->texts, static_cast<int>(model->config().context_length), e->truncate);
      const torch::Tensor features = normalized(model->encode_text(tokens));
      write_npy_tensor(e->out, features);
      shape = features.sizes().vec();
    }
    if (!ctx.quiet) fmt::print(stderr, "wrote {} [{}]\n", e->out, fmt::join(shape, " x "));
  });

  struct ActivationOptions {
    std::string model, layer, out, reduce = "none", precision;
    ImageInputs images;
  };
  auto a = std::make_shared<ActivationOptions>();
  auto* act = app.add_subcommand("activations", "Activations of one named point for images, to .npy (batch-first)");
  add_model_option(*act, a->model);
  add_precision_option(*act, a->precision);
  act->add_option("-l,--layer", a->layer,
                  "Point name (see `clipscope layers`), e.g. visual.layer4 or image_block_4/5/Add_6")
      ->required();
  add_image_input_options(*act, a->images);
  act->get_option("--image")->required();
  act->add_option("--reduce", a->reduce, "none: full maps; mean or max over positions: (images, units)")
      ->default_val("none");
  act->add_option("-o,--out", a->out, "Output .npy file (rows' paths go to NAME.paths.txt beside it)")->required();
  act->callback([&ctx, a] {
    const Reduce reduce = parse_reduce(a->reduce);
    check_output_path(a->out);
    CLIP model = ctx.load_model(a->model, a->precision);
    const std::string layer = model->resolve_point(a->layer);
    if (layer.rfind("visual", 0) != 0)
      throw Error(fmt::format("--layer {}: a text-tower point; activations reads image-tower points", a->layer));
    torch::NoGradGuard no_grad;
    const auto shape =
        write_rows_over_images(a->images, a->out, model->config(), !ctx.quiet, [&](const torch::Tensor& batch) {
          ActivationCache cache({layer});
          model->run_image(batch, cache);
          return reduce_positions(cache[layer], cache.layout(layer), reduce);
        });
    if (!ctx.quiet) fmt::print(stderr, "wrote {} [{}] ({})\n", a->out, fmt::join(shape, " x "), layer);
  });
}

}  // namespace clipscope::cli
