#pragma once
// Progress on stderr: a live bar on a terminal, periodic log lines otherwise.

#include <chrono>
#include <cstdint>
#include <string>

namespace cwd {

class Progress {
 public:
  /// `label` prefixes every line; `total` iterations; `log_every` is the line interval when
  /// stderr is not a terminal. `silent`: prints nothing (the other ranks of a multi-process run).
  Progress(std::string label, int64_t total, int64_t start, int64_t log_every, bool silent = false);
  /// Reports that iteration `done` (1-based count) finished; `loss` may be NaN when unknown.
  void update(int64_t done, double loss, double images_per_s);
  /// Prints a free-form message on its own line (keeps the bar intact).
  void message(const std::string& text);
  void finish();

 private:
  std::string label_;
  int64_t total_;
  int64_t start_;
  int64_t log_every_;
  bool tty_;
  bool silent_;
  bool bar_open_ = false;
  std::chrono::steady_clock::time_point began_;
  std::chrono::steady_clock::time_point last_draw_;
};

/// "1h02m", "3m07s", "12s".
std::string format_duration(double seconds);

}  // namespace cwd
