// Named points: listing, aliases, early stop, gradients through captured points, edits.
#include "core/model/points.h"

#include <gtest/gtest.h>

#include "core/model/clip.h"
#include "core/model/loader.h"
#include "core/util/error.h"
#include "support/shared_data.h"

using namespace clipscope;

namespace {

CLIPConfig tiny_resnet() {
  CLIPConfig c;
  c.embed_dim = 32;
  c.image_resolution = 64;
  c.resnet_layers = {1, 2, 1, 2};
  c.vision_width = 8;
  c.context_length = 16;
  c.vocab_size = 100;
  c.transformer_width = 64;
  c.transformer_heads = 1;
  c.transformer_layers = 2;
  return c;
}

CLIPConfig tiny_vit() {
  CLIPConfig c = tiny_resnet();
  c.resnet_layers.clear();
  c.vit_layers = 2;
  c.vision_width = 64;
  c.vision_patch_size = 16;
  return c;
}

const PointInfo* find(const CLIP& model, const std::string& name) {
  for (const auto& p : model->points())
    if (p.name == name) return &p;
  return nullptr;
}

TEST(Points, ResNetNamesFollowOpenAIModulePaths) {
  CLIP model(tiny_resnet());
  model->eval();
  for (const std::string name :
       {"visual.conv1", "visual.relu3", "visual.avgpool", "visual.layer1.0.conv1", "visual.layer2.1.bn3",
        "visual.layer2.0.avgpool", "visual.layer2.0.downsample", "visual.layer4.1.add", "visual.layer4.1.relu3",
        "visual.layer4.1", "visual.layer4", "visual.attnpool", "token_embedding", "transformer.resblocks.1.mlp.gelu",
        "transformer.resblocks.0.attn.pattern", "ln_final", "text_projection"})
    EXPECT_NE(find(model, name), nullptr) << name;
  // Shapes are batch-first without the batch: stage 4 of a width-8 ResNet at 64 px.
  const auto* layer4 = find(model, "visual.layer4");
  ASSERT_NE(layer4, nullptr);
  EXPECT_EQ(layer4->shape, (std::vector<int64_t>{256, 2, 2}));
  EXPECT_EQ(layer4->channels, 256);
  // Transformer points are listed batch-first (tokens, width) and count width as units.
  const auto* block = find(model, "transformer.resblocks.1");
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(block->shape, (std::vector<int64_t>{16, 64}));
  EXPECT_EQ(block->layout, Layout::LND);
  // Execution order: the stem comes before the stages, the image tower before the text tower.
  const auto& pts = model->points();
  auto index = [&](const std::string& n) {
    return std::find_if(pts.begin(), pts.end(), [&](auto& p) { return p.name == n; }) - pts.begin();
  };
  EXPECT_LT(index("visual.conv1"), index("visual.layer1.0.conv1"));
  EXPECT_LT(index("visual.attnpool"), index("token_embedding"));
}

TEST(Points, ViTNamesFollowOpenAIModulePaths) {
  CLIP model(tiny_vit());
  model->eval();
  for (const std::string name :
       {"visual.conv1", "visual.ln_pre", "visual.transformer.resblocks.0.ln_1", "visual.transformer.resblocks.0.attn",
        "visual.transformer.resblocks.1.mlp.c_fc", "visual.transformer.resblocks.1.mlp.gelu",
        "visual.transformer.resblocks.1", "visual.ln_post", "visual.proj"})
    EXPECT_NE(find(model, name), nullptr) << name;
  EXPECT_EQ(find(model, "visual.transformer.resblocks.1.mlp.gelu")->shape, (std::vector<int64_t>{17, 256}));
}

TEST(Points, AliasesResolve) {
  CLIP model(tiny_resnet());
  EXPECT_EQ(model->resolve_point("image_block_4/1/Add_6"), "visual.layer4.1");
  EXPECT_EQ(model->resolve_point("visual.layer4.1.relu3:input"), "visual.layer4.1.add");
  EXPECT_EQ(model->resolve_point("visual.layer3"), "visual.layer3");
  try {
    model->resolve_point("visual.layer9");
    ADD_FAILURE() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown layer 'visual.layer9'"), std::string::npos);
  }
  EXPECT_THROW(model->resolve_point("image_block_4/7/Add_6"), Error);
}

TEST(Points, StopsAfterTheLastRequestedPoint) {
  CLIP model(tiny_resnet());
  model->eval();
  torch::NoGradGuard no_grad;
  auto images = torch::randn({2, 3, 64, 64});
  ActivationCache early({"visual.layer1", "visual.layer2.0.conv2"});
  model->run_image(images, early);
  EXPECT_TRUE(early.stopped_early());
  EXPECT_EQ(early.order(), (std::vector<std::string>{"visual.layer1", "visual.layer2.0.conv2"}));
  EXPECT_EQ(early["visual.layer1"].sizes(), (std::vector<int64_t>{2, 32, 16, 16}));

  // The captured output equals the same point computed by a full pass.
  auto all = ActivationCache::everything();
  model->encode_image(images, &all);
  EXPECT_TRUE(torch::allclose(all["visual.layer1"], early["visual.layer1"]));
  EXPECT_FALSE(all.stopped_early());
}

TEST(Points, UnknownOrWrongTowerNamesAreErrors) {
  CLIP model(tiny_resnet());
  model->eval();
  ActivationCache unknown({"visual.layer7"});
  EXPECT_THROW(model->run_image(torch::zeros({1, 3, 64, 64}), unknown), Error);
  ActivationCache text_point({"transformer.resblocks.0"});
  EXPECT_THROW(model->run_image(torch::zeros({1, 3, 64, 64}), text_point), Error);
}

TEST(Points, GradientsFlowThroughCapturedPoints) {
  CLIP model(tiny_vit());
  model->eval();
  auto images = torch::randn({1, 3, 64, 64}).requires_grad_(true);
  ActivationCache cache({"visual.transformer.resblocks.0.mlp.gelu"});
  model->run_image(images, cache);
  cache["visual.transformer.resblocks.0.mlp.gelu"].select(2, 5).mean().backward();
  ASSERT_TRUE(images.grad().defined());
  EXPECT_GT(images.grad().abs().sum().item<double>(), 0.0);
}

TEST(Points, EditsSetAddAndScaleUnitsForTheRestOfTheForward) {
  CLIP model(tiny_resnet());
  model->eval();
  torch::NoGradGuard no_grad;
  const auto images = torch::randn({2, 3, 64, 64});
  ActivationCache plain({"visual.layer3", "visual.layer4"}, /*stop_early=*/false);
  const auto before = model->encode_image(images, &plain);
  // Edit the two most active units and leave the least active one alone: a random tiny model can have
  // dead units, which scaling would leave unchanged.
  const auto activity = plain["visual.layer3"].abs().mean({0, 2, 3});
  const auto order = activity.argsort(/*dim=*/0, /*descending=*/true);
  const std::vector<int64_t> units{order[0].item<int64_t>(), order[1].item<int64_t>()};
  const int64_t untouched = order[-1].item<int64_t>();
  for (auto op : {UnitEdit::Op::Set, UnitEdit::Op::Add, UnitEdit::Op::Scale}) {
    ActivationCache edited({"visual.layer3", "visual.layer4"}, /*stop_early=*/false);
    edited.edit("visual.layer3", {op, units, 2.5});
    const auto after = model->encode_image(images, &edited);
    const auto x = plain["visual.layer3"], y = edited["visual.layer3"];
    for (int64_t u : units) {
      const auto expected = op == UnitEdit::Op::Set   ? torch::full_like(x.select(1, u), 2.5)
                            : op == UnitEdit::Op::Add ? x.select(1, u) + 2.5
                                                      : x.select(1, u) * 2.5;
      EXPECT_TRUE(torch::allclose(y.select(1, u), expected, 1e-5, 1e-5)) << edit_op_name(op);
    }
    EXPECT_TRUE(torch::equal(y.select(1, untouched), x.select(1, untouched)));  // other units untouched
    EXPECT_FALSE(torch::allclose(edited["visual.layer4"], plain["visual.layer4"]))
        << edit_op_name(op);  // later points see the edit
    EXPECT_FALSE(torch::allclose(after, before)) << edit_op_name(op);
    EXPECT_TRUE(edited.unapplied_edits().empty());
  }
}

TEST(Points, GradientsFlowThroughEdits) {
  CLIP model(tiny_vit());
  model->eval();
  auto images = torch::randn({1, 3, 64, 64}).requires_grad_(true);
  ActivationCache cache({}, /*stop_early=*/false);
  cache.edit("visual.transformer.resblocks.0", {UnitEdit::Op::Set, {3}, 1.0});
  model->encode_image(images, &cache).sum().backward();
  ASSERT_TRUE(images.grad().defined());
  EXPECT_GT(images.grad().abs().sum().item<double>(), 0.0);
}

TEST(Points, APatchReplacesAPointAndTheRestRunsOnItsBatch) {
  CLIP model(tiny_resnet());
  model->eval();
  torch::NoGradGuard no_grad;
  // Three different values of visual.layer3 for one input image: each gives what the rest
  // of the network computes from that value alone.
  ActivationCache probe({"visual.layer3"});
  model->run_image(torch::randn({1, 3, 64, 64}), probe);
  const auto values =
      torch::randn({3, probe["visual.layer3"].size(1), probe["visual.layer3"].size(2), probe["visual.layer3"].size(3)})
          .relu();
  ActivationCache patched({"visual.layer3", "visual.layer4"}, /*stop_early=*/false);
  patched.patch("visual.layer3", values);
  const auto out = model->encode_image(torch::randn({1, 3, 64, 64}), &patched);
  ASSERT_EQ(out.size(0), 3);
  EXPECT_TRUE(torch::equal(patched["visual.layer3"], values));
  EXPECT_TRUE(patched.unapplied_edits().empty());
  for (int64_t i = 0; i < 3; ++i) {
    ActivationCache one({"visual.layer4"});
    one.patch("visual.layer3", values.narrow(0, i, 1));
    model->run_image(torch::zeros({1, 3, 64, 64}), one);
    EXPECT_TRUE(torch::allclose(one["visual.layer4"][0], patched["visual.layer4"][i], 1e-5, 1e-5)) << i;
  }
  // A window of the map: the later layers run on the smaller grid.
  ActivationCache window({"visual.layer4"});
  window.patch("visual.layer3", values.narrow(0, 0, 1).narrow(2, 0, 2).narrow(3, 0, 2));
  model->run_image(torch::zeros({1, 3, 64, 64}), window);
  EXPECT_EQ(window["visual.layer4"].size(2), 1);
  // A value of another shape is refused, naming the point and both shapes.
  ActivationCache wrong({}, /*stop_early=*/false);
  wrong.patch("visual.layer3", torch::zeros({1, 2, 3, 3}));
  try {
    model->encode_image(torch::zeros({1, 3, 64, 64}), &wrong);
    ADD_FAILURE() << "no error for a patch of the wrong shape";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("patch of visual.layer3: the value's shape [1, 2, 3, 3] does not match"),
              std::string::npos)
        << e.what();
  }
  // A patch the forward never reaches is reported.
  ActivationCache unreached({"visual.layer1"});
  unreached.patch("visual.layer4", torch::zeros({1, 1}));
  model->run_image(torch::zeros({1, 3, 64, 64}), unreached);
  EXPECT_EQ(unreached.unapplied_edits(), (std::vector<std::string>{"visual.layer4"}));
}

