#include "src/report/report.h"

#include "src/core/error.h"
#include "src/core/files.h"
#include "src/core/json_io.h"
#include "src/core/threads.h"
#include "src/report/plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

namespace cwd::report {

namespace fs = std::filesystem;

namespace {

struct FigureInfo {
  const char* stem;
  const char* title;
  const char* caption;
};

const FigureInfo kFigures[] = {
    {"fig1-miou-vs-cost", "1. mIoU against the cost of the distillation term",
     "Each point is one method on one map: its mean mIoU over seeds with the 95% confidence interval, against "
     "the distillation term's own forward + backward time per iteration (left) and its peak extra memory "
     "(right), both measured inside the runs. The thin grey line is the teacher, the black dashed line and grey band the "
     "baseline student and its 95% interval."},
    {"fig2-gain", "2. Gain over the baseline student",
     "Mean mIoU minus the baseline's, with the 95% interval of Welch's t-test over seeds. Coloured: the "
     "interval excludes zero; grey: it does not (or there is one seed)."},
    {"fig3-per-class-iou", "3. Per-class IoU",
     "IoU of every class on the evaluation split, mean over each row's seeds: which classes a method helps."},
    {"fig4-training-curves", "4. Training curves",
     "The task loss (cross-entropy of the main head) and the weighted distillation term at each logged "
     "iteration, mean over seeds with a band of one standard deviation."},
    {"fig5-predictions", "5. Predictions",
     "The first validation images, their ground truth, and the prediction of the teacher, the baseline and each "
     "method's student (its lowest seed), in the class palette below the grid."},
    {"fig6-channel-distributions", "6. Channel distributions",
     "For one validation image, the spatial softmax (temperature τ of the CWD loss) of a few channels of the "
     "logit map: where each network puts a class's mass. CWD trains the student to match the teacher's "
     "distributions; the KL column of the table measures how closely each student's channels follow the "
     "teacher's over the whole split."},
};

std::string html_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string fixed(double v, int digits = 2) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : "–"; }

std::string stat_text(const train::Stat& s) {
  if (s.n == 0) return "–";
  return s.std ? fmt::format("{:.2f} ± {:.2f}", s.mean, *s.std) : fmt::format("{:.2f}", s.mean);
}

std::string ci_text(const std::optional<stats::Interval>& ci) {
  return ci ? fmt::format("[{:.2f}, {:.2f}]", ci->low, ci->high) : "–";
}

const ChannelKl* kl_of(const ProbeResult& probe, const RowKey& row) {
  for (const auto& k : probe.kl) {
    if (k.row == row) return &k;
  }
  return nullptr;
}

std::string kl_text(const ProbeResult& probe, const RowKey& row) {
  const auto* k = kl_of(probe, row);
  if (k == nullptr) return "–";
  return k->kl.std ? fmt::format("{:.4f} ± {:.4f}", k->kl.mean, *k->kl.std) : fmt::format("{:.4f}", k->kl.mean);
}

std::string table_html(const train::Table& t, const ProbeResult& probe) {
  std::string out =
      "<table>\n<thead><tr><th>row</th><th>mIoU (mean ± std)</th><th>n</th><th>95% CI</th><th>gain</th>"
      "<th>gain 95% CI</th><th>p</th><th>ms / iter</th><th>peak MiB</th><th>extra params</th>"
      "<th>channel KL to teacher</th></tr></thead>\n<tbody>\n";
  const auto net_row = [&](const std::string& name, const train::NetSummary& s, const RowKey& key) {
    out += fmt::format("<tr class=\"ref\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td></td><td></td><td></td>"
                       "<td></td><td></td><td></td><td>{}</td></tr>\n",
                       name, stat_text(s.miou), s.miou.n, ci_text(s.miou.ci95),
                       key.method == "teacher" ? "0" : kl_text(probe, key));
  };
  net_row("teacher", t.teacher, {"teacher", {}});
  net_row("baseline student", t.student, {"", {}});
  for (const auto& r : t.rows) {
    const RowKey key{r.method, r.placement};
    const bool sig = r.versus.significant();
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td class=\"{}\">{:+.2f}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        html_escape(key.label()), stat_text(r.miou), r.miou.n, r.diverged ? fmt::format(" (+{} diverged)", r.diverged) : "",
        ci_text(r.miou.ci95), sig ? (r.gain > 0 ? "up" : "down") : "", r.gain, ci_text(r.versus.gain_ci95),
        !r.versus.p_value ? "–" : *r.versus.p_value < 0.001 ? "&lt; 0.001" : fmt::format("{:.3f}", *r.versus.p_value), fixed(r.cost.ms_per_iter, 3),
        fixed(static_cast<double>(r.cost.peak_bytes) / (1024.0 * 1024.0), 2), r.cost.extra_params, kl_text(probe, key));
  }
  return out + "</tbody>\n</table>\n";
}

