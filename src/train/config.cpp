#include "src/train/config.h"

#include "losses/registry.h"
#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/core/json_keys.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace cwd::train {

namespace {

// How the presets draw fresh weights (docs/training.md: the recipe evidence).
constexpr models::Init kInit = models::Init::kTorch;
constexpr models::Stem kStandard = models::Stem::kStandard;
constexpr models::Stem kDeep = models::Stem::kDeep;
// The backbone pretraining recipe of the quick and full presets (pretrain.h).
constexpr const char* kPretrained = "fashion-items";

// Each loss's weight on each map, chosen by `cwd-bench sweep --preset quick --on logit` and
// `--on feature` with factors 1/10, 1/3, 1, 3 and 10 of its specified default, every method with
// the same budget, judged on 300 held-out training scenes (results/sweep-quick/sweep.md). The
// quick and full presets share the students' schedule, so one sweep serves both.
std::map<std::string, nlohmann::json> swept_weights() {
  return {{"at/feature", {{"weight", 1000.0}}},   {"at/logit", {{"weight", 1000.0}}},
          {"cwd/feature", {{"weight", 0.3}}},     {"cwd/logit", {{"weight", 9.0}}},
          {"dist/feature", {{"weight", 10.0}}},   {"dist/logit", {{"weight", 3.0}}},
          {"ifvd/feature", {{"weight", 20.0}}},   {"ifvd/logit", {{"weight", 20.0}}},
          {"local/feature", {{"weight", 10.0}}},  {"local/logit", {{"weight", 1.0}}},
          {"mgd/feature", {{"weight", 2e-4}}},    {"mgd/logit", {{"weight", 2e-6}}},
          {"pa/feature", {{"weight", 3.0}}},      {"pa/logit", {{"weight", 1.0 / 3.0}}},
          {"pi/feature", {{"weight", 100.0}}},    {"pi/logit", {{"weight", 10.0 / 3.0}}}};
}

Preset make_smoke() {
  Preset p;
  p.name = "smoke";
  p.description = "seconds: proves the plumbing (tests and CI)";
  p.data.train_size = 48;
  p.data.val_size = 16;
  p.data.height = 64;
  p.data.width = 128;
  p.augment = {64, 128, 0.75, 1.25, true};
  p.teacher = {18, 0.25, kStandard, 8, "", kInit, "", ""};
  p.student = {18, 0.125, kStandard, 8, "", kInit, "", ""};
  p.teacher_schedule = {16, 4, 0.02, 0.9, 5e-4, 0.9, 0.4};
  p.student_schedule = {12, 4, 0.02, 0.9, 5e-4, 0.9, 0.4};
  p.seeds = 1;
  p.methods = {"cwd", "at", "pi", "local", "pa", "ifvd", "dist", "mgd"};
  p.placements = {Placement::kLogit};
  p.checkpoint_every = 6;
  p.log_every = 4;
  p.eval_batch = 8;
  return p;
}

Preset make_quick() {
  Preset p;
  p.name = "quick";
  p.description =
      "the default: teacher + baseline + eight methods (the paper's six, DIST, MGD) on the logit map, three seeds, "
      "pretrained backbones; ~15 min on 2 cores once the backbones and the teacher are trained";
  p.data.train_size = 2975;
  p.data.val_size = 500;
  p.data.height = 64;
  p.data.width = 128;
  // Flips only: every scene is new to a network that sees the training set 1–3 times, and
  // random rescaling slowed learning within this budget (teacher 14.8 mIoU after 1000
  // iterations with scales 0.75–1.5).
  p.augment = {64, 128, 1.0, 1.0, true};
  // Both backbones start from the ones pretrained on fashion-items (the paper's ImageNet step;
  // docs/pretraining.md): the baseline student goes from 14.6 to 29.1 mIoU, the teacher from
  // 33.9 to 39.9 (results/sizing, generation 3). The teacher is wider, not deeper: from scratch,
  // PSPNet-R34 ×0.5 reached only 13.6 mIoU after 1000 iterations.
  p.teacher = {18, 0.5, kStandard, 8, "", kInit, "", kPretrained};
  p.student = {18, 0.25, kStandard, 8, "", kInit, "", kPretrained};
  p.teacher_schedule = {1500, 8, 0.02, 0.9, 5e-4, 0.9, 0.4};
  p.student_schedule = {400, 8, 0.02, 0.9, 5e-4, 0.9, 0.4};
  p.seeds = 3;
  p.methods = {"cwd", "at", "pi", "local", "pa", "ifvd", "dist", "mgd"};
  p.placements = {Placement::kLogit};
  p.loss_options = swept_weights();
  p.checkpoint_every = 50;
  p.log_every = 20;
  p.eval_batch = 25;
  return p;
}

Preset make_full() {
  Preset p = make_quick();
  p.name = "full";
  p.description = "both placements, three seeds: the CPU version of the paper's table (quick plus the feature map)";
  p.placements = {Placement::kFeature, Placement::kLogit};
  return p;
}

Preset make_cityscapes_paper() {
  Preset p;
  p.name = "cityscapes-paper";
  p.description = "the paper's recipe on Cityscapes at width 1 (needs a GPU and --data-root)";
  p.data.name = "cityscapes";
  p.augment = {512, 512, 0.5, 2.0, true};
  p.teacher = {101, 1.0, kDeep, 8, "", kInit, "", ""};
  p.student = {18, 1.0, kDeep, 8, "", kInit, "", ""};
  p.teacher_schedule = {40000, 8, 0.01, 0.9, 5e-4, 0.9, 0.4};
  p.student_schedule = {40000, 8, 0.01, 0.9, 5e-4, 0.9, 0.4};
  p.seeds = 3;
  p.methods = {"cwd", "at", "pi", "local", "pa", "ifvd", "dist", "mgd"};
  p.placements = {Placement::kFeature, Placement::kLogit};
  p.checkpoint_every = 2000;
  p.log_every = 50;
  p.eval_batch = 1;
  return p;
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = {make_smoke(), make_quick(), make_full(),
                                            make_cityscapes_paper()};
  return table;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : presets()) names.push_back(p.name);
  return names;
}

