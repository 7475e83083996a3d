#pragma once
// One file per subcommand: each add_X() registers its subcommand, its args struct and a callback
// that calls the core library. main() is the single error boundary.

#include <CLI/CLI.hpp>

namespace cwd::cli {

void add_info(CLI::App& app);
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_losses(CLI::App& app);
void add_bench_losses(CLI::App& app);
void add_compare(CLI::App& app);

}  // namespace cwd::cli
