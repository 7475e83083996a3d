#pragma once
// The report's figures, drawn with PLplot (cairo driver: PNG for the page, SVG for papers) and,
// for the predictions grid, OpenCV. Each figure is written as <stem>.png and <stem>.svg, each
// file atomically (docs/report.md).

#include "src/report/figures.h"
#include "src/report/probe.h"

#include <string>
#include <vector>

namespace cwd::report {

/// Whether this build can draw figures; otherwise `why` names the fix.
bool can_plot(std::string& why);
/// Whether this build can draw the predictions grid (OpenCV).
bool can_draw_images(std::string& why);

void plot_cost(const CostFigure& figure, const std::string& stem);
void plot_gain(const std::vector<GainRow>& gains, const std::string& stem);
void plot_per_class(const PerClassFigure& figure, const std::string& stem);
void plot_curves(const std::vector<CurveSeries>& curves, const std::string& stem);
void plot_channels(const ChannelMaps& maps, const std::string& stem);
/// Figure 5: PNG, and an SVG that embeds it (the grid is a raster image).
void draw_predictions(const Predictions& predictions, const std::string& stem);

}  // namespace cwd::report
