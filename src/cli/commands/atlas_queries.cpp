// Questions to an atlas about one unit:
//   clipscope top --atlas A --unit L:I         dataset examples (+ contact sheet)
//   clipscope stats --atlas A [--unit L:I]     the atlas, or one unit's statistics (+ histogram)
//   clipscope buckets --atlas A --unit L:I     images across the activation range, for blind labelling
//   clipscope condprob --atlas A --unit L:I    P(label | activation) plot
//   clipscope categories --model M --unit L:I  activation distribution per category folder
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "atlas/categories.h"
#include "atlas/indexer.h"
#include "atlas/labelling.h"
#include "atlas/queries.h"
#include "atlas/sheets.h"
#include "cli/context.h"
#include "core/util/csv.h"
#include "core/util/error.h"
#include "plot/chart.h"

namespace clipscope::cli {
namespace {

namespace fs = std::filesystem;

// buckets and condprob need every image's value: say which flags index them.
void require_max_matrix(const atlas::Atlas& atlas, const atlas::LayerInfo& layer) {
  if (!atlas.matrix(layer, atlas::Quantity::Max))
    throw Error(fmt::format("atlas {} keeps no per-image values for {} (index it with --matrix max --matrix-layers {})",
                            atlas.dir().string(), layer.name, layer.name));
}

std::string cell_text(const atlas::LayerInfo& layer, int32_t cell) {
  if (layer.layout == Layout::NCHW && layer.cells > 1)
    return fmt::format("({},{})", cell / layer.grid_width, cell % layer.grid_width);
  if (layer.layout != Layout::NCHW && layer.layout != Layout::ND)
    return cell == 0 ? "cls" : fmt::format("tok {}", cell);
  return "-";
}

void check_png(const std::string& path, const char* option) {
  if (path.empty()) return;
  const auto parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent))
    throw Error(fmt::format("{} {}: folder {} does not exist", option, path, parent.string()));
}

struct UnitArgs {
  std::string atlas, unit;
};
void add_unit_args(CLI::App& cmd, UnitArgs& a) {
  cmd.add_option("-a,--atlas", a.atlas, "Atlas directory (clipscope index)")->required();
  cmd.add_option("-u,--unit", a.unit, "LAYER:INDEX, e.g. visual.layer4:12")->required();
}

