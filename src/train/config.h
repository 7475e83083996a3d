#pragma once
// Run configuration and the one table of presets (smoke, quick, full, cityscapes-paper).
// Every field of a preset can be overridden from the command line.

#include "models/resnet.h"
#include "src/data/dataset.h"
#include "src/data/loader.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cwd::train {

/// Which network of a comparison a run trains.
enum class Role { kTeacher, kStudent };
std::string to_string(Role role);
/// "teacher" or "student"; anything else throws "unknown role 'x' (valid: student, teacher)".
Role parse_role(const std::string& text);

/// The map a distillation loss acts on.
enum class Placement { kLogit, kFeature };
std::string to_string(Placement placement);
/// "logit" or "feature"; anything else throws "--on 'x' is not valid (valid: feature, logit)".
Placement parse_placement(const std::string& text);

/// The split a run is judged on after training: "val", or "holdout" (weight sweeps); anything
/// else throws "--eval-split 'x' is not valid (valid: holdout, val)".
data::Split parse_eval_split(const std::string& text);

/// A PSPNet's architecture.
struct NetConfig {
  int64_t depth = 18;
  double width = 1.0;
  models::Stem stem = models::Stem::kStandard;
  int64_t output_stride = 8;
  /// Optional backbone weights (safetensors or torch.save dict) loaded before training.
  std::string backbone_weights;
  /// How fresh weights are drawn (models::Init, resnet.h).
  models::Init init = models::Init::kTorch;
  /// Optional weights of the whole network (safetensors, cwd-bench's names, e.g. another run's
  /// weights/<name>.safetensors) copied in after the initialisation; every tensor must match.
  std::string init_weights;
  /// Optional pretraining recipe (pretrain.h, e.g. "fashion-items"): the backbone starts from the
  /// cached backbone pretrained with it (pretrained first when missing).
  std::string pretrained;
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
  std::vector<Placement> placements;
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
  Role role = Role::kStudent;
  data::DataConfig data;
  data::AugmentConfig augment;
  NetConfig net;
  Schedule schedule;
  uint64_t seed = 0;
  int threads = 0;  ///< 0 = all cores
  std::string device = "auto";
  int workers = 2;  ///< data-loading threads
  /// When the run is spread over several processes (src/train/distributed.h): BatchNorm
  /// statistics over the whole global batch, not each process's share. Not part of the hash.
  bool sync_bn = false;
  int64_t checkpoint_every = 200;
  int64_t log_every = 20;
  int64_t eval_batch = 8;
  /// Distillation: loss key ("" = none), placement, options (merged over the defaults), teacher
  /// (a run record .json or a checkpoint .safetensors).
  std::string loss;
  Placement placement = Placement::kLogit;
  nlohmann::json loss_options = nlohmann::json::object();
  std::string teacher;
  /// Identity of the teacher's weights (its record's config hash, or the checkpoint's file hash);
  /// part of config_hash, filled in by train_run when empty.
  std::string teacher_id;
  /// Output: DIR/<name>.json (record), DIR/ckpt/<name>.safetensors, DIR/weights/<name>.safetensors.
  std::string out_dir;
  std::string name;
  /// Testing aid: stop (as if killed) once this many iterations are done in total, after
  /// writing the checkpoint; no evaluation, no record. 0 = run to the end. Not part of the hash.
  int64_t stop_after = 0;
  /// A run always continues from its checkpoint when one exists; with require_resume a missing
  /// checkpoint is an error instead of a fresh start (`train --resume`). Not part of the hash.
  bool require_resume = false;
  /// Evaluate on this split after training (kVal, or kHoldout for weight sweeps).
  data::Split eval_split = data::Split::kVal;
};

/// A RunConfig with the preset's defaults for `role`.
RunConfig config_from_preset(const std::string& preset_name, Role role);

/// The backbone options of a network configuration (weights files aside).
models::ResNetOptions resnet_options(const NetConfig& net);

/// Default run name: "teacher", "student" or "<loss>-<placement>", with "-s<seed>".
std::string default_run_name(const RunConfig& config);

/// Throws cwd::Error for out-of-range values (naming the flag and the valid range).
void validate(const RunConfig& config);

// JSON forms, as written into run records and checkpoints. The readers (from_json, used through
// nlohmann's get<T>()) throw nlohmann exceptions; src/train/record.h turns them into one
// message naming the file and the key.
void to_json(nlohmann::json& j, const NetConfig& net);
void from_json(const nlohmann::json& j, NetConfig& net);
void to_json(nlohmann::json& j, const Schedule& schedule);
void from_json(const nlohmann::json& j, Schedule& schedule);
/// The full resolved configuration as written into run records.
void to_json(nlohmann::json& j, const RunConfig& config);
void from_json(const nlohmann::json& j, RunConfig& config);
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
/// Options for `loss` on `placement` in this preset: the preset's chosen options (if any) with
/// `overrides` applied on top; the loss fills in its defaults for the rest.
nlohmann::json preset_loss_options(const Preset& preset, const std::string& loss,
                                   Placement placement, const nlohmann::json& overrides);
}  // namespace cwd::train

namespace cwd::data {
// In namespace data so that nlohmann's get<DataConfig>() finds them.
void to_json(nlohmann::json& j, const DataConfig& data);
/// Missing keys keep the defaults (folder-only keys are absent for the other datasets).
void from_json(const nlohmann::json& j, DataConfig& data);
void to_json(nlohmann::json& j, const AugmentConfig& augment);
void from_json(const nlohmann::json& j, AugmentConfig& augment);
}  // namespace cwd::data
