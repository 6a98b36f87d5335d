#include "labels/audit.h"

#include <SQLiteCpp/Database.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "atlas/atlas.h"
#include "atlas/sheets.h"
#include "core/image/image.h"
#include "core/util/csv.h"
#include "core/util/error.h"
#include "core/util/files.h"
#include "core/util/sqlite.h"
#include "core/util/strings.h"
#include "labels/families.h"
#include "labels/label_atlas.h"
#include "plot/sheet.h"
#include "words/database.h"

namespace fs = std::filesystem;

namespace clipscope::labels {

std::vector<AuditUnit> write_audit(const fs::path& atlas_dir, const fs::path& out, const AuditOptions& o) {
  if (o.n < 1) throw ArgumentError("n", std::to_string(o.n), "must be positive");
  const auto at = atlas::Atlas::open(atlas_dir);
  std::vector<const atlas::LayerInfo*> layers;
  if (o.layers.empty()) {
    for (const auto& l : at.layers()) layers.push_back(&l);
  } else {
    for (const auto& name : o.layers) layers.push_back(&at.layer(name));
  }
  int64_t total = 0;
  for (const auto* l : layers) total += l->units;
  if (o.n > total)
    throw ArgumentError("n", std::to_string(o.n), fmt::format("more than the {} units of the layers", total));

  // n distinct units, uniformly over all the layers' units, in sampled order.
  std::mt19937_64 rng(o.seed);
  std::vector<int64_t> all(static_cast<size_t>(total));
  for (int64_t i = 0; i < total; ++i) all[static_cast<size_t>(i)] = i;
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<size_t>(o.n));

  std::error_code ec;
  fs::create_directories(out / "units", ec);
  if (ec) throw ArgumentError("out", out.string(), fmt::format("cannot create ({})", ec.message()));

  std::optional<words::WordDatabase> wdb;
  try {
    wdb.emplace(words::WordDatabase::open(atlas_dir));
  } catch (const Error&) {
    wdb.reset();  // an atlas without a word database
  }
  const fs::path db_path = atlas_dir / atlas::kDatabaseName;
  std::optional<SQLite::Database> opened;
  sqlite_guarded(db_path, nullptr, [&] { opened.emplace(db_path.string(), SQLite::OPEN_READONLY); });
  SQLite::Database& db = *opened;

