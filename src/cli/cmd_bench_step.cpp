// `cwd-bench bench-step` times the training step as the trainer runs it (src/train/step_bench.h)
// and writes a JSON report; scripts/twin/bench_step.py is its plain-PyTorch counterpart.

#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/train/config.h"
#include "src/train/step_bench.h"

#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace cwd::cli {
namespace {

struct BenchStepArgs {
  train::StepBenchOptions options;
  std::string what;  // --what / --nets: comma-separated cases
  std::string crop = "64x128";
  std::vector<std::string> loss_opts;
  std::string zero_grad = "zero";
  bool channels_last = false;
  bool no_mkldnn = false;
  std::string out;
};

void run_bench_step(BenchStepArgs args) {
  auto& o = args.options;
  if (!args.what.empty()) o.cases = split_list(args.what);
  const auto [h, w] = train::parse_size(args.crop, "--crop");
  o.crop_h = h;
  o.crop_w = w;
  for (const auto& text : args.loss_opts) train::parse_loss_option(text, o.cwd_options);
  o.zero_grad_to_none = args.zero_grad == "none";
  o.channels_last = args.channels_last;
  o.mkldnn = !args.no_mkldnn;
  std::cerr << fmt::format(
      "bench-step: preset {}, cases {}, batch {} of {}x{}, {} thread(s), {} warm-up + {} timed steps\n",
      o.preset, fmt::join(o.cases, ","), o.batch, o.crop_h, o.crop_w, o.threads, o.warmup, o.steps);
  const auto load_start = train::load_average();
  const auto cases =
      train::bench_steps(o, [](const std::string& line) { std::cerr << "  " << line << "\n"; });
  write_json_atomic(args.out, train::step_bench_report(o, cases, load_start));
  std::cerr << "bench-step: wrote " << args.out << "\n";
}

}  // namespace

void add_bench_step(CLI::App& app) {
  auto args = std::make_shared<BenchStepArgs>();
  auto& o = args->options;
  auto* cmd = app.add_subcommand(
      "bench-step",
      "Time the training step (forward, loss, backward, SGD step) as the trainer runs it; writes JSON");
  cmd->add_option("--out", args->out, "Report file (JSON, written atomically)")->required();
  cmd->add_option("--what,--nets", args->what,
                  "Cases, comma-separated: student, teacher, cwd (default: all three)");
  cmd->add_option("--preset", o.preset, "Preset whose networks, schedule and CWD options are used")
      ->check(one_of(train::preset_names(), "preset"))
      ->capture_default_str();
  cmd->add_option("--batch", o.batch, "Batch size")->check(count_in(1, kMaxCount))->capture_default_str();
  cmd->add_option("--crop", args->crop, "Input size HxW")->capture_default_str();
  cmd->add_option("--classes", o.num_classes, "Classes (0 = the preset's dataset)")
      ->check(count_in(0, 255))
      ->capture_default_str();
  cmd->add_option("--threads", o.threads, "Intra-op threads (0 = all cores)")
      ->check(count_in(0, 1024))
      ->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "Untimed steps per case")
      ->check(count_in(0, 1000000))
      ->capture_default_str();
  cmd->add_option("--steps", o.steps, "Timed steps per case")->check(count_in(1, 1000000))->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of the weights, images and labels")->capture_default_str();
  cmd->add_option("--loss-opt", args->loss_opts,
                  "CWD option key=value over the preset's (repeatable), e.g. tau=4");
  cmd->add_option("--zero-grad", args->zero_grad,
                  "How gradients are cleared: zero (the trainer's optimizer->zero_grad() on libtorch "
                  "1.13) or none (reset to undefined)")
      ->check(CLI::IsMember({"zero", "none"}))
      ->capture_default_str();
  cmd->add_flag("--channels-last", args->channels_last,
                "Variant: conv weights and images in channels-last memory format");
  cmd->add_flag("--no-mkldnn", args->no_mkldnn, "Variant: oneDNN (MKLDNN) kernels off");
  cmd->callback([args] { run_bench_step(*args); });
}

}  // namespace cwd::cli
