#pragma once
// fashion-items: a 10-class image-classification task drawn from the same source as
// fashion-scenes. Each sample is one Fashion-MNIST item on a square canvas, painted like a scene
// item (textured background, class-family tint, shading, texture, pixel noise), filling 60–95 %
// of the canvas. Sample k of a stream is a deterministic function of (seed, split, k), and every
// k gives a new rendering, so a training stream never repeats an image. It is the pretraining
// task that stands in for ImageNet (docs/pretraining.md).

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cwd::data {

namespace detail {
struct ItemBank;
}

class FashionItems {
 public:
  /// `source`: "train" (training; the items fashion-scenes' train scenes use) or "t10k" (the
  /// held-out test items, which val scenes use). `root`: the folder of the IDX files ("" =
  /// /usr/share/datasets/fashion-mnist). Throws cwd::Error for a bad source, size or file.
  FashionItems(const std::string& root, const std::string& source, int64_t side, uint64_t seed);

  /// Ten class names, in Fashion-MNIST's label order.
  static const std::vector<std::string>& class_names();

  /// Sample k: its image (uint8 side×side×3 RGB) and class (0..9).
  std::pair<torch::Tensor, int64_t> get(uint64_t k) const;

  /// Samples first .. first + n − 1 as a float N×3×side×side batch (ImageNet-normalised, as
  /// the segmentation loader) and int64 labels N. Rendered on `threads` threads (≥ 1); the batch
  /// does not depend on the thread count.
  std::pair<torch::Tensor, torch::Tensor> batch(uint64_t first, int64_t n, int threads = 1) const;

  int64_t side() const { return side_; }
  /// The renderer's version ("fashion-items/1"); part of a pretrained backbone's identity.
  static const char* generator();
  /// Name, source split, side, seed, generator version and the IDX files.
  nlohmann::json identity() const;

 private:
  std::shared_ptr<const detail::ItemBank> bank_;
  std::string source_;
  int64_t side_;
  uint64_t seed_;
};

}  // namespace cwd::data
