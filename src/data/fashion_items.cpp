#include "src/data/fashion_items.h"

#include "src/core/error.h"
#include "src/data/idx.h"
#include "src/data/internal.h"
#include "src/data/loader.h"
#include "src/data/scene_layout.h"
#include "src/data/scene_painter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <thread>

namespace cwd::data {

namespace {

constexpr char kGenerator[] = "fashion-items/1";
constexpr char kDefaultRoot[] = "/usr/share/datasets/fashion-mnist";

}  // namespace

FashionItems::FashionItems(const std::string& root, const std::string& source, int64_t side, uint64_t seed)
    : source_(source), side_(side), seed_(seed) {
  if (source != "train" && source != "t10k") {
    throw Error(fmt::format("fashion-items: source '{}' is not a Fashion-MNIST split (valid: train, t10k)", source));
  }
  if (side < 16 || side > 512) {
    throw Error(fmt::format("fashion-items: image side {} is out of range (valid: 16..512 pixels)", side));
  }
  bank_ = detail::load_item_bank(root.empty() ? kDefaultRoot : root, source);
}

const char* FashionItems::generator() { return kGenerator; }

const std::vector<std::string>& FashionItems::class_names() {
  static const std::vector<std::string> names = {"t-shirt", "trouser", "pullover", "dress",   "coat",
                                                 "sandal",  "shirt",   "sneaker",  "bag",     "ankle-boot"};
  return names;
}

std::pair<torch::Tensor, int64_t> FashionItems::get(uint64_t k) const {
  const uint64_t tag = source_ == "t10k" ? 2 : 1;
  const uint64_t key = detail::hash_words({seed_, tag, k, 0x1f2e3d4c5b6a7988ULL});
  detail::Rng item_rng(detail::hash_words({key, 1}));
  const detail::PlacedItem item = detail::place_single_item(item_rng, *bank_, side_, side_);
  detail::Rng background_rng(detail::hash_words({key, 2}));
  RawSample painted = detail::paint_scene(background_rng, *bank_, {item}, side_, side_);
  return {painted.image, item.info.class_id - 1};
}

std::pair<torch::Tensor, torch::Tensor> FashionItems::batch(uint64_t first, int64_t n, int threads) const {
  if (n < 1) throw Error(fmt::format("fashion-items: batch of {} samples (valid: >= 1)", n));
  auto images = torch::empty({n, 3, side_, side_}, torch::kFloat);
  auto labels = torch::empty({n}, torch::kLong);
  auto* label_data = labels.data_ptr<int64_t>();
  auto* image_data = images.data_ptr<float>();
  const int64_t plane = 3 * side_ * side_;
  // Each sample is painted and normalised on its own; plain threads, no torch ops inside the
  // painter, and every slot is written by one thread only.
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      auto [image, label] = get(first + static_cast<uint64_t>(i));
      const torch::Tensor normalised = normalize_image(image);
      std::memcpy(image_data + i * plane, normalised.data_ptr<float>(), sizeof(float) * static_cast<size_t>(plane));
      label_data[i] = label;
    }
  };
  const int64_t t = std::max<int64_t>(1, std::min<int64_t>(threads, n));
  if (t == 1) {
    work(0, n);
  } else {
    std::vector<std::thread> pool;
    for (int64_t w = 0; w < t; ++w) pool.emplace_back(work, n * w / t, n * (w + 1) / t);
    for (auto& th : pool) th.join();
  }
  return {images, labels};
}

nlohmann::json FashionItems::identity() const {
  return {{"name", "fashion-items"}, {"source_split", source_}, {"side", side_},
          {"seed", seed_},           {"generator", kGenerator}, {"source", bank_->files},
          {"items", bank_->count}};
}

}  // namespace cwd::data
