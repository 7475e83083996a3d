// Dataset dispatch, split carving (holdout, limit), file-pair reading and the preview grid.

#include "src/data/dataset.h"

#include "src/core/error.h"
#include "src/data/internal.h"

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace cwd::data {

std::string to_string(Split split) {
  switch (split) {
    case Split::kTrain:
      return "train";
    case Split::kHoldout:
      return "holdout";
    case Split::kVal:
      return "val";
  }
  return "unknown";
}

namespace detail {

void check_index(const std::string& name, int64_t index, int64_t size) {
  if (index < 0 || index >= size) {
    throw Error(fmt::format("{}: sample index {} is out of range (the split has {} samples)", name,
                            index, size));
  }
}

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

// ---- subsets ---------------------------------------------------------------------------------

SubsetDataset::SubsetDataset(std::shared_ptr<const SegDataset> base, int64_t offset, int64_t count,
                             Split split)
    : base_(std::move(base)), offset_(offset), count_(count), split_(split) {}

RawSample SubsetDataset::get(int64_t index) const {
  check_index(to_string(split_) + " split", index, count_);
  return base_->get(offset_ + index);
}

nlohmann::json SubsetDataset::identity() const {
  nlohmann::json id = base_->identity();
  id["split"] = to_string(split_);
  id["size"] = count_;
  id["offset"] = offset_ + id.value("offset", int64_t{0});
  return id;
}

}  // namespace detail

// ---- dispatch ---------------------------------------------------------------------------------

std::shared_ptr<const SegDataset> make_dataset(const DataConfig& config, Split split) {
  if (config.holdout < 0) {
    throw Error(
        fmt::format("holdout is {}; it must be >= 0 (0 = no holdout split)", config.holdout));
  }
  if (config.limit < 0) {
    throw Error(fmt::format("limit is {}; it must be >= 0 (0 = use all images)", config.limit));
  }
  if (split == Split::kHoldout && config.holdout == 0) {
    throw Error("the holdout split is empty; pass --holdout N to set N training images aside");
  }
  const Split full = split == Split::kVal ? Split::kVal : Split::kTrain;
  std::shared_ptr<const SegDataset> base;
  if (config.name == "fashion-scenes") {
    base = detail::make_fashion_scenes(config, full);
  } else if (config.name == "cityscapes") {
    base = detail::make_cityscapes(config, full);
  } else if (config.name == "folder") {
    base = detail::make_folder(config, full);
  } else {
    throw Error("unknown dataset '" + config.name +
                "' (known: cityscapes, fashion-scenes, folder)");
  }
  int64_t offset = 0;
  int64_t count = base->size();
  if (split != Split::kVal && config.holdout > 0) {
    if (config.holdout >= count) {
      throw Error(
          fmt::format("{}: holdout {} leaves no training images (the train split has {}); "
                      "pass a smaller --holdout",
                      config.name, config.holdout, count));
    }
    if (split == Split::kTrain) {
      count -= config.holdout;
    } else {
      offset = count - config.holdout;
      count = config.holdout;
    }
  }
  if (config.limit > 0) count = std::min(count, config.limit);
  if (offset == 0 && count == base->size()) return base;
  return std::make_shared<detail::SubsetDataset>(std::move(base), offset, count, split);
}

// ---- preview ----------------------------------------------------------------------------------

namespace {

cv::Vec3b class_colour(int64_t cls, int64_t num_classes, int64_t ignore_index) {
  if (cls == ignore_index) return {255, 255, 255};
  if (cls == 0 && num_classes > 0 && num_classes <= 12) return {0, 0, 0};
  // A fixed, well-separated palette (BGR) for the first classes, then golden-ratio hues.
  static const cv::Vec3b palette[] = {
      {0, 0, 0},       {75, 25, 230},   {75, 180, 60},   {25, 225, 255},  {200, 130, 0},
      {48, 130, 245},  {180, 30, 145},  {240, 240, 70},  {230, 50, 240},  {60, 245, 210},
      {212, 190, 250}, {128, 128, 0},   {255, 190, 220}, {40, 110, 170},  {200, 250, 255},
      {0, 0, 128},     {195, 255, 170}, {0, 128, 128},   {180, 215, 255}, {128, 0, 0}};
  constexpr int64_t kPalette = sizeof(palette) / sizeof(palette[0]);
  if (cls >= 0 && cls < kPalette) return palette[cls];
  const double hue = std::fmod(static_cast<double>(cls) * 0.618033988749895, 1.0) * 180.0;
  cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(hue, 200, 230)), bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  return bgr.at<cv::Vec3b>(0, 0);
}

}  // namespace

void write_preview(const SegDataset& dataset, int64_t count, const std::string& png_path) {
  count = std::min(count, dataset.size());
  if (count <= 0) throw Error("preview: nothing to show (the split is empty or count is 0)");
  std::vector<RawSample> samples;
  int cell_h = 0, cell_w = 0;
  for (int64_t i = 0; i < count; ++i) {
    samples.push_back(dataset.get(i));
    cell_h = std::max(cell_h, static_cast<int>(samples.back().image.size(0)));
    cell_w = std::max(cell_w, static_cast<int>(samples.back().image.size(1)));
  }
  constexpr int kGap = 4;
  const int columns = count >= 4 ? 2 : 1;  // pairs (image | label) per row
  const int rows = static_cast<int>((count + columns - 1) / columns);
  const int pair_w = 2 * cell_w + kGap;
  cv::Mat grid(rows * (cell_h + kGap) + kGap, columns * (pair_w + 3 * kGap) + kGap, CV_8UC3,
               cv::Scalar(64, 64, 64));
  for (int64_t i = 0; i < count; ++i) {
    const RawSample& s = samples[static_cast<size_t>(i)];
    const int h = static_cast<int>(s.image.size(0)), w = static_cast<int>(s.image.size(1));
    const int top = kGap + static_cast<int>(i / columns) * (cell_h + kGap);
    const int left = kGap + static_cast<int>(i % columns) * (pair_w + 3 * kGap);
    torch::Tensor image = s.image.contiguous();
    torch::Tensor label = s.label.contiguous();
    cv::Mat rgb(h, w, CV_8UC3, image.data_ptr<uint8_t>());
    cv::cvtColor(rgb, grid(cv::Rect(left, top, w, h)), cv::COLOR_RGB2BGR);
    cv::Mat colour = grid(cv::Rect(left + cell_w + kGap, top, w, h));
    const uint8_t* l = label.data_ptr<uint8_t>();
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        colour.at<cv::Vec3b>(y, x) =
            class_colour(l[y * w + x], dataset.num_classes(), dataset.ignore_index());
      }
    }
  }
  bool ok = false;
  try {
    ok = cv::imwrite(png_path, grid);
  } catch (const cv::Exception&) {
    ok = false;
  }
  if (!ok) {
    throw Error(
        fmt::format("preview: cannot write '{}'; check that its folder exists and is "
                    "writable and that the name ends in .png",
                    png_path));
  }
}

}  // namespace cwd::data
