// PSPNet: Zhao et al., "Pyramid Scene Parsing Network" (CVPR 2017), laid out as the PSPNet of
// TorchDistiller used by Shu et al., "Channel-wise Knowledge Distillation for Dense Prediction"
// (ICCV 2021). Layout and FLOP conventions are documented in pspnet.h.

#include "models/pspnet.h"

#include "models/cost.h"
#include "models/init.h"
#include "src/core/error.h"
#include "src/core/resize.h"

#include <fmt/format.h>

#include <cmath>

namespace cwd::models {
namespace {

namespace F = torch::nn::functional;
using detail::bn_cost;
using detail::conv_cost;
using detail::make_conv;
using detail::Spatial;

using cwd::resize_bilinear;

int64_t count_params(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

void init_classifier(torch::nn::Conv2d& classifier) {
  torch::NoGradGuard no_grad;
  torch::nn::init::normal_(classifier->weight, 0.0, 0.01);
  classifier->bias.zero_();
}

}  // namespace

// ---- ConvBNReLU --------------------------------------------------------------------------------

ConvBNReLUImpl::ConvBNReLUImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
    : conv_(register_module("conv", make_conv(in_channels, out_channels, kernel_size))),
      bn_(register_module("bn", BatchNorm2d(out_channels))) {}

torch::Tensor ConvBNReLUImpl::forward(const torch::Tensor& x) { return bn_(conv_(x)).relu_(); }

double ConvBNReLUImpl::forward_cost(int64_t h, int64_t w) const {
  double flops = 0;
  const Spatial out = conv_cost(*conv_, {h, w}, flops);
  return flops + bn_cost(conv_->options.out_channels(), out);
}

// ---- PyramidPoolingHead ------------------------------------------------------------------------

PyramidPoolingHeadImpl::PyramidPoolingHeadImpl(int64_t in_channels, int64_t channels,
                                               int64_t num_classes,
                                               const std::vector<int64_t>& bins, double dropout)
    : bins_(bins) {
  stages_ = register_module("stages", torch::nn::ModuleList());
  for (size_t i = 0; i < bins.size(); ++i) stages_->push_back(ConvBNReLU(in_channels, channels, 1));
  const auto concat = in_channels + static_cast<int64_t>(bins.size()) * channels;
  bottleneck_ = register_module("bottleneck", ConvBNReLU(concat, channels, 3));
  dropout_ = register_module("dropout", Dropout2d(dropout));
  classifier_ = register_module("classifier", make_conv(channels, num_classes, 1, 1, 1, true));
}

PyramidPoolingHeadImpl::Output PyramidPoolingHeadImpl::forward(const torch::Tensor& x) {
  const int64_t h = x.size(2), w = x.size(3);
  std::vector<torch::Tensor> parts;
  parts.reserve(bins_.size() + 1);
  for (size_t i = 0; i < bins_.size(); ++i) {
    auto pooled = torch::adaptive_avg_pool2d(x, {bins_[i], bins_[i]});
    auto stage = stages_->ptr<ConvBNReLUImpl>(i)->forward(pooled);
    parts.push_back(resize_bilinear(stage, h, w));
  }
  parts.push_back(x);
  Output out;
  out.features = bottleneck_->forward(torch::cat(parts, 1));
  out.logits = classifier_(dropout_(out.features));
  return out;
}

double PyramidPoolingHeadImpl::forward_cost(int64_t h, int64_t w) const {
  double flops = 0;
  for (size_t i = 0; i < bins_.size(); ++i) {
    flops += stages_->ptr<ConvBNReLUImpl>(i)->forward_cost(bins_[i], bins_[i]);
  }
  flops += bottleneck_->forward_cost(h, w);
  conv_cost(*classifier_, {h, w}, flops);
  return flops;
}

// ---- FCNHead -----------------------------------------------------------------------------------

FCNHeadImpl::FCNHeadImpl(int64_t in_channels, int64_t channels, int64_t num_classes, double dropout)
    : conv_(register_module("conv", make_conv(in_channels, channels, 3))),
      bn_(register_module("bn", BatchNorm2d(channels))),
      dropout_(register_module("dropout", Dropout2d(dropout))),
      classifier_(register_module("classifier", make_conv(channels, num_classes, 1, 1, 1, true))) {}

torch::Tensor FCNHeadImpl::forward(const torch::Tensor& x) {
  return classifier_(dropout_(bn_(conv_(x)).relu_()));
}

// ---- PSPNet ------------------------------------------------------------------------------------

PSPNetImpl::PSPNetImpl(const PSPNetOptions& options) : options_(options) {
  if (options.num_classes() < 1) {
    throw Error(fmt::format("PSPNet needs at least 1 class (got {})", options.num_classes()));
  }
  if (options.head_channels() < 0) {
    throw Error(fmt::format("PSPNet head_channels must be >= 0, 0 meaning 512·width (got {})",
                            options.head_channels()));
  }
  if (!(options.dropout() >= 0 && options.dropout() < 1)) {
    throw Error(fmt::format("PSPNet dropout must be in [0, 1) (got {})", options.dropout()));
  }
  if (options.bins().empty()) {
    throw Error("PSPNet needs at least one pyramid bin (the paper's are 1, 2, 3, 6)");
  }
  for (const int64_t bin : options.bins()) {
    if (bin < 1) {
      throw Error(fmt::format("PSPNet pyramid bins must be >= 1 (got {})", bin));
    }
  }
  backbone_ = register_module("backbone", ResNet(options.backbone()));
  head_channels_ = options.head_channels() > 0
                       ? options.head_channels()
                       : std::max<int64_t>(1, std::llround(512.0 * options.backbone().width()));
  head_ = register_module(
      "head", PyramidPoolingHead(backbone_->stage_channels(4), head_channels_,
                                 options.num_classes(), options.bins(), options.dropout()));
  aux_ = register_module("aux", FCNHead(backbone_->stage_channels(3), head_channels_,
                                        options.num_classes(), options.dropout()));
  const Init init = options.backbone().init();
  if (init != Init::kTorch) {
    detail::kaiming_init(*head_);
    detail::kaiming_init(*aux_);
  }
  if (init == Init::kMmseg) {
    init_classifier(head_->classifier());
    init_classifier(aux_->classifier());
  }
}

SegOutput PSPNetImpl::forward(const torch::Tensor& x) {
  const auto f = backbone_->forward(x);
  auto head = head_->forward(f.layer4);
  SegOutput out;
  out.logits = std::move(head.logits);
  out.features = std::move(head.features);
  out.aux = aux_->forward(f.layer3);
  if (out.aux.size(2) != out.logits.size(2) || out.aux.size(3) != out.logits.size(3)) {
    out.aux = resize_bilinear(out.aux, out.logits.size(2), out.logits.size(3));
  }
  return out;
}

int64_t PSPNetImpl::feature_channels() const { return head_channels_; }

// ---- stats -------------------------------------------------------------------------------------

ModelStats model_stats(PSPNet& net, int64_t input_h, int64_t input_w) {
  if (input_h < 1 || input_w < 1) {
    throw Error(
        fmt::format("model_stats needs a positive input size (got {}x{})", input_h, input_w));
  }
  ModelStats s;
  s.params = count_params(*net);
  s.backbone_params = count_params(*net->backbone());
  s.head_params = count_params(*net->head());
  s.aux_params = count_params(*net->aux());
  const auto backbone = net->backbone()->forward_cost(input_h, input_w);
  const double flops = backbone.flops + net->head()->forward_cost(backbone.out_h, backbone.out_w);
  s.gflops = flops * 1e-9;
  s.input_h = input_h;
  s.input_w = input_w;
  return s;
}

nlohmann::json to_json(const ModelStats& stats) {
  nlohmann::json j;
  to_json(j, stats);
  return j;
}

void to_json(nlohmann::json& j, const ModelStats& stats) {
  j = nlohmann::json{{"params", stats.params},           {"backbone_params", stats.backbone_params},
                     {"head_params", stats.head_params}, {"aux_params", stats.aux_params},
                     {"gflops", stats.gflops},           {"input_h", stats.input_h},
                     {"input_w", stats.input_w}};
}

std::string describe(const PSPNetOptions& options) {
  const auto& b = options.backbone();
  return fmt::format("PSPNet-R{} ({} stem, width {}, OS {})", b.depth(), to_string(b.stem()),
                     b.width(), b.output_stride());
}

}  // namespace cwd::models
