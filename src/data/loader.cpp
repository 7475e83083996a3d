// Augmentation and the deterministic, prefetching training stream.
//
// Per-sample work runs on raw buffers (resized by image_io.h) and writes straight into
// preallocated tensors: no libtorch op runs on a loader thread, so no loader thread starts an
// intra-op (OpenMP) pool.

#include "src/data/loader.h"

#include "src/core/error.h"
#include "src/data/image_io.h"
#include "src/data/internal.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace cwd::data {
namespace {

constexpr float kMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kStd[3] = {0.229f, 0.224f, 0.225f};

std::string describe(const torch::Tensor& t) {
  return t.defined() ? c10::str(t.scalar_type(), " ", t.sizes()) : "an undefined tensor";
}

void check_image(const torch::Tensor& image) {
  if (!image.defined() || image.dim() != 3 || image.size(2) != 3 ||
      image.scalar_type() != torch::kUInt8) {
    throw Error(fmt::format("expected a uint8 HxWx3 RGB image (got {})", describe(image)));
  }
}

void check_config(const AugmentConfig& c) {
  if (c.crop_h <= 0 || c.crop_w <= 0) {
    throw Error(fmt::format("crop size {}x{} must be positive", c.crop_h, c.crop_w));
  }
  if (!(c.scale_min > 0.0) || !(c.scale_max >= c.scale_min)) {
    throw Error(fmt::format("scale range [{}, {}] is invalid; use 0 < scale_min <= scale_max",
                            c.scale_min, c.scale_max));
  }
}

/// Normalises one RGB pixel row segment into the planes of a 3×H×W float buffer.
inline void put_pixel(const uint8_t* rgb, float* planes, int64_t plane_size, int64_t offset) {
  for (int c = 0; c < 3; ++c) {
    planes[c * plane_size + offset] =
        (static_cast<float>(rgb[c]) * (1.f / 255.f) - kMean[c]) / kStd[c];
  }
}

/// The work of augment_sample, writing into a 3×crop_h×crop_w float buffer and a crop_h×crop_w
/// int64 buffer. Random draws, in order: scale, crop y, crop x, flip.
void augment_into(const RawSample& sample, const AugmentConfig& config, int64_t ignore_index,
                  uint64_t rng_seed, float* image_out, int64_t* label_out) {
  check_image(sample.image);
  const torch::Tensor image = sample.image.contiguous();
  const torch::Tensor label = sample.label.contiguous();
  const int H = static_cast<int>(image.size(0)), W = static_cast<int>(image.size(1));
  if (label.dim() != 2 || label.size(0) != H || label.size(1) != W ||
      label.scalar_type() != torch::kUInt8) {
    throw Error(fmt::format("expected a uint8 {}x{} label map (got {})", H, W, describe(label)));
  }
  detail::Rng rng(rng_seed);
  const double scale = rng.uniform(config.scale_min, config.scale_max);
  const int sh = std::max(1, static_cast<int>(std::floor(H * scale + 0.5)));
  const int sw = std::max(1, static_cast<int>(std::floor(W * scale + 0.5)));
  const int ch = static_cast<int>(config.crop_h), cw = static_cast<int>(config.crop_w);
  const int y0 = static_cast<int>(rng.below(std::max(0, sh - ch) + 1));
  const int x0 = static_cast<int>(rng.below(std::max(0, sw - cw) + 1));
  const bool flip = rng.chance(0.5) && config.flip;

  const uint8_t* image_pixels = image.data_ptr<uint8_t>();
  const uint8_t* label_pixels = label.data_ptr<uint8_t>();
  detail::Pixels<uint8_t> scaled_image, scaled_label;
  if (sh != H || sw != W) {
    scaled_image = detail::resize_linear(image_pixels, H, W, 3, sh, sw);
    scaled_label = detail::resize_nearest(label_pixels, H, W, 1, sh, sw);
    image_pixels = scaled_image.data.data();
    label_pixels = scaled_label.data.data();
  }
  const int64_t plane = static_cast<int64_t>(ch) * cw;
  std::fill(image_out, image_out + 3 * plane, 0.f);  // normalised 0 = the ImageNet mean colour
  std::fill(label_out, label_out + plane, ignore_index);
  const int rows = std::min(ch, sh - y0), cols = std::min(cw, sw - x0);
  for (int y = 0; y < rows; ++y) {
    const uint8_t* irow = image_pixels + (static_cast<int64_t>(y0 + y) * sw + x0) * 3;
    const uint8_t* lrow = label_pixels + static_cast<int64_t>(y0 + y) * sw + x0;
    for (int x = 0; x < cols; ++x) {
      const int ox = flip ? cw - 1 - x : x;
      const int64_t offset = static_cast<int64_t>(y) * cw + ox;
      put_pixel(irow + 3 * x, image_out, plane, offset);
      label_out[offset] = lrow[x];
    }
  }
}

uint64_t sample_seed(uint64_t seed, int64_t iteration, int64_t slot) {
  return detail::hash_words(
      {seed, 0xa5a5'0001ULL, static_cast<uint64_t>(iteration), static_cast<uint64_t>(slot)});
}

/// Fisher–Yates permutation of 0..n-1 for one epoch.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
  detail::Rng rng(detail::hash_words({seed, 0xa5a5'0002ULL, static_cast<uint64_t>(epoch)}));
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(rng.below(i + 1))]);
  }
  return perm;
}

/// Each loader thread keeps the permutation of the epoch it is working in.
struct PermutationCache {
  int64_t epoch = -1;
  std::vector<int64_t> perm;
  int64_t at(int64_t n, uint64_t seed, int64_t position) {
    const int64_t e = position / n;
    if (e != epoch) {
      perm = epoch_permutation(n, seed, e);
      epoch = e;
    }
    return perm[static_cast<size_t>(position % n)];
  }
};

}  // namespace

torch::Tensor normalize_image(const torch::Tensor& image_hwc_u8) {
  check_image(image_hwc_u8);
  const torch::Tensor image = image_hwc_u8.contiguous();
  const int64_t H = image.size(0), W = image.size(1), plane = H * W;
  torch::Tensor out = torch::empty({3, H, W}, torch::kFloat32);
  const uint8_t* src = image.data_ptr<uint8_t>();
  float* dst = out.data_ptr<float>();
  for (int64_t i = 0; i < plane; ++i) put_pixel(src + 3 * i, dst, plane, i);
  return out;
}

Batch augment_sample(const RawSample& sample, const AugmentConfig& config, int64_t ignore_index,
                     uint64_t rng_seed) {
  check_config(config);
  Batch out;
  out.images = torch::empty({3, config.crop_h, config.crop_w}, torch::kFloat32);
  out.labels = torch::empty({config.crop_h, config.crop_w}, torch::kInt64);
  augment_into(sample, config, ignore_index, rng_seed, out.images.data_ptr<float>(),
               out.labels.data_ptr<int64_t>());
  return out;
}

Batch eval_sample(const SegDataset& dataset, int64_t index) {
  const RawSample sample = dataset.get(index);
  Batch out;
  out.images = normalize_image(sample.image).unsqueeze(0);
  out.labels = sample.label.to(torch::kInt64).unsqueeze(0);
  return out;
}

// ---- TrainStream ------------------------------------------------------------------------------

struct TrainStream::State {
  std::shared_ptr<const SegDataset> dataset;
  AugmentConfig config;
  int64_t batch_size = 0;
  int64_t row_begin = 0;  // the rows of each batch this stream builds
  int64_t row_end = 0;
  uint64_t seed = 0;
  int64_t capacity = 0;  // batches claimed but not yet returned, at most

  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  std::mutex mutex;
  std::condition_variable ready_cv;  // a batch was finished
  std::condition_variable space_cv;  // next() freed a place in the window
  std::map<int64_t, Slot> ready;
  int64_t next_claim = 0;
  int64_t next_out = 0;
  std::atomic<bool> stop{false};
  std::exception_ptr failed;  // sticky: a failed stream keeps failing
  double wait_s = 0.0;
  PermutationCache inline_cache;  // workers == 0: batches built in next()
  std::vector<std::thread> threads;

