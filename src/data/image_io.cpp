// Image files and resizing (image_io.h): OpenCV where the build has it (CWD_BENCH_HAVE_OPENCV=1),
// otherwise stubs that name the fix, and the plain C++ resizers that stand in for OpenCV's.

#include "src/data/image_io.h"

#include "src/core/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#if CWD_BENCH_HAVE_OPENCV
#include <zlib.h>

#include <fstream>
#include <iterator>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace cwd::data::detail {

namespace {

Pixels<uint8_t> blank(int rows, int cols, int channels) {
  Pixels<uint8_t> out{rows, cols, channels, {}};
  out.data.resize(static_cast<size_t>(rows) * cols * channels);
  return out;
}

/// Source index of each output index for OpenCV's INTER_NEAREST_EXACT (resizeNN_bitexact): the
/// pixel whose centre is nearest, in 16-bit fixed point.
std::vector<int> nearest_sources(int size, int out_size) {
  const int64_t step = ((static_cast<int64_t>(size) << 16) + out_size / 2) / out_size;
  // OpenCV 4.6 (Debian 12) offsets by one 16-bit unit whatever the size's parity; checked against
  // cv::resize for exact halvings and quarterings, where the parity-dependent form picks the next pixel.
  const int64_t start = step / 2 - 1;
  std::vector<int> index;
  for (int i = 0; i < out_size; ++i) {
    index.push_back(static_cast<int>(std::clamp<int64_t>((step * i + start) >> 16, 0, size - 1)));
  }
  return index;
}

/// One output coordinate of a bilinear resize: the first source index and the weights of it
/// and the next, in OpenCV's 11-bit fixed point (INTER_RESIZE_COEF_BITS); edges clamp.
struct Tap {
  int index = 0;
  int w0 = 2048, w1 = 0;
};

std::vector<Tap> linear_taps(int size, int out_size) {
  const double scale = 1.0 / (static_cast<double>(out_size) / size);
  std::vector<Tap> taps(static_cast<size_t>(out_size));
  for (int i = 0; i < out_size; ++i) {
    float f = static_cast<float>((i + 0.5) * scale - 0.5);
    int s = static_cast<int>(std::floor(f));
    f -= static_cast<float>(s);
    if (s < 0) f = 0, s = 0;
    if (s >= size - 1) f = 0, s = size - 1;
    Tap& t = taps[static_cast<size_t>(i)];
    t.index = s;
    t.w0 = static_cast<int>(std::lrint((1.f - f) * 2048.f));
    t.w1 = static_cast<int>(std::lrint(f * 2048.f));
  }
  return taps;
}

}  // namespace

Pixels<uint8_t> resize_nearest_plain(const uint8_t* src, int rows, int cols, int channels,
                                     int out_rows, int out_cols) {
  Pixels<uint8_t> out = blank(out_rows, out_cols, channels);
  const size_t row_size = static_cast<size_t>(cols) * channels;
  const std::vector<int> xs = nearest_sources(cols, out_cols);
  uint8_t* dst = out.data.data();
  for (int sy : nearest_sources(rows, out_rows)) {
    const uint8_t* row = src + sy * row_size;
    for (int sx : xs) {
      dst = std::copy_n(row + static_cast<size_t>(sx) * channels, channels, dst);
    }
  }
  return out;
}

// Horizontal then vertical pass, with the integer rounding of OpenCV's vectorised INTER_LINEAR.
Pixels<uint8_t> resize_linear_plain(const uint8_t* src, int rows, int cols, int channels,
                                    int out_rows, int out_cols) {
  Pixels<uint8_t> out = blank(out_rows, out_cols, channels);
  const std::vector<Tap> ys = linear_taps(rows, out_rows), xs = linear_taps(cols, out_cols);
  const size_t width = static_cast<size_t>(out_cols) * channels;
  auto horizontal = [&](int y, std::vector<int>& line) {
    const uint8_t* row = src + static_cast<size_t>(y) * cols * channels;
    int* out_value = line.data();
    for (const Tap& t : xs) {
      const uint8_t* a = row + static_cast<size_t>(t.index) * channels;
      const uint8_t* b = t.index + 1 < cols ? a + channels : a;
      for (int c = 0; c < channels; ++c) *out_value++ = a[c] * t.w0 + b[c] * t.w1;
    }
  };
  std::vector<int> top(width), bottom(width);
  for (int y = 0; y < out_rows; ++y) {
    const Tap& t = ys[static_cast<size_t>(y)];
    horizontal(t.index, top);
    horizontal(std::min(t.index + 1, rows - 1), bottom);
    uint8_t* dst = out.data.data() + static_cast<size_t>(y) * width;
    for (size_t i = 0; i < width; ++i) {
      const int v = (((top[i] >> 4) * t.w0 >> 16) + ((bottom[i] >> 4) * t.w1 >> 16) + 2) >> 2;
      dst[i] = static_cast<uint8_t>(std::clamp(v, 0, 255));
    }
  }
  return out;
}

#if CWD_BENCH_HAVE_OPENCV

namespace {

std::string unreadable(const std::string& path) {
  return fmt::format("cannot read image '{}' (unreadable or truncated file)", path);
}

uint32_t read_u32_be(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// A PNG file's chunk structure, checked before libpng sees it: libpng reports a damaged file by
// printing "libpng error: ..." to stderr itself, before OpenCV returns an empty image. Every chunk
// must fit in the file with a matching CRC, up to IEND. Returns "" or what is wrong.
std::string png_problem(const std::vector<unsigned char>& bytes) {
  size_t at = 8;
  bool first = true;
  while (at + 12 <= bytes.size()) {
    const uint32_t length = read_u32_be(&bytes[at]);
    if (length > bytes.size() - at - 12) return "truncated";
    const unsigned char* type = &bytes[at + 4];
    const std::string name(reinterpret_cast<const char*>(type), 4);
    if (first && name != "IHDR") return "no IHDR chunk first";
    first = false;
    const uint32_t crc = static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), type, length + 4));
    if (crc != read_u32_be(type + 4 + length)) return fmt::format("bad checksum in chunk {}", name);
    if (name == "IEND") return "";
    at += 12 + length;
  }
  return "truncated (no IEND chunk)";
}

