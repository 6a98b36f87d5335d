#pragma once
// The image tower's ReLUs taken as the identity, so that the network between two
// points is affine (convolutions, batch norms in eval mode, average pools, residual
// adds): what circuits' expanded weights read (Voss et al., Captum's
// extract_expanded_weights, which replace the ReLUs in between by identities).
namespace clipscope {

// While a guard is alive on this thread, the image tower's ReLUs pass their input
// through unchanged (forward and backward).
class LinearReluGuard {
 public:
  explicit LinearReluGuard(bool enabled = true);
  ~LinearReluGuard();
  LinearReluGuard(const LinearReluGuard&) = delete;
  LinearReluGuard& operator=(const LinearReluGuard&) = delete;

 private:
  bool previous_;
};
bool linear_relu_enabled();

}  // namespace clipscope
