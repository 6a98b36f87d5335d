#pragma once
// What the circuits tools ask of the points they read: convolutional maps of a ResNet's
// image tower, in the forward's order, on a model whose captured points are the values
// the network computes with (exact precision: the fast paths change dtypes, and a
// captured copy is not in the graph).
#include <cstddef>
#include <string>

#include "core/model/clip.h"
#include "core/model/precision.h"

namespace clipscope::circuits {

// The point's position in the forward's order; ArgumentError naming `parameter` unless
// `canonical` is a convolutional map of the image tower.
size_t conv_point_index(const CLIPImpl& model, const std::string& parameter, const std::string& canonical);
// While alive, the model runs at exact precision (the fast paths fold batch norms and
// change dtypes between points, and a captured copy is not in the graph); its precision
// is restored after. Not for a model that other threads run at the same time.
class ExactPrecision {
 public:
  explicit ExactPrecision(CLIPImpl& model);
  ~ExactPrecision();
  ExactPrecision(const ExactPrecision&) = delete;
  ExactPrecision& operator=(const ExactPrecision&) = delete;

 private:
  CLIPImpl& model_;
  Precision previous_;
};

// The output of the bottleneck (or stem) that feeds `block` (a bottleneck's canonical
// name): the previous bottleneck's output, or visual.avgpool before the first; empty when
// there is none.
std::string block_input(const CLIPImpl& model, const std::string& block);

}  // namespace clipscope::circuits