// The file's bytes, decoded by OpenCV with `flags`; PNG files are checked first (png_problem).
cv::Mat decode_file(const std::string& path, int flags) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(unreadable(path));
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  static const unsigned char kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= 8 && std::equal(kSignature, kSignature + 8, bytes.begin())) {
    const std::string problem = png_problem(bytes);
    if (!problem.empty()) {
      throw Error(fmt::format("cannot read image '{}' (a damaged PNG file: {}); replace the file", path, problem));
    }
  }
  if (bytes.empty()) throw Error(unreadable(path));
  return cv::imdecode(bytes, flags);
}

Pixels<uint8_t> cv_resize(const uint8_t* src, int rows, int cols, int channels, int out_rows,
                          int out_cols, int interpolation) {
  Pixels<uint8_t> out = blank(out_rows, out_cols, channels);
  const cv::Mat in(rows, cols, CV_8UC(channels), const_cast<uint8_t*>(src));
  cv::Mat dst(out_rows, out_cols, CV_8UC(channels), out.data.data());  // written in place
  cv::resize(in, dst, dst.size(), 0, 0, interpolation);
  return out;
}

}  // namespace

bool have_opencv() { return true; }

void require_opencv(const std::string& /*what*/) {}

torch::Tensor read_rgb(const std::string& path) {
  const cv::Mat bgr = decode_file(path, cv::IMREAD_COLOR);
  if (bgr.empty()) throw Error(unreadable(path));
  torch::Tensor rgb = torch::empty({bgr.rows, bgr.cols, 3}, torch::kUInt8);
  cv::Mat out(bgr.rows, bgr.cols, CV_8UC3, rgb.data_ptr<uint8_t>());
  cv::cvtColor(bgr, out, cv::COLOR_BGR2RGB);
  return rgb;
}

Pixels<uint16_t> read_label_values(const std::string& path) {
  const cv::Mat label = decode_file(path, cv::IMREAD_UNCHANGED);
  if (label.empty()) throw Error(unreadable(path));
  if (label.channels() != 1 || (label.depth() != CV_8U && label.depth() != CV_16U)) {
    throw Error(fmt::format(
        "label '{}' has {} channel(s) of depth {}, expected one 8-bit or 16-bit channel; save "
        "labels as single-channel PNGs of class ids",
        path, label.channels(), cv::depthToString(label.depth())));
  }
  Pixels<uint16_t> out{label.rows, label.cols, 1, {}};
  out.data.resize(static_cast<size_t>(label.rows) * label.cols);
  cv::Mat values(label.rows, label.cols, CV_16UC1, out.data.data());
  label.convertTo(values, CV_16U);
  return out;
}

bool write_png(const uint8_t* pixels, int rows, int cols, int channels, const std::string& path) {
  const cv::Mat in(rows, cols, channels == 3 ? CV_8UC3 : CV_8UC1, const_cast<uint8_t*>(pixels));
  cv::Mat bgr = in;
  if (channels == 3) cv::cvtColor(in, bgr, cv::COLOR_RGB2BGR);
  try {
    return cv::imwrite(path, bgr);
  } catch (const cv::Exception&) {
    return false;
  }
}

Pixels<uint8_t> resize_linear(const uint8_t* src, int rows, int cols, int channels, int out_rows,
                              int out_cols) {
  return cv_resize(src, rows, cols, channels, out_rows, out_cols, cv::INTER_LINEAR);
}

Pixels<uint8_t> resize_nearest(const uint8_t* src, int rows, int cols, int channels, int out_rows,
                               int out_cols) {
  return cv_resize(src, rows, cols, channels, out_rows, out_cols, cv::INTER_NEAREST_EXACT);
}

void sequential_image_ops() { cv::setNumThreads(0); }

#else  // no OpenCV: image files are refused, resizing is plain C++

bool have_opencv() { return false; }

void require_opencv(const std::string& what) {
  throw Error(fmt::format(
      "{}: this build of cwd-bench has no OpenCV to read or write image files (fashion-scenes "
      "needs none); install libopencv-dev and rebuild (cmake -DCWD_BENCH_WITH_OPENCV=ON)",
      what));
}

torch::Tensor read_rgb(const std::string& path) {
  require_opencv(fmt::format("image '{}'", path));
  return {};
}

Pixels<uint16_t> read_label_values(const std::string& path) {
  require_opencv(fmt::format("label '{}'", path));
  return {};
}

bool write_png(const uint8_t*, int, int, int, const std::string& path) {
  require_opencv(fmt::format("image '{}'", path));
  return false;
}

Pixels<uint8_t> resize_linear(const uint8_t* src, int rows, int cols, int channels, int out_rows,
                              int out_cols) {
  return resize_linear_plain(src, rows, cols, channels, out_rows, out_cols);
}

Pixels<uint8_t> resize_nearest(const uint8_t* src, int rows, int cols, int channels, int out_rows,
                               int out_cols) {
  return resize_nearest_plain(src, rows, cols, channels, out_rows, out_cols);
}

void sequential_image_ops() {}

#endif

}  // namespace cwd::data::detail
