// cwd-bench: compare knowledge-distillation losses for dense prediction.

#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/core/blas.h"
#include "src/core/memory.h"
#include "src/core/version.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  // Before any tensor exists: the distillation term's peak memory is counted through it.
  cwd::install_cpu_memory_counter();
  CLI::App app{"cwd-bench: compare distillation losses for semantic segmentation "
               "(CWD, AT, PI, LOCAL, PA, IFVD) under one teacher, student, data and budget"};
  app.set_version_flag("--version", fmt::format("cwd-bench {} ({})", cwd::version(), cwd::git_commit()));
  app.require_subcommand(1);
  const cwd::cli::CliContext context{cwd::cli::command_line(argc, argv)};
  cwd::cli::add_train(app, context);
  cwd::cli::add_eval(app, context);
  cwd::cli::add_compare(app, context);
  cwd::cli::add_unit(app);
  cwd::cli::add_sweep(app, context);
  cwd::cli::add_info(app, context);
  cwd::cli::add_losses(app);
  cwd::cli::add_bench_losses(app);
  cwd::cli::add_bench_step(app);
  cwd::cli::add_pretrain(app);
  cwd::cli::add_data(app, context);
  // After parsing (so not for --help/--version), before the command runs: the reference BLAS
  // makes training and benchmarks ~30x slower. Commands that only list or describe stay quiet, as
  // their output may be parsed.
  app.parse_complete_callback([&app] {
    for (const char* quiet : {"info", "losses", "data"}) {
      if (app.got_subcommand(quiet)) return;
    }
    cwd::warn_if_reference_blas();
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const c10::Error& e) {
    // libtorch messages can span lines; the first one names the problem.
    std::string text = e.what_without_backtrace();
    text = text.substr(0, text.find('\n'));
    std::cerr << "cwd-bench: error: " << text << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "cwd-bench: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
