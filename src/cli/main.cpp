// cwd-bench: compare knowledge-distillation losses for dense prediction.

#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/core/blas.h"
#include "src/core/error.h"
#include "src/core/interrupt.h"
#include "src/core/memory.h"
#include "src/core/version.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <exception>
#include <iostream>
#include <new>

int main(int argc, char** argv) {
  // Before any tensor exists: the distillation term's peak memory is counted through it.
  cwd::install_cpu_memory_counter();
  // Freed tensors' memory stays with the process for the next step (no page faults each time).
  cwd::keep_freed_memory();
  // SIGINT/SIGTERM: training finishes its step, checkpoints, and exits 130 (src/core/interrupt.h).
  cwd::install_interrupt_handlers();
  CLI::App app{"cwd-bench: compare distillation losses for semantic segmentation "
               "(CWD, AT, PI, LOCAL, PA, IFVD, DIST, MGD, or your own in TorchScript) under one teacher, student, data and budget"};
  app.set_version_flag("--version", fmt::format("cwd-bench {} ({})", cwd::version(), cwd::git_commit()));
  app.require_subcommand(1);
  // Bad flags: one line naming the flag and what it accepts (CLI11 adds a second, "Run with --help").
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return fmt::format("cwd-bench: error: {} (see --help)\n", e.what());
  });
  const cwd::cli::CliContext context{cwd::cli::command_line(argc, argv), std::vector<std::string>(argv, argv + argc)};
  cwd::cli::add_train(app, context);
  cwd::cli::add_eval(app, context);
  cwd::cli::add_compare(app, context);
  cwd::cli::add_unit(app);
  cwd::cli::add_run_unit(app, context);
  cwd::cli::add_sweep(app, context);
  cwd::cli::add_info(app, context);
  cwd::cli::add_losses(app);
  cwd::cli::add_bench_losses(app);
  cwd::cli::add_bench_step(app);
  cwd::cli::add_pretrain(app);
  cwd::cli::add_data(app, context);
  cwd::cli::add_report(app);
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
  } catch (const cwd::Interrupted& e) {
    std::cerr << "cwd-bench: " << e.what() << "\n";
    return 130;
  } catch (const cwd::PartialResult& e) {
    std::cerr << "cwd-bench: " << e.what() << "\n";
    return 3;
  } catch (const std::bad_alloc&) {
    std::cerr << "cwd-bench: error: out of memory; lower --batch, --crop or --eval-batch, or free memory\n";
    return 1;
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
