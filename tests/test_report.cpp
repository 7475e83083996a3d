// The report: its figure data equal the records' numbers, the channel KL against a direct
// computation, the page has no external resources, and `report` on a smoke comparison writes
// every figure.

#include "src/report/figures.h"
#include "src/report/probe.h"
#include "src/report/report.h"
#include "src/train/table.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using cwd::report::RowKey;
using cwd::train::Placement;

std::vector<cwd::train::RunRecord> quick_records() {
  return cwd::train::read_run_records(std::string(CWD_SOURCE_DIR) + "/results/quick");
}

std::vector<const cwd::train::RunRecord*> runs_of(const std::vector<cwd::train::RunRecord>& records, const RowKey& row) {
  std::vector<const cwd::train::RunRecord*> out;
  for (const auto& r : records) {
    if (cwd::report::row_of(r) == row) out.push_back(&r);
  }
  return out;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (const double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// CSV line → fields (no quoted fields in these files).
std::map<std::string, std::vector<std::string>> csv_rows(const std::string& text, std::vector<std::string>& header) {
  std::map<std::string, std::vector<std::string>> out;
  std::istringstream in(text);
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream ls(line);
    std::string f;
    while (std::getline(ls, f, ',')) fields.push_back(f);
    if (!line.empty() && line.back() == ',') fields.push_back("");
    if (first) {
      header = fields;
      first = false;
    } else {
      out[fields.at(0)] = fields;
    }
  }
  return out;
}

TEST(Report, FigureDataAndCsvEqualTheRecords) {
  const auto records = quick_records();
  const auto table = cwd::train::build_table(records);
  const auto data = cwd::report::figure_data(table, records);
  const RowKey cwd{"cwd", Placement::kLogit}, baseline{"", Placement::kLogit};

  // Figure 1: each point's mIoU is the mean of its records; its cost the table's.
  ASSERT_EQ(data.cost.points.size(), table.rows.size());
  for (const auto& p : data.cost.points) {
    std::vector<double> miou;
    for (const auto* r : runs_of(records, p.row)) miou.push_back(r->eval.miou);
    ASSERT_EQ(miou.size(), 3u) << p.row.label();
    EXPECT_NEAR(p.miou.mean, mean(miou), 1e-12) << p.row.label();
    double ms = 0;
    for (const auto* r : runs_of(records, p.row)) ms += r->loss->ms_per_iter / 3.0;
    EXPECT_NEAR(p.ms_per_iter, ms, 1e-9) << p.row.label();
  }
  std::vector<std::string> header;
  const auto cost = csv_rows(cwd::report::cost_csv(data.cost), header);
  EXPECT_EQ(header.at(3), "ms_per_iter");
  EXPECT_EQ(header.at(5), "miou_mean");
  const auto& p0 = data.cost.points.front();
  EXPECT_EQ(std::stod(cost.at(p0.row.label()).at(5)), p0.miou.mean);  // exact: shortest round-trip text
  EXPECT_EQ(std::stod(cost.at("teacher").at(5)), table.teacher.miou.mean);
  EXPECT_EQ(std::stod(cost.at("baseline").at(5)), table.student.miou.mean);

  // Figure 2: gains with the table's intervals.
  const auto gains = csv_rows(cwd::report::gain_csv(data.gains), header);
  for (const auto& row : table.rows) {
    const auto& line = gains.at(RowKey{row.method, row.placement}.label());
    EXPECT_EQ(std::stod(line.at(3)), row.gain);
    ASSERT_TRUE(row.versus.gain_ci95.has_value());
    EXPECT_EQ(std::stod(line.at(4)), row.versus.gain_ci95->low);
    EXPECT_EQ(line.at(7), row.versus.significant() ? "yes" : "no");
  }

  // Figure 3: per-class IoU means, teacher and baseline first.
  const auto& pc = data.per_class;
  ASSERT_GE(pc.rows.size(), 3u);
  EXPECT_EQ(pc.rows[0].label(), "teacher");
  EXPECT_EQ(pc.rows[1].label(), "baseline");
  const auto shirt = std::find(pc.classes.begin(), pc.classes.end(), "shirt") - pc.classes.begin();
  ASSERT_LT(static_cast<size_t>(shirt), pc.classes.size());
  const auto cwd_row = std::find(pc.rows.begin(), pc.rows.end(), cwd) - pc.rows.begin();
  std::vector<double> shirts;
  for (const auto* r : runs_of(records, cwd)) shirts.push_back(r->eval.per_class.at("shirt").get<double>());
  EXPECT_NEAR(pc.iou[static_cast<size_t>(cwd_row)][static_cast<size_t>(shirt)], mean(shirts), 1e-12);
  const auto per_class = csv_rows(cwd::report::per_class_csv(pc), header);
  EXPECT_EQ(header.at(3 + static_cast<size_t>(shirt)), "shirt");
  EXPECT_EQ(std::stod(per_class.at("CWD (logit)").at(3 + static_cast<size_t>(shirt))),
            pc.iou[static_cast<size_t>(cwd_row)][static_cast<size_t>(shirt)]);

  // Figure 4: the baseline's first logged point is the mean of its seeds' first points.
  const auto& curve = data.curves.front();
  EXPECT_EQ(curve.row.label(), "baseline");
  EXPECT_EQ(curve.runs, 3);
  std::vector<double> first_ce;
  for (const auto* r : runs_of(records, baseline)) first_ce.push_back(r->train.curve.at(0).at("ce").get<double>());
  EXPECT_EQ(curve.iterations.front(), records.front().train.curve.at(0).at("iter").get<double>());
  EXPECT_NEAR(curve.ce_mean.front(), mean(first_ce), 1e-12);
  EXPECT_TRUE(std::isnan(curve.distill_mean.front()));  // the baseline has no distillation term
  const auto cwd_curve = std::find_if(data.curves.begin(), data.curves.end(), [&](const auto& s) { return s.row == cwd; });
  ASSERT_NE(cwd_curve, data.curves.end());
  std::vector<double> last_distill;
  for (const auto* r : runs_of(records, cwd)) last_distill.push_back(r->train.curve.back().at("distill").get<double>());
  EXPECT_NEAR(cwd_curve->distill_mean.back(), mean(last_distill), 1e-12);
}

TEST(Report, ChannelKlMatchesADirectSumAndIsZeroForTheTeacher) {
  torch::manual_seed(5);
  const auto t = torch::randn({2, 3, 4, 5}, torch::kDouble), s = torch::randn({2, 3, 4, 5}, torch::kDouble);
  EXPECT_NEAR(cwd::report::channel_kl_sum(t, t, 4.0), 0.0, 1e-15);
  const double tau = 2.0;
  double expected = 0;
  for (int64_t n = 0; n < 2; ++n) {
    double per_image = 0;
    for (int64_t c = 0; c < 3; ++c) {
      double zt = 0, zs = 0;
      for (int64_t i = 0; i < 20; ++i) {
        zt += std::exp(t[n][c].flatten()[i].item<double>() / tau);
        zs += std::exp(s[n][c].flatten()[i].item<double>() / tau);
      }
      for (int64_t i = 0; i < 20; ++i) {
        const double pt = std::exp(t[n][c].flatten()[i].item<double>() / tau) / zt;
        const double ps = std::exp(s[n][c].flatten()[i].item<double>() / tau) / zs;
        per_image += pt * std::log(pt / ps);
      }
    }
    expected += per_image / 3;
  }
  EXPECT_NEAR(cwd::report::channel_kl_sum(t, s, tau), expected, 1e-12);
  EXPECT_GT(expected, 0);
}

TEST(Report, PageLinksOnlyLocalFilesAndEveryFigure) {
  const auto records = quick_records();
  const auto table = cwd::train::build_table(records);
  cwd::report::ProbeResult probe;
  const std::vector<std::string> figures = {"fig1-miou-vs-cost", "fig2-gain", "fig3-per-class-iou"};
  const std::string html = cwd::report::report_html(table, probe, figures, {"a <note>"});
  for (const auto& f : figures) EXPECT_NE(html.find("<img src=\"" + f + ".png\""), std::string::npos) << f;
  EXPECT_EQ(html.find("fig4-training-curves"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("a &lt;note&gt;"), std::string::npos);
  EXPECT_NE(html.find("CWD (logit)"), std::string::npos);
}

#ifdef CWD_BENCH_EXE
TEST(Report, SmokeComparisonGetsEveryFigure) {
  cwd::testing::TempDir dir("report");
  const auto made = cwd::testing::run_cli("compare --preset smoke --threads 2 --out " + dir.str());
  ASSERT_EQ(made.code, 0) << made.output;
  const fs::path report = dir.path() / "report";
  for (const char* stem : {"fig1-miou-vs-cost", "fig2-gain", "fig3-per-class-iou", "fig4-training-curves",
                           "fig5-predictions", "fig6-channel-distributions"}) {
    for (const char* ext : {".png", ".svg", ".csv"}) {
      const fs::path file = report / (std::string(stem) + ext);
      EXPECT_TRUE(fs::is_regular_file(file) && fs::file_size(file) > 100) << file;
    }
  }
  std::ifstream in(report / "channel-kl.csv");
  std::string header, line;
  std::getline(in, header);
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 9);  // the baseline and the eight methods, one seed each
  EXPECT_NE(made.output.find("report: 6 figures"), std::string::npos) << made.output;
  // Without weights (as committed results are) the page still has figures 1-4 and says why not 5-6.
  fs::remove_all(dir.path() / "weights");
  const auto again = cwd::testing::run_cli("report " + dir.str());
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("Figures 5 and 6 and the channel-KL column are missing"), std::string::npos)
      << again.output;
}
#endif

}  // namespace
