#include "src/train/meter.h"

#include "src/core/json_keys.h"
#include "src/core/memory.h"
#include "src/core/threads.h"

#include <algorithm>
#include <chrono>

namespace cwd::train {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

void to_json(nlohmann::json& j, const TermStats& s) {
  j = {{"ms_sum", s.ms_sum}, {"ms_count", s.ms_count}, {"peak_bytes", s.peak_bytes},
       {"teacher_ms_sum", s.teacher_ms_sum}, {"teacher_count", s.teacher_count}};
}

void from_json(const nlohmann::json& j, TermStats& s) {
  key_or(j, "ms_sum", s.ms_sum, 0.0);
  key_or(j, "ms_count", s.ms_count, int64_t{0});
  key_or(j, "peak_bytes", s.peak_bytes, int64_t{0});
  key_or(j, "teacher_ms_sum", s.teacher_ms_sum, 0.0);
  key_or(j, "teacher_count", s.teacher_count, int64_t{0});
}

// The first iterations pay one-off costs (allocator growth, kernel selection): not recorded
// unless the run is too short to have anything else.
TermMeter::TermMeter(torch::Device device, int64_t iterations, TermStats resumed)
    : device_(device), warmup_(iterations > 10 ? 3 : 0), stats_(resumed) {}

bool TermMeter::begin(int64_t it) {
  const bool due = device_.is_cuda() ? it % 10 == 0 : true;
  record_ = due && it >= warmup_;
  return device_.is_cuda() ? record_ : true;
}

torch::Tensor TermMeter::time_teacher(const std::function<torch::Tensor()>& forward) {
  if (!record_) return forward();
  sync_device(device_);
  const auto t0 = Clock::now();
  auto out = forward();
  sync_device(device_);
  stats_.teacher_ms_sum += ms_since(t0);
  ++stats_.teacher_count;
  return out;
}

void TermMeter::add_teacher_ms(double ms) {
  if (!record_) return;
  stats_.teacher_ms_sum += ms;
  ++stats_.teacher_count;
}

void TermMeter::time_term(const std::function<void()>& forward_backward) {
  if (record_) sync_device(device_);
  const auto t0 = Clock::now();
  PeakMemoryScope scope(device_);
  forward_backward();
  if (!record_) return;
  sync_device(device_);
  stats_.ms_sum += ms_since(t0);
  ++stats_.ms_count;
  stats_.peak_bytes = std::max(stats_.peak_bytes, scope.peak_bytes());
}

}  // namespace cwd::train
