#include "core/model/modules.h"

#include "core/model/linear_relu.h"

#include <torch/autograd.h>

#include <cmath>

namespace clipscope {
namespace F = torch::nn::functional;
using torch::Tensor;

namespace {

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

// Scaled dot-product attention over OpenAI's (tokens, batch, width) layout, as
// F.multi_head_attention_forward computes it after the input projections.
// Returns (query tokens, batch, width); `pattern` receives (batch, heads, Lq, Lk).
Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, const Tensor& mask, Tensor* pattern) {
  const int64_t lq = q.size(0), lk = k.size(0), batch = q.size(1), width = q.size(2), head_dim = width / heads;
  auto split = [&](const Tensor& t, int64_t len) { return t.reshape({len, batch * heads, head_dim}).transpose(0, 1); };
  Tensor qh = split(q, lq) * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  Tensor scores = torch::bmm(qh, split(k, lk).transpose(1, 2));
  if (mask.defined()) scores = scores + mask.to(scores.scalar_type());
  Tensor attn = torch::softmax(scores, -1);
  if (pattern) *pattern = attn.view({batch, heads, lq, lk});
  return torch::bmm(attn, split(v, lk)).transpose(0, 1).reshape({lq, batch, width});
}

Tensor avg_pool(const Tensor& x, int64_t size) { return F::avg_pool2d(x, F::AvgPool2dFuncOptions(size)); }

// The fast path's conv -> batch norm: one folded convolution; the exact path's: both, each marked.
// Both mark the normed value under bn_leaf.
template <typename Mark>
Tensor conv_bn(const FoldedConv* folded, torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn, const Tensor& x,
               std::string_view conv_leaf, std::string_view bn_leaf, Mark&& m) {
  if (folded) return m(bn_leaf, (*folded)(x));
  return m(bn_leaf, bn(m(conv_leaf, conv(x))));
}

thread_local bool redirect_relu = false;
thread_local bool linear_relu = false;

struct RedirectedReluFunction : torch::autograd::Function<RedirectedReluFunction> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x) {
    ctx->save_for_backward({x});
    return torch::relu(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const Tensor x = ctx->get_saved_variables()[0];
    const Tensor& g = grads[0];
    const Tensor negative = x < 0;
    const Tensor relu_grad = g.masked_fill(negative, 0);
    const Tensor redirected = g.masked_fill(negative & (g > 0), 0);
    std::vector<int64_t> per_item(static_cast<size_t>(x.dim()), 1);
    per_item[0] = x.size(0);
    const Tensor passes = relu_grad.reshape({x.size(0), -1}).abs().amax(1).gt(0).reshape(per_item);
    return {torch::where(passes, relu_grad, redirected)};
  }
};

// ReLU in place where the input is not a captured point (saves a large allocation per layer).
Tensor relu_of(Tensor x, bool in_place) {
  if (linear_relu) return x;
  if (redirect_relu && torch::GradMode::is_enabled() && x.requires_grad()) return redirected_relu(x);
  return in_place ? x.relu_() : torch::relu(x);
}

}  // namespace

RedirectedReluGuard::RedirectedReluGuard(bool enabled) : previous_(redirect_relu) { redirect_relu = enabled; }
RedirectedReluGuard::~RedirectedReluGuard() { redirect_relu = previous_; }
bool redirected_relu_enabled() { return redirect_relu; }
LinearReluGuard::LinearReluGuard(bool enabled) : previous_(linear_relu) { linear_relu = enabled; }
LinearReluGuard::~LinearReluGuard() { linear_relu = previous_; }
bool linear_relu_enabled() { return linear_relu; }
Tensor redirected_relu(const Tensor& x) { return RedirectedReluFunction::apply(x); }

Tensor quick_gelu(const Tensor& x) { return x * torch::sigmoid(1.702 * x); }

Tensor activate(const Tensor& x, Activation activation) {
  return activation == Activation::GELU ? torch::gelu(x) : quick_gelu(x);
}

// ----- Fast path ----------------------------------------------------------------

