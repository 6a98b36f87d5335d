#include "demo/train.h"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <numbers>
#include <thread>

#include "core/hub/zoo.h"
#include "core/model/checkpoint.h"
#include "core/model/loss.h"
#include "core/model/precision.h"
#include "core/text/bpe_learn.h"
#include "core/text/tokenizer.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/progress.h"
#include "demo/batches.h"
#include "world/catalog.h"
#include "world/generator.h"

namespace clipscope::demo {

namespace fs = std::filesystem;

// The point whose spatial means TrainOptions::unit_sparsity makes sparse: the layer
// whose units demo-report counts as multimodal.
constexpr const char* kSparsePoint = "visual.layer4";

CLIPConfig demo_config(int64_t vocab_size, int64_t resolution, int64_t width) {
  CLIPConfig c;
  c.embed_dim = 128;
  c.image_resolution = resolution;
  c.resnet_layers = {1, 1, 1, 1};
  c.vision_width = width;
  c.vision_patch_size = 0;
  c.context_length = 32;
  c.vocab_size = vocab_size;
  c.transformer_width = 128;
  c.transformer_heads = 2;
  c.transformer_layers = 3;
  return c;
}

bool use_bf16(const std::string& precision) {
  if (precision == "fp32") return false;
  if (precision == "bf16") return true;
  if (precision != "auto") throw ArgumentError("precision", precision, "expected fp32, bf16 or auto");
  return cpu_has_native_bf16();
}

torch::Tensor unit_density(const torch::Tensor& activations) {
  const double units = static_cast<double>(activations.size(1));
  const auto l1 = activations.abs().sum(1), l2 = activations.norm(2, 1);
  return (l1 / (l2 * std::sqrt(units) + 1e-8)).mean();
}

namespace {

// The options that change the result of a run; a checkpoint only resumes a run with the same.
std::string fingerprint(const TrainOptions& o) {
  const auto& w = o.world;
  return fmt::format(
             "seed={} steps={} batch={} lr={} wd={} warmup={} res={} width={} merges={} bpe_captions={} bf16={}{} "
             "world=[edition={} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} zipf={} feeling={}{}{}{}] "
             "catalog=[{}]",
             o.seed, o.steps, o.batch, o.lr, o.weight_decay, o.warmup, o.resolution, o.width, o.bpe_merges,
             o.bpe_captions, use_bf16(o.precision),
             o.init_from.empty() ? "" : " init_from=" + fs::absolute(o.init_from).lexically_normal().string(),
             w.edition, w.size, w.weight_objects, w.weight_face, w.weight_word, w.weight_object_with_word,
             w.p_concept_word, w.p_mention_text, w.p_mention_ink, w.p_label_only, w.p_bare, w.p_textured_background,
             w.p_black_ink, w.weight_picture, w.weight_silhouette, w.weight_picture_with_word, w.p_emotion_word,
             w.p_continent, w.zipf_names, w.p_feeling,
             // Only when set, so that runs made before the option keep their fingerprint.
             w.p_core_emotion > 0 ? fmt::format(" core_emotion={}", w.p_core_emotion) : "",
             w.family_weights.empty() ? "" : fmt::format(" family_weights={}", w.family_weights),
             w.p_own_word > 0 ? fmt::format(" own_word={}", w.p_own_word) : "", world::catalog().describe()) +
         (o.unit_sparsity > 0 ? fmt::format(" unit_sparsity={}", o.unit_sparsity) : "");
}

bool decays(const std::string& name, const torch::Tensor& p) {
  // CLIP: decoupled weight decay on every weight that is not a gain or a bias;
  // embeddings and the temperature are not decayed either.
  return p.dim() >= 2 && name.find("embedding") == std::string::npos;
}

}  // namespace

Trainer::Trainer(const TrainOptions& options, int64_t vocab_size)
    : options_(options), bf16_(use_bf16(options.precision)) {
  torch::manual_seed(options.seed);
  model_ = CLIP(demo_config(vocab_size, options.resolution, options.width));
  model_->initialize_parameters();
  model_->train();
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& item : model_->named_parameters())
    (decays(item.key(), item.value()) ? decay : no_decay).push_back(item.value());
  auto group_options = [&](double wd) {
    auto o = std::make_unique<torch::optim::AdamWOptions>(options.lr);
    o->betas({0.9, 0.98}).eps(1e-6).weight_decay(wd);
    return o;
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, group_options(options.weight_decay));
  groups.emplace_back(no_decay, group_options(0.0));
  optimizer_ = std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(options.lr));
}

double Trainer::learning_rate(int64_t step) const {
  if (step < options_.warmup) return options_.lr * static_cast<double>(step + 1) / static_cast<double>(options_.warmup);
  const double span = std::max<int64_t>(1, options_.steps - options_.warmup);
  const double progress = std::min(1.0, static_cast<double>(step - options_.warmup) / span);
  return options_.lr * 0.5 * (1 + std::cos(std::numbers::pi * progress));
}

