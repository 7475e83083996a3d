// cwd-bench compare: run (or resume) a whole comparison, or rebuild its tables from records.

#include "losses/registry.h"
#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/cli/launch.h"
#include "src/core/error.h"
#include "src/report/plot.h"
#include "src/train/compare.h"
#include "src/train/grid_plan.h"
#include "src/train/jobs.h"
#include "src/train/table.h"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>

namespace cwd::cli {

namespace {

struct CompareArgs {
  std::string preset = "quick";
  int64_t seeds = 0;
  std::string methods;
  std::string on;
  std::string out;
  std::string from;
  std::string teacher;
  std::string check_against;
  std::string plan;
  std::vector<std::string> loss_opts;
  bool latex = false;
  bool no_report = false;
  int64_t iters = 0;
  std::string pretrained;
  DataArgs data;
  RuntimeArgs runtime;
  ExecArgs exec;
};

// --check-against: one line per run that differs, then the summary (stderr; the exit stays 0:
// a result computed on another CPU or library build is complete and honest, only not identical).
void report_reproduction(const std::string& dir, const std::string& reference) {
  const auto r = train::check_reproduction(dir, reference);
  for (const auto& line : r.differences) fmt::print(stderr, "  {}\n", line);
  fmt::print(stderr, "{}\n", r.summary);
}

// Diverged runs: the table is complete and lists them apart, but the exit is 3, not 0.
void report_diverged(const train::Table& table) {
  if (table.diverged.empty()) return;
  std::vector<std::string> names;
  for (const auto& d : table.diverged) names.push_back(d.record);
  throw PartialResult(fmt::format("{} run{} diverged ({}); the tables list {} apart from the statistics",
                                  names.size(), names.size() == 1 ? "" : "s", fmt::join(names, ", "),
                                  names.size() == 1 ? "it" : "them"));
}

// The report at the end of compare; a build without PLplot says so and leaves the tables as they are.
void report_after(const CompareArgs& a, const std::string& dir) {
  if (a.no_report) return;
  std::string why;
  if (!report::can_plot(why)) {
    fmt::print(stderr, "no report: {}\n", why);
    return;
  }
  make_report(dir, a.runtime.threads, a.runtime.device, 4, 4);
}

// --plan FILE: the comparison's units for a scheduler (every path absolute), no training.
void write_plan(train::CompareConfig cc, const std::string& file, const CliContext& context) {
  if (cc.exec.jobs > 1) throw Error("--plan writes units for a scheduler, which runs them at once itself: drop --jobs");
  cc.out_dir = std::filesystem::absolute(train::comparison_dir(cc)).lexically_normal().string();
  if (!cc.teacher.empty()) cc.teacher = std::filesystem::absolute(cc.teacher).lexically_normal().string();
  const auto file_dir = std::filesystem::absolute(file).lexically_normal().parent_path();
  if (file_dir == std::filesystem::path(cc.out_dir)) {
    throw Error(fmt::format("--plan {}: write the plan outside the output folder '{}', whose .json files are run "
                            "records (e.g. --plan {}.plan.json)",
                            file, cc.out_dir, cc.out_dir));
  }
  auto plan = train::make_grid_plan(train::plan_comparison(cc), cc.exec.cohorts);
  train::write_grid_plan(plan, file, cc.exec.exe, context.command_line);
  size_t runs = 0;
  for (const auto& u : plan.units) runs += u.runs.size();
  fmt::print(stderr, "wrote {}: {} unit{} ({} runs) writing into {}\n", plan.file, plan.units.size(),
             plan.units.size() == 1 ? "" : "s", runs, plan.out_dir);
  for (const auto& u : plan.units) {
    fmt::print("{}\t{}\t{} run-unit --plan {} --index {}{}\n", u.index, u.kind, plan.exe, plan.file, u.index,
               u.depends_on.empty() ? "" : fmt::format("\t(after unit {})", fmt::join(u.depends_on, ",")));
  }
  fmt::print(stderr, "then: {} compare --from {}   (scripts/slurm/submit.sh --plan {} does all of it on Slurm)\n",
             plan.exe, plan.out_dir, plan.file);
}

void run_compare(const CompareArgs& a, const CliContext& context) {
  if (!a.from.empty()) {
    const auto table = train::tables_from_records(a.from, a.latex);
    fmt::print(stderr, "rebuilt {}/table.json, table.md, table.csv from {} run records\n", a.from,
               table.protocol.records.size());
    std::cout << train::table_markdown(table);
    report_after(a, a.from);
    if (!a.check_against.empty()) report_reproduction(a.from, a.check_against);
    report_diverged(table);
    return;
  }
  train::CompareConfig cc;
  cc.preset = a.preset;
  cc.seeds = a.seeds;
  cc.methods = split_list(a.methods);
  cc.placements = train::parse_placements(split_list(a.on));
  cc.out_dir = a.out;
  cc.teacher = a.teacher;
  cc.latex = a.latex;
  cc.exec = exec_options(a.exec, context.command_line);
  for (const auto& kv : a.loss_opts) train::parse_loss_option(kv, cc.loss_options);
  const DataArgs data = a.data;
  const RuntimeArgs runtime = a.runtime;
  NetArgs net;
  net.pretrained = a.pretrained;
  cc.adjust_all = [data, runtime, net](train::RunConfig& c) {
    apply(data, c.data);
    apply(runtime, c);
    apply(net, c.net);
  };
  const int64_t iters = a.iters;
  cc.adjust_student = [iters](train::RunConfig& c) {
    if (iters > 0) c.schedule.iterations = iters;
  };
  if (!a.plan.empty()) {
    write_plan(cc, a.plan, context);
    return;
  }
  const auto table = train::run_comparison(cc);
  std::cout << train::table_markdown(table);
  report_after(a, train::comparison_dir(cc));
  if (!a.check_against.empty()) report_reproduction(train::comparison_dir(cc), a.check_against);
  report_diverged(table);
}

}  // namespace

void add_compare(CLI::App& app, const CliContext& context) {
  auto args = std::make_shared<CompareArgs>();
  auto* sub = app.add_subcommand("compare", "run (or resume) a whole comparison and write its tables, or rebuild them with --from");
  sub->add_option("--preset", args->preset, "comparison preset")
      ->check(one_of(train::preset_names(), "preset"))->capture_default_str();
  sub->add_option("--seeds", args->seeds, "seeds per row (default: the preset's)")->check(count_in(1, 1000));
  sub->add_option("--methods", args->methods,
                  fmt::format("comma-separated losses (default: the preset's; known: {})", fmt::join(losses::known_keys(), ", ")));
  sub->add_option("--on", args->on, "comma-separated placements: logit, feature (default: the preset's)");
  sub->add_option("--out", args->out, "output folder (default results/<preset>)");
  sub->add_option("--pretrained", args->pretrained,
                  "start teacher and student backbones from the ones pretrained with this recipe "
                  "(fashion-items; cached, pretrained first when missing), or none (default: the preset's)");
  sub->add_option("--from", args->from, "rebuild the tables from the run records in this folder; no training")
      ->check(CLI::ExistingDirectory);
  sub->add_option("--teacher", args->teacher, "use this trained teacher (its run record .json, which heads the table) instead of training one");
  sub->add_option("--check-against", args->check_against,
                  "afterwards, compare every run's mIoU with the record of the same name in this folder "
                  "(e.g. the committed results/quick) and say whether it reproduces them exactly")
      ->check(CLI::ExistingDirectory);
  sub->add_option("--loss-opt", args->loss_opts, "option key=value applied to every method (repeatable)");
  sub->add_option("--student-iters", args->iters, "override the students' iterations")->check(count_in(1, kMaxCount));
  sub->add_option("--plan", args->plan,
                  "write the comparison's units (teacher first, then one per cohort, or per run with --no-cohorts) "
                  "to this JSON file for a scheduler, without training; run each with `run-unit`")
      ->excludes("--from");
  sub->add_flag("--latex", args->latex, "also write table.tex");
  sub->add_flag("--no-report", args->no_report, "skip the figures and DIR/report/index.html (cwd-bench report DIR draws them later)");
  add_data_options(sub, args->data);
  add_runtime_options(sub, args->runtime);
  add_exec_options(sub, args->exec);
  sub->callback([args, &context]() { run_compare(*args, context); });
}

void add_unit(CLI::App& app) {
  auto file = std::make_shared<std::string>();
  auto* sub = app.add_subcommand("unit", "train one unit of a comparison (started by compare/sweep --jobs N)");
  sub->group("");  // internal: not listed in --help
  sub->add_option("file", *file, "unit file written by compare --jobs")->required()->check(CLI::ExistingFile);
  sub->callback([file]() {
    std::string command_line;
    const auto unit = train::read_unit_file(*file, command_line);
    train::run_unit(unit, command_line);
  });
}

}  // namespace cwd::cli

