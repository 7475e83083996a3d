#include "src/train/trainer.h"

#include "models/weights.h"
#include "src/core/error.h"
#include "src/core/memory.h"
#include "src/core/progress.h"
#include "src/core/random.h"
#include "src/core/threads.h"
#include "src/data/loader.h"
#include "src/train/checkpoint.h"
#include "src/train/distiller.h"
#include "src/train/network.h"
#include "src/train/plan.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>

namespace cwd::train {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Everything a run works with, built once from its plan.
struct Session {
  RunPlan plan;
  torch::Device device = torch::kCPU;
  int threads = 0;
  std::shared_ptr<const data::SegDataset> train_set;
  std::shared_ptr<const data::SegDataset> eval_set;
  nlohmann::json teacher = nullptr;  // the teacher's identity
  Distiller distiller{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer;
};

// What a run has done so far; kept in its checkpoint.
struct RunState {
  int64_t done = 0;
  int64_t resumed_at = 0;
  double wall_s = 0;  // training time before this process
  double wait_s = 0;  // data-loading wait before this process
  nlohmann::json curve = nlohmann::json::array();
  TermStats term;
};

Distiller build_distiller(const RunConfig& cfg, int64_t classes, torch::Device device,
                          nlohmann::json& teacher_identity) {
  torch::manual_seed(cfg.seed);
  models::PSPNet student = build_network(cfg.net, classes);
  student->to(device);
  if (cfg.loss.empty()) return Distiller(student);
  LoadedNetwork teacher = load_network(cfg.teacher, device);
  if (teacher.num_classes != classes) {
    throw Error(fmt::format("teacher '{}' predicts {} classes but the data has {}; use a teacher "
                            "trained on this dataset",
                            cfg.teacher, teacher.num_classes, classes));
  }
  teacher_identity = teacher.identity;
  auto loss = make_loss(cfg.loss, cfg.loss_options, cfg.placement, student->feature_channels(),
                        teacher.net->feature_channels());
  loss->to(device);
  return Distiller(student, teacher.net, loss, cfg.placement);
}

Session open_session(RunPlan plan) {
  Session s;
  const RunConfig& cfg = plan.config;
  s.threads = set_threads(cfg.threads);
  s.device = resolve_device(cfg.device);
  s.train_set = data::make_dataset(cfg.data, data::Split::kTrain);
  s.eval_set = data::make_dataset(cfg.data, cfg.eval_split);
  s.distiller = build_distiller(cfg, s.train_set->num_classes(), s.device, s.teacher);
  s.optimizer = std::make_unique<torch::optim::SGD>(
      s.distiller->trainable_parameters(),
      torch::optim::SGDOptions(cfg.schedule.lr)
          .momentum(cfg.schedule.momentum)
          .weight_decay(cfg.schedule.weight_decay));
  s.plan = std::move(plan);
  return s;
}

// SGD state loaded from a CPU checkpoint must live beside its parameter.
void move_optimizer_state(torch::optim::SGD& optimizer, const torch::Device& device) {
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      auto it = optimizer.state().find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it == optimizer.state().end()) continue;
      auto& state = static_cast<torch::optim::SGDParamState&>(*it->second);
      if (state.momentum_buffer().defined()) state.momentum_buffer(state.momentum_buffer().to(device));
    }
  }
}

// Continues from the run's checkpoint when there is one (a fresh state otherwise).
RunState start_or_resume(Session& s) {
  const RunConfig& cfg = s.plan.config;
  const std::string& path = s.plan.paths.checkpoint;
  RunState state;
  if (!fs::exists(path)) {
    if (cfg.require_resume) {
      throw Error(fmt::format("--resume: no checkpoint '{}' to continue from; check --out/--name, "
                              "or drop --resume to start the run",
                              path));
    }
    return state;
  }
  const auto meta = read_checkpoint_meta(path).meta;
  if (meta.value("config_hash", "") != s.plan.hash) {
    throw Error(fmt::format("checkpoint '{}' was written by a different configuration; delete it "
                            "or choose another --out/--name",
                            path));
  }
  const auto loaded = load_checkpoint(path, *s.distiller->student(), s.distiller->loss(), s.optimizer.get());
  move_optimizer_state(*s.optimizer, s.device);
  if (loaded.iteration > cfg.schedule.iterations) {
    throw Error(fmt::format("checkpoint '{}' is at iteration {}, past --iters {}", path,
                            loaded.iteration, cfg.schedule.iterations));
  }
  state.done = state.resumed_at = loaded.iteration;
  state.wall_s = meta.value("wall_s", 0.0);
  state.wait_s = meta.value("wait_s", 0.0);
  state.curve = meta.value("curve", nlohmann::json::array());
  state.term = meta.value("term", nlohmann::json::object()).get<TermStats>();
  return state;
}

