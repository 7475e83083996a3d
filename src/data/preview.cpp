// The preview grid behind `cwd-bench data preview`: each image beside its colourised label.

#include "src/data/dataset.h"
#include "src/data/palette.h"

#include "src/core/error.h"
#include "src/data/image_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace cwd::data {
namespace {

/// OpenCV's 8-bit HSV → RGB formula (hue in 0..179, saturation and value in 0..255), so the
/// preview keeps the colours OpenCV drew for classes beyond the palette.
Rgb hsv_to_rgb(int hue, int saturation, int value) {
  static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1},
                                        {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
  const float s = saturation / 255.f, v = value / 255.f;
  float h = std::fmod(hue * (6.f / 180.f), 6.f);
  const int sector = static_cast<int>(std::floor(h));
  h -= static_cast<float>(sector);
  const float tab[4] = {v, v * (1.f - s), v * (1.f - s * h), v * (1.f - s * (1.f - h))};
  const auto byte = [](float x) {
    return static_cast<uint8_t>(std::clamp(std::lrint(x * 255.f), 0L, 255L));
  };
  // sector_data lists blue, green, red.
  return {byte(tab[sector_data[sector][2]]), byte(tab[sector_data[sector][1]]),
          byte(tab[sector_data[sector][0]])};
}

}  // namespace

Rgb class_colour(int64_t cls, int64_t num_classes, int64_t ignore_index) {
  if (cls == ignore_index) return {255, 255, 255};
  if (cls == 0 && num_classes > 0 && num_classes <= 12) return {0, 0, 0};
  // A fixed, well-separated palette (RGB) for the first classes, then golden-ratio hues.
  static const Rgb palette[] = {
      {0, 0, 0},       {230, 25, 75},   {60, 180, 75},   {255, 225, 25},  {0, 130, 200},
      {245, 130, 48},  {145, 30, 180},  {70, 240, 240},  {240, 50, 230},  {210, 245, 60},
      {250, 190, 212}, {0, 128, 128},   {220, 190, 255}, {170, 110, 40},  {255, 250, 200},
      {128, 0, 0},     {170, 255, 195}, {128, 128, 0},   {255, 215, 180}, {0, 0, 128}};
  constexpr int64_t kPalette = sizeof(palette) / sizeof(palette[0]);
  if (cls >= 0 && cls < kPalette) return palette[cls];
  const double hue = std::fmod(static_cast<double>(cls) * 0.618033988749895, 1.0) * 180.0;
  return hsv_to_rgb(static_cast<int>(std::lrint(hue)), 200, 230);
}

void write_preview(const SegDataset& dataset, int64_t count, const std::string& png_path) {
  detail::require_opencv("data preview");
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
  const int grid_h = rows * (cell_h + kGap) + kGap, grid_w = columns * (pair_w + 3 * kGap) + kGap;
  std::vector<uint8_t> grid(static_cast<size_t>(grid_h) * grid_w * 3, 64);
  const auto pixel = [&](int y, int x) {
    return grid.data() + (static_cast<size_t>(y) * grid_w + x) * 3;
  };
  for (int64_t i = 0; i < count; ++i) {
    const RawSample& s = samples[static_cast<size_t>(i)];
    const int h = static_cast<int>(s.image.size(0)), w = static_cast<int>(s.image.size(1));
    const int top = kGap + static_cast<int>(i / columns) * (cell_h + kGap);
    const int left = kGap + static_cast<int>(i % columns) * (pair_w + 3 * kGap);
    const torch::Tensor image = s.image.contiguous();
    const torch::Tensor label = s.label.contiguous();
    const uint8_t* rgb = image.data_ptr<uint8_t>();
    const uint8_t* l = label.data_ptr<uint8_t>();
    for (int y = 0; y < h; ++y) {
      std::copy_n(rgb + static_cast<size_t>(y) * w * 3, w * 3, pixel(top + y, left));
      for (int x = 0; x < w; ++x) {
        const Rgb c = class_colour(l[y * w + x], dataset.num_classes(), dataset.ignore_index());
        std::copy(c.begin(), c.end(), pixel(top + y, left + cell_w + kGap + x));
      }
    }
  }
  if (!detail::write_png(grid.data(), grid_h, grid_w, 3, png_path)) {
    throw Error(
        fmt::format("preview: cannot write '{}'; check that its folder exists and is "
                    "writable and that the name ends in .png",
                    png_path));
  }
}

}  // namespace cwd::data
