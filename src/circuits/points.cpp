#include "circuits/points.h"

#include <fmt/format.h>

#include <regex>

#include "core/util/error.h"

namespace clipscope::circuits {

size_t conv_point_index(const CLIPImpl& model, const std::string& parameter, const std::string& canonical) {
  const auto& points = model.points();
  for (size_t i = 0; i < points.size(); ++i) {
    if (points[i].name != canonical) continue;
    if (points[i].layout != Layout::NCHW || canonical.rfind("visual.", 0) != 0)
      throw ArgumentError(parameter, canonical,
                          "not a convolutional map of a ResNet's image tower (the circuits tools need one)");
    return i;
  }
  throw ArgumentError(parameter, canonical, "no such point");
}

ExactPrecision::ExactPrecision(CLIPImpl& model) : model_(model), previous_(model.precision()) {
  if (previous_ != Precision::Exact) model_.set_precision(Precision::Exact);
}

ExactPrecision::~ExactPrecision() {
  if (previous_ != Precision::Exact) model_.set_precision(previous_);
}

std::string block_input(const CLIPImpl& model, const std::string& block) {
  static const std::regex bottleneck(R"(visual\.layer\d+\.\d+)");
  std::string previous;
  for (const auto& p : model.points()) {
    if (p.name == block) return previous;
    if (p.name == "visual.avgpool" || std::regex_match(p.name, bottleneck)) previous = p.name;
  }
  return "";
}

}  // namespace clipscope::circuits
