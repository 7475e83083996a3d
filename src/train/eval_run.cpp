#include "src/train/eval_run.h"

#include "src/core/error.h"
#include "src/core/threads.h"
#include "src/train/network.h"

#include <fmt/format.h>

#include <filesystem>

namespace cwd::train {

EvalRecord evaluate_model(const EvalRequest& request) {
  if (!std::filesystem::exists(request.model)) {
    throw Error(fmt::format("model '{}' not found (pass a run record .json or a checkpoint .pt)", request.model));
  }
  EvalRecord record;
  record.threads = set_threads(request.threads);
  const auto device = resolve_device(request.device);
  auto loaded = load_network(request.model, device);
  data::DataConfig data = trained_data(request.model);
  if (request.adjust_data) request.adjust_data(data);
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