std::string kl_csv(const ProbeResult& probe) {
  std::string out = "row,method,placement,channel_kl_mean,channel_kl_std,runs,tau\n";
  for (const auto& k : probe.kl) {
    out += fmt::format("{},{},{},{},{},{},{}\n", k.row.label(), k.row.method.empty() ? "baseline" : k.row.method,
                       k.row.method.empty() ? "" : train::to_string(k.row.placement), csv_number(k.kl.mean),
                       k.kl.std ? csv_number(*k.kl.std) : "", k.kl.n, csv_number(probe.channels.tau));
  }
  return out;
}

// Pixel accuracy of each shown prediction against its ground truth (figure 5's data).
std::string predictions_csv(const Predictions& p) {
  std::string out = "row,image,pixel_accuracy\n";
  for (size_t r = 0; r < p.rows.size(); ++r) {
    for (size_t i = 0; i < p.truth.size(); ++i) {
      const auto valid = p.truth[i] != static_cast<int64_t>(p.ignore_index);
      const double n = valid.sum().item<double>();
      const double hit = (p.predicted[r][i].eq(p.truth[i]) & valid).sum().item<double>();
      out += fmt::format("{},{},{}\n", p.rows[r], i, n > 0 ? csv_number(100.0 * hit / n) : "");
    }
  }
  return out;
}

std::string channels_csv(const ChannelMaps& m) {
  std::string out = "net,channel,class,y,x,probability\n";
  for (size_t n = 0; n < m.nets.size(); ++n) {
    for (size_t c = 0; c < m.channels.size(); ++c) {
      const auto map = m.maps[n][c].to(torch::kDouble).contiguous();
      const double* v = map.data_ptr<double>();
      for (int64_t y = 0; y < map.size(0); ++y) {
        for (int64_t x = 0; x < map.size(1); ++x) {
          out += fmt::format("{},{},{},{},{},{}\n", m.nets[n], m.channels[c], m.channel_names[c], y, x,
                             csv_number(v[y * map.size(1) + x]));
        }
      }
    }
  }
  return out;
}

}  // namespace

std::string report_html(const train::Table& t, const ProbeResult& probe, const std::vector<std::string>& figures,
                        const std::vector<std::string>& notes) {
  std::string page = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>cwd-bench report: {0} comparison</title>\n<style>\n"
      "body {{ font-family: sans-serif; max-width: 1560px; margin: 2em auto; padding: 0 1em; color: #222; }}\n"
      "table {{ border-collapse: collapse; font-size: 0.9em; }}\n"
      "th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}\n"
      "th:first-child, td:first-child {{ text-align: left; }}\n"
      "tr.ref td {{ background: #f4f4f4; }}\n td.up {{ color: #1a7f37; font-weight: bold; }}\n"
      "td.down {{ color: #b42318; font-weight: bold; }}\n"
      "figure {{ margin: 2em 0; }}\n figure img {{ max-width: 100%; border: 1px solid #eee; }}\n"
      "figcaption {{ max-width: 60em; }}\n .files {{ font-size: 0.85em; color: #555; }}\n"
      ".note {{ background: #fff8e1; padding: 0.5em 1em; border-left: 4px solid #f0b400; }}\n"
      "</style>\n</head>\n<body>\n<h1>cwd-bench report: {0} comparison</h1>\n",
      html_escape(t.protocol.preset.empty() ? "custom" : t.protocol.preset));
  page += fmt::format(
      "<p>Built from {} run records by {} {} (commit {}): {} seed{} per row, evaluated on the {} split. "
      "Statistics are over seeds; a gain is significant when its 95% interval excludes zero.</p>\n",
      t.protocol.records.size(), html_escape(t.tool.name), html_escape(t.tool.version),
      html_escape(t.tool.git_commit.substr(0, 12)), t.protocol.seeds.size(), t.protocol.seeds.size() == 1 ? "" : "s",
      html_escape(t.protocol.eval_split));
  for (const auto& note : notes) page += fmt::format("<p class=\"note\">{}</p>\n", html_escape(note));
  page += "<h2>The comparison</h2>\n" + table_html(t, probe);
  page += fmt::format(
      "<p class=\"files\">Channel KL: the mean over validation images and logit-map channels of "
      "KL(teacher ‖ student) between the spatial softmax of each channel at τ = {:g} (nats; 0 = the same "
      "distributions), mean ± std over seeds (<a href=\"channel-kl.csv\">channel-kl.csv</a>). "
      "ms / iter, peak MiB and extra params are the distillation term's own cost.</p>\n",
      probe.channels.tau);
  page += "<h2>Figures</h2>\n";
  for (const auto& info : kFigures) {
    if (std::find(figures.begin(), figures.end(), info.stem) == figures.end()) continue;
    page += fmt::format(
        "<figure id=\"{0}\">\n<h3>{1}</h3>\n<img src=\"{0}.png\" alt=\"{1}\">\n<figcaption>{2} "
        "<span class=\"files\">Files: <a href=\"{0}.png\">PNG</a>, <a href=\"{0}.svg\">SVG</a>, "
        "<a href=\"{0}.csv\">data (CSV)</a>.</span></figcaption>\n</figure>\n",
        info.stem, html_escape(info.title), html_escape(info.caption));
  }
  page += "</body>\n</html>\n";
  return page;
}

