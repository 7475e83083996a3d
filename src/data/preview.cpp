// The preview grid behind `cwd-bench data preview`: each image beside its colourised label.

#include "src/data/dataset.h"

#include "src/core/error.h"

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace cwd::data {
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
