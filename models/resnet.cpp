// Dilated ResNet backbones: He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016),
// with torchvision's module tree (v1.5 bottleneck: stride on the 3×3 conv) and the dilation of
// Yu & Koltun / DeepLab for dense prediction. Conventions are documented in resnet.h.

#include "models/resnet.h"

#include "models/cost.h"
#include "models/init.h"
#include "src/core/error.h"

#include <fmt/format.h>

#include <cmath>
#include <utility>

namespace cwd::models {
namespace {

using detail::add_cost;
using detail::bn_cost;
using detail::conv_cost;
using detail::make_conv;
using detail::Spatial;

int64_t scaled(int64_t base, double width) {
  return std::max<int64_t>(1, std::llround(static_cast<double>(base) * width));
}

/// Conv 1×1 + BN registered as "0" and "1", or an empty holder when the block keeps its shape.
torch::nn::Sequential make_downsample(int64_t in, int64_t out, int64_t stride) {
  if (stride == 1 && in == out) return nullptr;
  return torch::nn::Sequential(make_conv(in, out, 1, stride), BatchNorm2d(out));
}

/// Cost of a downsample branch (conv + BN), or 0 when there is none.
double downsample_cost(const torch::nn::Sequential& ds, Spatial in) {
  if (!ds) return 0;
  double flops = 0;
  const auto* conv = ds->ptr(0)->as<torch::nn::Conv2dImpl>();
  const Spatial out = conv_cost(*conv, in, flops);
  return flops + bn_cost(conv->options.out_channels(), out);
}

/// Two 3×3 convs (ResNet-18/34). Members: conv1, bn1, conv2, bn2, [downsample].
class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 1;

  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride, int64_t dilation)
      : conv1_(register_module("conv1", make_conv(in, planes, 3, stride, dilation))),
        bn1_(register_module("bn1", BatchNorm2d(planes))),
        conv2_(register_module("conv2", make_conv(planes, planes, 3, 1, dilation))),
        bn2_(register_module("bn2", BatchNorm2d(planes))),
        downsample_(make_downsample(in, planes * kExpansion, stride)) {
    if (downsample_) register_module("downsample", downsample_);
  }

  torch::Tensor forward(const torch::Tensor& x) {
    auto out = bn1_(conv1_(x)).relu_();
    out = bn2_(conv2_(out));
    out += downsample_ ? downsample_->forward(x) : x;
    return torch::relu_(out);
  }

  Spatial cost(Spatial in, double& flops) const {
    Spatial s = conv_cost(*conv1_, in, flops);
    flops += bn_cost(conv1_->options.out_channels(), s);
    s = conv_cost(*conv2_, s, flops);
    const int64_t c = conv2_->options.out_channels();
    flops += bn_cost(c, s) + add_cost(c, s) + downsample_cost(downsample_, in);
    return s;
  }

 private:
  torch::nn::Conv2d conv1_;
  BatchNorm2d bn1_;
  torch::nn::Conv2d conv2_;
  BatchNorm2d bn2_;
  torch::nn::Sequential downsample_;
};
TORCH_MODULE(BasicBlock);

/// 1×1 → 3×3 (stride, dilation) → 1×1 with 4× expansion (ResNet-50/101, torchvision v1.5).
/// Members: conv1, bn1, conv2, bn2, conv3, bn3, [downsample].
class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;

  BottleneckImpl(int64_t in, int64_t planes, int64_t stride, int64_t dilation)
      : conv1_(register_module("conv1", make_conv(in, planes, 1))),
        bn1_(register_module("bn1", BatchNorm2d(planes))),
        conv2_(register_module("conv2", make_conv(planes, planes, 3, stride, dilation))),
        bn2_(register_module("bn2", BatchNorm2d(planes))),
        conv3_(register_module("conv3", make_conv(planes, planes * kExpansion, 1))),
        bn3_(register_module("bn3", BatchNorm2d(planes * kExpansion))),
        downsample_(make_downsample(in, planes * kExpansion, stride)) {
    if (downsample_) register_module("downsample", downsample_);
  }

  torch::Tensor forward(const torch::Tensor& x) {
    auto out = bn1_(conv1_(x)).relu_();
    out = bn2_(conv2_(out)).relu_();
    out = bn3_(conv3_(out));
    out += downsample_ ? downsample_->forward(x) : x;
    return torch::relu_(out);
  }

  Spatial cost(Spatial in, double& flops) const {
    Spatial s = conv_cost(*conv1_, in, flops);
    flops += bn_cost(conv1_->options.out_channels(), s);
    s = conv_cost(*conv2_, s, flops);
    flops += bn_cost(conv2_->options.out_channels(), s);
    s = conv_cost(*conv3_, s, flops);
    const int64_t c = conv3_->options.out_channels();
    flops += bn_cost(c, s) + add_cost(c, s) + downsample_cost(downsample_, in);
    return s;
  }

 private:
  torch::nn::Conv2d conv1_;
  BatchNorm2d bn1_;
  torch::nn::Conv2d conv2_;
  BatchNorm2d bn2_;
  torch::nn::Conv2d conv3_;
  BatchNorm2d bn3_;
  torch::nn::Sequential downsample_;
};
TORCH_MODULE(Bottleneck);