TEST(Points, EditsThatCannotApplyAreReported) {
  CLIP model(tiny_vit());
  model->eval();
  torch::NoGradGuard no_grad;
  ActivationCache pattern({}, /*stop_early=*/false);
  pattern.edit("visual.transformer.resblocks.0.attn.pattern", {UnitEdit::Op::Scale, {0}, 0.0});
  model->encode_image(torch::zeros({1, 3, 64, 64}), &pattern);
  EXPECT_EQ(pattern.unapplied_edits(), (std::vector<std::string>{"visual.transformer.resblocks.0.attn.pattern"}));
  ActivationCache range({}, /*stop_early=*/false);
  range.edit("visual.transformer.resblocks.0", {UnitEdit::Op::Add, {64}, 1.0});
  try {
    model->encode_image(torch::zeros({1, 3, 64, 64}), &range);
    ADD_FAILURE() << "no error for unit 64 of 64";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unit 64 is out of range (the point has 64 units)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(range.edit("visual.ln_post", {UnitEdit::Op::Add, {}, NAN}), Error);
}

TEST(Points, PresetsBuildTheReleasedArchitectures) {
  for (const auto& name : CLIPConfig::preset_names()) {
    auto c = CLIPConfig::preset(name);
    CLIP model(c);
    int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();
    EXPECT_GT(params, 30'000'000) << name;
  }
  // RN50: 102M parameters in OpenAI's release (image + text towers).
  CLIP rn50(CLIPConfig::preset("RN50"));
  int64_t params = 0;
  for (const auto& p : rn50->parameters()) params += p.numel();
  EXPECT_NEAR(params / 1e6, 102.0, 1.0);
  EXPECT_THROW(CLIPConfig::preset("RN42"), Error);
}

}  // namespace
