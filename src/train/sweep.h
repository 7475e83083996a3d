#pragma once
// The loss-weight sweep: every method gets the same budget (the same factors around its
// specified default weight), each student trained exactly like a comparison run (same training
// scenes, order and teacher) and judged on scenes held out from training, never on the
// validation split. The held-out scenes are extra scenes of the training split
// (indices train_size .. train_size + holdout - 1), so the training set stays the comparison's.

#include "src/train/compare.h"
#include "src/train/config.h"
#include "src/train/plan.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace cwd::train {

inline constexpr const char* kSweepSchema = "cwd-bench/sweep/1";

struct SweepConfig {
  std::string preset = "quick";
  std::vector<std::string> methods;     ///< empty = the preset's
  std::vector<Placement> placements;  ///< empty = the preset's
  std::vector<double> factors = {0.1, 1.0 / 3.0, 1.0, 3.0, 10.0};  ///< multiples of the default weight
  int64_t holdout = 300;                ///< held-out scenes judged
  std::string out_dir;                  ///< empty = results/sweep-<preset>
  /// The teacher: a record/checkpoint; empty = the comparison's teacher in results/<preset>
  /// (trained there first when missing, so that `compare` reuses it).
  std::string teacher;
  Adjust adjust_all;
  ExecOptions exec;
};

/// Runs (or reuses) the sweep's runs and writes DIR/sweep.json and DIR/sweep.md.
nlohmann::json run_sweep(const SweepConfig& config);

/// The sweep summary from the records in `dir` (schema "cwd-bench/sweep/1"): per method and
/// placement, the held-out mIoU at each weight and the chosen weight (the best; ties go to the
/// smaller distance from the default).
nlohmann::json sweep_summary(const std::string& dir);

/// Markdown rendering of a sweep summary.
std::string sweep_markdown(const nlohmann::json& summary);

/// Writes DIR/sweep.json and DIR/sweep.md (atomically) from the records in `dir`.
nlohmann::json write_sweep(const std::string& dir);

}  // namespace cwd::train
