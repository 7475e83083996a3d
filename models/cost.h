#pragma once
// Analytic FLOP counting shared by the ResNet and PSPNet modules (internal to models/).
//
// Conventions (also documented at model_stats in pspnet.h):
// - convolution: 2·k_h·k_w·(C_in/groups)·C_out·H_out·W_out, plus C_out·H_out·W_out for a bias;
// - batch norm: 2 per output element (it folds into one scale and one shift at inference);
// - residual addition: 1 per element;
// - ReLU, max/average pooling, bilinear upsampling, concatenation and dropout: not counted
//   (each is under 1% of the total for every network here).

#include <torch/torch.h>

#include <cstdint>

namespace cwd::models::detail {

struct Spatial {
  int64_t h = 0, w = 0;
};

/// Output length of a window op along one axis: floor((in + 2p - d(k-1) - 1) / s) + 1.
inline int64_t window_out(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                          int64_t dilation) {
  return (in + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
}

/// A k×k convolution without bias unless asked, padded by dilation·(k-1)/2 so that stride 1
/// keeps the size. Every convolution in models/ is built here, which is what lets conv_cost
/// derive the padding from the kernel and dilation.
inline torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                                   int64_t dilation = 1, bool bias = false) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                               .stride(stride)
                               .padding(dilation * (kernel - 1) / 2)
                               .dilation(dilation)
                               .bias(bias));
}

/// Adds the FLOPs of `conv` (built by make_conv) applied to an `in`-sized map to `flops` and
/// returns its output size.
inline Spatial conv_cost(const torch::nn::Conv2dImpl& conv, Spatial in, double& flops) {
  const auto& o = conv.options;
  const int64_t kh = (*o.kernel_size())[0], kw = (*o.kernel_size())[1];
  const int64_t dh = (*o.dilation())[0], dw = (*o.dilation())[1];
  const Spatial out{window_out(in.h, kh, (*o.stride())[0], dh * (kh - 1) / 2, dh),
                    window_out(in.w, kw, (*o.stride())[1], dw * (kw - 1) / 2, dw)};
  const double positions = static_cast<double>(out.h) * static_cast<double>(out.w);
  const double cin = static_cast<double>(o.in_channels() / o.groups());
  const double cout = static_cast<double>(o.out_channels());
  flops += 2.0 * static_cast<double>(kh * kw) * cin * cout * positions;
  if (o.bias()) flops += cout * positions;
  return out;
}

/// FLOPs of a batch norm (or any per-element scale and shift) over channels×size.
inline double bn_cost(int64_t channels, Spatial size) {
  return 2.0 * static_cast<double>(channels) * static_cast<double>(size.h) *
         static_cast<double>(size.w);
}

/// FLOPs of an element-wise addition over channels×size.
inline double add_cost(int64_t channels, Spatial size) { return 0.5 * bn_cost(channels, size); }

}  // namespace cwd::models::detail
