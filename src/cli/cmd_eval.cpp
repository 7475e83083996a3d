// cwd-bench eval: evaluate a trained network on a split.

#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/core/error.h"
#include "src/core/files.h"
#include "src/core/json_io.h"
#include "src/train/config.h"
#include "src/train/eval_run.h"

#include <fmt/format.h>

#include <iostream>
#include <memory>

namespace cwd::cli {

namespace {

struct EvalArgs {
  std::string model;
  std::string split = "val";
  std::string window;
  double overlap = 1.0 / 3.0;
  int64_t batch = 8;
  std::string out;
  DataArgs data;
  RuntimeArgs runtime;
};

void run_eval(const EvalArgs& a, const CliContext& context) {
  if (!a.out.empty()) check_replaceable(a.out);  // before the evaluation, not after it
  train::EvalRequest request;
  request.model = a.model;
  request.split = train::parse_eval_split(a.split);
  request.options.batch = a.batch;
  request.options.overlap = a.overlap;
  if (!a.window.empty()) {
    std::tie(request.options.window_h, request.options.window_w) = train::parse_size(a.window, "--window");
  }
  const DataArgs data = a.data;
  request.adjust_data = [data](data::DataConfig& d) { apply(data, d); };
  request.threads = a.runtime.threads;
  request.device = a.runtime.device;
  request.command_line = context.command_line;
  const auto record = train::evaluate_model(request);
  const auto& e = record.eval;
  fmt::print(stderr, "mIoU {:.2f}  pixel acc {:.2f}  mAcc {:.2f}  ({} {} images, {:.1f} img/s)\n", e.miou,
             e.pixel_acc, e.macc, e.images, e.split, e.images_per_s);
  if (a.out.empty()) {
    std::cout << nlohmann::json(record).dump(2) << "\n";
  } else {
    write_json_atomic(a.out, nlohmann::json(record));
    fmt::print(stderr, "wrote {}\n", a.out);
  }
}

}  // namespace

void add_eval(CLI::App& app, const CliContext& context) {
  auto args = std::make_shared<EvalArgs>();
  auto* sub = app.add_subcommand("eval", "evaluate a trained network (mIoU, per-class IoU, pixel acc, mAcc)");
  sub->add_option("model", args->model, "run record (.json) or checkpoint (.safetensors from <out>/ckpt)")->required();
  sub->add_option("--split", args->split, "split to evaluate")
      ->capture_default_str();
  sub->add_option("--window", args->window, "sliding-window inference with windows HxW (default: whole image)");
  sub->add_option("--overlap", args->overlap, "sliding-window overlap fraction")
      ->check(real_in(0, 0.9, false))->capture_default_str();
  sub->add_option("--eval-batch", args->batch, "images per forward")->check(count_in(1, kMaxCount))->capture_default_str();
  sub->add_option("--out", args->out, "write the evaluation record here (default: stdout)");
  add_data_options(sub, args->data);
  add_runtime_options(sub, args->runtime);
  sub->callback([args, &context]() { run_eval(*args, context); });
}

}  // namespace cwd::cli
