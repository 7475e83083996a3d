#include "src/train/compare.h"

#include "losses/registry.h"
#include "src/core/error.h"
#include "src/core/files.h"
#include "src/core/progress.h"
#include "src/train/checkpoint.h"
#include "src/train/jobs.h"
#include "src/train/network.h"
#include "src/train/pretrain.h"
#include "src/train/record.h"
#include "src/train/table.h"
#include "src/train/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

namespace cwd::train {

namespace fs = std::filesystem;

void check_methods(const std::vector<std::string>& methods) {
  for (const auto& m : methods) {
    if (!losses::is_known(m)) throw Error(losses::unknown_loss(m));
  }
}

std::vector<Placement> parse_placements(const std::vector<std::string>& names) {
  std::vector<Placement> out;
  for (const auto& name : names) out.push_back(parse_placement(name));
  return out;
}

std::string comparison_dir(const CompareConfig& cc) {
  return cc.out_dir.empty() ? "results/" + preset(cc.preset).name : cc.out_dir;
}

std::vector<PlannedRun> plan_comparison(const CompareConfig& cc) {
  const Preset& p = preset(cc.preset);
  const int64_t seeds = cc.seeds > 0 ? cc.seeds : p.seeds;
  const auto methods = cc.methods.empty() ? p.methods : cc.methods;
  const auto placements = cc.placements.empty() ? p.placements : cc.placements;
  check_methods(methods);
  const std::string out = comparison_dir(cc);
  const Adjust adjust_student = [&cc](RunConfig& c) {
    if (cc.adjust_all) cc.adjust_all(c);
    if (cc.adjust_student) cc.adjust_student(c);
  };
  std::vector<PlannedRun> runs;
  std::string teacher = cc.teacher;
  if (teacher.empty()) {
    runs.push_back({plan_teacher(p, cc.adjust_all, out), "teacher"});
    teacher = run_paths(runs.back().config).record;
  }
  for (int64_t s = 0; s < seeds; ++s) {
    StudentSpec spec;
    spec.seed = static_cast<uint64_t>(s);
    runs.push_back({plan_student(p, adjust_student, out, spec), "baseline"});
  }
  for (int64_t s = 0; s < seeds; ++s) {
    for (const auto placement : placements) {
      for (const auto& m : methods) {
        const StudentSpec spec{static_cast<uint64_t>(s), m, placement,
                               preset_loss_options(p, m, placement, cc.loss_options), teacher, ""};
        runs.push_back({plan_student(p, adjust_student, out, spec), "distill"});
      }
    }
  }
  return runs;
}

bool reusable(const RunPlan& plan, const std::string& label) {
  const auto& paths = plan.paths;
  if (!fs::exists(paths.record)) return false;
  try {
    const auto record = read_run_record(paths.record);
    if (record.config_hash == plan.hash) {
      if (record.diverged) {
        fmt::print(stderr, "{} {} already, reusing {} (delete it to train again)\n", label, record.diverged->text(),
                   paths.record);
      } else {
        fmt::print(stderr, "{} done already (mIoU {:.2f}), reusing {}\n", label, record.eval.miou, paths.record);
      }
      return true;
    }
    fmt::print(stderr, "{} configuration changed since {} was written; training again\n", label, paths.record);
  } catch (const Error& e) {
    fmt::print(stderr, "{} {}; training again\n", label, e.what());
  }
  if (fs::exists(paths.checkpoint) &&
      read_checkpoint_meta(paths.checkpoint).meta.value("config_hash", "") != plan.hash) {
    std::error_code ec;
    fs::remove(paths.checkpoint, ec);
  }
  return false;
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string describe(const PlannedRun& run) {
  const RunConfig& c = run.config;
  return run.kind == "distill" ? fmt::format("distilling with {} on the {} map", c.loss, to_string(c.placement))
                               : "training the " + run.kind;
}

// --jobs N divides the threads: each unit gets threads / N (at least one).
int threads_per_unit(int threads, int jobs) {
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, threads / std::max(1, jobs));
}

}  // namespace

void execute_runs(std::vector<PlannedRun> runs, const ExecOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (options.jobs < 1) throw Error(fmt::format("--jobs is {}; use 1 or more", options.jobs));
  for (auto& r : runs) {
    if (options.jobs > 1) r.config.threads = threads_per_unit(r.config.threads, options.jobs);
  }
  // Missing pretrained backbones first, once each, here: units that run in parallel would each
  // pretrain the same one.
  std::vector<RunConfig> configs;
  for (const auto& r : runs) configs.push_back(r.config);
  ensure_backbones(configs);
  // Teachers first, one at a time: the students' plans name their teacher's identity.
  const size_t total = runs.size();
  for (size_t i = 0; i < total; ++i) {
    if (runs[i].kind != "teacher") continue;
    const RunPlan plan = resolve_plan(runs[i].config);
    const std::string label = fmt::format("[{}/{} {}]", i + 1, total, plan.config.name);
    if (reusable(plan, label)) continue;
    fmt::print(stderr, "{} {} ({} elapsed)\n", label, describe(runs[i]), format_duration(seconds_since(start)));
    run_units({Unit{{{plan.config, label}}, label, std::nullopt}},
              {options.jobs, options.exe, plan.config.out_dir, options.command_line});
  }
  std::vector<CohortRun> students;
  for (size_t i = 0; i < total; ++i) {
    if (runs[i].kind == "teacher") continue;
    const RunPlan plan = resolve_plan(runs[i].config);
    const std::string label = fmt::format("[{}/{} {}]", i + 1, total, plan.config.name);
    if (reusable(plan, label)) continue;
    students.push_back({plan.config, label});
  }
  if (students.empty()) return;
  const int64_t budget = options.max_memory >= 0 ? options.max_memory
                                                 : default_memory_budget(students.front().config.device);
  std::vector<Unit> units;
  if (options.cohorts) {
    units = cohort_units(students, budget);
  } else {
    for (const auto& r : students) units.push_back(Unit{{r}, r.label, std::nullopt});
  }
  for (const auto& u : units) {
    std::vector<std::string> names;
    for (const auto& r : u.runs) names.push_back(r.config.name);
    if (u.estimated_bytes) {
      fmt::print(stderr, "{} {} (estimated peak {:.0f} MiB)\n", u.label, fmt::join(names, ", "),
                 *u.estimated_bytes / 1048576.0);
    }
  }
  fmt::print(stderr, "training {} student{} in {} unit{}, {} at a time ({} elapsed)\n", students.size(),
             students.size() == 1 ? "" : "s", units.size(), units.size() == 1 ? "" : "s",
             std::min<size_t>(options.jobs, units.size()), format_duration(seconds_since(start)));
  run_units(units, {options.jobs, options.exe, students.front().config.out_dir, options.command_line});
}

