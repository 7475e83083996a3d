#include "src/cli/common.h"

#include "losses/registry.h"
#include "src/core/error.h"
#include "src/train/pretrain.h"
#include "src/train/units.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <filesystem>
#include <sstream>

namespace cwd::cli {

std::string command_line(int argc, const char* const* argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    if (i) out += ' ';
    const std::string arg = argv[i];
    out += arg.find_first_of(" \t\"'") == std::string::npos ? arg : "'" + arg + "'";
  }
  return out;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

CLI::Validator one_of(const std::vector<std::string>& values, const std::string& what) {
  return CLI::Validator(
      [values, what](std::string& value) -> std::string {
        if (std::find(values.begin(), values.end(), value) != values.end()) return "";
        return fmt::format("unknown {} '{}' (known: {})", what, value, fmt::join(values, ", "));
      },
      "NAME");
}

CLI::Validator count_in(int64_t lo, int64_t hi) {
  const std::string range = fmt::format("an integer from {} to {}", lo, hi);
  return CLI::Validator(
      [lo, hi, range](std::string& value) -> std::string {
        const bool digits = !value.empty() && value.size() <= 19 &&
                            std::all_of(value.begin() + (value[0] == '-' || value[0] == '+'), value.end(),
                                        [](char c) { return c >= '0' && c <= '9'; }) &&
                            value.find_first_of("0123456789") != std::string::npos;
        if (digits) {
          const long long x = std::strtoll(value.c_str(), nullptr, 10);
          if (x >= lo && x <= hi) return "";
        }
        return fmt::format("'{}' is not valid: use {}", value, range);
      },
      fmt::format("INT in [{}, {}]", lo, hi));
}

CLI::Validator real_in(double lo, double hi, bool lo_open) {
  const std::string low = fmt::format("{} {:g}", lo_open ? ">" : ">=", lo);
  const std::string range = std::isinf(hi) ? fmt::format("a finite number {}", low)
                                           : fmt::format("a number {} and <= {:g}", low, hi);
  return CLI::Validator(
      [lo, hi, lo_open, range](std::string& value) -> std::string {
        char* end = nullptr;
        const double x = value.empty() ? std::nan("") : std::strtod(value.c_str(), &end);
        const bool parsed = end == value.c_str() + value.size();
        if (parsed && std::isfinite(x) && (lo_open ? x > lo : x >= lo) && x <= hi) return "";
        return fmt::format("'{}' is not valid: use {}", value, range);
      },
      std::isinf(hi) ? fmt::format("NUMBER {}", low) : fmt::format("NUMBER {} and <= {:g}", low, hi));
}

CLI::Validator positive_number() { return real_in(0, std::numeric_limits<double>::infinity(), true); }

CLI::Validator known_loss() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        return losses::is_known(value) ? "" : losses::unknown_loss(value);
      },
      "LOSS");
}

void add_data_options(CLI::App* app, DataArgs& a) {
  app->add_option("--data", a.name, "dataset")
      ->check(CLI::IsMember({"fashion-scenes", "cityscapes", "folder"}))
      ->group("Data");
  app->add_option("--data-root", a.root,
                  "dataset folder (fashion-scenes: the IDX files, default "
                  "/usr/share/datasets/fashion-mnist)")
      ->group("Data");
  app->add_option("--train-size", a.train_size, "fashion-scenes: training scenes")
      ->check(count_in(1, 10000000))->group("Data");
  app->add_option("--val-size", a.val_size, "fashion-scenes: validation scenes")
      ->check(count_in(1, 10000000))->group("Data");
  app->add_option("--canvas", a.canvas, "fashion-scenes: scene size HxW, e.g. 64x128")->group("Data");
  app->add_option("--data-seed", a.data_seed, "fashion-scenes: generator seed")
      ->check(count_in(0, kMaxSeed))->group("Data");
  app->add_option("--holdout", a.holdout,
                  "training images held out (served as the 'holdout' split, e.g. for weight sweeps)")
      ->check(count_in(0, 10000000))->group("Data");
  app->add_option("--limit", a.limit, "use at most N images per split (0 = all)")
      ->check(count_in(0, kMaxCount))->group("Data");
  app->add_option("--num-classes", a.num_classes, "folder: number of classes")
      ->check(count_in(1, 255))->group("Data");
  app->add_option("--class-names", a.class_names, "folder: comma-separated class names")->group("Data");
  app->add_option("--ignore-index", a.ignore_index, "folder: label value to ignore (default 255)")
      ->check(count_in(0, 255))->group("Data");
  app->add_option("--train-list", a.train_list, "folder: split file of 'image label' lines")->group("Data");
  app->add_option("--val-list", a.val_list, "folder: split file of 'image label' lines")->group("Data");
}

