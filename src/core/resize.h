#pragma once
// The one bilinear resize of the project (align_corners = false, PyTorch's and mmseg's
// convention): pyramid pooling, logits to label size, student maps to the teacher's size.

#include <torch/torch.h>

#include <cstdint>

namespace cwd {

/// An N×C×h'×w' map resized to N×C×h×w.
torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t h, int64_t w);

}  // namespace cwd
