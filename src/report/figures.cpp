#include "src/report/figures.h"

#include "losses/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>

namespace cwd::report {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool usable(const train::RunRecord& r) { return !r.diverged.has_value(); }

std::string ci_low(const std::optional<stats::Interval>& ci) { return ci ? csv_number(ci->low) : ""; }
std::string ci_high(const std::optional<stats::Interval>& ci) { return ci ? csv_number(ci->high) : ""; }
std::string opt_number(const std::optional<double>& v) { return v ? csv_number(*v) : ""; }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string row_fields(const RowKey& row) {
  return fmt::format("{},{},{}", csv_field(row.label()), row.method.empty() ? "baseline" : row.method,
                     row.method.empty() || row.method == "teacher" ? "" : train::to_string(row.placement));
}

// The curve of one record: iteration → (ce, distill).
struct CurvePoint {
  double ce = kNaN, distill = kNaN;
};
std::map<int64_t, CurvePoint> curve_of(const train::RunRecord& r) {
  std::map<int64_t, CurvePoint> out;
  for (const auto& p : r.train.curve) {
    if (!p.is_object() || !p.contains("iter")) continue;
    CurvePoint c;
    if (p.contains("ce") && p.at("ce").is_number()) c.ce = p.at("ce").get<double>();
    if (p.contains("distill") && p.at("distill").is_number()) c.distill = p.at("distill").get<double>();
    out[p.at("iter").get<int64_t>()] = c;
  }
  return out;
}

void mean_std(const std::vector<double>& v, double& mean, double& std) {
  if (v.empty()) {
    mean = std = kNaN;
    return;
  }
  const auto s = stats::describe(v);
  mean = s.mean;
  std = s.std.value_or(0.0);
}

CurveSeries curve_series(const RowKey& row, const std::vector<const train::RunRecord*>& runs) {
  CurveSeries s;
  s.row = row;
  s.runs = static_cast<int64_t>(runs.size());
  std::map<int64_t, std::vector<double>> ce, distill;
  for (const auto* r : runs) {
    for (const auto& [it, p] : curve_of(*r)) {
      if (std::isfinite(p.ce)) ce[it].push_back(p.ce);
      if (std::isfinite(p.distill)) distill[it].push_back(p.distill);
    }
  }
  for (const auto& [it, values] : ce) {
    s.iterations.push_back(static_cast<double>(it));
    double m = 0, sd = 0;
    mean_std(values, m, sd);
    s.ce_mean.push_back(m);
    s.ce_std.push_back(sd);
    const auto d = distill.find(it);
    mean_std(d == distill.end() ? std::vector<double>{} : d->second, m, sd);
    s.distill_mean.push_back(m);
    s.distill_std.push_back(sd);
  }
  return s;
}

}  // namespace

std::string RowKey::label() const {
  if (method.empty()) return "baseline";
  if (method == "teacher") return "teacher";
  return fmt::format("{} ({})", losses::display_name(method), train::to_string(placement));
}

bool operator==(const RowKey& a, const RowKey& b) {
  return a.method == b.method && (a.method.empty() || a.method == "teacher" || a.placement == b.placement);
}

RowKey row_of(const train::RunRecord& record) {
  if (record.role == train::Role::kTeacher) return {"teacher", train::Placement::kLogit};
  if (record.config.loss.empty()) return {"", train::Placement::kLogit};
  return {record.config.loss, record.config.placement};
}

std::string csv_number(double value) {
  if (!std::isfinite(value)) return "";
  return fmt::format("{}", value);  // fmt prints the shortest text that reads back exactly
}