void add_schedule_options(CLI::App* app, ScheduleArgs& a) {
  app->add_option("--iters", a.iters, "training iterations")->check(count_in(1, kMaxCount))->group("Schedule");
  app->add_option("--batch", a.batch, "images per iteration")->check(count_in(1, kMaxCount))->group("Schedule");
  app->add_option("--lr", a.lr, "base learning rate (poly decay, power 0.9)")
      ->check(positive_number())->group("Schedule");
  app->add_option("--crop", a.crop, "training crop HxW")->group("Schedule");
  app->add_option("--scale", a.scale, "random scale range MIN:MAX, e.g. 0.5:2")->group("Schedule");
  app->add_flag("--no-flip", a.no_flip, "no random horizontal flip")->group("Schedule");
  app->add_option("--checkpoint-every", a.checkpoint_every, "iterations between checkpoints")
      ->check(count_in(1, kMaxCount))->group("Schedule");
  app->add_option("--log-every", a.log_every, "iterations between log lines")
      ->check(count_in(1, kMaxCount))->group("Schedule");
  app->add_option("--eval-batch", a.eval_batch, "images per evaluation forward")
      ->check(count_in(1, kMaxCount))->group("Schedule");
}

void add_net_options(CLI::App* app, NetArgs& a) {
  app->add_option("--depth", a.depth, "ResNet depth: 18, 34, 50 or 101")->check(count_in(1, 1000))->group("Model");
  app->add_option("--width", a.width, "channel width multiplier, 0 < width <= 4 (1 = the paper's networks)")
      ->check(real_in(0, 4, true))->group("Model");
  app->add_option("--stem", a.stem, "ResNet stem: standard or deep")->group("Model");
  app->add_option("--output-stride", a.output_stride, "backbone output stride: 8, 16 or 32")
      ->check(count_in(1, 64))->group("Model");
  app->add_option("--backbone-weights", a.backbone_weights,
                  "initial backbone weights (safetensors or torch.save dict, torchvision names)")
      ->check(CLI::ExistingFile)->group("Model");
  app->add_option("--init", a.init,
                  "how fresh weights are drawn: torch (PyTorch's defaults), mmseg (kaiming fan-out, "
                  "classifiers N(0, 0.01)), kaiming (kaiming fan-out everywhere)")
      ->group("Model");
  app->add_option("--pretrained", a.pretrained,
                  "start the backbone from the one pretrained with this recipe (fashion-items; cached, "
                  "pretrained first when missing), or none")
      ->group("Model");
  app->add_option("--init-weights", a.init_weights,
                  "start from these weights of the whole network (safetensors, cwd-bench's names)")
      ->check(CLI::ExistingFile)->group("Model");
}

void add_runtime_options(CLI::App* app, RuntimeArgs& a) {
  app->add_option("--threads", a.threads, "CPU threads for libtorch (0 = all cores)")
      ->check(count_in(0, 1024))->group("Runtime");
  app->add_option("--device", a.device, "auto = cuda when available")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))->group("Runtime");
  app->add_option("--workers", a.workers, "data-loading threads")->check(count_in(1, 64))->group("Runtime");
}

