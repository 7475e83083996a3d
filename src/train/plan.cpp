#include "src/train/plan.h"

#include "losses/registry.h"
#include "losses/script.h"
#include "src/train/network.h"

#include <filesystem>

namespace cwd::train {

namespace fs = std::filesystem;

RunPaths run_paths(const RunConfig& c) {
  const fs::path dir(c.out_dir.empty() ? "." : c.out_dir);
  return {(dir / (c.name + ".json")).string(), (dir / "ckpt" / (c.name + ".safetensors")).string(),
          (dir / "weights" / (c.name + ".safetensors")).string()};
}

RunPlan resolve_plan(RunConfig config) {
  if (config.name.empty()) config.name = default_run_name(config);
  validate(config);
  if (!config.loss.empty()) {
    const auto loss = losses::create(config.loss, config.loss_options);
    // A TorchScript loss is pinned to its file's content: the hash enters the config hash, so a
    // changed file neither resumes an old checkpoint nor reuses an old record.
    if (losses::is_script_key(config.loss)) config.loss_options["file_hash"] = loss->options().at("file_hash");
    if (config.teacher_id.empty()) config.teacher_id = teacher_identity(config.teacher);
  }
  RunPlan plan;
  plan.paths = run_paths(config);
  plan.hash = config_hash(config);
  plan.config = std::move(config);
  return plan;
}

RunConfig plan_teacher(const Preset& preset, const Adjust& adjust, const std::string& out_dir) {
  RunConfig t = config_from_preset(preset.name, Role::kTeacher);
  if (adjust) adjust(t);
  t.out_dir = out_dir;
  t.seed = 0;
  t.name = "teacher";
  return t;
}

RunConfig plan_student(const Preset& preset, const Adjust& adjust, const std::string& out_dir,
                       const StudentSpec& spec) {
  RunConfig s = config_from_preset(preset.name, Role::kStudent);
  if (adjust) adjust(s);
  s.out_dir = out_dir;
  s.seed = spec.seed;
  if (!spec.loss.empty()) {
    s.loss = spec.loss;
    s.placement = spec.placement;
    s.teacher = spec.teacher;
    s.loss_options = spec.loss_options;
    losses::create(s.loss, s.loss_options);
  }
  s.name = spec.name.empty() ? default_run_name(s) : spec.name;
  return s;
}

}  // namespace cwd::train