const Preset& preset(const std::string& name) {
  for (const auto& p : presets()) {
    if (p.name == name) return p;
  }
  throw Error(fmt::format("unknown preset '{}' (known: {})", name, fmt::join(preset_names(), ", ")));
}

std::string to_string(Role role) { return role == Role::kTeacher ? "teacher" : "student"; }

Role parse_role(const std::string& text) {
  if (text == "teacher") return Role::kTeacher;
  if (text == "student") return Role::kStudent;
  throw Error(fmt::format("unknown role '{}' (valid: student, teacher)", text));
}

std::string to_string(Placement placement) { return placement == Placement::kFeature ? "feature" : "logit"; }

Placement parse_placement(const std::string& text) {
  if (text == "logit") return Placement::kLogit;
  if (text == "feature") return Placement::kFeature;
  throw Error(fmt::format("--on '{}' is not valid (valid: feature, logit)", text));
}

data::Split parse_eval_split(const std::string& text) {
  if (text == "val") return data::Split::kVal;
  if (text == "holdout") return data::Split::kHoldout;
  throw Error(fmt::format("--eval-split '{}' is not valid (valid: holdout, val)", text));
}

RunConfig config_from_preset(const std::string& preset_name, Role role) {
  const Preset& p = preset(preset_name);
  const bool teacher = role == Role::kTeacher;
  RunConfig c;
  c.preset = p.name;
  c.role = role;
  c.data = p.data;
  c.augment = p.augment;
  c.net = teacher ? p.teacher : p.student;
  c.schedule = teacher ? p.teacher_schedule : p.student_schedule;
  c.checkpoint_every = p.checkpoint_every;
  c.log_every = p.log_every;
  c.eval_batch = p.eval_batch;
  c.out_dir = "results/" + p.name;
  return c;
}