FigureData figure_data(const train::Table& table, const std::vector<train::RunRecord>& records) {
  FigureData d;
  const RowKey teacher{"teacher", train::Placement::kLogit}, baseline{"", train::Placement::kLogit};

  d.cost.teacher = table.teacher.miou;
  d.cost.baseline = table.student.miou;
  for (const auto& row : table.rows) {
    const RowKey key{row.method, row.placement};
    if (row.miou.n == 0) continue;  // every run of the row diverged: nothing to draw
    d.cost.points.push_back({key, row.cost.ms_per_iter,
                             static_cast<double>(row.cost.peak_bytes) / (1024.0 * 1024.0), row.miou});
    d.gains.push_back({key, row.gain, row.versus.gain_ci95, row.versus.p_value, row.versus.significant()});
  }

  // Rows in the order the figures show them, and each row's usable runs.
  std::vector<RowKey> order = {teacher, baseline};
  for (const auto& row : table.rows) order.push_back({row.method, row.placement});
  std::vector<std::vector<const train::RunRecord*>> runs(order.size());
  for (const auto& r : records) {
    if (!usable(r)) continue;
    const RowKey key = row_of(r);
    const auto it = std::find(order.begin(), order.end(), key);
    if (it != order.end()) runs[static_cast<size_t>(it - order.begin())].push_back(&r);
  }

  // Per-class IoU: the class names of the first usable record (build_table checked that all
  // records evaluated the same data).
  for (const auto& group : runs) {
    if (!group.empty()) {
      d.per_class.classes = group.front()->dataset.class_names;
      break;
    }
  }
  for (size_t i = 0; i < order.size(); ++i) {
    if (runs[i].empty()) continue;
    d.per_class.rows.push_back(order[i]);
    std::vector<double> values;
    for (const auto& name : d.per_class.classes) {
      std::vector<double> v;
      for (const auto* r : runs[i]) {
        const auto& pc = r->eval.per_class;
        if (pc.contains(name) && pc.at(name).is_number()) v.push_back(pc.at(name).get<double>());
      }
      values.push_back(v.empty() ? kNaN : stats::describe(v).mean);
    }
    d.per_class.iou.push_back(std::move(values));
  }

  // Curves: the students only (the teacher trains on another schedule).
  for (size_t i = 1; i < order.size(); ++i) {
    if (!runs[i].empty()) d.curves.push_back(curve_series(order[i], runs[i]));
  }
  return d;
}

std::string cost_csv(const CostFigure& f) {
  std::string out = "row,method,placement,ms_per_iter,peak_mib,miou_mean,miou_ci95_low,miou_ci95_high,runs\n";
  for (const auto& p : f.points) {
    out += fmt::format("{},{},{},{},{},{},{}\n", row_fields(p.row), csv_number(p.ms_per_iter),
                       csv_number(p.peak_mib), csv_number(p.miou.mean), ci_low(p.miou.ci95),
                       ci_high(p.miou.ci95), p.miou.n);
  }
  // The reference lines: no cost of their own.
  const auto reference = [&](const RowKey& row, const train::Stat& s) {
    out += fmt::format("{},,,{},{},{},{}\n", row_fields(row), csv_number(s.mean), ci_low(s.ci95), ci_high(s.ci95), s.n);
  };
  reference({"teacher", {}}, f.teacher);
  reference({"", {}}, f.baseline);
  return out;
}

std::string gain_csv(const std::vector<GainRow>& gains) {
  std::string out = "row,method,placement,gain,gain_ci95_low,gain_ci95_high,p_value,significant\n";
  for (const auto& g : gains) {
    out += fmt::format("{},{},{},{},{},{}\n", row_fields(g.row), csv_number(g.gain), ci_low(g.ci95),
                       ci_high(g.ci95), opt_number(g.p_value), g.significant ? "yes" : "no");
  }
  return out;
}

std::string per_class_csv(const PerClassFigure& f) {
  std::string out = "row,method,placement";
  for (const auto& c : f.classes) out += "," + csv_field(c);
  out += "\n";
  for (size_t i = 0; i < f.rows.size(); ++i) {
    out += row_fields(f.rows[i]);
    for (const double v : f.iou[i]) out += "," + csv_number(v);
    out += "\n";
  }
  return out;
}

std::string curves_csv(const std::vector<CurveSeries>& curves) {
  std::string out = "row,method,placement,iteration,ce_mean,ce_std,distill_mean,distill_std,runs\n";
  for (const auto& s : curves) {
    for (size_t i = 0; i < s.iterations.size(); ++i) {
      out += fmt::format("{},{},{},{},{},{},{}\n", row_fields(s.row), csv_number(s.iterations[i]),
                         csv_number(s.ce_mean[i]), csv_number(s.ce_std[i]), csv_number(s.distill_mean[i]),
                         csv_number(s.distill_std[i]), s.runs);
    }
  }
  return out;
}

}  // namespace cwd::report
