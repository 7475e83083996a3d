// The report's charts with PLplot (https://plplot.sourceforge.net), through its C API and the
// cairo driver ("pngcairo", "svgcairo"). PLplot keeps one global state: figures are drawn one
// after another, each file opened with plinit and closed with plend.

#include "src/report/plot.h"

#include "src/core/error.h"
#include "src/core/json_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>

#if CWD_BENCH_HAVE_PLPLOT
#include <plplot/plplot.h>
#endif

namespace cwd::report {

#if CWD_BENCH_HAVE_PLPLOT

namespace {

using Rgb = std::array<int, 3>;

// cmap0 entries: 0 is the background, 1 black, 2 grey, 3 light grey, 4.. the methods.
constexpr int kBlack = 1, kGrey = 2, kLight = 3, kFirstMethod = 4;
const Rgb kMethodColours[] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},  {148, 103, 189},
                              {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
constexpr int kMethodColourCount = sizeof(kMethodColours) / sizeof(kMethodColours[0]);

// The same colour for a method in every figure: the paper's six first, other keys after.
int method_colour(const std::string& method) {
  static const std::vector<std::string> known = {"cwd", "at", "pi", "local", "pa", "ifvd", "dist", "mgd"};
  if (method.empty()) return kBlack;
  if (method == "teacher") return kGrey;
  const auto it = std::find(known.begin(), known.end(), method);
  const size_t index = it != known.end() ? static_cast<size_t>(it - known.begin())
                                          : std::hash<std::string>{}(method) % kMethodColourCount;
  return kFirstMethod + static_cast<int>(index % kMethodColourCount);
}

const char* marker(train::Placement p) { return p == train::Placement::kLogit ? "●" : "▲"; }

// Whether PLplot can load the output driver `name` (plgDevs fills caller-sized arrays).
bool device_available(const char* name) {
  std::vector<const char*> menu_buf(64), dev_buf(64);
  const char** menu = menu_buf.data();
  const char** devices = dev_buf.data();
  int count = static_cast<int>(dev_buf.size());
  plgDevs(&menu, &devices, &count);
  for (int i = 0; i < count; ++i) {
    if (devices[i] != nullptr && std::string(devices[i]) == name) return true;
  }
  return false;
}

// After plinit: the palette of every figure (the background was set before it).
void set_colours() {
  plscmap0n(kFirstMethod + kMethodColourCount);
  plscol0(0, 255, 255, 255);
  plscol0(kBlack, 0, 0, 0);
  plscol0(kGrey, 110, 110, 110);
  plscol0(kLight, 200, 200, 200);
  for (int i = 0; i < kMethodColourCount; ++i) {
    plscol0(kFirstMethod + i, kMethodColours[i][0], kMethodColours[i][1], kMethodColours[i][2]);
  }
}

// Draws one figure into <stem>.png and <stem>.svg (width × height pixels).
void render(const std::string& stem, int width, int height, const std::function<void()>& draw) {
  std::string why;
  if (!can_plot(why)) throw Error(why);
  for (const auto& [device, ext] : {std::pair<const char*, const char*>{"pngcairo", ".png"}, {"svgcairo", ".svg"}}) {
    write_file_atomic(stem + ext, [&](const std::string& tmp) {
      plsdev(device);
      plsfnam(tmp.c_str());
      plspage(0, 0, width, height, 0, 0);
      plscolbg(255, 255, 255);
      plinit();
      set_colours();
      pladv(0);
      plschr(0, 0.85);
      plcol0(kBlack);
      draw();
      plend();
    });
  }
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
  // Widened by `fraction` of its span on each side (a span of 0 becomes ±1).
  Range padded(double fraction) const {
    if (empty()) return {0, 1};
    const double span = hi - lo > 0 ? hi - lo : 2.0;
    const double mid = (hi + lo) / 2;
    Range r{lo - span * fraction, hi + span * fraction};
    if (hi - lo <= 0) r = {mid - span / 2 - span * fraction, mid + span / 2 + span * fraction};
    return r;
  }
};

// A legend at the right of the viewport, outside it.
struct Legend {
  std::vector<std::string> text;
  std::vector<PLINT> opt, colour, style, symbol_count;
  std::vector<PLFLT> line_width, symbol_scale;
  std::vector<std::string> symbol;

  void line(const std::string& label, int c, int line_style) { add(label, PL_LEGEND_LINE, c, line_style, ""); }
  void point(const std::string& label, int c, const std::string& glyph) { add(label, PL_LEGEND_SYMBOL, c, 1, glyph); }
  void add(const std::string& label, PLINT kind, int c, int line_style, const std::string& glyph) {
    text.push_back(label);
    opt.push_back(kind);
    colour.push_back(c);
    style.push_back(line_style);
    line_width.push_back(1.5);
    symbol.push_back(glyph);
    symbol_scale.push_back(1.0);
    symbol_count.push_back(1);
  }
  void draw(PLINT position = PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, double x = 0.03, double y = 0.0) const {
    if (text.empty()) return;
    std::vector<const char*> t, s;
    for (const auto& x_text : text) t.push_back(x_text.c_str());
    for (const auto& g : symbol) s.push_back(g.c_str());
    std::vector<PLINT> text_colour(text.size(), kBlack), box(text.size(), 0), pattern(text.size(), 0);
    std::vector<PLFLT> box_scale(text.size(), 0.0), box_width(text.size(), 0.0);
    PLFLT w = 0, h = 0;
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, position, x, y, 0.06, 0, kBlack, 1, 0, 1,
             static_cast<PLINT>(text.size()), opt.data(), 0.8, 0.8, 1.6, 0.0, text_colour.data(), t.data(),
             box.data(), pattern.data(), box_scale.data(), box_width.data(), colour.data(), style.data(),
             line_width.data(), colour.data(), symbol_scale.data(), symbol_count.data(), s.data());
  }
};

void title(const std::string& text) {
  plcol0(kBlack);
  plschr(0, 1.1);
  plmtex("t", 1.6, 0.5, 0.5, text.c_str());
  plschr(0, 0.85);
}

// One panel of figure 1: mIoU against a cost in `x` (log10 scale when every value is positive).
void cost_panel(const CostFigure& f, const std::vector<double>& x, const std::string& xlabel, double vx0, double vx1,
                bool legend) {
  // Log scale when the costs span more than a decade (and all are positive).
  const bool positive = !x.empty() && std::all_of(x.begin(), x.end(), [](double v) { return v > 0; });
  const bool log_x = positive && *std::max_element(x.begin(), x.end()) > 10 * *std::min_element(x.begin(), x.end());
  const auto X = [&](double v) { return log_x ? std::log10(v) : v; };
  Range rx, ry;
  for (const double v : x) rx.add(X(v));
  for (const auto& p : f.points) {
    ry.add(p.miou.mean);
    if (p.miou.ci95) {
      ry.add(p.miou.ci95->low);
      ry.add(p.miou.ci95->high);
    }
  }
  ry.add(f.teacher.mean);
  ry.add(f.baseline.mean);
  const Range wx = rx.padded(0.12), wy = ry.padded(0.08);
  plvpor(vx0, vx1, 0.12, 0.88);
  plwind(wx.lo, wx.hi, wy.lo, wy.hi);
  // Baseline's 95% interval as a band, then the reference lines.
  if (f.baseline.ci95) {
    plscol0a(kLight, 200, 200, 200, 0.5);
    plcol0(kLight);
    const PLFLT bx[] = {wx.lo, wx.hi, wx.hi, wx.lo}, by[] = {f.baseline.ci95->low, f.baseline.ci95->low,
                                                            f.baseline.ci95->high, f.baseline.ci95->high};
    plfill(4, bx, by);
  }
  plwidth(1.5);
  plcol0(kGrey);
  pllsty(2);
  pljoin(wx.lo, f.teacher.mean, wx.hi, f.teacher.mean);
  plcol0(kBlack);
  pllsty(3);
  pljoin(wx.lo, f.baseline.mean, wx.hi, f.baseline.mean);
  pllsty(1);
  plcol0(kBlack);
  plbox(log_x ? "bcnstl" : "bcnst", 0, 0, "bcnstv", 0, 0);
  pllab(xlabel.c_str(), "mIoU (%)", "");
  for (size_t i = 0; i < f.points.size(); ++i) {
    const auto& p = f.points[i];
    const int c = method_colour(p.row.method);
    plcol0(c);
    const PLFLT px = X(x[i]), py = p.miou.mean;
    if (p.miou.ci95) {
      const PLFLT lo = p.miou.ci95->low, hi = p.miou.ci95->high;
      plerry(1, &px, &lo, &hi);
    }
    plstring(1, &px, &py, marker(p.row.placement));
  }
  if (legend) {
    Legend l;
    std::vector<std::string> seen;
    for (const auto& p : f.points) {
      if (std::find(seen.begin(), seen.end(), p.row.label()) != seen.end()) continue;
      seen.push_back(p.row.label());
      l.point(p.row.label(), method_colour(p.row.method), marker(p.row.placement));
    }
    l.line(fmt::format("teacher {:.1f}", f.teacher.mean), kGrey, 2);
    l.line(fmt::format("baseline {:.1f}", f.baseline.mean), kBlack, 3);
    l.draw();
  }
}

// Draws a matrix of values (row 0 at the top) as cells of cmap1, zmin to zmax, over
// [x0, x1] × [y0, y1]; NaN cells stay empty.
void image_of(const std::vector<std::vector<double>>& values, double zmin, double zmax, double x0, double x1,
              double y0, double y1) {
  const size_t rows = values.size(), cols = rows ? values.front().size() : 0;
  if (rows == 0 || cols == 0) return;
  const double w = (x1 - x0) / static_cast<double>(cols), h = (y1 - y0) / static_cast<double>(rows);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) {
      const double v = values[r][c];
      if (!std::isfinite(v)) continue;
      plcol1(std::clamp((v - zmin) / (zmax - zmin), 0.0, 1.0));
      const double left = x0 + c * w, top = y1 - r * h;
      const PLFLT px[] = {left, left + w, left + w, left}, py[] = {top - h, top - h, top, top};
      plfill(4, px, py);
    }
  }
}

