#pragma once
// Trains networks (a teacher, a baseline student, distilled students), evaluates them and
// writes their run records. Runs that read the same data stream train as one cohort, in
// lockstep: each iteration draws one batch and runs each teacher once, then every member takes
// its own step exactly as it would alone. A run goes: plan (plan.h) → member (Distiller,
// optimizer) → start or resume from its checkpoint → steps → export → evaluation → record
// (record.h). A plain `train` is a cohort of one.

#include "src/train/config.h"
#include "src/train/record.h"

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace cwd::train {

class ProcessGroup;  // src/train/distributed.h

/// How a run was asked for.
struct RunContext {
  std::string command_line;  ///< recorded ("" when called from code)
  std::string label;         ///< progress prefix, e.g. "[3/8 cwd-logit-s0]"
  /// The processes this run is spread over (null: this process alone). Every rank trains on its
  /// share of each batch; rank 0 alone writes checkpoints, weights and the record.
  std::shared_ptr<ProcessGroup> group;
};

/// Trains (resuming from the run's checkpoint when one exists), evaluates on the configured split
/// and writes the run record atomically. Returns the record; none when config.stop_after cut the
/// run short.
std::optional<RunRecord> train_run(const RunConfig& config, const RunContext& context = {});

/// One member of a cohort.
struct CohortRun {
  RunConfig config;
  std::string label;  ///< "" = "[<name>]"
};

/// What a cohort shares and how it is run.
struct CohortContext {
  std::string command_line;
  std::string label;  ///< progress prefix of the cohort
  std::optional<int64_t> estimated_bytes;  ///< recorded beside the measured peak
  std::shared_ptr<ProcessGroup> group;     ///< as RunContext::group
};

/// Trains runs that share a data stream (equal cohort_key) in lockstep: one batch and one pass
/// of each teacher per iteration, then each member's own step (its network, optimizer, adapter,
/// and the per-iteration RNG reseeded for it as in a separate run). On the CPU every member's
/// record equals that of a separate train_run bit for bit, timings aside. Members resume from
/// their own checkpoints, each from where it stopped. Returns one record per member, in order
/// (none for all when stop_after cut the cohort short, and none on ranks other than 0 of a
/// group). Throws cwd::Error for runs that cannot share a cohort.
std::vector<std::optional<RunRecord>> train_cohort(const std::vector<CohortRun>& runs,
                                                   const CohortContext& context = {});

/// What runs must agree on to train in one cohort: data, augmentation, batch, iterations, seed,
/// device, threads and data workers.
std::string cohort_key(const RunConfig& config);

/// Seed of the per-iteration RNG (dropout): a pure function of (seed, iteration), so a resumed
/// run draws exactly what an uninterrupted one would. The trainer calls torch::manual_seed with it
/// before every step; scripts/twin/twin.py does the same.
uint64_t iteration_seed(uint64_t seed, int64_t iteration);

/// The poly learning rate at iteration `it` of `iterations`: lr · (1 − it / iterations)^power. The
/// trainer, the step benchmark and backbone pretraining all use it.
double poly_lr(double lr, double power, int64_t it, int64_t iterations);

/// Sets the learning rate of every parameter group.
void set_lr(torch::optim::SGD& optimizer, double lr);

}  // namespace cwd::train
