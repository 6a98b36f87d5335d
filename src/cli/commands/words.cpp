// Words as the image tower sees them:
//   clipscope diff --text WORD             units ranked by WORD's activation minus a baseline text's
//   clipscope words --words FILE --into A  word <-> unit database for a layer, inside an atlas
//   clipscope word-units WORD / unit-words LAYER:INDEX   queries of that database
//   clipscope wordvec nearest|arith|cosine|lexical        image-based word embeddings
//   clipscope region-map --unit L:I --places geo.json     a unit's response to place names, on a map
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fstream>
#include <future>
#include <map>

#include "atlas/atlas.h"
#include "cli/context.h"
#include "core/hub/download.h"
#include "core/util/error.h"
#include "core/util/progress.h"
#include "plot/map.h"
#include "words/database.h"
#include "words/difference.h"
#include "words/encoder.h"
#include "words/regions.h"
#include "words/wordvec.h"

namespace clipscope::cli {
namespace {

namespace fs = std::filesystem;

struct StyleArgs {
  int canvas = 224;
  std::string sizes = "20", positions = "center", font = "DejaVuSans";
  double stroke = 2;
};

void add_style_options(CLI::App& cmd, StyleArgs& s, const std::string& sizes, const std::string& positions) {
  s.sizes = sizes;
  s.positions = positions;
  cmd.add_option("--canvas", s.canvas, "Side of the white square the word is drawn on, pixels (then CLIP-preprocessed)")
      ->default_val(224);
  cmd.add_option("--sizes", s.sizes, "Font sizes in pixels; activations are averaged over them")->default_val(sizes);
  cmd.add_option("--positions", s.positions,
                 "Word centres: center, a grid ROWSxCOLUMNS (e.g. 3x3), or x,y;x,y fractions; max over them")
      ->default_val(positions);
  cmd.add_option("--font", s.font, "DejaVu face name or font file")->default_val("DejaVuSans");
  cmd.add_option("--stroke", s.stroke, "Outline thickening in pixels (PIL's stroke_width)")->default_val(2);
}

words::WordStyle style_of(const StyleArgs& a) {
  words::WordStyle s;
  s.canvas = a.canvas;
  s.sizes = words::parse_sizes(a.sizes);
  s.positions = words::parse_positions(a.positions);
  s.font = a.font;
  s.stroke = a.stroke;
  s.validate();
  return s;
}

void add_diff(CLI::App& app, Context& ctx) {
  struct Args {
    std::string model, precision, layer = "visual.layer4", text, baseline = "eeeeee";
    int k = 20;
    bool json = false;
    StyleArgs style;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("diff",
                                 "Channel difference engine: units ranked by a rasterized text's activation "
                                 "minus a baseline text's");
  add_model_option(*cmd, a->model);
  add_precision_option(*cmd, a->precision);
  cmd->add_option("-l,--layer", a->layer, "Layer (any point name)")->default_val("visual.layer4");
  cmd->add_option("-t,--text", a->text, "The word or phrase")->required();
  cmd->add_option("--baseline", a->baseline, "Text whose activations are subtracted")->default_val("eeeeee");
  cmd->add_option("-k,--k", a->k, "How many units")->default_val(20);
  cmd->add_flag("--json", a->json, "JSON instead of a table");
  add_style_options(*cmd, a->style, "20", "center");
  cmd->callback([&ctx, a] {
    const words::WordStyle style = style_of(a->style);
    CLIP model = ctx.load_model(a->model, a->precision);
    const words::Difference d = words::difference_engine(model, a->layer, a->text, a->baseline, style, a->k);
    if (a->json) {
      fmt::print("{}\n", d.to_json().dump(2));
      return;
    }
    fmt::print("# {} - '{}' at {}\n{:>4} {:>6} {:>10} {:>10} {:>10}\n", d.text, d.baseline, d.layer, "rank", "unit",
               "difference", "text", "baseline");
    for (size_t r = 0; r < d.units.size(); ++r)
      fmt::print("{:>4} {:>6} {:>10.4f} {:>10.4f} {:>10.4f}\n", r, d.units[r].unit, d.units[r].difference,
                 d.units[r].text, d.units[r].baseline);
  });
}

void add_words(CLI::App& app, Context& ctx) {
  struct Args {
    std::string model, precision, layer = "visual.layer4", list, into, baseline = "eeeeee";
    int k = 50, batch_size = 32, crash_after = 0;
    StyleArgs style;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("words",
                                 "Encode a word list at one layer into an atlas: word -> top units and "
                                 "unit -> top words (resumable)");
  add_model_option(*cmd, a->model);
  add_precision_option(*cmd, a->precision);
  cmd->add_option("-l,--layer", a->layer, "Layer (any point name)")->default_val("visual.layer4");
  cmd->add_option("-w,--words", a->list, "Word list, one per line (e.g. the 10,000 most common English words)")
      ->required();
  cmd->add_option("--into", a->into, "Atlas directory (created without images when absent)")->required();
  cmd->add_option("--baseline", a->baseline, "Text whose activations are subtracted")->default_val("eeeeee");
  cmd->add_option("-k,--k", a->k, "Top units per word and top words per unit to tabulate")->default_val(50);
  cmd->add_option("-b,--batch-size", a->batch_size, "Images per forward pass")->default_val(32);
  cmd->add_option("--crash-after", a->crash_after, "Testing: stop abruptly after N committed chunks")
      ->group("");  // hidden
  add_style_options(*cmd, a->style, "20", "center");
  cmd->callback([&ctx, a] {
    words::BuildOptions o;
    o.layer = a->layer;
    o.style = style_of(a->style);
    o.baseline = a->baseline;
    o.k = a->k;
    o.batch_size = a->batch_size;
    o.progress = !ctx.quiet;
    o.crash_after = a->crash_after;
    if (!fs::is_regular_file(a->list)) throw Error(fmt::format("--words {}: no such file", a->list));
    auto [model, identity] = ctx.load_identified_model(a->model, a->precision);
    const words::BuildResult r = words::build_word_set(model, identity, a->list, a->into, o);
    if (r.already_complete && !ctx.quiet) fmt::print(stderr, "{}: word set already complete; nothing to do\n", a->into);
    std::map<std::string, int> reasons;
    for (const auto& e : r.skipped_entries) {
      const std::string reason = e.error.rfind("duplicate", 0) == 0 ? "duplicate"
                                 : e.error.rfind("font", 0) == 0    ? "missing glyph"
                                                                    : e.error;
      ++reasons[reason.find("wider") != std::string::npos ? "wider than the canvas" : reason];
    }
    std::vector<std::string> parts;
    for (const auto& [reason, n] : reasons) parts.push_back(fmt::format("{} {}", n, reason));
    if (!ctx.quiet)
      fmt::print(stderr, "{}: {} words encoded{}; skipped {}{}\n", a->into, r.encoded,
                 r.words_per_second > 0 ? fmt::format(" ({:.1f} words/s this run)", r.words_per_second) : "", r.skipped,
                 parts.empty() ? "" : fmt::format(" ({}; listed in the words table)", fmt::join(parts, ", ")));
  });
}

struct QueryArgs {
  std::string atlas, layer;
  int k = 20;
};
void add_query_options(CLI::App& cmd, QueryArgs& q) {
  cmd.add_option("-a,--atlas", q.atlas, "Atlas with a word database (clipscope words --into)")->required();
  cmd.add_option("-l,--layer", q.layer, "Which word set, when the atlas has several");
  cmd.add_option("-k,--k", q.k, "How many")->default_val(20);
}

void add_word_queries(CLI::App& app) {
  auto wu = std::make_shared<std::pair<QueryArgs, std::string>>();
  auto* word_units = app.add_subcommand("word-units", "The units a word excites most (from clipscope words)");
  word_units->add_option("word", wu->second, "The word")->required();
  add_query_options(*word_units, wu->first);
  word_units->callback([wu] {
    const auto db = words::WordDatabase::open(wu->first.atlas);
    const auto set = db.set(wu->first.layer);
    fmt::print("# '{}' at {} (activation minus '{}')\n{:>4} {:>6} {:>10}\n", wu->second, set.layer, set.baseline,
               "rank", "unit", "value");
    int rank = 0;
    for (const auto& r : db.word_units(set, wu->second, wu->first.k))
      fmt::print("{:>4} {:>6} {:>10.4f}\n", rank++, r.unit, r.value);
  });

  auto uw = std::make_shared<std::pair<QueryArgs, std::string>>();
  auto* unit_words = app.add_subcommand("unit-words", "The words that excite a unit most (from clipscope words)");
  unit_words->add_option("unit", uw->second, "LAYER:INDEX, e.g. visual.layer4:12")->required();
  add_query_options(*unit_words, uw->first);
  unit_words->callback([uw] {
    const auto ref = atlas::parse_unit(uw->second);
    const auto db = words::WordDatabase::open(uw->first.atlas);
    words::WordSet set = db.set(uw->first.layer.empty() ? ref.layer : uw->first.layer);
    fmt::print("# {}:{} (activation minus '{}')\n{:>4} {:>10}  {}\n", set.layer, ref.unit, set.baseline, "rank",
               "value", "word");
    int rank = 0;
    for (const auto& r : db.unit_words(set, ref.unit, uw->first.k))
      fmt::print("{:>4} {:>10.4f}  {}\n", rank++, r.value, r.word);
  });
}

void add_wordvec(CLI::App& app) {
  struct Args {
    QueryArgs q;
    std::string word, expression, a, b;
    words::UnitMask mask;
  };
  auto a = std::make_shared<Args>();
  auto* cmd =
      app.add_subcommand("wordvec", "Image-based word embeddings: a word's activations minus the mean over words");
  cmd->require_subcommand(1);
  auto common = [a](CLI::App& sub) {
    add_query_options(sub, a->q);
    sub.add_flag("--mask-lexical", a->mask.lexical,
                 "Leave out lexicographic units (found by the rule in docs/words.md)");
    sub.add_option("--mask-units", a->mask.units_file, "Leave out the units listed in this file");
    sub.add_option("--lexical-top", a->mask.rule.top, "Lexical rule: top words per unit examined")->default_val(20);
    sub.add_option("--lexical-share", a->mask.rule.min_share, "Lexical rule: share of them sharing a substring")
        ->default_val(0.5);
    sub.add_option("--lexical-ratio", a->mask.rule.min_ratio, "Lexical rule: times more often than chance")
        ->default_val(4.0);
  };
  auto* nearest = cmd->add_subcommand("nearest", "Nearest words by cosine");
  nearest->add_option("word", a->word, "The word")->required();
  common(*nearest);
  auto* arith = cmd->add_subcommand("arith", "Nearest words to a sum, e.g. \"king - man + woman\"");
  arith->add_option("expression", a->expression, "Words joined by + and -")->required();
  common(*arith);
  auto* cosine = cmd->add_subcommand("cosine", "Cosine similarity of two words");
  cosine->add_option("a", a->a, "First word")->required();
  cosine->add_option("b", a->b, "Second word")->required();
  common(*cosine);
  auto* lexical = cmd->add_subcommand("lexical", "List the lexicographic units the rule finds, with their substring");
  common(*lexical);

  auto print_ranked = [](const std::vector<words::RankedWord>& ranked) {
    fmt::print("{:>4} {:>8}  {}\n", "rank", "cosine", "word");
    int rank = 0;
    for (const auto& r : ranked) fmt::print("{:>4} {:>8.4f}  {}\n", rank++, r.value, r.word);
  };
  auto masked_note = [a](const words::WordEmbeddings& w) {
    return a->mask.any() ? fmt::format(", {} of {} units masked", w.masked.size(), w.set.units) : "";
  };
  nearest->callback([=] {
    const auto w = words::open_embeddings(a->q.atlas, a->q.layer, a->mask);
    fmt::print("# nearest to '{}' at {} ({} words{})\n", a->word, w.set.layer, w.embeddings.size(), masked_note(w));
    print_ranked(w.embeddings.nearest(w.embeddings.vector(a->word), a->q.k, {a->word}));
  });
  arith->callback([=] {
    const auto w = words::open_embeddings(a->q.atlas, a->q.layer, a->mask);
    std::vector<std::string> terms;
    const torch::Tensor v = w.embeddings.evaluate(a->expression, &terms);
    fmt::print("# nearest to {} at {} ({} words{})\n", a->expression, w.set.layer, w.embeddings.size(), masked_note(w));
    print_ranked(w.embeddings.nearest(v, a->q.k, {terms.begin(), terms.end()}));
  });
  cosine->callback([=] {
    const auto w = words::open_embeddings(a->q.atlas, a->q.layer, a->mask);
    fmt::print("{:.6f}\n", words::Embeddings::cosine(w.embeddings.vector(a->a), w.embeddings.vector(a->b)));
  });
  lexical->callback([=] {
    const auto db = words::WordDatabase::open(a->q.atlas);
    const auto set = db.set(a->q.layer);
    auto [list, m] = db.matrix(set);
    const auto& rule = a->mask.rule;
    const auto found = words::find_lexical_units(list, m, rule);
    fmt::print("# {} lexicographic units at {} (top {} words, share >= {}, >= {}x chance)\n{:>6} {:>10} {:>6} {:>9}\n",
               found.size(), set.layer, rule.top, rule.min_share, rule.min_ratio, "unit", "substring", "hits",
               "expected");
    for (const auto& u : found) fmt::print("{:>6} {:>10} {:>6} {:>9.2f}\n", u.unit, u.substring, u.hits, u.expected);
  });
}

void add_region_map(CLI::App& app, Context& ctx) {
  struct Args {
    std::string model, precision, unit, places, out, table, background, baseline = "eeeeee", kind = "both", title;
    int label_top = 10, batch_size = 32, width = 1600;
    StyleArgs style;
  };
  auto a = std::make_shared<Args>();
  auto* cmd =
      app.add_subcommand("region-map", "A unit's response to rasterized place names, as a table and a world map");
  add_model_option(*cmd, a->model);
  add_precision_option(*cmd, a->precision);
  cmd->add_option("-u,--unit", a->unit, "LAYER:INDEX, e.g. visual.layer4:1522")->required();
  cmd->add_option("--places", a->places,
                  "Places: the article's paper_regional_geo.json, a GeoJSON FeatureCollection or "
                  "a CSV name,lon,lat")
      ->required();
  cmd->add_option("-o,--out", a->out, "Map PNG")->required();
  cmd->add_option("--table", a->table, "Also write the activations as CSV");
  cmd->add_option("--background", a->background,
                  "Equirectangular world image (e.g. ../shared/data/maps/earth-day.jpg)");
  cmd->add_option("--kind", a->kind, "Which places to draw")
      ->default_val("both")
      ->check(CLI::IsMember({"both", "countries", "cities"}));
  cmd->add_option("--baseline", a->baseline, "Text whose activation is subtracted")->default_val("eeeeee");
  cmd->add_option("--label-top", a->label_top, "Name the N most activating places on the map")->default_val(10);
  cmd->add_option("--title", a->title, "Map title (default: the unit)");
  cmd->add_option("--width", a->width, "Map width in pixels; the height is 9/16 of it")
      ->default_val(1600)
      ->check(CLI::Range(480, 8000));
  cmd->add_option("-b,--batch-size", a->batch_size, "Images per forward pass")->default_val(32);
  add_style_options(*cmd, a->style, "16,20,24", "3x3");
  cmd->callback([&ctx, a] {
    const auto ref = atlas::parse_unit(a->unit);
    const words::WordStyle style = style_of(a->style);
    auto places = words::read_places(a->places);
    std::erase_if(places, [&](const words::Place& p) {
      return (a->kind == "countries" && p.kind != words::PlaceKind::Country) ||
             (a->kind == "cities" && p.kind != words::PlaceKind::City);
    });
    CLIP model = ctx.load_model(a->model, a->precision);
    Progress bar("place names", static_cast<int64_t>(places.size()), "names", !ctx.quiet);
    const words::PlaceResponses r = words::place_responses(model, ref.layer, ref.unit, places, a->baseline, style,
                                                           a->batch_size, [&](int64_t n, int64_t total) {
                                                             bar.set_total(total);
                                                             bar.set(n);
                                                           });
    bar.finish();
    if (!ctx.quiet)
      for (const auto& [name, problem] : r.skipped) fmt::print(stderr, "skipping '{}': {}\n", name, problem);
    plot::GeoMap map;
    map.title = a->title.empty()
                    ? fmt::format("{}:{}: place names, activation minus '{}'", r.layer, r.unit, a->baseline)
                    : a->title;
    map.value_label = fmt::format("activation minus '{}'", a->baseline);
    if (!a->background.empty()) map.background = a->background;
    map.label_top = a->label_top;
    for (size_t i = 0; i < r.places.size(); ++i) {
      const auto& p = r.places[i];
      if (p.kind == words::PlaceKind::Country)
        map.regions.push_back({p.name, p.rings, r.values[i]});
      else
        map.points.push_back({p.name, p.lon, p.lat, r.values[i]});
    }
    if (!a->table.empty()) words::write_place_table(a->table, r);
    plot::write_geo_map(a->out, map, a->width, a->width * 9 / 16);
    if (!ctx.quiet)
      fmt::print(stderr, "wrote {} ({} places{}){}\n", a->out, r.places.size(),
                 r.skipped.empty() ? "" : fmt::format(", {} skipped", r.skipped.size()),
                 a->table.empty() ? "" : " and " + a->table);
  });
}

}  // namespace

void add_words_commands(CLI::App& app, Context& ctx) {
  add_diff(app, ctx);
  add_words(app, ctx);
  add_word_queries(app);
  add_wordvec(app);
  add_region_map(app, ctx);
}

}  // namespace clipscope::cli
