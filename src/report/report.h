#pragma once
// `cwd-bench report DIR`: DIR/report/ with index.html (self-contained, offline), each figure as
// PNG and SVG with its data as CSV, and the comparison table with the channel-KL column, built
// only from the run records and weights in DIR (docs/report.md).

#include "src/report/probe.h"

#include <string>
#include <vector>

namespace cwd::report {

struct ReportOptions {
  ProbeOptions probe;
  int threads = 0;  ///< 0: all cores
};

struct ReportSummary {
  std::string index;                 ///< DIR/report/index.html
  std::vector<std::string> figures;  ///< stems written, in page order
  std::vector<std::string> notes;    ///< what could not be drawn, and why
  double seconds = 0;
};

/// Writes DIR/report/. Throws cwd::Error when DIR's records are not one comparison (as
/// `compare --from`) or the build cannot draw figures (naming the package to install).
ReportSummary write_report(const std::string& dir, const ReportOptions& options);

/// The HTML of the page (no scripts, no external resources; the figures are files beside it).
std::string report_html(const train::Table& table, const ProbeResult& probe, const std::vector<std::string>& figures,
                        const std::vector<std::string>& notes);

}  // namespace cwd::report
