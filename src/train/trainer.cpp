#include "src/train/trainer.h"

#include "losses/common.h"
#include "models/weights.h"
#include "src/core/error.h"
#include "src/core/files.h"
#include "src/core/interrupt.h"
#include "src/core/memory.h"
#include "src/core/progress.h"
#include "src/train/pretrain.h"
#include "src/core/random.h"
#include "src/core/threads.h"
#include "src/data/loader.h"
#include "src/train/checkpoint.h"
#include "src/train/distiller.h"
#include "src/train/distributed.h"
#include "src/train/network.h"
#include "src/train/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

namespace cwd::train {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// What a run has done so far; kept in its checkpoint.
struct RunState {
  int64_t done = 0;
  int64_t resumed_at = 0;
  double wall_s = 0;  // training time: own steps + share of the cohort's data and teacher time
  double wait_s = 0;  // data-loading wait (its share)
  double cohort_wall_s = 0;  // the cohort's training time
  int64_t cohort_peak_bytes = 0;
  nlohmann::json curve = nlohmann::json::array();
  TermStats term;
};

// One run of a cohort: its plan, network, optimizer and progress.
struct Member {
  RunPlan plan;
  std::string label;
  torch::Device device = torch::kCPU;
  std::shared_ptr<const data::SegDataset> train_set;
  std::shared_ptr<const data::SegDataset> eval_set;
  nlohmann::json teacher = nullptr;  // the teacher's identity
  nlohmann::json pretrained = nullptr;  // the pretrained backbone's identity
  Distiller distiller{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer;
  RunState state;
  std::unique_ptr<TermMeter> meter;
  RunState before;  // the state this process started from (time sums continue from it)
  std::optional<Divergence> diverged;  // set when a loss or weight went non-finite: it stepped no more
  double own_s = 0;     // this process: the member's own steps and checkpoints
  double shared_s = 0;  // this process: its share of data loading and teacher passes
  double wait_s = 0;    // this process: its share of data loading
};

// What the members of a cohort share: device, threads, data and teachers (loaded once).
struct Cohort {
  torch::Device device = torch::kCPU;
  int threads = 0;
  std::shared_ptr<const data::SegDataset> train_set;
  std::shared_ptr<const data::SegDataset> eval_set;
  std::map<std::string, LoadedNetwork> teachers;  // by the path the configs name
  std::vector<Member> members;
  std::optional<int64_t> estimated_bytes;
  std::shared_ptr<ProcessGroup> group;  // null: one process
  bool writer = true;                   // writes checkpoints, weights and records (rank 0)
  data::TrainStream::Rows rows;         // this process's rows of each batch ({0, 0}: all)
};

// This process's rows of the global batch, for the models' per-sample draws (dropout, MGD's mask).
models::BatchShard batch_shard(const Cohort& c, int64_t batch) {
  if (!c.group) return {};
  return {c.rows.begin, batch};
}

const LoadedNetwork& cohort_teacher(Cohort& c, const RunConfig& cfg, int64_t classes) {
  auto it = c.teachers.find(cfg.teacher);
  if (it != c.teachers.end()) return it->second;
  LoadedNetwork teacher = load_network(cfg.teacher, c.device);
  if (teacher.num_classes != classes) {
    throw Error(fmt::format("teacher '{}' predicts {} classes but the data has {}; use a teacher "
                            "trained on this dataset",
                            cfg.teacher, teacher.num_classes, classes));
  }
  return c.teachers.emplace(cfg.teacher, std::move(teacher)).first->second;
}

Distiller build_distiller(const RunConfig& cfg, int64_t classes, torch::Device device,
                          const LoadedNetwork* teacher) {
  torch::manual_seed(cfg.seed);
  models::PSPNet student = build_network(cfg.net, classes);
  student->to(device);
  if (teacher == nullptr) return Distiller(student);
  auto loss = make_loss(cfg.loss, cfg.loss_options, cfg.placement, student, teacher->net);
  loss->to(device);
  return Distiller(student, teacher->net, loss, cfg.placement);
}

Member open_member(Cohort& c, RunPlan plan, std::string label) {
  Member m;
  const RunConfig& cfg = plan.config;
  m.device = c.device;
  m.train_set = c.train_set;
  m.eval_set = c.eval_set;
  const int64_t classes = c.train_set->num_classes();
  const LoadedNetwork* teacher = cfg.loss.empty() ? nullptr : &cohort_teacher(c, cfg, classes);
  if (teacher) m.teacher = teacher->identity;
  if (const auto pretrained = ensure_pretrained(cfg.net, run_pretrain_options(cfg, c.device))) {
    m.pretrained = pretrained->identity();
  }
  m.distiller = build_distiller(cfg, classes, c.device, teacher);
  m.optimizer = std::make_unique<torch::optim::SGD>(
      m.distiller->trainable_parameters(),
      torch::optim::SGDOptions(cfg.schedule.lr)
          .momentum(cfg.schedule.momentum)
          .weight_decay(cfg.schedule.weight_decay));
  m.label = label.empty() ? fmt::format("[{}]", cfg.name) : std::move(label);
  m.plan = std::move(plan);
  return m;
}

// Continues from the run's checkpoint when there is one (a fresh state otherwise).
RunState start_or_resume(Member& m) {
  const RunConfig& cfg = m.plan.config;
  const std::string& path = m.plan.paths.checkpoint;
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
  if (meta.value("config_hash", "") != m.plan.hash) {
    throw Error(fmt::format("checkpoint '{}' was written by a different configuration; delete it "
                            "or choose another --out/--name",
                            path));
  }
  const auto loaded = load_checkpoint(path, *m.distiller->student(), m.distiller->loss(), m.optimizer.get());
  if (loaded.iteration > cfg.schedule.iterations) {
    throw Error(fmt::format("checkpoint '{}' is at iteration {}, past --iters {}", path,
                            loaded.iteration, cfg.schedule.iterations));
  }
  state.done = state.resumed_at = loaded.iteration;
  state.wall_s = meta.value("wall_s", 0.0);
  state.wait_s = meta.value("wait_s", 0.0);
  state.cohort_wall_s = meta.value("cohort_wall_s", 0.0);
  state.cohort_peak_bytes = meta.value("cohort_peak_bytes", int64_t{0});
  state.curve = meta.value("curve", nlohmann::json::array());
  state.term = meta.value("term", nlohmann::json::object()).get<TermStats>();
  return state;
}

void save_state(Member& m) {
  const RunConfig& cfg = m.plan.config;
  const RunState& state = m.state;
  CheckpointMeta meta{state.done,
                      {{"model", cfg.net},
                       {"num_classes", m.train_set->num_classes()},
                       {"config_hash", m.plan.hash},
                       {"config", cfg},
                       {"wall_s", state.wall_s},
                       {"wait_s", state.wait_s},
                       {"cohort_wall_s", state.cohort_wall_s},
                       {"cohort_peak_bytes", state.cohort_peak_bytes},
                       {"curve", state.curve},
                       {"term", state.term}}};
  save_checkpoint(m.plan.paths.checkpoint, *m.distiller->student(), m.distiller->loss(),
                  m.optimizer.get(), meta);
}

// The learning rate of the run's poly schedule at iteration `it`.
double schedule_lr(const Schedule& s, int64_t it) { return poly_lr(s.lr, s.poly_power, it, s.iterations); }

nlohmann::json curve_point(int64_t done, const StepLosses& losses, double lr) {
  const double ce = losses.task.item<double>();
  const double distill = losses.distill.defined() ? losses.distill.item<double>() : 0.0;
  nlohmann::json point = {{"iter", done}, {"loss", ce + distill}, {"ce", ce}, {"lr", lr}};
  if (losses.distill.defined()) point["distill"] = distill;
  return point;
}

// The teachers' outputs for one batch: each teacher the stepping members use, run once.
struct TeacherPass {
  std::map<std::string, models::SegOutput> outputs;  // by teacher path
  double ms = 0;                                     // time of all passes (when timed)
};

TeacherPass run_teachers(const std::vector<Member*>& stepping, const torch::Tensor& images,
                         const torch::Device& device, bool timed) {
  TeacherPass pass;
  if (timed) sync_device(device);
  const auto t0 = Clock::now();
  for (Member* m : stepping) {
    const std::string& path = m->plan.config.teacher;
    if (!m->distiller->has_teacher() || pass.outputs.count(path)) continue;
    pass.outputs.emplace(path, m->distiller->teacher_forward(images));
  }
  if (timed) sync_device(device);
  pass.ms = 1e3 * seconds_since(t0);
  return pass;
}

// "nan", "inf" or "-inf"; "" for a finite value.
std::string non_finite(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return "";
}

// The step's losses, checked: the first non-finite term stops the run (its update is not saved).
std::optional<Divergence> diverged_loss(const Member& m, const StepLosses& losses, int64_t iteration) {
  const std::string ce = non_finite(losses.task.item<double>());
  if (!ce.empty()) return Divergence{iteration, "cross-entropy", ce};
  if (losses.distill.defined()) {
    const std::string d = non_finite(losses.distill.item<double>());
    if (!d.empty()) return Divergence{iteration, fmt::format("distillation ({})", m.plan.config.loss), d};
  }
  return std::nullopt;
}

// Whether every trained tensor is finite after the update: one sum per tensor and one read (a
// sum is finite only when every value is; a sum that overflows counts as diverged too).
std::optional<Divergence> diverged_weights(Member& m, int64_t iteration) {
  torch::NoGradGuard no_grad;
  torch::Tensor total;
  for (const auto& p : m.distiller->trainable_parameters()) {
    const auto s = p.sum().to(torch::kDouble);
    total = total.defined() ? total + s : s;
  }
  if (!total.defined()) return std::nullopt;
  const std::string value = non_finite(total.item<double>());
  if (value.empty()) return std::nullopt;
  return Divergence{iteration, "weights", value};
}

// One member's training step at iteration `it`, as a separate run would take it.
// On several processes each rank steps on its rows: the gradients are averaged over the ranks
// before the update, and the returned losses are the ranks' means (what every rank logs and
// checks for divergence, so all decide alike).
StepLosses member_step(Member& m, int64_t it, const data::Batch& batch, const TeacherPass& pass,
                       bool through_meter, Cohort& c, double valid_pixels) {
  const RunConfig& cfg = m.plan.config;
  torch::manual_seed(iteration_seed(cfg.seed, it));
  set_lr(*m.optimizer, schedule_lr(cfg.schedule, it));
  m.optimizer->zero_grad();
  const auto teacher = pass.outputs.find(cfg.teacher);
  const models::ShardScope shard(batch_shard(c, cfg.schedule.batch_size));
  auto losses =
      m.distiller->step(batch.images, batch.labels, m.train_set->ignore_index(), cfg.schedule.aux_weight,
                        through_meter ? m.meter.get() : nullptr,
                        teacher == pass.outputs.end() ? nullptr : &teacher->second, valid_pixels);
  if (c.group) {
    c.group->average_gradients(m.distiller->trainable_parameters());
    const bool distilled = losses.distill.defined();
    const auto mean = c.group->mean({losses.task.item<double>(), distilled ? losses.distill.item<double>() : 0.0});
    losses.task = torch::tensor(mean[0], torch::kFloat64);
    if (distilled) losses.distill = torch::tensor(mean[1], torch::kFloat64);
  }
  m.optimizer->step();
  m.state.done = it + 1;
  return losses;
}

void log_point(Member& m, const StepLosses& losses, const torch::Tensor& labels, int64_t it) {
  const RunConfig& cfg = m.plan.config;
  if (m.state.done % cfg.log_every != 0 && m.state.done != cfg.schedule.iterations) return;
  // On the CPU the losses checked their inputs already; on CUDA they leave it to here.
  if (m.device.is_cuda()) m.distiller->check_values(losses, labels, m.train_set->ignore_index());
  m.state.curve.push_back(curve_point(m.state.done, losses, schedule_lr(cfg.schedule, it)));
}

// Adds this process's times to what the member's checkpoint held.
void update_times(Member& m, double cohort_s, int64_t cohort_peak) {
  m.state.wall_s = m.before.wall_s + m.own_s + m.shared_s;
  m.state.wait_s = m.before.wait_s + m.wait_s;
  m.state.cohort_wall_s = m.before.cohort_wall_s + cohort_s;
  m.state.cohort_peak_bytes = std::max(m.before.cohort_peak_bytes, cohort_peak);
  m.state.term = m.meter->stats();
}

// What the members stepping at one iteration share.
struct Iteration {
  int64_t it = 0;
  data::Batch batch;
  TeacherPass pass;
  double data_s = 0;        // time spent loading the batch
  size_t stepping = 0;      // members stepping at this iteration
  size_t distilled = 0;     // of them, those with a teacher
  double valid_pixels = 0;  // several processes: the batch's labelled pixels per process (else 0)
  bool stop_now = false;    // --stop-after ends the cohort here
  bool group_stop = false;  // several processes: a signal reached one of them
};

// Several processes: what every rank must agree on before its members step, in one collective:
// the batch's labelled pixels per process (the cross-entropy's normaliser, so that the mean over
// the processes is the whole batch's) and whether any rank was signalled (they stop together).
void agree_on_iteration(const Cohort& c, Iteration& x) {
  if (!c.group) return;
  const auto mean = c.group->mean({x.batch.labels.ne(c.train_set->ignore_index()).sum().item<double>(),
                                   interrupt_requested() ? 1.0 : 0.0});
  x.valid_pixels = mean[0];
  x.group_stop = mean[1] > 0;
}

// One member's step within the cohort's iteration: the step and its divergence checks, its share
// of the shared times, its curve point and its checkpoint.
void cohort_member_step(Cohort& c, Member& m, const Iteration& x, bool through_meter, Progress& progress,
                        Clock::time_point t0, PeakMemoryScope& memory) {
  const RunConfig& lead = c.members.front().plan.config;  // the cohort's checkpoint interval
  const int64_t it = x.it;
  const auto t_step = Clock::now();
  StepLosses losses;
  try {
    losses = member_step(m, it, x.batch, x.pass, through_meter, c, x.valid_pixels);
    m.diverged = diverged_loss(m, losses, it + 1);
    if (!m.diverged) m.diverged = diverged_weights(m, it + 1);
  } catch (const losses::NonFiniteError&) {
    m.diverged = Divergence{it + 1, "network output", "nan or inf"};
  }
  const bool checkpoint = m.state.done % lead.checkpoint_every == 0 || m.state.done == lead.schedule.iterations ||
                          x.stop_now || (c.group ? x.group_stop : interrupt_requested());
  if (m.diverged) {
    m.state.done = it;  // the step's update is lost with it; the last checkpoint stays as it was
    progress.message(fmt::format("{} {}; this run stops, its last finite checkpoint stays", m.label,
                                 m.diverged->text()));
    return;
  }
  const bool distilled = m.distiller->has_teacher();
  if (distilled) m.meter->add_teacher_ms(x.pass.ms);
  log_point(m, losses, x.batch.labels, it);
  m.wait_s += x.data_s / x.stepping;
  m.shared_s += x.data_s / x.stepping + (distilled ? x.pass.ms / 1e3 / x.distilled : 0.0);
  update_times(m, seconds_since(t0), memory.peak_bytes());
  if (checkpoint && c.writer) save_state(m);
  m.own_s += seconds_since(t_step);
}

// The cohort's steps from its least advanced member on; a member steps only at its own next
// iteration. Returns false when stop_after cut the cohort short (every member checkpointed).
bool run_cohort(Cohort& c, const std::string& label, PeakMemoryScope& memory) {
  const RunConfig& lead = c.members.front().plan.config;
  const int64_t iterations = lead.schedule.iterations;
  int64_t start = iterations;
  for (auto& m : c.members) start = std::min(start, m.state.done);
  Progress progress(label, iterations, start, lead.log_every, !c.writer);
  if (start > 0 && start < iterations) progress.message(fmt::format("resuming at iteration {}", start));
  if (start >= iterations) return true;
  data::TrainStream stream(c.train_set, lead.augment, lead.schedule.batch_size, lead.seed, start, lead.workers,
                           c.rows);
  for (auto& m : c.members) {
    m.meter = std::make_unique<TermMeter>(c.device, iterations, m.state.term);
    m.before = m.state;
    m.distiller->train();
  }
  const auto t0 = Clock::now();
  for (int64_t it = start; it < iterations; ++it) {
    if (std::all_of(c.members.begin(), c.members.end(), [](const Member& m) { return m.diverged.has_value(); })) break;
    Iteration x;
    x.it = it;
    const auto t_data = Clock::now();
    const data::Batch b = stream.next();
    x.batch = {b.images.to(c.device), b.labels.to(c.device)};
    x.data_s = seconds_since(t_data);
    std::vector<Member*> stepping;
    std::vector<bool> through_meter;
    bool timed = false;
    for (auto& m : c.members) {
      if (m.state.done != it || m.diverged) continue;
      stepping.push_back(&m);
      through_meter.push_back(m.meter->begin(it));
      timed = timed || m.meter->recording();
    }
    x.pass = run_teachers(stepping, x.batch.images, c.device, timed);
    x.stepping = stepping.size();
    x.distilled = std::count_if(stepping.begin(), stepping.end(), [](Member* m) { return m->distiller->has_teacher(); });
    x.stop_now = lead.stop_after > 0 && it + 1 >= lead.stop_after && it + 1 < iterations;
    agree_on_iteration(c, x);
    for (size_t k = 0; k < stepping.size(); ++k) {
      cohort_member_step(c, *stepping[k], x, through_meter[k], progress, t0, memory);
    }
    if ((it + 1) % lead.log_every == 0 || it + 1 == iterations) {
      const double rate = (it + 1 - start) * lead.schedule.batch_size / std::max(seconds_since(t0), 1e-9);
      const double loss = c.members.size() == 1 && !c.members.front().state.curve.empty()
                              ? c.members.front().state.curve.back().at("loss").get<double>()
                              : std::nan("");
      progress.update(it + 1, loss, rate);
    }
    if (x.stop_now) {
      progress.message(fmt::format("stopped at iteration {} (--stop-after); rerun to resume", it + 1));
      return false;
    }
    // Every stepping member wrote its checkpoint above.
    if (x.group_stop) throw Interrupted(fmt::format("interrupted at iteration {} on one of the {} processes; rerun to resume",
                                                  it + 1, c.group->size()));
    if (!c.group) throw_if_interrupted(fmt::format("at iteration {}", it + 1), "rerun to resume");
  }
  for (auto& m : c.members) update_times(m, seconds_since(t0), memory.peak_bytes());
  progress.finish();
  return true;
}

std::string relative_to(const std::string& path, const std::string& base) {
  return fs::relative(fs::absolute(path), fs::absolute(base)).generic_string();
}

ModelInfo model_info(Member& s) {
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
  m.pretrained = s.pretrained;
  return m;
}

std::optional<LossRecord> loss_record(const Member& s, const TermStats& term) {
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
  // A TorchScript loss has no FLOP formula (NaN): no count then.
  if (l.map_shape) {
    const double flops = loss->flops(*l.map_shape);
    if (std::isfinite(flops)) l.gflops = flops / 1e9;
  }
  return l;
}

TrainInfo train_info(const Member& s, const RunState& state, const std::vector<std::string>& cohort,
                     const std::optional<int64_t>& estimated_bytes) {
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
  t.cohort = CohortInfo{cohort, state.cohort_wall_s, state.cohort_peak_bytes, estimated_bytes};
  return t;
}

RunRecord make_record(Member& s, const Cohort& c, const EvalInfo& eval, const std::string& command_line) {
  const RunState& state = s.state;
  const RunConfig& cfg = s.plan.config;
  RunRecord r;
  r.header = RecordHeader::current();
  r.name = cfg.name;
  r.role = cfg.role;
  r.command_line = command_line;
  r.config = cfg;
  r.config_hash = s.plan.hash;
  r.seed = cfg.seed;
  r.device = s.device.str();
  r.threads = c.threads;
  r.dataset = {s.train_set->identity(), s.eval_set->identity(), s.train_set->num_classes(),
               s.train_set->class_names(), s.train_set->ignore_index()};
  r.model = model_info(s);
  r.teacher = s.teacher;
  r.loss = loss_record(s, state.term);
  std::vector<std::string> names;
  for (const auto& m : c.members) names.push_back(m.plan.config.name);
  r.train = train_info(s, state, names, c.estimated_bytes);
  if (c.group) r.train.distributed = DistributedInfo{c.group->size(), c.group->backend(), cfg.sync_bn};
  r.eval = eval;
  const std::string dir = cfg.out_dir.empty() ? "." : cfg.out_dir;
  r.checkpoint = relative_to(s.plan.paths.checkpoint, dir);
  r.weights = relative_to(s.plan.paths.weights, dir);
  return r;
}

// The network alone, for use elsewhere (and as the teacher of later runs).
void export_weights(Member& s) {
  fs::create_directories(fs::path(s.plan.paths.weights).parent_path());
  models::save_safetensors(models::named_state(*s.distiller->student()), s.plan.paths.weights);
}

EvalInfo evaluate_run(Member& s) {
  EvalOptions options;
  options.batch = s.plan.config.eval_batch;
  const auto result = evaluate(s.distiller->student(), *s.eval_set, s.device, options);
  return eval_info(result, s.eval_set->class_names(), s.plan.config.eval_split);
}

// The batch must come from the training split, and one batch of crops must fit in memory: checked
// before anything is allocated (a batch of 100000 would otherwise take gigabytes, silently).
void check_batch(const RunConfig& cfg, const data::SegDataset& train_set, const torch::Device& device) {
  const int64_t batch = cfg.schedule.batch_size;
  if (batch > train_set.size()) {
    throw Error(fmt::format("--batch {} is more than the {} images of the training split; use at most {}", batch,
                            train_set.size(), train_set.size()));
  }
  if (!device.is_cpu()) return;
  // A lower bound: the batch's float images and int64 labels alone.
  const double bytes = static_cast<double>(batch) * cfg.augment.crop_h * cfg.augment.crop_w * (3 * 4 + 8);
  const double ram = static_cast<double>(physical_memory_bytes());
  if (ram > 0 && bytes > ram) {
    throw Error(fmt::format("a batch of {} crops of {}x{} needs more than {:.1f} GiB, and this machine has {:.1f} GiB; "
                            "lower --batch or --crop",
                            batch, cfg.augment.crop_h, cfg.augment.crop_w, bytes / 1073741824.0, ram / 1073741824.0));
  }
}

// Data, device and threads are the same for every member (cohort_key says so).
Cohort open_cohort(const std::vector<CohortRun>& runs, const CohortContext& context) {
  if (runs.empty()) throw Error("train_cohort: no runs");
  const std::string key = cohort_key(runs.front().config);
  for (const auto& r : runs) {
    if (cohort_key(r.config) != key) {
      throw Error(fmt::format("runs '{}' and '{}' read different data streams (data, augmentation, "
                              "batch, iterations, seed, device or threads differ) and cannot share a cohort",
                              runs.front().config.name, r.config.name));
    }
  }
  const RunConfig& lead = runs.front().config;
  Cohort c;
  c.threads = set_threads(lead.threads);
  c.device = resolve_device(lead.device);
  c.train_set = data::make_dataset(lead.data, data::Split::kTrain);
  c.eval_set = data::make_dataset(lead.data, lead.eval_split);
  c.estimated_bytes = context.estimated_bytes;
  check_batch(lead, *c.train_set, c.device);
  if (context.group) {
    c.group = context.group;
    c.writer = c.group->rank() == 0;
    const int64_t batch = lead.schedule.batch_size;
    const int64_t n = c.group->size();
    if (batch % n != 0) {
      throw Error(fmt::format("--batch {} does not split evenly over {} processes; use a multiple of {}", batch, n, n));
    }
    c.rows = {c.group->rank() * (batch / n), (c.group->rank() + 1) * (batch / n)};
  }
  // A bad label in either split stops the run now, not after training.
  c.train_set->check_files();
  c.eval_set->check_files();
  for (const auto& r : runs) {
    if (!c.writer) break;  // the files are rank 0's
    const RunPaths paths = run_paths(r.config);
    for (const auto& file : {paths.record, paths.checkpoint, paths.weights}) {
      check_replaceable(file);
      const int removed = remove_stale_temp_files(fs::path(file).parent_path().string());
      if (removed > 0) {
        fmt::print(stderr, "removed {} temporary file{} left by a process that died in {}\n", removed,
                   removed == 1 ? "" : "s", fs::path(file).parent_path().string());
      }
    }
  }
  return c;
}

// Every rank starts each member from rank 0's state: the same iteration (the output folder must be
// shared, so every rank resumes from the same checkpoint) and rank 0's weights and buffers. With
// sync_bn the member's BatchNorm layers then compute their statistics over all ranks.
void start_together(Cohort& c) {
  for (auto& m : c.members) {
    const int64_t root_done = c.group->broadcast_value(m.state.done);
    if (c.group->any(root_done != m.state.done)) {
      throw Error(fmt::format("the processes would continue '{}' from different iterations (this is rank {}, at {}; "
                              "rank 0 is at {}): every process must see the same output folder '{}', on a shared "
                              "file system",
                              m.plan.config.name, c.group->rank(), m.state.done, root_done, m.plan.config.out_dir));
    }
    std::vector<torch::Tensor> state = m.distiller->trainable_parameters();
    for (const auto& b : m.distiller->buffers()) state.push_back(b);
    c.group->broadcast(state);
    if (m.plan.config.sync_bn) models::set_batch_norm_sync(*m.distiller, c.group);
  }
}

}  // namespace

uint64_t iteration_seed(uint64_t seed, int64_t iteration) {
  return mix64(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(iteration) + 0x632BE59BD9B4E019ULL) &
         0x7FFFFFFFFFFFFFFFULL;
}

std::string cohort_key(const RunConfig& c) {
  return nlohmann::json{{"data", c.data},       {"augment", c.augment},  {"batch", c.schedule.batch_size},
                        {"iterations", c.schedule.iterations}, {"seed", c.seed}, {"device", c.device},
                        {"threads", c.threads}, {"workers", c.workers}, {"eval_split", data::to_string(c.eval_split)},
                        {"stop_after", c.stop_after}, {"sync_bn", c.sync_bn}}
      .dump();
}

std::vector<std::optional<RunRecord>> train_cohort(const std::vector<CohortRun>& runs,
                                                   const CohortContext& context) {
  // Count CPU allocations from the start: storage allocated before the counter exists must not be
  // freed through it.
  install_cpu_memory_counter();
  Cohort c = open_cohort(runs, context);
  PeakMemoryScope memory(c.device);
  if (c.group) {
    // A missing pretrained backbone is pretrained once, by rank 0, while the others wait.
    if (c.writer) {
      std::vector<RunConfig> configs;
      for (const auto& r : runs) configs.push_back(r.config);
      ensure_backbones(configs);
    }
    (void)c.group->any(false);
  }
  for (const auto& r : runs) {
    c.members.push_back(open_member(c, resolve_plan(r.config), r.label));
    c.members.back().state = start_or_resume(c.members.back());
  }
  if (c.group) start_together(c);
  const std::string label = !context.label.empty() ? context.label : c.members.front().label;
  std::vector<std::optional<RunRecord>> records(runs.size());
  if (!run_cohort(c, label, memory) || !c.writer) return records;
  for (size_t k = 0; k < c.members.size(); ++k) {
    Member& m = c.members[k];
    if (m.diverged) {
      // Recorded as it went: no weights, no evaluation (compare lists it apart from the statistics).
      records[k] = make_record(m, c, EvalInfo{}, context.command_line);
      records[k]->diverged = m.diverged;
      write_run_record(m.plan.paths.record, *records[k]);
      continue;
    }
    throw_if_interrupted("before evaluating " + m.plan.config.name, "training is done and checkpointed: rerun to evaluate");
    export_weights(m);
    const EvalInfo eval = evaluate_run(m);
    records[k] = make_record(m, c, eval, context.command_line);
    write_run_record(m.plan.paths.record, *records[k]);
    fmt::print(stderr, "{} mIoU {:.2f}  pixel acc {:.2f}  mAcc {:.2f}  ({} {} images) -> {}\n", m.label,
               eval.miou, eval.pixel_acc, eval.macc, eval.images, eval.split, m.plan.paths.record);
  }
  return records;
}

std::optional<RunRecord> train_run(const RunConfig& config, const RunContext& context) {
  return train_cohort({{config, context.label}}, {context.command_line, context.label, std::nullopt, context.group})
      .front();
}

double poly_lr(double lr, double power, int64_t it, int64_t iterations) {
  return lr * std::pow(1.0 - static_cast<double>(it) / static_cast<double>(iterations), power);
}

void set_lr(torch::optim::SGD& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
  }
}

}  // namespace cwd::train
