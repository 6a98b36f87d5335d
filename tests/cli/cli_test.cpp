// End-to-end tests of the clipscope binary: real processes, real files.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/hub/zoo.h"
#include "core/image/image.h"
#include "core/model/fixtures.h"
#include "core/model/tensor_io.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"

namespace fs = std::filesystem;
using clipscope::testing::relative_error;

namespace {

using Result = clipscope::testing::CliResult;
using clipscope::testing::expect_one_line_error;

std::string slurp(const fs::path& p) { return clipscope::testing::read_file(p); }

Result run(const std::vector<std::string>& args, const std::string& env = "") {
  return clipscope::testing::run_clipscope(args, env);
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = clipscope::testing::shared_dir();
    if (!s) GTEST_SKIP() << "../shared not found (set CLIPSCOPE_SHARED): reference fixtures absent";
    shared = *s;
    fixtures = shared / "fixtures";
    vocab = "--vocab=" + (shared / "clip" / "bpe_simple_vocab_16e6.txt.gz").string();
    manifest = clipscope::testing::read_manifest(shared);
    out_dir = clipscope::testing::temp_dir("clipscope-cli-out");
  }
  std::vector<std::string> images(const std::string& model) {
    std::vector<std::string> paths;
    for (const auto& name : manifest["models"][model]["input_batch"])
      paths.push_back((fixtures / ("img_" + name.get<std::string>())).string());
    return paths;
  }
  torch::Tensor expected(const std::string& model, const std::string& key) {
    return clipscope::read_npy_tensor(fixtures / manifest["models"][model]["outputs"][key]["file"].get<std::string>());
  }
  fs::path shared, fixtures, out_dir;
  std::string vocab;
  nlohmann::json manifest;
};

TEST(CliBasics, HelpListsEverySubcommand) {
  auto r = run({"--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* sub : {"models", "fetch", "tokenize", "layers", "classify", "embed", "activations", "render",
                          "world", "train-demo", "demo-report"})
    EXPECT_NE(r.out.find(sub), std::string::npos) << sub;
}

TEST(CliBasics, ModelsListsOfficialCheckpoints) {
  auto r = run({"models"});
  EXPECT_EQ(r.code, 0);
  for (const char* name : {"RN50 ", "RN50x4", "ViT-B/32", "ViT-L/14@336px", "bpe_simple_vocab_16e6.txt.gz"})
    EXPECT_NE(r.out.find(name), std::string::npos) << name;
  EXPECT_NE(r.out.find("afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762"), std::string::npos);
  EXPECT_NE(r.out.find("clipscope-demo.pt"), std::string::npos);
}

TEST(CliBasics, BadArgumentsExitNonZero) {
  EXPECT_NE(run({"frobnicate"}).code, 0);
  EXPECT_NE(run({"classify", "--image", "x.png"}).code, 0);  // no --model / --labels
}