double Trainer::step(const torch::Tensor& images, const torch::Tensor& tokens) {
  const double lr = learning_rate(steps_done_);
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  optimizer_->zero_grad();
  // bf16 autocast for the forward pass: matmuls and convolutions in bf16,
  // reductions and the loss in fp32. The guard switches it off even on exceptions.
  struct Autocast {
    explicit Autocast(bool on) {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(on);
    }
    ~Autocast() {
      at::autocast::set_cpu_enabled(false);
      at::autocast::clear_cache();
    }
  };
  torch::Tensor logits_per_image, logits_per_text;
  const bool sparse = options_.unit_sparsity > 0;
  ActivationCache layer4({std::string(kSparsePoint)}, false);
  {
    Autocast autocast(bf16_);
    std::tie(logits_per_image, logits_per_text) = model_->forward(images, tokens, sparse ? &layer4 : nullptr);
  }
  const torch::Tensor loss = contrastive_loss(logits_per_image.to(torch::kFloat), logits_per_text.to(torch::kFloat));
  if (sparse) {
    const torch::Tensor density =
        unit_density(reduce_positions(layer4[kSparsePoint], layer4.layout(kSparsePoint), Reduce::Mean));
    last_density_ = density.item<double>();
    (loss + options_.unit_sparsity * density).backward();
  } else {
    loss.backward();
  }
  optimizer_->step();
  {
    // CLIP clips the temperature so that logits are scaled by at most 100.
    torch::NoGradGuard no_grad;
    model_->logit_scale.clamp_(0, std::log(100.0));
  }
  ++steps_done_;
  return loss.item<double>();
}

void Trainer::save_checkpoint(const fs::path& path) const {
  torch::serialize::OutputArchive archive;
  for (const auto& item : model_->named_parameters()) archive.write("model." + item.key(), item.value());
  for (const auto& item : model_->named_buffers()) archive.write("model." + item.key(), item.value(), true);
  torch::serialize::OutputArchive optimizer_archive;
  optimizer_->save(optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("steps_done", c10::IValue(steps_done_));
  archive.write("fingerprint", c10::IValue(fingerprint(options_)));
  write_atomically(path, [&](const fs::path& part) {
    try {
      archive.save_to(part.string());
    } catch (const c10::Error& e) {
      throw Error(fmt::format("{}: cannot write the checkpoint ({})", path.string(), e.what_without_backtrace()));
    }
  });
}

void Trainer::load_checkpoint(const fs::path& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
  } catch (const c10::Error& e) {
    throw Error(fmt::format("{}: not a clipscope training checkpoint ({})", path.string(),
                            std::string(e.what_without_backtrace()).substr(0, 120)));
  }
  c10::IValue value;
  archive.read("fingerprint", value);
  if (value.toStringRef() != fingerprint(options_)) {
    throw ArgumentError("out", path.parent_path().string(),
                        fmt::format("its {} is from a run with other options ({}): use another folder or the same "
                                    "options",
                                    path.filename().string(), value.toStringRef()));
  }
  torch::NoGradGuard no_grad;
  for (auto& item : model_->named_parameters()) {
    torch::Tensor saved;
    archive.read("model." + item.key(), saved);
    item.value().copy_(saved);
  }
  for (auto& item : model_->named_buffers()) {
    torch::Tensor saved;
    archive.read("model." + item.key(), saved, true);
    item.value().copy_(saved);
  }
  torch::serialize::InputArchive optimizer_archive;
  archive.read("optimizer", optimizer_archive);
  optimizer_->load(optimizer_archive);
  archive.read("steps_done", value);
  steps_done_ = value.toInt();
}