namespace cwd::cli {

void add_run_unit(CLI::App& app, const CliContext& context) {
  struct Args {
    std::string plan;
    int index = -1;
    double wait = 0;
    int threads = -1;
    std::string device;
    int nproc = 1;
    bool sync_bn = false;
  };
  auto args = std::make_shared<Args>();
  auto* sub = app.add_subcommand("run-unit", "run one unit of a plan written by `compare --plan` (a scheduler's job)");
  sub->add_option("--plan", args->plan, "plan file written by compare --plan")->required();
  sub->add_option("--index", args->index, "which unit (0 = the teacher when the plan trains one)")
      ->required()->check(count_in(0, 1000000));
  sub->add_option("--wait", args->wait, "wait up to this many seconds for the units this one depends on (default: fail at once)")
      ->check(CLI::Range(0.0, 1e7));
  sub->add_option("--threads", args->threads, "CPU threads (default: the plan's)")->check(count_in(0, 1024));
  sub->add_option("--device", args->device, "device (default: the plan's)")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  sub->add_option("--nproc", args->nproc, "spread the unit over N processes on this machine (as train --nproc)")
      ->check(count_in(1, 1024));
  sub->add_flag("--sync-bn", args->sync_bn, "with several processes: BatchNorm statistics over the whole batch");
  sub->callback([args, &context, sub]() {
    const auto plan = train::read_grid_plan(args->plan);
    if (args->nproc > 1) {
      run_local_processes(args->nproc, context, sub->count("--threads") > 0);
      return;
    }
    train::UnitOptions options;
    options.wait_s = args->wait;
    options.threads = args->threads;
    options.sync_bn = args->sync_bn;
    options.command_line = context.command_line;
    // The device the processes meet on: --device, else the plan's.
    std::string device = args->device;
    if (device.empty()) {
      device = plan.units.empty() || plan.units.front().runs.empty() ? "auto" : plan.units.front().runs.front().device;
    }
    options.group = join_from_env(device);
    if (!args->device.empty() || options.group) options.device = device;
    train::run_grid_unit(plan, args->index, options);
  });
}

}  // namespace cwd::cli
