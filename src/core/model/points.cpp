#include "core/model/points.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

#include "core/util/error.h"

namespace clipscope {

std::string_view layout_name(Layout layout) {
  switch (layout) {
    case Layout::NCHW:
      return "NCHW";
    case Layout::LND:
      return "LND";
    case Layout::NLD:
      return "NLD";
    case Layout::ND:
      return "ND";
    case Layout::Pattern:
      return "NHLL";
  }
  return "?";
}

Layout parse_layout(const std::string& name, const std::string& what) {
  for (Layout layout : {Layout::NCHW, Layout::LND, Layout::NLD, Layout::ND, Layout::Pattern})
    if (layout_name(layout) == name) return layout;
  throw Error(fmt::format("{}: unknown layout '{}' (expected NCHW, LND, NLD, ND or NHLL)", what, name));
}

torch::Tensor to_batch_first(const torch::Tensor& t, Layout layout) {
  return layout == Layout::LND ? t.permute({1, 0, 2}) : t;
}

int64_t channel_dim(Layout layout) {
  switch (layout) {
    case Layout::NCHW:
      return 1;
    case Layout::LND:
      return 2;
    case Layout::NLD:
      return 2;
    case Layout::ND:
      return 1;
    case Layout::Pattern:
      return 1;
  }
  return 1;
}

Reduce parse_reduce(const std::string& name) {
  if (name == "none") return Reduce::None;
  if (name == "mean") return Reduce::Mean;
  if (name == "max") return Reduce::Max;
  throw ArgumentError("reduce", name, "expected none, mean or max");
}

torch::Tensor reduce_positions(const torch::Tensor& t, Layout layout, Reduce reduce) {
  torch::Tensor x = to_batch_first(t, layout);
  if (reduce == Reduce::None || layout == Layout::ND) return x;
  // Move the unit dimension last, flatten every position in between.
  if (layout == Layout::NCHW || layout == Layout::Pattern)
    x = x.flatten(2).transpose(1, 2);  // (N, positions, C)
  else
    x = x.flatten(1, -2);  // (N, tokens, D)
  return reduce == Reduce::Mean ? x.mean(1) : std::get<0>(x.max(1));
}

ActivationCache::ActivationCache(std::vector<std::string> names, bool stop_early)
    : requested_(names.begin(), names.end()), stop_early_(stop_early) {}

ActivationCache ActivationCache::everything() {
  ActivationCache c;
  c.all_ = true;
  c.stop_early_ = false;
  return c;
}

bool ActivationCache::wants_within(const std::string& prefix) const {
  if (all_) return true;
  const std::string inside = prefix + ".";
  for (auto it = requested_.lower_bound(inside); it != requested_.end() && it->rfind(inside, 0) == 0; ++it) return true;
  return false;
}

std::string_view edit_op_name(UnitEdit::Op op) {
  switch (op) {
    case UnitEdit::Op::Set:
      return "set";
    case UnitEdit::Op::Add:
      return "add";
    case UnitEdit::Op::Scale:
      return "scale";
  }
  return "?";
}

torch::Tensor apply_edit(const torch::Tensor& value, Layout layout, const UnitEdit& edit, const std::string& point) {
  const int64_t dim = channel_dim(layout);
  const int64_t channels = value.size(dim);
  // A 0/1 mask over the channels, shaped to broadcast along the point's channel dimension.
  torch::Tensor mask = torch::zeros({channels}, value.options());
  if (edit.units.empty()) mask.fill_(1);
  for (int64_t u : edit.units) {
    if (u < 0 || u >= channels)
      throw Error(fmt::format("edit of {}: unit {} is out of range (the point has {} units)", point, u, channels));
    mask[u] = 1;
  }
  std::vector<int64_t> shape(static_cast<size_t>(value.dim()), 1);
  shape[static_cast<size_t>(dim)] = channels;
  mask = mask.view(shape);
  switch (edit.op) {
    case UnitEdit::Op::Set:
      return value * (1 - mask) + edit.value * mask;
    case UnitEdit::Op::Add:
      return value + edit.value * mask;
    case UnitEdit::Op::Scale:
      return value * (1 + (edit.value - 1) * mask);
  }
  return value;
}

void ActivationCache::edit(const std::string& point, UnitEdit edit) {
  if (!std::isfinite(edit.value)) throw Error(fmt::format("edit of {}: the value {} is not finite", point, edit.value));
  edits_[point].push_back(std::move(edit));
}

void ActivationCache::patch(const std::string& point, torch::Tensor value) {
  if (!value.defined() || value.dim() < 1)
    throw Error(fmt::format("patch of {}: the value has no batch dimension", point));
  patches_[point] = std::move(value);
}

std::vector<std::string> ActivationCache::unapplied_edits() const {
  std::set<std::string> out;
  for (const auto& [point, unused] : edits_)
    if (!applied_.count(point)) out.insert(point);
  for (const auto& [point, unused] : patches_)
    if (!applied_.count(point)) out.insert(point);
  return {out.begin(), out.end()};
}

torch::Tensor ActivationCache::record(const std::string& name, const torch::Tensor& value_in, Layout layout) {
  torch::Tensor value = value_in;
  if (auto p = patches_.find(name); p != patches_.end() && layout != Layout::Pattern) {
    const auto shape = value.sizes().vec(), patched = p->second.sizes().vec();
    // The batch dimension: first, but second for the transformer's (tokens, batch, width);
    // a convolutional map may also have another height and width.
    const size_t batch_dim = layout == Layout::LND ? 1 : 0;
    auto same = shape.size() == patched.size();
    for (size_t d = 0; same && d < shape.size(); ++d)
      same = d == batch_dim || shape[d] == patched[d] || (layout == Layout::NCHW && d >= 2);
    if (!same)
      throw Error(fmt::format("patch of {}: the value's shape [{}] does not match the point's [{}]", name,
                              fmt::join(patched, ", "), fmt::join(shape, ", ")));
    value = p->second.to(value.device(), value.scalar_type());
    applied_.insert(name);
  }
  if (auto e = edits_.find(name); e != edits_.end() && layout != Layout::Pattern) {
    for (const UnitEdit& edit : e->second) value = apply_edit(value, layout, edit, name);
    applied_.insert(name);
  }
  if (!all_ && !requested_.count(name)) return value;
  const bool reduced = value.scalar_type() == torch::kBFloat16 || value.scalar_type() == torch::kHalf;
  auto [it, inserted] =
      captured_.insert_or_assign(name, std::make_pair(reduced ? value.to(torch::kFloat) : value, layout));
  if (inserted) order_.push_back(name);
  if (stop_early_ && complete()) {
    stopped_early_ = true;
    throw StopForward();
  }
  return value;
}

const torch::Tensor& ActivationCache::operator[](const std::string& name) const {
  auto it = captured_.find(name);
  if (it == captured_.end()) throw Error(fmt::format("activation '{}' was not captured", name));
  return it->second.first;
}

Layout ActivationCache::layout(const std::string& name) const {
  auto it = captured_.find(name);
  if (it == captured_.end()) throw Error(fmt::format("activation '{}' was not captured", name));
  return it->second.second;
}

std::vector<std::string> ActivationCache::missing() const {
  std::vector<std::string> out;
  for (const auto& n : requested_)
    if (!captured_.count(n)) out.push_back(n);
  return out;
}

void ActivationCache::clear() {
  captured_.clear();
  order_.clear();
  applied_.clear();
  stopped_early_ = false;
}

}  // namespace clipscope