models::ResNetOptions resnet_options(const NetConfig& net) {
  return models::ResNetOptions()
      .depth(net.depth)
      .width(net.width)
      .stem(net.stem)
      .output_stride(net.output_stride)
      .init(net.init);
}

std::string default_run_name(const RunConfig& c) {
  std::string base = to_string(c.role);
  if (!c.loss.empty()) {
    base = losses::file_label(c.loss) + "-" + to_string(c.placement);
  }
  return fmt::format("{}-s{}", base, c.seed);
}

namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw Error(message);
}

}  // namespace

void validate(const RunConfig& c) {
  // The name becomes <out>/<name>.json, ckpt/<name>.safetensors and weights/<name>.safetensors: one plain
  // file name, so nothing is written outside the output folder.
  const bool plain_name = c.name.empty() /* filled in by resolve_plan */ ||
                          (c.name.size() <= 200 && c.name[0] != '.' &&
                           std::all_of(c.name.begin(), c.name.end(), [](char ch) {
                             return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
                           }));
  require(plain_name, fmt::format("--name '{}' is not a run name: use letters, digits, '-', '_' and '.' only (no '/', "
                                  "not starting with '.'), e.g. --name cwd-tau4",
                                  c.name));
  require(std::isfinite(c.schedule.lr), fmt::format("--lr {} is out of range (valid: a finite number > 0)", c.schedule.lr));
  models::check_architecture(resnet_options(c.net));
  require(c.schedule.iterations >= 1,
          fmt::format("--iters {} is out of range (valid: >= 1)", c.schedule.iterations));
  require(c.schedule.batch_size >= 1,
          fmt::format("--batch {} is out of range (valid: >= 1)", c.schedule.batch_size));
  require(c.schedule.lr > 0, fmt::format("--lr {} is out of range (valid: > 0)", c.schedule.lr));
  require(c.augment.crop_h >= 8 && c.augment.crop_w >= 8,
          fmt::format("--crop {}x{} is too small (valid: at least 8x8)", c.augment.crop_h, c.augment.crop_w));
  require(c.augment.scale_min > 0 && c.augment.scale_min <= c.augment.scale_max,
          fmt::format("--scale {}:{} is not valid (valid: 0 < min <= max)", c.augment.scale_min,
                      c.augment.scale_max));
  require(c.threads >= 0, fmt::format("--threads {} is out of range (valid: >= 0, 0 = all cores)", c.threads));
  require(c.workers >= 1 && c.workers <= 64,
          fmt::format("--workers {} is out of range (valid: 1..64)", c.workers));
  require(c.checkpoint_every >= 1,
          fmt::format("--checkpoint-every {} is out of range (valid: >= 1)", c.checkpoint_every));
  require(c.loss.empty() || !c.teacher.empty(),
          fmt::format("--loss {} needs a teacher: pass --teacher RECORD.json or CHECKPOINT.safetensors", c.loss));
  require(c.role == Role::kStudent || c.loss.empty(),
          "--role teacher cannot take --loss (a teacher is trained with cross-entropy only)");
  require(c.eval_split != data::Split::kTrain, "--eval-split train is not valid (valid: holdout, val)");
  require(c.eval_split != data::Split::kHoldout || c.data.holdout > 0,
          "--eval-split holdout needs held-out scenes: pass --holdout N (N > 0)");
}

void to_json(nlohmann::json& j, const NetConfig& n) {
  j = {{"arch", "pspnet"},
       {"depth", n.depth},
       {"width", n.width},
       {"stem", models::to_string(n.stem)},
       {"output_stride", n.output_stride},
       {"backbone_weights", n.backbone_weights},
       {"init", models::to_string(n.init)},
       {"init_weights", n.init_weights}};
  // Only when set, so that the configuration hashes of networks without one stay as they were.
  if (!n.pretrained.empty()) j["pretrained"] = n.pretrained;
}