  /// Batch `iteration`; returns an undefined batch if the stream is stopping.
  Batch build(int64_t iteration, PermutationCache& cache) const {
    const int64_t n = dataset->size();
    Batch batch;
    const int64_t rows = row_end - row_begin;
    batch.images = torch::empty({rows, 3, config.crop_h, config.crop_w}, torch::kFloat32);
    batch.labels = torch::empty({rows, config.crop_h, config.crop_w}, torch::kInt64);
    float* images = batch.images.data_ptr<float>();
    int64_t* labels = batch.labels.data_ptr<int64_t>();
    const int64_t plane = config.crop_h * config.crop_w;
    for (int64_t k = row_begin; k < row_end; ++k) {
      if (stop.load(std::memory_order_relaxed)) return {};
      const int64_t index = cache.at(n, seed, iteration * batch_size + k);
      const RawSample sample = dataset->get(index);
      const int64_t row = k - row_begin;
      augment_into(sample, config, dataset->ignore_index(), sample_seed(seed, iteration, k),
                   images + row * 3 * plane, labels + row * plane);
    }
    return batch;
  }

  void work() {
    PermutationCache cache;
    while (true) {
      int64_t iteration = 0;
      {
        std::unique_lock<std::mutex> lock(mutex);
        space_cv.wait(lock, [&] { return stop.load() || next_claim < next_out + capacity; });
        if (stop.load()) return;
        iteration = next_claim++;
      }
      Slot slot;
      try {
        slot.batch = build(iteration, cache);
      } catch (...) {
        slot.error = std::current_exception();
      }
      if (stop.load()) return;
      {
        std::lock_guard<std::mutex> lock(mutex);
        ready.emplace(iteration, std::move(slot));
      }
      ready_cv.notify_all();
    }
  }
};

TrainStream::TrainStream(std::shared_ptr<const SegDataset> dataset, AugmentConfig config,
                         int64_t batch_size, uint64_t seed, int64_t start_iteration, int workers, Rows rows)
    : state_(std::make_unique<State>()) {
  if (!dataset || dataset->size() <= 0) {
    throw Error("training stream: the training split is empty; check the dataset and --limit");
  }
  check_config(config);
  if (batch_size <= 0) {
    throw Error(fmt::format("batch size is {}; it must be at least 1", batch_size));
  }
  if (rows.end != 0 && (rows.begin < 0 || rows.begin >= rows.end || rows.end > batch_size)) {
    throw Error(fmt::format("training stream: rows {}..{} are not within a batch of {}", rows.begin, rows.end,
                            batch_size));
  }
  if (start_iteration < 0) {
    throw Error(fmt::format("start iteration is {}; it must be >= 0", start_iteration));
  }
  detail::sequential_image_ops();  // each loader thread resizes sequentially
  State& s = *state_;
  s.dataset = std::move(dataset);
  s.config = config;
  s.batch_size = batch_size;
  s.row_begin = rows.end == 0 ? 0 : rows.begin;
  s.row_end = rows.end == 0 ? batch_size : rows.end;
  s.seed = seed;
  s.next_claim = start_iteration;
  s.next_out = start_iteration;
  s.capacity = std::max(workers, 0) + 2;
  try {
    for (int w = 0; w < workers; ++w) s.threads.emplace_back([&s] { s.work(); });
  } catch (...) {  // e.g. the system refused a thread: stop the ones already running
    s.stop = true;
    s.space_cv.notify_all();
    for (std::thread& t : s.threads) t.join();
    throw;
  }
}

TrainStream::~TrainStream() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stop = true;
  }
  state_->space_cv.notify_all();
  for (std::thread& t : state_->threads) t.join();
}

Batch TrainStream::next() {
  State& s = *state_;
  if (s.failed) std::rethrow_exception(s.failed);
  if (s.threads.empty()) {
    const auto start = std::chrono::steady_clock::now();
    try {
      Batch batch = s.build(s.next_out++, s.inline_cache);
      s.wait_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return batch;
    } catch (...) {
      s.failed = std::current_exception();
      throw;
    }
  }
  State::Slot slot;
  {
    std::unique_lock<std::mutex> lock(s.mutex);
    auto it = s.ready.find(s.next_out);
    if (it == s.ready.end()) {
      const auto start = std::chrono::steady_clock::now();
      s.ready_cv.wait(lock, [&] { return s.ready.count(s.next_out) > 0; });
      s.wait_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      it = s.ready.find(s.next_out);
    }
    slot = std::move(it->second);
    s.ready.erase(it);
    ++s.next_out;
  }
  s.space_cv.notify_all();
  if (slot.error) {
    s.failed = slot.error;
    std::rethrow_exception(slot.error);
  }
  return std::move(slot.batch);
}

double TrainStream::wait_seconds() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->wait_s;
}

}  // namespace cwd::data