void colour_scale(const std::string& label, double zmin, double zmax) {
  const PLINT label_opts[] = {PL_COLORBAR_LABEL_BOTTOM};
  const char* labels[] = {label.c_str()};
  const char* axis[] = {"bcvtm"};
  const PLFLT ticks[] = {0};
  const PLINT sub_ticks[] = {0};
  const PLINT n_values[] = {2};
  const PLFLT range[] = {zmin, zmax};
  const PLFLT* values[] = {range};
  PLFLT w = 0, h = 0;
  plcol0(kBlack);
  plcolorbar(&w, &h, PL_COLORBAR_IMAGE, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.02, 0.0, 0.03, 0.75, 0, kBlack,
             1, 0, 0, 0, 0, 1, label_opts, labels, 1, axis, ticks, sub_ticks, n_values, values);
}

void white_to_blue() {
  const PLFLT pos[] = {0, 1}, r[] = {1.0, 0.03}, g[] = {1.0, 0.19}, b[] = {1.0, 0.42};
  plscmap1n(256);
  plscmap1l(1, 2, pos, r, g, b, nullptr);
}

}  // namespace

bool can_plot(std::string& why) {
  if (!device_available("pngcairo") || !device_available("svgcairo")) {
    why = "PLplot's cairo driver is missing, so the report's figures cannot be drawn; install it with "
          "apt-get install -y plplot-driver-cairo";
    return false;
  }
  return true;
}

