// cwd-bench eval: evaluate a trained network on a split.

#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/core/threads.h"
#include "src/train/checkpoint.h"
#include "src/train/evaluate.h"
#include "src/train/network.h"
#include "src/train/trainer.h"

#include <fmt/format.h>

#include <filesystem>
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

// The data a network was trained on, from its record or checkpoint.
data::DataConfig trained_data(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".json") return train::data_from_json(read_json(path).at("config").at("data"));
  const auto meta = train::read_checkpoint_meta(path).meta;
  if (meta.contains("config")) return train::data_from_json(meta.at("config").at("data"));
  return data::DataConfig{};
}

void run_eval(const EvalArgs& a, const CliContext& context) {
  const int threads = set_threads(a.runtime.threads);
  const auto device = resolve_device(a.runtime.device);
  auto loaded = train::load_network(a.model, device);
  data::DataConfig data = trained_data(a.model);
  apply(a.data, data);
  const auto split = a.split == "val" ? data::Split::kVal : data::Split::kHoldout;
  auto dataset = data::make_dataset(data, split);
  if (dataset->num_classes() != loaded.num_classes) {
    throw Error(fmt::format("'{}' predicts {} classes but the data has {}; evaluate on the dataset it was trained for",
                            a.model, loaded.num_classes, dataset->num_classes()));
  }
  train::EvalOptions options;
  options.batch = a.batch;
  options.overlap = a.overlap;
  if (!a.window.empty()) std::tie(options.window_h, options.window_w) = train::parse_size(a.window, "--window");
  const auto result = train::evaluate(loaded.net, *dataset, device, options);
  nlohmann::json record = train::record_header();
  record["schema"] = "cwd-bench/eval/1";
  record["command_line"] = context.command_line;
  record["network"] = loaded.identity;
  record["device"] = device.str();
  record["threads"] = threads;
  record["dataset"] = {{"eval", dataset->identity()}, {"class_names", dataset->class_names()}};
  auto eval = train::to_json(result.metrics, dataset->class_names());
  eval["split"] = a.split;
  eval["images"] = result.images;
  eval["seconds"] = result.seconds;
  eval["images_per_s"] = result.images_per_s;
  eval["mode"] = a.window.empty() ? "whole" : "sliding " + a.window;
  record["eval"] = eval;
  fmt::print(stderr, "mIoU {:.2f}  pixel acc {:.2f}  mAcc {:.2f}  ({} {} images, {:.1f} img/s)\n",
             result.metrics.miou, result.metrics.pixel_acc, result.metrics.macc, result.images, a.split,
             result.images_per_s);
  if (a.out.empty()) {
    std::cout << record.dump(2) << "\n";
  } else {
    write_json_atomic(a.out, record);
    fmt::print(stderr, "wrote {}\n", a.out);
  }
}

}  // namespace

void add_eval(CLI::App& app, const CliContext& context) {
  auto args = std::make_shared<EvalArgs>();
  auto* sub = app.add_subcommand("eval", "evaluate a trained network (mIoU, per-class IoU, pixel acc, mAcc)");
  sub->add_option("model", args->model, "run record (.json) or checkpoint (.pt)")->required();
  sub->add_option("--split", args->split, "split to evaluate")
      ->check(CLI::IsMember({"val", "holdout"}))->capture_default_str();
  sub->add_option("--window", args->window, "sliding-window inference with windows HxW (default: whole image)");
  sub->add_option("--overlap", args->overlap, "sliding-window overlap fraction")
      ->check(CLI::Range(0.0, 0.9))->capture_default_str();
  sub->add_option("--eval-batch", args->batch, "images per forward")->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--out", args->out, "write the evaluation record here (default: stdout)");
  add_data_options(sub, args->data);
  add_runtime_options(sub, args->runtime);
  sub->callback([args, &context]() { run_eval(*args, context); });
}

}  // namespace cwd::cli
