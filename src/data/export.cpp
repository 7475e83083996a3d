// Writes any dataset's scenes as a folder dataset (the layout `--data folder` reads), so that
// other tools, such as scripts/twin/twin.py, train on exactly the same images and labels.

#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/data/dataset.h"

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <unistd.h>

namespace cwd::data {

namespace fs = std::filesystem;

namespace {

void write_png(const cv::Mat& mat, const fs::path& path) {
  bool ok = false;
  try {
    ok = cv::imwrite(path.string(), mat);
  } catch (const cv::Exception&) {
    ok = false;
  }
  if (!ok) throw Error(fmt::format("data export: cannot write '{}'; check free space and permissions", path.string()));
}

}  // namespace

nlohmann::json export_folder(const std::vector<ExportSplit>& splits, const std::string& out_dir) {
  if (splits.empty()) throw Error("data export: no split to export");
  const fs::path out(out_dir);
  std::error_code ec;
  if (fs::exists(out, ec) && !(fs::is_directory(out, ec) && fs::is_empty(out, ec))) {
    throw Error(fmt::format("data export: '{}' already exists; choose a new --out or remove it", out_dir));
  }
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
        const torch::Tensor image = s.image.contiguous();
        const torch::Tensor label = s.label.contiguous();
        const int h = static_cast<int>(image.size(0)), w = static_cast<int>(image.size(1));
        cv::Mat rgb(h, w, CV_8UC3, image.data_ptr<uint8_t>()), bgr;
        cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
        const std::string stem = fmt::format("{:0{}d}", i, digits);
        write_png(bgr, image_dir / (stem + ".png"));
        write_png(cv::Mat(h, w, CV_8UC1, label.data_ptr<uint8_t>()), label_dir / (stem + ".png"));
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