void plot_cost(const CostFigure& f, const std::string& stem) {
  std::vector<double> ms, mib;
  for (const auto& p : f.points) {
    ms.push_back(p.ms_per_iter);
    mib.push_back(p.peak_mib);
  }
  render(stem, 1500, 620, [&] {
    cost_panel(f, ms, "distillation term: forward + backward, ms per iteration", 0.07, 0.40, false);
    plcol0(kBlack);
    plschr(0, 1.1);
    plmtex("t", 1.6, 1.1, 0.5, "mIoU against the distillation term's measured cost (95% CI over seeds)");
    plschr(0, 0.85);
    cost_panel(f, mib, "distillation term: peak extra memory, MiB", 0.47, 0.80, true);
  });
}

void plot_gain(const std::vector<GainRow>& gains, const std::string& stem) {
  const int n = static_cast<int>(gains.size());
  render(stem, 1100, 140 + 38 * std::max(n, 2), [&] {
    Range rx;
    rx.add(0);
    for (const auto& g : gains) {
      rx.add(g.gain);
      if (g.ci95) {
        rx.add(g.ci95->low);
        rx.add(g.ci95->high);
      }
    }
    const Range wx = rx.padded(0.08);
    plvpor(0.17, 0.72, 0.14, 0.86);
    plwind(wx.lo, wx.hi, 0.4, n + 0.6);
    plcol0(kGrey);
    pllsty(2);
    pljoin(0, 0.4, 0, n + 0.6);
    pllsty(1);
    plcol0(kBlack);
    plbox("bcnst", 0, 0, "bc", 0, 0);
    pllab("gain over the baseline student, mIoU points", "", "");
    title("Gain over the baseline with its 95% CI (Welch's t over seeds)");
    for (int i = 0; i < n; ++i) {
      const auto& g = gains[static_cast<size_t>(i)];
      const PLFLT y = n - i;  // the first row at the top
      plcol0(kBlack);
      plmtex("lv", 0.8, (y - 0.4) / (n + 0.2), 1.0, g.row.label().c_str());
      plcol0(g.significant ? method_colour(g.row.method) : kGrey);
      const PLFLT x = g.gain;
      if (g.ci95) {
        const PLFLT lo = g.ci95->low, hi = g.ci95->high;
        plwidth(2);
        plerrx(1, &lo, &hi, &y);
        plwidth(1);
      }
      plstring(1, &x, &y, marker(g.row.placement));
    }
    Legend l;
    l.point("CI excludes 0", kFirstMethod, "●");
    l.point("CI includes 0 (or n = 1)", kGrey, "●");
    l.point("logit map", kBlack, "●");
    l.point("feature map", kBlack, "▲");
    l.draw();
  });
}

