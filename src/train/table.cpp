#include "src/train/table.h"

#include "losses/registry.h"
#include "src/core/error.h"
#include "src/core/files.h"
#include "src/core/json_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
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

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

std::string title_of(const std::string& key) { return losses::display_name(key); }

// The runs of one method × placement.
struct RowRuns {
  std::vector<double> miou, ms, peak, wall, gflops;
  const LossRecord* last = nullptr;
};

using RowKey = std::pair<std::string, Placement>;

// Everything build_table gathers in one pass over the records.
struct Gathered {
  std::vector<double> teacher, student;
  const RunRecord* teacher_record = nullptr;
  const RunRecord* first_student = nullptr;
  const RunRecord* first = nullptr;
  std::vector<std::string> files;
  std::set<uint64_t> seeds;
  std::map<RowKey, RowRuns> rows;
  std::map<RowKey, int64_t> diverged_rows;
  std::vector<DivergedRun> diverged;
  std::set<std::string> commits;
  std::map<std::string, std::string> runs;  // what a run is (role, method, map, seed) → its file
};

bool same_student_architecture(const ModelInfo& a, const ModelInfo& b) {
  return a.net.depth == b.net.depth && a.net.width == b.net.width && a.net.stem == b.net.stem;
}

std::string file_of(const RunRecord& r) { return r.file.empty() ? r.name : r.file; }

[[noreturn]] void not_one_comparison(const RunRecord& r, const std::string& what) {
  throw Error(fmt::format("record '{}' {}; keep one comparison per folder (move the record out)", file_of(r), what));
}

// The first key where two JSON objects differ, as "key: a against b".
std::string first_difference(const nlohmann::json& a, const nlohmann::json& b) {
  for (const auto& [k, v] : a.items()) {
    if (!b.contains(k) || b.at(k) != v) return fmt::format("{}: {} against {}", k, v.dump(), b.contains(k) ? b.at(k).dump() : "none");
  }
  for (const auto& [k, v] : b.items()) {
    if (!a.contains(k)) return fmt::format("{}: none against {}", k, v.dump());
  }
  return "";
}

// A run of a comparison is one role, method, map and seed; a second record of it contradicts the first.
void check_one_run(Gathered& g, const RunRecord& r) {
  const std::string what = r.role == Role::kTeacher
                               ? "the teacher"
                               : r.loss ? fmt::format("{} on the {} map, seed {}", r.loss->key, to_string(r.loss->placement), r.seed)
                                        : fmt::format("the baseline student, seed {}", r.seed);
  const auto [it, fresh] = g.runs.emplace(what, file_of(r));
  if (!fresh) {
    not_one_comparison(r, fmt::format("is {} again (as is '{}'): a copy, or a run of another comparison", what, it->second));
  }
}

void add_student_run(Gathered& g, const RunRecord& r) {
  if (g.first_student == nullptr) {
    g.first_student = &r;
  } else {
    if (!same_student_architecture(g.first_student->model, r.model)) {
      not_one_comparison(r, "has another student architecture than the rest");
    }
    const nlohmann::json mine = r.train.schedule, first = g.first_student->train.schedule;
    if (mine != first) {
      not_one_comparison(r, fmt::format("was trained under another schedule than '{}' ({})", file_of(*g.first_student),
                                        first_difference(mine, first)));
    }
  }
  if (r.loss) {
    if (!losses::is_known(r.loss->key)) {
      const auto known = losses::known_keys();
      throw Error(fmt::format("record '{}' uses loss '{}', which this cwd-bench does not know (known: {}); build "
                              "the version that wrote it, or move the record out",
                              file_of(r), r.loss->key, fmt::join(known, ", ")));
    }
  }
  g.seeds.insert(r.seed);
  if (r.diverged) {
    DivergedRun d{file_of(r), r.loss ? r.loss->key : "", r.loss ? r.loss->placement : Placement::kLogit, r.seed,
                  *r.diverged};
    g.diverged.push_back(d);
    if (r.loss) ++g.diverged_rows[{r.loss->key, r.loss->placement}];
    return;
  }
  if (!r.loss) {
    g.student.push_back(r.eval.miou);
    return;
  }
  auto& row = g.rows[{r.loss->key, r.loss->placement}];
  row.miou.push_back(r.eval.miou);
  row.ms.push_back(r.loss->ms_per_iter);
  row.peak.push_back(static_cast<double>(r.loss->peak_bytes));
  row.wall.push_back(r.train.wall_s);
  if (r.loss->gflops) row.gflops.push_back(*r.loss->gflops);
  row.last = &*r.loss;
}

