// cwd-bench report: the figures and the HTML page of a comparison folder (docs/report.md).

#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/report/report.h"

#include <fmt/format.h>

#include <memory>

namespace cwd::cli {

namespace {

struct ReportArgs {
  std::string dir;
  int64_t images = 4;
  int64_t channels = 4;
  RuntimeArgs runtime;
};

}  // namespace

void make_report(const std::string& dir, int threads, const std::string& device, int64_t images,
                                  int64_t channels) {
  report::ReportOptions o;
  o.threads = threads;
  o.probe.device = device;
  o.probe.images = images;
  o.probe.channels = channels;
  o.probe.progress = [](const std::string& line) { fmt::print(stderr, "report: {}\n", line); };
  const auto summary = report::write_report(dir, o);
  for (const auto& note : summary.notes) fmt::print(stderr, "report: note: {}\n", note);
  fmt::print(stderr, "report: {} figures in {:.1f} s -> {}\n", summary.figures.size(), summary.seconds, summary.index);
}

void add_report(CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  auto* sub = app.add_subcommand(
      "report", "draw a comparison folder's figures and write DIR/report/index.html (from its records and weights)");
  sub->add_option("dir", args->dir, "comparison folder (run records, weights/)")->required()->check(CLI::ExistingDirectory);
  sub->add_option("--images", args->images, "validation images in the predictions grid")
      ->check(count_in(1, 16))->capture_default_str();
  sub->add_option("--channels", args->channels, "logit-map channels in the channel figure")
      ->check(count_in(1, 8))->capture_default_str();
  add_runtime_options(sub, args->runtime);
  sub->callback([args]() {
    make_report(args->dir, args->runtime.threads, args->runtime.device, args->images, args->channels);
  });
}

}  // namespace cwd::cli
