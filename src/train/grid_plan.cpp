#include "src/train/grid_plan.h"

#include "src/core/error.h"
#include "src/core/files.h"
#include "src/core/json_io.h"
#include "src/core/json_keys.h"
#include "src/train/distributed.h"
#include "src/train/plan.h"
#include "src/train/pretrain.h"
#include "src/train/trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

namespace cwd::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSchema = "cwd-bench/plan/1";

std::string units_hash(const std::vector<GridUnit>& units) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& u : units) {
    for (const auto& r : u.runs) runs.push_back(r);
  }
  return stable_hash(runs.dump());
}

std::string unit_command(const GridPlan& plan, int index) {
  return fmt::format("{} run-unit --plan {} --index {}", plan.exe, plan.file, index);
}

}  // namespace

std::string plan_marker_path(const std::string& out_dir) { return (fs::path(out_dir) / ".cwd-bench.plan").string(); }

GridPlan make_grid_plan(const std::vector<PlannedRun>& runs, bool cohorts) {
  GridPlan plan;
  if (runs.empty()) throw Error("the comparison plans no runs");
  plan.out_dir = runs.front().config.out_dir;
  std::vector<int> after_teacher;
  std::map<std::string, size_t> by_stream;  // cohort key → unit
  for (const auto& r : runs) {
    if (r.kind == "teacher") {
      plan.units.push_back({0, "teacher", "", {}, {r.config}, {}});
      after_teacher = {0};
      continue;
    }
    const std::string key = cohort_key(r.config);
    auto it = cohorts ? by_stream.find(key) : by_stream.end();
    if (it == by_stream.end()) {
      plan.units.push_back({0, cohorts ? "cohort" : "run", "", after_teacher, {}, {}});
      it = by_stream.insert_or_assign(cohorts ? key : r.config.name, plan.units.size() - 1).first;
    }
    plan.units[it->second].runs.push_back(r.config);
  }
  const size_t n = plan.units.size();
  for (size_t i = 0; i < n; ++i) {
    GridUnit& u = plan.units[i];
    u.index = static_cast<int>(i);
    for (const auto& c : u.runs) u.records.push_back(run_paths(c).record);
    const std::string what = u.kind == "teacher" ? "teacher"
                             : u.kind == "cohort" ? fmt::format("cohort s{}, {} runs", u.runs.front().seed, u.runs.size())
                                                  : u.runs.front().name;
    u.label = fmt::format("[unit {}/{}: {}]", i, n - 1, what);
  }
  plan.hash = units_hash(plan.units);
  return plan;
}

void write_grid_plan(GridPlan& plan, const std::string& file, const std::string& exe, const std::string& command_line) {
  plan.file = fs::absolute(file).lexically_normal().string();
  plan.exe = exe;
  plan.command_line = command_line;
  nlohmann::json units = nlohmann::json::array();
  for (const auto& u : plan.units) {
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& r : u.runs) runs.push_back(r);
    units.push_back({{"index", u.index},
                     {"kind", u.kind},
                     {"label", u.label},
                     {"command", unit_command(plan, u.index)},
                     {"depends_on", u.depends_on},
                     {"records", u.records},
                     {"runs", runs}});
  }
  const nlohmann::json j = {{"schema", kSchema},         {"plan_hash", plan.hash},
                            {"out_dir", plan.out_dir},   {"exe", plan.exe},
                            {"command_line", command_line}, {"table", fmt::format("{} compare --from {}", exe, plan.out_dir)},
                            {"units", units}};
  // The folder is taken over by this plan: not while another cwd-bench (or a unit) works there.
  const FolderLock lock(plan.out_dir, command_line);
  if (fs::path(plan.file).has_parent_path()) fs::create_directories(fs::path(plan.file).parent_path());
  write_json_atomic(plan.file, j);
  write_json_atomic(plan_marker_path(plan.out_dir), {{"plan_hash", plan.hash}, {"plan", plan.file}});
}

GridPlan read_grid_plan(const std::string& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw Error(fmt::format("plan '{}' not found; write it with `cwd-bench compare --plan {} ...`", file, file));
  }
  const nlohmann::json j = read_json(file);
  try {
    GridPlan plan;
    plan.file = fs::absolute(file).lexically_normal().string();
    std::string schema;
    key(j, "schema", schema);
    if (schema != kSchema) {
      throw Error(fmt::format("plan '{}' has schema '{}', not '{}'; write it again with this cwd-bench's "
                              "`compare --plan`",
                              file, schema, kSchema));
    }
    key(j, "plan_hash", plan.hash);
    key(j, "out_dir", plan.out_dir);
    key(j, "exe", plan.exe);
    key(j, "command_line", plan.command_line);
    for (const auto& ju : key_value(j, "units")) {
      GridUnit u;
      key(ju, "index", u.index);
      key(ju, "kind", u.kind);
      key(ju, "label", u.label);
      key(ju, "depends_on", u.depends_on);
      key(ju, "records", u.records);
      for (const auto& r : key_value(ju, "runs")) u.runs.push_back(r.get<RunConfig>());
      plan.units.push_back(std::move(u));
    }
    if (units_hash(plan.units) != plan.hash) {
      throw Error(fmt::format("plan '{}' was edited (its runs no longer match its plan_hash); write it again with "
                              "`compare --plan`",
                              file));
    }
    return plan;
  } catch (const JsonKeyError& e) {
    throw Error(fmt::format("plan '{}': {}; write it again with `cwd-bench compare --plan`", file, e.what()));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("plan '{}': {}; write it again with `cwd-bench compare --plan`", file, e.what()));
  }
}

