#include "src/train/evaluate.h"

#include "src/core/resize.h"

#include "src/core/error.h"
#include "src/data/loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace cwd::train {

namespace F = torch::nn::functional;

namespace {

// Sums class probabilities over overlapping windows (padding images smaller than a window).
torch::Tensor sliding_window_scores(models::PSPNet& net, const torch::Tensor& image,
                                    int64_t classes, const EvalOptions& o) {
  const int64_t h = image.size(2), w = image.size(3);
  const int64_t wh = o.window_h, ww = o.window_w;
  const int64_t ph = std::max(h, wh), pw = std::max(w, ww);
  auto padded = F::pad(image, F::PadFuncOptions({0, pw - w, 0, ph - h}));
  const int64_t sh = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wh * (1 - o.overlap))));
  const int64_t sw = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(ww * (1 - o.overlap))));
  auto scores = torch::zeros({1, classes, ph, pw}, image.options());
  auto counts = torch::zeros({1, 1, ph, pw}, image.options());
  const int64_t rows = (ph - wh + sh - 1) / sh + 1, cols = (pw - ww + sw - 1) / sw + 1;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t y0 = std::min(r * sh, ph - wh), x0 = std::min(c * sw, pw - ww);
      auto crop = padded.slice(2, y0, y0 + wh).slice(3, x0, x0 + ww);
      auto probs = torch::softmax(resize_bilinear(net->forward(crop).logits, wh, ww), 1);
      scores.slice(2, y0, y0 + wh).slice(3, x0, x0 + ww).add_(probs);
      counts.slice(2, y0, y0 + wh).slice(3, x0, x0 + ww).add_(1);
    }
  }
  return (scores / counts).slice(2, 0, h).slice(3, 0, w);
}

}  // namespace

EvalResult evaluate(models::PSPNet& net, const data::SegDataset& dataset, torch::Device device,
                    const EvalOptions& options) {
  if (options.batch < 1) throw Error(fmt::format("--eval-batch {} is out of range (valid: >= 1)", options.batch));
  const bool sliding = options.window_h > 0 && options.window_w > 0;
  const int64_t classes = dataset.num_classes();
  ConfusionMatrix confusion(classes, dataset.ignore_index());
  net->eval();
  torch::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = dataset.size();
  int64_t i = 0;
  while (i < n) {
    // Gather up to `batch` consecutive samples of the same size.
    std::vector<torch::Tensor> images, labels;
    auto first = data::eval_sample(dataset, i);
    images.push_back(first.images);
    labels.push_back(first.labels);
    ++i;
    while (!sliding && i < n && static_cast<int64_t>(images.size()) < options.batch) {
      auto next = data::eval_sample(dataset, i);
      if (next.images.sizes() != images.front().sizes()) break;
      images.push_back(next.images);
      labels.push_back(next.labels);
      ++i;
    }
    auto x = torch::cat(images, 0).to(device);
    auto y = torch::cat(labels, 0).to(device);
    torch::Tensor scores;
    if (sliding) {
      scores = sliding_window_scores(net, x, classes, options);
    } else {
      scores = resize_bilinear(net->forward(x).logits, y.size(1), y.size(2));
    }
    confusion.add(scores.argmax(1), y);
  }
  EvalResult out;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.images = n;
  out.images_per_s = out.seconds > 0 ? n / out.seconds : 0;
  out.confusion = confusion.matrix().clone();
  out.metrics = compute_metrics(out.confusion);
  return out;
}

}  // namespace cwd::train
