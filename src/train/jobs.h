#pragma once
// Running units of work (units.h) one after another in this process, or several at once in
// child processes of the cwd-bench binary (`cwd-bench unit FILE`). Children share nothing but
// the files they write: each trains its own cohort with its own threads, so a unit's records do
// not depend on what runs beside it. A child dies with its parent (kill -9 included), so a rerun
// never races an orphan for the same checkpoints.

#include "src/train/units.h"

#include <string>
#include <vector>

namespace cwd::train {

struct JobOptions {
  int jobs = 1;              ///< units at once; 1 = in this process
  std::string exe;           ///< the cwd-bench binary (needed when jobs > 1)
  std::string dir;           ///< where unit files go (DIR/.units/)
  std::string command_line;  ///< recorded in the runs' records
};

/// Trains one unit in this process (train_cohort).
void run_unit(const Unit& unit, const std::string& command_line);

/// Runs the units, at most `jobs` at a time. When a child fails, no new unit starts; the running
/// ones finish, then one cwd::Error names the failed unit(s) (their own error is on stderr above).
void run_units(const std::vector<Unit>& units, const JobOptions& options);

/// How a child process ended, from waitpid's status: "exit status 1", "killed by signal 9".
std::string exit_text(int status);

/// A unit as a file (the runs' configurations, labels and testing flags), for `cwd-bench unit`.
void write_unit_file(const std::string& path, const Unit& unit, const std::string& command_line);
/// Reads it back; `command_line` receives the recorded command line.
Unit read_unit_file(const std::string& path, std::string& command_line);

}  // namespace cwd::train