/// One stage: `blocks` blocks named "0", "1", ...; the first one strides and projects.
template <typename Block>
torch::nn::Sequential make_layer(int64_t& in, int64_t planes, int64_t blocks, int64_t stride,
                                 int64_t dilation) {
  torch::nn::Sequential layer;
  for (int64_t i = 0; i < blocks; ++i) {
    layer->push_back(Block(in, planes, i == 0 ? stride : 1, dilation));
    in = planes * Block::ContainedType::kExpansion;
  }
  return layer;
}

/// Cost of a stage built by make_layer (its blocks are basic blocks or bottlenecks).
Spatial layer_cost(const torch::nn::Sequential& layer, Spatial s, double& flops) {
  for (const auto& child : layer->children()) {
    if (const auto* basic = child->as<BasicBlockImpl>()) {
      s = basic->cost(s, flops);
    } else if (const auto* bottleneck = child->as<BottleneckImpl>()) {
      s = bottleneck->cost(s, flops);
    } else {
      throw Error("internal: a ResNet layer holds a module that is neither block type");
    }
  }
  return s;
}

Spatial maxpool_out(Spatial s) {
  return {detail::window_out(s.h, 3, 2, 1, 1), detail::window_out(s.w, 3, 2, 1, 1)};
}

}  // namespace

namespace detail {

void kaiming_init(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2dImpl>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* bn = m->as<BatchNorm2dImpl>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    }
  }
}

}  // namespace detail

std::string to_string(Init init) {
  switch (init) {
    case Init::kTorch:
      return "torch";
    case Init::kMmseg:
      return "mmseg";
    case Init::kKaiming:
      return "kaiming";
  }
  return "torch";
}

Init parse_init(const std::string& text) {
  if (text == "torch") return Init::kTorch;
  if (text == "mmseg") return Init::kMmseg;
  if (text == "kaiming") return Init::kKaiming;
  throw Error(fmt::format("unknown init '{}' (valid: kaiming, mmseg, torch)", text));
}

std::string to_string(Stem stem) { return stem == Stem::kDeep ? "deep" : "standard"; }

Stem parse_stem(const std::string& text) {
  if (text == "standard") return Stem::kStandard;
  if (text == "deep") return Stem::kDeep;
  throw Error(fmt::format("unknown stem '{}' (valid: deep, standard)", text));
}

std::string describe(const ResNetOptions& options) {
  return fmt::format("ResNet-{} ({} stem, width {}, OS {})", options.depth(),
                     to_string(options.stem()), options.width(), options.output_stride());
}

void check_architecture(const ResNetOptions& options) {
  const double width = options.width();
  if (!(width > 0) || !std::isfinite(width) || width > 4) {
    throw Error(fmt::format("ResNet width {} is out of range (--width; valid: 0 < width <= 4)", width));
  }
  const int64_t os = options.output_stride();
  if (os != 8 && os != 16 && os != 32) {
    throw Error(fmt::format("unsupported output stride {} (--output-stride; valid: 8, 16, 32)", os));
  }
  const int64_t depth = options.depth();
  if (depth != 18 && depth != 34 && depth != 50 && depth != 101) {
    throw Error(fmt::format("unsupported ResNet depth {} (--depth; valid: 18, 34, 50, 101)", depth));
  }
}

