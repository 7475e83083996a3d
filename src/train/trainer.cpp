#include "src/train/trainer.h"

#include "losses/registry.h"
#include "models/pspnet.h"
#include "models/weights.h"
#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/core/memory.h"
#include "src/core/progress.h"
#include "src/core/threads.h"
#include "src/core/version.h"
#include "src/data/loader.h"
#include "src/train/checkpoint.h"
#include "src/train/evaluate.h"
#include "src/train/network.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <unistd.h>

namespace cwd::train {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                int64_t ignore_index) {
  return F::cross_entropy(upsample_logits(logits, labels.size(1), labels.size(2)), labels,
                          F::CrossEntropyFuncOptions().ignore_index(ignore_index));
}

void sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
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

std::string relative_to(const std::string& path, const std::string& base) {
  return fs::relative(fs::absolute(path), fs::absolute(base)).generic_string();
}

// Running sums of the distillation term's measured cost; kept in the checkpoint so a resumed
// run reports the same kind of average.
struct TermStats {
  double ms_sum = 0;
  int64_t ms_count = 0;
  int64_t peak_bytes = 0;
  double teacher_ms_sum = 0;
  int64_t teacher_count = 0;
  nlohmann::json to_json() const {
    return {{"ms_sum", ms_sum}, {"ms_count", ms_count}, {"peak_bytes", peak_bytes},
            {"teacher_ms_sum", teacher_ms_sum}, {"teacher_count", teacher_count}};
  }
  static TermStats from_json(const nlohmann::json& j) {
    TermStats s;
    if (j.is_object()) {
      s.ms_sum = j.value("ms_sum", 0.0);
      s.ms_count = j.value("ms_count", int64_t{0});
      s.peak_bytes = j.value("peak_bytes", int64_t{0});
      s.teacher_ms_sum = j.value("teacher_ms_sum", 0.0);
      s.teacher_count = j.value("teacher_count", int64_t{0});
    }
    return s;
  }
};

}  // namespace

uint64_t iteration_seed(uint64_t seed, int64_t iteration) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(iteration) + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFFULL;
}

torch::Tensor supervised_loss(const torch::Tensor& logits, const torch::Tensor& aux,
                              const torch::Tensor& labels, int64_t ignore_index, double aux_weight) {
  return segmentation_loss(logits, labels, ignore_index) +
         aux_weight * segmentation_loss(aux, labels, ignore_index);
}

RunPaths run_paths(const RunConfig& c) {
  const fs::path dir(c.out_dir.empty() ? "." : c.out_dir);
  return {(dir / (c.name + ".json")).string(), (dir / "ckpt" / (c.name + ".pt")).string(),
          (dir / "weights" / (c.name + ".safetensors")).string()};
}

nlohmann::json record_header() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return {{"schema", "cwd-bench/run/1"},
          {"tool", {{"name", "cwd-bench"}, {"version", version()}, {"git_commit", git_commit()}}},
          {"created", utc_timestamp()},
          {"host", host},
          {"libtorch", TORCH_VERSION}};
}