namespace {

// The shipped form: a plain fp16 state dict that the normal loader reads.
void save_fp16_model(CLIP& model, const fs::path& path) {
  StateDict sd;
  for (const auto& item : model->named_parameters()) sd[item.key()] = item.value().detach().to(torch::kHalf);
  for (const auto& item : model->named_buffers()) sd[item.key()] = item.value().detach().clone();
  save_state_dict(path, sd);
}

// The run's vocabulary in `merges`: the initial model's (its token embeddings mean
// nothing under other merges), or learned from the world's captions, as CLIP's was
// from its data. Kept when the run folder has it already.
void ensure_merges(const TrainOptions& o, const world::World& world, const fs::path& merges) {
  std::error_code ec;
  if (!o.init_from.empty() && !fs::exists(merges)) {
    const fs::path initial = merges_beside(o.init_from);
    fs::copy_file(initial, merges, ec);
    if (ec)
      throw Error(fmt::format("{}: cannot copy the merges of the initial model ({})", initial.string(), ec.message()));
  }
  if (!fs::exists(merges)) {
    std::vector<std::string> captions = world_captions(world, static_cast<uint64_t>(o.bpe_captions));
    write_merges_file(
        merges, learn_bpe(captions, o.bpe_merges),
        fmt::format("learned by clipscope train-demo from {} captions of world seed {}", o.bpe_captions, o.seed));
  }
}

// Resumes from the run's checkpoint, else starts from init_from's weights (if any).
void restore(Trainer& trainer, const TrainOptions& o, const fs::path& checkpoint) {
  if (fs::exists(checkpoint)) {
    trainer.load_checkpoint(checkpoint);
  } else if (!o.init_from.empty()) {
    const Checkpoint initial = read_checkpoint(o.init_from);
    torch::NoGradGuard no_grad;
    load_state_dict(*trainer.model(), initial.state_dict, o.init_from.string());
  }
}

// In-batch retrieval top-1 (image to text) on a fixed held-out batch.
double held_out_top1(Trainer& trainer, const Batch& probe) {
  torch::NoGradGuard no_grad;
  trainer.model()->eval();
  auto [logits, unused] = trainer.model()->forward(probe.images, probe.tokens);
  trainer.model()->train();
  return logits.argmax(1).eq(torch::arange(logits.size(0))).to(torch::kFloat).mean().item<double>();
}

}  // namespace

TrainResult train_demo(const TrainOptions& o) {
  if (o.steps <= 0 || o.batch < 2 || o.lr <= 0 || o.warmup < 0 || o.checkpoint_every <= 0)
    throw Error("train-demo: steps, batch (>= 2), lr and checkpoint interval must be positive");
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the run directory ({})", o.out.string(), ec.message()));
  world::WorldOptions world_options = o.world;
  world_options.size = static_cast<int>(o.resolution);
  const world::World world(o.seed, world_options);

  TrainResult result;
  result.merges = o.out / "clipscope-demo.bpe.txt.gz";
  ensure_merges(o, world, result.merges);
  const Tokenizer tokenizer(result.merges, 0);
  Trainer trainer(o, tokenizer.vocab_size());
  const fs::path checkpoint = o.out / "checkpoint.pt";
  restore(trainer, o, checkpoint);
  const int64_t context = trainer.model()->config().context_length;

  // A fixed held-out batch from another seed: in-batch retrieval accuracy, logged.
  const world::World held_out(o.seed + kHeldOutSeedOffset, world_options);
  const Batch probe = make_batch(held_out, 0, 256, tokenizer, context);

  std::ofstream log(o.out / "train-log.csv", std::ios::app);
  const bool sparse = o.unit_sparsity > 0;  // then a column more: the last step's unit_density
  if (trainer.steps_done() == 0)
    log << "step,loss,lr,logit_scale,heldout_top1,images_per_s,elapsed_s" << (sparse ? ",unit_density\n" : "\n");
  BatchStream stream(world, o.batch, tokenizer, context, trainer.steps_done(), o.data_threads);
  Progress bar("train-demo", o.steps, "step", o.progress);
  bar.resume_at(trainer.steps_done());
  const auto start = std::chrono::steady_clock::now();
  const int64_t first = trainer.steps_done();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  double loss = 0;
  while (trainer.steps_done() < o.steps) {
    const Batch batch = stream.next();
    loss = trainer.step(batch.images, batch.tokens);
    bar.add();
    const int64_t done = trainer.steps_done();
    const bool stop = (o.stop_at > 0 && done >= o.stop_at) || (o.max_minutes > 0 && elapsed() > o.max_minutes * 60);
    if (done % o.checkpoint_every == 0 || done == o.steps || stop) {
      const double top1 = held_out_top1(trainer, probe);
      log << fmt::format("{},{:.5f},{:.3e},{:.4f},{:.4f},{:.1f},{:.1f}", done, loss, trainer.learning_rate(done - 1),
                         trainer.model()->logit_scale.item<double>(), top1,
                         static_cast<double>((done - first) * o.batch) / elapsed(), elapsed())
          << (sparse ? fmt::format(",{:.4f}\n", trainer.last_density()) : "\n") << std::flush;
      trainer.save_checkpoint(checkpoint);
    }
    if (o.snapshot_every > 0 && done % o.snapshot_every == 0) {
      fs::create_directories(o.out / "snapshots", ec);
      save_fp16_model(trainer.model(), o.out / "snapshots" / fmt::format("step-{:06d}.pt", done));
    }
    if (stop) break;
  }
  bar.finish();
  result.steps_done = trainer.steps_done();
  result.final_loss = loss;
  result.finished = trainer.steps_done() >= o.steps;
  if (result.finished) {
    result.model = o.out / "clipscope-demo.pt";
    save_fp16_model(trainer.model(), result.model);
  }
  return result;
}

}  // namespace clipscope::demo
