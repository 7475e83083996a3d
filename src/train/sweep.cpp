#include "src/train/sweep.h"

#include "losses/registry.h"
#include "src/core/error.h"
#include "src/core/files.h"
#include "src/core/json_io.h"
#include "src/train/compare.h"
#include "src/train/table.h"
#include "src/train/trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

namespace cwd::train {

namespace {

/// "3.33" style label of a weight, used in run names (stable across platforms).
std::string weight_label(double weight) {
  std::string text = fmt::format("{:.6g}", weight);
  std::replace(text.begin(), text.end(), '+', 'p');
  return text;
}

}  // namespace

namespace {

void check_sweep(const SweepConfig& sc) {
  if (sc.holdout <= 0) {
    throw Error(fmt::format("--holdout is {}; the sweep needs held-out scenes (e.g. --holdout 300)", sc.holdout));
  }
  if (sc.factors.empty()) throw Error("--factors is empty; give at least one multiple of the default weight, e.g. 1");
  for (double f : sc.factors) {
    if (!(f > 0) || !std::isfinite(f)) throw Error(fmt::format("--factors: {} is not a positive number", f));
  }
}

// The comparison's student, trained on the comparison's training scenes, judged on extra scenes
// generated after them.
Adjust holdout_student(const SweepConfig& sc) {
  return [&sc](RunConfig& d) {
    if (sc.adjust_all) sc.adjust_all(d);
    if (d.data.name != "fashion-scenes") {
      throw Error(fmt::format("the sweep holds out generated scenes; dataset '{}' has none to add (use --data fashion-scenes)", d.data.name));
    }
    if (d.data.holdout != 0) throw Error("sweep: drop --holdout from the data flags; the sweep sets it");
    d.data.train_size += sc.holdout;
    d.data.holdout = sc.holdout;
    d.eval_split = data::Split::kHoldout;
  };
}

}  // namespace

nlohmann::json run_sweep(const SweepConfig& sc) {
  const Preset& p = preset(sc.preset);
  const auto methods = sc.methods.empty() ? p.methods : sc.methods;
  const auto placements = sc.placements.empty() ? p.placements : sc.placements;
  check_methods(methods);
  check_sweep(sc);
  const std::string out = sc.out_dir.empty() ? "results/sweep-" + p.name : sc.out_dir;

  // The teacher is the comparison's own (same configuration, same folder), so that `compare`
  // reuses it and the sweep's students learn from exactly the teacher of the final runs.
  std::vector<PlannedRun> runs;
  std::string teacher = sc.teacher;
  if (teacher.empty()) {
    runs.push_back({plan_teacher(p, sc.adjust_all, "results/" + p.name), "teacher"});
    teacher = run_paths(runs.back().config).record;
  }
  const Adjust adjust = holdout_student(sc);
  for (const auto placement : placements) {
    for (const auto& m : methods) {
      const nlohmann::json defaults = losses::default_options(m);
      const double base = defaults.at("weight").get<double>();
      for (double f : sc.factors) {
        StudentSpec spec{0, m, placement, defaults, teacher, ""};
        spec.loss_options["weight"] = base * f;
        spec.name = fmt::format("{}-{}-w{}", losses::file_label(m), to_string(placement), weight_label(base * f));
        runs.push_back({plan_student(p, adjust, out, spec), "distill"});
      }
    }
  }
  // The sweep's folder, and the comparison's when the sweep trains its teacher there.
  std::vector<std::unique_ptr<FolderLock>> locks;
  locks.push_back(std::make_unique<FolderLock>(out, sc.exec.command_line));
  if (sc.teacher.empty()) {
    const std::string teacher_dir = runs.front().config.out_dir;
    std::error_code ec;
    if (!std::filesystem::equivalent(teacher_dir, out, ec)) locks.push_back(std::make_unique<FolderLock>(teacher_dir, sc.exec.command_line));
  }
  execute_runs(runs, sc.exec);
  return write_sweep(out);
}

nlohmann::json write_sweep(const std::string& dir) {
  auto summary = sweep_summary(dir);
  write_json_atomic(dir + "/sweep.json", summary);
  write_text_atomic(dir + "/sweep.md", sweep_markdown(summary));
  return summary;
}

nlohmann::json sweep_summary(const std::string& dir) {
  struct Point {
    double weight, default_weight, miou;
    std::string file;
    std::string diverged;  // "" or the divergence, e.g. "diverged at iteration 7: ..."
  };
  std::map<std::pair<std::string, std::string>, std::vector<Point>> groups;
  nlohmann::json protocol;
  for (const auto& r : read_run_records(dir)) {
    if (!r.loss || r.config.eval_split != data::Split::kHoldout) continue;
    const double weight = r.loss->options.at("weight").get<double>();
    const double base = losses::default_options(r.loss->key).at("weight").get<double>();
    groups[{r.loss->key, to_string(r.loss->placement)}].push_back(
        {weight, base, r.eval.miou, r.file, r.diverged ? r.diverged->text() : ""});
    if (protocol.is_null() && !r.diverged) {
      protocol = {{"preset", r.config.preset},
                  {"holdout_scenes", r.eval.images},
                  {"train_scenes", r.config.data.train_size - r.config.data.holdout},
                  {"student_iterations", r.config.schedule.iterations},
                  {"teacher", r.teacher}};
    }
  }
  if (groups.empty()) {
    throw Error(fmt::format("no sweep records (distilled runs judged on the holdout split) in '{}'; run 'cwd-bench sweep --out {}' first", dir, dir));
  }
  nlohmann::json rows = nlohmann::json::array();
  for (auto& [key, points] : groups) {
    std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) { return a.weight < b.weight; });
    // A weight whose run diverged is never chosen.
    const Point* best = nullptr;
    for (const Point& pt : points) {
      if (!pt.diverged.empty()) continue;
      if (best == nullptr) {
        best = &pt;
        continue;
      }
      const double d_new = std::fabs(std::log(pt.weight / pt.default_weight));
      const double d_best = std::fabs(std::log(best->weight / best->default_weight));
      if (pt.miou > best->miou || (pt.miou == best->miou && d_new < d_best)) best = &pt;
    }
    nlohmann::json tried = nlohmann::json::array();
    for (const Point& pt : points) {
      nlohmann::json t = {{"weight", pt.weight}, {"holdout_miou", pt.miou}, {"record", pt.file}};
      if (!pt.diverged.empty()) {
        t["holdout_miou"] = nullptr;
        t["diverged"] = pt.diverged;
      }
      tried.push_back(t);
    }
    rows.push_back({{"method", key.first},
                    {"placement", key.second},
                    {"default_weight", points.front().default_weight},
                    {"chosen_weight", best ? nlohmann::json(best->weight) : nlohmann::json(nullptr)},
                    {"chosen_holdout_miou", best ? nlohmann::json(best->miou) : nlohmann::json(nullptr)},
                    {"tried", tried}});
  }
  return {{"schema", kSweepSchema}, {"protocol", protocol}, {"rows", rows}};
}

