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

/// Accepts a number > 0; otherwise "'x' is not a number > 0".
CLI::Validator positive_number();

/// Accepts a registered loss key; otherwise "unknown loss 'x' (known: ...)".
CLI::Validator known_loss();

/// Accepts one of `values`; otherwise "unknown <what> 'x' (known: a, b, ...)".
CLI::Validator one_of(const std::vector<std::string>& values, const std::string& what);

/// Comma-separated list → items (empty items dropped).
std::vector<std::string> split_list(const std::string& text);

}  // namespace cwd::cli
