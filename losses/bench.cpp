#include "losses/bench.h"

#include "losses/registry.h"
#include "src/core/blas.h"
#include "src/core/error.h"
#include "src/core/memory.h"
#include "src/core/threads.h"

#include <fmt/format.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

namespace cwd::losses {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
}

}  // namespace

std::vector<BenchRecord> bench_losses(const BenchOptions& options,
                                      const std::function<void(const std::string&)>& progress) {
  if (options.n < 1 || options.h < 3 || options.w < 3 || options.label_stride < 1 ||
      options.num_classes < 1 || options.repeats < 1 || options.warmup < 0) {
    throw Error(fmt::format(
        "bench-losses: expected n >= 1, h, w >= 3, label stride >= 1, classes >= 1, repeats >= 1, "
        "warmup >= 0; got n={} h={} w={} stride={} classes={} repeats={} warmup={}",
        options.n, options.h, options.w, options.label_stride, options.num_classes, options.repeats,
        options.warmup));
  }
  const torch::Device device = resolve_device(options.device);
  set_threads(options.threads);
  const std::vector<std::string> keys = options.keys.empty() ? known_keys() : options.keys;
  torch::manual_seed(options.seed);

  std::vector<BenchRecord> records;
  for (int64_t c : options.channels) {
    if (c < 1) throw Error(fmt::format("bench-losses: channels must be >= 1, got {}", c));
    auto fopts = torch::TensorOptions().dtype(torch::kFloat).device(device);
    auto student = torch::randn({options.n, c, options.h, options.w}, fopts).requires_grad_(true);
    auto teacher = torch::randn({options.n, c, options.h, options.w}, fopts);
    const int64_t lh = options.h * options.label_stride;
    const int64_t lw = options.w * options.label_stride;
    auto labels = torch::randint(0, options.num_classes, {options.n, lh, lw},
                                 torch::TensorOptions().dtype(torch::kLong).device(device));
    labels.masked_fill_(torch::rand({options.n, lh, lw}, fopts) < options.ignore_fraction, 255);

    for (const auto& key : keys) {
      const auto opts =
          options.options.contains(key) ? options.options.at(key) : nlohmann::json::object();
      auto loss = create_for_maps(key, opts, /*feature_map=*/false, c, c);  // MGD: C_T = c
      loss->to(device);
      loss->train();
      BenchRecord rec;
      rec.key = key;
      rec.info = loss->info();
      rec.options = loss->options();
      rec.n = options.n;
      rec.c = c;
      rec.h = options.h;
      rec.w = options.w;
      rec.flops = loss->flops({options.n, c, c, options.h, options.w, options.num_classes});
      rec.extra_params = loss->extra_params();
      const auto& used_labels = rec.info.needs_labels ? labels : torch::Tensor();
      double spent = 0.0;
      for (int run = 0; run < options.warmup + options.repeats; ++run) {
        // Gradients are made inside the measured region: the student's and the loss's own
        // parameters' (an adapter, MGD's generator), as the Python counterpart does.
        student.mutable_grad() = torch::Tensor();
        for (auto& p : loss->parameters()) p.mutable_grad() = torch::Tensor();
        sync_device(device);
        PeakMemoryScope scope(device);
        const auto start = std::chrono::steady_clock::now();
        auto value = loss->forward(student, teacher, used_labels);
        value.backward();
        sync_device(device);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        rec.peak_bytes = std::max(rec.peak_bytes, scope.peak_bytes());
        rec.value = value.item<double>();
        if (run < options.warmup) continue;
        rec.times_ms.push_back(ms);
        spent += ms / 1000.0;
        if (spent > options.max_seconds) break;
      }
      student.mutable_grad() = torch::Tensor();
      rec.median_ms = median(rec.times_ms);
      rec.min_ms = *std::min_element(rec.times_ms.begin(), rec.times_ms.end());
      if (progress) {
        progress(fmt::format("{:>5} C={:<4} {:>10.2f} ms  peak {:>10.2f} MiB  value {:.6g}", key, c,
                             rec.median_ms, rec.peak_bytes / 1048576.0, rec.value));
      }
      records.push_back(std::move(rec));
    }
  }
  return records;
}

nlohmann::json bench_report(const BenchOptions& options, const std::vector<BenchRecord>& records) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : records) {
    rows.push_back({{"key", r.key},
                    {"title", r.info.title},
                    {"formula", r.info.formula},
                    {"options", r.options},
                    {"n", r.n},
                    {"c", r.c},
                    {"h", r.h},
                    {"w", r.w},
                    {"flops", r.flops},
                    {"extra_params", r.extra_params},
                    {"times_ms", r.times_ms},
                    {"median_ms", r.median_ms},
                    {"min_ms", r.min_ms},
                    {"peak_bytes", r.peak_bytes},
                    {"value", r.value}});
  }
  return {{"tool", "cwd-bench bench-losses"},
          {"implementation", "C++ (libtorch)"},
          {"libtorch", TORCH_VERSION},
          {"blas", loaded_blas()},
          {"device", resolve_device(options.device).str()},
          {"cpu", cpu_model()},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"threads", torch::get_num_threads()},
          {"memory_method",
           "exact: live bytes of c10 CPU allocations, counted by a wrapping allocator "
           "(src/core/memory.h); CUDA: caching allocator's allocated-bytes peak"},
          {"timing", "steady clock around forward + backward, median of timed runs"},
          {"config",
           {{"n", options.n},
            {"channels", options.channels},
            {"h", options.h},
            {"w", options.w},
            {"label_stride", options.label_stride},
            {"num_classes", options.num_classes},
            {"ignore_fraction", options.ignore_fraction},
            {"warmup", options.warmup},
            {"repeats", options.repeats},
            {"max_seconds", options.max_seconds},
            {"seed", options.seed}}},
          {"results", rows}};
}

}  // namespace cwd::losses