void plot_per_class(const PerClassFigure& f, const std::string& stem) {
  const size_t rows = f.rows.size(), cols = f.classes.size();
  const int height = 260 + 34 * static_cast<int>(std::max<size_t>(rows, 2));
  render(stem, 180 + 92 * static_cast<int>(std::max<size_t>(cols, 4)) + 160, height, [&] {
    white_to_blue();
    plvpor(0.14, 0.86, 170.0 / height, 1.0 - 50.0 / height);
    plwind(0, static_cast<double>(cols), 0, static_cast<double>(rows));
    image_of(f.iou, 0, 100, 0, static_cast<double>(cols), 0, static_cast<double>(rows));
    plcol0(kBlack);
    plbox("bc", 0, 0, "bc", 0, 0);
    title("Per-class IoU (%), mean over seeds");
    plschr(0, 0.75);
    for (size_t c = 0; c < cols; ++c) {
      plmtex("bv", 0.6, (c + 0.5) / static_cast<double>(cols), 1.0, f.classes[c].c_str());
    }
    for (size_t r = 0; r < rows; ++r) {
      plcol0(kBlack);
      plmtex("lv", 0.6, (rows - r - 0.5) / static_cast<double>(rows) - 0.1 / rows, 1.0, f.rows[r].label().c_str());
      for (size_t c = 0; c < cols; ++c) {
        const double v = f.iou[r][c];
        plcol0(std::isfinite(v) && v > 55 ? 0 : kBlack);  // white text on dark cells
        const std::string text = std::isfinite(v) ? fmt::format("{:.1f}", v) : "–";
        plptex(c + 0.5, rows - r - 0.5 - 0.12, 1, 0, 0.5, text.c_str());
      }
    }
    plschr(0, 0.85);
    colour_scale("IoU (%)", 0, 100);
  });
}