FoldedConv::FoldedConv(const torch::nn::Conv2d& conv, const torch::nn::BatchNorm2d& bn, torch::ScalarType dtype)
    : stride(conv->options.stride()->begin(), conv->options.stride()->end()) {
  const auto& pad = c10::get<torch::ExpandingArray<2>>(conv->options.padding());
  padding.assign(pad->begin(), pad->end());
  torch::NoGradGuard no_grad;
  // Fold in double so the folded weights round once, to the compute dtype.
  Tensor w = conv->weight.detach().to(torch::kDouble);
  Tensor b = torch::zeros({w.size(0)}, w.options());
  if (bn) {
    const Tensor scale =
        bn->weight.to(torch::kDouble) / (bn->running_var.to(torch::kDouble) + bn->options.eps()).sqrt();
    w = w * scale.view({-1, 1, 1, 1});
    b = bn->bias.to(torch::kDouble) - bn->running_mean.to(torch::kDouble) * scale;
  }
  weight = w.to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
  bias = b.to(dtype);
}

Tensor FoldedConv::operator()(const Tensor& x) const { return torch::conv2d(x, weight, bias, stride, padding); }

FastLinear::FastLinear(const Tensor& w, const Tensor& b, torch::ScalarType dtype)
    : weight(w.detach().to(dtype).contiguous()), bias(b.defined() ? b.detach().to(dtype) : Tensor()) {}

Tensor FastLinear::operator()(const Tensor& x) const { return F::linear(x.to(weight.scalar_type()), weight, bias); }

Tensor to_fast(const Tensor& x, torch::ScalarType dtype) {
  Tensor y = x.to(dtype);
  return y.dim() == 4 ? y.contiguous(torch::MemoryFormat::ChannelsLast) : y;
}

// ----- ModifiedResNet -----------------------------------------------------------

DownsampleImpl::DownsampleImpl(int64_t in, int64_t out, int64_t stride_) : stride(stride_) {
  conv = register_module("0", make_conv(in, out, 1));
  bn = register_module("1", torch::nn::BatchNorm2d(out));
}

BottleneckImpl::BottleneckImpl(std::string path_, int64_t inplanes, int64_t planes, int64_t stride_)
    : path(std::move(path_)), stride(stride_) {
  const int64_t expansion = 4;
  conv1 = register_module("conv1", make_conv(inplanes, planes, 1));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", make_conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(planes));
  conv3 = register_module("conv3", make_conv(planes, planes * expansion, 1));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(planes * expansion));
  if (stride > 1 || inplanes != planes * expansion)
    downsample = register_module("downsample", Downsample(inplanes, planes * expansion, stride));
}

Tensor BottleneckImpl::forward(const Tensor& x_in, ActivationCache* cache) {
  auto m = [&](std::string_view leaf, const Tensor& t) -> Tensor { return mark(cache, path, leaf, t, Layout::NCHW); };
  // The fast path has no convolution outputs before their norms: a block asked for one runs exactly.
  const bool fast = !folded_.empty() && !wants_any(cache, path, {"conv1", "conv2", "conv3", "downsample.0"});
  const bool in_place = fast && !(cache && cache->wants_within(path));
  const Tensor x = fast ? to_fast(x_in, folded_[0].weight.scalar_type()) : x_in.to(torch::kFloat);
  auto folded = [&](size_t i) { return fast ? &folded_[i] : nullptr; };

  Tensor out = m("relu1", relu_of(conv_bn(folded(0), conv1, bn1, x, "conv1", "bn1", m), in_place));
  out = m("relu2", relu_of(conv_bn(folded(1), conv2, bn2, out, "conv2", "bn2", m), in_place));
  if (stride > 1) out = m("avgpool", avg_pool(out, stride));
  out = conv_bn(folded(2), conv3, bn3, out, "conv3", "bn3", m);

  Tensor shortcut = x;
  if (downsample) {
    shortcut = conv_bn(folded(3), downsample->conv, downsample->bn, stride > 1 ? avg_pool(x, stride) : x,
                       "downsample.0", "downsample.1", m);
    shortcut = m("downsample", shortcut);
  }
  // The residual sum before the final ReLU: where the article reads negative activations.
  out = m("add", in_place ? out.add_(shortcut) : out + shortcut);
  out = m("relu3", relu_of(out, in_place));
  return m("", out);
}

void BottleneckImpl::set_fast(FastDtype dtype) {
  folded_.clear();
  if (!dtype) return;
  folded_ = {FoldedConv(conv1, bn1, *dtype), FoldedConv(conv2, bn2, *dtype), FoldedConv(conv3, bn3, *dtype)};
  if (downsample) folded_.emplace_back(downsample->conv, downsample->bn, *dtype);
}

