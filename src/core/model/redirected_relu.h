#pragma once
// The image tower's ReLU with feature visualization's gradient override. Kept out
// of modules.h so that the model reads like OpenAI's clip/model.py.
#include <torch/types.h>

namespace clipscope {

// Feature visualization's gradient override (lucid's redirected_relu_grad): early in
// an optimization most units are dead, so plain ReLUs pass no gradient. While a
// guard is alive on this thread, the image tower's ReLUs compute relu(x) but pass
// the incoming gradient g of the loss (minimized) as: the ReLU's own gradient where
// that is non-zero for a batch element; otherwise g, except where x < 0 and g > 0
// (which would push an already negative input lower).
class RedirectedReluGuard {
 public:
  explicit RedirectedReluGuard(bool enabled = true);
  ~RedirectedReluGuard();
  RedirectedReluGuard(const RedirectedReluGuard&) = delete;
  RedirectedReluGuard& operator=(const RedirectedReluGuard&) = delete;

 private:
  bool previous_;
};
bool redirected_relu_enabled();
torch::Tensor redirected_relu(const torch::Tensor& x);

}  // namespace clipscope
