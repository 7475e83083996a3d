// folder: a user's dataset. Either split list files (one "image_path label_path" pair per line,
// relative to the root; blank lines and lines starting with '#' skipped), or by name:
//   root/images/{train,val}/X.{png,jpg,jpeg}  ↔  root/labels/{train,val}/X.png
// Labels are single-channel 8- or 16-bit PNGs of class ids (0..num_classes-1) or the ignore index.

#include "src/core/error.h"
#include "src/data/dataset.h"
#include "src/data/factories.h"
#include "src/data/file_dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace cwd::data::detail {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<FilePair> read_list(const fs::path& root, const std::string& list) {
  std::error_code ec;
  fs::path path(list);
  if (!fs::is_regular_file(path, ec) && path.is_relative()) path = root / list;
  std::ifstream in(path);
  if (!in) {
    throw Error(
        fmt::format("folder: split list {} not found; pass an existing file (absolute or "
                    "relative to the data root)",
                    list));
  }
  std::vector<FilePair> pairs;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream fields(line);
    std::string image, label, extra;
    if (!(fields >> image) || image[0] == '#') continue;
    if (!(fields >> label) || (fields >> extra)) {
      throw Error(fmt::format("folder: {} line {}: expected 'image_path label_path', got '{}'",
                              path.string(), number, line));
    }
    const fs::path image_path = root / image, label_path = root / label;
    for (const fs::path& p : {image_path, label_path}) {
      if (!fs::is_regular_file(p, ec)) {
        throw Error(fmt::format("folder: {} line {}: {} not found; fix the list or the data root",
                                path.string(), number, p.string()));
      }
    }
    pairs.push_back({image_path.string(), label_path.string()});
  }
  if (pairs.empty()) {
    throw Error(fmt::format("folder: split list {} names no images; add 'image label' lines",
                            path.string()));
  }
  return pairs;
}

std::vector<FilePair> match_by_name(const fs::path& root, const std::string& split_name) {
  const fs::path image_dir = root / "images" / split_name;
  const fs::path label_dir = root / "labels" / split_name;
  std::error_code ec;
  for (const fs::path& dir : {image_dir, label_dir}) {
    if (!fs::is_directory(dir, ec)) {
      throw Error(fmt::format(
          "folder: {} not found; lay the dataset out as images/{{train,val}}/X.png|jpg with "
          "labels/{{train,val}}/X.png, or pass split list files",
          dir.string()));
    }
  }
  std::vector<FilePair> pairs;
  for (auto it = fs::directory_iterator(image_dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string ext = lower(it->path().extension().string());
    if (ext != ".png" && ext != ".jpg" && ext != ".jpeg") continue;
    const fs::path label = label_dir / (it->path().stem().string() + ".png");
    if (!fs::is_regular_file(label, ec)) {
      throw Error(
          fmt::format("folder: image {} has no label (expected {}); add the label or "
                      "remove the image",
                      it->path().string(), label.string()));
    }
    pairs.push_back({it->path().string(), label.string()});
  }
  if (ec) {
    throw Error(fmt::format("folder: cannot list {} ({}); check its permissions",
                            image_dir.string(), ec.message()));
  }
  if (pairs.empty()) {
    throw Error(
        fmt::format("folder: no .png/.jpg/.jpeg images in {}; add images or pass split "
                    "list files",
                    image_dir.string()));
  }
  std::sort(pairs.begin(), pairs.end(),
            [](const FilePair& a, const FilePair& b) { return a.image < b.image; });
  return pairs;
}

}  // namespace

std::shared_ptr<const SegDataset> make_folder(const DataConfig& config, Split split) {
  if (config.num_classes <= 0) {
    throw Error(
        fmt::format("folder: num_classes is {}; pass --num-classes K (the number of "
                    "classes in the label PNGs)",
                    config.num_classes));
  }
  if (config.num_classes > 255) {
    throw Error(
        fmt::format("folder: {} classes do not fit 8-bit label maps; at most 255 classes "
                    "are supported",
                    config.num_classes));
  }
  if (config.ignore_index < config.num_classes || config.ignore_index > 255) {
    throw Error(
        fmt::format("folder: ignore index {} must lie in {}..255 (above the class ids "
                    "0..{}); pass --ignore-index",
                    config.ignore_index, config.num_classes, config.num_classes - 1));
  }
  if (!config.class_names.empty() &&
      static_cast<int64_t>(config.class_names.size()) != config.num_classes) {
    throw Error(fmt::format("folder: {} class names given for {} classes; give one name per class",
                            config.class_names.size(), config.num_classes));
  }
  if (config.root.empty()) throw Error("folder: no data root given; pass --data-root DIR");
  const fs::path root(config.root);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw Error(fmt::format("folder: data root {} not found; pass --data-root DIR", root.string()));
  }
  const std::string& list = split == Split::kVal ? config.val_list : config.train_list;
  FileDatasetSpec spec;
  spec.name = "folder";
  spec.root = root.string();
  spec.split = split;
  spec.pairs = list.empty() ? match_by_name(root, split == Split::kVal ? "val" : "train")
                            : read_list(root, list);
  spec.class_names = config.class_names;
  if (spec.class_names.empty()) {
    for (int64_t c = 0; c < config.num_classes; ++c) {
      spec.class_names.push_back("class" + std::to_string(c));
    }
  }
  spec.ignore_index = config.ignore_index;
  return make_file_dataset(std::move(spec));
}

}  // namespace cwd::data::detail
