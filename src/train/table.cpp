#include "src/train/table.h"

#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/core/version.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace cwd::train {

namespace fs = std::filesystem;

namespace {

// The paper's row order (Shu et al., ICCV 2021, Table 1); unknown methods follow, sorted.
const std::vector<std::string> kPaperOrder = {"at", "pi", "local", "pa", "ifvd", "cwd"};

// The paper's Cityscapes numbers (val mIoU, mean of three runs), for reference in the tables.
const nlohmann::json& paper_numbers() {
  static const nlohmann::json numbers = {
      {"teacher", 78.56}, {"student", 69.10},
      {"rows",
       {{"at", {{"feature", 72.37}, {"logit", 72.32}}},
        {"pi", {{"feature", 70.02}, {"logit", 71.74}}},
        {"local", {{"feature", 69.81}, {"logit", 69.75}}},
        {"pa", {{"feature", 71.23}, {"logit", 71.41}}},
        {"ifvd", {{"feature", 71.35}, {"logit", 70.66}}},
        {"cwd", {{"feature", 74.27}, {"logit", 74.87}}}}}};
  return numbers;
}

nlohmann::json summary(const std::vector<double>& v) {
  const double n = static_cast<double>(v.size());
  double mean = 0;
  for (double x : v) mean += x;
  mean = v.empty() ? 0 : mean / n;
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  const double stdev = v.size() > 1 ? std::sqrt(var / (n - 1)) : 0.0;
  return {{"mean", mean}, {"std", stdev}, {"n", v.size()}};
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

std::string title_of(const std::string& key) {
  std::string t = key;
  std::transform(t.begin(), t.end(), t.begin(), ::toupper);
  return t;
}

std::string cell(const nlohmann::json& m) {
  if (m.is_null()) return "–";
  if (m.at("n").get<int64_t>() > 1) return fmt::format("{:.2f} ± {:.2f}", m.at("mean").get<double>(), m.at("std").get<double>());
  return fmt::format("{:.2f}", m.at("mean").get<double>());
}

}  // namespace

std::vector<nlohmann::json> read_run_records(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error(fmt::format("'{}' is not a folder of run records", dir));
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<nlohmann::json> records;
  for (const auto& f : files) {
    auto j = nlohmann::json::parse(std::ifstream(f), nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("schema", "") != "cwd-bench/run/1") continue;
    j["_file"] = f.filename().string();
    records.push_back(std::move(j));
  }
  if (records.empty()) {
    throw Error(fmt::format("no run records (schema cwd-bench/run/1) in '{}'; run 'cwd-bench compare --out {}' first", dir, dir));
  }
  return records;
}

nlohmann::json build_table(const std::vector<nlohmann::json>& records) {
  std::vector<double> teacher, student;
  nlohmann::json teacher_model, student_model, dataset, eval_split, schedule, preset_name;
  std::vector<std::string> names;
  struct Acc {
    std::vector<double> miou, ms, peak, wall, gflops;
    int64_t extra_params = 0;
    std::string formula, title;
    nlohmann::json options;
    std::vector<uint64_t> seeds;
  };
  std::map<std::pair<std::string, std::string>, Acc> rows;
  std::set<uint64_t> seeds;
  for (const auto& r : records) {
    names.push_back(r.value("_file", r.value("name", "")));
    const double miou = r.at("eval").at("miou").get<double>();
    if (preset_name.is_null()) preset_name = r.at("config").value("preset", "");
    const auto train_id = r.at("dataset").at("train");
    if (dataset.is_null()) {
      dataset = train_id;
      eval_split = r.at("eval").value("split", "val");
    } else if (dataset != train_id) {
      throw Error(fmt::format("record '{}' was trained on other data than the rest; keep one comparison per folder",
                              r.value("_file", "")));
    }
    if (r.value("role", "") == "teacher") {
      teacher.push_back(miou);
      teacher_model = r.at("model");
      continue;
    }
    const auto model_key = nlohmann::json{{"depth", r.at("model").at("depth")}, {"width", r.at("model").at("width")},
                                          {"stem", r.at("model").at("stem")}};
    if (student_model.is_null()) {
      student_model = r.at("model");
      schedule = r.at("train").at("schedule");
    } else if (nlohmann::json{{"depth", student_model.at("depth")}, {"width", student_model.at("width")},
                              {"stem", student_model.at("stem")}} != model_key) {
      throw Error(fmt::format("record '{}' has another student architecture than the rest; keep one comparison per folder",
                              r.value("_file", "")));
    }
    seeds.insert(r.value("seed", uint64_t{0}));
    if (r.at("loss").is_null()) {
      student.push_back(miou);
      continue;
    }
    const auto& loss = r.at("loss");
    auto& acc = rows[{loss.at("key").get<std::string>(), loss.at("placement").get<std::string>()}];
    acc.miou.push_back(miou);
    acc.ms.push_back(loss.value("ms_per_iter", 0.0));
    acc.peak.push_back(static_cast<double>(loss.value("peak_bytes", int64_t{0})));
    acc.wall.push_back(r.at("train").value("wall_s", 0.0));
    if (loss.contains("gflops") && loss.at("gflops").is_number()) acc.gflops.push_back(loss.at("gflops").get<double>());
    acc.extra_params = loss.value("extra_params", int64_t{0});
    acc.formula = loss.value("formula", "");
    acc.title = loss.value("title", "");
    acc.options = loss.value("options", nlohmann::json::object());
  }
  if (teacher.empty()) throw Error("the run records hold no teacher (role 'teacher'); the table needs one");
  if (student.empty()) throw Error("the run records hold no baseline student (no loss); the table needs one");
  const auto teacher_s = summary(teacher);
  const auto student_s = summary(student);
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& [k, acc] : rows) keys.push_back(k);
  auto rank = [](const std::string& m) {
    const auto it = std::find(kPaperOrder.begin(), kPaperOrder.end(), m);
    return it == kPaperOrder.end() ? kPaperOrder.size() : static_cast<size_t>(it - kPaperOrder.begin());
  };
  std::sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) {
    if (rank(a.first) != rank(b.first)) return rank(a.first) < rank(b.first);
    return a < b;
  });
  nlohmann::json out_rows = nlohmann::json::array();
  const auto& paper = paper_numbers();
  for (const auto& key : keys) {
    const auto& acc = rows.at(key);
    const auto m = summary(acc.miou);
    nlohmann::json row = {
        {"method", key.first},
        {"placement", key.second},
        {"title", acc.title},
        {"miou", m},
        {"gain", m.at("mean").get<double>() - student_s.at("mean").get<double>()},
        {"complexity", acc.formula},
        {"options", acc.options},
        {"cost",
         {{"ms_per_iter", mean_of(acc.ms)},
          {"peak_bytes", static_cast<int64_t>(std::llround(mean_of(acc.peak)))},
          {"extra_params", acc.extra_params},
          {"gflops", acc.gflops.empty() ? nlohmann::json(nullptr) : nlohmann::json(mean_of(acc.gflops))}}},
        {"wall_s", mean_of(acc.wall)}};
    const auto& pr = paper.at("rows");
    if (pr.contains(key.first) && pr.at(key.first).contains(key.second)) {
      row["paper_miou"] = pr.at(key.first).at(key.second);
    }
    out_rows.push_back(row);
  }
  std::sort(names.begin(), names.end());
  return {{"schema", "cwd-bench/table/1"},
          {"tool", {{"name", "cwd-bench"}, {"version", version()}, {"git_commit", git_commit()}}},
          {"teacher", {{"miou", teacher_s}, {"model", teacher_model}}},
          {"student", {{"miou", student_s}, {"model", student_model}}},
          {"rows", out_rows},
          {"protocol",
           {{"preset", preset_name},
            {"dataset", dataset},
            {"eval_split", eval_split},
            {"student_schedule", schedule},
            {"seeds", std::vector<uint64_t>(seeds.begin(), seeds.end())},
            {"records", names},
            {"std", "sample standard deviation over seeds (n-1); 0 when n = 1"},
            {"cost",
             "distillation term only, measured inside each run: forward+backward ms per iteration, "
             "peak extra bytes through the allocator, forward GFLOPs at the run's map size, adapter parameters"}}},
          {"paper", paper}};
}