void from_json(const nlohmann::json& j, NetConfig& n) {
  std::string stem, init;
  key(j, "depth", n.depth);
  key(j, "width", n.width);
  key(j, "stem", stem);
  key(j, "output_stride", n.output_stride);
  key_or(j, "backbone_weights", n.backbone_weights, std::string());
  // Records written before the init was configurable drew every conv kaiming-normal.
  key_or(j, "init", init, std::string("kaiming"));
  key_or(j, "init_weights", n.init_weights, std::string());
  key_or(j, "pretrained", n.pretrained, std::string());
  n.stem = parsed_key("stem", models::parse_stem, stem);
  n.init = parsed_key("init", models::parse_init, init);
}

void to_json(nlohmann::json& j, const Schedule& s) {
  j = {{"iterations", s.iterations}, {"batch_size", s.batch_size}, {"lr", s.lr},
       {"momentum", s.momentum},     {"weight_decay", s.weight_decay},
       {"poly_power", s.poly_power}, {"aux_weight", s.aux_weight}};
}

void from_json(const nlohmann::json& j, Schedule& s) {
  key(j, "iterations", s.iterations);
  key(j, "batch_size", s.batch_size);
  key(j, "lr", s.lr);
  key(j, "momentum", s.momentum);
  key(j, "weight_decay", s.weight_decay);
  key(j, "poly_power", s.poly_power);
  key(j, "aux_weight", s.aux_weight);
}

void to_json(nlohmann::json& j, const RunConfig& c) {
  j = {{"preset", c.preset},
       {"role", to_string(c.role)},
       {"data", c.data},
       {"augment", c.augment},
       {"model", c.net},
       {"schedule", c.schedule},
       {"seed", c.seed},
       {"threads", c.threads},
       {"device", c.device},
       {"workers", c.workers},
       {"checkpoint_every", c.checkpoint_every},
       {"log_every", c.log_every},
       {"eval_batch", c.eval_batch},
       {"eval_split", data::to_string(c.eval_split)},
       {"loss", c.loss.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.loss)},
       {"placement", to_string(c.placement)},
       {"loss_options", c.loss_options},
       {"teacher", c.teacher},
       {"teacher_id", c.teacher_id},
       {"out_dir", c.out_dir},
       {"name", c.name}};
  if (c.sync_bn) j["sync_bn"] = true;  // absent = false (records written before it existed)
}

void from_json(const nlohmann::json& j, RunConfig& c) {
  std::string role, eval_split, placement;
  key(j, "preset", c.preset);
  key(j, "role", role);
  key(j, "data", c.data);
  key(j, "augment", c.augment);
  key(j, "model", c.net);
  key(j, "schedule", c.schedule);
  key(j, "seed", c.seed);
  key(j, "threads", c.threads);
  key(j, "device", c.device);
  key(j, "workers", c.workers);
  key(j, "checkpoint_every", c.checkpoint_every);
  key(j, "log_every", c.log_every);
  key(j, "eval_batch", c.eval_batch);
  key(j, "eval_split", eval_split);
  key_or(j, "loss", c.loss, std::string());  // null: no distillation
  key(j, "placement", placement);
  c.loss_options = key_value(j, "loss_options");
  key(j, "teacher", c.teacher);
  key(j, "teacher_id", c.teacher_id);
  key(j, "out_dir", c.out_dir);
  key(j, "name", c.name);
  key_or(j, "sync_bn", c.sync_bn, false);
  c.role = parsed_key("role", parse_role, role);
  c.eval_split = parsed_key("eval_split", parse_eval_split, eval_split);
  c.placement = parsed_key("placement", parse_placement, placement);
}

std::string config_hash(const RunConfig& c) {
  nlohmann::json j = {{"role", to_string(c.role)},
                      {"data", c.data},
                      {"augment", c.augment},
                      {"model", c.net},
                      {"schedule", c.schedule},
                      {"seed", c.seed},
                      {"eval_split", data::to_string(c.eval_split)}};
  if (!c.loss.empty()) {
    j["loss"] = c.loss;
    j["placement"] = to_string(c.placement);
    j["loss_options"] = c.loss_options;
    j["teacher"] = c.teacher_id;
  }
  return stable_hash(j.dump());
}

