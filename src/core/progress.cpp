#include "src/core/progress.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <unistd.h>

namespace cwd {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

Progress::Progress(std::string label, int64_t total, int64_t start, int64_t log_every, bool silent)
    : label_(std::move(label)),
      total_(total),
      start_(start),
      log_every_(log_every < 1 ? 1 : log_every),
      tty_(::isatty(STDERR_FILENO) == 1),
      silent_(silent),
      began_(std::chrono::steady_clock::now()),
      last_draw_(began_) {}

void Progress::update(int64_t done, double loss, double images_per_s) {
  if (silent_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - began_).count();
  const int64_t fresh = done - start_;
  const double eta = fresh > 0 ? elapsed / fresh * (total_ - done) : NAN;
  const std::string loss_text = std::isfinite(loss) ? fmt::format("{:.4f}", loss) : "-";
  if (tty_) {
    const bool last = done >= total_;
    if (!last && std::chrono::duration<double>(now - last_draw_).count() < 0.2) return;
    last_draw_ = now;
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
    fmt::print(stderr, "\r{} [{}{}] {}/{} loss {} {:.1f} img/s ETA {}   ", label_,
               std::string(filled, '#'), std::string(width - filled, '.'), done, total_, loss_text,
               images_per_s, format_duration(eta));
    bar_open_ = true;
    if (last) finish();
    std::fflush(stderr);
  } else if (done % log_every_ == 0 || done == total_) {
    fmt::print(stderr, "{} iter {}/{} loss {} {:.1f} img/s ETA {}\n", label_, done, total_,
               loss_text, images_per_s, format_duration(eta));
  }
}

void Progress::message(const std::string& text) {
  if (silent_) return;
  if (bar_open_) {
    fmt::print(stderr, "\n");
    bar_open_ = false;
  }
  fmt::print(stderr, "{} {}\n", label_, text);
}

void Progress::finish() {
  if (bar_open_) {
    fmt::print(stderr, "\n");
    bar_open_ = false;
  }
}

}  // namespace cwd
