#pragma once
// The sparse probe as one analysis (`clipscope probe`): the regularization path to a
// target sparsity, the classes' units, the units classes share matched to a known
// hierarchy, and the files people read (weights, path, the article's Fig. 8 view).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "abstractions/class_hierarchy.h"
#include "abstractions/sparse_probe.h"

namespace clipscope::abstractions {

struct ProbeReportOptions {
  SparseProbeOptions fit;
  // The known hierarchy the shared units are compared with: a class table
  // (table_hierarchy), else WordNet's data.noun when every class key is a noun id.
  std::filesystem::path hierarchy_table;
  std::filesystem::path wordnet = "/usr/share/wordnet/data.noun";
  size_t min_shared = 2;           // classes a unit must span to be listed as shared
  std::vector<std::string> shown;  // classes in the matrix view (default: see probe_classes)
  size_t shown_default = 12;
};

struct ProbeReport {
  ProbeData data;
  SparseProbe probe;
  std::string hierarchy;  // where the hierarchy came from ("" when none)
  std::optional<SharedUnits> shared;
  std::vector<size_t> shown;  // classes of the matrix view
  std::string table(size_t classes_listed = 20) const;
};

// Fits the probe on `data` and compares its shared units with the hierarchy. The matrix
// view shows options.shown (class names or keys) or else the classes of the most shared
// units, up to shown_default. Throws Error for a hierarchy file that cannot be read or a
// shown class that is not a class.
ProbeReport probe_classes(ProbeData data, const ProbeReportOptions& options = {});

// Writes probe.json (with the fit, the classes' units and the shared units),
// weights.npy (classes × units, on standardized features), path.csv, path.png,
// matrix.png (the Fig. 8 view) and, with a hierarchy, shared-units.csv into `dir`.
void write_probe_report(const std::filesystem::path& dir, const ProbeReport& report);

}  // namespace clipscope::abstractions
