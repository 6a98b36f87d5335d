#include "abstractions/probe_report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "core/model/tensor_io.h"
#include "core/util/error.h"
#include "core/util/files.h"

namespace clipscope::abstractions {

namespace fs = std::filesystem;

namespace {

bool all_noun_ids(const std::vector<std::string>& keys) {
  return !keys.empty() && std::all_of(keys.begin(), keys.end(), [](const std::string& k) {
    return k.size() == 9 && k[0] == 'n' &&
           std::all_of(k.begin() + 1, k.end(), [](char c) { return c >= '0' && c <= '9'; });
  });
}

size_t class_by_name(const ProbeData& data, const std::string& name) {
  for (size_t c = 0; c < data.classes.size(); ++c)
    if (data.classes[c] == name || (c < data.class_keys.size() && data.class_keys[c] == name)) return c;
  throw ArgumentError("shown", fmt::format("'{}'", name),
                      fmt::format("not one of the {} classes", data.classes.size()));
}

}  // namespace

ProbeReport probe_classes(ProbeData data, const ProbeReportOptions& options) {
  ProbeReport r;
  std::vector<size_t> shown;
  for (const auto& name : options.shown) shown.push_back(class_by_name(data, name));
  r.probe = fit_sparse_probe(data.features, data.labels, data.classes, options.fit, data.units);
  r.data = std::move(data);
  const auto& keys = r.data.class_keys.empty() ? r.data.classes : r.data.class_keys;
  std::optional<ClassHierarchy> hierarchy;
  if (!options.hierarchy_table.empty()) {
    hierarchy = table_hierarchy(options.hierarchy_table, keys);
    r.hierarchy = options.hierarchy_table.string();
  } else if (all_noun_ids(keys) && fs::exists(options.wordnet)) {
    hierarchy = wordnet_hierarchy(options.wordnet, keys);
    r.hierarchy = fmt::format("WordNet ({})", options.wordnet.string());
  }
  if (hierarchy) r.shared = shared_units(r.probe, *hierarchy, options.min_shared);
  if (shown.empty()) {
    // The classes of the most shared units first, then the rest in order.
    const torch::Tensor positive = r.probe.weight.gt(0);
    const torch::Tensor order = positive.sum(0).argsort(0, /*descending=*/true);
    for (int64_t i = 0; i < order.numel() && shown.size() < options.shown_default; ++i) {
      const int64_t u = order[i].item<int64_t>();
      if (positive.select(1, u).sum().item<int64_t>() < 2) break;
      for (size_t c = 0; c < r.probe.classes.size() && shown.size() < options.shown_default; ++c)
        if (positive[static_cast<int64_t>(c)][u].item<bool>() &&
            std::find(shown.begin(), shown.end(), c) == shown.end())
          shown.push_back(c);
    }
    for (size_t c = 0; c < r.probe.classes.size() && shown.size() < options.shown_default; ++c)
      if (std::find(shown.begin(), shown.end(), c) == shown.end()) shown.push_back(c);
  }
  r.shown = shown;
  return r;
}

std::string ProbeReport::table(size_t classes_listed) const {
  const auto& p = probe;
  std::string out = fmt::format("sparse probe: {} classes, {} units, {} training and {} held-out images{}\n",
                                p.classes.size(), p.units.size(), p.train, p.validation,
                                data.skipped ? fmt::format(" ({} skipped)", data.skipped) : "");
  out += fmt::format("{:>10} {:>14} {:>6} {:>7} {:>7} {:>6}\n", "lambda", "units/class", "units", "top-1", "top-5",
                     "iters");
  for (size_t i = 0; i < p.path.size(); ++i) {
    const auto& q = p.path[i];
    out += fmt::format("{:>10.4g} {:>14.2f} {:>6} {:>7.3f} {:>7.3f} {:>6}{}{}\n", q.lambda, q.nonzeros_per_class,
                       q.units_used, q.validation_top1, q.validation_top5, q.iterations, q.converged ? "" : "*",
                       i == p.chosen ? "  <- kept" : "");
  }
  const auto& kept = p.path[p.chosen];
  out += fmt::format(
      "kept: {:.2f} units per class, held-out top-1 {:.1f} %, top-5 {:.1f} % (published: RN50x4 on ImageNet, ~3 "
      "units per class, top-5 56.4 %)\n",
      kept.nonzeros_per_class, 100 * kept.validation_top1, 100 * kept.validation_top5);
  for (size_t c = 0; c < p.classes.size() && c < classes_listed; ++c) {
    std::vector<std::string> terms;
    for (const auto& [u, w] : p.class_units(c))
      terms.push_back(fmt::format("{:+.3f}·{}", w, p.units[static_cast<size_t>(u)]));
    out += fmt::format("  {} = {}\n", p.classes[c],
                       terms.empty() ? "(no units)" : fmt::format("{}", fmt::join(terms, " ")));
  }
  if (p.classes.size() > classes_listed)
    out += fmt::format("  ... and {} more classes\n", p.classes.size() - classes_listed);
  if (shared) {
    out += fmt::format(
        "shared units ({} span 2+ classes), matched to {}: mean Jaccard {:.3f} (shuffled classes: {:.3f})\n",
        shared->units.size(), hierarchy, shared->mean_jaccard, shared->shuffled_jaccard);
    for (size_t i = 0; i < shared->units.size() && i < 15; ++i) {
      const auto& u = shared->units[i];
      out += fmt::format("  {:<24} {:>3} classes  best group: {} ({} of its {}, Jaccard {:.2f})\n",
                         p.units[static_cast<size_t>(u.unit)], u.classes.size(), u.group.empty() ? "-" : u.group,
                         u.shared, u.group_size, u.jaccard);
    }
  }
  return out;
}

void write_probe_report(const fs::path& dir, const ProbeReport& report) {
  const auto& p = report.probe;
  write_npy_tensor(dir / "weights.npy", p.weight.contiguous());
  nlohmann::json j = p.to_json();
  j["weight"] = "weights.npy";
  j["skipped_images"] = report.data.skipped;
  if (!report.data.class_keys.empty()) j["class_keys"] = report.data.class_keys;
  if (report.shared) {
    j["hierarchy"] = report.hierarchy;
    j["shared_units"] = report.shared->to_json(p);
    write_file_atomically(dir / "shared-units.csv", report.shared->csv(p));
  }
  write_file_atomically(dir / "probe.json", j.dump(1) + "\n");
  write_file_atomically(dir / "path.csv", p.path_csv());
  write_probe_path(dir / "path.png", p);
  write_probe_matrix(dir / "matrix.png", p, report.shown);
}

}  // namespace clipscope::abstractions