void add_top(CLI::App& app, Context& ctx) {
  struct Args : UnitArgs {
    int k = 25;
    bool bottom = false, full = false;
    std::string by = "max", sheet;
    double crop = 0.5;
    int columns = 5;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("top", "A unit's top (or bottom) dataset examples, with a contact sheet");
  add_unit_args(*cmd, *a);
  cmd->add_option("-k,--k", a->k, "How many")->default_val(25);
  cmd->add_flag("--bottom", a->bottom, "The most inhibiting examples (pre-ReLU) instead");
  cmd->add_option("--by", a->by, "Rank by spatial max (max; bottom: spatial min) or spatial mean (mean)")
      ->default_val("max")
      ->check(CLI::IsMember({"max", "mean"}));
  cmd->add_option("--sheet", a->sheet, "Also write a contact sheet PNG of crops around each example's cell");
  cmd->add_flag("--full", a->full, "Sheet tiles show the whole image with the cell outlined");
  cmd->add_option("--crop", a->crop, "Crop side as a fraction of the image side")
      ->default_val(0.5)
      ->check(CLI::Range(0.05, 1.0));
  cmd->add_option("--columns", a->columns, "Sheet columns")->default_val(5)->check(CLI::PositiveNumber);
  cmd->callback([&ctx, a] {
    check_png(a->sheet, "--sheet");
    if (a->k <= 0) throw Error(fmt::format("--k {}: must be positive", a->k));
    const auto atlas = atlas::Atlas::open(a->atlas);
    const auto ref = atlas::parse_unit(a->unit);
    const auto& layer = atlas.layer(ref.layer);
    const auto by = atlas::parse_quantity(a->by, "by");
    const auto list = atlas::example_list(by == atlas::Quantity::Max, a->bottom);
    const auto rows = atlas.examples(layer, ref.unit, list, a->k);
    const auto s = atlas.summary(layer, ref.unit, by);
    fmt::print("# {}:{} {} ({} images; spatial {}: mean {:.4g}, std {:.4g}, rms {:.4g}, min {:.4g}, max {:.4g})\n",
               layer.name, ref.unit, atlas::example_list_name(list), s.count, a->by, s.mean, s.std, s.rms, s.min,
               s.max);
    fmt::print("rank\tvalue\tstd_from_zero\timage\tcell\tpath\n");
    for (const auto& r : rows)
      fmt::print("{}\t{:.6g}\t{:.3f}\t{}\t{}\t{}\n", r.rank + 1, r.value, s.rms > 0 ? r.value / s.rms : 0.0, r.image,
                 cell_text(layer, r.cell), r.path);
    if (!a->sheet.empty()) {
      atlas::SheetOptions options;
      options.full = a->full;
      options.crop_fraction = a->crop;
      options.columns = a->columns;
      atlas::write_example_sheet(a->sheet, layer, rows, atlas.settings().n_px, options,
                                 fmt::format("{}:{} {}", layer.name, ref.unit, atlas::example_list_name(list)));
      if (!ctx.quiet) fmt::print(stderr, "wrote {}\n", a->sheet);
    }
  });
}

void add_stats(CLI::App& app, Context& ctx) {
  struct Args {
    std::string atlas, unit, quantity = "max", histogram;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("stats", "An atlas's contents, or one unit's activation statistics and histogram");
  cmd->add_option("-a,--atlas", a->atlas, "Atlas directory")->required();
  cmd->add_option("-u,--unit", a->unit, "LAYER:INDEX (without: the atlas overview)");
  cmd->add_option("--quantity", a->quantity, "max (per-image spatial max, pre-ReLU) or mean (spatial mean)")
      ->default_val("max")
      ->check(CLI::IsMember({"max", "mean"}));
  cmd->add_option("--histogram", a->histogram, "Write the unit's histogram (in std from zero) as PNG");
  cmd->callback([&ctx, a] {
    check_png(a->histogram, "--histogram");
    const auto atlas = atlas::Atlas::open(a->atlas);
    if (a->unit.empty()) {
      const auto s = atlas.settings();
      const auto sh = atlas.shard();
      fmt::print("atlas\t{}\nstatus\t{}\nmodel\t{} (sha256 {})\nprecision\t{}\ninput size\t{} px\n", a->atlas,
                 atlas.status(), s.model, s.model_sha256, s.precision, s.n_px);
      fmt::print("images\t{} readable, {} skipped, of {} inputs{}\n", atlas.image_count(),
                 atlas.image_count(false) - atlas.image_count(), s.inputs_total,
                 sh.count > 1 ? fmt::format(" (shard {}/{}: inputs {}-{})", sh.index, sh.count, sh.first, sh.end) : "");
      fmt::print("k\t{}\nmatrices\t{} for [{}]\n", s.k,
                 s.matrix_quantities.empty()
                     ? "none"
                     : fmt::format("{}", fmt::join(atlas::quantity_names(s.matrix_quantities), ",")),
                 fmt::join(s.matrix_layers, ", "));
      for (const auto& l : atlas.layers())
        fmt::print("layer\t{}\t{} units\t{}\t{} cells\tread at {}\n", l.name, l.units, layout_name(l.layout), l.cells,
                   l.read_at);
      for (const auto& s : atlas.skipped_images()) fmt::print("skipped\t{}\t{}\t{}\n", s.id, s.path, s.error);
      return;
    }
    const auto ref = atlas::parse_unit(a->unit);
    const auto& layer = atlas.layer(ref.layer);
    const auto quantity = atlas::parse_quantity(a->quantity);
    const auto s = atlas.summary(layer, ref.unit, quantity);
    const auto h = atlas.histogram(layer, ref.unit, quantity);
    fmt::print(
        "unit\t{}:{}\nquantity\t{}\ncount\t{}\nnonfinite\t{}\nmean\t{:.6g}\nstd\t{:.6g}\nrms\t{:.6g}\nmin\t{:.6g}"
        "\nmax\t{:.6g}\n",
        layer.name, ref.unit, a->quantity, s.count, s.nonfinite, s.mean, s.std, s.rms, s.min, s.max);
    fmt::print("histogram (std from zero)\n");
    for (size_t i = 0; i < h.counts.size(); ++i)
      fmt::print("{:+.2f}\t{}\n", h.lo + static_cast<double>(i) * h.width, h.counts[i]);
    if (!a->histogram.empty()) {
      plot::Histogram chart;
      chart.title = fmt::format("{}:{} spatial {}", layer.name, ref.unit, a->quantity);
      chart.x_label = "activation (standard deviations from zero)";
      chart.lo = h.lo;
      chart.bin_width = h.width;
      chart.counts.assign(h.counts.begin(), h.counts.end());
      chart.log_y = true;
      plot::write_histogram(a->histogram, chart);
      if (!ctx.quiet) fmt::print(stderr, "wrote {}\n", a->histogram);
    }
  });
}

void add_buckets(CLI::App& app, Context& ctx) {
  struct Args : UnitArgs {
    int bins = 10, per_bin = 16;
    uint64_t seed = 0;
    std::string out;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "buckets", "Images sampled uniformly across a unit's activation range, shuffled, for blind labelling");
  add_unit_args(*cmd, *a);
  cmd->add_option("--bins", a->bins, "Buckets between the most inhibitory and most excitatory value")->default_val(10);
  cmd->add_option("--per-bin", a->per_bin, "Images drawn per bucket")->default_val(16);
  cmd->add_option("--seed", a->seed, "Sampling and shuffling seed")->default_val(0);
  cmd->add_option("-o,--out", a->out,
                  "Folder for labels.csv (fill in the label column), sheet.png (numbered samples) and key.csv (the "
                  "answer: each sample's bucket; keep it closed while labelling)")
      ->required();
  cmd->callback([&ctx, a] {
    const auto atlas = atlas::Atlas::open(a->atlas);
    const auto ref = atlas::parse_unit(a->unit);
    const auto& layer = atlas.layer(ref.layer);
    require_max_matrix(atlas, layer);
    const auto kit = atlas::write_labelling_kit(atlas, layer, ref.unit, a->bins, a->per_bin, a->seed, a->out);
    const auto& buckets = kit.buckets;
    if (!ctx.quiet) {
      for (size_t b = 0; b < buckets.size(); ++b)
        fmt::print(stderr, "bucket {:2} [{:+.2f}, {:+.2f}) std: {} images, {} sampled\n", b, buckets[b].lo,
                   buckets[b].hi, buckets[b].population, buckets[b].sample.size());
      fmt::print(stderr, "wrote {} samples to {}/labels.csv, sheet.png and key.csv\n", kit.samples, a->out);
    }
  });
}

std::string bucket_tick(double lo, double hi) { return fmt::format("{:.1f}..{:.1f}", lo, hi); }

void add_condprob(CLI::App& app, Context& ctx) {
  struct Args : UnitArgs {
    std::string labels, key = "label", out;
    int bins = 10;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("condprob", "Plot P(label | activation bucket) for a unit (the article's appendix)");
  add_unit_args(*cmd, *a);
  cmd->add_option("--labels", a->labels,
                  "CSV (columns image or path, and label — e.g. buckets' labels.csv filled in) or JSON lines with "
                  "\"image\" paths (e.g. a world's labels.jsonl)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--label-key", a->key, "Column or JSON field holding the label (e.g. color)")->default_val("label");
  cmd->add_option("--bins", a->bins, "Buckets between the most inhibitory and most excitatory value")->default_val(10);
  cmd->add_option("-o,--out", a->out, "Plot PNG")->required();
  cmd->callback([&ctx, a] {
    check_png(a->out, "--out");
    const auto atlas = atlas::Atlas::open(a->atlas);
    const auto ref = atlas::parse_unit(a->unit);
    const auto& layer = atlas.layer(ref.layer);
    require_max_matrix(atlas, layer);
    const auto values = atlas::unit_values(atlas, layer, ref.unit, atlas::Quantity::Max);
    const auto labels = atlas::read_labels(atlas, a->labels, a->key);
    if (labels.by_image.empty())
      throw Error(fmt::format("--labels {}: no labelled image of the atlas ({} rows matched no image, {} had no '{}')",
                              a->labels, labels.unmatched, labels.unlabelled, a->key));
    const auto cp = atlas::conditional_probability(values, labels, a->bins);
    fmt::print("bucket_lo\tbucket_hi\tlabelled");
    for (const auto& l : cp.labels) fmt::print("\t{}", l);
    fmt::print("\n");
    plot::StackedBars chart;
    chart.title = fmt::format("{}:{}  P(label | activation)", layer.name, ref.unit);
    chart.x_label = "activation (standard deviations from zero)";
    chart.y_label = "P(label)";
    chart.y_max = 1.0;
    for (size_t b = 0; b < cp.lo.size(); ++b) {
      fmt::print("{:.3f}\t{:.3f}\t{}", cp.lo[b], cp.hi[b], cp.labelled[b]);
      for (const auto& p : cp.p) fmt::print("\t{:.4f}", p[b]);
      fmt::print("\n");
      chart.x_ticks.push_back(bucket_tick(cp.lo[b], cp.hi[b]));
    }
    for (size_t l = 0; l < cp.labels.size(); ++l) chart.series.push_back({cp.labels[l], cp.p[l]});
    plot::write_stacked_bars(a->out, chart, 1100, 560);
    if (!ctx.quiet)
      fmt::print(stderr, "wrote {} ({} labelled images; {} label rows matched no atlas image, {} were unlabelled)\n",
                 a->out, labels.by_image.size(), labels.unmatched, labels.unlabelled);
  });
}

void add_categories(CLI::App& app, Context& ctx) {
  struct Args {
    std::string model, unit, dir, out, atlas, precision;
    int batch_size = 16;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "categories", "A unit's activation per category (subfolders of --dir): median and std range, in std from zero");
  add_model_option(*cmd, a->model);
  add_precision_option(*cmd, a->precision);
  cmd->add_option("-u,--unit", a->unit, "LAYER:INDEX")->required();
  cmd->add_option("--dir", a->dir, "Root folder; each subfolder holding images is a category")->required();
  cmd->add_option("-o,--out", a->out, "Plot PNG")->required();
  cmd->add_option("-a,--atlas", a->atlas,
                  "Express values in this atlas's std from zero for the unit (default: the RMS over these images)");
  cmd->add_option("--batch-size", a->batch_size, "Images per forward pass")->default_val(16);
  cmd->callback([&ctx, a] {
    check_png(a->out, "--out");
    const auto ref = atlas::parse_unit(a->unit);
    const auto categories = atlas::category_folders(a->dir);
    CLIP model = ctx.load_model(a->model, a->precision);
    const auto layer = atlas::describe_layer(model, ref.layer, 0);
    auto values = atlas::category_values(model, layer, ref.unit, categories, a->batch_size, !ctx.quiet);
    double rms = 0;
    if (!a->atlas.empty()) {
      const auto atlas = atlas::Atlas::open(a->atlas);
      rms = atlas.summary(atlas.layer(layer.name), ref.unit, atlas::Quantity::Max).rms;
    } else {
      double squares = 0;
      int64_t n = 0;
      for (const auto& c : values)
        for (float v : c.values) squares += static_cast<double>(v) * v, ++n;
      rms = n > 0 ? std::sqrt(squares / static_cast<double>(n)) : 0;
    }
    if (rms <= 0) throw Error(fmt::format("--unit {}: zero on every image; nothing to scale by", a->unit));
    plot::RangeRows chart;
    chart.title = fmt::format("{}:{} by category (median, ± std)", layer.name, ref.unit);
    chart.x_label = "activation (standard deviations from zero)";
    fmt::print("category,images,skipped,median,std,mean\n");
    for (const auto& c : values) {
      fmt::print("{},{},{},{:.4f},{:.4f},{:.4f}\n", csv_field(c.name), c.values.size(), c.skipped, c.median / rms,
                 c.std / rms, c.mean / rms);
      if (c.values.empty()) continue;
      chart.categories.push_back(c.name);
      chart.median.push_back(c.median / rms);
      chart.lo.push_back((c.median - c.std) / rms);
      chart.hi.push_back((c.median + c.std) / rms);
      chart.counts.push_back(static_cast<int64_t>(c.values.size()));
    }
    if (chart.categories.empty()) throw Error(fmt::format("--dir {}: no readable image in any category", a->dir));
    plot::write_range_rows(a->out, chart);
    if (!ctx.quiet) fmt::print(stderr, "wrote {}\n", a->out);
  });
}

}  // namespace

void add_atlas_query_commands(CLI::App& app, Context& ctx) {
  add_top(app, ctx);
  add_stats(app, ctx);
  add_buckets(app, ctx);
  add_condprob(app, ctx);
  add_categories(app, ctx);
}

}  // namespace clipscope::cli
