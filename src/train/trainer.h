#pragma once
// Trains one network (a teacher, a baseline student, or a distilled student), evaluates it and
// writes its run record.

#include "src/train/config.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace cwd::train {

struct RunPaths {
  std::string record;      ///< DIR/<name>.json
  std::string checkpoint;  ///< DIR/ckpt/<name>.pt
  std::string weights;     ///< DIR/weights/<name>.safetensors (network only, for use elsewhere)
};
RunPaths run_paths(const RunConfig& config);

/// Command line to record (empty when called from code).
struct RunContext {
  std::string command_line;
  std::string label;  ///< progress prefix, e.g. "[3/8 cwd-logit-s0]"
};

/// Trains (resuming from the run's checkpoint when one exists), evaluates on the configured split
/// and writes the run record atomically. Returns the record (null when config.stop_after cut the
/// run short).
nlohmann::json train_run(const RunConfig& config, const RunContext& context = {});

/// Seed of the per-iteration RNG (dropout): a pure function of (seed, iteration), so a resumed
/// run draws exactly what an uninterrupted one would. The trainer calls torch::manual_seed with it
/// before every step; scripts/twin/twin.py does the same.
uint64_t iteration_seed(uint64_t seed, int64_t iteration);

/// The supervised part of the training loss: cross-entropy of the logits, bilinearly upsampled
/// to the labels' size, plus aux_weight × that of the auxiliary logits (ignore_index skipped).
torch::Tensor supervised_loss(const torch::Tensor& logits, const torch::Tensor& aux,
                              const torch::Tensor& labels, int64_t ignore_index, double aux_weight);

/// The run-record skeleton shared by train and eval: tool version, commit, time, host.
nlohmann::json record_header();

}  // namespace cwd::train
