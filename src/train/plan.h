#pragma once
// Turning a configuration (a preset and the user's overrides) into a run plan, once: the
// validated configuration with its name, output paths, configuration hash and the teacher's
// identity. `train`, `compare` and `sweep` all go through resolve_plan(); compare and sweep build
// their runs with plan_teacher() and plan_student().

#include "src/train/config.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace cwd::train {

/// Where a run writes.
struct RunPaths {
  std::string record;      ///< DIR/<name>.json
  std::string checkpoint;  ///< DIR/ckpt/<name>.safetensors
  std::string weights;     ///< DIR/weights/<name>.safetensors (network only, for use elsewhere)
};
RunPaths run_paths(const RunConfig& config);

/// A run, resolved: what it computes (config, hash) and where it writes (paths).
struct RunPlan {
  RunConfig config;  ///< validated; name and teacher_id filled in
  RunPaths paths;
  std::string hash;  ///< config_hash(config)
};

/// Validates `config` (one cwd::Error naming the flag), fills in the default name and the
/// teacher's identity (read from the teacher's record or checkpoint, which must exist by now),
/// and computes the hash.
RunPlan resolve_plan(RunConfig config);

/// Changes applied to a preset's run configuration (data, runtime, schedule overrides).
using Adjust = std::function<void(RunConfig&)>;

/// The preset's teacher run: seed 0, named "teacher", in `out_dir`.
RunConfig plan_teacher(const Preset& preset, const Adjust& adjust, const std::string& out_dir);

/// One student of a comparison or sweep.
struct StudentSpec {
  uint64_t seed = 0;
  std::string loss;  ///< "" = the baseline
  Placement placement = Placement::kLogit;
  nlohmann::json loss_options = nlohmann::json::object();  ///< resolved over the preset's
  std::string teacher;  ///< the teacher's record or checkpoint (distilled runs)
  std::string name;     ///< "" = default_run_name
};

/// The preset's student with `adjust` applied, in `out_dir`, as `spec` says. A distilled run's
/// loss options are checked now (losses::create), so bad options fail before anything trains.
RunConfig plan_student(const Preset& preset, const Adjust& adjust, const std::string& out_dir,
                       const StudentSpec& spec);

}  // namespace cwd::train