Gathered gather(const std::vector<RunRecord>& records) {
  Gathered g;
  for (const auto& r : records) {
    g.files.push_back(file_of(r));
    g.commits.insert(r.header.tool.git_commit);
    if (g.first == nullptr) {
      g.first = &r;
    } else if (g.first->dataset.train != r.dataset.train) {
      not_one_comparison(r, "was trained on other data than the rest");
    } else if (g.first->dataset.eval != r.dataset.eval) {
      not_one_comparison(r, "was evaluated on other data than the rest");
    }
    check_one_run(g, r);
    if (r.role == Role::kTeacher) {
      if (r.diverged) {
        throw Error(fmt::format("the teacher's record '{}' {}; it has no network to distil from: retrain it with a lower --lr",
                                file_of(r), r.diverged->text()));
      }
      g.teacher.push_back(r.eval.miou);
      g.teacher_record = &r;
    } else {
      add_student_run(g, r);
    }
  }
  if (g.teacher.empty()) throw Error("the run records hold no teacher (role 'teacher'); the table needs one: copy the teacher's record (and its weights/ folder) into the folder");
  if (g.student.empty()) {
    throw Error(g.first_student != nullptr && !g.diverged.empty()
                    ? "every baseline student diverged; the table has nothing to compare against: retrain them with a lower --lr"
                    : "the run records hold no baseline student (no loss); the table needs one");
  }
  std::sort(g.files.begin(), g.files.end());
  return g;
}

TableRow make_row(const RowKey& key, const RowRuns& runs, const std::vector<double>& student,
                  double teacher_mean) {
  TableRow row;
  row.method = key.first;
  row.placement = key.second;
  row.title = runs.last->title;
  row.miou = Stat::of(runs.miou);
  const auto welch = stats::welch(runs.miou, student);
  row.gain = welch.diff;
  row.versus = {welch.ci, welch.p, welch.df, stats::gap_fraction(row.miou.mean, mean_of(student), teacher_mean)};
  row.complexity = runs.last->formula;
  row.options = runs.last->options;
  row.cost = {mean_of(runs.ms), static_cast<int64_t>(std::llround(mean_of(runs.peak))),
              runs.last->extra_params,
              runs.gflops.empty() ? std::nullopt : std::optional<double>(mean_of(runs.gflops))};
  row.wall_s = mean_of(runs.wall);
  const auto& paper = paper_numbers().at("rows");
  const std::string placement = to_string(key.second);
  if (paper.contains(key.first) && paper.at(key.first).contains(placement)) {
    row.paper_miou = paper.at(key.first).at(placement).get<double>();
  }
  return row;
}

// Paper order first, then the other methods by key; within a method, feature before logit (by
// name, as the table's columns).
std::vector<RowKey> row_order(const std::map<RowKey, RowRuns>& rows) {
  std::vector<RowKey> keys;
  for (const auto& [k, runs] : rows) keys.push_back(k);
  auto rank = [](const std::string& m) {
    const auto it = std::find(kPaperOrder.begin(), kPaperOrder.end(), m);
    return static_cast<size_t>(it - kPaperOrder.begin());
  };
  std::sort(keys.begin(), keys.end(), [&](const RowKey& a, const RowKey& b) {
    if (rank(a.first) != rank(b.first)) return rank(a.first) < rank(b.first);
    if (a.first != b.first) return a.first < b.first;
    return to_string(a.second) < to_string(b.second);
  });
  return keys;
}

ToolInfo records_tool(const Gathered& g) {
  ToolInfo tool = g.first->header.tool;
  if (g.commits.size() > 1) tool.git_commit = fmt::format("{}", fmt::join(g.commits, ", "));
  return tool;
}

}  // namespace