ResNetImpl::ResNetImpl(const ResNetOptions& options) : options_(options) {
  check_architecture(options);
  switch (options.depth()) {
    case 18:
      build_layers<BasicBlock>({2, 2, 2, 2});
      break;
    case 34:
      build_layers<BasicBlock>({3, 4, 6, 3});
      break;
    case 50:
      build_layers<Bottleneck>({3, 4, 6, 3});
      break;
    case 101:
      build_layers<Bottleneck>({3, 4, 23, 3});
      break;
    default:
      break;  // check_architecture rejected it
  }
  if (options.init() != Init::kTorch) detail::kaiming_init(*this);
}

template <typename Block>
void ResNetImpl::build_layers(const std::array<int64_t, 4>& blocks_per_layer) {
  const double width = options_.width();
  const int64_t stem = scaled(64, width);
  int64_t in = stem;
  if (options_.stem() == Stem::kStandard) {
    conv1_ = register_module("conv1", make_conv(3, stem, 7, 2));
    bn1_ = register_module("bn1", BatchNorm2d(stem));
  } else {
    in = scaled(128, width);
    conv1_ = register_module("conv1", make_conv(3, stem, 3, 2));
    bn1_ = register_module("bn1", BatchNorm2d(stem));
    conv2_ = register_module("conv2", make_conv(stem, stem, 3));
    bn2_ = register_module("bn2", BatchNorm2d(stem));
    conv3_ = register_module("conv3", make_conv(stem, in, 3));
    bn3_ = register_module("bn3", BatchNorm2d(in));
  }
  // Output stride 8: layer3 and layer4 keep the resolution (dilation 2, 4); 16: layer4 (2).
  const int64_t os = options_.output_stride();
  const std::array<int64_t, 4> strides = {1, 2, os == 8 ? 1 : 2, os == 32 ? 2 : 1};
  const std::array<int64_t, 4> dilations = {1, 1, os == 8 ? 2 : 1,
                                            os == 8 ? 4 : (os == 16 ? 2 : 1)};
  std::array<torch::nn::Sequential*, 4> layers = {&layer1_, &layer2_, &layer3_, &layer4_};
  for (size_t i = 0; i < 4; ++i) {
    const int64_t planes = scaled(int64_t{64} << i, width);
    *layers[i] = register_module(
        fmt::format("layer{}", i + 1),
        make_layer<Block>(in, planes, blocks_per_layer[i], strides[i], dilations[i]));
    stage_channels_[i] = in;
  }
}

BackboneFeatures ResNetImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4, "ResNet expects an N×3×H×W input (got ", x.dim(), "D input)");
  auto out = bn1_(conv1_(x)).relu_();
  if (conv2_) {
    out = bn2_(conv2_(out)).relu_();
    out = bn3_(conv3_(out)).relu_();
  }
  out = torch::max_pool2d(out, {3, 3}, {2, 2}, {1, 1});
  BackboneFeatures f;
  f.layer1 = layer1_->forward(out);
  f.layer2 = layer2_->forward(f.layer1);
  f.layer3 = layer3_->forward(f.layer2);
  f.layer4 = layer4_->forward(f.layer3);
  return f;
}

int64_t ResNetImpl::stage_channels(int stage) const {
  if (stage < 1 || stage > 4) {
    throw Error(fmt::format("ResNet stage {} does not exist (valid: 1, 2, 3, 4)", stage));
  }
  return stage_channels_[static_cast<size_t>(stage - 1)];
}

ResNetImpl::Cost ResNetImpl::forward_cost(int64_t input_h, int64_t input_w) const {
  double flops = 0;
  Spatial s = conv_cost(*conv1_, {input_h, input_w}, flops);
  flops += bn_cost(conv1_->options.out_channels(), s);
  if (conv2_) {
    s = conv_cost(*conv2_, s, flops);
    flops += bn_cost(conv2_->options.out_channels(), s);
    s = conv_cost(*conv3_, s, flops);
    flops += bn_cost(conv3_->options.out_channels(), s);
  }
  s = maxpool_out(s);
  for (const auto* layer : {&layer1_, &layer2_, &layer3_, &layer4_}) {
    s = layer_cost(*layer, s, flops);
  }
  return {flops, s.h, s.w};
}

}  // namespace cwd::models
