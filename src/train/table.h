#pragma once
// The comparison table, built only from run records: a plain struct (schema cwd-bench/table/2)
// written as JSON, and rendered as Markdown laid out like the paper's table, CSV and LaTeX.
// Statistics over seeds follow docs/statistics.md.

#include "src/core/stats.h"
#include "src/train/record.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cwd::train {

inline constexpr const char* kTableSchema = "cwd-bench/table/2";

/// Mean over seeds, sample standard deviation (n − 1) and the 95% t interval of the mean; the
/// spread and the interval are unknown (nullopt, null in JSON) for a single run.
struct Stat {
  double mean = 0;
  int64_t n = 0;
  std::optional<double> std;
  std::optional<stats::Interval> ci95;
  static Stat of(const std::vector<double>& values);
};

/// A method's row against the baseline student: Welch's t-test over seeds and the share of the
/// teacher–student gap it recovers. Unknown parts stay nullopt (n < 2 on either side, no
/// spread at all, or a teacher that does not lead).
struct VersusStudent {
  std::optional<stats::Interval> gain_ci95;
  std::optional<double> p_value;   ///< two-sided
  std::optional<double> welch_df;  ///< Welch–Satterthwaite degrees of freedom
  std::optional<double> gap_fraction;
  /// The gain's 95% interval excludes zero.
  bool significant() const { return gain_ci95 && gain_ci95->excludes_zero(); }
};

/// The teacher or the baseline student: mIoU over its runs and its architecture.
struct NetSummary {
  Stat miou;
  ModelInfo model;
};

/// The distillation term's measured cost (means over the row's runs).
struct Cost {
  double ms_per_iter = 0;
  int64_t peak_bytes = 0;
  int64_t extra_params = 0;
  std::optional<double> gflops;
};

/// One method on one map.
struct TableRow {
  std::string method;
  Placement placement = Placement::kLogit;
  std::string title;
  Stat miou;
  double gain = 0;  ///< mean minus the baseline student's mean
  VersusStudent versus;
  std::string complexity;
  nlohmann::json options;
  Cost cost;
  double wall_s = 0;
  std::optional<double> paper_miou;  ///< the paper's Cityscapes number for this cell
  int64_t diverged = 0;  ///< runs of this row that diverged (not in miou; listed in Table::diverged)
};

/// A run whose training went non-finite: left out of every statistic, listed on its own.
struct DivergedRun {
  std::string record;  ///< file name
  std::string method;  ///< loss key; "" for the baseline student
  Placement placement = Placement::kLogit;
  uint64_t seed = 0;
  Divergence divergence;
};

/// How the table's runs were made.
struct TableProtocol {
  std::string preset;
  nlohmann::json dataset;  ///< the training split's identity
  std::string eval_split;
  Schedule student_schedule;
  std::vector<uint64_t> seeds;
  std::vector<std::string> records;  ///< record file names
};

/// How the methods' ranking on one map agrees with the paper's Cityscapes ranking.
struct PaperAgreement {
  Placement placement = Placement::kLogit;
  int64_t methods = 0;                ///< rows that have a paper number
  std::optional<double> kendall_tau;  ///< τ-b of our means against the paper's
};

struct Table {
  ToolInfo tool;  ///< the program that wrote the records
  NetSummary teacher;
  NetSummary student;
  std::vector<TableRow> rows;  ///< in the paper's order, then other methods by key
  std::vector<PaperAgreement> paper_agreement;  ///< per map, feature before logit
  TableProtocol protocol;
  std::vector<DivergedRun> diverged;  ///< students that diverged (a row whose runs all did has none)
};

void to_json(nlohmann::json& j, const Table& table);

/// Builds the table from run records. Throws cwd::Error when the records are not one comparison:
/// they mix training data, evaluation data, student architectures or student schedules, hold two
/// runs of one method, map and seed (or two teachers), use a loss this build does not know, or
/// lack a teacher or baseline (a diverged teacher, or baselines that all diverged, count as none).
/// Diverged students are left out of the statistics and listed in Table::diverged.
Table build_table(const std::vector<RunRecord>& records);

std::string table_markdown(const Table& table);
std::string table_csv(const Table& table);
std::string table_latex(const Table& table);

/// Writes DIR/table.json, DIR/table.md, DIR/table.csv (and DIR/table.tex) atomically.
void write_tables(const Table& table, const std::string& dir, bool latex);

}  // namespace cwd::train
