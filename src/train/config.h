#pragma once
// Run configuration and the one table of presets (smoke, quick, full, cityscapes-paper).
// Every field of a preset can be overridden from the command line.

#include "src/data/dataset.h"
#include "src/data/loader.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cwd::train {

/// A PSPNet's architecture.
struct NetConfig {
  int64_t depth = 18;
  double width = 1.0;
  std::string stem = "standard";
  int64_t output_stride = 8;
  /// Optional backbone weights (safetensors or torch.save dict) loaded before training.
  std::string backbone_weights;
  /// How fresh weights are drawn: "torch", "mmseg" or "kaiming" (models::Init, resnet.h).
  std::string init = "torch";
  /// Optional weights of the whole network (safetensors, cwd-bench's names, e.g. another run's
  /// weights/<name>.safetensors) copied in after the initialisation; every tensor must match.
  std::string init_weights;
};

/// The optimisation recipe (SGD + poly).
struct Schedule {
  int64_t iterations = 1000;
  int64_t batch_size = 8;
  double lr = 0.01;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  double poly_power = 0.9;
  double aux_weight = 0.4;
};

struct Preset {
  std::string name;
  std::string description;
  data::DataConfig data;
  data::AugmentConfig augment;
  NetConfig teacher;
  NetConfig student;
  Schedule teacher_schedule;
  Schedule student_schedule;
  int64_t seeds = 1;
  std::vector<std::string> methods;     ///< distillation losses compared
  std::vector<std::string> placements;  ///< "logit" and/or "feature"
  /// Loss options chosen for this preset's data, keyed "method/placement" (e.g. "cwd/logit");
  /// merged over the spec's defaults (see results/sweep/ for how they were chosen).
  std::map<std::string, nlohmann::json> loss_options;
  int64_t checkpoint_every = 200;
  int64_t log_every = 20;
  int64_t eval_batch = 8;
};

/// The preset called `name`; throws cwd::Error listing the known presets.
const Preset& preset(const std::string& name);
std::vector<std::string> preset_names();

/// Everything one training run needs, resolved (preset + overrides).
struct RunConfig {
  std::string preset = "quick";
  std::string role = "student";  ///< "teacher" or "student"
  data::DataConfig data;
  data::AugmentConfig augment;
  NetConfig net;
  Schedule schedule;
  uint64_t seed = 0;
  int threads = 0;  ///< 0 = all cores
  std::string device = "auto";
  int workers = 2;  ///< data-loading threads
  int64_t checkpoint_every = 200;
  int64_t log_every = 20;
  int64_t eval_batch = 8;
  /// Distillation: loss key ("" = none), placement, options (merged over the defaults), teacher
  /// (a run record .json or a checkpoint .pt).
  std::string loss;
  std::string placement = "logit";
  nlohmann::json loss_options = nlohmann::json::object();
  std::string teacher;
  /// Identity of the teacher's weights (its record's config hash, or the checkpoint's file hash);
  /// part of config_hash, filled in by train_run when empty.
  std::string teacher_id;
  /// Output: DIR/<name>.json (record), DIR/ckpt/<name>.pt, DIR/weights/<name>.safetensors.
  std::string out_dir;
  std::string name;
  /// Testing aid: stop (as if killed) once this many iterations are done in total, after
  /// writing the checkpoint; no evaluation, no record. 0 = run to the end. Not part of the hash.
  int64_t stop_after = 0;
  /// A run always continues from its checkpoint when one exists; with require_resume a missing
  /// checkpoint is an error instead of a fresh start (`train --resume`). Not part of the hash.
  bool require_resume = false;
  /// Evaluate on this split after training ("val", or "holdout" for weight sweeps).
  std::string eval_split = "val";
};

/// A RunConfig with the preset's defaults for `role` ("teacher" or "student").
RunConfig config_from_preset(const std::string& preset_name, const std::string& role);

/// Default run name: "teacher", "student" or "<loss>-<placement>", with "-s<seed>".
std::string default_run_name(const RunConfig& config);

/// Throws cwd::Error for out-of-range values (naming the flag and the valid range).
void validate(const RunConfig& config);

nlohmann::json to_json(const NetConfig& net);
NetConfig net_from_json(const nlohmann::json& j);
nlohmann::json to_json(const Schedule& schedule);
nlohmann::json to_json(const data::DataConfig& data);
nlohmann::json to_json(const data::AugmentConfig& augment);
/// The full resolved configuration as written into run records.
nlohmann::json to_json(const RunConfig& config);
/// Hash of everything that changes what a run computes (not threads, out_dir, name, device
/// kind, eval split); compare reuses a run whose record has the same hash.
std::string config_hash(const RunConfig& config);

/// Parses "HxW" (e.g. "64x128"); throws cwd::Error naming `flag`.
std::pair<int64_t, int64_t> parse_size(const std::string& text, const std::string& flag);

/// Parses "k=v" into options[k]; v is read as JSON when it parses (numbers, true/false) and as
/// a string otherwise. Throws cwd::Error for a missing '='.
void parse_loss_option(const std::string& text, nlohmann::json& options);

}  // namespace cwd::train

namespace cwd::train {
/// Inverse of to_json(DataConfig) (missing keys keep the defaults).
data::DataConfig data_from_json(const nlohmann::json& j);
/// Options for `loss` on `placement` in this preset: the preset's chosen options (if any) with
/// `overrides` applied on top; the loss fills in the spec's defaults for the rest.
nlohmann::json preset_loss_options(const Preset& preset, const std::string& loss,
                                   const std::string& placement, const nlohmann::json& overrides);
}  // namespace cwd::train
