#pragma once
// The numbers behind the report's figures, taken only from a comparison's table and run records
// (docs/report.md). Each figure's data is also written beside it as CSV, so every value drawn
// can be checked against the records.

#include "src/train/record.h"
#include "src/train/table.h"

#include <optional>
#include <string>
#include <vector>

namespace cwd::report {

/// One row of the comparison: a method on a map ("baseline" and "teacher" are rows too where a
/// figure needs them).
struct RowKey {
  std::string method;  ///< loss key; "" for the baseline student, "teacher" for the teacher
  train::Placement placement = train::Placement::kLogit;
  /// "CWD (logit)", "baseline", "teacher".
  std::string label() const;
};

/// Figure 1: mIoU against the distillation term's measured cost.
struct CostPoint {
  RowKey row;
  double ms_per_iter = 0;
  double peak_mib = 0;  ///< peak extra memory of the term, MiB (2^20 bytes)
  train::Stat miou;
};
struct CostFigure {
  std::vector<CostPoint> points;
  train::Stat teacher, baseline;
};

/// Figure 2: gain over the baseline with its 95% interval (Welch).
struct GainRow {
  RowKey row;
  double gain = 0;
  std::optional<stats::Interval> ci95;
  std::optional<double> p_value;
  bool significant = false;
};

/// Figure 3: per-class IoU, mean over each row's (non-diverged) runs.
struct PerClassFigure {
  std::vector<std::string> classes;
  std::vector<RowKey> rows;                 ///< teacher, baseline, then the table's rows
  std::vector<std::vector<double>> iou;     ///< rows × classes; NaN where no run has the class
};

/// Figure 4: training curves, mean and sample standard deviation over seeds at each logged
/// iteration (std 0 for one seed).
struct CurveSeries {
  RowKey row;
  std::vector<double> iterations, ce_mean, ce_std, distill_mean, distill_std;
  int64_t runs = 0;
};

struct FigureData {
  CostFigure cost;
  std::vector<GainRow> gains;
  PerClassFigure per_class;
  std::vector<CurveSeries> curves;  ///< baseline first, then the table's rows
};

/// Builds every figure's data. `records` are the comparison's records (those build_table read).
FigureData figure_data(const train::Table& table, const std::vector<train::RunRecord>& records);

/// The CSV written beside each figure (header line, then one line per value; numbers with up to
/// 17 significant digits so they read back exactly).
std::string cost_csv(const CostFigure& figure);
std::string gain_csv(const std::vector<GainRow>& gains);
std::string per_class_csv(const PerClassFigure& figure);
std::string curves_csv(const std::vector<CurveSeries>& curves);

/// The row of a record: its loss and map, "" for a baseline student, "teacher" for the teacher.
RowKey row_of(const train::RunRecord& record);
bool operator==(const RowKey& a, const RowKey& b);

/// A number as CSV text: shortest exact form, "" for NaN or a missing value.
std::string csv_number(double value);

}  // namespace cwd::report