AttentionPool2dImpl::AttentionPool2dImpl(std::string path_, int64_t spacial_dim, int64_t embed_dim, int64_t num_heads_,
                                         int64_t output_dim)
    : path(std::move(path_)), num_heads(num_heads_) {
  positional_embedding =
      register_parameter("positional_embedding", torch::randn({spacial_dim * spacial_dim + 1, embed_dim}) /
                                                     std::sqrt(static_cast<double>(embed_dim)));
  k_proj = register_module("k_proj", torch::nn::Linear(embed_dim, embed_dim));
  q_proj = register_module("q_proj", torch::nn::Linear(embed_dim, embed_dim));
  v_proj = register_module("v_proj", torch::nn::Linear(embed_dim, embed_dim));
  c_proj = register_module("c_proj", torch::nn::Linear(embed_dim, output_dim));
}

Tensor AttentionPool2dImpl::forward(const Tensor& x_in, ActivationCache* cache) {
  const bool fast = static_cast<bool>(fast_q_);
  Tensor x = x_in.flatten(2).permute({2, 0, 1});  // (HW, N, C)
  if (!fast) x = x.to(torch::kFloat);
  x = torch::cat({x.mean(0, /*keepdim=*/true), x}, 0);  // mean token first
  x = x + (fast ? fast_positional_embedding_ : positional_embedding).unsqueeze(1);
  Tensor pattern;
  const bool want_pattern = cache && cache->wants(path + ".pattern");
  Tensor q, k, v;
  if (fast) {
    q = fast_q_(x.slice(0, 0, 1));
    auto kv = fast_kv_(x).chunk(2, -1);
    k = kv[0], v = kv[1];
  } else {
    q = q_proj(x.slice(0, 0, 1)), k = k_proj(x), v = v_proj(x);
  }
  Tensor out = attend(q, k, v, num_heads, Tensor(), want_pattern ? &pattern : nullptr);
  if (want_pattern) mark(cache, path, "pattern", pattern, Layout::Pattern);
  return mark(cache, path, "", (fast ? fast_c_(out) : c_proj(out)).squeeze(0), Layout::ND);
}

void AttentionPool2dImpl::set_fast(FastDtype dtype) {
  if (!dtype) {
    fast_q_ = fast_kv_ = fast_c_ = {};
    fast_positional_embedding_ = Tensor();
    return;
  }
  torch::NoGradGuard no_grad;
  fast_q_ = FastLinear(q_proj->weight, q_proj->bias, *dtype);
  fast_kv_ = FastLinear(torch::cat({k_proj->weight, v_proj->weight}), torch::cat({k_proj->bias, v_proj->bias}), *dtype);
  fast_c_ = FastLinear(c_proj->weight, c_proj->bias, *dtype);
  fast_positional_embedding_ = positional_embedding.detach().to(*dtype);
}

ModifiedResNet::ModifiedResNet(const std::vector<int64_t>& layers, int64_t output_dim, int64_t heads,
                               int64_t input_resolution, int64_t width) {
  conv1 = register_module("conv1", make_conv(3, width / 2, 3, 2, 1));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(width / 2));
  conv2 = register_module("conv2", make_conv(width / 2, width / 2, 3, 1, 1));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(width / 2));
  conv3 = register_module("conv3", make_conv(width / 2, width, 3, 1, 1));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(width));

  int64_t inplanes = width;
  for (size_t s = 0; s < layers.size(); ++s) {
    const std::string name = "layer" + std::to_string(s + 1);
    const int64_t planes = width << s;
    torch::nn::ModuleList blocks;
    for (int64_t b = 0; b < layers[s]; ++b) {
      const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
      blocks->push_back(Bottleneck("visual." + name + "." + std::to_string(b), inplanes, planes, stride));
      inplanes = planes * 4;
    }
    stages.push_back(register_module(name, blocks));
  }
  const int64_t embed_dim = width * 32;  // the ResNet feature dimension
  attnpool = register_module("attnpool",
                             AttentionPool2d("visual.attnpool", input_resolution / 32, embed_dim, heads, output_dim));
}