namespace {

// --teacher: the record of a trained teacher, checked before any student trains (it heads the
// table; a checkpoint has no evaluation to show there).
std::optional<RunRecord> given_teacher(const std::string& path) {
  if (path.empty()) return std::nullopt;
  if (fs::path(path).extension() != ".json") {
    throw Error(fmt::format("compare --teacher '{}': give the teacher's run record (.json), whose evaluation heads "
                            "the table (a checkpoint has none)",
                            path));
  }
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw Error(fmt::format("compare --teacher '{}' not found; give the run record of a trained teacher", path));
  }
  RunRecord record = read_run_record(path);
  if (record.role != Role::kTeacher) {
    throw Error(fmt::format("compare --teacher '{}' is the record of a student ('{}'); give a teacher's record", path,
                            record.name));
  }
  teacher_identity(path);  // its weights are there and it did not diverge
  return record;
}

}  // namespace

Table run_comparison(const CompareConfig& cc) {
  const auto given = given_teacher(cc.teacher);
  const auto runs = plan_comparison(cc);
  const std::string out = runs.front().config.out_dir;
  const FolderLock lock(out.empty() ? "." : out, cc.exec.command_line);
  remove_stale_temp_files(out);
  execute_runs(runs, cc.exec);
  auto records = read_run_records(out);
  // A teacher given with --teacher from elsewhere heads the table.
  const bool has_teacher = std::any_of(records.begin(), records.end(),
                                       [](const RunRecord& r) { return r.role == Role::kTeacher; });
  if (!has_teacher && given) records.push_back(*given);
  auto table = build_table(records);
  write_tables(table, out, cc.latex);
  fmt::print(stderr, "wrote {}/table.json, table.md, table.csv{}\n", out, cc.latex ? ", table.tex" : "");
  return table;
}

Table tables_from_records(const std::string& dir, bool latex) {
  const FolderLock lock(dir, "compare --from " + dir);
  auto table = build_table(read_run_records(dir));
  write_tables(table, dir, latex);
  return table;
}

Reproduction check_reproduction(const std::string& dir, const std::string& reference) {
  const auto runs = read_run_records(dir);
  const auto expected = read_run_records(reference);
  Reproduction r;
  for (const auto& want : expected) {
    const auto name = fs::path(want.file).filename();
    const auto got = std::find_if(runs.begin(), runs.end(),
                                  [&](const RunRecord& x) { return fs::path(x.file).filename() == name; });
    if (got == runs.end()) {
      ++r.not_run;
      continue;
    }
    ++r.compared;
    const double diff = got->eval.miou - want.eval.miou;
    r.max_abs_diff = std::max(r.max_abs_diff, std::abs(diff));
    if (got->config_hash != want.config_hash) {
      r.differences.push_back(fmt::format("{}: trained under another configuration (hash {} against {}); mIoU {:.3f} against {:.3f}",
                                          name.string(), got->config_hash, want.config_hash, got->eval.miou,
                                          want.eval.miou));
    } else if (diff != 0) {
      r.differences.push_back(fmt::format("{}: mIoU {:.6f} against {:.6f} ({:+.6f})", name.string(),
                                          got->eval.miou, want.eval.miou, diff));
    } else {
      ++r.equal;
    }
  }
  if (r.compared == 0) {
    throw Error(fmt::format("no run in '{}' has a record of the same name in '{}'; check the folders (e.g. --check-against results/<preset>)",
                            dir, reference));
  }
  const std::string not_run =
      r.not_run > 0 ? fmt::format("; {} run{} of {} not in {}", r.not_run, r.not_run == 1 ? "" : "s", reference, dir) : "";
  r.summary = r.differences.empty()
                  ? fmt::format("{} reproduces {} exactly: {} of {} runs, same configuration and the same mIoU to the last bit{}",
                                dir, reference, r.equal, r.compared, not_run)
                  : fmt::format("{} differs from {} in {} of {} runs (largest mIoU difference {:.4f}){}", dir, reference,
                                r.differences.size(), r.compared, r.max_abs_diff, not_run);
  return r;
}

}  // namespace cwd::train
