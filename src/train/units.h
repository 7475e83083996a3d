#pragma once
// Turning a comparison's runs into units of work: the teacher alone, then one cohort per data
// stream (all students of one seed), split into smaller cohorts when its estimated memory would
// exceed the budget. A unit runs in this process or in a child process (jobs.h).

#include "src/train/config.h"
#include "src/train/trainer.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cwd::train {

/// Runs trained together (one cohort).
struct Unit {
  std::vector<CohortRun> runs;
  std::string label;                      ///< e.g. "[cohort s0: 7 runs]"
  std::optional<int64_t> estimated_bytes;  ///< peak memory estimate (cohorts only)
};

/// What a cohort of runs is expected to hold at its peak, in bytes:
///   Σ members 3 × trainable bytes (weights, gradients, momentum)
/// + Σ teachers weight bytes + the teachers' outputs for one batch
/// + the larger of one student step's activations and one teacher pass's, measured by running
///   one step of a fresh student (and one teacher pass) on a zero batch of the training shape.
/// The distillation terms' own memory is not included (it is measured per run, loss.peak_bytes).
struct MemoryEstimate {
  int64_t shared = 0;                ///< teachers, their outputs, one step's activations
  std::vector<int64_t> per_member;  ///< 3 × trainable bytes of each member
  int64_t total() const;
};
MemoryEstimate estimate_cohort_memory(const std::vector<RunConfig>& members);

/// Splits members (in order) into consecutive groups whose estimate fits `budget` bytes; one
/// group when budget is 0. Throws cwd::Error when one member alone does not fit.
std::vector<std::vector<size_t>> split_by_memory(const MemoryEstimate& estimate, int64_t budget);

/// "8G", "512M", "1.5G", "4096" (bytes) → bytes; throws cwd::Error naming --max-memory.
int64_t parse_memory_size(const std::string& text);

/// The default --max-memory for a device: three quarters of the host's RAM for "cpu" (and "auto"
/// on a machine without CUDA), 0 (no budget) otherwise.
int64_t default_memory_budget(const std::string& device);

/// Groups resolved student runs (in order) into cohorts by cohort_key and splits each to fit
/// `budget` (0 = no budget). Labels: "[cohort s<seed>: N runs]" (", part k/n" when split).
std::vector<Unit> cohort_units(const std::vector<CohortRun>& runs, int64_t budget);

}  // namespace cwd::train