template <typename T>
nlohmann::json or_null(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json interval_json(const std::optional<stats::Interval>& v) {
  return v ? nlohmann::json::array({v->low, v->high}) : nlohmann::json(nullptr);
}

void to_json(nlohmann::json& j, const Stat& s) {
  j = {{"mean", s.mean}, {"std", or_null(s.std)}, {"n", s.n}, {"ci95", interval_json(s.ci95)}};
}

void to_json(nlohmann::json& j, const NetSummary& s) { j = {{"miou", s.miou}, {"model", s.model}}; }

void to_json(nlohmann::json& j, const TableRow& r) {
  j = {{"method", r.method},
       {"placement", to_string(r.placement)},
       {"title", r.title},
       {"miou", r.miou},
       {"gain", r.gain},
       {"gain_ci95", interval_json(r.versus.gain_ci95)},
       {"p_value", or_null(r.versus.p_value)},
       {"welch_df", or_null(r.versus.welch_df)},
       {"significant", r.versus.significant()},
       {"gap_fraction", or_null(r.versus.gap_fraction)},
       {"complexity", r.complexity},
       {"options", r.options},
       {"cost",
        {{"ms_per_iter", r.cost.ms_per_iter},
         {"peak_bytes", r.cost.peak_bytes},
         {"extra_params", r.cost.extra_params},
         {"gflops", or_null(r.cost.gflops)}}},
       {"wall_s", r.wall_s}};
  if (r.paper_miou) j["paper_miou"] = *r.paper_miou;
  j["diverged"] = r.diverged;
}

void to_json(nlohmann::json& j, const DivergedRun& d) {
  j = {{"record", d.record},
       {"method", d.method.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.method)},
       {"placement", d.method.empty() ? nlohmann::json(nullptr) : nlohmann::json(to_string(d.placement))},
       {"seed", d.seed},
       {"iteration", d.divergence.iteration},
       {"term", d.divergence.term},
       {"value", d.divergence.value}};
}

void to_json(nlohmann::json& j, const TableProtocol& p) {
  j = {{"preset", p.preset},
       {"dataset", p.dataset},
       {"eval_split", p.eval_split},
       {"student_schedule", p.student_schedule},
       {"seeds", p.seeds},
       {"records", p.records},
       {"std", "sample standard deviation over seeds (n-1); null when n = 1 (no spread known)"},
       {"ci95", "95% confidence interval of the mean, Student's t with n-1 degrees of freedom; null when n = 1"},
       {"gain",
        "row mean minus the baseline student's mean; gain_ci95 and p_value from Welch's unequal-variance "
        "t-test (two-sided), null when either side has n = 1; significant: gain_ci95 excludes zero"},
       {"gap_fraction", "gain / (teacher mean - student mean); null when the teacher does not lead"},
       {"cost",
        "distillation term only, measured inside each run: forward+backward ms per iteration, "
        "peak extra bytes through the allocator, forward GFLOPs at the run's map size, adapter parameters"}};
}

Stat Stat::of(const std::vector<double>& v) {
  const auto s = stats::describe(v);
  return {s.mean, s.n, s.std, s.ci};
}

Table build_table(const std::vector<RunRecord>& records) {
  const Gathered g = gather(records);
  Table t;
  t.tool = records_tool(g);
  t.teacher = {Stat::of(g.teacher), g.teacher_record->model};
  t.student = {Stat::of(g.student), g.first_student->model};
  for (const auto& key : row_order(g.rows)) {
    t.rows.push_back(make_row(key, g.rows.at(key), g.student, t.teacher.miou.mean));
    const auto d = g.diverged_rows.find(key);
    if (d != g.diverged_rows.end()) t.rows.back().diverged = d->second;
  }
  t.diverged = g.diverged;
  for (const Placement placement : {Placement::kFeature, Placement::kLogit}) {
    std::vector<double> ours, paper;
    for (const auto& r : t.rows) {
      if (r.placement != placement || !r.paper_miou) continue;
      ours.push_back(r.miou.mean);
      paper.push_back(*r.paper_miou);
    }
    if (!ours.empty()) t.paper_agreement.push_back({placement, static_cast<int64_t>(ours.size()), stats::kendall_tau(ours, paper)});
  }
  t.protocol.preset = g.first->config.preset;
  t.protocol.dataset = g.first->dataset.train;
  t.protocol.eval_split = data::to_string(g.first->config.eval_split);
  t.protocol.student_schedule = g.first_student->train.schedule;
  t.protocol.seeds.assign(g.seeds.begin(), g.seeds.end());
  t.protocol.records = g.files;
  return t;
}

