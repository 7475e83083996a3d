// The IDX reader: gzipped Fashion-MNIST image and label files into an ItemBank. Every check runs
// before a scene is drawn, so a damaged package fails at dataset construction, naming the file.

#include "src/data/idx.h"

#include "src/core/error.h"

#include <zlib.h>

#include <fmt/format.h>
#include <algorithm>
#include <filesystem>
#include <system_error>

namespace cwd::data::detail {
namespace {

constexpr char kInstallFix[] =
    "install the data package with 'apt-get install -y dataset-fashion-mnist' or pass "
    "--data-root DIR";
constexpr char kReinstallFix[] =
    "reinstall it with 'apt-get install --reinstall -y dataset-fashion-mnist' or pass "
    "--data-root DIR";

/// A gzip file read in full; every failure throws one line naming the file and the fix.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    if (file_ == nullptr) {
      throw Error(fmt::format("fashion-scenes: cannot open {}; {}", path, kReinstallFix));
    }
    gzbuffer(file_, 1u << 20);
  }
  ~GzFile() { gzclose(file_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  void read(uint8_t* dst, size_t bytes, const char* what) {
    size_t done = 0;
    while (done < bytes) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes - done, 1u << 30));
      const int got = gzread(file_, dst + done, chunk);
      if (got <= 0) corrupt(fmt::format("{} ends after {} of {} bytes", what, done, bytes), got);
      done += static_cast<size_t>(got);
    }
  }
  uint32_t read_u32() {
    uint8_t b[4];
    read(b, 4, "header");
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }
  /// Reads to the end so that zlib checks the gzip trailer (CRC and length).
  void expect_end() {
    uint8_t extra;
    const int got = gzread(file_, &extra, 1);
    if (got < 0) corrupt("bad gzip stream", got);
    if (got > 0) corrupt("unexpected data after the items", 0);
  }
  [[noreturn]] void corrupt(const std::string& what, int got) {
    std::string detail = what;
    if (got < 0) {
      int code = 0;
      const char* message = gzerror(file_, &code);
      if (message != nullptr && *message != '\0') detail += std::string(": ") + message;
    }
    throw Error(fmt::format("fashion-scenes: {} is truncated or corrupt ({}); {}", path_, detail,
                            kReinstallFix));
  }

 private:
  std::string path_;
  gzFile file_;
};

void require_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(fmt::format("fashion-scenes: {} not found; {}", path, kInstallFix));
  }
}

// The IDX header's magic number: 0x00000803 for ubyte images, 0x00000801 for ubyte labels.
void expect_magic(GzFile& file, uint32_t expected, const char* what) {
  const uint32_t magic = file.read_u32();
  if (magic != expected) {
    file.corrupt(fmt::format("magic number 0x{:08x}, expected 0x{:08x} for IDX ubyte {}", magic,
                             expected, what),
                 0);
  }
}

/// The images file: magic 0x00000803, count, rows, cols, then count × rows × cols bytes.
void read_images(const std::string& path, ItemBank& bank) {
  GzFile file(path);
  expect_magic(file, 0x00000803u, "images");
  const uint32_t count = file.read_u32();
  const uint32_t rows = file.read_u32();
  const uint32_t cols = file.read_u32();
  if (rows != kItemSide || cols != kItemSide || count == 0 || count > 1000000) {
    file.corrupt(
        fmt::format("header says {} images of {}x{}, expected 28x28 images", count, rows, cols), 0);
  }
  bank.count = count;
  bank.pixels.resize(static_cast<size_t>(count) * kItemPixels);
  file.read(bank.pixels.data(), bank.pixels.size(), "pixel data");
  file.expect_end();
}

/// The labels file: magic 0x00000801, count (must match the images), then count bytes 0..9.
void read_labels(const std::string& path, const std::string& images_name, ItemBank& bank) {
  GzFile file(path);
  expect_magic(file, 0x00000801u, "labels");
  const uint32_t count = file.read_u32();
  if (count != bank.count) {
    file.corrupt(fmt::format("{} labels for {} images in {}", count, bank.count, images_name), 0);
  }
  bank.labels.resize(count);
  file.read(bank.labels.data(), bank.labels.size(), "label data");
  file.expect_end();
  for (uint32_t i = 0; i < count; ++i) {
    if (bank.labels[i] > 9) {
      file.corrupt(fmt::format("label {} of item {} is not a class 0..9", bank.labels[i], i), 0);
    }
  }
}

}  // namespace

std::shared_ptr<const ItemBank> load_item_bank(const std::string& root, const std::string& prefix) {
  const std::string images_name = prefix + "-images-idx3-ubyte.gz";
  const std::string labels_name = prefix + "-labels-idx1-ubyte.gz";
  const std::string images_path = (std::filesystem::path(root) / images_name).string();
  const std::string labels_path = (std::filesystem::path(root) / labels_name).string();
  require_file(images_path);
  require_file(labels_path);
  auto bank = std::make_shared<ItemBank>();
  bank->source = prefix;
  bank->files = {images_name, labels_name};
  read_images(images_path, *bank);
  read_labels(labels_path, images_name, *bank);
  return bank;
}

}  // namespace cwd::data::detail
