#pragma once
// Trains one network (a teacher, a baseline student, or a distilled student), evaluates it and
// writes its run record. The run goes: plan (plan.h) → session (data, Distiller, optimizer) →
// start or resume from the checkpoint → steps → export → evaluation → record (record.h).

#include "src/train/config.h"
#include "src/train/record.h"

#include <cstdint>
#include <optional>
#include <string>

namespace cwd::train {

/// How a run was asked for.
struct RunContext {
  std::string command_line;  ///< recorded ("" when called from code)
  std::string label;         ///< progress prefix, e.g. "[3/8 cwd-logit-s0]"
};

/// Trains (resuming from the run's checkpoint when one exists), evaluates on the configured split
/// and writes the run record atomically. Returns the record; none when config.stop_after cut the
/// run short.
std::optional<RunRecord> train_run(const RunConfig& config, const RunContext& context = {});

/// Seed of the per-iteration RNG (dropout): a pure function of (seed, iteration), so a resumed
/// run draws exactly what an uninterrupted one would. The trainer calls torch::manual_seed with it
/// before every step; scripts/twin/twin.py does the same.
uint64_t iteration_seed(uint64_t seed, int64_t iteration);

}  // namespace cwd::train