  std::vector<AuditUnit> units;
  std::string csv = "id,layer,unit,family,words,labels,interpretable,notes\n";
  std::string rows;
  const int n_px = at.settings().n_px;
  for (size_t i = 0; i < all.size(); ++i) {
    int64_t index = all[i];
    const atlas::LayerInfo* l = layers.front();
    for (const auto* candidate : layers) {
      if (index < candidate->units) {
        l = candidate;
        break;
      }
      index -= candidate->units;
    }
    AuditUnit u;
    u.id = static_cast<int>(i) + 1;
    u.layer = l->name;
    u.unit = index;
    if (wdb)
      if (const auto set = wdb->find_set(l->name); set && set->status == "complete")
        for (const auto& w : wdb->unit_words(*set, u.unit, o.words)) u.words.push_back(w.word);
    sqlite_guarded(db_path, &db, [&] {
      if (const auto method = stored_method(db, l->name)) {
        const auto labels = stored_layer_labels(db, l->name, *method);
        if (const auto it = labels.find(u.unit); it != labels.end())
          for (size_t r = 0; r < it->second.size() && static_cast<int>(r) < o.words; ++r)
            u.labels.push_back(it->second[r].concept_name);
      }
      const auto families = stored_families(db, l->name, u.unit);
      if (!families.empty()) u.family = family_name(families.begin()->second.family);
    });

    // The picture: the feature visualization first, then the top examples cropped around
    // the cell each was read at.
    std::vector<plot::Tile> tiles;
    if (o.visualization)
      if (const auto vis = o.visualization(l->name, u.unit)) {
        try {
          tiles.push_back({read_image(*vis), "feature\nvisualization", std::nullopt});
          u.visualization = true;
        } catch (const Error&) {
          // an unreadable render is left out; the examples still show the unit
        }
      }
    atlas::SheetOptions sheet;
    for (const auto& row : at.examples(*l, u.unit, atlas::ExampleList::TopMax, o.examples))
      tiles.push_back(atlas::example_tile(*l, row, n_px, sheet, fmt::format("#{}  {:.3g}", row.rank + 1, row.value)));
    if (tiles.empty())
      tiles.push_back({Image{n_px, n_px, std::vector<uint8_t>(static_cast<size_t>(n_px) * n_px * 3, 200)},
                       "no examples", std::nullopt});
    plot::write_contact_sheet(out / "units" / fmt::format("{}.png", u.id), tiles, 5, 128, fmt::format("unit {}", u.id));

    const std::string words = fmt::format("{}", fmt::join(u.words, " "));
    const std::string labels = fmt::format("{}", fmt::join(u.labels, " "));
    csv += fmt::format("{},{},{},{},{},{},,\n", u.id, csv_field(u.layer), u.unit, u.family, csv_field(words),
                       csv_field(labels));
    rows += fmt::format(
        "<section id=\"u{0}\"><h2>{0}. {1}:{2}</h2><img src=\"units/{0}.png\" alt=\"unit {0}\">"
        "<p><b>words</b> {3}</p><p><b>labels</b> {4}</p>{5}</section>\n",
        u.id, html_escape(u.layer), u.unit, words.empty() ? "&mdash;" : html_escape(words),
        labels.empty() ? "&mdash;" : html_escape(labels),
        u.family.empty() ? "" : fmt::format("<p><b>family</b> {}</p>", html_escape(u.family)));
    units.push_back(std::move(u));
  }
  write_file_atomically(out / "audit.csv", csv);
  write_file_atomically(
      out / "sheet.html",
      fmt::format(
          "<!doctype html>\n<meta charset=\"utf-8\">\n<title>clipscope audit: {0} units</title>\n<style>"
          "body{{font:14px/1.4 sans-serif;margin:24px;max-width:1000px}}section{{margin:0 0 28px}}"
          "h2{{font:600 15px monospace;margin:0 0 6px}}img{{max-width:100%;border:1px solid #ddd}}"
          "p{{margin:4px 0}}</style>\n<h1>Audit: {0} units sampled at random (seed {1})</h1>\n"
          "<p>For each unit, decide whether its examples, visualization and words share one meaning a "
          "person can name, and write <b>y</b> or <b>n</b> in the <code>interpretable</code> column of "
          "audit.csv (its id is the number here). Then run <code>clipscope audit --score audit.csv</code>.</p>\n"
          "{2}",
          units.size(), o.seed, rows));
  return units;
}

std::pair<double, double> wilson_interval(int64_t successes, int64_t n, double z) {
  if (n <= 0) return {0, 1};
  const double nn = static_cast<double>(n), p = static_cast<double>(successes) / nn, z2 = z * z;
  const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = z / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

AuditScore score_audit(const fs::path& csv) {
  std::ifstream in(csv);
  if (!in) throw Error(fmt::format("{}: cannot open the audit sheet", csv.string()));
  std::string line;
  if (!std::getline(in, line))
    throw Error(fmt::format("{}: empty (expected clipscope audit's audit.csv)", csv.string()));
  const auto header = csv_fields(line);
  const auto column = std::find(header.begin(), header.end(), "interpretable");
  if (column == header.end())
    throw Error(fmt::format("{}: no interpretable column (expected clipscope audit's audit.csv)", csv.string()));
  const auto at = static_cast<size_t>(column - header.begin());
  AuditScore s;
  for (int number = 2; std::getline(in, line); ++number) {
    if (trim(line).empty()) continue;
    const auto fields = csv_fields(line);
    const std::string v = lower_ascii(trim(at < fields.size() ? fields[at] : std::string()));
    if (v.empty()) {
      ++s.unrated;
    } else if (v == "y" || v == "yes" || v == "1" || v == "true") {
      ++s.rated;
      ++s.interpretable;
    } else if (v == "n" || v == "no" || v == "0" || v == "false") {
      ++s.rated;
    } else {
      throw Error(fmt::format("{}:{}: interpretable '{}': expected y or n", csv.string(), number, v));
    }
  }
  if (s.rated == 0)
    throw Error(fmt::format("{}: no unit rated yet (fill in the interpretable column with y or n)", csv.string()));
  s.share = static_cast<double>(s.interpretable) / static_cast<double>(s.rated);
  std::tie(s.low, s.high) = wilson_interval(s.interpretable, s.rated);
  return s;
}

}  // namespace clipscope::labels
