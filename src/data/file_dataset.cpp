// Datasets of image/label file pairs: reading one pair, and the dataset over a list of pairs.

#include "src/data/file_dataset.h"

#include "src/core/error.h"
#include "src/data/image_io.h"
#include "src/data/split.h"

#include <fmt/format.h>

#include <filesystem>
#include <system_error>

namespace cwd::data::detail {

uint64_t fnv1a(const std::string& bytes, uint64_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string file_list_hash(const std::vector<std::string>& paths, const std::string& root) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const std::string& path : paths) {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(path, ec);
    const std::string relative = std::filesystem::path(path).lexically_relative(root).string();
    h = fnv1a(relative.empty() ? path : relative, h);
    h = fnv1a(fmt::format("\n{}\n", ec ? -1 : static_cast<int64_t>(bytes)), h);
  }
  return fmt::format("fnv1a64:{:016x}", h);
}

// ---- image / label files ---------------------------------------------------------------------

namespace {

void require_files(const FilePair& pair) {
  for (const std::string& path : {pair.image, pair.label}) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      throw Error(
          fmt::format("cannot read image '{}' (file not found); check the dataset root "
                      "and split lists",
                      path));
    }
  }
}

// The label file's values through the mapping, checked: each a class or the ignore index.
torch::Tensor mapped_label(const FilePair& pair, const LabelMapping& mapping, int64_t num_classes,
                           int64_t ignore_index) {
  const Pixels<uint16_t> label = read_label_values(pair.label);
  torch::Tensor out_tensor = torch::empty({label.rows, label.cols}, torch::kUInt8);
  uint8_t* out = out_tensor.data_ptr<uint8_t>();
  const auto& lut = mapping.lut;
  for (size_t i = 0; i < label.data.size(); ++i) {
    const int value = label.data[i];
    int mapped = value;
    if (!lut.empty()) {
      mapped = static_cast<size_t>(value) < lut.size() ? lut[static_cast<size_t>(value)] : 255;
    }
    if (mapped >= num_classes && mapped != ignore_index) {
      throw Error(fmt::format(
          "label '{}' has value {}, but there are {} classes (0..{}) and the ignore index is {}",
          pair.label, mapped, num_classes, num_classes - 1, ignore_index));
    }
    out[i] = static_cast<uint8_t>(mapped);
  }
  return out_tensor;
}

}  // namespace

RawSample read_pair(const FilePair& pair, const LabelMapping& mapping, int64_t num_classes,
                    int64_t ignore_index) {
  require_files(pair);
  RawSample sample;
  sample.image = read_rgb(pair.image);
  sample.label = mapped_label(pair, mapping, num_classes, ignore_index);
  const int64_t H = sample.image.size(0), W = sample.image.size(1);
  if (sample.label.size(0) != H || sample.label.size(1) != W) {
    throw Error(fmt::format(
        "image '{}' is {}x{} (WxH) but its label '{}' is {}x{}; they must have the same size",
        pair.image, W, H, pair.label, sample.label.size(1), sample.label.size(0)));
  }
  return sample;
}

namespace {

class FileDataset final : public SegDataset {
 public:
  explicit FileDataset(FileDatasetSpec spec) : spec_(std::move(spec)) {
    std::vector<std::string> files;
    files.reserve(spec_.pairs.size() * 2);
    for (const FilePair& pair : spec_.pairs) {
      files.push_back(pair.image);
      files.push_back(pair.label);
    }
    hash_ = file_list_hash(files, spec_.root);
  }
  int64_t size() const override { return static_cast<int64_t>(spec_.pairs.size()); }
  RawSample get(int64_t index) const override {
    check_index(spec_.name, index, size());
    return read_pair(spec_.pairs[static_cast<size_t>(index)], spec_.mapping,
                     static_cast<int64_t>(spec_.class_names.size()), spec_.ignore_index);
  }
  const std::vector<std::string>& class_names() const override { return spec_.class_names; }
  int64_t ignore_index() const override { return spec_.ignore_index; }
  void check_files() const override {
    for (const FilePair& pair : spec_.pairs) {
      require_files(pair);
      mapped_label(pair, spec_.mapping, static_cast<int64_t>(spec_.class_names.size()), spec_.ignore_index);
    }
  }
  nlohmann::json identity() const override {
    return {{"name", spec_.name},
            {"split", to_string(spec_.split)},
            {"size", size()},
            {"root", spec_.root},
            {"content_hash", hash_},
            {"num_classes", spec_.class_names.size()},
            {"ignore_index", spec_.ignore_index}};
  }

 private:
  FileDatasetSpec spec_;
  std::string hash_;
};

}  // namespace

std::shared_ptr<const SegDataset> make_file_dataset(FileDatasetSpec spec) {
  require_opencv(fmt::format("dataset '{}'", spec.name));  // before training starts, not at get()
  return std::make_shared<FileDataset>(std::move(spec));
}

}  // namespace cwd::data::detail