void to_json(nlohmann::json& j, const PaperAgreement& a) {
  j = {{"placement", to_string(a.placement)}, {"methods", a.methods}, {"kendall_tau", or_null(a.kendall_tau)}};
}

void to_json(nlohmann::json& j, const Table& t) {
  j = {{"schema", kTableSchema}, {"tool", t.tool},         {"teacher", t.teacher},
       {"student", t.student},   {"rows", t.rows},         {"protocol", t.protocol},
       {"paper", paper_numbers()}, {"paper_agreement", t.paper_agreement}, {"diverged", t.diverged}};
}

namespace {

// "mean ± std", or "mean (n = 1)" where no spread is known.
std::string cell(const Stat& m) {
  if (m.std) return fmt::format("{:.2f} ± {:.2f}", m.mean, *m.std);
  return fmt::format("{:.2f} (n = {})", m.mean, m.n);
}

std::string tex_cell(const TableRow* r) {
  if (r == nullptr) return "--";
  if (r->miou.std) return fmt::format("{:.2f} $\\pm$ {:.2f}", r->miou.mean, *r->miou.std);
  return fmt::format("{:.2f}", r->miou.mean);
}

std::string interval_text(const std::optional<stats::Interval>& v, const char* none) {
  return v ? fmt::format("[{:.2f}, {:.2f}]", v->low, v->high) : std::string(none);
}

std::string p_text(const std::optional<double>& p) {
  if (!p) return "–";
  return *p < 0.001 ? std::string("< 0.001") : fmt::format("{:.3f}", *p);
}

// The gain, in bold where its 95% interval excludes zero.
std::string gain_text(const TableRow& r) {
  const std::string g = fmt::format("{:+.2f}", r.gain);
  return r.versus.significant() ? "**" + g + "**" : g;
}

std::string csv_number(const std::optional<double>& v) { return v ? fmt::format("{:.6g}", *v) : std::string(); }

std::string csv_interval(const std::optional<stats::Interval>& v) {
  return v ? fmt::format("{:.4f},{:.4f}", v->low, v->high) : std::string(",");
}

// Methods in row order, each once; then methods whose runs all diverged.
std::vector<std::string> methods_of(const Table& t) {
  std::vector<std::string> methods;
  auto add = [&](const std::string& m) {
    if (!m.empty() && std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
  };
  for (const auto& r : t.rows) add(r.method);
  for (const auto& d : t.diverged) add(d.method);
  return methods;
}

int64_t diverged_count(const Table& t, const std::string& method, Placement placement) {
  return std::count_if(t.diverged.begin(), t.diverged.end(),
                       [&](const DivergedRun& d) { return d.method == method && d.placement == placement; });
}

std::string diverged_note(int64_t k) { return k > 0 ? fmt::format(" ({} diverged)", k) : std::string(); }

const TableRow* find_row(const Table& t, const std::string& method, Placement placement) {
  for (const auto& r : t.rows) {
    if (r.method == method && r.placement == placement) return &r;
  }
  return nullptr;
}

std::string gflops_text(const Cost& c, const char* format, const char* none) {
  return c.gflops ? fmt::format(format, *c.gflops) : std::string(none);
}

}  // namespace

std::string table_markdown(const Table& t) {
  auto gain_cell = [&t](const TableRow* r, const std::string& method, Placement placement) {
    const int64_t diverged = diverged_count(t, method, placement);
    if (r == nullptr) return diverged > 0 ? fmt::format("diverged ({} of {} runs)", diverged, diverged) : std::string("–");
    return fmt::format("{} ({}){}", cell(r->miou), gain_text(*r), diverged_note(diverged));
  };
  const int64_t baseline_diverged = diverged_count(t, "", Placement::kLogit);
  std::string md = fmt::format(
      "mIoU (%) on {} ({}), mean ± sample std over seeds (n = 1: one run, no spread known); gain over "
      "the baseline student in brackets, in bold where its 95% confidence interval excludes zero.\n\n",
      t.protocol.dataset.value("name", "?"), t.protocol.eval_split);
  md += "| Method | Complexity | Feature map mIoU | Logit map mIoU |\n|---|---|---|---|\n";
  for (const auto* net : {&t.teacher, &t.student}) {
    const std::string note = net == &t.student ? diverged_note(baseline_diverged) : "";
    md += fmt::format("| {} {} | – | {}{} | {}{} |\n", net == &t.teacher ? "Teacher" : "Student",
                      net->model.description, cell(net->miou), note, cell(net->miou), note);
  }
  for (const auto& m : methods_of(t)) {
    const auto* f = find_row(t, m, Placement::kFeature);
    const auto* l = find_row(t, m, Placement::kLogit);
    const TableRow* any = f ? f : l;
    md += fmt::format("| {} | {} | {} | {} |\n", title_of(m), any ? any->complexity : "–",
                      gain_cell(f, m, Placement::kFeature), gain_cell(l, m, Placement::kLogit));
  }
  md += "\nStatistics over seeds: 95% intervals of the mean from Student's t; each gain against the baseline "
        "student by Welch's unequal-variance t-test (two-sided); gap recovered = gain / (teacher − "
        "student).\n\n";
  md += "| Network / method | Map | n | mIoU mean | std | mean 95% CI | gain | gain 95% CI | p (Welch) | gap recovered |\n";
  md += "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto* net : {&t.teacher, &t.student}) {
    const auto& m = net->miou;
    md += fmt::format("| {} | – | {}{} | {:.2f} | {} | {} | – | – | – | – |\n",
                      net == &t.teacher ? "Teacher" : "Student (baseline)", m.n,
                      net == &t.student && baseline_diverged > 0 ? fmt::format(" (+{} diverged)", baseline_diverged) : "",
                      m.mean,
                      m.std ? fmt::format("{:.2f}", *m.std) : std::string("unknown (n = 1)"),
                      interval_text(m.ci95, "–"));
  }
  for (const auto& r : t.rows) {
    const auto& m = r.miou;
    const auto& v = r.versus;
    md += fmt::format("| {} | {} | {}{} | {:.2f} | {} | {} | {} | {} | {} | {} |\n", title_of(r.method),
                      to_string(r.placement), m.n,
                      r.diverged > 0 ? fmt::format(" (+{} diverged)", r.diverged) : "", m.mean,
                      m.std ? fmt::format("{:.2f}", *m.std) : std::string("unknown (n = 1)"),
                      interval_text(m.ci95, "–"), gain_text(r), interval_text(v.gain_ci95, "unknown"),
                      p_text(v.p_value),
                      v.gap_fraction ? fmt::format("{:.0f}%", 100.0 * *v.gap_fraction) : std::string("–"));
  }
  for (const auto& a : t.paper_agreement) {
    md += fmt::format("{}Ranking of the methods on the {} map against the paper's (Cityscapes): Kendall's τ-b = {} "
                      "over {} methods (1: same order, 0: unrelated, −1: reversed).\n",
                      &a == &t.paper_agreement.front() ? "\n" : "", to_string(a.placement),
                      a.kendall_tau ? fmt::format("{:.2f}", *a.kendall_tau) : std::string("unknown"), a.methods);
  }
  if (!t.diverged.empty()) {
    md += fmt::format("\n**{} run{} diverged** (a loss or weight went non-finite; left out of every statistic above):\n\n",
                      t.diverged.size(), t.diverged.size() == 1 ? "" : "s");
    for (const auto& d : t.diverged) {
      md += fmt::format("- {}: {}, seed {}, {}\n", d.record,
                        d.method.empty() ? std::string("baseline student")
                                         : fmt::format("{} on the {} map", title_of(d.method), to_string(d.placement)),
                        d.seed, d.divergence.text());
    }
  }
  md += "\nMeasured cost of the distillation term (inside the runs; mean over seeds):\n\n";
  md += "| Method | Map | ms/iter (fwd+bwd) | peak extra MiB | extra params | GFLOPs | run wall s |\n";
  md += "|---|---|---|---|---|---|---|\n";
  for (const auto& r : t.rows) {
    const auto& c = r.cost;
    md += fmt::format("| {} | {} | {:.2f} | {:.2f} | {} | {} | {:.0f} |\n", title_of(r.method),
                      to_string(r.placement), c.ms_per_iter,
                      static_cast<double>(c.peak_bytes) / (1024.0 * 1024.0), c.extra_params,
                      gflops_text(c, "{:.4f}", "–"), r.wall_s);
  }
  return md;
}