std::string table_markdown(const nlohmann::json& t) {
  std::string md;
  const auto& teacher = t.at("teacher");
  const auto& student = t.at("student");
  const auto& rows = t.at("rows");
  auto find = [&](const std::string& m, const std::string& p) -> const nlohmann::json* {
    for (const auto& r : rows) {
      if (r.at("method") == m && r.at("placement") == p) return &r;
    }
    return nullptr;
  };
  std::vector<std::string> methods;
  for (const auto& r : rows) {
    const auto m = r.at("method").get<std::string>();
    if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
  }
  auto gain_cell = [&](const nlohmann::json* r) {
    if (r == nullptr) return std::string("–");
    return fmt::format("{} ({:+.2f})", cell(r->at("miou")), r->at("gain").get<double>());
  };
  md += fmt::format("mIoU (%) on {} ({}), mean ± std over seeds; gain over the baseline student in brackets.\n\n",
                    t.at("protocol").at("dataset").value("name", "?"), t.at("protocol").value("eval_split", "val"));
  md += "| Method | Complexity | Feature map mIoU | Logit map mIoU |\n|---|---|---|---|\n";
  md += fmt::format("| Teacher {} | – | {} | {} |\n", teacher.at("model").value("description", ""),
                    cell(teacher.at("miou")), cell(teacher.at("miou")));
  md += fmt::format("| Student {} | – | {} | {} |\n", student.at("model").value("description", ""),
                    cell(student.at("miou")), cell(student.at("miou")));
  for (const auto& m : methods) {
    const auto* f = find(m, "feature");
    const auto* l = find(m, "logit");
    const auto* any = f ? f : l;
    md += fmt::format("| {} | {} | {} | {} |\n", title_of(m), any->at("complexity").get<std::string>(),
                      gain_cell(f), gain_cell(l));
  }
  md += "\nMeasured cost of the distillation term (inside the runs; mean over seeds):\n\n";
  md += "| Method | Map | ms/iter (fwd+bwd) | peak extra MiB | extra params | GFLOPs | run wall s |\n";
  md += "|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows) {
    const auto& c = r.at("cost");
    md += fmt::format("| {} | {} | {:.2f} | {:.2f} | {} | {} | {:.0f} |\n", title_of(r.at("method")),
                      r.at("placement").get<std::string>(), c.at("ms_per_iter").get<double>(),
                      c.at("peak_bytes").get<double>() / (1024.0 * 1024.0), c.at("extra_params").get<int64_t>(),
                      c.at("gflops").is_null() ? std::string("–") : fmt::format("{:.4f}", c.at("gflops").get<double>()),
                      r.at("wall_s").get<double>());
  }
  return md;
}