nlohmann::json train_run(const RunConfig& config_in, const RunContext& context) {
  // Count CPU allocations from the start: storage allocated before the counter exists must not be
  // freed through it.
  install_cpu_memory_counter();
  RunConfig cfg = config_in;
  if (cfg.name.empty()) cfg.name = default_run_name(cfg);
  validate(cfg);
  if (!cfg.loss.empty() && cfg.teacher_id.empty()) cfg.teacher_id = teacher_identity(cfg.teacher);
  const int threads = set_threads(cfg.threads);
  const torch::Device device = resolve_device(cfg.device);
  const RunPaths paths = run_paths(cfg);
  const std::string hash = config_hash(cfg);
  const std::string label = context.label.empty() ? fmt::format("[{}]", cfg.name) : context.label;

  auto train_set = data::make_dataset(cfg.data, data::Split::kTrain);
  auto eval_set = data::make_dataset(cfg.data, cfg.eval_split == "val" ? data::Split::kVal
                                                                       : data::Split::kHoldout);
  const int64_t classes = train_set->num_classes();
  const int64_t ignore = train_set->ignore_index();

  torch::manual_seed(cfg.seed);
  models::PSPNet net = build_network(cfg.net, classes);
  net->to(device);

  // Distillation: frozen teacher + loss (with its adapter on feature maps for cwd/pi).
  std::optional<LoadedNetwork> teacher;
  std::shared_ptr<losses::DistillLoss> loss;
  if (!cfg.loss.empty()) {
    teacher = load_network(cfg.teacher, device);
    if (teacher->num_classes != classes) {
      throw Error(fmt::format("teacher '{}' predicts {} classes but the data has {}; use a teacher "
                              "trained on this dataset",
                              cfg.teacher, teacher->num_classes, classes));
    }
    nlohmann::json options = cfg.loss_options.is_object() ? cfg.loss_options : nlohmann::json::object();
    if (cfg.placement == "feature" && (cfg.loss == "cwd" || cfg.loss == "pi")) {
      if (!options.contains("student_channels")) options["student_channels"] = net->feature_channels();
      if (!options.contains("teacher_channels")) options["teacher_channels"] = teacher->net->feature_channels();
    }
    loss = losses::create(cfg.loss, options);
    loss->to(device);
    loss->train();
  }

  std::vector<torch::Tensor> params = net->parameters();
  if (loss) {
    for (auto& p : loss->parameters()) params.push_back(p);
  }
  torch::optim::SGD optimizer(params, torch::optim::SGDOptions(cfg.schedule.lr)
                                          .momentum(cfg.schedule.momentum)
                                          .weight_decay(cfg.schedule.weight_decay));

  // Resume from the run's checkpoint.
  int64_t start = 0;
  double wall_before = 0;
  nlohmann::json curve = nlohmann::json::array();
  TermStats term;
  double wait_before = 0;
  if (cfg.require_resume && !fs::exists(paths.checkpoint)) {
    throw Error(fmt::format("--resume: no checkpoint '{}' to continue from; check --out/--name, or "
                            "drop --resume to start the run",
                            paths.checkpoint));
  }
  if (fs::exists(paths.checkpoint)) {
    const auto meta = read_checkpoint_meta(paths.checkpoint).meta;
    if (meta.value("config_hash", "") != hash) {
      throw Error(fmt::format("checkpoint '{}' was written by a different configuration; delete it "
                              "or choose another --out/--name",
                              paths.checkpoint));
    }
    const auto loaded = load_checkpoint(paths.checkpoint, *net, loss.get(), &optimizer);
    move_optimizer_state(optimizer, device);
    start = loaded.iteration;
    wall_before = meta.value("wall_s", 0.0);
    wait_before = meta.value("wait_s", 0.0);
    curve = meta.value("curve", nlohmann::json::array());
    term = TermStats::from_json(meta.value("term", nlohmann::json()));
  }
  const int64_t iterations = cfg.schedule.iterations;
  const int64_t batch_size = cfg.schedule.batch_size;
  if (start > iterations) {
    throw Error(fmt::format("checkpoint '{}' is at iteration {}, past --iters {}", paths.checkpoint, start, iterations));
  }

  nlohmann::json ckpt_meta = {{"model", to_json(cfg.net)},
                              {"num_classes", classes},
                              {"config_hash", hash},
                              {"config", to_json(cfg)}};
  auto save = [&](int64_t done, double wall, double wait) {
    CheckpointMeta meta{done, ckpt_meta};
    meta.meta["wall_s"] = wall;
    meta.meta["wait_s"] = wait;
    meta.meta["curve"] = curve;
    meta.meta["term"] = term.to_json();
    save_checkpoint(paths.checkpoint, *net, loss.get(), &optimizer, meta);
  };

  // Training loop.
  Progress progress(label, iterations, start, cfg.log_every);
  if (start > 0 && start < iterations) progress.message(fmt::format("resuming at iteration {}", start));
  const auto loop_start = Clock::now();
  double wait_s = 0;
  std::optional<losses::MapShape> map_shape;
  if (start < iterations) {
    data::TrainStream stream(train_set, cfg.augment, batch_size, cfg.seed, start, cfg.workers);
    net->train();
    if (teacher) teacher->net->eval();
    const int64_t measure_every = device.is_cuda() ? 10 : 1;
    // The first iterations pay one-off costs (allocator growth, kernel selection): not measured
    // unless the run is too short to have anything else.
    const int64_t warmup = iterations > 10 ? 3 : 0;
    for (int64_t it = start; it < iterations; ++it) {
      torch::manual_seed(iteration_seed(cfg.seed, it));
      data::Batch batch = stream.next();
      auto x = batch.images.to(device);
      auto y = batch.labels.to(device);
      const double lr = cfg.schedule.lr *
                        std::pow(1.0 - static_cast<double>(it) / iterations, cfg.schedule.poly_power);
      for (auto& group : optimizer.param_groups()) {
        static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
      }
      optimizer.zero_grad();
      const bool measure = it >= warmup && it % measure_every == 0;
      auto out = net->forward(x);
      auto ce = supervised_loss(out.logits, out.aux, y, ignore, cfg.schedule.aux_weight);
      torch::Tensor distill;
      if (loss) {
        torch::Tensor t_map;
        {
          torch::NoGradGuard no_grad;
          if (measure) sync(device);
          const auto t0 = Clock::now();
          auto t_out = teacher->net->forward(x);
          t_map = cfg.placement == "logit" ? t_out.logits : t_out.features;
          if (measure) {
            sync(device);
            term.teacher_ms_sum += 1e3 * seconds_since(t0);
            ++term.teacher_count;
          }
        }
        auto s_map = cfg.placement == "logit" ? out.logits : out.features;
        // The term runs on a detached copy of the student map so its forward+backward can be
        // timed and its memory counted alone; its gradient is then sent through the student.
        auto leaf = s_map.detach().requires_grad_(true);
        if (!map_shape) {
          map_shape = losses::MapShape{leaf.size(0), leaf.size(1), t_map.size(1), t_map.size(2),
                                       t_map.size(3), classes};
        }
        if (measure) sync(device);
        const auto t0 = Clock::now();
        {
          PeakMemoryScope scope(device);
          distill = loss->forward(leaf, t_map, y);
          distill.backward();
          if (measure) {
            sync(device);
            term.ms_sum += 1e3 * seconds_since(t0);
            ++term.ms_count;
          }
          if (measure) term.peak_bytes = std::max(term.peak_bytes, scope.peak_bytes());
        }
        torch::autograd::backward({ce, s_map}, {torch::ones_like(ce), leaf.grad()});
      } else {
        ce.backward();
      }
      optimizer.step();

      const int64_t done = it + 1;
      if (done % cfg.log_every == 0 || done == iterations) {
        const double ce_v = ce.item<double>();
        const double dl_v = distill.defined() ? distill.item<double>() : 0.0;
        nlohmann::json point = {{"iter", done}, {"loss", ce_v + dl_v}, {"ce", ce_v}, {"lr", lr}};
        if (distill.defined()) point["distill"] = dl_v;
        curve.push_back(point);
        const double elapsed = seconds_since(loop_start);
        progress.update(done, ce_v + dl_v, (done - start) * batch_size / std::max(elapsed, 1e-9));
      }
      const bool stop_now = cfg.stop_after > 0 && done >= cfg.stop_after && done < iterations;
      if (done % cfg.checkpoint_every == 0 || done == iterations || stop_now) {
        save(done, wall_before + seconds_since(loop_start), wait_before + stream.wait_seconds());
      }
      if (stop_now) {
        progress.message(fmt::format("stopped at iteration {} (--stop-after); rerun to resume", done));
        return nullptr;
      }
    }
    wait_s = stream.wait_seconds();
    progress.finish();
  }
  const double train_wall = wall_before + seconds_since(loop_start);
  const double total_wait = wait_before + wait_s;

  // Export the network alone, for use elsewhere (and as the teacher of later runs).
  fs::create_directories(fs::path(paths.weights).parent_path());
  models::save_safetensors(models::named_state(*net), paths.weights);

  // Evaluate.
  EvalOptions eval_options;
  eval_options.batch = cfg.eval_batch;
  const auto result = evaluate(net, *eval_set, device, eval_options);
  const auto first = data::eval_sample(*eval_set, 0);
  const auto stats = models::model_stats(net, first.images.size(2), first.images.size(3));

  nlohmann::json record = record_header();
  record["name"] = cfg.name;
  record["role"] = cfg.role;
  record["command_line"] = context.command_line;
  record["config"] = to_json(cfg);
  record["config_hash"] = hash;
  record["seed"] = cfg.seed;
  record["device"] = device.str();
  record["threads"] = threads;
  record["dataset"] = {{"train", train_set->identity()},
                       {"eval", eval_set->identity()},
                       {"num_classes", classes},
                       {"class_names", train_set->class_names()},
                       {"ignore_index", ignore}};
  nlohmann::json model = to_json(cfg.net);
  model["num_classes"] = classes;
  model["description"] = models::describe(pspnet_options(cfg.net, classes));
  model["params"] = stats.params;
  model["backbone_params"] = stats.backbone_params;
  model["head_params"] = stats.head_params;
  model["aux_params"] = stats.aux_params;
  model["gflops"] = stats.gflops;
  model["gflops_input"] = {stats.input_h, stats.input_w};
  model["feature_channels"] = net->feature_channels();
  record["model"] = model;
  record["teacher"] = teacher ? teacher->identity : nlohmann::json(nullptr);
  if (loss) {
    const auto info = loss->info();
    nlohmann::json block = {{"key", info.key},
                            {"placement", cfg.placement},
                            {"options", loss->options()},
                            {"title", info.title},
                            {"paper", info.paper},
                            {"formula", info.formula},
                            {"needs_labels", info.needs_labels},
                            {"extra_params", loss->extra_params()},
                            {"ms_per_iter", term.ms_count > 0 ? term.ms_sum / term.ms_count : 0.0},
                            {"peak_bytes", term.peak_bytes},
                            {"measured_iters", term.ms_count}};
    if (map_shape) {
      block["gflops"] = loss->flops(*map_shape) / 1e9;
      block["map_shape"] = {{"n", map_shape->n}, {"c_student", map_shape->c_student},
                            {"c_teacher", map_shape->c_teacher}, {"h", map_shape->h},
                            {"w", map_shape->w}};
    } else {
      block["gflops"] = nullptr;
      block["map_shape"] = nullptr;
    }
    record["loss"] = block;
  } else {
    record["loss"] = nullptr;
  }
  record["train"] = {
      {"iterations", iterations},
      {"batch_size", batch_size},
      {"schedule", to_json(cfg.schedule)},
      {"wall_s", train_wall},
      {"images_per_s", train_wall > 0 ? (iterations - 0) * batch_size / train_wall : 0.0},
      {"data_wait_fraction", train_wall > 0 ? total_wait / train_wall : 0.0},
      {"teacher_ms_per_iter",
       term.teacher_count > 0 ? nlohmann::json(term.teacher_ms_sum / term.teacher_count) : nlohmann::json(nullptr)},
      {"resumed_at", start},
      {"curve", curve}};
  nlohmann::json eval = to_json(result.metrics, eval_set->class_names());
  eval["split"] = cfg.eval_split;
  eval["images"] = result.images;
  eval["seconds"] = result.seconds;
  eval["images_per_s"] = result.images_per_s;
  record["eval"] = eval;
  const std::string dir = cfg.out_dir.empty() ? "." : cfg.out_dir;
  record["artifacts"] = {{"checkpoint", relative_to(paths.checkpoint, dir)},
                         {"weights", relative_to(paths.weights, dir)}};
  write_json_atomic(paths.record, record);
  fmt::print(stderr, "{} mIoU {:.2f}  pixel acc {:.2f}  mAcc {:.2f}  ({} {} images) -> {}\n", label,
             result.metrics.miou, result.metrics.pixel_acc, result.metrics.macc, result.images,
             cfg.eval_split, paths.record);
  return record;
}

}  // namespace cwd::train
