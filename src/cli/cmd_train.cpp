// cwd-bench train: one network (teacher, baseline student, or distilled student).

#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/core/error.h"
#include "src/cli/launch.h"
#include "src/core/files.h"
#include "src/train/plan.h"
#include "src/train/pretrain.h"
#include "src/train/trainer.h"

#include <fmt/format.h>

#include <memory>

namespace cwd::cli {

namespace {

struct TrainArgs {
  std::string preset = "quick";
  std::string role = "student";
  std::string loss;
  std::string on = "logit";
  std::string teacher;
  std::vector<std::string> loss_opts;
  std::string out;
  std::string name;
  std::string eval_split = "val";
  int64_t seed = 0;
  int64_t stop_after = 0;
  bool resume = false;
  bool sync_bn = false;
  int nproc = 1;
  DataArgs data;
  ScheduleArgs schedule;
  NetArgs net;
  RuntimeArgs runtime;
};

// The preset's configuration with the flags applied (resolve_plan checks it).
train::RunConfig configure(const TrainArgs& a) {
  train::RunConfig c = train::config_from_preset(a.preset, train::parse_role(a.role));
  apply(a.data, c.data);
  apply(a.schedule, c);
  apply(a.net, c.net);
  apply(a.runtime, c);
  c.seed = static_cast<uint64_t>(a.seed);
  c.eval_split = train::parse_eval_split(a.eval_split);
  c.stop_after = a.stop_after;
  c.require_resume = a.resume;
  c.sync_bn = a.sync_bn;
  if (!a.out.empty()) c.out_dir = a.out;
  c.name = a.name;
  if (a.loss.empty()) {
    if (!a.loss_opts.empty() || !a.teacher.empty()) {
      throw Error("--loss-opt and --teacher only apply to a distilled run: add --loss KEY");
    }
    return c;
  }
  nlohmann::json overrides = nlohmann::json::object();
  for (const auto& kv : a.loss_opts) train::parse_loss_option(kv, overrides);
  c.loss = a.loss;
  c.placement = train::parse_placement(a.on);
  c.teacher = a.teacher;
  c.loss_options = train::preset_loss_options(train::preset(a.preset), a.loss, c.placement, overrides);
  return c;
}

}  // namespace

void add_train(CLI::App& app, const CliContext& context) {
  auto args = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand("train", "train one network: a teacher, a baseline student, or a distilled student");
  sub->add_option("--preset", args->preset, "defaults for everything below")
      ->check(one_of(train::preset_names(), "preset"))
      ->capture_default_str();
  sub->add_option("--role", args->role, "which network of the preset to train")
      ->capture_default_str();
  sub->add_option("--loss", args->loss, "distillation loss (needs --teacher)")
      ->check(known_loss());
  sub->add_option("--on", args->on, "map the loss acts on")
      ->capture_default_str();
  sub->add_option("--teacher", args->teacher, "teacher run record (.json) or checkpoint (.safetensors)");
  sub->add_option("--loss-opt", args->loss_opts, "loss option key=value (repeatable), e.g. tau=4");
  sub->add_option("--out", args->out, "output folder (default results/<preset>)");
  sub->add_option("--name", args->name, "run name (default <role or loss-placement>-s<seed>)");
  sub->add_option("--seed", args->seed, "seed of initialisation, data order and augmentation")
      ->check(count_in(0, kMaxSeed))
      ->capture_default_str();
  sub->add_option("--eval-split", args->eval_split, "split evaluated after training")
      ->capture_default_str();
  sub->add_flag("--resume", args->resume,
                "continue from the run's checkpoint (runs do this whenever one exists; with this "
                "flag a missing checkpoint is an error)");
  sub->add_option("--stop-after", args->stop_after,
                  "stop after N iterations as if interrupted (checkpoint kept; rerun to resume)")
      ->check(count_in(0, kMaxCount));
  sub->add_option("--nproc", args->nproc,
                  "spread the run over N processes on this machine (c10d; each takes its share of every batch, "
                  "--threads is per process); under torchrun or srun the processes come from the environment")
      ->check(count_in(1, 1024));
  sub->add_flag("--sync-bn", args->sync_bn,
                "with several processes: BatchNorm statistics over the whole batch, not each process's share");
  add_net_options(sub, args->net);
  add_schedule_options(sub, args->schedule);
  add_data_options(sub, args->data);
  add_runtime_options(sub, args->runtime);
  sub->callback([args, &context, sub]() {
    train::RunConfig config = configure(*args);
    // Checked before anything is written; then the folder is this process's until it exits.
    const train::RunPlan plan = train::resolve_plan(config);
    if (args->nproc > 1) {
      // A missing pretrained backbone is made here, once, with every core, before the processes
      // start (they find it in the cache).
      train::ensure_backbones({plan.config});
      run_local_processes(args->nproc, context, sub->count("--threads") > 0);
      return;
    }
    const auto group = join_from_env(config.device);
    // Rank 0 holds the folder for all the run's processes (only it writes there).
    std::unique_ptr<FolderLock> lock;
    if (!group || group->rank() == 0) {
      lock = std::make_unique<FolderLock>(plan.config.out_dir.empty() ? "." : plan.config.out_dir, context.command_line);
    }
    const auto record = train::train_run(config, {context.command_line, "", group});
    if (record && record->diverged) {
      throw Error(fmt::format("run '{}' {}; it was not evaluated (its record {} says so) and its last finite "
                              "checkpoint stays: lower --lr or the loss weight",
                              plan.config.name, record->diverged->text(), plan.paths.record));
    }
  });
}

}  // namespace cwd::cli
