#pragma once
// Private to src/data: the reader of Fashion-MNIST's gzipped IDX files (the ubyte image and
// label formats of the MNIST page), as installed by the Debian package dataset-fashion-mnist.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cwd::data::detail {

/// Every item is a kItemSide × kItemSide greyscale image.
constexpr int kItemSide = 28;
constexpr int kItemPixels = kItemSide * kItemSide;

/// The items of one Fashion-MNIST split.
struct ItemBank {
  std::string source;              ///< "train" or "t10k"
  std::vector<std::string> files;  ///< file names (part of the dataset identity)
  int64_t count = 0;
  std::vector<uint8_t> pixels;  ///< count × 28 × 28, row-major
  std::vector<uint8_t> labels;  ///< count, 0..9
};

/// Reads root/<prefix>-images-idx3-ubyte.gz and root/<prefix>-labels-idx1-ubyte.gz (prefix
/// "train" or "t10k"). Throws a one-line cwd::Error naming the file and the fix for a missing,
/// truncated or corrupt file, a wrong magic number or header, or a label outside 0..9.
std::shared_ptr<const ItemBank> load_item_bank(const std::string& root, const std::string& prefix);

}  // namespace cwd::data::detail
