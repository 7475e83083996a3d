#pragma once
// Speed of one training step, measured the way the trainer runs it: the networks built by
// build_network(), a Distiller, the trainer's SGD, and per step the trainer's loop body (dropout
// reseed, poly learning rate, zero_grad, Distiller::step through the TermMeter, optimizer step),
// on random images and labels. `cwd-bench bench-step` is the CLI for it,
// scripts/twin/bench_step.py its plain-PyTorch counterpart, scripts/bench_step.sh runs both.

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace cwd::train {

/// The cases bench-step knows: "student" and "teacher" (the preset's networks trained alone) and
/// "cwd" (the student distilled by CWD on the logit map from the frozen teacher).
const std::vector<std::string>& step_bench_cases();

struct StepBenchOptions {
  std::string preset = "quick";
  std::vector<std::string> cases = {"student", "teacher", "cwd"};
  int64_t batch = 8;
  int64_t crop_h = 64;
  int64_t crop_w = 128;
  int64_t num_classes = 0;  ///< 0 = the preset's dataset (11 for fashion-scenes)
  int threads = 2;          ///< intra-op threads, 0 = all cores
  int warmup = 5;           ///< untimed steps per case
  int steps = 30;           ///< timed steps per case
  uint64_t seed = 0;
  double ignore_fraction = 0.05;                          ///< labels set to 255
  nlohmann::json cwd_options = nlohmann::json::object();  ///< over the preset's cwd/logit options

  // Variants, to measure what a change would bring. The defaults are what the trainer runs.
  bool channels_last = false;      ///< parameters and images in channels-last memory format
  bool mkldnn = true;              ///< at::globalContext().setUserEnabledMkldnn
  bool zero_grad_to_none = false;  ///< gradients reset to undefined instead of zeroed
};

/// One case: the timed steps and what they computed.
struct StepBenchCase {
  std::string name;
  std::string description;  ///< e.g. "PSPNet-R18 (standard stem, width 0.25, OS 8)"
  int64_t params = 0;       ///< trainable parameters
  std::vector<double> steps_ms;
  double median_ms = 0;
  double min_ms = 0;
  double images_per_s = 0;  ///< batch / median
  double final_loss = 0;    ///< task (+ distillation) loss of the last step
};

/// Runs every requested case. Sets libtorch's thread count and (for the run) the oneDNN switch.
/// `progress` receives one line per case.
std::vector<StepBenchCase> bench_steps(const StepBenchOptions& options,
                                       const std::function<void(const std::string&)>& progress = {});

/// The JSON report; its layout is shared with scripts/twin/bench_step.py. `load_start`: the load
/// average before the run (load_average()), recorded beside the one at the end.
nlohmann::json step_bench_report(const StepBenchOptions& options,
                                 const std::vector<StepBenchCase>& cases,
                                 const std::vector<double>& load_start = {});

/// /proc/loadavg's three numbers (empty where there is none).
std::vector<double> load_average();

}  // namespace cwd::train
