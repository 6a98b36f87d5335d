#pragma once
// Named activation points. Every intermediate value of the network has a stable,
// printable name: OpenAI's module path whose output it is ("visual.layer4.2",
// "visual.layer4.2.conv3", "visual.transformer.resblocks.11.mlp.gelu",
// "transformer.resblocks.3"), plus a few points that are not module outputs
// ("visual.layer4.2.add" = a bottleneck's residual sum before its final ReLU,
// "...attn.pattern" = attention probabilities). An ActivationCache asks for a
// set of points; the forward pass records them (with autograd intact) and stops
// as soon as the last one is computed.
#include <torch/types.h>

#include <exception>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace clipscope {

// Memory layout of a point's tensor (batch is always present).
enum class Layout {
  NCHW,     // convolutional maps: (batch, channels, height, width)
  LND,      // transformer residual stream, OpenAI's layout: (tokens, batch, width)
  NLD,      // token sequences before the transformer's permute: (batch, tokens, width)
  ND,       // pooled vectors: (batch, width)
  Pattern,  // attention probabilities: (batch, heads, query tokens, key tokens)
};

std::string_view layout_name(Layout layout);
// The inverse of layout_name; throws Error naming `what` and the name otherwise.
Layout parse_layout(const std::string& name, const std::string& what);
// Batch-first view of a point's tensor: LND -> (batch, tokens, width); others unchanged.
torch::Tensor to_batch_first(const torch::Tensor& t, Layout layout);
// The channel ("unit") dimension of a point's tensor in its own layout.
int64_t channel_dim(Layout layout);

// Reducing a point's positions (spatial cells or tokens) to one value per unit.
enum class Reduce { None, Mean, Max };
Reduce parse_reduce(const std::string& name);  // "none" | "mean" | "max"; throws Error
// Batch-first result: None keeps the batch-first tensor; Mean/Max give (batch, channels).
torch::Tensor reduce_positions(const torch::Tensor& t, Layout layout, Reduce reduce);

// Thrown by ActivationCache::record once every requested point is captured; the
// model's entry points catch it. Cheap: no message, no backtrace.
struct StopForward : std::exception {
  const char* what() const noexcept override { return "forward stopped after the last requested point"; }
};

// An edit of some units of a point during the forward pass (TransformerLens's patching
// hooks): set them to a value, add a value, or multiply them by it. Applied out of
// place, so gradients flow through the edit to the other units and to earlier points.
struct UnitEdit {
  enum class Op { Set, Add, Scale };
  Op op = Op::Add;
  std::vector<int64_t> units;  // channels of the point; empty: every channel
  double value = 0;
};
std::string_view edit_op_name(UnitEdit::Op op);  // "set" | "add" | "scale"
// The edited tensor; throws Error naming `point` when a unit is out of range.
torch::Tensor apply_edit(const torch::Tensor& value, Layout layout, const UnitEdit& edit, const std::string& point);

class ActivationCache {
 public:
  // Capture `names` (canonical or alias names; aliases are resolved by the model).
  // stop_early: end the forward after the last requested point.
  explicit ActivationCache(std::vector<std::string> names, bool stop_early = true);
  // Capture every point, in execution order (used to list the layers).
  static ActivationCache everything();

  // Edit `point` (a canonical name: resolve aliases with CLIPImpl::resolve_point) on
  // every later forward; edits of one point apply in the order given. Capturing the
  // point records the edited value, the one the rest of the network sees.
  void edit(const std::string& point, UnitEdit edit);
  const std::map<std::string, std::vector<UnitEdit>>& edits() const { return edits_; }
  // Replace `point`'s whole value (a canonical name) on every later forward with `value`
  // (activation patching): the same shape but for the batch size, which may differ from
  // the input's (the rest of the network then runs on the patched batch: many variants of
  // one point through the later layers without recomputing the earlier ones), and for a
  // convolutional map's height and width (the later layers then run on that grid: a
  // window of the map, as the circuits tools use it). Gradients flow to `value`; the
  // point's edits apply after the patch. Throws Error naming the point when the forward's
  // value has another shape.
  void patch(const std::string& point, torch::Tensor value);
  // Edited or patched points the last forward did not reach or could not edit (attention
  // patterns are read, not edited).
  std::vector<std::string> unapplied_edits() const;

  // Called by the model at each point: applies the point's edits, stores the result
  // when requested (reduced precision values as fp32, so a point reads the same
  // whatever the precision) and returns it; throws StopForward when that completes
  // the request and stop_early is set.
  torch::Tensor record(const std::string& name, const torch::Tensor& value, Layout layout);
  bool wants(const std::string& name) const {
    return all_ || requested_.count(name) > 0 || edits_.count(name) > 0 || patches_.count(name) > 0;
  }
  // Whether any point inside `prefix` ("visual.layer4.2" -> "visual.layer4.2.conv1", ...) is wanted.
  bool wants_within(const std::string& prefix) const;
  bool complete() const { return !all_ && captured_.size() == requested_.size(); }
  // True when the last forward ended at the last requested point.
  bool stopped_early() const { return stopped_early_; }
  const std::set<std::string>& requested() const { return requested_; }
  bool captures_everything() const { return all_; }

  const torch::Tensor& operator[](const std::string& name) const;
  bool contains(const std::string& name) const { return captured_.count(name) > 0; }
  Layout layout(const std::string& name) const;
  // Names in the order the forward pass produced them.
  const std::vector<std::string>& order() const { return order_; }
  // Requested names that the forward never produced (unknown names).
  std::vector<std::string> missing() const;
  void clear();

 private:
  ActivationCache() = default;
  std::set<std::string> requested_;
  bool all_ = false;
  bool stop_early_ = true;
  bool stopped_early_ = false;
  std::map<std::string, std::pair<torch::Tensor, Layout>> captured_;
  std::vector<std::string> order_;
  std::map<std::string, std::vector<UnitEdit>> edits_;
  std::map<std::string, torch::Tensor> patches_;
  std::set<std::string> applied_;
};

// Whether `cache` wants any of prefix.leaf for the given leaves.
inline bool wants_any(const ActivationCache* cache, const std::string& prefix,
                      std::initializer_list<std::string_view> leaves) {
  if (!cache) return false;
  for (auto leaf : leaves)
    if (cache->wants(prefix + "." + std::string(leaf))) return true;
  return false;
}

// Helper used inside modules: records `value` under prefix + "." + leaf (or prefix
// alone when leaf is empty) when a cache is present; returns the value the network
// goes on with (edited when the cache edits the point).
inline torch::Tensor mark(ActivationCache* cache, const std::string& prefix, std::string_view leaf,
                          const torch::Tensor& value, Layout layout) {
  if (cache) {
    std::string name = leaf.empty() ? prefix : prefix + "." + std::string(leaf);
    if (cache->wants(name)) return cache->record(name, value, layout);
  }
  return value;
}

}  // namespace clipscope
