#pragma once
// Augmentation and batching. The training stream is deterministic: the batch of iteration i
// depends only on (dataset, augmentation config, batch size, seed, i), so a resumed run sees
// exactly the data an uninterrupted one would. Batches are prepared by background threads ahead
// of the training step.

#include "src/data/dataset.h"

#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <memory>

namespace cwd::data {

struct AugmentConfig {
  int64_t crop_h = 128;
  int64_t crop_w = 256;
  double scale_min = 0.5;  ///< random rescale factor range (1, 1 = off)
  double scale_max = 2.0;
  bool flip = true;  ///< random horizontal flip
};

struct Batch {
  torch::Tensor images;  ///< float N×3×H×W, ImageNet mean/std normalised
  torch::Tensor labels;  ///< int64 N×H×W, ignore index kept
};

/// uint8 H×W×3 RGB → float 3×H×W normalised with ImageNet mean/std.
torch::Tensor normalize_image(const torch::Tensor& image_hwc_u8);

/// Random scale, random crop (image padded with 0, label with ignore), random flip; then
/// normalisation. `rng_seed` fully determines the random choices. Returns unbatched tensors
/// (images 3×crop_h×crop_w, labels crop_h×crop_w). Padding: when the scaled image is smaller
/// than the crop it sits at the top-left and the rest is 0 in the *normalised* image (the
/// ImageNet mean colour, as in PSPNet/mmseg) and the ignore index in the label.
Batch augment_sample(const RawSample& sample, const AugmentConfig& config, int64_t ignore_index,
                     uint64_t rng_seed);

/// Rows [begin, end) of each batch; {0, 0} = the whole batch.
struct BatchRows {
  int64_t begin = 0;
  int64_t end = 0;
};

class TrainStream {
 public:
  /// Batch i of the stream is drawn from epoch-wise permutations of the dataset seeded by `seed`.
  /// `start_iteration` lets a resumed run continue the stream. `workers` background threads
  /// (0: batches are built inside next()); the batches do not depend on `workers`.
  /// Sample k of batch i is permutation_e[(i·batch_size + k) mod size] with
  /// e = (i·batch_size + k) / size, augmented with a seed derived from (seed, i, k).
  /// `rows`: this process's share of every batch when one batch is spread over several
  /// processes (each row as the whole batch would have it).
  using Rows = BatchRows;
  TrainStream(std::shared_ptr<const SegDataset> dataset, AugmentConfig config, int64_t batch_size,
              uint64_t seed, int64_t start_iteration, int workers, Rows rows = {});
  ~TrainStream();
  TrainStream(const TrainStream&) = delete;
  TrainStream& operator=(const TrainStream&) = delete;

  /// The next batch (blocks only if the workers are behind). Rethrows a worker's error.
  Batch next();
  /// Seconds next() spent waiting for data, in total.
  double wait_seconds() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Validation/holdout batches in index order, no augmentation: sample i as a 1×3×H×W batch.
Batch eval_sample(const SegDataset& dataset, int64_t index);

}  // namespace cwd::data
