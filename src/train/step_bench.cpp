#include "src/train/step_bench.h"

#include "models/pspnet.h"
#include "src/core/blas.h"
#include "src/core/error.h"
#include "src/core/memory.h"
#include "src/core/threads.h"
#include "src/data/dataset.h"
#include "src/train/config.h"
#include "src/train/distiller.h"
#include "src/train/meter.h"
#include "src/train/network.h"
#include "src/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <thread>

namespace cwd::train {

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int64_t preset_classes(const Preset& p) {
  if (p.data.name == "fashion-scenes") return static_cast<int64_t>(data::fashion_scene_class_names().size());
  if (p.data.name == "cityscapes") return static_cast<int64_t>(data::cityscapes_class_names().size());
  if (p.data.num_classes > 0) return p.data.num_classes;
  throw Error(fmt::format("bench-step: preset '{}' does not say how many classes its data has; pass --classes",
                          p.name));
}

// 4-D parameters (the convolutions' weights) to channels-last, in place of their data.
void params_to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
  }
}

void zero_grad(torch::optim::Optimizer& optimizer, bool to_none) {
  if (!to_none) {
    optimizer.zero_grad();
    return;
  }
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) p.mutable_grad() = torch::Tensor();
  }
}

// Restores the oneDNN switch when the run ends.
class MkldnnSwitch {
 public:
  explicit MkldnnSwitch(bool on) : before_(at::globalContext().userEnabledMkldnn()) {
    at::globalContext().setUserEnabledMkldnn(on);
  }
  ~MkldnnSwitch() { at::globalContext().setUserEnabledMkldnn(before_); }
  MkldnnSwitch(const MkldnnSwitch&) = delete;
  MkldnnSwitch& operator=(const MkldnnSwitch&) = delete;

 private:
  bool before_;
};

StepBenchCase run_case(const std::string& name, const StepBenchOptions& o, const Preset& p,
                       int64_t classes, const torch::Tensor& images, const torch::Tensor& labels) {
  const bool distilled = name == "cwd";
  const bool teacher_alone = name == "teacher";
  const NetConfig& net = teacher_alone ? p.teacher : p.student;
  const Schedule& schedule = teacher_alone ? p.teacher_schedule : p.student_schedule;
  const torch::Device device = torch::kCPU;

  // As the trainer's build_distiller(): seed, student, then (distilled) teacher and loss.
  torch::manual_seed(o.seed);
  models::PSPNet student = build_network(net, classes);
  Distiller distiller{nullptr};
  StepBenchCase c;
  c.name = name;
  c.description = models::describe(pspnet_options(net, classes));
  if (distilled) {
    models::PSPNet teacher = build_network(p.teacher, classes);
    teacher->eval();
    for (auto& t : teacher->parameters()) t.set_requires_grad(false);
    const auto options = preset_loss_options(p, "cwd", Placement::kLogit, o.cwd_options);
    auto loss = make_loss("cwd", options, Placement::kLogit, student, teacher);
    if (o.channels_last) params_to_channels_last(*teacher);
    distiller = Distiller(student, teacher, loss, Placement::kLogit);
    c.description += fmt::format(" + CWD (logit, {}) from frozen {}", loss->options().dump(),
                                 models::describe(pspnet_options(p.teacher, classes)));
  } else {
    distiller = Distiller(student);
  }
  if (o.channels_last) params_to_channels_last(*distiller);
  torch::optim::SGD optimizer(distiller->trainable_parameters(),
                              torch::optim::SGDOptions(schedule.lr)
                                  .momentum(schedule.momentum)
                                  .weight_decay(schedule.weight_decay));
  for (const auto& t : distiller->trainable_parameters()) c.params += t.numel();

  const torch::Tensor x = o.channels_last ? images.contiguous(at::MemoryFormat::ChannelsLast) : images;
  const int64_t total = o.warmup + o.steps;
  TermMeter meter(device, total);
  distiller->train();
  StepLosses last;
  for (int64_t it = 0; it < total; ++it) {
    const auto t0 = Clock::now();
    // The trainer's loop body (run_steps in src/train/trainer.cpp), data loading aside.
    torch::manual_seed(iteration_seed(o.seed, it));
    set_lr(optimizer, poly_lr(schedule.lr, schedule.poly_power, it, total));
    zero_grad(optimizer, o.zero_grad_to_none);
    const bool through_meter = meter.begin(it);
    last = distiller->step(x, labels, 255, schedule.aux_weight, through_meter ? &meter : nullptr);
    optimizer.step();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (it >= o.warmup) c.steps_ms.push_back(ms);
  }
  c.final_loss = last.task.item<double>() + (last.distill.defined() ? last.distill.item<double>() : 0.0);
  c.median_ms = median(c.steps_ms);
  c.min_ms = c.steps_ms.empty() ? 0.0 : *std::min_element(c.steps_ms.begin(), c.steps_ms.end());
  c.images_per_s = c.median_ms > 0 ? static_cast<double>(o.batch) * 1000.0 / c.median_ms : 0.0;
  return c;
}

}  // namespace

