#pragma once
// Dilated ResNet backbones (depth 18/34 basic blocks, 50/101 bottlenecks) with torchvision's
// submodule names (conv1, bn1, layer1..layer4, downsample), a width multiplier and an optional
// deep stem (three 3×3 convs: conv1/bn1, conv2/bn2, conv3/bn3).
//
// Conventions (torchvision v1.5 where it has one):
// - Channels: c(n) = max(1, round(n·width)); stage planes c(64), c(128), c(256), c(512); basic
//   blocks output `planes`, bottlenecks `4·planes` (stride on the 3×3 conv).
// - Standard stem: conv1 7×7/2 (c(64)) → bn1 → ReLU → maxpool 3×3/2.
// - Deep stem (PSPNet / ResNet-C, as in the CWD and TorchDistiller code): conv1 3×3/2 (c(64)),
//   conv2 3×3 (c(64)), conv3 3×3 (c(128)), each followed by its BN and ReLU, then maxpool 3×3/2;
//   layer1 then starts from c(128) channels, so its first block always has a downsample.
// - Dilation (output stride 8: layer3 stride 1 dilation 2, layer4 stride 1 dilation 4; 16: layer4
//   stride 1 dilation 2): every block of a dilated layer uses the layer's dilation (the DeepLab /
//   PSPNet convention; torchvision's own first block keeps the previous one). Parameter counts do
//   not depend on it.
// - Init (ResNetOptions::init): see the Init enum; BN weight 1 and bias 0 in every scheme.

#include "models/shard.h"

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <string>

namespace cwd::models {

enum class Stem { kStandard, kDeep };

/// How a freshly built network's weights are drawn (docs/training.md compares them).
/// - kTorch: PyTorch's module defaults (convs kaiming-uniform with a = √5, i.e. U(±1/√fan_in);
///   biases U(±1/√fan_in); BN 1 and 0). What a plain PyTorch loop gets without an init step.
/// - kMmseg: mmseg's scheme for a network trained without a pretrained backbone: every conv
///   kaiming-normal (fan_out, ReLU) with zero bias, except the 1×1 classifiers of the heads, which
///   are N(0, 0.01) with zero bias.
/// - kKaiming: kaiming-normal (fan_out, ReLU) on every conv, the classifiers included
///   (torchvision's backbone scheme applied everywhere).
enum class Init { kTorch, kMmseg, kKaiming };

std::string to_string(Init init);
/// "torch", "mmseg" or "kaiming"; anything else throws cwd::Error listing the valid values.
Init parse_init(const std::string& text);

std::string to_string(Stem stem);
/// "standard" or "deep"; anything else throws cwd::Error listing the valid values.
Stem parse_stem(const std::string& text);

struct ResNetOptions;
/// Throws cwd::Error for an unsupported depth, output stride or width, one message each (naming
/// the command-line flag too); the ResNet constructor and the run configuration both use it.
void check_architecture(const ResNetOptions& options);

struct ResNetOptions {
  /// 18, 34, 50 or 101.
  TORCH_ARG(int64_t, depth) = 18;
  /// Multiplies every channel count (64·width stem, ...); 1.0 gives torchvision's networks.
  TORCH_ARG(double, width) = 1.0;
  TORCH_ARG(Stem, stem) = Stem::kStandard;
  /// 8 (layer3 dilation 2, layer4 dilation 4) or 16 (layer4 dilation 2) or 32 (no dilation).
  TORCH_ARG(int64_t, output_stride) = 8;
  /// The backbone's share of the initialisation: kTorch keeps the module defaults, the other
  /// two draw every conv kaiming-normal (fan_out, ReLU).
  TORCH_ARG(Init, init) = Init::kTorch;
};

/// The four stage outputs.
struct BackboneFeatures {
  torch::Tensor layer1, layer2, layer3, layer4;
};

class ResNetImpl : public torch::nn::Module {
 public:
  explicit ResNetImpl(const ResNetOptions& options);
  BackboneFeatures forward(const torch::Tensor& x);

  const ResNetOptions& options() const { return options_; }
  /// Output channels of layer1..layer4 (stage 1..4).
  int64_t stage_channels(int stage) const;

  /// Analytic cost of forward() at an N=1 input_h×input_w input, counted with the conventions
  /// of model_stats (pspnet.h), and the size of the layer4 map it produces.
  struct Cost {
    double flops = 0;
    int64_t out_h = 0, out_w = 0;
  };
  Cost forward_cost(int64_t input_h, int64_t input_w) const;

 private:
  template <typename Block>
  void build_layers(const std::array<int64_t, 4>& blocks_per_layer);

  ResNetOptions options_;
  std::array<int64_t, 4> stage_channels_{};
  // Registered as conv1, bn1, [conv2, bn2, conv3, bn3 for the deep stem], layer1..layer4.
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential layer1_{nullptr}, layer2_{nullptr}, layer3_{nullptr}, layer4_{nullptr};
};
TORCH_MODULE(ResNet);

/// Loads backbone weights from a safetensors file or a `torch.save`d plain dict of tensors
/// (keys as torchvision's: "conv1.weight", "layer1.0.bn1.running_mean", ...; a "fc.*" entry is
/// ignored; a "module." or "backbone." prefix shared by every key is stripped; a missing
/// num_batches_tracked is allowed). Throws one cwd::Error line listing missing, unexpected and
/// wrongly shaped tensors, and copies nothing then. libtorch cannot unpickle the OrderedDict that
/// Module.state_dict() returns: save dict(state_dict) or convert with
/// scripts/convert_torchvision.py.
void load_backbone_weights(ResNet& backbone, const std::string& path);

/// "ResNet-18 (standard stem, width 0.25, OS 8)".
std::string describe(const ResNetOptions& options);

}  // namespace cwd::models