Tensor ModifiedResNet::forward(const Tensor& images, ActivationCache* cache) {
  auto m = [&](std::string_view leaf, const Tensor& t) -> Tensor {
    return mark(cache, "visual", leaf, t, Layout::NCHW);
  };
  const bool fast = !folded_stem_.empty() && !wants_any(cache, "visual", {"conv1", "conv2", "conv3"});
  const bool in_place = fast && !wants_any(cache, "visual", {"bn1", "bn2", "bn3"});
  const Tensor input = fast ? to_fast(images, folded_stem_[0].weight.scalar_type()) : images;
  auto folded = [&](size_t i) { return fast ? &folded_stem_[i] : nullptr; };
  Tensor x = m("relu1", relu_of(conv_bn(folded(0), conv1, bn1, input, "conv1", "bn1", m), in_place));
  x = m("relu2", relu_of(conv_bn(folded(1), conv2, bn2, x, "conv2", "bn2", m), in_place));
  x = m("relu3", relu_of(conv_bn(folded(2), conv3, bn3, x, "conv3", "bn3", m), in_place));
  x = m("avgpool", avg_pool(x, 2));
  for (size_t s = 0; s < stages.size(); ++s) {
    for (const auto& block : *stages[s]) x = block->as<BottleneckImpl>()->forward(x, cache);
    x = m("layer" + std::to_string(s + 1), x);
  }
  return attnpool->forward(x, cache);
}

void ModifiedResNet::set_fast(FastDtype dtype) {
  folded_stem_.clear();
  if (dtype)
    folded_stem_ = {FoldedConv(conv1, bn1, *dtype), FoldedConv(conv2, bn2, *dtype), FoldedConv(conv3, bn3, *dtype)};
  for (auto& stage : stages)
    for (const auto& block : *stage) block->as<BottleneckImpl>()->set_fast(dtype);
  attnpool->set_fast(dtype);
}

// ----- Transformer ------------------------------------------------------------

MultiheadAttentionImpl::MultiheadAttentionImpl(std::string path_, int64_t width, int64_t heads_)
    : path(std::move(path_)), heads(heads_) {
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * width, width}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * width}));
  out_proj = register_module("out_proj", torch::nn::Linear(width, width));
  torch::nn::init::xavier_uniform_(in_proj_weight);
}

Tensor MultiheadAttentionImpl::forward(const Tensor& x, const Tensor& mask, ActivationCache* cache) {
  const bool fast = static_cast<bool>(fast_in_);
  auto qkv = (fast ? fast_in_(x) : F::linear(x, in_proj_weight, in_proj_bias)).chunk(3, -1);
  Tensor pattern;
  const bool want_pattern = cache && cache->wants(path + ".pattern");
  Tensor out = attend(qkv[0], qkv[1], qkv[2], heads, mask, want_pattern ? &pattern : nullptr);
  if (want_pattern) mark(cache, path, "pattern", pattern, Layout::Pattern);
  return mark(cache, path, "", fast ? fast_out_(out) : out_proj(out), Layout::LND);
}

// Only reduced precision changes a transformer: fp32 has nothing to fold.
void MultiheadAttentionImpl::set_fast(FastDtype dtype) {
  const bool reduced = dtype && *dtype != torch::kFloat;
  fast_in_ = reduced ? FastLinear(in_proj_weight, in_proj_bias, *dtype) : FastLinear();
  fast_out_ = reduced ? FastLinear(out_proj->weight, out_proj->bias, *dtype) : FastLinear();
}

MlpImpl::MlpImpl(std::string path_, int64_t width, Activation activation_)
    : path(std::move(path_)), activation(activation_) {
  c_fc = register_module("c_fc", torch::nn::Linear(width, width * 4));
  c_proj = register_module("c_proj", torch::nn::Linear(width * 4, width));
}

Tensor MlpImpl::forward(const Tensor& x, ActivationCache* cache) {
  auto m = [&](std::string_view leaf, const Tensor& t) -> Tensor { return mark(cache, path, leaf, t, Layout::LND); };
  if (fast_fc_) return m("", m("c_proj", fast_proj_(m("gelu", activate(m("c_fc", fast_fc_(x)), activation)))));
  return m("", m("c_proj", c_proj(m("gelu", activate(m("c_fc", c_fc(x)), activation)))));
}