std::string sweep_markdown(const nlohmann::json& summary) {
  const auto& pr = summary.at("protocol");
  std::string md = fmt::format(
      "# Loss-weight sweep ({} preset)\n\n"
      "Each student trained on the comparison's {} training scenes with the comparison's teacher, "
      "{} iterations, judged by mIoU on {} held-out training-split scenes (never the validation "
      "split). Chosen = best held-out mIoU.\n\n"
      "| Method | Map | Default weight | Weights tried: held-out mIoU | Chosen |\n"
      "|---|---|---|---|---|\n",
      pr.value("preset", "?"), pr.value("train_scenes", 0), pr.value("student_iterations", 0),
      pr.value("holdout_scenes", 0));
  for (const auto& row : summary.at("rows")) {
    std::string tried;
    for (const auto& t : row.at("tried")) {
      if (!tried.empty()) tried += ", ";
      tried += t.at("holdout_miou").is_null()
                   ? fmt::format("{:g}: diverged", t.at("weight").get<double>())
                   : fmt::format("{:g}: {:.2f}", t.at("weight").get<double>(), t.at("holdout_miou").get<double>());
    }
    const auto& chosen = row.at("chosen_weight");
    md += fmt::format("| {} | {} | {:g} | {} | {} |\n", row.at("method").get<std::string>(),
                      row.at("placement").get<std::string>(), row.at("default_weight").get<double>(), tried,
                      chosen.is_null() ? std::string("none (every weight diverged)")
                                       : fmt::format("**{:g}**", chosen.get<double>()));
  }
  return md;
}

}  // namespace cwd::train
