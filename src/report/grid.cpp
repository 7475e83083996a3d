// Figure 5, the predictions grid, composed with OpenCV: one row per network (after the image and
// its ground truth), one column per validation image, in the class palette of `data preview`,
// with a legend of the classes under it.

#include "src/report/plot.h"

#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/data/palette.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#if CWD_BENCH_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace cwd::report {

namespace {

[[maybe_unused]] std::string base64(const std::vector<unsigned char>& bytes) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t b0 = bytes[i], b1 = i + 1 < bytes.size() ? bytes[i + 1] : 0, b2 = i + 2 < bytes.size() ? bytes[i + 2] : 0;
    const uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out += digits[(v >> 18) & 63];
    out += digits[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? digits[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? digits[v & 63] : '=';
  }
  return out;
}

}  // namespace

#if CWD_BENCH_HAVE_OPENCV

bool can_draw_images(std::string&) { return true; }

void draw_predictions(const Predictions& p, const std::string& stem) {
  if (p.images.empty() || p.predicted.empty()) throw Error("predictions figure: nothing to draw");
  constexpr int kScale = 2, kGap = 6, kLabelW = 190, kTitleH = 44;
  const int h = static_cast<int>(p.images.front().size(0)) * kScale, w = static_cast<int>(p.images.front().size(1)) * kScale;
  const int columns = static_cast<int>(p.images.size());
  const int rows = 2 + static_cast<int>(p.predicted.size());
  const int classes = static_cast<int>(p.class_names.size());
  const int legend_cols = 4, legend_rows = (classes + legend_cols - 1) / legend_cols, legend_row_h = 26;
  const int width = kLabelW + columns * (w + kGap) + kGap;
  const int height = kTitleH + rows * (h + kGap) + kGap + 16 + legend_rows * legend_row_h + kGap;
  cv::Mat canvas(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const auto font = cv::FONT_HERSHEY_SIMPLEX;
  const cv::Scalar ink(20, 20, 20);
  cv::putText(canvas, "Predictions on the first validation images (one seed per row)", {kGap, 28}, font, 0.7, ink, 2,
              cv::LINE_AA);

  const auto paste_labels = [&](const torch::Tensor& label, int top, int left) {
    const auto l = label.contiguous();
    const uint8_t* ids = l.data_ptr<uint8_t>();
    const int lh = static_cast<int>(l.size(0)), lw = static_cast<int>(l.size(1));
    cv::Mat small(lh, lw, CV_8UC3);
    for (int y = 0; y < lh; ++y) {
      for (int x = 0; x < lw; ++x) {
        const auto c = data::class_colour(ids[y * lw + x], classes, p.ignore_index);
        small.at<cv::Vec3b>(y, x) = cv::Vec3b(c[2], c[1], c[0]);  // BGR
      }
    }
    cv::Mat big;
    cv::resize(small, big, {w, h}, 0, 0, cv::INTER_NEAREST);
    big.copyTo(canvas(cv::Rect(left, top, w, h)));
  };
  const auto paste_image = [&](const torch::Tensor& image, int top, int left) {
    const auto im = image.contiguous();
    cv::Mat rgb(static_cast<int>(im.size(0)), static_cast<int>(im.size(1)), CV_8UC3, im.data_ptr<uint8_t>());
    cv::Mat bgr, big;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    cv::resize(bgr, big, {w, h}, 0, 0, cv::INTER_NEAREST);
    big.copyTo(canvas(cv::Rect(left, top, w, h)));
  };
  std::vector<std::string> row_names = {"image", "ground truth"};
  row_names.insert(row_names.end(), p.rows.begin(), p.rows.end());
  for (int r = 0; r < rows; ++r) {
    const int top = kTitleH + r * (h + kGap);
    cv::putText(canvas, row_names[static_cast<size_t>(r)], {kGap, top + h / 2 + 6}, font, 0.55, ink, 1, cv::LINE_AA);
    for (int c = 0; c < columns; ++c) {
      const int left = kLabelW + kGap + c * (w + kGap);
      if (r == 0) {
        paste_image(p.images[static_cast<size_t>(c)], top, left);
      } else if (r == 1) {
        paste_labels(p.truth[static_cast<size_t>(c)], top, left);
      } else {
        paste_labels(p.predicted[static_cast<size_t>(r - 2)][static_cast<size_t>(c)], top, left);
      }
    }
  }
  // The legend: one swatch per class.
  const int legend_top = kTitleH + rows * (h + kGap) + 16;
  const int swatch_w = (width - 2 * kGap) / legend_cols;
  for (int k = 0; k < classes; ++k) {
    const int x = kGap + (k % legend_cols) * swatch_w, y = legend_top + (k / legend_cols) * legend_row_h;
    const auto c = data::class_colour(k, classes, p.ignore_index);
    cv::rectangle(canvas, cv::Rect(x, y, 18, 18), cv::Scalar(c[2], c[1], c[0]), cv::FILLED);
    cv::rectangle(canvas, cv::Rect(x, y, 18, 18), cv::Scalar(120, 120, 120), 1);
    cv::putText(canvas, p.class_names[static_cast<size_t>(k)], {x + 24, y + 14}, font, 0.5, ink, 1, cv::LINE_AA);
  }

  std::vector<unsigned char> png;
  if (!cv::imencode(".png", canvas, png)) throw Error(fmt::format("cannot encode the predictions grid '{}.png'", stem));
  write_bytes_atomic(stem + ".png", {{reinterpret_cast<const char*>(png.data()), png.size()}});
  const std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\">"
      "<image width=\"{0}\" height=\"{1}\" href=\"data:image/png;base64,{2}\"/></svg>\n",
      width, height, base64(png));
  write_text_atomic(stem + ".svg", svg);
}

#else

bool can_draw_images(std::string& why) {
  why = "this cwd-bench was built without OpenCV, so the predictions grid cannot be drawn; install libopencv-dev and rebuild";
  return false;
}

void draw_predictions(const Predictions&, const std::string&) { throw Error("built without OpenCV"); }

#endif

}  // namespace cwd::report