void MlpImpl::set_fast(FastDtype dtype) {
  const bool reduced = dtype && *dtype != torch::kFloat;
  fast_fc_ = reduced ? FastLinear(c_fc->weight, c_fc->bias, *dtype) : FastLinear();
  fast_proj_ = reduced ? FastLinear(c_proj->weight, c_proj->bias, *dtype) : FastLinear();
}

ResidualAttentionBlockImpl::ResidualAttentionBlockImpl(std::string path_, int64_t width, int64_t heads,
                                                       Activation activation)
    : path(std::move(path_)) {
  attn = register_module("attn", MultiheadAttention(path + ".attn", width, heads));
  ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  mlp = register_module("mlp", Mlp(path + ".mlp", width, activation));
  ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
}

Tensor ResidualAttentionBlockImpl::forward(const Tensor& x_in, const Tensor& mask, ActivationCache* cache) {
  auto m = [&](std::string_view leaf, const Tensor& t) -> Tensor { return mark(cache, path, leaf, t, Layout::LND); };
  // The residual stream stays fp32 on every path; reduced-precision branches are added to it.
  Tensor x = x_in + attn->forward(m("ln_1", ln_1(x_in)), mask, cache);
  x = x + mlp->forward(m("ln_2", ln_2(x)), cache);
  return m("", x);
}

void ResidualAttentionBlockImpl::set_fast(FastDtype dtype) {
  attn->set_fast(dtype);
  mlp->set_fast(dtype);
}

TransformerImpl::TransformerImpl(std::string path, int64_t width, int64_t layers, int64_t heads,
                                 Activation activation) {
  resblocks = register_module("resblocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i)
    resblocks->push_back(ResidualAttentionBlock(path + ".resblocks." + std::to_string(i), width, heads, activation));
}

Tensor TransformerImpl::forward(const Tensor& x_in, const Tensor& mask, ActivationCache* cache) {
  Tensor x = x_in;
  for (const auto& block : *resblocks) x = block->as<ResidualAttentionBlockImpl>()->forward(x, mask, cache);
  return x;
}

void TransformerImpl::set_fast(FastDtype dtype) {
  for (const auto& block : *resblocks) block->as<ResidualAttentionBlockImpl>()->set_fast(dtype);
}

VisionTransformer::VisionTransformer(int64_t input_resolution, int64_t patch_size, int64_t width, int64_t layers,
                                     int64_t heads, int64_t output_dim, Activation activation) {
  conv1 = register_module("conv1", make_conv(3, width, patch_size, patch_size));
  const double scale = 1.0 / std::sqrt(static_cast<double>(width));
  const int64_t grid = input_resolution / patch_size;
  class_embedding = register_parameter("class_embedding", scale * torch::randn({width}));
  positional_embedding = register_parameter("positional_embedding", scale * torch::randn({grid * grid + 1, width}));
  ln_pre = register_module("ln_pre", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  transformer = register_module("transformer", Transformer("visual.transformer", width, layers, heads, activation));
  ln_post = register_module("ln_post", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  proj = register_parameter("proj", scale * torch::randn({width, output_dim}));
}

Tensor VisionTransformer::forward(const Tensor& images, ActivationCache* cache) {
  const bool fast = fast_conv1_.weight.defined();
  Tensor x = mark(cache, "visual", "conv1",
                  fast ? fast_conv1_(images.to(fast_conv1_.weight.scalar_type())).to(torch::kFloat) : conv1(images),
                  Layout::NCHW);        // (N, width, grid, grid)
  x = x.flatten(2).permute({0, 2, 1});  // (N, grid², width)
  x = torch::cat({class_embedding.expand({x.size(0), 1, x.size(2)}), x}, 1);
  x = x + positional_embedding;
  x = mark(cache, "visual", "ln_pre", ln_pre(x), Layout::NLD).permute({1, 0, 2});  // -> (tokens, N, width)
  x = transformer->forward(x, Tensor(), cache);
  x = mark(cache, "visual", "ln_post", ln_post(x.select(0, 0)), Layout::ND);  // class token
  return mark(cache, "visual", "proj", torch::matmul(x, proj), Layout::ND);
}

void VisionTransformer::set_fast(FastDtype dtype) {
  const bool reduced = dtype && *dtype != torch::kFloat;
  fast_conv1_ = reduced ? FoldedConv(conv1, nullptr, *dtype) : FoldedConv();
  transformer->set_fast(dtype);
}

}  // namespace clipscope