void plot_curves(const std::vector<CurveSeries>& curves, const std::string& stem) {
  render(stem, 1500, 620, [&] {
    for (int panel = 0; panel < 2; ++panel) {
      const bool distill = panel == 1;
      Range rx, ry;
      bool any = false;
      for (const auto& s : curves) {
        const auto& mean = distill ? s.distill_mean : s.ce_mean;
        const auto& sd = distill ? s.distill_std : s.ce_std;
        for (size_t i = 0; i < s.iterations.size(); ++i) {
          if (!std::isfinite(mean[i]) || (distill && mean[i] <= 0)) continue;
          any = true;
          rx.add(s.iterations[i]);
          const double lo = mean[i] - sd[i], hi = mean[i] + sd[i];
          ry.add(distill ? std::log10(mean[i]) : lo);
          ry.add(distill ? std::log10(hi) : hi);
          if (distill && lo > 0) ry.add(std::log10(lo));
        }
      }
      plvpor(panel == 0 ? 0.07 : 0.48, panel == 0 ? 0.40 : 0.81, 0.12, 0.88);
      const Range wx = rx.padded(0.02), wy = ry.padded(0.05);
      plwind(wx.lo, wx.hi, wy.lo, wy.hi);
      plcol0(kBlack);
      plbox("bcnst", 0, 0, distill ? "bcnstvl" : "bcnstv", 0, 0);
      pllab("iteration", distill ? "distillation term (weighted, log scale)" : "task loss (cross-entropy)", "");
      if (!any) {
        plptex((wx.lo + wx.hi) / 2, (wy.lo + wy.hi) / 2, 1, 0, 0.5, "no values logged");
        continue;
      }
      for (const auto& s : curves) {
        const auto& mean = distill ? s.distill_mean : s.ce_mean;
        const auto& sd = distill ? s.distill_std : s.ce_std;
        std::vector<PLFLT> x, y, band_x, band_lo, band_hi;
        for (size_t i = 0; i < s.iterations.size(); ++i) {
          if (!std::isfinite(mean[i]) || (distill && mean[i] <= 0)) continue;
          const double lo = mean[i] - sd[i], hi = mean[i] + sd[i];
          x.push_back(s.iterations[i]);
          y.push_back(distill ? std::log10(mean[i]) : mean[i]);
          band_lo.push_back(distill ? std::log10(std::max(lo, mean[i] * 1e-3)) : lo);
          band_hi.push_back(distill ? std::log10(hi) : hi);
        }
        if (x.empty()) continue;
        const int c = method_colour(s.row.method);
        if (s.runs > 1) {
          std::vector<PLFLT> px(x), py(band_hi);
          for (size_t i = x.size(); i-- > 0;) {
            px.push_back(x[i]);
            py.push_back(band_lo[i]);
          }
          PLINT r = 0, g = 0, b = 0;
          PLFLT a = 0;
          plgcol0a(c, &r, &g, &b, &a);
          plscol0a(kLight, r, g, b, 0.18);
          plcol0(kLight);
          plfill(static_cast<PLINT>(px.size()), px.data(), py.data());
        }
        plcol0(c);
        plwidth(1.5);
        pllsty(s.row.placement == train::Placement::kFeature ? 2 : 1);
        plline(static_cast<PLINT>(x.size()), x.data(), y.data());
        pllsty(1);
        plwidth(1);
      }
    }
    plcol0(kBlack);
    plschr(0, 1.1);
    plmtex("t", 1.6, -0.1, 0.5, "Training curves: mean over seeds, band ± one standard deviation");
    plschr(0, 0.85);
    Legend l;
    for (const auto& s : curves) {
      l.line(s.row.label(), method_colour(s.row.method),
             s.row.placement == train::Placement::kFeature ? 2 : 1);
    }
    l.draw();
  });
}

