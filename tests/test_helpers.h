#pragma once
// Small helpers shared by the tests: temporary folders and running the cwd-bench binary.

#include "src/core/error.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace cwd::testing {

/// A fresh folder under the system temp dir, removed when the object goes away.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    const auto base = std::filesystem::temp_directory_path();
    for (int i = 0;; ++i) {
      path_ = base / ("cwd-bench-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(i));
      if (std::filesystem::create_directories(path_)) break;
    }
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// Runs `fn`, expects a cwd::Error and returns its message ("" and a test failure if nothing
/// was thrown).
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const cwd::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a cwd::Error";
  return "";
}

#ifdef CWD_BENCH_EXE
/// What the binary printed (stdout + stderr) and its exit status.
struct CliResult {
  int code = -1;
  std::string output;
};

/// Runs the cwd-bench binary with `args`; `env` ("NAME=value ") goes before it on the shell line.
inline CliResult run_cli(const std::string& args, const std::string& env = "") {
  const std::string cmd = env + std::string(CWD_BENCH_EXE) + " " + args + " 2>&1";
  CliResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}
#endif

}  // namespace cwd::testing