void add_exec_options(CLI::App* app, ExecArgs& a) {
  app->add_option("--jobs", a.jobs,
                  "units (the teacher, then one cohort of students per seed) trained at once, each in its "
                  "own process with --threads / jobs threads")
      ->check(count_in(1, 256))->capture_default_str()->group("Runtime");
  app->add_option("--max-memory", a.max_memory,
                  "memory budget of one cohort, e.g. 8G; a cohort estimated above it is split "
                  "(default: 3/4 of RAM on CPU, none on CUDA; 0 = none)")
      ->group("Runtime");
  app->add_flag("--no-cohorts", a.no_cohorts,
                "train every student as its own run with its own teacher pass (same records, slower; "
                "for measuring what cohorts save)")
      ->group("Runtime");
}

train::ExecOptions exec_options(const ExecArgs& a, const std::string& command_line) {
  train::ExecOptions e;
  e.command_line = command_line;
  e.jobs = a.jobs;
  e.cohorts = !a.no_cohorts;
  if (!a.max_memory.empty()) e.max_memory = train::parse_memory_size(a.max_memory);
  std::error_code ec;
  e.exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  return e;
}

void apply(const DataArgs& a, data::DataConfig& d) {
  if (!a.name.empty()) d.name = a.name;
  if (!a.root.empty()) d.root = a.root;
  if (a.train_size > 0) d.train_size = a.train_size;
  if (a.val_size > 0) d.val_size = a.val_size;
  if (!a.canvas.empty()) std::tie(d.height, d.width) = train::parse_size(a.canvas, "--canvas");
  if (a.data_seed >= 0) d.seed = static_cast<uint64_t>(a.data_seed);
  if (a.holdout >= 0) d.holdout = a.holdout;
  if (a.limit >= 0) d.limit = a.limit;
  if (a.num_classes > 0) d.num_classes = a.num_classes;
  if (!a.class_names.empty()) d.class_names = split_list(a.class_names);
  if (a.ignore_index >= 0) d.ignore_index = a.ignore_index;
  if (!a.train_list.empty()) d.train_list = a.train_list;
  if (!a.val_list.empty()) d.val_list = a.val_list;
}

void apply(const ScheduleArgs& a, train::RunConfig& c) {
  if (a.iters > 0) c.schedule.iterations = a.iters;
  if (a.batch > 0) c.schedule.batch_size = a.batch;
  if (a.lr > 0) c.schedule.lr = a.lr;
  if (!a.crop.empty()) std::tie(c.augment.crop_h, c.augment.crop_w) = train::parse_size(a.crop, "--crop");
  if (!a.scale.empty()) {
    const auto colon = a.scale.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("no colon");
      c.augment.scale_min = std::stod(a.scale.substr(0, colon));
      c.augment.scale_max = std::stod(a.scale.substr(colon + 1));
    } catch (const std::exception&) {
      throw Error(fmt::format("--scale '{}' is not a range (expected MIN:MAX, e.g. 0.5:2)", a.scale));
    }
  }
  if (a.no_flip) c.augment.flip = false;
  if (a.checkpoint_every > 0) c.checkpoint_every = a.checkpoint_every;
  if (a.log_every > 0) c.log_every = a.log_every;
  if (a.eval_batch > 0) c.eval_batch = a.eval_batch;
}

void apply(const NetArgs& a, train::NetConfig& n) {
  if (a.depth > 0) n.depth = a.depth;
  if (a.width > 0) n.width = a.width;
  if (!a.stem.empty()) n.stem = models::parse_stem(a.stem);
  if (a.output_stride > 0) n.output_stride = a.output_stride;
  if (!a.backbone_weights.empty()) n.backbone_weights = a.backbone_weights;
  if (!a.init.empty()) n.init = models::parse_init(a.init);
  if (!a.init_weights.empty()) n.init_weights = a.init_weights;
  if (a.pretrained == "none") {
    n.pretrained.clear();
  } else if (!a.pretrained.empty()) {
    train::pretrain_recipe(a.pretrained);  // an unknown name fails here, listing the known ones
    n.pretrained = a.pretrained;
  }
}

void apply(const RuntimeArgs& a, train::RunConfig& c) {
  c.threads = a.threads;
  c.device = a.device;
  c.workers = a.workers;
}

}  // namespace cwd::cli
