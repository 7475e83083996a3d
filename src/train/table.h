#pragma once
// The comparison table, built only from run records: JSON (schema cwd-bench/table/1), Markdown
// laid out like the paper's table, CSV and LaTeX.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace cwd::train {

/// Reads every run record (schema cwd-bench/run/1) directly in `dir`. Throws cwd::Error when
/// there are none.
std::vector<nlohmann::json> read_run_records(const std::string& dir);

/// Builds the table from run records: teacher and student {mean, std, n}, one row per
/// method × placement with miou {mean, std, n}, gain, complexity and measured cost. std is the
/// sample standard deviation (n − 1), 0 for a single run. Throws cwd::Error when the records
/// mix datasets or student architectures, or lack a teacher or baseline.
nlohmann::json build_table(const std::vector<nlohmann::json>& records);

std::string table_markdown(const nlohmann::json& table);
std::string table_csv(const nlohmann::json& table);
std::string table_latex(const nlohmann::json& table);

/// Writes DIR/table.json, DIR/table.md, DIR/table.csv (and DIR/table.tex) atomically.
void write_tables(const nlohmann::json& table, const std::string& dir, bool latex);

}  // namespace cwd::train
