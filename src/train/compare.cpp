#include "src/train/compare.h"

#include "losses/registry.h"
#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/core/progress.h"
#include "src/train/checkpoint.h"
#include "src/train/network.h"
#include "src/train/table.h"
#include "src/train/trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

namespace cwd::train {

namespace fs = std::filesystem;

void check_grid(const std::vector<std::string>& methods, const std::vector<std::string>& placements) {
  const auto known = losses::known_keys();
  for (const auto& m : methods) {
    if (std::find(known.begin(), known.end(), m) == known.end()) {
      throw Error(fmt::format("unknown loss '{}' (known: {})", m, fmt::join(known, ", ")));
    }
  }
  for (const auto& pl : placements) {
    if (pl != "logit" && pl != "feature") throw Error(fmt::format("--on '{}' is not valid (valid: feature, logit)", pl));
  }
}

PlannedRun plan_teacher(const Preset& preset, const std::function<void(RunConfig&)>& adjust_all,
                        const std::string& out_dir) {
  RunConfig t = config_from_preset(preset.name, "teacher");
  if (adjust_all) adjust_all(t);
  t.out_dir = out_dir;
  t.seed = 0;
  t.name = "teacher";
  return {t, "teacher"};
}

std::vector<PlannedRun> plan_comparison(const CompareConfig& cc) {
  const Preset& p = preset(cc.preset);
  const int64_t seeds = cc.seeds > 0 ? cc.seeds : p.seeds;
  const auto methods = cc.methods.empty() ? p.methods : cc.methods;
  const auto placements = cc.placements.empty() ? p.placements : cc.placements;
  check_grid(methods, placements);
  const std::string out = cc.out_dir.empty() ? "results/" + p.name : cc.out_dir;
  std::vector<PlannedRun> runs;
  std::string teacher_path = cc.teacher;
  if (teacher_path.empty()) {
    runs.push_back(plan_teacher(p, cc.adjust_all, out));
    teacher_path = run_paths(runs.back().config).record;
  }
  for (int64_t s = 0; s < seeds; ++s) {
    RunConfig b = config_from_preset(p.name, "student");
    if (cc.adjust_all) cc.adjust_all(b);
    if (cc.adjust_student) cc.adjust_student(b);
    b.out_dir = out;
    b.seed = static_cast<uint64_t>(s);
    b.name = default_run_name(b);
    runs.push_back({b, "baseline"});
  }
  for (int64_t s = 0; s < seeds; ++s) {
    for (const auto& pl : placements) {
      for (const auto& m : methods) {
        RunConfig d = config_from_preset(p.name, "student");
        if (cc.adjust_all) cc.adjust_all(d);
        if (cc.adjust_student) cc.adjust_student(d);
        d.out_dir = out;
        d.seed = static_cast<uint64_t>(s);
        d.loss = m;
        d.placement = pl;
        d.teacher = teacher_path;
        d.loss_options = preset_loss_options(p, m, pl, cc.loss_options);
        d.name = default_run_name(d);
        losses::create(d.loss, d.loss_options);  // bad options fail before anything trains
        runs.push_back({d, "distill"});
      }
    }
  }
  return runs;
}

void execute_runs(const std::vector<PlannedRun>& runs, const std::string& command_line) {
  const auto start = std::chrono::steady_clock::now();
  const size_t total = runs.size();
  for (size_t i = 0; i < total; ++i) {
    RunConfig c = runs[i].config;
    // The teacher's identity is known only once it is trained.
    if (!c.loss.empty()) c.teacher_id = teacher_identity(c.teacher);
    const std::string hash = config_hash(c);
    const std::string label = fmt::format("[{}/{} {}]", i + 1, total, c.name);
    const auto paths = run_paths(c);
    if (fs::exists(paths.record)) {
      const auto record = read_json(paths.record);
      if (record.value("config_hash", "") == hash) {
        fmt::print(stderr, "{} done already (mIoU {:.2f}), reusing {}\n", label,
                   record.at("eval").at("miou").get<double>(), paths.record);
        continue;
      }
      fmt::print(stderr, "{} configuration changed since {} was written; training again\n", label, paths.record);
      std::error_code ec;
      if (fs::exists(paths.checkpoint)) {
        const auto meta = read_checkpoint_meta(paths.checkpoint).meta;
        if (meta.value("config_hash", "") != hash) fs::remove(paths.checkpoint, ec);
      }
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print(stderr, "{} {} ({} elapsed)\n", label,
               runs[i].kind == "distill" ? fmt::format("distilling with {} on the {} map", c.loss, c.placement)
                                         : "training the " + runs[i].kind,
               format_duration(elapsed));
    train_run(c, {command_line, label});
  }
}

nlohmann::json run_comparison(const CompareConfig& cc) {
  const auto runs = plan_comparison(cc);
  execute_runs(runs, cc.command_line);
  const std::string out = runs.front().config.out_dir;
  auto table = build_table(read_run_records(out));
  write_tables(table, out, cc.latex);
  fmt::print(stderr, "wrote {}/table.json, table.md, table.csv{}\n", out, cc.latex ? ", table.tex" : "");
  return table;
}

nlohmann::json tables_from_records(const std::string& dir, bool latex) {
  auto table = build_table(read_run_records(dir));
  write_tables(table, dir, latex);
  return table;
}

}  // namespace cwd::train
