#pragma once
// One file per subcommand: each add_X() registers its subcommand, its args struct and a callback
// that calls the core library. main() is the single error boundary.

#include <CLI/CLI.hpp>

#include <cstdint>

#include <string>
#include <vector>

namespace cwd::cli {

/// What main() knows that the subcommands record (owned by main, outlives parsing).
struct CliContext {
  std::string command_line;
  std::vector<std::string> argv;  ///< as given (`--nproc` restarts the command from it)
};

void add_info(CLI::App& app, const CliContext& context);
void add_train(CLI::App& app, const CliContext& context);
void add_eval(CLI::App& app, const CliContext& context);
void add_losses(CLI::App& app);
void add_bench_losses(CLI::App& app);
void add_bench_step(CLI::App& app);
void add_pretrain(CLI::App& app);
void add_compare(CLI::App& app, const CliContext& context);
void add_unit(CLI::App& app);
void add_run_unit(CLI::App& app, const CliContext& context);
void add_sweep(CLI::App& app, const CliContext& context);
void add_data(CLI::App& app, const CliContext& context);
void add_report(CLI::App& app);

/// `report` as compare calls it at the end: progress and notes on stderr.
void make_report(const std::string& dir, int threads, const std::string& device, int64_t images,
                                  int64_t channels);

}  // namespace cwd::cli
