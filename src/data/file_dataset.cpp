// Datasets of image/label file pairs: reading one pair, and the dataset over a list of pairs.

#include "src/data/file_dataset.h"

#include "src/core/error.h"
#include "src/data/split.h"

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

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

RawSample read_pair(const FilePair& pair, const LabelMapping& mapping, int64_t num_classes,
                    int64_t ignore_index) {
  for (const std::string& path : {pair.image, pair.label}) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      throw Error(
          fmt::format("cannot read image '{}' (file not found); check the dataset root "
                      "and split lists",
                      path));
    }
  }
  cv::Mat bgr = cv::imread(pair.image, cv::IMREAD_COLOR);
  if (bgr.empty()) {
    throw Error(fmt::format("cannot read image '{}' (unreadable or truncated file)", pair.image));
  }
  cv::Mat label = cv::imread(pair.label, cv::IMREAD_UNCHANGED);
  if (label.empty()) {
    throw Error(fmt::format("cannot read image '{}' (unreadable or truncated file)", pair.label));
  }
  if (label.channels() != 1 || (label.depth() != CV_8U && label.depth() != CV_16U)) {
    throw Error(fmt::format(
        "label '{}' has {} channel(s) of depth {}, expected one 8-bit or 16-bit channel; save "
        "labels as single-channel PNGs of class ids",
        pair.label, label.channels(), cv::depthToString(label.depth())));
  }
  if (label.rows != bgr.rows || label.cols != bgr.cols) {
    throw Error(fmt::format(
        "image '{}' is {}x{} (WxH) but its label '{}' is {}x{}; they must have the same size",
        pair.image, bgr.cols, bgr.rows, pair.label, label.cols, label.rows));
  }
  const int64_t H = bgr.rows, W = bgr.cols;
  RawSample sample;
  sample.image = torch::empty({H, W, 3}, torch::kUInt8);
  cv::Mat rgb(bgr.rows, bgr.cols, CV_8UC3, sample.image.data_ptr<uint8_t>());
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);

  sample.label = torch::empty({H, W}, torch::kUInt8);
  uint8_t* out = sample.label.data_ptr<uint8_t>();
  const auto& lut = mapping.lut;
  for (int y = 0; y < label.rows; ++y) {
    for (int x = 0; x < label.cols; ++x) {
      const int value = label.depth() == CV_8U ? label.at<uint8_t>(y, x) : label.at<uint16_t>(y, x);
      int mapped = value;
      if (!lut.empty()) {
        mapped = static_cast<size_t>(value) < lut.size() ? lut[static_cast<size_t>(value)] : 255;
      }
      if (mapped >= num_classes && mapped != ignore_index) {
        throw Error(fmt::format(
            "label '{}' has value {}, but there are {} classes (0..{}) and the ignore index is {}",
            pair.label, mapped, num_classes, num_classes - 1, ignore_index));
      }
      out[y * W + x] = static_cast<uint8_t>(mapped);
    }
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
  return std::make_shared<FileDataset>(std::move(spec));
}

}  // namespace cwd::data::detail
