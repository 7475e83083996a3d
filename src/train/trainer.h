#pragma once
// Trains one network (a teacher, a baseline student, or a distilled student), evaluates it and
// writes its run record.

#include "src/train/config.h"

#include <nlohmann/json.hpp>

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

/// The run-record skeleton shared by train and eval: tool version, commit, time, host.
nlohmann::json record_header();

}  // namespace cwd::train