void save_state(Session& s, const RunState& state) {
  const RunConfig& cfg = s.plan.config;
  CheckpointMeta meta{state.done,
                      {{"model", cfg.net},
                       {"num_classes", s.train_set->num_classes()},
                       {"config_hash", s.plan.hash},
                       {"config", cfg},
                       {"wall_s", state.wall_s},
                       {"wait_s", state.wait_s},
                       {"curve", state.curve},
                       {"term", state.term}}};
  save_checkpoint(s.plan.paths.checkpoint, *s.distiller->student(), s.distiller->loss(),
                  s.optimizer.get(), meta);
}

double poly_lr(const Schedule& schedule, int64_t it) {
  return schedule.lr *
         std::pow(1.0 - static_cast<double>(it) / schedule.iterations, schedule.poly_power);
}

void set_lr(torch::optim::SGD& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
  }
}

nlohmann::json curve_point(int64_t done, const StepLosses& losses, double lr) {
  const double ce = losses.task.item<double>();
  const double distill = losses.distill.defined() ? losses.distill.item<double>() : 0.0;
  nlohmann::json point = {{"iter", done}, {"loss", ce + distill}, {"ce", ce}, {"lr", lr}};
  if (losses.distill.defined()) point["distill"] = distill;
  return point;
}

// The training steps from state.done on. Returns false when --stop-after cut the run short.
bool run_steps(Session& s, RunState& state, const std::string& label) {
  const RunConfig& cfg = s.plan.config;
  const int64_t iterations = cfg.schedule.iterations;
  const int64_t batch = cfg.schedule.batch_size;
  const int64_t start = state.done;
  Progress progress(label, iterations, start, cfg.log_every);
  if (start > 0 && start < iterations) progress.message(fmt::format("resuming at iteration {}", start));
  if (start >= iterations) return true;
  data::TrainStream stream(s.train_set, cfg.augment, batch, cfg.seed, start, cfg.workers);
  TermMeter meter(s.device, iterations, state.term);
  const auto t0 = Clock::now();
  const double wall_before = state.wall_s, wait_before = state.wait_s;
  s.distiller->train();
  for (int64_t it = start; it < iterations; ++it) {
    torch::manual_seed(iteration_seed(cfg.seed, it));
    data::Batch b = stream.next();
    const double lr = poly_lr(cfg.schedule, it);
    set_lr(*s.optimizer, lr);
    s.optimizer->zero_grad();
    const bool through_meter = meter.begin(it);
    const auto labels = b.labels.to(s.device);
    const auto losses = s.distiller->step(b.images.to(s.device), labels, s.train_set->ignore_index(),
                                          cfg.schedule.aux_weight, through_meter ? &meter : nullptr);
    s.optimizer->step();
    state.done = it + 1;
    if (state.done % cfg.log_every == 0 || state.done == iterations) {
      // On the CPU the losses checked their inputs already; on CUDA they leave it to here.
      if (s.device.is_cuda()) s.distiller->check_values(losses, labels, s.train_set->ignore_index());
      state.curve.push_back(curve_point(state.done, losses, lr));
      const double rate = (state.done - start) * batch / std::max(seconds_since(t0), 1e-9);
      progress.update(state.done, state.curve.back().at("loss").get<double>(), rate);
    }
    const bool stop_now = cfg.stop_after > 0 && state.done >= cfg.stop_after && state.done < iterations;
    state.wall_s = wall_before + seconds_since(t0);
    state.wait_s = wait_before + stream.wait_seconds();
    state.term = meter.stats();
    if (state.done % cfg.checkpoint_every == 0 || state.done == iterations || stop_now) save_state(s, state);
    if (stop_now) {
      progress.message(fmt::format("stopped at iteration {} (--stop-after); rerun to resume", state.done));
      return false;
    }
  }
  progress.finish();
  return true;
}

std::string relative_to(const std::string& path, const std::string& base) {
  return fs::relative(fs::absolute(path), fs::absolute(base)).generic_string();
}

ModelInfo model_info(Session& s) {
  const RunConfig& cfg = s.plan.config;
  auto& net = s.distiller->student();
  const auto first = data::eval_sample(*s.eval_set, 0);
  const auto stats = models::model_stats(net, first.images.size(2), first.images.size(3));
  ModelInfo m;
  m.net = cfg.net;
  m.num_classes = s.train_set->num_classes();
  m.description = models::describe(pspnet_options(cfg.net, m.num_classes));
  m.params = stats.params;
  m.backbone_params = stats.backbone_params;
  m.head_params = stats.head_params;
  m.aux_params = stats.aux_params;
  m.gflops = stats.gflops;
  m.gflops_input = {stats.input_h, stats.input_w};
  m.feature_channels = net->feature_channels();
  return m;
}

