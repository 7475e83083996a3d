#pragma once
// Segmentation datasets: fashion-scenes (generated from the Debian package dataset-fashion-mnist),
// cityscapes (official layout) and folder (a user's images + label PNGs).

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cwd::data {

enum class Split { kTrain, kHoldout, kVal };
std::string to_string(Split split);

/// One image and its label map, before augmentation.
struct RawSample {
  torch::Tensor image;  ///< uint8 H×W×3, RGB
  torch::Tensor label;  ///< uint8 H×W, class ids in [0, num_classes) or the ignore index
};

struct DataConfig {
  /// "fashion-scenes", "cityscapes" or "folder".
  std::string name = "fashion-scenes";
  /// fashion-scenes: folder of the IDX files (default /usr/share/datasets/fashion-mnist);
  /// cityscapes: the folder holding leftImg8bit/ and gtFine/; folder: the dataset folder.
  std::string root;
  /// fashion-scenes: number of generated scenes per split, canvas size and generator seed.
  int64_t train_size = 2975;
  int64_t val_size = 500;
  int64_t height = 128;
  int64_t width = 256;
  uint64_t seed = 0;
  /// Scenes (or images) taken off the end of the training split and served as Split::kHoldout
  /// (used to choose loss weights without touching the validation split). 0 = none.
  int64_t holdout = 0;
  /// folder: classes, their names (optional, defaults "class0".."classK-1"), ignore index,
  /// and optional split list files (lines "image_path label_path" relative to root); without
  /// lists, root/images/{train,val}/X.{png,jpg} pairs with root/labels/{train,val}/X.png.
  int64_t num_classes = 0;
  std::vector<std::string> class_names;
  int64_t ignore_index = 255;
  std::string train_list;
  std::string val_list;
  /// Cap on images used per split (0 = all); handy for quick looks at large datasets.
  int64_t limit = 0;
};

class SegDataset {
 public:
  virtual ~SegDataset() = default;
  virtual int64_t size() const = 0;
  /// Thread-safe; throws cwd::Error naming the file for unreadable/truncated images and for label
  /// values that are neither a class nor the ignore index.
  virtual RawSample get(int64_t index) const = 0;
  virtual const std::vector<std::string>& class_names() const = 0;
  int64_t num_classes() const { return static_cast<int64_t>(class_names().size()); }
  virtual int64_t ignore_index() const { return 255; }
  /// Name, split, size, and a generator seed or content hash: enough to tell two datasets apart.
  virtual nlohmann::json identity() const = 0;
  /// Reads what a user's files could get wrong (every label map: readable, the image's size,
  /// values that are a class or the ignore index) and throws the cwd::Error get() would, so a
  /// bad file stops a run before its first step instead of after training. Generated data has
  /// nothing to check.
  virtual void check_files() const {}
};

/// Builds the split of the configured dataset. Throws cwd::Error with one line naming the
/// problem and the fix (missing package: the apt-get command; missing path; empty split ...).
std::shared_ptr<const SegDataset> make_dataset(const DataConfig& config, Split split);

/// Cityscapes labelIds (0..33, -1) → train ids (0..18) or 255.
uint8_t cityscapes_train_id(int label_id);
/// The 19 Cityscapes class names in train-id order.
const std::vector<std::string>& cityscapes_class_names();
/// fashion-scenes class names: "background" then the 10 Fashion-MNIST classes.
const std::vector<std::string>& fashion_scene_class_names();

/// fashion-scenes debugging aid: one item pasted into a scene.
struct SceneItem {
  int64_t class_id = 0;      ///< 1..10 (the Fashion-MNIST label + 1)
  std::string source;        ///< Fashion-MNIST split the item comes from: "train" or "t10k"
  int64_t source_index = 0;  ///< index of the item in that split's IDX files
  int64_t x = 0, y = 0;      ///< top-left corner on the canvas (may be negative)
  int64_t width = 0, height = 0;
};
/// The items of sample `index` of a fashion-scenes dataset (any split, after holdout/limit), in
/// paint order (later items occlude earlier ones). Throws cwd::Error for other datasets.
std::vector<SceneItem> fashion_scene_items(const SegDataset& dataset, int64_t index);

/// Writes a PNG grid of the first `count` samples (fewer if the dataset is smaller): each image
/// beside its colourised label (ignore pixels white). Backs `cwd-bench data preview`.
void write_preview(const SegDataset& dataset, int64_t count, const std::string& png_path);

/// One split to export: its folder name ("train", "val", ...) and its scenes.
struct ExportSplit {
  std::string name;
  std::shared_ptr<const SegDataset> dataset;
};
/// Writes the splits as a folder dataset: out_dir/images/<split>/NNNNN.png (RGB),
/// out_dir/labels/<split>/NNNNN.png (8-bit class ids, the ignore index kept) and
/// out_dir/dataset.json (classes, names, ignore index, each split's size and source identity).
/// `--data folder --data-root out_dir --num-classes K` reads it back pixel for pixel. out_dir must
/// not exist (or be empty); the folder appears whole or not at all. Backs `cwd-bench data export`.
nlohmann::json export_folder(const std::vector<ExportSplit>& splits, const std::string& out_dir);

}  // namespace cwd::data
