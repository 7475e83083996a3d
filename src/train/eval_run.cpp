#include "src/train/eval_run.h"

#include "src/core/error.h"
#include "src/core/threads.h"
#include "src/train/network.h"

#include <fmt/format.h>

#include <filesystem>

namespace cwd::train {

namespace {

// The holdout split is the end of the training split. Evaluated with the network's own training
// size it would be images the network trained on, and the score would look better than it is.
void check_holdout_unseen(const data::DataConfig& trained, const data::DataConfig& eval, const std::string& model) {
  const bool same_source = eval.name == trained.name && eval.root == trained.root && eval.seed == trained.seed &&
                           eval.height == trained.height && eval.width == trained.width;
  if (!same_source) return;
  if (eval.name == "fashion-scenes") {
    // Generated scenes: index i is the same scene whatever the split's size.
    const int64_t seen = trained.train_size - trained.holdout;  // trained on scenes [0, seen)
    const int64_t first = eval.train_size - eval.holdout;       // evaluates [first, train_size)
    if (first >= seen) return;
    throw Error(fmt::format("--split holdout would evaluate training scenes {}-{}, but '{}' trained on scenes 0-{}; "
                            "pass --train-size {} --holdout {} to hold out scenes it never saw",
                            first, eval.train_size - 1, model, seen - 1, seen + eval.holdout, eval.holdout));
  }
  // Files: the split's size is fixed, so a larger holdout reaches into what the network saw.
  if (eval.holdout > trained.holdout) {
    throw Error(fmt::format("--split holdout with --holdout {} would evaluate training images that '{}' trained on "
                            "(it held out {}); evaluate --split val, or train with --holdout {}",
                            eval.holdout, model, trained.holdout, eval.holdout));
  }
}

}  // namespace

EvalRecord evaluate_model(const EvalRequest& request) {
  if (!std::filesystem::exists(request.model)) {
    throw Error(fmt::format("model '{}' not found (pass a run record .json or a checkpoint .safetensors)", request.model));
  }
  EvalRecord record;
  record.threads = set_threads(request.threads);
  const auto device = resolve_device(request.device);
  auto loaded = load_network(request.model, device);
  const data::DataConfig trained = trained_data(request.model);
  data::DataConfig data = trained;
  if (request.adjust_data) request.adjust_data(data);
  if (request.split == data::Split::kHoldout) check_holdout_unseen(trained, data, request.model);
  auto dataset = data::make_dataset(data, request.split);
  if (dataset->num_classes() != loaded.num_classes) {
    throw Error(fmt::format("'{}' predicts {} classes but the data has {}; evaluate on the dataset it was trained for",
                            request.model, loaded.num_classes, dataset->num_classes()));
  }
  const auto result = evaluate(loaded.net, *dataset, device, request.options);
  record.header = RecordHeader::current();
  record.command_line = request.command_line;
  record.network = loaded.identity;
  record.device = device.str();
  record.dataset_eval = dataset->identity();
  record.class_names = dataset->class_names();
  record.eval = eval_info(result, dataset->class_names(), request.split);
  const auto& o = request.options;
  record.eval.mode = o.window_h > 0 ? fmt::format("sliding {}x{}", o.window_h, o.window_w) : "whole";
  return record;
}

}  // namespace cwd::train