std::vector<double> load_average() {
  std::ifstream in("/proc/loadavg");
  std::vector<double> out(3, 0.0);
  if (!(in >> out[0] >> out[1] >> out[2])) return {};
  return out;
}

const std::vector<std::string>& step_bench_cases() {
  static const std::vector<std::string> cases = {"student", "teacher", "cwd"};
  return cases;
}

std::vector<StepBenchCase> bench_steps(const StepBenchOptions& o,
                                       const std::function<void(const std::string&)>& progress) {
  if (o.batch < 1) throw Error(fmt::format("bench-step: --batch {} is out of range (valid: >= 1)", o.batch));
  if (o.crop_h < 8 || o.crop_w < 8) {
    throw Error(fmt::format("bench-step: --crop {}x{} is too small (valid: at least 8x8)", o.crop_h, o.crop_w));
  }
  if (o.warmup < 0 || o.steps < 1) {
    throw Error(fmt::format("bench-step: --warmup {} / --steps {} out of range (valid: >= 0 / >= 1)",
                            o.warmup, o.steps));
  }
  for (const auto& name : o.cases) {
    const auto& known = step_bench_cases();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      throw Error(fmt::format("bench-step: unknown case '{}' (valid: {})", name, fmt::join(known, ", ")));
    }
  }
  const Preset& p = preset(o.preset);
  const int64_t classes = o.num_classes > 0 ? o.num_classes : preset_classes(p);
  set_threads(o.threads);
  MkldnnSwitch mkldnn(o.mkldnn);

  // Random normalised images and labels (a share set to the ignore index), from a fixed seed.
  auto gen = at::detail::createCPUGenerator(o.seed);
  const auto images = torch::randn({o.batch, 3, o.crop_h, o.crop_w}, gen, torch::kFloat);
  auto labels = torch::randint(0, classes, {o.batch, o.crop_h, o.crop_w}, gen, torch::kLong);
  const auto ignored = torch::rand({o.batch, o.crop_h, o.crop_w}, gen) < o.ignore_fraction;
  labels.masked_fill_(ignored, 255);

  std::vector<StepBenchCase> out;
  for (const auto& name : o.cases) {
    auto c = run_case(name, o, p, classes, images, labels);
    if (progress) {
      progress(fmt::format("{:<8} median {:8.2f} ms  min {:8.2f} ms  {:7.1f} img/s  ({} steps, loss {:.4f})",
                           c.name, c.median_ms, c.min_ms, c.images_per_s, c.steps_ms.size(),
                           c.final_loss));
    }
    out.push_back(std::move(c));
  }
  return out;
}

nlohmann::json step_bench_report(const StepBenchOptions& o, const std::vector<StepBenchCase>& cases,
                                 const std::vector<double>& load_start) {
  const int threads = torch::get_num_threads();
  const nlohmann::json optimisations = {
      {"channels_last", o.channels_last},
      {"mkldnn", o.mkldnn},
      {"zero_grad", o.zero_grad_to_none ? "set_to_none" : "zero"},
      {"cpu_memory_counter", cpu_memory_counter_installed()},
      {"term_meter", true}};
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& c : cases) {
    rows.push_back({{"name", c.name},
                    {"description", c.description},
                    {"params", c.params},
                    {"threads", threads},
                    {"steps_ms", c.steps_ms},
                    {"median_ms", c.median_ms},
                    {"min_ms", c.min_ms},
                    {"images_per_s", c.images_per_s},
                    {"final_loss", c.final_loss}});
  }
  return {{"schema", "cwd-bench/bench-step/1"},
          {"tool", "cwd-bench bench-step"},
          {"implementation", "cwd-bench"},
          {"libtorch", TORCH_VERSION},
          {"blas", loaded_blas()},
          {"threads", threads},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"load_average_start", load_start},
          {"load_average", load_average()},
          {"optimisations", optimisations},
          {"timing", "steady clock around one training step (zero_grad, forward, loss, backward, "
                     "SGD step), median of the timed steps"},
          {"config",
           {{"preset", o.preset},
            {"batch", o.batch},
            {"crop", {o.crop_h, o.crop_w}},
            {"num_classes", o.num_classes > 0 ? o.num_classes : preset_classes(preset(o.preset))},
            {"warmup", o.warmup},
            {"steps", o.steps},
            {"seed", o.seed},
            {"ignore_fraction", o.ignore_fraction}}},
          {"cases", rows}};
}

}  // namespace cwd::train