std::optional<LossRecord> loss_record(const Session& s, const TermStats& term) {
  const auto* loss = s.distiller->loss();
  if (loss == nullptr) return std::nullopt;
  const auto info = loss->info();
  LossRecord l;
  l.key = info.key;
  l.placement = s.plan.config.placement;
  l.options = loss->options();
  l.title = info.title;
  l.paper = info.paper;
  l.formula = info.formula;
  l.needs_labels = info.needs_labels;
  l.extra_params = loss->extra_params();
  l.ms_per_iter = term.ms_per_iter();
  l.peak_bytes = term.peak_bytes;
  l.measured_iters = term.ms_count;
  l.map_shape = s.distiller->map_shape();
  if (l.map_shape) l.gflops = loss->flops(*l.map_shape) / 1e9;
  return l;
}

TrainInfo train_info(const Session& s, const RunState& state) {
  const Schedule& schedule = s.plan.config.schedule;
  TrainInfo t;
  t.iterations = schedule.iterations;
  t.batch_size = schedule.batch_size;
  t.schedule = schedule;
  t.wall_s = state.wall_s;
  t.images_per_s = state.wall_s > 0 ? t.iterations * t.batch_size / state.wall_s : 0.0;
  t.data_wait_fraction = state.wall_s > 0 ? state.wait_s / state.wall_s : 0.0;
  if (state.term.teacher_count > 0) t.teacher_ms_per_iter = state.term.teacher_ms_sum / state.term.teacher_count;
  t.resumed_at = state.resumed_at;
  t.curve = state.curve;
  return t;
}

RunRecord make_record(Session& s, const RunState& state, const EvalInfo& eval,
                      const RunContext& context) {
  const RunConfig& cfg = s.plan.config;
  RunRecord r;
  r.header = RecordHeader::current();
  r.name = cfg.name;
  r.role = cfg.role;
  r.command_line = context.command_line;
  r.config = cfg;
  r.config_hash = s.plan.hash;
  r.seed = cfg.seed;
  r.device = s.device.str();
  r.threads = s.threads;
  r.dataset = {s.train_set->identity(), s.eval_set->identity(), s.train_set->num_classes(),
               s.train_set->class_names(), s.train_set->ignore_index()};
  r.model = model_info(s);
  r.teacher = s.teacher;
  r.loss = loss_record(s, state.term);
  r.train = train_info(s, state);
  r.eval = eval;
  const std::string dir = cfg.out_dir.empty() ? "." : cfg.out_dir;
  r.checkpoint = relative_to(s.plan.paths.checkpoint, dir);
  r.weights = relative_to(s.plan.paths.weights, dir);
  return r;
}

// The network alone, for use elsewhere (and as the teacher of later runs).
void export_weights(Session& s) {
  fs::create_directories(fs::path(s.plan.paths.weights).parent_path());
  models::save_safetensors(models::named_state(*s.distiller->student()), s.plan.paths.weights);
}

EvalInfo evaluate_run(Session& s) {
  EvalOptions options;
  options.batch = s.plan.config.eval_batch;
  const auto result = evaluate(s.distiller->student(), *s.eval_set, s.device, options);
  return eval_info(result, s.eval_set->class_names(), s.plan.config.eval_split);
}

}  // namespace

uint64_t iteration_seed(uint64_t seed, int64_t iteration) {
  return mix64(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(iteration) + 0x632BE59BD9B4E019ULL) &
         0x7FFFFFFFFFFFFFFFULL;
}

std::optional<RunRecord> train_run(const RunConfig& config, const RunContext& context) {
  // Count CPU allocations from the start: storage allocated before the counter exists must not be
  // freed through it.
  install_cpu_memory_counter();
  Session s = open_session(resolve_plan(config));
  const std::string label = context.label.empty() ? fmt::format("[{}]", s.plan.config.name) : context.label;
  RunState state = start_or_resume(s);
  if (!run_steps(s, state, label)) return std::nullopt;
  export_weights(s);
  const EvalInfo eval = evaluate_run(s);
  const RunRecord record = make_record(s, state, eval, context);
  write_run_record(s.plan.paths.record, record);
  fmt::print(stderr, "{} mIoU {:.2f}  pixel acc {:.2f}  mAcc {:.2f}  ({} {} images) -> {}\n", label,
             eval.miou, eval.pixel_acc, eval.macc, eval.images, eval.split, s.plan.paths.record);
  return record;
}

}  // namespace cwd::train