namespace {

// The folder must have been planned by this plan (its marker), not by another configuration.
void check_marker(const GridPlan& plan) {
  const std::string marker = plan_marker_path(plan.out_dir);
  std::error_code ec;
  if (!fs::is_regular_file(marker, ec)) {
    throw Error(fmt::format("'{}' has no plan marker ({}); write the plan again with `compare --plan {}`", plan.out_dir,
                            marker, plan.file));
  }
  const nlohmann::json m = read_json(marker);
  const std::string hash = m.value("plan_hash", "");
  if (hash != plan.hash) {
    throw Error(fmt::format("'{}' belongs to another plan ('{}', hash {}), not to '{}' (hash {}): a different "
                            "configuration; use another --out, or write this plan again with `compare --plan`",
                            plan.out_dir, m.value("plan", "?"), hash, plan.file, plan.hash));
  }
}

// Waits up to wait_s for the records of the units `unit` depends on.
void wait_for_dependencies(const GridPlan& plan, const GridUnit& unit, double wait_s) {
  const auto start = std::chrono::steady_clock::now();
  bool told = false;
  for (const int d : unit.depends_on) {
    for (const auto& record : plan.units.at(static_cast<size_t>(d)).records) {
      std::error_code ec;
      while (!fs::is_regular_file(record, ec)) {
        const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (waited >= wait_s) {
          throw Error(fmt::format("unit {} needs the record '{}' of unit {}, which is not there{}; run `{}` first "
                                  "(a scheduler: make this unit depend on it), or pass --wait SECONDS",
                                  unit.index, record, d, wait_s > 0 ? fmt::format(" after {:.0f} s", waited) : "",
                                  unit_command(plan, d)));
        }
        if (!told) {
          fmt::print(stderr, "{} waiting for '{}' (unit {})\n", unit.label, record, d);
          told = true;
        }
        std::this_thread::sleep_for(std::chrono::seconds(2));
      }
    }
  }
}

}  // namespace

void run_grid_unit(const GridPlan& plan, int index, const UnitOptions& options) {
  const int n = static_cast<int>(plan.units.size());
  if (index < 0 || index >= n) {
    throw Error(fmt::format("--index {} is not a unit of plan '{}', which has {} unit{} (0..{})", index, plan.file, n,
                            n == 1 ? "" : "s", n - 1));
  }
  const GridUnit& unit = plan.units[static_cast<size_t>(index)];
  const bool writer = !options.group || options.group->rank() == 0;
  // Rank 0 holds the folder for the unit's processes, beside the plan's other units.
  std::unique_ptr<FolderLock> lock;
  if (writer) {
    lock = std::make_unique<FolderLock>(plan.out_dir, fmt::format("units of the plan '{}' (run-unit)", plan.file),
                                        FolderLock::Mode::kShared);
    check_marker(plan);
  }
  wait_for_dependencies(plan, unit, options.wait_s);
  std::vector<CohortRun> todo;
  for (size_t k = 0; k < unit.runs.size(); ++k) {
    RunConfig config = unit.runs[k];
    if (options.threads >= 0) config.threads = options.threads;
    if (!options.device.empty()) config.device = options.device;
    if (options.sync_bn) config.sync_bn = true;
    const RunPlan resolved = resolve_plan(config);
    const std::string label = fmt::format("[unit {} {}]", index, resolved.config.name);
    if (writer ? reusable(resolved, label) : fs::exists(resolved.paths.record)) continue;
    todo.push_back({config, label});
  }
  // Rank 0 decides which runs are done; the other ranks train the same ones.
  if (options.group &&
      options.group->any(options.group->broadcast_value(static_cast<int64_t>(todo.size())) !=
                         static_cast<int64_t>(todo.size()))) {
    throw Error(fmt::format("the processes of unit {} disagree on which of its runs are done: every process must "
                            "see the same output folder '{}'",
                            index, plan.out_dir));
  }
  if (todo.empty()) {
    if (writer) fmt::print(stderr, "{} all {} runs done already\n", unit.label, unit.runs.size());
    return;
  }
  if (unit.kind == "teacher" && writer) {
    // The plan's pretrained backbones, once, before the units that depend on this one start.
    std::vector<RunConfig> all;
    for (const auto& u : plan.units) all.insert(all.end(), u.runs.begin(), u.runs.end());
    ensure_backbones(all);
  }
  if (writer) fmt::print(stderr, "{} training {} run{}\n", unit.label, todo.size(), todo.size() == 1 ? "" : "s");
  train_cohort(todo, {options.command_line, unit.label, std::nullopt, options.group});
}

}  // namespace cwd::train
