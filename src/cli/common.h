#pragma once
// Flags shared by train, eval and compare: data, model, schedule, runtime. Each flag overrides
// one field of the preset; unset flags leave the preset's value.

#include "src/train/compare.h"
#include "src/train/config.h"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace cwd::cli {

struct DataArgs {
  std::string name, root, canvas, class_names, train_list, val_list;
  int64_t train_size = 0, val_size = 0, holdout = -1, limit = -1, num_classes = 0, ignore_index = -1;
  int64_t data_seed = -1;
};

struct ScheduleArgs {
  int64_t iters = 0, batch = 0, checkpoint_every = 0, log_every = 0, eval_batch = 0;
  double lr = 0;
  std::string crop, scale;
  bool no_flip = false;
};

struct NetArgs {
  int64_t depth = 0, output_stride = 0;
  double width = 0;
  std::string stem, backbone_weights, init, init_weights, pretrained;
};

struct RuntimeArgs {
  int threads = 0;
  std::string device = "auto";
  int workers = 2;
};

/// How compare and sweep execute their runs.
struct ExecArgs {
  int jobs = 1;
  std::string max_memory;  ///< "" = the default budget
  bool no_cohorts = false;
};

void add_data_options(CLI::App* app, DataArgs& args);
void add_exec_options(CLI::App* app, ExecArgs& args);
void add_schedule_options(CLI::App* app, ScheduleArgs& args);
void add_net_options(CLI::App* app, NetArgs& args);
void add_runtime_options(CLI::App* app, RuntimeArgs& args);

void apply(const DataArgs& args, data::DataConfig& data);
void apply(const ScheduleArgs& args, train::RunConfig& config);
void apply(const NetArgs& args, train::NetConfig& net);
void apply(const RuntimeArgs& args, train::RunConfig& config);

/// --jobs/--max-memory and the running binary (for child units) as ExecOptions.
train::ExecOptions exec_options(const ExecArgs& args, const std::string& command_line);

/// The command line as one string (for run records).
std::string command_line(int argc, const char* const* argv);

/// Largest count a flag takes (iterations, batch, sizes): beyond it is a typo, not a plan.
inline constexpr int64_t kMaxCount = 1000000000;
/// Largest seed: 2^53 - 1, which every JSON reader (Python's included) holds exactly.
inline constexpr int64_t kMaxSeed = 9007199254740991;

/// Accepts a whole number in [lo, hi] written as digits; otherwise (a fraction, nan, a number
/// too large for any integer type) "'x' is not valid: use an integer from lo to hi".
CLI::Validator count_in(int64_t lo, int64_t hi);

/// Accepts a finite number in [lo, hi] ((lo, hi] when lo_open); otherwise (nan, inf included)
/// "'x' is not valid: use a number > lo and <= hi". hi = infinity: no upper bound.
CLI::Validator real_in(double lo, double hi, bool lo_open);

/// A finite number > 0 (real_in(0, inf, true)).
CLI::Validator positive_number();

/// Accepts a registered loss key; otherwise "unknown loss 'x' (known: ...)".
CLI::Validator known_loss();

/// Accepts one of `values`; otherwise "unknown <what> 'x' (known: a, b, ...)".
CLI::Validator one_of(const std::vector<std::string>& values, const std::string& what);

/// Comma-separated list → items (empty items dropped).
std::vector<std::string> split_list(const std::string& text);

}  // namespace cwd::cli
