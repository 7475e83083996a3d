#pragma once
// Private to src/data: every use of OpenCV, behind plain types. OpenCV is optional
// (CMake option CWD_BENCH_WITH_OPENCV): a build without it reads no image files, so the folder and
// cityscapes datasets, `data preview` and `data export` stop with one cwd::Error naming the fix,
// while fashion-scenes (generated, zlib only) trains as usual. Resizing for augmentation then
// uses the plain C++ resizers below, which match OpenCV's nearest-exact labels and its bilinear
// images to within 1 grey level (tested against OpenCV in a build that has it).
//
// Pixels stay outside libtorch's allocator on purpose: the loader threads' temporaries must not
// count toward the training step's measured peak memory (src/core/memory.h).

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cwd::data::detail {

/// Row-major pixels, `channels` values per pixel.
template <typename T>
struct Pixels {
  int rows = 0;
  int cols = 0;
  int channels = 1;
  std::vector<T> data;
};

/// Whether this build reads and writes image files (it was built with OpenCV).
bool have_opencv();

/// In a build without OpenCV, throws "`what` needs OpenCV, ...; install libopencv-dev and rebuild";
/// otherwise does nothing.
void require_opencv(const std::string& what);

/// An image file as uint8 H×W×3 RGB. Throws cwd::Error naming the file when it cannot be decoded.
torch::Tensor read_rgb(const std::string& path);

/// A label file's values: one 8- or 16-bit channel, else a cwd::Error naming the file.
Pixels<uint16_t> read_label_values(const std::string& path);

/// Writes `rows`×`cols` uint8 pixels, 3 channels (RGB) or 1 (grey), in the format the name
/// ends with (.png); false on failure.
bool write_png(const uint8_t* pixels, int rows, int cols, int channels, const std::string& path);

/// Bilinear resize (pixel centres aligned, as OpenCV's INTER_LINEAR) of uint8 pixels.
Pixels<uint8_t> resize_linear(const uint8_t* src, int rows, int cols, int channels, int out_rows,
                              int out_cols);
/// Nearest-neighbour resize of pixel centres (OpenCV's INTER_NEAREST_EXACT), for label maps.
Pixels<uint8_t> resize_nearest(const uint8_t* src, int rows, int cols, int channels, int out_rows,
                               int out_cols);

/// The plain C++ resizers that stand in for OpenCV's in a build without it.
Pixels<uint8_t> resize_linear_plain(const uint8_t* src, int rows, int cols, int channels,
                                    int out_rows, int out_cols);
Pixels<uint8_t> resize_nearest_plain(const uint8_t* src, int rows, int cols, int channels,
                                     int out_rows, int out_cols);

/// Stops OpenCV from starting its own threads: each loader thread resizes sequentially.
void sequential_image_ops();

}  // namespace cwd::data::detail
