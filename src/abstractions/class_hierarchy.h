#pragma once
// What a sparse probe's shared units say about the classes: each unit that carries a
// positive weight for several classes groups them ("a unit for all dogs", "for all
// water creatures"), and a known hierarchy — WordNet's hypernyms for ImageNet's wnids,
// or any class → group table — says whether those groups are the ones people name.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "abstractions/sparse_probe.h"

namespace clipscope::abstractions {

// Named groups of classes (by index into the probe's classes).
struct ClassHierarchy {
  std::vector<std::string> groups;
  std::vector<std::vector<size_t>> members;  // per group, sorted
};

// Every noun hypernym (transitively, '@' and '@i' pointers) of each class that is a
// WordNet 3.0 noun id ("n02084071", ImageNet's wnids, the synset's offset in data.noun),
// read from WordNet's data.noun (Debian's wordnet-base: /usr/share/wordnet/data.noun).
// A group is named by its synset's first word and id, "dog (n02084071)"; only groups
// with two or more classes are kept. Classes that are not noun ids belong to no group.
// Throws Error naming the file when it cannot be read or an id points past its end.
ClassHierarchy wordnet_hierarchy(const std::filesystem::path& data_noun, const std::vector<std::string>& class_keys);

// A table of "class<TAB>group[<TAB>group...]" lines (classes by key or name); '#' starts
// a comment. Throws Error naming the file and line for a class not among `class_keys`.
ClassHierarchy table_hierarchy(const std::filesystem::path& table, const std::vector<std::string>& class_keys);

// A unit whose positive weights span several classes, and the known group that best
// matches that set (Jaccard index, ties to the smaller group).
struct SharedUnit {
  int64_t unit = 0;
  std::vector<size_t> classes;
  std::string group;  // empty when no group shares a class
  size_t group_size = 0, shared = 0;
  double jaccard = 0;
};

struct SharedUnits {
  std::vector<SharedUnit> units;  // by class count, most first
  // Mean best Jaccard over the units, and the same with the hierarchy's classes
  // permuted (the mean over `shuffles` permutations): what a random grouping matches.
  double mean_jaccard = 0, shuffled_jaccard = 0;
  nlohmann::json to_json(const SparseProbe& probe) const;
  std::string csv(const SparseProbe& probe) const;
};

// Units with positive weights for at least `min_classes` classes, matched to `hierarchy`.
SharedUnits shared_units(const SparseProbe& probe, const ClassHierarchy& hierarchy, size_t min_classes = 2,
                         int shuffles = 20, uint64_t seed = 0);

}  // namespace clipscope::abstractions