std::string table_csv(const Table& t) {
  std::string csv =
      "method,placement,miou_mean,miou_std,n,miou_ci_low,miou_ci_high,gain,gain_ci_low,gain_ci_high,p_value,"
      "welch_df,gap_fraction,complexity,ms_per_iter,peak_bytes,extra_params,gflops,wall_s,diverged\n";
  for (const auto* net : {&t.teacher, &t.student}) {
    const auto& m = net->miou;
    csv += fmt::format("{},,{:.4f},{},{},{},,,,,,,,,,,,,{}\n", net == &t.teacher ? "teacher" : "student", m.mean,
                       csv_number(m.std), m.n, csv_interval(m.ci95),
                       net == &t.teacher ? 0 : diverged_count(t, "", Placement::kLogit));
  }
  for (const auto& r : t.rows) {
    const auto& c = r.cost;
    const auto& v = r.versus;
    csv += fmt::format("{},{},{:.4f},{},{},{},{:.4f},{},{},{},{},\"{}\",{:.4f},{},{},{},{:.1f},{}\n", r.method,
                       to_string(r.placement), r.miou.mean, csv_number(r.miou.std), r.miou.n,
                       csv_interval(r.miou.ci95), r.gain, csv_interval(v.gain_ci95), csv_number(v.p_value),
                       csv_number(v.welch_df), csv_number(v.gap_fraction), r.complexity, c.ms_per_iter,
                       c.peak_bytes, c.extra_params, gflops_text(c, "{:.6f}", ""), r.wall_s, r.diverged);
  }
  return csv;
}

