#pragma once
// A comparison as units of work for a scheduler: `compare --plan FILE` writes the units (the
// teacher first, then one unit per cohort or per run, each with its exact command, the units it
// depends on and the records it will write) without training; `run-unit --plan FILE --index I`
// runs one of them, wherever the scheduler puts it. Units share nothing but the output folder (a
// shared file system on a cluster): records are written atomically, the units of one plan hold
// the folder's lock together (shared), and the folder's marker DIR/.cwd-bench.plan names the one
// plan whose units may write there, so a unit of another configuration is refused.
// `compare --from DIR` then assembles the tables as after a local comparison.

#include "src/train/compare.h"
#include "src/train/config.h"

#include <memory>
#include <string>
#include <vector>

namespace cwd::train {

class ProcessGroup;

struct GridUnit {
  int index = 0;
  std::string kind;                  ///< "teacher", "cohort" (students of one seed) or "run"
  std::string label;                 ///< e.g. "[unit 2/4: cohort s1, 13 runs]"
  std::vector<int> depends_on;       ///< units whose records must exist first (the teacher's)
  std::vector<RunConfig> runs;       ///< as planned; a student names its teacher's record
  std::vector<std::string> records;  ///< where each run's record will be
};

struct GridPlan {
  std::string file;     ///< the plan file
  std::string out_dir;  ///< absolute: every unit writes there
  std::string hash;     ///< of the units' runs; the folder's marker holds it
  std::string exe;      ///< the cwd-bench binary that wrote the plan
  std::string command_line;
  std::vector<GridUnit> units;
};

/// The folder's marker: which plan's units may write into DIR.
std::string plan_marker_path(const std::string& out_dir);

/// Groups a comparison's runs (plan_comparison, with an absolute out_dir) into units: the
/// teacher alone as unit 0 when it is planned (every other unit depends on it), then one unit per
/// cohort (`cohorts`: all students of one seed, trained in lockstep) or one per run.
GridPlan make_grid_plan(const std::vector<PlannedRun>& runs, bool cohorts);

/// Writes the plan to `file` (JSON, atomically) and the marker into its folder, holding the
/// folder's exclusive lock meanwhile (so not while units of any plan are running there).
void write_grid_plan(GridPlan& plan, const std::string& file, const std::string& exe,
                     const std::string& command_line);

/// Reads a plan file; one cwd::Error naming the file and how to make it.
GridPlan read_grid_plan(const std::string& file);

struct UnitOptions {
  /// How long to wait for the records of the units this one depends on (0: fail at once).
  double wait_s = 0;
  int threads = -1;    ///< overrides the plan's threads (-1: keep)
  std::string device;  ///< overrides the plan's device ("": keep)
  bool sync_bn = false;  ///< several processes: BatchNorm statistics over all of them
  std::string command_line;
  std::shared_ptr<ProcessGroup> group;  ///< the processes of a multi-process unit (null: one)
};

/// Runs unit `index` of the plan: waits for (or fails clearly without) the records it depends on,
/// reuses runs whose record is current, resumes from checkpoints, trains the rest together.
void run_grid_unit(const GridPlan& plan, int index, const UnitOptions& options);

}  // namespace cwd::train
