#pragma once
// Which BLAS library libtorch calls in this process. Debian's libtorch calls whatever
// libblas.so.3 the alternatives system selects, and a fresh Debian 12 has only the reference
// BLAS: about 30× slower than OpenBLAS at a 2048² float matrix product on a 2-core machine. Matrix
// products (mm, bmm, linear layers, PA's affinity matrices) and the convolutions libtorch does not
// hand to oneDNN run through it, so the timings cwd-bench records depend on it, and records name
// it (docs/blas.md).

#include <nlohmann/json.hpp>

#include <string>

namespace cwd {

struct BlasInfo {
  /// "openblas", "reference", "blis", "mkl", "atlas" or "unknown" for a loaded library;
  /// "mkl" with no path when MKL is linked into libtorch itself (official builds); "builtin" when
  /// no BLAS library is loaded and libtorch reports no MKL.
  std::string kind;
  /// The library's real path (symlinks and alternatives resolved); "" when none is loaded.
  std::string path;
};

/// The kind of BLAS library at `path` (ideally already resolved), from its file and folder names:
/// ".../openblas-pthread/libblas.so.3" → "openblas", ".../blas/libblas.so.3" (Debian's
/// reference BLAS) → "reference", "libmkl_rt.so" → "mkl"; "unknown" when nothing matches.
std::string blas_kind_from_path(const std::string& path);

/// The BLAS library loaded into this process, found among the loaded shared objects (computed
/// once; call it after libtorch is loaded, i.e. anywhere in cwd-bench).
const BlasInfo& loaded_blas();

/// Prints one line to stderr, once per process, when libtorch calls the reference BLAS, naming
/// the fix (apt-get install libopenblas0-pthread, or scripts/setup.sh).
void warn_if_reference_blas();

void to_json(nlohmann::json& j, const BlasInfo& blas);
void from_json(const nlohmann::json& j, BlasInfo& blas);

}  // namespace cwd
