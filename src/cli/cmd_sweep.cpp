// cwd-bench sweep: choose each loss's weight on held-out scenes, with the same budget per method.

#include "losses/registry.h"
#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/core/error.h"
#include "src/train/compare.h"
#include "src/train/sweep.h"

#include <fmt/format.h>

#include <iostream>
#include <memory>

namespace cwd::cli {

namespace {

struct SweepArgs {
  std::string preset = "quick";
  std::string methods;
  std::string on;
  std::string factors = "1/10,1/3,1,3,10";
  std::string out;
  std::string teacher;
  std::string from;
  std::string pretrained;
  DataArgs data;
  RuntimeArgs runtime;
  ExecArgs exec;
};

/// "1/3,1,3" → {0.333.., 1, 3}: numbers or fractions, each positive.
std::vector<double> parse_factors(const std::string& text) {
  std::vector<double> factors;
  const auto number = [](const std::string& part, double* value) {
    size_t used = 0;
    try {
      *value = std::stod(part, &used);
    } catch (const std::exception&) {
      return false;
    }
    return used == part.size();
  };
  for (const auto& item : split_list(text)) {
    const size_t slash = item.find('/');
    double value = 0, denominator = 1;
    const bool ok = slash == std::string::npos
                        ? number(item, &value)
                        : number(item.substr(0, slash), &value) && number(item.substr(slash + 1), &denominator);
    if (!ok || !(value > 0) || !(denominator > 0)) {
      throw Error(fmt::format("--factors: '{}' is not a positive number; give e.g. --factors 1/3,1,3", item));
    }
    factors.push_back(value / denominator);
  }
  return factors;
}

void run_sweep_command(const SweepArgs& a, const CliContext& context) {
  if (!a.from.empty()) {
    const auto summary = train::write_sweep(a.from);
    fmt::print(stderr, "rebuilt {}/sweep.json and sweep.md from its run records\n", a.from);
    std::cout << train::sweep_markdown(summary);
    return;
  }
  train::SweepConfig sc;
  sc.preset = a.preset;
  sc.methods = split_list(a.methods);
  sc.placements = train::parse_placements(split_list(a.on));
  sc.factors = parse_factors(a.factors);
  sc.out_dir = a.out;
  sc.teacher = a.teacher;
  sc.exec = exec_options(a.exec, context.command_line);
  DataArgs data = a.data;
  if (data.holdout >= 0) sc.holdout = data.holdout;
  data.holdout = -1;  // the sweep sets the students' holdout itself
  const RuntimeArgs runtime = a.runtime;
  NetArgs net;
  net.pretrained = a.pretrained;
  sc.adjust_all = [data, runtime, net](train::RunConfig& c) {
    apply(data, c.data);
    apply(runtime, c);
    apply(net, c.net);
  };
  const auto summary = train::run_sweep(sc);
  std::cout << train::sweep_markdown(summary);
}

}  // namespace

void add_sweep(CLI::App& app, const CliContext& context) {
  auto args = std::make_shared<SweepArgs>();
  auto* sub = app.add_subcommand(
      "sweep", "choose each loss's weight: the same factors around every default, judged on held-out scenes");
  sub->add_option("--preset", args->preset, "preset of the comparison the weights are for")
      ->check(one_of(train::preset_names(), "preset"))->capture_default_str();
  sub->add_option("--methods", args->methods,
                  fmt::format("comma-separated losses (default: the preset's; known: {})", fmt::join(losses::known_keys(), ", ")));
  sub->add_option("--on", args->on, "comma-separated placements: logit, feature (default: the preset's)");
  sub->add_option("--factors", args->factors, "multiples of each loss's default weight to try")->capture_default_str();
  sub->add_option("--out", args->out, "output folder (default results/sweep-<preset>)");
  sub->add_option("--pretrained", args->pretrained,
                  "start teacher and student backbones from the ones pretrained with this recipe "
                  "(fashion-items; cached, pretrained first when missing), or none (default: the preset's)");
  sub->add_option("--teacher", args->teacher,
                  "teacher record/checkpoint (default: the comparison's, results/<preset>/teacher.json, trained when missing)");
  sub->add_option("--from", args->from, "rebuild sweep.json and sweep.md from the sweep records in this folder; no training")
      ->check(CLI::ExistingDirectory);
  add_data_options(sub, args->data);
  add_runtime_options(sub, args->runtime);
  add_exec_options(sub, args->exec);
  sub->callback([args, &context]() { run_sweep_command(*args, context); });
}

}  // namespace cwd::cli
