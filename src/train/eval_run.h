#pragma once
// `cwd-bench eval` as a library call: load a trained network (run record or checkpoint), evaluate
// it on a split of the data it was trained on (or other data), and build the evaluation record
// with the same pieces a training run uses for its own evaluation block.

#include "src/data/dataset.h"
#include "src/train/evaluate.h"
#include "src/train/record.h"

#include <functional>
#include <string>

namespace cwd::train {

struct EvalRequest {
  std::string model;  ///< run record (.json) or checkpoint (.safetensors)
  data::Split split = data::Split::kVal;
  EvalOptions options;
  /// Changes to the data the network was trained on (the CLI's data flags).
  std::function<void(data::DataConfig&)> adjust_data;
  int threads = 0;
  std::string device = "auto";
  std::string command_line;
};

/// Evaluates and returns the record (schema cwd-bench/eval/1). Throws cwd::Error when the data's
/// class count differs from the network's.
EvalRecord evaluate_model(const EvalRequest& request);

}  // namespace cwd::train
