#include "tour/tour.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "atlas/atlas.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "demo/concepts.h"
#include "words/database.h"
#include "world/catalog.h"
#include "world/generator.h"

namespace clipscope::tour {

namespace fs = std::filesystem;

namespace {

void say(const TourOptions& o, const std::string& line) {
  if (o.progress) fmt::print(stderr, "tour: {}\n", line);
}

// The world's images in order (write_world names them by index).
std::vector<fs::path> world_images(const fs::path& world_dir) {
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(world_dir / "images"))
    if (entry.path().extension() == ".png") paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::vector<FeaturedUnit> read_featured(const fs::path& file) {
  std::ifstream in(file);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not a featured-units file ({})", file.string(), e.what()));
  }
  std::vector<FeaturedUnit> units;
  for (const auto& u : j.value("units", nlohmann::json::array())) {
    FeaturedUnit f;
    f.layer = u.value("layer", "");
    f.unit = u.value("unit", int64_t{0});
    f.concept_name = u.value("concept", "");
    f.family = u.value("family", "");
    f.picture_z = u.value("picture_z", 0.0);
    f.word_z = u.value("word_z", 0.0);
    units.push_back(f);
  }
  return units;
}

// The most multimodal units of `layer`: for each evaluated concept its best unit
// (max over units of min(picture z, written-name z)), best concepts first, each unit once.
std::vector<FeaturedUnit> find_multimodal(CLIP& model, const Tokenizer& tokenizer, const TourOptions& o) {
  demo::ConceptOptions co;
  co.layers = {o.layer};
  co.concepts = o.concepts;
  co.images = o.images_per_concept;
  co.multimodal_only = true;
  const demo::ConceptReport report = demo::concept_report(model, tokenizer, co, o.progress);
  std::vector<demo::ConceptUnit> best = report.layers.at(0).concepts;
  std::sort(best.begin(), best.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
  std::vector<FeaturedUnit> out;
  std::set<int64_t> seen;
  for (const auto& c : best) {
    if (static_cast<int>(out.size()) >= o.featured) break;
    if (c.unit < 0 || !seen.insert(c.unit).second) continue;
    out.push_back({report.layers.at(0).layer, c.unit, c.name, c.family, c.object_z, c.word_z});
  }
  return out;
}

}  // namespace

nlohmann::json FeaturedUnit::to_json() const {
  return {{"layer", layer},
          {"unit", unit},
          {"concept", concept_name},
          {"family", family},
          {"picture_z", picture_z},
          {"word_z", word_z},
          {"note", fmt::format("{} ({}): picture {:.1f} std, written name {:.1f} std", concept_name, family, picture_z,
                               word_z)}};
}

fs::path featured_file(const fs::path& atlas_dir) { return atlas_dir / "featured.json"; }

TourResult build_tour(CLIP& model, const atlas::ModelIdentity& identity, const Tokenizer& tokenizer,
                      const TourOptions& o) {
  if (o.images < 1) throw Error(fmt::format("tour images = {}: must be >= 1", o.images));
  if (o.featured < 1) throw Error(fmt::format("tour featured = {}: must be >= 1", o.featured));
  TourResult r;
  r.world = o.dir / "world";
  r.atlas = o.dir / "atlas";
  std::error_code ec;
  fs::create_directories(o.dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the tour directory ({})", o.dir.string(), ec.message()));
  auto done = [&r](const std::string& step, bool reused) { (reused ? r.steps_reused : r.steps_done).push_back(step); };

  // 1. The world, drawn into world.part and renamed when complete.
  const bool have_world = fs::exists(r.world / "labels.jsonl");
  if (!have_world) {
    say(o, fmt::format("drawing {} images of the world (seed {}) into {}", o.images, o.world_seed, r.world.string()));
    world::WorldOptions wo;
    wo.size = static_cast<int>(model->config().image_resolution);
    write_atomically(r.world, [&](const fs::path& part) {
      fs::remove_all(part, ec);  // an interrupted run's
      world::write_world(part, o.images, world::World(o.world_seed, wo), 0, o.progress);
    });
  }
  done("world", have_world);

  // 2. The atlas: top examples and statistics of every unit, and each image's max.
  atlas::IndexOptions io;
  io.layers = {o.layer};
  io.k = o.k;
  io.matrix_layers = {o.layer};
  io.matrix_quantities = {atlas::Quantity::Max};
  io.progress = o.progress;
  io.command_line = "clipscope tour";
  const auto images = world_images(r.world);
  if (images.empty()) throw Error(fmt::format("{}: has no images; remove it and run the tour again", r.world.string()));
  if (!atlas::Atlas::exists(r.atlas)) say(o, fmt::format("indexing {} images at {}", images.size(), o.layer));
  const atlas::IndexResult indexed = atlas::index_images(model, identity, images, r.atlas, io);
  done("index", indexed.already_complete);

  // 3. The word database: every concept name of the world, drawn as the demo model sees words.
  const fs::path list = o.dir / "words.txt";
  if (!fs::exists(list)) {
    std::string text;
    for (const auto& c : world::catalog().concepts()) text += c.name + "\n";
    write_file_atomically(list, text);
  }
  words::BuildOptions wo;
  wo.layer = o.layer;
  wo.style.canvas = static_cast<int>(model->config().image_resolution);
  wo.style.sizes = {10, 13};
  wo.style.stroke = 0;
  wo.progress = o.progress;
  const words::BuildResult built = words::build_word_set(model, identity, list, r.atlas, wo);
  done("words", built.already_complete);

  // 4. The featured units: the layer's most multimodal units.
  const fs::path featured = featured_file(r.atlas);
  if (fs::exists(featured)) {
    r.featured = read_featured(featured);
    done("featured", true);
  } else {
    say(o, fmt::format("looking for multimodal units among {} concepts", o.concepts));
    r.featured = find_multimodal(model, tokenizer, o);
    nlohmann::json j = {
        {"title", "Multimodal units"},
        {"description", fmt::format("Units of {} that respond to a concept both as a picture and as its written name "
                                    "(demo-report's score: the smaller of the two z, each against the other concepts)",
                                    o.layer)},
        {"units", nlohmann::json::array()}};
    for (const auto& f : r.featured) j["units"].push_back(f.to_json());
    write_file_atomically(featured, j.dump(2) + "\n");
    done("featured", false);
  }
  return r;
}

}  // namespace clipscope::tour
