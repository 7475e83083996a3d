#pragma once
// The comparison table, built only from run records: a plain struct (schema cwd-bench/table/1)
// written as JSON, and rendered as Markdown laid out like the paper's table, CSV and LaTeX.

#include "src/train/record.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cwd::train {

inline constexpr const char* kTableSchema = "cwd-bench/table/1";

/// Mean and sample standard deviation (n − 1; 0 for a single value) over seeds.
struct Stat {
  double mean = 0;
  double std = 0;
  int64_t n = 0;
  static Stat of(const std::vector<double>& values);
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
  std::string complexity;
  nlohmann::json options;
  Cost cost;
  double wall_s = 0;
  std::optional<double> paper_miou;  ///< the paper's Cityscapes number for this cell
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

struct Table {
  ToolInfo tool;  ///< the program that wrote the records
  NetSummary teacher;
  NetSummary student;
  std::vector<TableRow> rows;  ///< in the paper's order, then other methods by key
  TableProtocol protocol;
};

void to_json(nlohmann::json& j, const Table& table);

/// Builds the table from run records. Throws cwd::Error when the records mix datasets or
/// student architectures, or lack a teacher or baseline.
Table build_table(const std::vector<RunRecord>& records);

std::string table_markdown(const Table& table);
std::string table_csv(const Table& table);
std::string table_latex(const Table& table);

/// Writes DIR/table.json, DIR/table.md, DIR/table.csv (and DIR/table.tex) atomically.
void write_tables(const Table& table, const std::string& dir, bool latex);

}  // namespace cwd::train
