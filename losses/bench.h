#pragma once
// Speed and peak memory of the distillation losses: forward + backward of each loss at a given
// map shape, timed with a steady clock and measured with cwd::PeakMemoryScope (exact bytes
// through the allocator; see src/core/memory.h). `cwd-bench bench-losses` is the CLI for it,
// scripts/bench_losses_py.py its straightforward-PyTorch counterpart, BENCHMARKS.md the results.

#include "losses/loss.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace cwd::losses {

struct BenchOptions {
  int64_t n = 4;  ///< batch; 4 keeps the whole run (incl. the Python P×P form) under ~8 GB
  std::vector<int64_t> channels = {19, 512};  ///< C of both maps: 19 logits, 512 features
  int64_t h = 64;                             ///< the paper's 1/8-stride map of 512×1024 crops
  int64_t w = 128;
  int64_t label_stride = 8;  ///< labels (IFVD) at (h·stride)×(w·stride), the input resolution
  int64_t num_classes = 19;
  double ignore_fraction = 0.05;                      ///< share of labels set to 255
  std::vector<std::string> keys;                      ///< losses to run; empty = all registered
  nlohmann::json options = nlohmann::json::object();  ///< per-key options, e.g. {"pa":{"pool":2}}
  int warmup = 1;                                     ///< untimed runs before the timed ones
  int repeats = 3;                                    ///< timed runs (at most)
  double max_seconds = 30.0;   ///< stop repeating a case once its timed runs exceed this
  int threads = 0;             ///< intra-op threads, 0 = all cores
  std::string device = "cpu";  ///< "cpu", "cuda" or "auto"
  uint64_t seed = 0;
};

struct BenchRecord {
  std::string key;
  LossInfo info;
  nlohmann::json options;  ///< resolved
  int64_t n = 0, c = 0, h = 0, w = 0;
  double flops = 0.0;  ///< analytic forward estimate (DistillLoss::flops)
  int64_t extra_params = 0;
  std::vector<double> times_ms;  ///< forward + backward per timed run
  double median_ms = 0.0;
  double min_ms = 0.0;
  int64_t peak_bytes = 0;  ///< max over runs of the peak above the level before forward
  double value = 0.0;      ///< loss value of the last run
};

/// Runs every requested loss at every C. Sets libtorch's thread count (options.threads).
/// `progress` receives one line per case (the CLI prints it to stderr).
std::vector<BenchRecord> bench_losses(const BenchOptions& options,
                                      const std::function<void(const std::string&)>& progress = {});

/// The JSON report: machine, threads, libtorch version and BLAS, the options and one row per
/// record.
nlohmann::json bench_report(const BenchOptions& options, const std::vector<BenchRecord>& records);

}  // namespace cwd::losses
