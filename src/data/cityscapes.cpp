// Cityscapes (Cordts et al., CVPR 2016), official layout:
//   root/leftImg8bit/{train,val}/<city>/<stem>_leftImg8bit.png
//   root/gtFine/{train,val}/<city>/<stem>_gtFine_labelIds.png
// labelIds are mapped to the 19 train ids of cityscapesScripts' labels.py; all else → 255.

#include "src/core/error.h"
#include "src/data/dataset.h"
#include "src/data/factories.h"
#include "src/data/file_dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace cwd::data {

uint8_t cityscapes_train_id(int label_id) {
  switch (label_id) {
    case 7:
      return 0;  // road
    case 8:
      return 1;  // sidewalk
    case 11:
      return 2;  // building
    case 12:
      return 3;  // wall
    case 13:
      return 4;  // fence
    case 17:
      return 5;  // pole
    case 19:
      return 6;  // traffic light
    case 20:
      return 7;  // traffic sign
    case 21:
      return 8;  // vegetation
    case 22:
      return 9;  // terrain
    case 23:
      return 10;  // sky
    case 24:
      return 11;  // person
    case 25:
      return 12;  // rider
    case 26:
      return 13;  // car
    case 27:
      return 14;  // truck
    case 28:
      return 15;  // bus
    case 31:
      return 16;  // train
    case 32:
      return 17;  // motorcycle
    case 33:
      return 18;  // bicycle
    default:
      return 255;
  }
}

const std::vector<std::string>& cityscapes_class_names() {
  static const std::vector<std::string> names = {
      "road",         "sidewalk",   "building", "wall",       "fence",  "pole",  "traffic light",
      "traffic sign", "vegetation", "terrain",  "sky",        "person", "rider", "car",
      "truck",        "bus",        "train",    "motorcycle", "bicycle"};
  return names;
}

namespace detail {

namespace {

constexpr char kImageSuffix[] = "_leftImg8bit.png";
constexpr char kLabelSuffix[] = "_gtFine_labelIds.png";

/// Every <city>/<stem>_leftImg8bit.png under image_dir with its label under label_dir, sorted.
/// Throws cwd::Error for an image without a label and for a folder that cannot be listed.
std::vector<FilePair> list_pairs(const std::filesystem::path& image_dir,
                                 const std::filesystem::path& label_dir) {
  namespace fs = std::filesystem;
  const std::string image_suffix = kImageSuffix;
  const std::string label_suffix = kLabelSuffix;
  std::error_code ec;
  std::vector<FilePair> pairs;
  for (auto it = fs::recursive_directory_iterator(image_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string name = it->path().filename().string();
    if (name.size() <= image_suffix.size() ||
        name.compare(name.size() - image_suffix.size(), image_suffix.size(), image_suffix) != 0) {
      continue;
    }
    const std::string stem = name.substr(0, name.size() - image_suffix.size());
    const fs::path city = it->path().parent_path().lexically_relative(image_dir);
    const fs::path label = label_dir / city / (stem + label_suffix);
    if (!fs::is_regular_file(label, ec)) {
      throw Error(
          fmt::format("cityscapes: image {} has no label (expected {}); restore the gtFine "
                      "files or remove the image",
                      it->path().string(), label.string()));
    }
    pairs.push_back({it->path().string(), label.string()});
  }
  if (ec) {
    throw Error(fmt::format("cityscapes: cannot list {} ({}); check its permissions",
                            image_dir.string(), ec.message()));
  }
  std::sort(pairs.begin(), pairs.end(),
            [](const FilePair& a, const FilePair& b) { return a.image < b.image; });
  return pairs;
}

}  // namespace

std::shared_ptr<const SegDataset> make_cityscapes(const DataConfig& config, Split split) {
  namespace fs = std::filesystem;
  const std::string fix =
      "download leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from "
      "https://www.cityscapes-dataset.com and pass --data-root DIR (the folder holding "
      "leftImg8bit/ and gtFine/)";
  if (config.root.empty()) throw Error("cityscapes: no data root given; " + fix);
  const std::string split_name = split == Split::kVal ? "val" : "train";
  const fs::path root(config.root);
  const fs::path image_dir = root / "leftImg8bit" / split_name;
  const fs::path label_dir = root / "gtFine" / split_name;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw Error(fmt::format("cityscapes: data root {} not found; {}", root.string(), fix));
  }
  for (const fs::path& dir : {image_dir, label_dir}) {
    if (!fs::is_directory(dir, ec)) {
      throw Error(fmt::format("cityscapes: {} not found; {}", dir.string(), fix));
    }
  }
  std::vector<FilePair> pairs = list_pairs(image_dir, label_dir);
  if (pairs.empty()) {
    throw Error(fmt::format("cityscapes: no *{} files under {}; {}", kImageSuffix,
                            image_dir.string(), fix));
  }

  FileDatasetSpec spec;
  spec.name = "cityscapes";
  spec.root = root.string();
  spec.split = split;
  spec.pairs = std::move(pairs);
  spec.class_names = cityscapes_class_names();
  spec.ignore_index = 255;
  spec.mapping.lut.resize(256);
  for (int v = 0; v < 256; ++v) spec.mapping.lut[static_cast<size_t>(v)] = cityscapes_train_id(v);
  return make_file_dataset(std::move(spec));
}

}  // namespace detail
}  // namespace cwd::data
