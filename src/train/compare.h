#pragma once
// The comparison grid: one teacher, a baseline student per seed, and a distilled student per
// method × placement × seed, all under one recipe and data order; then the tables.

#include "src/train/config.h"
#include "src/train/plan.h"
#include "src/train/table.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace cwd::train {

/// How planned runs are executed (compare and sweep).
struct ExecOptions {
  std::string command_line;  ///< recorded in the records
  /// Units (the teacher, then each cohort) at once; > 1 runs them in child processes of `exe`
  /// and gives each threads / jobs threads.
  int jobs = 1;
  std::string exe;
  /// Memory budget of one cohort in bytes: -1 = default_memory_budget(device), 0 = none.
  int64_t max_memory = -1;
  /// false: every student is its own unit and runs its own teacher pass (for measuring what
  /// cohorts save; the records are the same either way).
  bool cohorts = true;
};

struct CompareConfig {
  std::string preset = "quick";
  int64_t seeds = 0;                    ///< 0 = the preset's
  std::vector<std::string> methods;     ///< empty = the preset's
  std::vector<Placement> placements;  ///< empty = the preset's
  std::string out_dir;                  ///< empty = results/<preset>
  std::string teacher;                  ///< an existing teacher record/checkpoint instead of training one
  nlohmann::json loss_options = nlohmann::json::object();  ///< applied to every method ("k=v" flags)
  bool latex = false;
  /// Applied to every run's config (teacher and students) after the preset: data, runtime, etc.
  Adjust adjust_all;
  /// Applied to student runs only, after adjust_all (schedule/model overrides).
  Adjust adjust_student;
  ExecOptions exec;
};

/// One planned run.
struct PlannedRun {
  RunConfig config;
  std::string kind;  ///< "teacher", "baseline", "distill"
};

/// Throws cwd::Error for an unknown loss key (listing the known ones).
void check_methods(const std::vector<std::string>& methods);

/// Placements named on the command line ("logit,feature"); one error for a bad one.
std::vector<Placement> parse_placements(const std::vector<std::string>& names);

/// The comparison's folder: config.out_dir, or results/<preset> when empty.
std::string comparison_dir(const CompareConfig& config);

/// The runs of a comparison in the order they execute (teacher first).
std::vector<PlannedRun> plan_comparison(const CompareConfig& config);

/// Whether the run's record (DIR/<name>.json) is there and was written under the same
/// configuration hash (then it is reused, and `label` says so on stderr). A checkpoint of another
/// configuration is removed.
bool reusable(const RunPlan& plan, const std::string& label);

/// Runs the planned runs: the teachers first, one at a time; then the students as cohorts (one
/// per data stream, i.e. per seed; split to fit the memory budget), `options.jobs` at a time. A
/// run whose record (DIR/<name>.json) has the same configuration hash is reused, not redone; an
/// unfinished run continues from its checkpoint.
void execute_runs(std::vector<PlannedRun> runs, const ExecOptions& options);

/// Runs (or reuses: a record with the same configuration hash is not redone; an unfinished run
/// continues from its checkpoint) every planned run, then writes DIR/table.{json,md,csv}.
/// Returns the table.
Table run_comparison(const CompareConfig& config);

/// Rebuilds the tables from the run records in `dir` alone.
Table tables_from_records(const std::string& dir, bool latex);

/// How the runs in one folder of records compare with a reference folder (e.g. the committed
/// results/quick): runs are matched by record file name, and a run reproduces its reference
/// when both were trained under the same configuration hash and their mIoU is the same double.
struct Reproduction {
  int64_t compared = 0;                  ///< runs in both folders
  int64_t equal = 0;                     ///< of those, same configuration and the same mIoU
  std::vector<std::string> differences;  ///< one line per run that is not equal
  int64_t not_run = 0;                   ///< reference runs with no record in the folder
  double max_abs_diff = 0;               ///< largest |mIoU difference| (percentage points)
  /// One line: "reproduces REF exactly: N of N runs ..." or "differs from REF in K of N runs ...".
  std::string summary;
};

/// Compares the run records in `dir` with those in `reference`; throws cwd::Error when either
/// folder holds no run records or none of the runs are in both.
Reproduction check_reproduction(const std::string& dir, const std::string& reference);

}  // namespace cwd::train