namespace {

// The teacher's record: in the folder, or the one the students' records name (a comparison run
// with --teacher), which then heads the table as it did in compare. "" when there is none.
std::string teacher_record_path(const std::string& dir, std::vector<train::RunRecord>& records) {
  for (const auto& r : records) {
    if (r.role == train::Role::kTeacher) return (fs::path(dir) / r.file).string();
  }
  for (const auto& r : records) {
    if (!r.teacher.is_object() || r.teacher.value("source", "") != "record") continue;
    const std::string path = r.teacher.value("record", "");
    std::error_code ec;
    if (path.empty() || !fs::is_regular_file(path, ec)) continue;
    records.push_back(train::read_run_record(path));
    return path;
  }
  return "";
}

}  // namespace

ReportSummary write_report(const std::string& dir, const ReportOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  std::string why;
  if (!can_plot(why)) throw Error(why);
  set_threads(o.threads);
  const FolderLock lock(dir, "report " + dir);
  auto records = train::read_run_records(dir);
  const std::string teacher = teacher_record_path(dir, records);
  const auto table = train::build_table(records);
  const FigureData data = figure_data(table, records);
  const ProbeResult probe_result = probe(dir, teacher, table, records, o.probe);

  ReportSummary summary;
  const fs::path out = fs::path(dir) / "report";
  fs::create_directories(out);
  const auto stem = [&](const char* name) { return (out / name).string(); };
  const auto say = [&](const std::string& line) {
    if (o.probe.progress) o.probe.progress(line);
  };
  say("drawing figures 1-4");
  write_text_atomic(stem("fig1-miou-vs-cost.csv"), cost_csv(data.cost));
  plot_cost(data.cost, stem("fig1-miou-vs-cost"));
  write_text_atomic(stem("fig2-gain.csv"), gain_csv(data.gains));
  plot_gain(data.gains, stem("fig2-gain"));
  write_text_atomic(stem("fig3-per-class-iou.csv"), per_class_csv(data.per_class));
  plot_per_class(data.per_class, stem("fig3-per-class-iou"));
  write_text_atomic(stem("fig4-training-curves.csv"), curves_csv(data.curves));
  plot_curves(data.curves, stem("fig4-training-curves"));
  summary.figures = {"fig1-miou-vs-cost", "fig2-gain", "fig3-per-class-iou", "fig4-training-curves"};

  if (!probe_result.available) {
    summary.notes.push_back("Figures 5 and 6 and the channel-KL column are missing: " + probe_result.note + ".");
  } else {
    if (!probe_result.note.empty()) summary.notes.push_back(probe_result.note + ".");
    say("drawing figures 5-6");
    if (can_draw_images(why)) {
      write_text_atomic(stem("fig5-predictions.csv"), predictions_csv(probe_result.predictions));
      draw_predictions(probe_result.predictions, stem("fig5-predictions"));
      summary.figures.push_back("fig5-predictions");
    } else {
      summary.notes.push_back("Figure 5 is missing: " + why + ".");
    }
    write_text_atomic(stem("fig6-channel-distributions.csv"), channels_csv(probe_result.channels));
    plot_channels(probe_result.channels, stem("fig6-channel-distributions"));
    summary.figures.push_back("fig6-channel-distributions");
    if (probe_result.channels.nets.size() < 3) {
      summary.notes.push_back("Figure 6 has no CWD student: the folder has no CWD run on the logit map with weights.");
    }
  }
  write_text_atomic(stem("channel-kl.csv"), kl_csv(probe_result));
  // A figure not drawn this time must not stay from an earlier report.
  for (const auto& info : kFigures) {
    if (std::find(summary.figures.begin(), summary.figures.end(), info.stem) != summary.figures.end()) continue;
    for (const char* ext : {".png", ".svg", ".csv"}) fs::remove(out / (std::string(info.stem) + ext));
  }
  summary.index = stem("index.html");
  write_text_atomic(summary.index, report_html(table, probe_result, summary.figures, summary.notes));
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace cwd::report