void plot_channels(const ChannelMaps& m, const std::string& stem) {
  const size_t nets = m.nets.size(), channels = m.channels.size();
  if (nets == 0 || channels == 0) throw Error("channel figure: nothing to draw (no networks or channels)");
  const int cell_w = 300, cell_h = 170;
  render(stem, 200 + cell_w * static_cast<int>(channels) + 150, 150 + cell_h * static_cast<int>(nets), [&] {
    white_to_blue();
    // Per column (channel): colour from 0 to the largest probability any network gives it.
    std::vector<double> column_max(channels, 0.0);
    for (size_t n = 0; n < nets; ++n) {
      for (size_t c = 0; c < channels; ++c) column_max[c] = std::max(column_max[c], m.maps[n][c].max().item<double>());
    }
    const double left = 0.12, right = 0.82, bottom = 0.06, top = 0.86;
    const double w = (right - left) / channels, h = (top - bottom) / nets;
    for (size_t n = 0; n < nets; ++n) {
      for (size_t c = 0; c < channels; ++c) {
        const auto map = m.maps[n][c].to(torch::kDouble).contiguous();
        const int64_t mh = map.size(0), mw = map.size(1);
        std::vector<std::vector<double>> values(static_cast<size_t>(mh), std::vector<double>(static_cast<size_t>(mw)));
        const double* p = map.data_ptr<double>();
        for (int64_t y = 0; y < mh; ++y) {
          for (int64_t x = 0; x < mw; ++x) values[static_cast<size_t>(y)][static_cast<size_t>(x)] = p[y * mw + x] / column_max[c];
        }
        const double x0 = left + c * w + 0.01, y0 = top - (n + 1) * h + 0.02;
        plvpor(x0, x0 + w - 0.02, y0, y0 + h - 0.04);
        plwind(0, static_cast<double>(mw), 0, static_cast<double>(mh));
        image_of(values, 0, 1, 0, static_cast<double>(mw), 0, static_cast<double>(mh));
        plcol0(kBlack);
        plbox("bc", 0, 0, "bc", 0, 0);
        if (n == 0) {
          const std::string head = fmt::format("channel {}: {}", m.channels[c], m.channel_names[c]);
          plmtex("t", 0.8, 0.5, 0.5, head.c_str());
        }
        if (c == 0) plmtex("lv", 0.8, 0.5, 1.0, m.nets[n].c_str());
      }
    }
    plvpor(left, right, bottom, top);
    plwind(0, 1, 0, 1);
    plmtex("t", 3.2, 0.5, 0.5,
           fmt::format("Spatial softmax of logit-map channels (τ = {:g}), validation image {}", m.tau, m.image).c_str());
    colour_scale("p / column max", 0, 1);
  });
}

#else  // no PLplot in this build

bool can_plot(std::string& why) {
  why = "this cwd-bench was built without PLplot, so the report's figures cannot be drawn; install "
        "libplplot-dev and plplot-driver-cairo (apt-get install -y libplplot-dev plplot-driver-cairo) and rebuild";
  return false;
}
void plot_cost(const CostFigure&, const std::string&) { throw Error("built without PLplot"); }
void plot_gain(const std::vector<GainRow>&, const std::string&) { throw Error("built without PLplot"); }
void plot_per_class(const PerClassFigure&, const std::string&) { throw Error("built without PLplot"); }
void plot_curves(const std::vector<CurveSeries>&, const std::string&) { throw Error("built without PLplot"); }
void plot_channels(const ChannelMaps&, const std::string&) { throw Error("built without PLplot"); }

#endif

}  // namespace cwd::report