std::pair<int64_t, int64_t> parse_size(const std::string& text, const std::string& flag) {
  const auto x = text.find('x');
  try {
    if (x == std::string::npos) throw std::invalid_argument("no x");
    size_t used_h = 0, used_w = 0;
    const long long h = std::stoll(text.substr(0, x), &used_h);
    const long long w = std::stoll(text.substr(x + 1), &used_w);
    if (used_h != x || used_w != text.size() - x - 1 || h <= 0 || w <= 0 || h > 16384 || w > 16384) {
      throw std::invalid_argument("bad");
    }
    return {h, w};
  } catch (const std::exception&) {
    throw Error(fmt::format("{} '{}' is not a size (expected HxW, each side an integer from 1 to 16384, e.g. 64x128)",
                            flag, text));
  }
}

void parse_loss_option(const std::string& text, nlohmann::json& options) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw Error(fmt::format("--loss-opt '{}' is not key=value (e.g. --loss-opt tau=4)", text));
  }
  const std::string key = text.substr(0, eq);
  const std::string value = text.substr(eq + 1);
  nlohmann::json parsed = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || parsed.is_object() || parsed.is_array()) parsed = value;
  options[key] = parsed;
}

}  // namespace cwd::train

namespace cwd::train {

nlohmann::json preset_loss_options(const Preset& preset, const std::string& loss,
                                   Placement placement, const nlohmann::json& overrides) {
  nlohmann::json options = nlohmann::json::object();
  const auto it = preset.loss_options.find(loss + "/" + to_string(placement));
  if (it != preset.loss_options.end()) options = it->second;
  if (overrides.is_object()) {
    for (const auto& [k, v] : overrides.items()) options[k] = v;
  }
  return options;
}

}  // namespace cwd::train

namespace cwd::data {

void to_json(nlohmann::json& j, const DataConfig& d) {
  j = {{"name", d.name}, {"root", d.root}, {"train_size", d.train_size},
       {"val_size", d.val_size}, {"height", d.height}, {"width", d.width},
       {"seed", d.seed}, {"holdout", d.holdout}, {"limit", d.limit}};
  if (d.name == "folder") {
    j["num_classes"] = d.num_classes;
    j["class_names"] = d.class_names;
    j["ignore_index"] = d.ignore_index;
    j["train_list"] = d.train_list;
    j["val_list"] = d.val_list;
  }
}

void from_json(const nlohmann::json& j, DataConfig& d) {
  d.name = j.value("name", d.name);
  d.root = j.value("root", d.root);
  d.train_size = j.value("train_size", d.train_size);
  d.val_size = j.value("val_size", d.val_size);
  d.height = j.value("height", d.height);
  d.width = j.value("width", d.width);
  d.seed = j.value("seed", d.seed);
  d.holdout = j.value("holdout", d.holdout);
  d.limit = j.value("limit", d.limit);
  d.num_classes = j.value("num_classes", d.num_classes);
  d.class_names = j.value("class_names", d.class_names);
  d.ignore_index = j.value("ignore_index", d.ignore_index);
  d.train_list = j.value("train_list", d.train_list);
  d.val_list = j.value("val_list", d.val_list);
}

void to_json(nlohmann::json& j, const AugmentConfig& a) {
  j = {{"crop", {a.crop_h, a.crop_w}}, {"scale", {a.scale_min, a.scale_max}}, {"flip", a.flip}};
}

void from_json(const nlohmann::json& j, AugmentConfig& a) {
  std::vector<int64_t> crop;
  std::vector<double> scale;
  key(j, "crop", crop);
  key(j, "scale", scale);
  if (crop.size() != 2) throw JsonKeyError("crop", "has the wrong type or value (expected [H, W])");
  if (scale.size() != 2) throw JsonKeyError("scale", "has the wrong type or value (expected [min, max])");
  a.crop_h = crop[0];
  a.crop_w = crop[1];
  a.scale_min = scale[0];
  a.scale_max = scale[1];
  key(j, "flip", a.flip);
}

}  // namespace cwd::data
