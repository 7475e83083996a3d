#pragma once
// Private to src/data: the counter-based RNG, hashing, and the pieces the dataset files share.
// Deliberately free of OpenCV types (the core library links OpenCV privately).

#include "src/data/dataset.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cwd::data::detail {

/// splitmix64 finaliser: a bijective 64-bit mix.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Hash of a sequence of 64-bit words (order matters).
inline uint64_t hash_words(std::initializer_list<uint64_t> words) {
  uint64_t h = 0x6a09e667f3bcc909ULL;
  for (uint64_t w : words) h = mix64(h ^ mix64(w + 0x9e3779b97f4a7c15ULL));
  return h;
}

/// Counter-based generator (splitmix64). Every draw is plain integer / IEEE arithmetic, so the
/// stream is identical across compilers, platforms and threads (unlike std::*_distribution).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(mix64(seed ^ 0x2545f4914f6cdd1dULL)) {}
  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [0, n) (n > 0), by the multiply-high method.
  int64_t below(int64_t n) {
    return static_cast<int64_t>(
        (static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(n)) >> 64);
  }
  /// Uniform integer in [lo, hi].
  int64_t between(int64_t lo, int64_t hi) { return lo + below(hi - lo + 1); }
  bool chance(double p) { return uniform() < p; }

 private:
  uint64_t state_;
};

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

/// Full split datasets (kTrain = the whole training split, before holdout carving; kVal).
std::shared_ptr<const SegDataset> make_fashion_scenes(const DataConfig& config, Split split);
std::shared_ptr<const SegDataset> make_cityscapes(const DataConfig& config, Split split);
std::shared_ptr<const SegDataset> make_folder(const DataConfig& config, Split split);

/// A contiguous range [offset, offset + count) of another dataset, served as `split`
/// (holdout carving and the `limit` cap).
class SubsetDataset : public SegDataset {
 public:
  SubsetDataset(std::shared_ptr<const SegDataset> base, int64_t offset, int64_t count, Split split);
  int64_t size() const override { return count_; }
  RawSample get(int64_t index) const override;
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  int64_t ignore_index() const override { return base_->ignore_index(); }
  nlohmann::json identity() const override;
  const SegDataset& base() const { return *base_; }
  int64_t offset() const { return offset_; }

 private:
  std::shared_ptr<const SegDataset> base_;
  int64_t offset_;
  int64_t count_;
  Split split_;
};

/// Throws cwd::Error unless 0 <= index < size.
void check_index(const std::string& name, int64_t index, int64_t size);

}  // namespace cwd::data::detail
