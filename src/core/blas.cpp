#include "src/core/blas.h"

#include "src/core/json_keys.h"

#include <ATen/Context.h>
#include <link.h>

#include <filesystem>
#include <iostream>
#include <mutex>
#include <vector>

namespace cwd {

namespace {

namespace fs = std::filesystem;

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

/// The kind a file or folder name names by itself, or "".
std::string kind_of_name(const std::string& name) {
  if (contains(name, "openblas")) return "openblas";
  if (starts_with(name, "libmkl") || name == "mkl") return "mkl";
  if (contains(name, "blis")) return "blis";
  if (contains(name, "atlas")) return "atlas";
  return "";
}

/// Whether a loaded object's file name is a BLAS library: the generic libblas.so.3 that Debian's
/// libtorch links, or an implementation loaded directly (pip wheels bundle libopenblas on ARM).
bool is_blas_library(const std::string& file) {
  return contains(file, "libblas.so") || starts_with(file, "libopenblas") ||
         starts_with(file, "libmkl_") || starts_with(file, "libblis") ||
         starts_with(file, "libsatlas") || starts_with(file, "libtatlas");
}

/// Paths of the loaded BLAS libraries, in load order (the order symbol lookup follows).
std::vector<std::string> loaded_blas_paths() {
  std::vector<std::string> paths;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        const std::string path = info->dlpi_name ? info->dlpi_name : "";
        if (!path.empty() && is_blas_library(fs::path(path).filename().string())) {
          static_cast<std::vector<std::string>*>(out)->push_back(path);
        }
        return 0;
      },
      &paths);
  return paths;
}

std::string real_path(const std::string& path) {
  std::error_code ec;
  const fs::path resolved = fs::canonical(path, ec);
  return ec ? path : resolved.string();
}

BlasInfo detect_blas() {
  const std::vector<std::string> paths = loaded_blas_paths();
  if (paths.empty()) {
    // Official libtorch builds link MKL statically; other builds may carry no BLAS at all.
    return {at::hasMKL() ? "mkl" : "builtin", ""};
  }
  // libtorch calls the generic libblas.so when it is loaded; an implementation library beside it
  // is usually the one libblas.so itself depends on.
  std::string chosen = paths.front();
  for (const std::string& p : paths) {
    if (contains(fs::path(p).filename().string(), "libblas.so")) {
      chosen = p;
      break;
    }
  }
  const std::string resolved = real_path(chosen);
  return {blas_kind_from_path(resolved), resolved};
}

}  // namespace

std::string blas_kind_from_path(const std::string& path) {
  const fs::path p(path);
  const std::string kind = kind_of_name(p.filename().string());
  if (!kind.empty()) return kind;
  // A generic libblas.so: its folder says which implementation it is. Debian installs each one in
  // its own folder (blas/ is the reference BLAS, openblas-pthread/, blis-openmp/, atlas/, ...)
  // and points libblas.so.3 at one of them through update-alternatives.
  const std::string folder = p.parent_path().filename().string();
  const std::string from_folder = kind_of_name(folder);
  if (!from_folder.empty()) return from_folder;
  return folder == "blas" ? "reference" : "unknown";
}

const BlasInfo& loaded_blas() {
  static const BlasInfo blas = detect_blas();
  return blas;
}

void warn_if_reference_blas() {
  static std::once_flag once;
  std::call_once(once, [] {
    const BlasInfo& blas = loaded_blas();
    if (blas.kind != "reference") return;
    std::cerr << "cwd-bench: warning: libtorch is using the reference BLAS (" << blas.path
              << "), about 30x slower than OpenBLAS; install OpenBLAS: apt-get install "
                 "libopenblas0-pthread (or run scripts/setup.sh)\n";
  });
}

void to_json(nlohmann::json& j, const BlasInfo& blas) {
  j = {{"kind", blas.kind}, {"path", blas.path}};
}

void from_json(const nlohmann::json& j, BlasInfo& blas) {
  key(j, "kind", blas.kind);
  key(j, "path", blas.path);
}

}  // namespace cwd
