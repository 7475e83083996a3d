#pragma once
// Whole-image (or sliding-window) evaluation of a network over a whole split.

#include "models/pspnet.h"
#include "src/data/dataset.h"
#include "src/train/metrics.h"

#include <torch/torch.h>

#include <cstdint>

namespace cwd::train {

struct EvalOptions {
  int64_t batch = 8;       ///< images per forward pass (whole-image mode, same-size images)
  int64_t window_h = 0;    ///< sliding window size; 0 = whole-image inference
  int64_t window_w = 0;
  double overlap = 1.0 / 3.0;  ///< fraction of the window shared by neighbours
};

struct EvalResult {
  Metrics metrics;
  torch::Tensor confusion;  ///< K×K int64, rows = ground truth
  double seconds = 0;
  double images_per_s = 0;
  int64_t images = 0;
};

/// Evaluates `net` (put in eval mode) on every sample of `dataset`: logits are upsampled
/// bilinearly to the label size, argmax, one confusion matrix over the split.
EvalResult evaluate(models::PSPNet& net, const data::SegDataset& dataset, torch::Device device,
                    const EvalOptions& options);

}  // namespace cwd::train