std::string table_latex(const Table& t) {
  std::string tex = "\\begin{tabular}{llcc}\n\\toprule\nMethod & Complexity & Feature map mIoU & Logit map mIoU \\\\\n\\midrule\n";
  tex += fmt::format("Teacher & -- & {:.2f} & {:.2f} \\\\\n", t.teacher.miou.mean, t.teacher.miou.mean);
  tex += fmt::format("Student & -- & {:.2f} & {:.2f} \\\\\n", t.student.miou.mean, t.student.miou.mean);
  for (const auto& m : methods_of(t)) {
    const auto* f = find_row(t, m, Placement::kFeature);
    const auto* l = find_row(t, m, Placement::kLogit);
    const TableRow* any = l ? l : f;
    tex += fmt::format("{} & {} & {} & {} \\\\\n", title_of(m), any ? any->complexity : "--", tex_cell(f), tex_cell(l));
  }
  tex += "\\bottomrule\n\\end{tabular}\n";
  return tex;
}

void write_tables(const Table& table, const std::string& dir, bool latex) {
  // Everything is rendered before the first file is written: a table that cannot be rendered
  // leaves the folder as it was.
  const fs::path d(dir);
  std::vector<std::pair<std::string, std::string>> files = {
      {"table.json", nlohmann::json(table).dump(2) + "\n"},
      {"table.md", table_markdown(table)},
      {"table.csv", table_csv(table)}};
  if (latex) files.emplace_back("table.tex", table_latex(table));
  for (const auto& [name, text] : files) check_replaceable((d / name).string());
  for (const auto& [name, text] : files) write_text_atomic((d / name).string(), text);
}

}  // namespace cwd::train
