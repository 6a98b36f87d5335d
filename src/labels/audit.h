#pragma once
// The article's interpretability audit ("we looked at 50 random neurons; 76 % were
// interpretable"): units sampled at random from an atlas, a labelling sheet for each
// (feature visualization, top dataset examples, top words and labels) and a CSV for a
// person to fill in, then the interpretable share with its 95 % interval from the filled
// CSV. One entry point each for `clipscope audit` and the tests.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace clipscope::labels {

struct AuditOptions {
  int n = 50;  // units sampled (without replacement, over all the layers)
  uint64_t seed = 0;
  std::vector<std::string> layers;  // empty: every layer of the atlas
  int examples = 8;                 // top dataset examples per unit
  int words = 5;                    // top words (word database) and labels (clipscope label) per unit
  // A unit's feature visualization, when one exists (the CLI finds them below ATLAS/optvis).
  std::function<std::optional<std::filesystem::path>(const std::string& layer, int64_t unit)> visualization;
};

struct AuditUnit {
  int id = 0;  // the sheet's number, from 1
  std::string layer;
  int64_t unit = 0;
  std::vector<std::string> words, labels;
  std::string family;  // stored by clipscope families; empty when not classified
  bool visualization = false;
};

// Writes into `out`: audit.csv (id, layer, unit, family, words, labels, interpretable,
// notes: fill in interpretable with y or n), units/<id>.png (the unit's feature
// visualization and top examples) and sheet.html (every unit's picture, words and
// labels on one page). Throws ArgumentError naming "n" (not positive, or more than the
// layers' units) or "out", and Error naming a layer the atlas lacks.
std::vector<AuditUnit> write_audit(const std::filesystem::path& atlas_dir, const std::filesystem::path& out,
                                   const AuditOptions& options = {});

struct AuditScore {
  int64_t rated = 0, interpretable = 0, unrated = 0;  // unrated: rows left blank
  double share = 0, low = 0, high = 0;                // Wilson's 95 % interval
};

// Reads a filled audit.csv: interpretable is y/yes/1/true or n/no/0/false (any case);
// blank rows are counted as unrated. Throws Error naming the file and line for another
// value, a missing column, or no rated row.
AuditScore score_audit(const std::filesystem::path& csv);

// Wilson's score interval for `successes` of `n` at z (1.96: 95 %).
std::pair<double, double> wilson_interval(int64_t successes, int64_t n, double z = 1.959963984540054);

}  // namespace clipscope::labels
