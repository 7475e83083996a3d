#pragma once
// PSPNet (Zhao et al., CVPR 2017) on a dilated ResNet: pyramid pooling (bins 1, 2, 3, 6), a 3×3
// bottleneck, dropout, a 1×1 classifier, and an auxiliary FCN head on layer3.

#include "models/resnet.h"

#include <torch/torch.h>

#include <cstdint>
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

class PSPNetImpl : public torch::nn::Module {
 public:
  explicit PSPNetImpl(const PSPNetOptions& options);
  /// Always computes all three maps (aux is cheap and keeps the module graph fixed).
  SegOutput forward(const torch::Tensor& x);

  const PSPNetOptions& options() const { return options_; }
  int64_t feature_channels() const;
  ResNet& backbone() { return backbone_; }

 private:
  PSPNetOptions options_;
  ResNet backbone_{nullptr};
  // head ("head") and auxiliary head ("aux") submodules
  struct Parts;
  std::shared_ptr<Parts> parts_;
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

/// Parameter counts and analytic FLOPs of `net` at an N=1 input of input_h×input_w.
ModelStats model_stats(PSPNet& net, int64_t input_h, int64_t input_w);

}  // namespace cwd::models
