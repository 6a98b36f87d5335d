// The atlas commands end to end on the demo model and a generated world: real
// processes (mpirun included), a real SIGKILL, real files.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "atlas/atlas.h"
#include "atlas/queries.h"
#include "core/hub/zoo.h"
#include "core/image/image.h"
#include "support/cli_runner.h"
#include "support/shared_data.h"

namespace clipscope {
namespace {

namespace fs = std::filesystem;
using testing::expect_one_line_error;
using testing::run_clipscope;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The tables that carry results, as text (the run's own metadata left out).
std::string results(const fs::path& atlas) {
  SQLite::Database db((atlas / "atlas.db").string(), SQLite::OPEN_READONLY);
  std::string out;
  for (const char* sql :
       {"SELECT * FROM images ORDER BY id", "SELECT * FROM examples ORDER BY layer, unit, list, rank",
        "SELECT * FROM unit_stats ORDER BY layer, unit, quantity", "SELECT layer, hex(state) FROM accumulators"}) {
    SQLite::Statement q(db, sql);
    while (q.executeStep()) {
      for (int c = 0; c < q.getColumnCount(); ++c) out += q.getColumn(c).getString() + "|";
      out += "\n";
    }
  }
  for (const auto& f : fs::directory_iterator(atlas / "matrix")) out += testing::read_file(f.path());
  return out;
}

class AtlasCommands : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(demo_model_path())) return;
    root_ = new fs::path(testing::temp_dir("clipscope-atlas-cli"));
    const auto r =
        run_clipscope({"world", "--edition", "1", "--n", "400", "--seed", "5", "--out", (*root_ / "world").string()});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto a = run_clipscope(index_args(*root_ / "atlas"));
    ASSERT_EQ(a.code, 0) << a.err;
  }
  static void TearDownTestSuite() {
    delete root_;
    root_ = nullptr;
  }
  void SetUp() override {
    if (!root_) GTEST_SKIP() << "demo model not found (train it with train-demo)";
  }
  static std::vector<std::string> index_args(const fs::path& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "index", "--layers",    "visual.layer4", "--images", (*root_ / "world" / "images").string(),
        "--out", out.string(),  "--k",           "20",       "--matrix",
        "max",   "--precision", "exact"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  static fs::path atlas() { return *root_ / "atlas"; }
  static fs::path world() { return *root_ / "world"; }
  static fs::path* root_;
};
fs::path* AtlasCommands::root_ = nullptr;

TEST_F(AtlasCommands, TopListsExamplesAndDrawsASheet) {
  const auto sheet = testing::temp_dir() / "top.png";
  const auto r = run_clipscope(
      {"top", "--atlas", atlas().string(), "--unit", "visual.layer4:7", "--k", "6", "--sheet", sheet.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto out = lines(r.out);
  ASSERT_EQ(out.size(), 8u) << r.out;  // summary, header, 6 examples
  EXPECT_NE(out[0].find("visual.layer4:7 top_max (400 images"), std::string::npos);
  double previous = INFINITY;
  for (size_t i = 2; i < out.size(); ++i) {
    const double value = std::stod(out[i].substr(out[i].find('\t') + 1));
    EXPECT_LE(value, previous);
    previous = value;
    EXPECT_NE(out[i].find((world() / "images").string()), std::string::npos);
  }
  const Image png = read_image(sheet);
  EXPECT_GT(png.width, 5 * 100);

  const auto bottom =
      run_clipscope({"top", "--atlas", atlas().string(), "--unit", "visual.layer4:7", "--bottom", "--k", "3"});
  ASSERT_EQ(bottom.code, 0) << bottom.err;
  EXPECT_NE(bottom.out.find("bottom_min"), std::string::npos);
}

TEST_F(AtlasCommands, StatsDescribeTheAtlasAndAUnit) {
  const auto overview = run_clipscope({"stats", "--atlas", atlas().string()});
  ASSERT_EQ(overview.code, 0) << overview.err;
  EXPECT_NE(overview.out.find("400 readable, 0 skipped"), std::string::npos) << overview.out;
  EXPECT_NE(overview.out.find("read at visual.layer4.0.add"), std::string::npos);
  const auto histogram = testing::temp_dir() / "h.png";
  const auto unit = run_clipscope(
      {"stats", "--atlas", atlas().string(), "--unit", "visual.layer4:7", "--histogram", histogram.string()});
  ASSERT_EQ(unit.code, 0) << unit.err;
  EXPECT_NE(unit.out.find("count\t400"), std::string::npos);
  EXPECT_TRUE(fs::exists(histogram));
}

TEST_F(AtlasCommands, ShardsMergedEqualTheSingleRun) {
  const auto dir = testing::temp_dir();
  for (int i = 0; i < 2; ++i) {
    const auto r = run_clipscope(index_args(dir / fmt::format("s{}", i), {"--shard", fmt::format("{}/2", i)}));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  const auto m = run_clipscope({"merge", (dir / "s1").string(), (dir / "s0").string(), "--out", (dir / "m").string()});
  ASSERT_EQ(m.code, 0) << m.err;
  testing::expect_same_text(results(dir / "m"), results(atlas()), "merged and single-run atlases");
  expect_one_line_error(run_clipscope({"merge", (dir / "s1").string(), "--out", (dir / "m2").string()}), "missing");
}

TEST_F(AtlasCommands, MpiWithTwoRanksEqualsOneProcess) {
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun not installed (openmpi-bin)";
  const auto out = testing::temp_dir() / "mpi";
  std::string cmd =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 mpirun -np 2 " +
      testing::shell_quote(CLIPSCOPE_BINARY) + " --quiet";
  for (const auto& a : index_args(out)) cmd += " " + testing::shell_quote(a);
  const auto log = testing::temp_dir() / "mpi.log";
  const int status = std::system((cmd + " >" + log.string() + " 2>&1").c_str());
  ASSERT_EQ(WEXITSTATUS(status), 0) << testing::read_file(log);
  EXPECT_FALSE(fs::exists(out / "shards"));  // merged and cleaned up
  testing::expect_same_text(results(out), results(atlas()), "2-rank MPI and single-process atlases");
}

TEST_F(AtlasCommands, AKilledIndexResumesToTheSameAtlas) {
  const auto dir = testing::temp_dir();
  const auto out = dir / "killed";
  // Slow enough to be killed mid-run: one thread, small batches, a checkpoint after every batch.
  // Every run on one thread: kernels may round differently with other thread counts.
  auto args = index_args(out, {"--checkpoint-seconds", "0", "--batch-size", "4", "--threads", "1"});
  std::string cmd = testing::shell_quote(CLIPSCOPE_BINARY) + " --quiet";
  for (const auto& a : args) cmd += " " + testing::shell_quote(a);
  const auto pid_file = dir / "pid";
  ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1 & echo $! >" + pid_file.string()).c_str()), 0);
  const pid_t pid = std::stoi(testing::read_file(pid_file));
  int64_t next = 0;
  for (int i = 0; i < 400 && next <= 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    try {
      if (!fs::exists(out / "atlas.db")) continue;
      SQLite::Database db((out / "atlas.db").string(), SQLite::OPEN_READONLY);
      db.setBusyTimeout(1000);
      next = std::stoll(db.execAndGet("SELECT value FROM meta WHERE key = 'next_input'").getString());
    } catch (const std::exception&) {}
  }
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  {
    SQLite::Database db((out / "atlas.db").string(), SQLite::OPEN_READONLY);
    ASSERT_EQ(db.execAndGet("SELECT value FROM meta WHERE key = 'status'").getString(), "indexing")
        << "the run finished before it could be killed";
  }
  const auto resumed = run_clipscope(args);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  // --batch-size differs from the reference atlas, so compare with an uninterrupted run of the same settings.
  const auto whole = run_clipscope(index_args(dir / "whole", {"--batch-size", "4", "--threads", "1"}));
  ASSERT_EQ(whole.code, 0) << whole.err;
  testing::expect_same_text(results(out), results(dir / "whole"), "resumed and uninterrupted atlases");
}

// A disk filling up mid-run, simulated with a file-size limit (writes past it fail
// with EFBIG as writes to a full disk fail with ENOSPC): one line naming the file
// and the reason, a consistent atlas left behind, and the same command run again
// finishes it, identical to a run that never failed. Once while creating the
// matrix, once while writing the final tables.
TEST_F(AtlasCommands, AFullDiskStopsTheRunCleanlyAndItResumes) {
  if (std::system("command -v prlimit >/dev/null 2>&1") != 0) GTEST_SKIP() << "prlimit not installed (util-linux)";
  const auto matrix = atlas() / "matrix" / "visual.layer4.max.npy";
  const auto database = atlas() / "atlas.db";
  // (when, file-size limit, the file that hits it, where the last checkpoint got to)
  const std::vector<std::tuple<std::string, uintmax_t, std::string, int>> cases = {
      {"creating the matrix", fs::file_size(matrix) / 2, matrix.filename().string(), 0},
      {"writing the final tables", fs::file_size(database) - 65536, database.filename().string(), 400},
  };
  for (const auto& [when, limit, file, checkpointed] : cases) {
    SCOPED_TRACE(when);
    const auto out = testing::temp_dir() / "full";
    // An ignored SIGXFSZ survives exec: the write fails instead of killing the process.
    const auto failed = run_clipscope(index_args(out), fmt::format("trap '' XFSZ; prlimit --fsize={}", limit));
    expect_one_line_error(failed, (out / (file == "atlas.db" ? "atlas.db" : "matrix/" + file)).string());
    // SQLite reports EFBIG as an I/O error (ENOSPC as "database or disk is full"); our own writes name the reason.
    EXPECT_NE(failed.err.find(file == "atlas.db" ? "disk I/O error" : "File too large"), std::string::npos)
        << failed.err;
    {
      // Opened writable, as the next run opens it: SQLite rolls back any interrupted transaction.
      SQLite::Database db((out / "atlas.db").string(), SQLite::OPEN_READWRITE);
      EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
      EXPECT_EQ(db.execAndGet("SELECT value FROM meta WHERE key = 'status'").getString(), "indexing");
      EXPECT_EQ(db.execAndGet("SELECT count(*) FROM examples").getInt(), 0);
      EXPECT_EQ(db.execAndGet("SELECT value FROM meta WHERE key = 'next_input'").getString(),
                std::to_string(checkpointed));
    }
    const auto resumed = run_clipscope(index_args(out));
    ASSERT_EQ(resumed.code, 0) << resumed.err;
    testing::expect_same_text(results(out), results(atlas()), "atlas finished after a full disk vs the reference");
  }
}

// An output that cannot be written: one line naming it, whoever runs the test;
// a read-only directory only where permissions apply (not as root).
TEST_F(AtlasCommands, AnUnwritableOutputGetsOneLineNamingIt) {
  const auto dir = testing::temp_dir();
  std::ofstream(dir / "file") << "not a directory";
  expect_one_line_error(run_clipscope(index_args(dir / "file" / "atlas")),
                        (dir / "file" / "atlas").string() + ": cannot create the atlas directory (Not a directory)");
  if (::geteuid() == 0) return;
  fs::create_directories(dir / "locked");
  fs::permissions(dir / "locked", fs::perms::owner_read | fs::perms::owner_exec);
  expect_one_line_error(run_clipscope(index_args(dir / "locked")), (dir / "locked").string());
  fs::permissions(dir / "locked", fs::perms::owner_all);
}

TEST_F(AtlasCommands, BucketsAreBlindAndCondprobReadsLabelsBack) {
  const auto dir = testing::temp_dir();
  const auto r = run_clipscope({"buckets", "--atlas", atlas().string(), "--unit", "visual.layer4:7", "--bins", "5",
                                "--per-bin", "4", "--out", (dir / "b").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto labels = lines(testing::read_file(dir / "b" / "labels.csv"));
  const auto key = lines(testing::read_file(dir / "b" / "key.csv"));
  ASSERT_EQ(labels.front(), "sample,image,path,label");  // nothing about activations
  ASSERT_EQ(labels.size(), key.size());
  ASSERT_GE(labels.size(), 6u);
  EXPECT_TRUE(fs::exists(dir / "b" / "sheet.png"));
  // A labeller who wrote each sample's bucket as its label gets P(label = b | bucket b) = 1.
  std::ofstream filled(dir / "filled.csv");
  filled << "image,label\n";
  for (size_t i = 1; i < key.size(); ++i) {
    std::vector<std::string> k;
    std::istringstream fields(key[i]);
    for (std::string f; std::getline(fields, f, ',');) k.push_back(f);
    filled << k[1] << ",bucket" << k[2] << "\n";
  }
  filled.close();
  const auto cp = run_clipscope({"condprob", "--atlas", atlas().string(), "--unit", "visual.layer4:7", "--labels",
                                 (dir / "filled.csv").string(), "--bins", "5", "--out", (dir / "cp.png").string()});
  ASSERT_EQ(cp.code, 0) << cp.err;
  const auto table = lines(cp.out);
  ASSERT_EQ(table.size(), 6u) << cp.out;
  const auto header = table[0];
  for (size_t b = 1; b < table.size(); ++b) {
    std::vector<std::string> cells;
    std::istringstream fields(table[b]);
    for (std::string f; std::getline(fields, f, '\t');) cells.push_back(f);
    if (std::stoi(cells[2]) == 0) continue;
    // Column of label "bucket{b-1}".
    std::vector<std::string> names;
    std::istringstream h(header);
    for (std::string f; std::getline(h, f, '\t');) names.push_back(f);
    const auto it = std::find(names.begin(), names.end(), fmt::format("bucket{}", b - 1));
    ASSERT_NE(it, names.end());
    EXPECT_EQ(cells[static_cast<size_t>(it - names.begin())], "1.0000") << table[b];
  }
  EXPECT_TRUE(fs::exists(dir / "cp.png"));

  // Ground truth from the world, no human needed: probabilities per labelled bucket sum to 1.
  const auto truth = run_clipscope({"condprob", "--atlas", atlas().string(), "--unit", "visual.layer4:7", "--labels",
                                    (world() / "labels.jsonl").string(), "--label-key", "color", "--out",
                                    (dir / "truth.png").string()});
  ASSERT_EQ(truth.code, 0) << truth.err;
  const auto rows = lines(truth.out);
  ASSERT_EQ(rows.size(), 11u);
  for (size_t b = 1; b < rows.size(); ++b) {
    std::istringstream fields(rows[b]);
    std::vector<double> v;
    for (std::string f; std::getline(fields, f, '\t');) v.push_back(std::stod(f));
    if (v[2] == 0) continue;
    double sum = 0;
    for (size_t i = 3; i < v.size(); ++i) sum += v[i];
    EXPECT_NEAR(sum, 1.0, 1e-3) << rows[b];
  }
}

TEST_F(AtlasCommands, CategoriesSeparateRedFromBlueOnTheRedUnit) {
  // Folders of red and of blue objects, by ground truth.
  const auto root = testing::temp_dir() / "categories";
  std::ifstream labels(world() / "labels.jsonl");
  std::map<std::string, int> copied;
  std::vector<int> is_red;
  for (std::string line; std::getline(labels, line);) {
    const auto j = nlohmann::json::parse(line);
    const std::string color = j.value("color", "");
    is_red.push_back(color == "red" ? 1 : (j.contains("color") ? 0 : -1));
    if ((color == "red" || color == "blue") && copied[color] < 12) {
      fs::create_directories(root / color);
      fs::copy_file(world() / j["image"].get<std::string>(),
                    root / color / fs::path(j["image"].get<std::string>()).filename());
      ++copied[color];
    }
  }
  // The unit whose mean over red objects most exceeds its mean over other objects (in its
  // std from zero), from the atlas's matrix.
  const auto a = atlas::Atlas::open(atlas());
  const auto& layer = a.layer("visual.layer4");
  int64_t best = 0;
  double best_gap = -INFINITY;
  for (int64_t u = 0; u < layer.units; ++u) {
    const auto unit = atlas::unit_values(a, layer, u);
    double s[2] = {0, 0}, n[2] = {0, 0};
    for (size_t i = 0; i < unit.values.size(); ++i)
      if (is_red[i] >= 0) s[is_red[i]] += unit.values[i], ++n[is_red[i]];
    const double gap = (s[1] / n[1] - s[0] / n[0]) / unit.rms;
    if (gap > best_gap) best_gap = gap, best = u;
  }
  const auto r =
      run_clipscope({"categories", "--unit", fmt::format("visual.layer4:{}", best), "--dir", root.string(), "--atlas",
                     atlas().string(), "--precision", "exact", "--out", (root / "plot.png").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = lines(r.out);
  ASSERT_EQ(rows.size(), 3u) << r.out;
  EXPECT_EQ(rows[0], "category,images,skipped,median,std,mean");
  auto median = [](const std::string& row) {
    std::vector<std::string> f;
    std::istringstream in(row);
    for (std::string x; std::getline(in, x, ',');) f.push_back(x);
    return std::stod(f[3]);
  };
  EXPECT_EQ(rows[1].rfind("blue,12,0,", 0), 0u);
  EXPECT_EQ(rows[2].rfind("red,12,0,", 0), 0u);
  EXPECT_GT(median(rows[2]), median(rows[1]) + 1.0) << r.out;
  EXPECT_TRUE(fs::exists(root / "plot.png"));
}

TEST_F(AtlasCommands, BadInputGetsOneLineNamingIt) {
  const auto dir = testing::temp_dir();
  expect_one_line_error(run_clipscope({"index", "--layers", "visual.layer4", "--images", (dir / "nowhere/").string(),
                                       "--out", (dir / "a").string()}),
                        "nowhere");
  expect_one_line_error(run_clipscope(index_args(dir / "b", {"--shard", "2/2"})), "--shard 2/2");
  auto other_k = index_args(atlas());
  *(std::find(other_k.begin(), other_k.end(), "--k") + 1) = "5";
  expect_one_line_error(run_clipscope(other_k), "other settings (k: 20 vs 5)");
  expect_one_line_error(run_clipscope({"top", "--atlas", atlas().string(), "--unit", "visual.layer3:1"}),
                        "layer visual.layer3: not in atlas");
  expect_one_line_error(run_clipscope({"top", "--atlas", atlas().string(), "--unit", "visual.layer4:768"}),
                        "out of range");
  expect_one_line_error(run_clipscope({"top", "--atlas", atlas().string(), "--unit", "visual.layer4"}),
                        "expected LAYER:INDEX");
  expect_one_line_error(run_clipscope({"top", "--atlas", dir.string(), "--unit", "visual.layer4:1"}), "not an atlas");
  // No matrix: buckets says how to get one.
  const auto lean = run_clipscope({"index", "--layers", "visual.layer4", "--images", (world() / "images").string(),
                                   "--out", (dir / "lean").string()});
  ASSERT_EQ(lean.code, 0) << lean.err;
  expect_one_line_error(run_clipscope({"buckets", "--atlas", (dir / "lean").string(), "--unit", "visual.layer4:1",
                                       "--out", (dir / "bk").string()}),
                        "--matrix max");
}

}  // namespace
}  // namespace clipscope
