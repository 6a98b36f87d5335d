// Training the demo CLIP: the loss, the schedule, that steps learn, and that a
// resumed run continues bit for bit.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/model/checkpoint.h"
#include "core/model/loss.h"
#include "core/text/bpe_learn.h"
#include "core/text/tokenizer.h"
#include "demo/batches.h"
#include "demo/train.h"
#include "support/shared_data.h"

namespace clipscope::demo {
namespace {

using clipscope::testing::error_message;
using clipscope::testing::temp_dir;

// A tiny configuration that trains in seconds.
TrainOptions tiny(const std::filesystem::path& out) {
  TrainOptions o;
  o.out = out;
  o.seed = 3;
  o.steps = 4;
  o.batch = 8;
  o.lr = 1e-3;
  o.warmup = 1;
  o.resolution = 32;
  o.width = 8;
  o.bpe_merges = 300;
  o.bpe_captions = 2000;
  o.checkpoint_every = 2;
  o.precision = "fp32";
  o.progress = false;
  return o;
}

TEST(ContrastiveLoss, PerfectAndUniformLogits) {
  const auto uniform = torch::zeros({8, 8});
  EXPECT_NEAR(contrastive_loss(uniform, uniform).item<double>(), std::log(8.0), 1e-5);
  const auto perfect = torch::eye(8) * 50;
  EXPECT_LT(contrastive_loss(perfect, perfect).item<double>(), 1e-6);
}

TEST(Trainer, ScheduleWarmsUpThenDecaysToZero) {
  TrainOptions o = tiny(temp_dir());
  o.steps = 100;
  o.warmup = 10;
  Trainer trainer(o, 600);
  EXPECT_LT(trainer.learning_rate(0), trainer.learning_rate(5));
  EXPECT_NEAR(trainer.learning_rate(9), o.lr, 1e-12);
  EXPECT_GT(trainer.learning_rate(30), trainer.learning_rate(60));
  EXPECT_NEAR(trainer.learning_rate(99), 0.0, o.lr * 1e-3);
}

TEST(Trainer, StepsLowerTheLossOnAFixedBatch) {
  const auto dir = temp_dir();
  TrainOptions o = tiny(dir);
  o.steps = 30;
  world::WorldOptions world_options;
  world_options.size = static_cast<int>(o.resolution);
  const world::World world(o.seed, world_options);
  const auto merges = dir / "merges.txt";
  write_merges_file(merges, learn_bpe(world_captions(world, 2000), 300), "test");
  const Tokenizer tokenizer(merges, 0);
  Trainer trainer(o, tokenizer.vocab_size());
  const Batch batch = make_batch(world, 0, 16, tokenizer, trainer.model()->config().context_length);
  const double first = trainer.step(batch.images, batch.tokens);
  double last = first;
  for (int i = 1; i < 30; ++i) last = trainer.step(batch.images, batch.tokens);
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}

TEST(Trainer, BatchStreamMatchesSequentialBatches) {
  const auto dir = temp_dir();
  const world::World world(2, [] {
    world::WorldOptions w;
    w.size = 32;
    return w;
  }());
  const auto merges = dir / "merges.txt";
  write_merges_file(merges, learn_bpe(world_captions(world, 500), 200), "test");
  const Tokenizer tokenizer(merges, 0);
  BatchStream stream(world, 6, tokenizer, 16, 3, 2);
  for (int64_t k = 3; k < 8; ++k) {
    const Batch streamed = stream.next();
    const Batch direct = make_batch(world, static_cast<uint64_t>(k * 6), 6, tokenizer, 16);
    EXPECT_TRUE(torch::equal(streamed.images, direct.images)) << "batch " << k;
    EXPECT_TRUE(torch::equal(streamed.tokens, direct.tokens)) << "batch " << k;
  }
}

StateDict final_weights(const std::filesystem::path& run) {
  return read_checkpoint(run / "clipscope-demo.pt").state_dict;
}

TEST(UnitDensity, OneUnitIsOneOverRootUAndAllUnitsAreOne) {
  auto a = torch::zeros({3, 16});
  a[0][5] = 2.0;                  // one unit
  a[1].fill_(0.5);                // all units alike
  a[2].slice(0, 0, 4).fill_(3.);  // a quarter of the units
  EXPECT_NEAR(unit_density(a.slice(0, 0, 1)).item<double>(), 0.25, 1e-6);
  EXPECT_NEAR(unit_density(a.slice(0, 1, 2)).item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(unit_density(a.slice(0, 2, 3)).item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(unit_density(a).item<double>(), (0.25 + 1.0 + 0.5) / 3, 1e-6);
  EXPECT_NEAR(unit_density(a * 7).item<double>(), unit_density(a).item<double>(), 1e-6);  // scale-free
}

// The same steps on the same batch, with and without the sparsity term: with it, the
// batch's visual.layer4 spatial means spread over fewer units.
TEST(Trainer, UnitSparsityConcentratesLayer4OnFewerUnits) {
  const auto dir = temp_dir();
  world::WorldOptions world_options;
  world_options.size = 32;
  const world::World world(3, world_options);
  const auto merges = dir / "merges.txt";
  write_merges_file(merges, learn_bpe(world_captions(world, 2000), 300), "test");
  const Tokenizer tokenizer(merges, 0);
  auto density_after = [&](double sparsity) {
    TrainOptions o = tiny(dir);
    o.steps = 40;
    o.unit_sparsity = sparsity;
    Trainer trainer(o, tokenizer.vocab_size());
    const Batch batch = make_batch(world, 0, 16, tokenizer, trainer.model()->config().context_length);
    for (int i = 0; i < 40; ++i) trainer.step(batch.images, batch.tokens);
    if (sparsity > 0) {
      EXPECT_GT(trainer.last_density(), 0.0);
    }
    torch::NoGradGuard no_grad;
    ActivationCache cache({"visual.layer4"});
    trainer.model()->run_image(batch.images, cache);
    return unit_density(reduce_positions(cache["visual.layer4"], cache.layout("visual.layer4"), Reduce::Mean))
        .item<double>();
  };
  const double plain = density_after(0), sparse = density_after(4.0);
  EXPECT_LT(sparse, 0.8 * plain) << "plain " << plain << " sparse " << sparse;
}

TEST(TrainDemo, ResumeContinuesBitForBit) {
  const auto straight = temp_dir(), interrupted = temp_dir();
  const TrainResult full = train_demo(tiny(straight));
  ASSERT_TRUE(full.finished);

  TrainOptions first_half = tiny(interrupted);
  first_half.stop_at = 2;
  const TrainResult stopped = train_demo(first_half);
  EXPECT_FALSE(stopped.finished);
  EXPECT_EQ(stopped.steps_done, 2);
  EXPECT_FALSE(std::filesystem::exists(interrupted / "clipscope-demo.pt"));
  const TrainResult resumed = train_demo(tiny(interrupted));
  ASSERT_TRUE(resumed.finished);
  EXPECT_EQ(resumed.final_loss, full.final_loss);

  const StateDict a = final_weights(straight), b = final_weights(interrupted);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(torch::equal(tensor, b.at(name))) << name;
  }
  // The merges file is learned once and is the same in both runs.
  EXPECT_EQ(clipscope::testing::read_file(straight / "clipscope-demo.bpe.txt.gz").size(),
            clipscope::testing::read_file(interrupted / "clipscope-demo.bpe.txt.gz").size());
}

TEST(TrainDemo, ResumingWithOtherOptionsIsRefused) {
  const auto dir = temp_dir();
  TrainOptions o = tiny(dir);
  o.stop_at = 2;
  train_demo(o);
  o.stop_at = 0;
  o.lr = 5e-4;
  const std::string message = error_message([&] { train_demo(o); });
  EXPECT_NE(message.find("checkpoint.pt"), std::string::npos) << message;
  EXPECT_NE(message.find("other options"), std::string::npos) << message;
  o.lr = 1e-3;
  o.unit_sparsity = 0.5;
  EXPECT_NE(error_message([&] { train_demo(o); }).find("other options"), std::string::npos);
}

TEST(TrainDemo, TheResultLoadsAsANormalCheckpoint) {
  const auto dir = temp_dir();
  const TrainResult r = train_demo(tiny(dir));
  const StateDict sd = read_checkpoint(r.model).state_dict;
  const CLIPConfig config = CLIPConfig::from_state_dict(sd);
  EXPECT_EQ(config.image_resolution, 32);
  EXPECT_EQ(config.vision_width, 8);
  EXPECT_EQ(config.context_length, 32);
  EXPECT_EQ(config.vocab_size, Tokenizer(r.merges, 0).vocab_size());
  EXPECT_EQ(sd.at("visual.conv1.weight").scalar_type(), torch::kHalf);
}

TEST(TrainDemo, SnapshotsAndAWarmRestartFromAnEarlierModel) {
  const auto first_dir = temp_dir(), second_dir = temp_dir();
  TrainOptions first = tiny(first_dir);
  first.snapshot_every = 2;
  const TrainResult r = train_demo(first);
  ASSERT_TRUE(r.finished);
  // Snapshots are the model as shipped at steps 2 and 4; the last equals the result.
  const StateDict at2 = read_checkpoint(first_dir / "snapshots" / "step-000002.pt").state_dict;
  const StateDict at4 = read_checkpoint(first_dir / "snapshots" / "step-000004.pt").state_dict;
  const StateDict final_sd = read_checkpoint(r.model).state_dict;
  EXPECT_TRUE(torch::equal(at4.at("visual.conv1.weight"), final_sd.at("visual.conv1.weight")));
  EXPECT_FALSE(torch::equal(at2.at("visual.conv1.weight"), final_sd.at("visual.conv1.weight")));

  // A second run from the first run's model: its merges, its weights as step 0.
  TrainOptions second = tiny(second_dir);
  second.init_from = r.model;
  second.steps = 1;
  second.lr = 1e-12;       // barely moves: the result is the initial model
  second.bpe_merges = 50;  // ignored: the initial model's merges are used
  const TrainResult continued = train_demo(second);
  ASSERT_TRUE(continued.finished);
  EXPECT_EQ(clipscope::testing::read_file(continued.merges), clipscope::testing::read_file(r.merges));
  const StateDict after = read_checkpoint(continued.model).state_dict;
  for (const char* name : {"visual.conv1.weight", "token_embedding.weight", "visual.attnpool.c_proj.weight"})
    EXPECT_TRUE(torch::allclose(after.at(name).to(torch::kFloat), final_sd.at(name).to(torch::kFloat), 0, 1e-3))
        << name;

  // A missing initial model is named.
  TrainOptions missing = tiny(temp_dir());
  missing.init_from = first_dir / "nothing.pt";
  EXPECT_NE(error_message([&] { train_demo(missing); }).find("nothing"), std::string::npos);
}

}  // namespace
}  // namespace clipscope::demo
