// `cwd-bench pretrain` pretrains a backbone on fashion-items and caches it (src/train/pretrain.h).

#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/core/threads.h"
#include "src/train/pretrain.h"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

namespace cwd::cli {
namespace {

struct PretrainArgs {
  std::string preset;
  std::string role = "student";
  NetArgs net;
  std::string recipe = "fashion-items";
  int64_t iters = 0, batch = 0, side = 0, eval_samples = 0;
  double lr = 0;
  int64_t seed = -1;
  std::string data_root;
  RuntimeArgs runtime;
  bool force = false;
  std::string out;
};

void run_pretrain(const PretrainArgs& a) {
  train::NetConfig net;
  if (!a.preset.empty()) {
    const auto& p = train::preset(a.preset);
    net = train::parse_role(a.role) == train::Role::kTeacher ? p.teacher : p.student;
  }
  apply(a.net, net);
  train::PretrainSpec spec = train::pretrain_spec([&] {
    train::NetConfig n = net;
    n.pretrained = a.recipe;
    return n;
  }());
  auto& r = spec.recipe;
  if (a.iters > 0) r.iterations = a.iters;
  if (a.batch > 0) r.batch_size = a.batch;
  if (a.side > 0) r.side = a.side;
  if (a.eval_samples > 0) r.eval_samples = a.eval_samples;
  if (a.lr > 0) r.lr = a.lr;
  if (a.seed >= 0) r.seed = static_cast<uint64_t>(a.seed);

  const int threads = set_threads(a.runtime.threads);
  train::PretrainOptions o;
  o.data_root = a.data_root;
  o.device = resolve_device(a.runtime.device);
  o.data_threads = a.runtime.workers;
  o.log = [](const std::string& line) { std::cerr << line << "\n"; };
  std::cerr << fmt::format("pretrain: cache {}, {} thread(s), device {}\n", train::default_cache_dir(), threads,
                           o.device.str());
  const auto found = a.force ? std::nullopt : train::find_pretrained(spec, "");
  const train::PretrainedBackbone b = found ? *found : train::pretrain_backbone(spec, o);
  if (found) std::cerr << "pretrain: already cached (pass --force to pretrain again)\n";
  if (!a.out.empty()) {
    write_file_atomic(a.out, [&](const std::string& tmp) {
      std::filesystem::copy_file(b.weights, tmp, std::filesystem::copy_options::overwrite_existing);
    });
  }
  std::cout << fmt::format("{}\nspec {}  weights hash {}  held-out accuracy {:.2f}%\n", a.out.empty() ? b.weights : a.out,
                           b.spec_hash, b.weights_hash, b.test_accuracy);
}

}  // namespace

void add_pretrain(CLI::App& app) {
  auto args = std::make_shared<PretrainArgs>();
  auto* cmd = app.add_subcommand(
      "pretrain",
      "Pretrain a ResNet backbone as a classifier of fashion-items (the ImageNet step of the recipe) and cache "
      "it; prints the safetensors path (torchvision names, what --backbone-weights loads)");
  cmd->add_option("--preset", args->preset, "take the architecture from this preset's network")
      ->check(one_of(train::preset_names(), "preset"));
  cmd->add_option("--role", args->role, "which network of --preset: student or teacher")
      ->check(CLI::IsMember({"student", "teacher"}))
      ->capture_default_str();
  add_net_options(cmd, args->net);
  cmd->add_option("--recipe", args->recipe, "pretraining recipe (fashion-items)")->capture_default_str();
  cmd->add_option("--iters", args->iters, "iterations (default: the recipe's)")->check(count_in(1, kMaxCount))->group("Recipe");
  cmd->add_option("--batch", args->batch, "images per iteration (default: the recipe's)")
      ->check(count_in(1, kMaxCount))
      ->group("Recipe");
  cmd->add_option("--side", args->side, "image side in pixels (default: the recipe's)")
      ->check(count_in(1, 16384))
      ->group("Recipe");
  cmd->add_option("--lr", args->lr, "learning rate (default: the recipe's)")->check(positive_number())->group("Recipe");
  cmd->add_option("--seed", args->seed, "seed of the weights and the renders (default: the recipe's)")
      ->check(count_in(0, kMaxSeed))
      ->group("Recipe");
  cmd->add_option("--eval-samples", args->eval_samples, "renders of held-out items the accuracy is measured on")
      ->check(count_in(1, kMaxCount))
      ->group("Recipe");
  cmd->add_option("--data-root", args->data_root, "folder of the Fashion-MNIST IDX files (default: the Debian package's)");
  add_runtime_options(cmd, args->runtime);
  cmd->add_flag("--force", args->force, "pretrain again even when the cache has this backbone");
  cmd->add_option("--out", args->out, "also copy the weights here (safetensors)");
  cmd->callback([args] { run_pretrain(*args); });
}

}  // namespace cwd::cli
