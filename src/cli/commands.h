#pragma once
// One file per subcommand: each add_X() registers its subcommand, its args struct and a callback
// that calls the core library. main() is the single error boundary.

#include <CLI/CLI.hpp>

#include <string>

namespace cwd::cli {

/// What main() knows that the subcommands record (owned by main, outlives parsing).
struct CliContext {
  std::string command_line;
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
void add_sweep(CLI::App& app, const CliContext& context);
void add_data(CLI::App& app, const CliContext& context);

}  // namespace cwd::cli
