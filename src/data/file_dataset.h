#pragma once
// Private to src/data: datasets of image/label file pairs (cityscapes and folder build on this).
// Deliberately free of OpenCV types (the core library links OpenCV privately).

#include "src/data/dataset.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cwd::data::detail {

/// FNV-1a over bytes, continuing from `h`.
uint64_t fnv1a(const std::string& bytes, uint64_t h = 0xcbf29ce484222325ULL);
/// "fnv1a64:" + 16 hex digits over the relative names and sizes of the files (fast: no content).
std::string file_list_hash(const std::vector<std::string>& paths, const std::string& root);

/// One image file and its label file.
struct FilePair {
  std::string image;
  std::string label;
};

/// How a FileDataset turns stored label values into class ids.
struct LabelMapping {
  /// Empty: values are class ids already. Otherwise value v → lut[v] (v ≥ lut.size() → 255).
  std::vector<uint8_t> lut;
};

struct FileDatasetSpec {
  std::string name;  ///< "cityscapes" or "folder"
  std::string root;
  Split split = Split::kTrain;
  std::vector<FilePair> pairs;
  std::vector<std::string> class_names;
  int64_t ignore_index = 255;
  LabelMapping mapping;
};

/// A dataset of image/label file pairs (cityscapes and folder).
std::shared_ptr<const SegDataset> make_file_dataset(FileDatasetSpec spec);

/// Reads one pair: the image as uint8 H×W×3 RGB and the label as uint8 H×W, mapped and checked
/// against `num_classes` / `ignore_index`. Throws cwd::Error naming the file.
RawSample read_pair(const FilePair& pair, const LabelMapping& mapping, int64_t num_classes,
                    int64_t ignore_index);

}  // namespace cwd::data::detail
