#pragma once
// PSPNet (Zhao et al., CVPR 2017) on a dilated ResNet: pyramid pooling (bins 1, 2, 3, 6), a 3×3
// bottleneck, dropout, a 1×1 classifier, and an auxiliary FCN head on layer3.
//
// Layout (the facts of TorchDistiller's PSPNet, which the CWD paper used):
// - "head.stages.<i>": AdaptiveAvgPool2d(bins[i]) → 1×1 conv (no bias, "conv") → BN ("bn") → ReLU,
//   upsampled bilinearly (align_corners false) to the layer4 size;
// - the stage maps come first in the concatenation, then layer4 (TorchDistiller's order);
// - "head.bottleneck": 3×3 conv (no bias) → BN → ReLU to head_channels: `features`;
// - dropout2d(dropout), then "head.classifier": 1×1 conv with bias to num_classes: `logits`;
// - "aux" on layer3: 3×3 conv (no bias, "aux.conv") → BN ("aux.bn") → ReLU → dropout2d →
//   1×1 conv with bias ("aux.classifier"). Its width is head_channels (512 at width 1, as
//   TorchDistiller's 512-channel "dsn" head).
// - initialisation: options.backbone().init() (resnet.h) for the whole network; kMmseg draws the
//   two 1×1 classifiers from N(0, 0.01).

#include "models/resnet.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace cwd::models {

struct PSPNetOptions {
  explicit PSPNetOptions(int64_t num_classes) : num_classes_(num_classes) {}
  TORCH_ARG(int64_t, num_classes);
  TORCH_ARG(ResNetOptions, backbone) = ResNetOptions();
  /// Channels of each pyramid stage and of the bottleneck (the feature map): 512·width.
  /// 0 means "derive from the backbone width".
  TORCH_ARG(int64_t, head_channels) = 0;
  TORCH_ARG(double, dropout) = 0.1;
  TORCH_ARG(std::vector<int64_t>, bins) = std::vector<int64_t>({1, 2, 3, 6});
};

/// What the network returns; every map is at 1/output_stride of the input.
struct SegOutput {
  torch::Tensor logits;    ///< N×classes×h×w, before upsampling
  torch::Tensor features;  ///< N×head_channels×h×w, the bottleneck output before the classifier
  torch::Tensor aux;       ///< N×classes×h×w from the auxiliary head on layer3 (training only)
};

/// Conv (no bias) → BN → ReLU, registered as "conv" and "bn".
class ConvBNReLUImpl : public torch::nn::Module {
 public:
  ConvBNReLUImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size);
  torch::Tensor forward(const torch::Tensor& x);
  /// FLOPs at an N=1 input of h×w (model_stats conventions); the size is kept.
  double forward_cost(int64_t h, int64_t w) const;

 private:
  torch::nn::Conv2d conv_{nullptr};
  BatchNorm2d bn_{nullptr};
};
TORCH_MODULE(ConvBNReLU);

/// The pyramid pooling head: "stages.<i>", "bottleneck", "dropout", "classifier".
class PyramidPoolingHeadImpl : public torch::nn::Module {
 public:
  struct Output {
    torch::Tensor features;  ///< N×channels×h×w after the bottleneck's ReLU
    torch::Tensor logits;    ///< N×classes×h×w
  };
  PyramidPoolingHeadImpl(int64_t in_channels, int64_t channels, int64_t num_classes,
                         const std::vector<int64_t>& bins, double dropout);
  /// x: N×in_channels×h×w (layer4).
  Output forward(const torch::Tensor& x);
  double forward_cost(int64_t h, int64_t w) const;
  torch::nn::Conv2d& classifier() { return classifier_; }

 private:
  std::vector<int64_t> bins_;
  torch::nn::ModuleList stages_{nullptr};
  ConvBNReLU bottleneck_{nullptr};
  Dropout2d dropout_{nullptr};
  torch::nn::Conv2d classifier_{nullptr};
};
TORCH_MODULE(PyramidPoolingHead);

/// The auxiliary FCN head: "conv", "bn", "dropout", "classifier".
class FCNHeadImpl : public torch::nn::Module {
 public:
  FCNHeadImpl(int64_t in_channels, int64_t channels, int64_t num_classes, double dropout);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d& classifier() { return classifier_; }

 private:
  torch::nn::Conv2d conv_{nullptr};
  BatchNorm2d bn_{nullptr};
  Dropout2d dropout_{nullptr};
  torch::nn::Conv2d classifier_{nullptr};
};
TORCH_MODULE(FCNHead);

class PSPNetImpl : public torch::nn::Module {
 public:
  /// Validates the options (throws cwd::Error naming the bad value).
  explicit PSPNetImpl(const PSPNetOptions& options);
  /// Always computes all three maps (aux is cheap and keeps the module graph fixed). At output
  /// stride 32 the aux map (layer3 is at 1/16) is resized to the logits' size.
  SegOutput forward(const torch::Tensor& x);

  const PSPNetOptions& options() const { return options_; }
  int64_t feature_channels() const;
  ResNet& backbone() { return backbone_; }
  PyramidPoolingHead& head() { return head_; }
  FCNHead& aux() { return aux_; }

 private:
  PSPNetOptions options_;
  int64_t head_channels_ = 0;
  ResNet backbone_{nullptr};
  PyramidPoolingHead head_{nullptr};
  FCNHead aux_{nullptr};
};
TORCH_MODULE(PSPNet);

/// Sizes and cost of a network at a given input size.
struct ModelStats {
  int64_t params = 0;           ///< everything, aux head included
  int64_t backbone_params = 0;  ///< the ResNet (no classifier)
  int64_t head_params = 0;      ///< pyramid pooling + bottleneck + classifier
  int64_t aux_params = 0;       ///< auxiliary head
  double gflops = 0;            ///< inference forward (no aux), multiply-adds counted as 2 FLOPs
  int64_t input_h = 0, input_w = 0;
};

/// Parameter counts and analytic FLOPs of `net` at an N=1 input of input_h×input_w: a pure
/// function of the architecture (no forward is run). FLOP conventions: a convolution costs
/// 2·k_h·k_w·(C_in/groups)·C_out·H_out·W_out (+ C_out·H_out·W_out for a bias), a batch norm 2
/// per element, a residual addition 1 per element; ReLU, pooling, bilinear upsampling,
/// concatenation and dropout are not counted (< 1% here). The aux head is not counted.
ModelStats model_stats(PSPNet& net, int64_t input_h, int64_t input_w);

/// {"params", "backbone_params", "head_params", "aux_params", "gflops", "input_h", "input_w"}.
nlohmann::json to_json(const ModelStats& stats);
/// The same, for nlohmann's implicit conversion (`nlohmann::json j = stats;`).
void to_json(nlohmann::json& j, const ModelStats& stats);

/// "PSPNet-R18 (standard stem, width 0.25, OS 8)".
std::string describe(const PSPNetOptions& options);

}  // namespace cwd::models