std::string table_csv(const nlohmann::json& t) {
  std::string csv = "method,placement,miou_mean,miou_std,n,gain,complexity,ms_per_iter,peak_bytes,extra_params,gflops,wall_s\n";
  auto line = [&](const std::string& m, const std::string& p, const nlohmann::json& s) {
    csv += fmt::format("{},{},{:.4f},{:.4f},{},,,,,,,\n", m, p, s.at("mean").get<double>(), s.at("std").get<double>(),
                       s.at("n").get<int64_t>());
  };
  line("teacher", "", t.at("teacher").at("miou"));
  line("student", "", t.at("student").at("miou"));
  for (const auto& r : t.at("rows")) {
    const auto& c = r.at("cost");
    csv += fmt::format("{},{},{:.4f},{:.4f},{},{:.4f},\"{}\",{:.4f},{},{},{},{:.1f}\n", r.at("method").get<std::string>(),
                       r.at("placement").get<std::string>(), r.at("miou").at("mean").get<double>(),
                       r.at("miou").at("std").get<double>(), r.at("miou").at("n").get<int64_t>(),
                       r.at("gain").get<double>(), r.at("complexity").get<std::string>(),
                       c.at("ms_per_iter").get<double>(), c.at("peak_bytes").get<int64_t>(),
                       c.at("extra_params").get<int64_t>(),
                       c.at("gflops").is_null() ? std::string("") : fmt::format("{:.6f}", c.at("gflops").get<double>()),
                       r.at("wall_s").get<double>());
  }
  return csv;
}

std::string table_latex(const nlohmann::json& t) {
  auto tex_cell = [](const nlohmann::json* r) {
    if (r == nullptr) return std::string("--");
    const auto& m = r->at("miou");
    if (m.at("n").get<int64_t>() > 1) return fmt::format("{:.2f} $\\pm$ {:.2f}", m.at("mean").get<double>(), m.at("std").get<double>());
    return fmt::format("{:.2f}", m.at("mean").get<double>());
  };
  std::string tex = "\\begin{tabular}{llcc}\n\\toprule\nMethod & Complexity & Feature map mIoU & Logit map mIoU \\\\\n\\midrule\n";
  const auto& rows = t.at("rows");
  tex += fmt::format("Teacher & -- & {:.2f} & {:.2f} \\\\\n", t.at("teacher").at("miou").at("mean").get<double>(),
                     t.at("teacher").at("miou").at("mean").get<double>());
  tex += fmt::format("Student & -- & {:.2f} & {:.2f} \\\\\n", t.at("student").at("miou").at("mean").get<double>(),
                     t.at("student").at("miou").at("mean").get<double>());
  std::vector<std::string> methods;
  for (const auto& r : rows) {
    const auto m = r.at("method").get<std::string>();
    if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
  }
  for (const auto& m : methods) {
    const nlohmann::json *f = nullptr, *l = nullptr;
    std::string formula;
    for (const auto& r : rows) {
      if (r.at("method") != m) continue;
      (r.at("placement") == "feature" ? f : l) = &r;
      formula = r.at("complexity").get<std::string>();
    }
    tex += fmt::format("{} & {} & {} & {} \\\\\n", title_of(m), formula, tex_cell(f), tex_cell(l));
  }
  tex += "\\bottomrule\n\\end{tabular}\n";
  return tex;
}

void write_tables(const nlohmann::json& table, const std::string& dir, bool latex) {
  const fs::path d(dir);
  write_json_atomic((d / "table.json").string(), table);
  write_text_atomic((d / "table.md").string(), table_markdown(table));
  write_text_atomic((d / "table.csv").string(), table_csv(table));
  if (latex) write_text_atomic((d / "table.tex").string(), table_latex(table));
}

}  // namespace cwd::train
