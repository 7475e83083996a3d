#pragma once
// Measuring what the distillation term costs inside a run: the teacher's forward time, the
// term's forward + backward time and the peak extra memory while it runs. Kept apart from the
// gradient path: the Distiller asks the meter whether a step is measured and hands it the pieces
// to time; an unmeasured step is a plain backward().

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>

namespace cwd::train {

/// Running sums of the measured cost; kept in the checkpoint so a resumed run reports the same
/// kind of average.
struct TermStats {
  double ms_sum = 0;
  int64_t ms_count = 0;
  int64_t peak_bytes = 0;
  double teacher_ms_sum = 0;
  int64_t teacher_count = 0;
  double ms_per_iter() const { return ms_count > 0 ? ms_sum / ms_count : 0.0; }
};
void to_json(nlohmann::json& j, const TermStats& stats);
/// Missing keys (a checkpoint of a run without distillation) read as 0.
void from_json(const nlohmann::json& j, TermStats& stats);

class TermMeter {
 public:
  /// `iterations`: the run's length (short runs measure from the first step).
  TermMeter(torch::Device device, int64_t iterations, TermStats resumed = {});

  /// Begins iteration `it` and says whether its step goes through the meter. On the CPU every
  /// step does (so every step of a run computes the same way) and those after the warm-up are
  /// recorded; on CUDA every 10th step after the warm-up is measured (each costs device syncs),
  /// the others are plain.
  bool begin(int64_t it);

  /// Whether the step begun last is recorded.
  bool recording() const { return record_; }

  /// Runs the teacher's forward, timing it when the step is recorded.
  torch::Tensor time_teacher(const std::function<torch::Tensor()>& forward);
  /// Adds a teacher pass timed elsewhere (a cohort's shared pass) when the step is recorded.
  void add_teacher_ms(double ms);

  /// Runs the term's forward + backward, timing it and counting its peak memory when recorded.
  void time_term(const std::function<void()>& forward_backward);

  const TermStats& stats() const { return stats_; }

 private:
  torch::Device device_;
  int64_t warmup_;
  bool record_ = false;
  TermStats stats_;
};

}  // namespace cwd::train
