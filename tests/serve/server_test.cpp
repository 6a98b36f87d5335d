// clipscope serve, through its HTTP API: a real server process on a demo-model
// atlas of a generated world, asked with httplib's client.
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <thread>

#include "atlas/atlas.h"
#include "atlas/matrix.h"
#include "circuits/expanded_weights.h"
#include "circuits/residual_share.h"
#include "core/image/image.h"
#include "core/model/loader.h"
#include "labels/families.h"
#include "labels/label_atlas.h"
#include "maxtext/store.h"
#include "plot/sheet.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"
#include "words/database.h"

extern char** environ;

namespace fs = std::filesystem;
using nlohmann::json;
using namespace clipscope;
using clipscope::testing::run_clipscope;

namespace {

// `clipscope serve ... --port 0` as a child process; its first stdout line names the port.
class ServeProcess {
 public:
  explicit ServeProcess(const std::vector<std::string>& args) {
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::vector<std::string> argv = {CLIPSCOPE_BINARY, "--quiet", "serve", "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    if (posix_spawn(&pid_, CLIPSCOPE_BINARY, &actions, nullptr, raw.data(), environ) != 0)
      throw std::runtime_error("cannot start clipscope serve");
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    std::string line;
    char c;
    pollfd p{out[0], POLLIN, 0};
    while (line.find('\n') == std::string::npos && poll(&p, 1, 120000) > 0 && read(out[0], &c, 1) == 1) line += c;
    close(out[0]);
    const auto colon = line.rfind(':');
    if (line.find("serving ") != 0 || colon == std::string::npos)
      throw std::runtime_error("serve did not start: " + line);
    port_ = std::stoi(line.substr(colon + 1));
  }
  ~ServeProcess() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    return c;
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = 0;
  int port_ = 0;
};

json body_json(const httplib::Result& r) {
  EXPECT_TRUE(r) << "no response";
  if (!r) return nullptr;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << r->body.substr(0, 200);
  return json::parse(r->body);
}

// A 4xx answer with a one-line JSON error naming `fragment`.
void expect_error(const httplib::Result& r, int status, const std::string& fragment) {
  ASSERT_TRUE(r) << "no response";
  EXPECT_EQ(r->status, status) << r->body;
  const json j = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
  const std::string message = j["error"];
  EXPECT_NE(message.find(fragment), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(clipscope::testing::temp_dir("serve-test"));
    const fs::path& d = *dir_;
    auto run = [](const std::vector<std::string>& args) {
      const auto r = run_clipscope(args);
      ASSERT_EQ(r.code, 0) << r.err;
    };
    run({"world", "--edition", "1", "--n", "300", "--seed", "5", "--out", (d / "world").string()});
    run({"index", "--layers", "visual.layer4", "--images", (d / "world/images").string(), "--out",
         (d / "atlas").string(), "--k", "12", "--matrix", "max"});
    clipscope::testing::write_file(d / "words.txt", "red\ngreen\nblue\nyellow\ncat\ndog\nstar\nhappy\n");
    run({"words", "--words", (d / "words.txt").string(), "--into", (d / "atlas").string(), "--canvas", "64", "--sizes",
         "10,13", "--stroke", "0"});
    run({"visualize", "--unit", "visual.layer4:3,4", "--steps", "8", "--out", (d / "atlas/optvis/some").string()});
    live_ = new ServeProcess({"--atlas", (d / "atlas").string(), "--model", "demo", "--labels",
                              (d / "world/labels.jsonl").string(), "--label-key", "color", "--render-steps", "6",
                              "--max-upload-mb", "1"});
    plain_ = new ServeProcess({"--atlas", (d / "atlas").string()});
  }
  static void TearDownTestSuite() {
    delete live_;
    delete plain_;
    fs::remove_all(*dir_);
    delete dir_;
  }
  static atlas::Atlas open_atlas() { return atlas::Atlas::open(*dir_ / "atlas"); }

  static fs::path* dir_;
  static ServeProcess* live_;
  static ServeProcess* plain_;
};
fs::path* ServeTest::dir_ = nullptr;
ServeProcess* ServeTest::live_ = nullptr;
ServeProcess* ServeTest::plain_ = nullptr;

TEST_F(ServeTest, OverviewDescribesTheAtlas) {
  const json j = body_json(live_->client().Get("/api/atlas"));
  EXPECT_EQ(j["images"], 300);
  EXPECT_EQ(j["skipped"], 0);
  EXPECT_EQ(j["model"], "demo");
  EXPECT_EQ(j["status"], "complete");
  EXPECT_EQ(j["live"], true);
  EXPECT_EQ(j["labels"], true);
  ASSERT_EQ(j["layers"].size(), 1u);
  const json& l = j["layers"][0];
  EXPECT_EQ(l["name"], "visual.layer4");
  EXPECT_EQ(l["units"], 512);
  EXPECT_EQ(l["words"], 8);
  EXPECT_EQ(l["vis"], 2);
  EXPECT_EQ(l["matrices"], json::array({"max"}));
  EXPECT_EQ(body_json(plain_->client().Get("/api/atlas"))["live"], false);
}

TEST_F(ServeTest, UnitGridPagesAndSorts) {
  auto c = live_->client();
  json j = body_json(c.Get("/api/layers/visual.layer4/units?offset=504&limit=20"));
  ASSERT_EQ(j["items"].size(), 8u);  // the last 8 of 512
  EXPECT_EQ(j["items"][0]["unit"], 504);
  j = body_json(c.Get("/api/layers/visual.layer4/units?limit=50&sort=max"));
  for (size_t i = 1; i < j["items"].size(); ++i) EXPECT_GE(j["items"][i - 1]["max"], j["items"][i]["max"]);
  // Units with a feature visualization show it as their thumbnail.
  j = body_json(c.Get("/api/layers/visual.layer4/units?offset=3&limit=2"));
  EXPECT_EQ(j["items"][0]["thumb_kind"], "vis");
  EXPECT_EQ(j["items"][0]["thumb"].get<std::string>().rfind("/img/vis/", 0), 0u);
  expect_error(c.Get("/api/layers/visual.layer4/units?sort=size"), 400, "sort 'size'");
  expect_error(c.Get("/api/layers/visual.layer4/units?limit=0"), 400, "limit 0");
  expect_error(c.Get("/api/layers/visual.layer4/units?offset=x"), 400, "offset 'x'");
  expect_error(c.Get("/api/layers/visual.layer9/units"), 404, "layer 'visual.layer9'");
}

TEST_F(ServeTest, UnitPageMatchesTheAtlas) {
  const int unit = 12;
  const json j = body_json(live_->client().Get("/api/units/visual.layer4/12?k=5"));
  auto a = open_atlas();
  const auto& layer = a.layer("visual.layer4");
  const auto top = a.examples(layer, unit, atlas::ExampleList::TopMax, 5);
  const auto stats = a.summary(layer, unit, atlas::Quantity::Max);
  ASSERT_EQ(j["examples"]["top_max"].size(), top.size());
  for (size_t i = 0; i < top.size(); ++i) {
    const json& e = j["examples"]["top_max"][i];
    EXPECT_EQ(e["image"], top[i].image);
    EXPECT_EQ(e["cell"], top[i].cell);
    EXPECT_FLOAT_EQ(e["value"].get<float>(), top[i].value);
    EXPECT_NEAR(e["std"].get<double>(), top[i].value / stats.rms, 1e-6);
  }
  for (const char* list : {"bottom_min", "top_mean", "bottom_mean"}) EXPECT_EQ(j["examples"][list].size(), 5u) << list;
  EXPECT_DOUBLE_EQ(j["stats"]["max"]["rms"].get<double>(), stats.rms);
  int64_t total = 0;
  for (const auto& n : j["histogram"]["counts"]) total += n.get<int64_t>();
  EXPECT_EQ(total, 300);
  // Words as the word database ranks them.
  const auto db = words::WordDatabase::open(*dir_ / "atlas");
  const auto expected = db.unit_words(db.set("visual.layer4"), unit, 5);
  ASSERT_EQ(j["words"].size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(j["words"][i]["word"], expected[i].word);
  // Conditional probabilities over the world's colour labels: each bucket's sum to 1.
  ASSERT_TRUE(j["condprob"].is_object());
  const json& cp = j["condprob"];
  for (size_t b = 0; b < cp["lo"].size(); ++b) {
    if (cp["labelled"][b] == 0) continue;
    double sum = 0;
    for (const auto& row : cp["p"]) sum += row[b].get<double>();
    EXPECT_NEAR(sum, 1.0, 1e-9) << "bucket " << b;
  }
  EXPECT_EQ(j["permalink"], "#/unit/visual.layer4/12");
  EXPECT_TRUE(j["vis"].empty());
  EXPECT_EQ(body_json(live_->client().Get("/api/units/visual.layer4/3"))["vis"][0]["kind"], "channel");
}

TEST_F(ServeTest, UnitErrorsNameTheProblem) {
  auto c = live_->client();
  expect_error(c.Get("/api/units/visual.layer4/768"), 404, "unit 768: out of range");
  expect_error(c.Get("/api/units/visual.layer4/-1"), 404, "unit -1: out of range");
  expect_error(c.Get("/api/units/visual.layer4/1e3"), 400, "unit '1e3': not an integer");
  expect_error(c.Get("/api/units/visual.layer4/5?k=0"), 400, "k 0");
  expect_error(c.Get("/api/units/visual.layerX/5"), 404, "layer 'visual.layerX'");
  expect_error(c.Get("/api/nothing"), 404, "no such endpoint");
  expect_error(c.Delete("/api/units/visual.layer4/5"), 404, "no such endpoint");
}

TEST_F(ServeTest, ExampleImagesAreCropsAndOutlinedFullImages) {
  auto c = live_->client();
  auto r = c.Get("/img/example/visual.layer4/12/top_max/0?size=96");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "image/jpeg");
  Image crop = decode_image({reinterpret_cast<const uint8_t*>(r->body.data()), r->body.size()});
  EXPECT_EQ(crop.width, 96);
  EXPECT_EQ(crop.height, 96);
  r = c.Get("/img/example/visual.layer4/12/top_max/0?size=256&full=1");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  Image full = decode_image({reinterpret_cast<const uint8_t*>(r->body.data()), r->body.size()});
  EXPECT_EQ(full.width, 256);
  // The argmax cell is outlined in the sheets' colour (JPEG: approximately).
  const auto colour = plot::outline_colour();
  int outlined = 0;
  for (int y = 0; y < full.height; ++y)
    for (int x = 0; x < full.width; ++x) {
      const uint8_t* p = full.pixel(x, y);
      outlined += std::abs(p[0] - colour[0]) < 40 && std::abs(p[1] - colour[1]) < 40 && std::abs(p[2] - colour[2]) < 60;
    }
  EXPECT_GT(outlined, 200);
  expect_error(c.Get("/img/example/visual.layer4/12/top_all/0"), 400, "list top_all: expected top_max");
  expect_error(c.Get("/img/example/visual.layer4/12/top_max/12"), 404, "ranks are 0-11");
  expect_error(c.Get("/img/example/visual.layer4/12/top_max/-1"), 404, "ranks are 0-11");
  expect_error(c.Get("/img/example/visual.layer4/12/top_max/99999999999"), 404, "ranks are 0-11");
  expect_error(c.Get("/img/example/visual.layer4/12/top_max/0?size=4096"), 400, "size 4096");
  expect_error(c.Get("/img/example/visual.layer4/900/top_max/0"), 404, "unit 900");
}

TEST_F(ServeTest, FeatureVisualizationsByIdOnly) {
  auto c = live_->client();
  auto r = c.Get("/img/vis/0");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(decode_image({reinterpret_cast<const uint8_t*>(r->body.data()), r->body.size()}).width, 64);
  expect_error(c.Get("/img/vis/99"), 404, "visualization 99");
  expect_error(c.Get("/img/vis/grid.png"), 400, "not an integer");
}

TEST_F(ServeTest, NothingOutsideTheApiIsReachable) {
  auto c = live_->client();
  const std::string db = clipscope::testing::read_file(*dir_ / "atlas/atlas.db").substr(0, 16);
  for (const std::string path :
       {"/static/../atlas.db", "/static/..%2f..%2fatlas.db", "/static/%2e%2e/atlas.db", "/img/vis/..%2fatlas.db",
        "/img/vis/0/../../atlas.db", "/atlas.db", "/static/", "/img/example/visual.layer4/0/top_max/..%2f..%2fatlas.db",
        "/api/words/..%2f..%2fatlas.db", "/static/index.html%00.db"}) {
    const auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_GE(r->status, 400) << path;
    EXPECT_LT(r->status, 500) << path;
    EXPECT_EQ(r->body.find(db), std::string::npos) << path;
    EXPECT_EQ(r->body.find("SQLite format"), std::string::npos) << path;
  }
  // The page itself.
  auto r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r->body.find("/static/app.js"), std::string::npos);
  r = c.Get("/static/app.js");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  expect_error(c.Get("/static/missing.js"), 404, "/static/missing.js");
}

TEST_F(ServeTest, NeighborsByCorrelationAreCorrelations) {
  const int unit = 20;
  const json j = body_json(live_->client().Get("/api/units/visual.layer4/20/neighbors?by=correlation&k=5"));
  ASSERT_EQ(j["items"].size(), 5u);
  const auto a = open_atlas();
  const auto path = *a.matrix(a.layer("visual.layer4"), atlas::Quantity::Max);
  auto pearson = [&](int64_t u, int64_t v) {
    const auto x = atlas::read_matrix_row(path, u), y = atlas::read_matrix_row(path, v);
    double mx = 0, my = 0;
    for (size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
    mx /= x.size(), my /= y.size();
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < x.size(); ++i)
      sxy += (x[i] - mx) * (y[i] - my), sxx += (x[i] - mx) * (x[i] - mx), syy += (y[i] - my) * (y[i] - my);
    return sxy / std::sqrt(sxx * syy);
  };
  double best_other = -2;
  for (int64_t v = 0; v < 512; ++v)
    if (v != unit) best_other = std::max(best_other, pearson(unit, v));
  for (size_t i = 0; i < 5; ++i) {
    const int64_t v = j["items"][i]["unit"];
    EXPECT_NE(v, unit);
    EXPECT_NEAR(j["items"][i]["score"].get<double>(), pearson(unit, v), 1e-4);
    if (i) {
      EXPECT_LE(j["items"][i]["score"], j["items"][i - 1]["score"]);
    }
  }
  EXPECT_NEAR(j["items"][0]["score"].get<double>(), best_other, 1e-4);
  const json w = body_json(live_->client().Get("/api/units/visual.layer4/20/neighbors?by=words&k=3"));
  EXPECT_EQ(w["items"].size(), 3u);
  expect_error(live_->client().Get("/api/units/visual.layer4/20/neighbors?by=colour"), 400, "by 'colour'");
}

TEST_F(ServeTest, SearchFindsWordsAndTextDirections) {
  auto c = live_->client();
  json j = body_json(c.Get("/api/search?q=Red&k=4"));  // case folded when the exact word is absent
  const auto db = words::WordDatabase::open(*dir_ / "atlas");
  const auto expected = db.word_units(db.set("visual.layer4"), "red", 4);
  ASSERT_EQ(j["words"].size(), 1u);
  EXPECT_EQ(j["words"][0]["word"], "red");
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(j["words"][0]["units"][i]["unit"], expected[i].unit);
  ASSERT_TRUE(j["text"].is_object());
  EXPECT_EQ(j["text"]["layer"], "visual.layer4");
  ASSERT_EQ(j["text"]["units"].size(), 4u);
  for (size_t i = 1; i < 4; ++i) EXPECT_LE(j["text"]["units"][i]["score"], j["text"]["units"][i - 1]["score"]);
  EXPECT_LE(j["text"]["units"][0]["score"].get<double>(), 1.0);
  // Any text, drawn and encoded as the database encodes its words: "red" comes out as stored.
  j = body_json(c.Get("/api/search?q=red&k=4"));
  ASSERT_EQ(j["rendered"].size(), 1u);
  const json& rendered = j["rendered"][0]["units"];
  ASSERT_EQ(rendered.size(), 4u);
  EXPECT_EQ(rendered[0]["unit"], expected[0].unit);
  EXPECT_NEAR(rendered[0]["value"].get<double>(), expected[0].value, 0.02 * std::abs(expected[0].value) + 1e-3);
  j = body_json(c.Get("/api/search?q=a%20cat"));  // a phrase the word list lacks
  EXPECT_TRUE(j["words"].empty());
  EXPECT_EQ(j["rendered"][0]["units"].size(), 12u) << j["rendered"].dump();
  j = body_json(c.Get("/api/search?q=%E4%B8%AD"));  // a character DejaVu lacks
  EXPECT_NE(j["rendered"][0]["problem"].get<std::string>().find("U+4E2D"), std::string::npos) << j.dump();
  EXPECT_TRUE(body_json(plain_->client().Get("/api/search?q=red"))["rendered"].is_null());
  j = body_json(c.Get("/api/search?q=ye"));
  EXPECT_EQ(j["suggestions"], json::array({"yellow"}));
  EXPECT_TRUE(j["words"].empty());
  EXPECT_TRUE(body_json(plain_->client().Get("/api/search?q=red"))["text"].is_null());
  expect_error(c.Get("/api/search"), 400, "q:");
  expect_error(c.Get(("/api/search?q=" + std::string(201, 'a')).c_str()), 400, "q:");
  // Text longer than the context is truncated, as clip.tokenize(truncate=True) does.
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "x%20";
  EXPECT_EQ(body_json(c.Get(("/api/search?q=" + long_text).c_str()))["text"]["units"].size(), 12u);
  // Word page.
  j = body_json(c.Get("/api/words/red?k=4"));
  EXPECT_EQ(j["sets"][0]["units"][0]["unit"], expected[0].unit);
  expect_error(c.Get("/api/words/zebra"), 404, "word 'zebra'");
}

TEST_F(ServeTest, ImageSearchReadsTheModelLikeTheAtlas) {
  auto c = live_->client();
  const std::string png = clipscope::testing::read_file(*dir_ / "world/images/000007.png");
  json j = body_json(c.Post("/api/search/image?k=5", png, "image/png"));
  ASSERT_EQ(j["layers"].size(), 1u);
  const json& units = j["layers"][0]["units"];
  ASSERT_EQ(units.size(), 5u);
  // The live value is the atlas's own value for this image (its max matrix, float16).
  const auto a = open_atlas();
  const auto path = *a.matrix(a.layer("visual.layer4"), atlas::Quantity::Max);
  for (const auto& u : units) {
    const float stored = atlas::read_matrix_row(path, u["unit"].get<int64_t>())[7];
    EXPECT_NEAR(u["value"].get<double>(), stored, 0.02 * std::abs(stored) + 1e-3) << u.dump();
  }
  for (size_t i = 1; i < units.size(); ++i) EXPECT_LE(units[i]["std"], units[i - 1]["std"]);
  expect_error(c.Post("/api/search/image", std::string(2 << 20, 'x'), "image/png"), 413, "upload too large");
  expect_error(c.Post("/api/search/image", "not an image", "image/png"), 400, "not a JPEG or PNG");
  expect_error(c.Post("/api/search/image", "", "image/png"), 400, "empty");
  expect_error(plain_->client().Post("/api/search/image", png, "image/png"), 503, "--model");
}

TEST_F(ServeTest, RendersMissingVisualizationsInTheBackground) {
  auto c = live_->client();
  expect_error(plain_->client().Post("/api/units/visual.layer4/30/render", "", "text/plain"), 503, "--model");
  expect_error(c.Post("/api/units/visual.layer4/800/render", "", "text/plain"), 404, "unit 800");
  auto r = c.Post("/api/units/visual.layer4/30/render", "", "text/plain");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  const int64_t id = json::parse(r->body)["job"]["id"];
  json job;
  for (int i = 0; i < 600; ++i) {
    job = body_json(c.Get(("/api/jobs/" + std::to_string(id)).c_str()));
    if (job["status"] == "done" || job["status"] == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(job["status"], "done") << job.dump();
  EXPECT_EQ(job["step"], 6);
  const json unit = body_json(c.Get("/api/units/visual.layer4/30"));
  ASSERT_EQ(unit["vis"].size(), 1u);
  EXPECT_TRUE(unit["job"].is_null());
  r = c.Get(unit["vis"][0]["url"].get<std::string>().c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(fs::exists(*dir_ / "atlas/optvis/serve/visual.layer4_30/visualize.json"));
  expect_error(c.Get("/api/jobs/999"), 404, "job 999");
}

TEST_F(ServeTest, MaximalTextsStoredByTheCommandOrFoundOnRequestShowOnUnitPages) {
  auto c = live_->client();
  // Stored by the command: the unit page lists them as the command printed them.
  const auto cli = run_clipscope({"-q", "maximal-text", "--atlas", (*dir_ / "atlas").string(), "--unit",
                                  "visual.layer4:20-21", "--generations", "3"});
  ASSERT_EQ(cli.code, 0) << cli.err;
  json unit = body_json(c.Get("/api/units/visual.layer4/21"));
  ASSERT_EQ(unit["maximal_texts"].size(), 1u) << unit["maximal_texts"].dump();
  const json& stored = unit["maximal_texts"][0];
  EXPECT_EQ(stored["method"], "hill-climb");
  EXPECT_EQ(stored["options"]["generations"], 3);
  ASSERT_FALSE(stored["texts"].empty());
  const std::string top = stored["texts"][0]["text"];
  EXPECT_NE(cli.out.find("visual.layer4:21\t"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find(top), std::string::npos) << cli.out;
  EXPECT_TRUE(unit["can_find_text"].get<bool>());
  EXPECT_FALSE(body_json(plain_->client().Get("/api/units/visual.layer4/21"))["can_find_text"].get<bool>());
  EXPECT_EQ(body_json(plain_->client().Get("/api/units/visual.layer4/21"))["maximal_texts"].size(), 1u);
  // A second run skips the units already stored (and prints them again).
  const auto again = run_clipscope(
      {"maximal-text", "--atlas", (*dir_ / "atlas").string(), "--unit", "visual.layer4:20-21", "--generations", "3"});
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.out, cli.out);
  EXPECT_EQ(body_json(c.Get("/api/units/visual.layer4/21"))["maximal_texts"][0]["seconds"], stored["seconds"]);

  // Found on request: a job whose steps are the generations, then stored in the atlas.
  expect_error(plain_->client().Post("/api/units/visual.layer4/31/maximal-text", "", "text/plain"), 503, "--model");
  expect_error(c.Post("/api/units/visual.layer4/800/maximal-text", "", "text/plain"), 404, "unit 800");
  EXPECT_TRUE(body_json(c.Get("/api/units/visual.layer4/31"))["maximal_texts"].empty());
  auto r = c.Post("/api/units/visual.layer4/31/maximal-text", "", "text/plain");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  json job = json::parse(r->body)["job"];
  EXPECT_EQ(job["kind"], "maximal-text");
  EXPECT_EQ(job["steps"], 60);  // serve's default generations
  for (int i = 0; i < 600 && job["status"] != "done" && job["status"] != "failed"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    job = body_json(c.Get(("/api/jobs/" + job["id"].dump()).c_str()));
  }
  ASSERT_EQ(job["status"], "done") << job.dump();
  EXPECT_EQ(job["step"], 60);
  unit = body_json(c.Get("/api/units/visual.layer4/31"));
  EXPECT_TRUE(unit["maximal_text_job"].is_null());
  ASSERT_EQ(unit["maximal_texts"].size(), 1u);
  EXPECT_EQ(unit["maximal_texts"][0]["options"]["generations"], 60);
  EXPECT_GE(unit["maximal_texts"][0]["texts"].size(), 10u);
  auto db = open_atlas();
  EXPECT_EQ(maxtext::stored_results(db.database(), "visual.layer4", 31).size(), 1u);
}

TEST_F(ServeTest, LabelsAndFamiliesShowOnTheGridUnitPagesAndSearch) {
  if (!fs::exists("/usr/share/wordnet/data.noun")) GTEST_SKIP() << "WordNet not installed (Debian's wordnet-base)";
  auto c = plain_->client();
  // Before labelling: no labels, no families, no label results.
  json grid = body_json(c.Get("/api/layers/visual.layer4/units?limit=5"));
  EXPECT_TRUE(grid["items"][0]["label"].is_null());
  ASSERT_EQ(run_clipscope({"label", "--atlas", (*dir_ / "atlas").string(), "--concepts", (*dir_ / "words.txt").string(),
                           "--quantity", "max", "--top", "3"})
                .code,
            0);
  ASSERT_EQ(run_clipscope({"families", "--atlas", (*dir_ / "atlas").string()}).code, 0);
  const auto labels = labels::stored_layer_labels(*dir_ / "atlas", "visual.layer4");
  ASSERT_EQ(labels.size(), 512u);

  // The grid: every unit's top label and family; the filter keeps one family.
  grid = body_json(c.Get("/api/layers/visual.layer4/units?offset=10&limit=5"));
  for (const auto& item : grid["items"]) {
    const int64_t u = item["unit"];
    EXPECT_EQ(item["label"], labels.at(u).front().concept_name);
    EXPECT_EQ(item["family"], labels::family_name(labels::stored_family(*dir_ / "atlas", "visual.layer4", u)->family));
  }
  const json overview = body_json(c.Get("/api/atlas"));
  const json& counts = overview["layers"][0]["families"];
  EXPECT_EQ(overview["layers"][0]["label_method"], "soft-wpmi");
  int64_t total = 0;
  for (const auto& [name, n] : counts.items()) total += n.get<int64_t>();
  EXPECT_EQ(total, 512);
  const int64_t others = counts["other"];
  grid = body_json(c.Get("/api/layers/visual.layer4/units?family=other&limit=1000"));
  EXPECT_EQ(grid["units"], others);
  EXPECT_EQ(grid["items"].size(), static_cast<size_t>(others));
  for (const auto& item : grid["items"]) EXPECT_EQ(item["family"], "other");
  expect_error(c.Get("/api/layers/visual.layer4/units?family=weather"), 400, "family 'weather'");

  // The unit page: its labels with scores, the method, its family and words.
  const json unit = body_json(c.Get("/api/units/visual.layer4/12"));
  ASSERT_EQ(unit["labels"].size(), 3u);
  EXPECT_EQ(unit["labels"][0]["label"], labels.at(12)[0].concept_name);
  EXPECT_NEAR(unit["labels"][0]["score"].get<double>(), labels.at(12)[0].score, 1e-6);
  EXPECT_EQ(unit["label_method"], "soft-wpmi");
  ASSERT_TRUE(unit["family"].is_object());
  EXPECT_FALSE(unit["family"]["words"].empty());  // the word database's top words

  // Search by label: units whose labels are the word, exact ones first.
  const std::string word = labels.at(12)[0].concept_name;
  const json found = body_json(c.Get(("/api/search?q=" + word + "&k=100").c_str()));
  bool has_12 = false;
  for (const auto& m : found["labels"]) {
    EXPECT_EQ(m["label"], word);
    has_12 = has_12 || m["unit"] == 12;
  }
  EXPECT_TRUE(has_12) << found["labels"].dump();
  EXPECT_TRUE(body_json(c.Get("/api/search?q=zebra"))["labels"].empty());
}

TEST_F(ServeTest, AUnitsCircuitIsItsExpandedWeightsAndResidualShare) {
  auto c = live_->client();
  const json j = body_json(c.Get("/api/units/visual.layer4/12/circuit?k=5&examples=6"));
  EXPECT_EQ(j["block"], "visual.layer4.0");
  EXPECT_EQ(j["from"], "visual.layer3.0");
  // The same as the library on the same model and the same examples.
  CLIP model = load_clip("demo");
  const auto w = circuits::expanded_weights(model, "visual.layer3.0", "visual.layer4.0", 12);
  ASSERT_EQ(j["inputs"].size(), 5u) << j.dump();
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(j["inputs"][i]["unit"], w.ranked[i].first);
    EXPECT_NEAR(j["inputs"][i]["l2"].get<double>(), w.ranked[i].second, 1e-4);
    EXPECT_FALSE(j["inputs"][i].contains("thumb"));  // the atlas has no layer3
  }
  auto atlas = open_atlas();
  std::vector<fs::path> paths;
  for (const auto& e : atlas.examples(atlas.layer("visual.layer4"), 12, atlas::ExampleList::TopMax, 6))
    paths.push_back(e.path);
  const auto share = circuits::residual_share(model, "visual.layer4", paths).units[12];
  ASSERT_FALSE(j["residual_share"]["share"].is_null()) << j.dump();
  EXPECT_EQ(j["residual_share"]["images"], share.images);
  EXPECT_NEAR(j["residual_share"]["share"].get<double>(), share.share, 0.02);  // the server runs at bf16 or fp32
  expect_error(plain_->client().Get("/api/units/visual.layer4/12/circuit"), 503, "--model");
  expect_error(c.Get("/api/units/visual.layer4/9999/circuit"), 404, "unit 9999");

  // An atlas that has the input layer too: the input units get thumbnails that load.
  const fs::path both = *dir_ / "atlas-both";
  ASSERT_EQ(run_clipscope({"index", "--layers", "visual.layer3,visual.layer4", "--images",
                           (*dir_ / "world/images").string(), "--out", both.string(), "--k", "4"})
                .code,
            0);
  ServeProcess server({"--atlas", both.string(), "--model", "demo"});
  auto c2 = server.client();
  const json k = body_json(c2.Get("/api/units/visual.layer4/12/circuit?k=3"));
  ASSERT_EQ(k["inputs"].size(), 3u) << k.dump();
  EXPECT_EQ(k["inputs"][0]["unit"], w.ranked[0].first);
  EXPECT_EQ(k["inputs"][0]["layer"], "visual.layer3");
  const auto thumb = c2.Get(k["inputs"][0]["thumb"].get<std::string>().c_str());
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->status, 200);
  EXPECT_EQ(body_json(c2.Get("/api/units/visual.layer3/1/circuit"))["from"], "visual.layer2.0");
}

TEST_F(ServeTest, FeaturedUnitsLeadTheOverviewAndGetRendered) {
  // ATLAS/featured.json (the tour writes one): units of layers or ranges the atlas lacks are dropped.
  const fs::path file = *dir_ / "atlas/featured.json";
  clipscope::testing::write_file(file, R"({"title": "Multimodal units", "description": "why", "units": [
      {"layer": "visual.layer4", "unit": 41, "note": "red: picture 3 std, written name 4 std"},
      {"layer": "visual.layer3", "unit": 1, "note": "a layer the atlas lacks"},
      {"layer": "visual.layer4", "unit": 9000, "note": "out of range"},
      {"layer": "visual.layer4", "unit": 42}]})");
  {
    ServeProcess featured(
        {"--atlas", (*dir_ / "atlas").string(), "--model", "demo", "--render-featured", "--render-steps", "4"});
    auto c = featured.client();
    const json atlas = body_json(c.Get("/api/atlas"));
    ASSERT_TRUE(atlas["featured"].is_object()) << atlas.dump();
    EXPECT_EQ(atlas["featured"]["title"], "Multimodal units");
    EXPECT_EQ(atlas["featured"]["description"], "why");
    const json& units = atlas["featured"]["units"];
    ASSERT_EQ(units.size(), 2u) << units.dump();
    EXPECT_EQ(units[0]["unit"], 41);
    EXPECT_EQ(units[0]["note"], "red: picture 3 std, written name 4 std");
    EXPECT_EQ(units[1]["note"], "");
    // --render-featured queued both units' visualizations at start-up.
    json unit;
    for (int i = 0; i < 600; ++i) {
      unit = body_json(c.Get("/api/units/visual.layer4/42"));
      if (!unit["vis"].empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(unit["vis"].size(), 1u) << unit["job"].dump();
    EXPECT_EQ(body_json(c.Get("/api/units/visual.layer4/41"))["vis"].size(), 1u);
    // The overview's thumbnail is now the visualization.
    EXPECT_EQ(body_json(c.Get("/api/atlas"))["featured"]["units"][1]["thumb"].get<std::string>().rfind("/img/vis/", 0),
              0u);
  }
  // The overview of an atlas without the file has none; a broken file is a one-line error naming it.
  EXPECT_TRUE(body_json(plain_->client().Get("/api/atlas"))["featured"].is_null());
  clipscope::testing::write_file(file, "{\"units\": [");
  clipscope::testing::expect_one_line_error(
      run_clipscope({"serve", "--atlas", (*dir_ / "atlas").string(), "--port", "0"}), "featured.json");
  fs::remove(file);
  fs::remove_all(*dir_ / "atlas/optvis/serve/visual.layer4_41");
  fs::remove_all(*dir_ / "atlas/optvis/serve/visual.layer4_42");
}

TEST(ServeCli, BadArgumentsAreOneLineErrors) {
  using clipscope::testing::expect_one_line_error;
  const fs::path dir = clipscope::testing::temp_dir("serve-cli");
  expect_one_line_error(run_clipscope({"serve", "--atlas", (dir / "none").string()}), (dir / "none").string());
  expect_one_line_error(run_clipscope({"serve", "--atlas", dir.string(), "--port", "70000"}), "--port 70000");
  fs::remove_all(dir);
}

}  // namespace
