// `cwd-bench losses` lists the distillation losses; `cwd-bench bench-losses` measures their speed
// and peak memory (losses/bench.h) and writes a JSON report.

#include "losses/bench.h"
#include "losses/registry.h"
#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/core/blas.h"
#include "src/core/error.h"
#include "src/core/json_io.h"

#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace cwd::cli {
namespace {

struct LossesArgs {
  bool json = false;
};

void run_losses(const LossesArgs& args) {
  nlohmann::json listing = nlohmann::json::array();
  for (const auto& key : losses::known_keys()) {
    auto loss = losses::create(key, nlohmann::json::object());
    const auto info = loss->info();
    listing.push_back({{"key", info.key},
                       {"title", info.title},
                       {"paper", info.paper},
                       {"formula", info.formula},
                       {"needs_labels", info.needs_labels},
                       {"extra_params", loss->extra_params()},
                       {"defaults", loss->options()}});
  }
  if (args.json) {
    std::cout << listing.dump(2) << "\n";
    return;
  }
  std::cout << fmt::format("{:<6} {:<46} {:<10} {:<7} {}\n", "key", "title", "cost", "labels",
                           "defaults");
  for (const auto& row : listing) {
    std::cout << fmt::format("{:<6} {:<46} {:<10} {:<7} {}\n", row["key"].get<std::string>(),
                             row["title"].get<std::string>(), row["formula"].get<std::string>(),
                             row["needs_labels"].get<bool>() ? "yes" : "no",
                             row["defaults"].dump());
  }
  std::cout << "\nPapers:\n";
  for (const auto& row : listing) {
    std::cout << fmt::format("  {:<6} {}\n", row["key"].get<std::string>(),
                             row["paper"].get<std::string>());
  }
}

struct BenchLossesArgs {
  losses::BenchOptions options;
  std::string options_json = "{}";
  std::string out;
};

void run_bench_losses(BenchLossesArgs args) {
  nlohmann::json per_key;
  try {
    per_key = nlohmann::json::parse(args.options_json);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format(
        "--options: not valid JSON ({}), expected e.g. '{{\"pa\":{{\"pool\":2}}}}'", e.what()));
  }
  if (!per_key.is_object()) {
    throw Error("--options: expected a JSON object keyed by loss, e.g. '{\"pa\":{\"pool\":2}}'");
  }
  // Validate before anything runs: options, and every key (a script:PATH is loaded here).
  for (const auto& item : per_key.items()) losses::create(item.key(), item.value());
  for (const auto& key : args.options.keys) {
    losses::create(key, per_key.contains(key) ? per_key.at(key) : nlohmann::json::object());
  }
  args.options.options = per_key;
  std::cerr << fmt::format("bench-losses: N={} H={} W={} C={} on {}, {} thread(s) requested, "
                           "BLAS {}\n",
                           args.options.n, args.options.h, args.options.w,
                           fmt::join(args.options.channels, ","), args.options.device,
                           args.options.threads, loaded_blas().kind);
  auto records = losses::bench_losses(
      args.options, [](const std::string& line) { std::cerr << "  " << line << "\n"; });
  write_json_atomic(args.out, losses::bench_report(args.options, records));
  std::cerr << "bench-losses: wrote " << args.out << "\n";
}

}  // namespace

void add_losses(CLI::App& app) {
  auto args = std::make_shared<LossesArgs>();
  auto* cmd = app.add_subcommand("losses", "List the distillation losses, their cost and defaults");
  cmd->add_flag("--json", args->json, "Print JSON instead of a table");
  cmd->callback([args] { run_losses(*args); });
}

void add_bench_losses(CLI::App& app) {
  auto args = std::make_shared<BenchLossesArgs>();
  auto& o = args->options;
  auto* cmd = app.add_subcommand(
      "bench-losses",
      "Time forward+backward and measure exact peak extra memory of each loss; writes JSON");
  cmd->add_option("--out", args->out, "Report file (JSON, written atomically)")->required();
  cmd->add_option("-n,--batch", o.n, "Batch size N (default keeps the run under ~8 GB)")
      ->check(count_in(1, 4096))
      ->capture_default_str();
  cmd->add_option("-c,--channels", o.channels, "Channel counts C to run (19 logits, 512 features)")
      ->check(count_in(1, 65536))
      ->capture_default_str();
  cmd->add_option("--height", o.h, "Map height H")
      ->check(count_in(3, 1 << 16))
      ->capture_default_str();
  cmd->add_option("--width", o.w, "Map width W")
      ->check(count_in(3, 1 << 16))
      ->capture_default_str();
  cmd->add_option("--label-stride", o.label_stride, "Labels at (H·s)×(W·s) for IFVD")
      ->check(count_in(1, 64))
      ->capture_default_str();
  cmd->add_option("--classes", o.num_classes, "Classes in the random labels")
      ->check(count_in(1, 255))
      ->capture_default_str();
  cmd->add_option("--keys", o.keys, "Losses to run (default: all built-in; script:PATH.pt too)")
      ->check(known_loss());
  cmd->add_option("--options", args->options_json,
                  "Per-loss options as JSON, e.g. '{\"pa\":{\"pool\":2}}'")
      ->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "Untimed runs per case")
      ->check(count_in(0, 1000000))
      ->capture_default_str();
  cmd->add_option("--repeats", o.repeats, "Timed runs per case (at most)")
      ->check(count_in(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--max-seconds", o.max_seconds, "Stop repeating a case after this many seconds")
      ->check(positive_number())
      ->capture_default_str();
  cmd->add_option("--threads", o.threads, "Intra-op threads (0 = all cores)")
      ->check(count_in(0, 1024))
      ->capture_default_str();
  cmd->add_option("--device", o.device, "cpu, cuda or auto")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of the random maps and labels")->capture_default_str();
  cmd->callback([args] { run_bench_losses(*args); });
}

}  // namespace cwd::cli
