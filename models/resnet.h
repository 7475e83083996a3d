#pragma once
// Dilated ResNet backbones (depth 18/34 basic blocks, 50/101 bottlenecks) with torchvision's
// submodule names (conv1, bn1, layer1..layer4, downsample), a width multiplier and an optional
// deep stem (three 3×3 convs: conv1/bn1, conv2/bn2, conv3/bn3).

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace cwd::models {

enum class Stem { kStandard, kDeep };

std::string to_string(Stem stem);
/// "standard" or "deep"; anything else throws cwd::Error listing the valid values.
Stem parse_stem(const std::string& text);

struct ResNetOptions {
  /// 18, 34, 50 or 101.
  TORCH_ARG(int64_t, depth) = 18;
  /// Multiplies every channel count (64·width stem, ...); 1.0 gives torchvision's networks.
  TORCH_ARG(double, width) = 1.0;
  TORCH_ARG(Stem, stem) = Stem::kStandard;
  /// 8 (layer3 dilation 2, layer4 dilation 4) or 16 (layer4 dilation 2) or 32 (no dilation).
  TORCH_ARG(int64_t, output_stride) = 8;
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

 private:
  ResNetOptions options_;
  // (members: conv1, bn1, [conv2, bn2, conv3, bn3], layer1..layer4 registered under those names)
  struct Parts;
  std::shared_ptr<Parts> parts_;
};
TORCH_MODULE(ResNet);

/// Loads backbone weights from a safetensors file or a `torch.save`d plain dict of tensors
/// (keys as torchvision's: "conv1.weight", "layer1.0.bn1.running_mean", ...; a "fc.*" entry is
/// ignored). Throws cwd::Error listing missing, unexpected and wrongly shaped tensors.
void load_backbone_weights(ResNet& backbone, const std::string& path);

}  // namespace cwd::models