TEST_F(Cli, TokenizeMatchesClipTokenize) {
  auto r = run({"tokenize", vocab, "--json", "a photo of a dog", "A Photo of a DOG!"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j[0]["ids"].get<std::vector<int>>(), (std::vector<int>{49406, 320, 1125, 539, 320, 1929, 49407}));
  EXPECT_EQ(j[1]["ids"].get<std::vector<int>>(), (std::vector<int>{49406, 320, 1125, 539, 320, 1929, 256, 49407}));
  auto d = run({"tokenize", vocab, "--decode", "49406", "320", "1125", "539", "320", "1929", "49407"});
  EXPECT_EQ(d.out, "a photo of a dog \n");
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "word ";
  expect_one_line_error(run({"tokenize", vocab, long_text}), "more than the context length 77");
  EXPECT_EQ(run({"tokenize", vocab, "--truncate", long_text}).code, 0);
}

TEST_F(Cli, LayersListsNamedPointsWithShapes) {
  auto r = run({"layers", "--model", (fixtures / "rn_tiny.pt").string(), "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& p : j) by_name[p["name"]] = p;
  ASSERT_TRUE(by_name.count("visual.layer4.1.add"));
  EXPECT_EQ(by_name["visual.layer4"]["shape"].get<std::vector<int>>(), (std::vector<int>{512, 2, 2}));
  EXPECT_EQ(by_name["visual.layer4"]["units"], 512);
  EXPECT_TRUE(by_name.count("transformer.resblocks.1.mlp.gelu"));
}

// End to end: decode + preprocess + model + zero-shot equal OpenAI's logits.
TEST_F(Cli, ClassifyMatchesReferenceLogits) {
  std::vector<std::string> args = {
      "classify", "--json", "--precision", "exact", vocab, "--model", (fixtures / "vit_tiny.pt").string(), "--image"};
  for (const auto& p : images("vit_tiny")) args.push_back(p);
  const std::vector<std::string> labels = {"a diagram", "a dog", "a cat"};
  args.push_back("--labels");
  args.insert(args.end(), labels.begin(), labels.end());
  auto r = run(args);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  auto logits = expected("vit_tiny", "logits_per_image").slice(1, 0, 3);  // texts 0..2 are these labels
  auto reference = torch::softmax(logits, 1);
  ASSERT_EQ(j.size(), 5u);
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t k = 0; k < 3; ++k)
      EXPECT_NEAR(j[i]["probabilities"][labels[k]].get<double>(), reference[i][k].item<double>(), 1e-4);
}

TEST_F(Cli, EmbedImagesAndTextsMatchReference) {
  std::vector<std::string> args = {"embed",
                                   "--precision",
                                   "exact",
                                   "--model",
                                   (fixtures / "rn_tiny.pt").string(),
                                   "--out",
                                   (out_dir / "img.npy").string(),
                                   "--batch-size",
                                   "2",
                                   "--image"};
  for (const auto& p : images("rn_tiny")) args.push_back(p);
  auto r = run(args);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(relative_error(clipscope::read_npy_tensor(out_dir / "img.npy"), expected("rn_tiny", "image_features")),
            1e-4);

  auto texts = manifest["texts"].get<std::vector<std::string>>();
  std::vector<std::string> targs = {"embed",   "--precision",
                                    "exact",   vocab,
                                    "--model", (fixtures / "rn_tiny.pt").string(),
                                    "--out",   (out_dir / "txt.npy").string(),
                                    "--text"};
  targs.insert(targs.end(), texts.begin(), texts.begin() + 5);
  r = run(targs);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(relative_error(clipscope::read_npy_tensor(out_dir / "txt.npy"),
                           expected("rn_tiny", "text_features").slice(0, 0, 5)),
            1e-4);
}

TEST_F(Cli, ActivationsWritesBatchFirstNpy) {
  std::vector<std::string> base = {"activations", "--precision", "exact", "--model", (fixtures / "rn_tiny.pt").string(),
                                   "--image"};
  for (const auto& p : images("rn_tiny")) base.push_back(p);
  auto none = base;
  none.insert(none.end(), {"--layer", "visual.layer4.1.relu3:input", "--out", (out_dir / "a.npy").string()});
  auto r = run(none);
  ASSERT_EQ(r.code, 0) << r.err;
  auto ref = expected("rn_tiny", "act:visual.layer4.1.relu3:input");
  EXPECT_LT(relative_error(clipscope::read_npy_tensor(out_dir / "a.npy"), ref), 1e-4);

  auto mean = base;
  mean.insert(mean.end(),
              {"--layer", "image_block_4/1/Add_6", "--reduce", "mean", "--out", (out_dir / "m.npy").string()});
  r = run(mean);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(relative_error(clipscope::read_npy_tensor(out_dir / "m.npy"),
                           expected("rn_tiny", "act:visual.layer4").mean({2, 3})),
            1e-4);
}

TEST_F(Cli, ClassifyCachesLabelEmbeddingsPerModelLabelsAndTemplates) {
  const fs::path cache = out_dir / "cache";
  const fs::path templates = out_dir / "templates.txt";
  clipscope::testing::write_file(templates, "a photo of a {}.\na drawing of a {}.\n");
  auto classify = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--cache-dir",
                                     cache.string(),
                                     "classify",
                                     "--json",
                                     "--precision",
                                     "exact",
                                     vocab,
                                     "--model",
                                     (fixtures / "vit_tiny.pt").string(),
                                     "--image",
                                     images("vit_tiny")[0],
                                     "--labels",
                                     "a dog",
                                     "a cat"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run(args);
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out;
  };
  auto entries = [&] {
    size_t n = 0;
    if (fs::exists(cache / "zeroshot"))
      for (const auto& e : fs::directory_iterator(cache / "zeroshot")) n += e.path().extension() == ".npy";
    return n;
  };
  const std::string first = classify({"--templates", templates.string()});
  EXPECT_EQ(entries(), 1u);
  EXPECT_EQ(classify({"--templates", templates.string()}), first);  // served from the cache
  EXPECT_EQ(entries(), 1u);
  EXPECT_EQ(classify({"--templates", templates.string(), "--no-cache"}), first);
  classify({});  // other templates (none): another entry
  EXPECT_EQ(entries(), 2u);
  // A damaged entry is recomputed, not trusted.
  for (const auto& e : fs::directory_iterator(cache / "zeroshot")) clipscope::testing::write_file(e.path(), "garbage");
  EXPECT_EQ(classify({"--templates", templates.string()}), first);
}

TEST_F(Cli, EmbedStreamsFoldersAndListsSkippingUnreadableImages) {
  // A dataset folder: the five fixture images in a subfolder, plus files that are not images.
  const fs::path data = out_dir / "data";
  fs::create_directories(data / "good");
  for (const auto& p : images("rn_tiny")) fs::copy_file(p, data / "good" / fs::path(p).filename());
  clipscope::testing::write_file(data / "zero.png", "");
  clipscope::testing::write_file(data / "text.JPG", "not a jpeg");
  const std::string png = clipscope::testing::read_file(images("rn_tiny")[0]);
  clipscope::testing::write_file(data / "truncated.png", png.substr(0, png.size() / 2));
  clipscope::testing::write_file(data / "notes.txt.bak", "ignored: not an image extension");

  const fs::path out = out_dir / "emb.npy";
  auto r = run({"embed", "--precision", "exact", "--model", (fixtures / "rn_tiny.pt").string(), "--image",
                data.string(), "--batch-size", "2", "--out", out.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: skipped 3 of 8 images"), std::string::npos) << r.err;
  auto rows = clipscope::read_npy_tensor(out);
  EXPECT_EQ(rows.size(0), 5);
  // Rows follow the sorted paths; each equals the reference feature of its image.
  const auto listed = slurp(out_dir / "emb.paths.txt");
  auto names = manifest["models"]["rn_tiny"]["input_batch"];
  auto reference = expected("rn_tiny", "image_features");
  std::istringstream lines(listed);
  std::string line;
  int64_t row = 0;
  while (std::getline(lines, line)) {
    const std::string file = fs::path(line).filename().string();
    int64_t index = -1;
    for (size_t i = 0; i < names.size(); ++i)
      if ("img_" + names[i].get<std::string>() == file) index = static_cast<int64_t>(i);
    ASSERT_GE(index, 0) << line;
    EXPECT_LT(relative_error(rows[row], reference[index]), 1e-4) << line;
    ++row;
  }
  EXPECT_EQ(row, 5);
  const auto skipped = slurp(out_dir / "emb.skipped.tsv");
  for (const char* bad : {"zero.png", "text.JPG", "truncated.png"})
    EXPECT_NE(skipped.find(bad), std::string::npos) << skipped;
  EXPECT_EQ(skipped.find("notes"), std::string::npos);

  // The same images through a list file, in the list's order.
  clipscope::testing::write_file(out_dir / "list.txt",
                                 "# two images\n" + images("rn_tiny")[1] + "\n\n" + images("rn_tiny")[0] + "\n");
  r = run({"embed", "--precision", "exact", "--model", (fixtures / "rn_tiny.pt").string(), "--image",
           (out_dir / "list.txt").string(), "--out", (out_dir / "list.npy").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  auto listed_rows = clipscope::read_npy_tensor(out_dir / "list.npy");
  EXPECT_LT(relative_error(listed_rows[0], reference[1]), 1e-4);
  EXPECT_LT(relative_error(listed_rows[1], reference[0]), 1e-4);
  EXPECT_FALSE(fs::exists(out_dir / "list.skipped.tsv"));
}

TEST_F(Cli, PrecisionsAgreeWithinTheirBounds) {
  for (const std::string precision : {"fp32", "bf16", "auto"}) {
    std::vector<std::string> args = {"embed",
                                     "--precision",
                                     precision,
                                     "--model",
                                     (fixtures / "rn_tiny.pt").string(),
                                     "--out",
                                     (out_dir / (precision + ".npy")).string(),
                                     "--image"};
    for (const auto& p : images("rn_tiny")) args.push_back(p);
    auto r = run(args);
    ASSERT_EQ(r.code, 0) << r.err;
    const double err = relative_error(clipscope::read_npy_tensor(out_dir / (precision + ".npy")),
                                      expected("rn_tiny", "image_features"));
    EXPECT_LT(err, precision == "fp32" ? 1e-4 : 3e-2) << precision;
  }
  expect_one_line_error(run({"embed", "--precision", "fp8", "--model", (fixtures / "rn_tiny.pt").string(), "--out",
                             (out_dir / "x.npy").string(), "--image", images("rn_tiny")[0]}),
                        "--precision fp8: expected exact, fp32, bf16 or auto");
}

TEST_F(Cli, BadInputsGetOneLineErrors) {
  const std::string rn = (fixtures / "rn_tiny.pt").string();
  const std::string img = (fixtures / "img_gray.png").string();
  const std::string out = (out_dir / "x.npy").string();
  expect_one_line_error(run({"layers", "--model", "/nonexistent/RN50.pt"}), "/nonexistent/RN50.pt: no such file");
  expect_one_line_error(run({"layers", "--model", "RN51"}), "unknown model 'RN51'");
  expect_one_line_error(run({"layers", "--model", img}), "not a PyTorch checkpoint");
  fs::copy_file(fixtures / "vit_tiny.pt", out_dir / "cut.pt");
  fs::resize_file(out_dir / "cut.pt", 4096);
  expect_one_line_error(run({"layers", "--model", (out_dir / "cut.pt").string()}), "truncated or corrupt");
  expect_one_line_error(run({"activations", "--model", rn, "--layer", "visual.layer9", "--image", img, "--out", out}),
                        "unknown layer 'visual.layer9'");
  expect_one_line_error(
      run({"activations", "--model", rn, "--layer", "visual.layer4", "--image", "/nonexistent.png", "--out", out}),
      "/nonexistent.png: no such file");
  expect_one_line_error(
      run({"activations", "--model", rn, "--layer", "visual.layer4", "--image", "/nonexistent-dir/", "--out", out}),
      "/nonexistent-dir/");
  expect_one_line_error(run({"activations", "--model", rn, "--layer", "visual.layer4", "--image", img, "--batch-size",
                             "0", "--out", out}),
                        "--batch-size 0");
  expect_one_line_error(run({"activations", "--model", rn, "--layer", "visual.layer4", "--image", rn, "--out", out}),
                        "not a JPEG or PNG image");
  expect_one_line_error(run({"activations", "--model", rn, "--layer", "visual.layer4", "--image", img, "--reduce",
                             "median", "--out", out}),
                        "--reduce median");
  EXPECT_FALSE(fs::exists(out));
  expect_one_line_error(run({"--device", "cuda", "layers", "--model", rn}), "cuda");
}

// Downloads through a file:// mirror laid out like the real hosts.
TEST_F(Cli, FetchVerifiesChecksumsAndNeverLeavesPartialFiles) {
  auto mirror = clipscope::testing::temp_dir("clipscope-mirror");
  auto cache = clipscope::testing::temp_dir("clipscope-cache");
  const std::string env = "CLIPSCOPE_MIRROR=file://" + mirror.string() + " CLIPSCOPE_CACHE=" + cache.string();
  auto vocab_path = mirror / "openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz";
  fs::create_directories(vocab_path.parent_path());
  fs::copy_file(shared / "clip" / "bpe_simple_vocab_16e6.txt.gz", vocab_path);
  auto r = run({"fetch", "vocab"}, env);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(cache / "bpe_simple_vocab_16e6.txt.gz"));

  // A tampered RN50 on the mirror: checksum mismatch, nothing under the final name.
  auto rn50 = mirror / "clip/models/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt";
  fs::create_directories(rn50.parent_path());
  fs::copy_file(fixtures / "rn_tiny.pt", rn50);
  expect_one_line_error(run({"fetch", "RN50"}, env), "checksum mismatch");
  EXPECT_FALSE(fs::exists(cache / "RN50.pt"));
  EXPECT_FALSE(fs::exists(cache / "RN50.pt.part"));
  // --model NAME resolves through the same cache and fails the same way.
  expect_one_line_error(run({"layers", "--model", "RN50"}, env), "checksum mismatch");
}

// render: text into a PNG with FreeType; needs no model and no ../shared.
TEST(CliRender, WritesAPngOfTheRequestedSizeAndPrintsTheInkBox) {
  const auto dir = clipscope::testing::temp_dir("clipscope-cli-render");
  const std::string png = (dir / "cat.png").string();
  auto r = run({"render", "cat", "-o", png, "--width", "100", "--height", "60", "--size", "24", "--color", "red",
                "--background", "#000010", "--x", "40.5"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto box = nlohmann::json::parse(r.out);
  const int x0 = box["x0"], y0 = box["y0"], x1 = box["x1"], y1 = box["y1"];
  EXPECT_GT(x1 - x0, 20);
  EXPECT_GT(y1 - y0, 10);
  EXPECT_NEAR(0.5 * (x0 + x1), 40.5, 1.0);
  EXPECT_NEAR(0.5 * (y0 + y1), 30.0, 1.0);
  const clipscope::Image img = clipscope::read_image(png);
  ASSERT_EQ(img.width, 100);
  ASSERT_EQ(img.height, 60);
  int red = 0, other = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) {
      const uint8_t* p = img.pixel(x, y);
      const bool inside = x >= x0 && x < x1 && y >= y0 && y < y1;
      if (p[0] == 255 && p[1] == 0 && p[2] == 0) ++red;
      if (!inside && !(p[0] == 0 && p[1] == 0 && p[2] == 16)) ++other;
    }
  EXPECT_GT(red, 20);   // fully covered pixels have the text colour exactly
  EXPECT_EQ(other, 0);  // the background is untouched outside the ink box

  auto fonts = run({"render", "--list-fonts"});
  ASSERT_EQ(fonts.code, 0) << fonts.err;
  EXPECT_NE(fonts.out.find("DejaVuSans-Bold\n"), std::string::npos) << fonts.out;
  EXPECT_NE(run({"--help"}).out.find("render"), std::string::npos);
}

TEST(CliRender, BadFontsAndColoursGetOneLineErrors) {
  const auto dir = clipscope::testing::temp_dir("clipscope-cli-render");
  const std::string png = (dir / "x.png").string();
  expect_one_line_error(run({"render", "x", "-o", png, "--font", "DejaVuFoo"}), "font DejaVuFoo: not found");
  expect_one_line_error(run({"render", "x", "-o", png, "--font", "/nonexistent/Foo.ttf"}), "/nonexistent/Foo.ttf");
  expect_one_line_error(run({"render", "x", "-o", png, "--color", "blurple"}), "colour \"blurple\"");
  expect_one_line_error(run({"render", "x", "-o", png, "--x", "left"}), "--x left");
  EXPECT_FALSE(fs::exists(png));
}

}  // namespace

TEST(CliWorld, WritesImagesCaptionsAndLabelsDeterministically) {
  const auto a = clipscope::testing::temp_dir(), b = clipscope::testing::temp_dir();
  ASSERT_EQ(run({"world", "--n", "12", "--seed", "4", "--out", a.string()}).code, 0);
  ASSERT_EQ(run({"world", "--n", "12", "--seed", "4", "--out", b.string(), "--threads", "1"}).code, 0);
  EXPECT_EQ(slurp(a / "captions.tsv"), slurp(b / "captions.tsv"));
  std::istringstream labels(slurp(a / "labels.jsonl")), captions(slurp(a / "captions.tsv"));
  std::string line, caption_line;
  std::getline(captions, caption_line);
  EXPECT_EQ(caption_line, "filepath\ttitle");
  int n = 0;
  while (std::getline(labels, line)) {
    const auto j = nlohmann::json::parse(line);
    std::getline(captions, caption_line);
    EXPECT_EQ(caption_line, j.at("image").get<std::string>() + "\t" + j.at("caption").get<std::string>());
    const auto image = clipscope::read_image(a / j.at("image").get<std::string>());
    EXPECT_EQ(image.width, 64);
    ++n;
  }
  EXPECT_EQ(n, 12);
  expect_one_line_error(run({"world", "--n", "2", "--out", a.string(), "--p-mention-text", "2"}), "p_mention_text");
}

TEST(CliWorld, ListsTheConceptsWithoutDrawingAWorld) {
  const auto dir = clipscope::testing::temp_dir();
  ASSERT_EQ(run({"world", "--concepts", (dir / "concepts.csv").string()}).code, 0);
  const std::string csv = slurp(dir / "concepts.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "id,name,family,modalities,region,continent,emotion");
  EXPECT_NE(csv.find(",japan,regions,flag+"), std::string::npos);
  EXPECT_GT(std::count(csv.begin(), csv.end(), '\n'), 1000);
  EXPECT_FALSE(fs::exists(dir / "images"));
  expect_one_line_error(run({"world", "--n", "2"}), "--out");
}

// train-demo end to end on a tiny configuration; the result is a normal checkpoint
// whose own merges file (beside it) is found without --vocab.
TEST(CliDemo, TrainDemoWritesAModelTheOtherCommandsUse) {
  const auto run_dir = clipscope::testing::temp_dir();
  const std::vector<std::string> train = {"train-demo",
                                          "--out",
                                          run_dir.string(),
                                          "--steps",
                                          "2",
                                          "--batch",
                                          "4",
                                          "--resolution",
                                          "32",
                                          "--width",
                                          "8",
                                          "--bpe-merges",
                                          "200",
                                          "--checkpoint-every",
                                          "1",
                                          "--precision",
                                          "fp32"};
  auto r = run(train);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto model = run_dir / "clipscope-demo.pt";
  EXPECT_NE(r.out.find(model.string()), std::string::npos);
  EXPECT_NE(slurp(run_dir / "train-log.csv").find("heldout_top1"), std::string::npos);

  const auto world_dir = clipscope::testing::temp_dir();
  ASSERT_EQ(run({"world", "--n", "2", "--size", "32", "--out", world_dir.string()}).code, 0);
  r = run({"classify", "--model", model.string(), "--image", (world_dir / "images/000000.png").string(), "--labels",
           "a red circle", "the word blue", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 1u);
  // Running it again finds the finished checkpoint and does no more steps.
  r = run(train);
  EXPECT_EQ(r.code, 0) << r.err;
  expect_one_line_error(run({"train-demo", "--out", run_dir.string(), "--steps", "3"}), "other options");
}

TEST(CliDemo, TheDemoModelIsTheDefault) {
  if (!fs::exists(clipscope::demo_model_path())) GTEST_SKIP() << "demo model not found (train it with train-demo)";
  const auto world_dir = clipscope::testing::temp_dir();
  ASSERT_EQ(run({"world", "--n", "1", "--out", world_dir.string()}).code, 0);
  auto r = run({"classify", "--image", (world_dir / "images/000000.png").string(), "--labels", "red", "blue"});
  EXPECT_EQ(r.code, 0) << r.err;
  r = run({"layers"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("visual.layer4"), std::string::npos);
  r = run({"demo-report", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = nlohmann::json::parse(r.out);
  // The six targets of the first edition's measures and the six of issue 19's concepts.
  EXPECT_EQ(report.at("targets").size(), 12u);
  EXPECT_TRUE(report.at("zero_shot").contains("reading"));
  EXPECT_TRUE(report.at("concepts").contains("region_units_shuffled"));
}
