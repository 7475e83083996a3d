// fashion-scenes: segmentation scenes composed from Fashion-MNIST items (Xiao et al. 2017), read
// from the gzipped IDX files of the Debian package dataset-fashion-mnist.
//
// A scene (canvas height×width) is a textured background (corner gradient, a low-frequency colour
// field, a few stripe patches, soft blobs and hard-edged rectangles, pixel noise) with 2–5 items
// (scaled by the canvas aspect) pasted on top. Each item is a 28×28 Fashion-MNIST image resized
// bilinearly to 30–70 % of the canvas height with aspect jitter, optionally mirrored, tinted,
// shaded by its own intensity, optionally multiplied by a random texture, and alpha-composited
// with alpha = clamp(1.5 · intensity) (at least 0.9 inside the item's silhouette, see item_alpha in
// item_sprite.cpp) at a random position (partly outside the canvas allowed; later items occlude
// earlier ones). Label of a pixel: decided by the top-most item whose alpha exceeds 0.15 there: its
// class if alpha > 0.5, else 255 (uncertain edge); background (0) where no item reaches 0.15.
//
// The tint comes from the item's colour family (item_tint in scene_layout.cpp): tops (shirt /
// t-shirt / pullover / coat) share one, footwear (sneaker / sandal / ankle boot) another, trousers,
// dresses and bags have their own; one item in five gets any colour instead. Colour thus tells the
// group, as it does in street scenes, and only shape tells the classes inside a group apart.
// (Generator 1 drew every tint at random and used smaller items on busier backgrounds: PSPNets
// trained from scratch did not get past the class prior within the CPU presets' budgets.)
//
// Everything is drawn from a splitmix64 counter RNG seeded by hash(seed, split, index) and computed
// with plain float arithmetic (no OpenCV, no std distributions), so scene i is the same on every
// run and thread schedule. Training scenes take items only from the package's train split,
// validation scenes only from t10k. Bump kGenerator whenever the output changes.
//
// The parts: idx.cpp reads the items, scene_layout.cpp draws a scene's items and their looks,
// scene_painter.cpp (with item_sprite.cpp) paints the scene; this file is the dataset and its
// factory.

#include "src/core/error.h"
#include "src/data/dataset.h"
#include "src/data/factories.h"
#include "src/data/idx.h"
#include "src/data/internal.h"
#include "src/data/scene_layout.h"
#include "src/data/scene_painter.h"
#include "src/data/split.h"

#include <fmt/format.h>

namespace cwd::data {
namespace {

constexpr char kGenerator[] = "fashion-scenes/2";
constexpr char kDefaultRoot[] = "/usr/share/datasets/fashion-mnist";

class FashionScenes final : public SegDataset {
 public:
  FashionScenes(std::shared_ptr<const detail::ItemBank> bank, Split split, int64_t size,
                int64_t height, int64_t width, uint64_t seed)
      : bank_(std::move(bank)),
        split_(split),
        size_(size),
        height_(height),
        width_(width),
        seed_(seed) {}

  int64_t size() const override { return size_; }
  const std::vector<std::string>& class_names() const override {
    return fashion_scene_class_names();
  }
  RawSample get(int64_t index) const override {
    detail::check_index("fashion-scenes", index, size_);
    const uint64_t key = scene_key(index);
    detail::Rng background_rng(detail::hash_words({key, 2}));
    return detail::paint_scene(background_rng, *bank_, layout(key), height_, width_);
  }
  nlohmann::json identity() const override {
    return {{"name", "fashion-scenes"},
            {"split", to_string(split_)},
            {"size", size_},
            {"height", height_},
            {"width", width_},
            {"seed", seed_},
            {"generator", kGenerator},
            {"source", bank_->files},
            {"items", bank_->count}};
  }
  /// The items of scene `index`, without painting it.
  std::vector<SceneItem> items(int64_t index) const {
    detail::check_index("fashion-scenes", index, size_);
    std::vector<SceneItem> items;
    for (const detail::PlacedItem& p : layout(scene_key(index))) items.push_back(p.info);
    return items;
  }

 private:
  /// hash(seed, split, index): the scene's items and its background draw from two streams of it.
  uint64_t scene_key(int64_t index) const {
    const uint64_t tag = split_ == Split::kVal ? 2 : 1;  // holdout scenes are train scenes
    return detail::hash_words({seed_, tag, static_cast<uint64_t>(index)});
  }
  std::vector<detail::PlacedItem> layout(uint64_t key) const {
    detail::Rng item_rng(detail::hash_words({key, 1}));
    return detail::place_items(item_rng, *bank_, height_, width_);
  }

  std::shared_ptr<const detail::ItemBank> bank_;
  Split split_;
  int64_t size_, height_, width_;
  uint64_t seed_;
};

}  // namespace

const std::vector<std::string>& fashion_scene_class_names() {
  static const std::vector<std::string> names = {"background", "t-shirt", "trouser",   "pullover",
                                                 "dress",      "coat",    "sandal",    "shirt",
                                                 "sneaker",    "bag",     "ankle-boot"};
  return names;
}

std::vector<SceneItem> fashion_scene_items(const SegDataset& dataset, int64_t index) {
  const SegDataset* current = &dataset;
  while (const auto* subset = dynamic_cast<const detail::SubsetDataset*>(current)) {
    detail::check_index("dataset", index, subset->size());
    index += subset->offset();
    current = &subset->base();
  }
  const auto* scenes = dynamic_cast<const FashionScenes*>(current);
  if (scenes == nullptr) {
    throw Error("fashion_scene_items: dataset '" + dataset.identity().value("name", "?") +
                "' is not fashion-scenes; item lists exist only for generated scenes");
  }
  return scenes->items(index);
}

namespace detail {

std::shared_ptr<const SegDataset> make_fashion_scenes(const DataConfig& config, Split split) {
  const int64_t size = split == Split::kVal ? config.val_size : config.train_size;
  const char* field = split == Split::kVal ? "val_size" : "train_size";
  if (size <= 0) {
    throw Error(fmt::format("fashion-scenes: {} is {}; set it to a positive number of scenes",
                            field, size));
  }
  if (config.height < 16 || config.width < 16) {
    throw Error(
        fmt::format("fashion-scenes: canvas {}x{} is too small; use a height and width of "
                    "at least 16 pixels",
                    config.height, config.width));
  }
  const std::string root = config.root.empty() ? kDefaultRoot : config.root;
  const std::string source = split == Split::kVal ? "t10k" : "train";
  return std::make_shared<FashionScenes>(load_item_bank(root, source), split, size, config.height,
                                         config.width, config.seed);
}

}  // namespace detail
}  // namespace cwd::data
