// Writes any dataset's scenes as a folder dataset (the layout `--data folder` reads), so that
// other tools, such as scripts/twin/twin.py, train on exactly the same images and labels.

#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/data/dataset.h"
#include "src/data/image_io.h"

#include <fmt/format.h>

#include <filesystem>
#include <unistd.h>

namespace cwd::data {

namespace fs = std::filesystem;

namespace {

/// A uint8 H×W×3 RGB image or H×W label map as PNG.
void write_png(const torch::Tensor& pixels, const fs::path& path) {
  const torch::Tensor t = pixels.contiguous();
  const int rows = static_cast<int>(t.size(0)), cols = static_cast<int>(t.size(1));
  const int channels = t.dim() == 3 ? static_cast<int>(t.size(2)) : 1;
  if (!detail::write_png(t.data_ptr<uint8_t>(), rows, cols, channels, path.string())) {
    throw Error(fmt::format("data export: cannot write '{}'; check free space and permissions",
                            path.string()));
  }
}

}  // namespace

nlohmann::json export_folder(const std::vector<ExportSplit>& splits, const std::string& out_dir) {
  if (splits.empty()) throw Error("data export: no split to export");
  const fs::path out(out_dir);
  std::error_code ec;
  if (fs::exists(out, ec) && !(fs::is_directory(out, ec) && fs::is_empty(out, ec))) {
    throw Error(fmt::format("data export: '{}' already exists; choose a new --out or remove it", out_dir));
  }
  detail::require_opencv("data export");
  // Everything is written into a sibling temporary folder, renamed into place at the end: an
  // interrupted export leaves no half-written dataset behind.
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  const fs::path tmp = parent / fmt::format(".{}.tmp.{}", out.filename().string(), ::getpid());
  fs::remove_all(tmp, ec);
  nlohmann::json meta = {{"schema", "cwd-bench/folder-dataset/1"}, {"splits", nlohmann::json::object()}};
  try {
    const SegDataset* first = splits.front().dataset.get();
    for (const auto& split : splits) {
      const SegDataset& d = *split.dataset;
      if (d.class_names() != first->class_names() || d.ignore_index() != first->ignore_index()) {
        throw Error("data export: the splits disagree on classes or ignore index");
      }
      const fs::path image_dir = tmp / "images" / split.name, label_dir = tmp / "labels" / split.name;
      fs::create_directories(image_dir);
      fs::create_directories(label_dir);
      const int64_t n = d.size();
      const int digits = std::max<int>(5, static_cast<int>(std::to_string(n).size()));
      for (int64_t i = 0; i < n; ++i) {
        const RawSample s = d.get(i);
        const std::string stem = fmt::format("{:0{}d}", i, digits);
        write_png(s.image, image_dir / (stem + ".png"));
        write_png(s.label, label_dir / (stem + ".png"));
      }
      meta["splits"][split.name] = {{"size", n}, {"source", d.identity()}};
    }
    meta["num_classes"] = first->num_classes();
    meta["class_names"] = first->class_names();
    meta["ignore_index"] = first->ignore_index();
    write_json_atomic((tmp / "dataset.json").string(), meta);
    if (fs::exists(out, ec)) fs::remove(out);  // the empty folder checked above
    fs::rename(tmp, out);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw Error(fmt::format("data export: cannot write '{}' ({})", out_dir, e.code().message()));
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return meta;
}

}  // namespace cwd::data
