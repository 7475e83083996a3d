#include "src/train/units.h"

#include "src/core/error.h"
#include "src/core/memory.h"
#include "src/core/threads.h"
#include "src/data/dataset.h"
#include "src/train/distiller.h"
#include "src/train/network.h"

#include <fmt/format.h>

#include <unistd.h>

#include <cmath>
#include <map>

namespace cwd::train {

namespace {

int64_t tensor_bytes(const std::vector<torch::Tensor>& tensors) {
  int64_t bytes = 0;
  for (const auto& t : tensors) bytes += t.numel() * static_cast<int64_t>(t.element_size());
  return bytes;
}

// Peak activation bytes of one training step of `net` on a zero batch (gradients included).
int64_t student_step_bytes(models::PSPNet& net, const RunConfig& c, const torch::Device& device) {
  const auto& a = c.augment;
  const auto images = torch::zeros({c.schedule.batch_size, 3, a.crop_h, a.crop_w}, device);
  const auto labels = torch::zeros({c.schedule.batch_size, a.crop_h, a.crop_w},
                                   torch::TensorOptions(device).dtype(torch::kLong));
  net->train();
  PeakMemoryScope scope(device);
  const auto out = net->forward(images);
  supervised_loss(out.logits, out.aux, labels, 255, c.schedule.aux_weight).backward();
  return scope.peak_bytes();
}

// A teacher pass: {peak bytes while it runs, bytes of its outputs}.
std::pair<int64_t, int64_t> teacher_pass_bytes(models::PSPNet& teacher, const RunConfig& c,
                                               const torch::Device& device) {
  const auto& a = c.augment;
  const auto images = torch::zeros({c.schedule.batch_size, 3, a.crop_h, a.crop_w}, device);
  torch::NoGradGuard no_grad;
  teacher->eval();
  PeakMemoryScope scope(device);
  const auto out = teacher->forward(images);
  return {scope.peak_bytes(), scope.current_bytes()};
}

}  // namespace

int64_t MemoryEstimate::total() const {
  int64_t sum = shared;
  for (auto b : per_member) sum += b;
  return sum;
}

MemoryEstimate estimate_cohort_memory(const std::vector<RunConfig>& members) {
  if (members.empty()) return {};
  install_cpu_memory_counter();
  const RunConfig& lead = members.front();
  const torch::Device device = resolve_device(lead.device);
  const int64_t classes = data::make_dataset(lead.data, data::Split::kTrain)->num_classes();
  MemoryEstimate e;
  std::map<std::string, LoadedNetwork> teachers;
  int64_t activations = 0;
  for (const auto& c : members) {
    auto student = build_network(c.net, classes);
    student->to(device);
    int64_t trainable = tensor_bytes(student->parameters());
    if (!c.loss.empty()) {
      if (!teachers.count(c.teacher)) teachers.emplace(c.teacher, load_network(c.teacher, device));
      const auto& t = teachers.at(c.teacher).net;
      trainable += tensor_bytes(make_loss(c.loss, c.loss_options, c.placement, student, t)->parameters());
    }
    e.per_member.push_back(3 * trainable);
    if (activations == 0) activations = student_step_bytes(student, c, device);
  }
  for (auto& [path, t] : teachers) {
    const auto [peak, outputs] = teacher_pass_bytes(t.net, lead, device);
    e.shared += tensor_bytes(t.net->parameters()) + tensor_bytes(t.net->buffers()) + outputs;
    activations = std::max(activations, peak - outputs);
  }
  e.shared += activations;
  return e;
}

std::vector<std::vector<size_t>> split_by_memory(const MemoryEstimate& e, int64_t budget) {
  std::vector<std::vector<size_t>> groups(1);
  int64_t used = e.shared;
  for (size_t k = 0; k < e.per_member.size(); ++k) {
    const int64_t need = e.per_member[k];
    if (budget > 0 && e.shared + need > budget) {
      throw Error(fmt::format("--max-memory {:.0f} MiB is below what one student needs (about {:.0f} MiB "
                              "with its teacher and one step); raise --max-memory",
                              budget / 1048576.0, (e.shared + need) / 1048576.0));
    }
    if (budget > 0 && !groups.back().empty() && used + need > budget) {
      groups.emplace_back();
      used = e.shared;
    }
    groups.back().push_back(k);
    used += need;
  }
  return groups;
}

int64_t parse_memory_size(const std::string& text) {
  const auto bad = [&text] {
    return Error(fmt::format("--max-memory '{}' is not a size; use e.g. 8G, 512M or 0 (no budget)", text));
  };
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw bad();
  }
  const std::string unit = text.substr(used);
  static const std::map<std::string, double> units = {
      {"", 1.0}, {"K", 1024.0}, {"M", 1048576.0}, {"G", 1073741824.0},
      {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}};
  const auto it = units.find(unit);
  if (it == units.end() || !(value >= 0) || !std::isfinite(value)) throw bad();
  return static_cast<int64_t>(value * it->second);
}

int64_t default_memory_budget(const std::string& device) {
  const bool cpu = device == "cpu" || (device == "auto" && !torch::cuda::is_available());
  if (!cpu) return 0;
  return physical_memory_bytes() / 4 * 3;
}

std::vector<Unit> cohort_units(const std::vector<CohortRun>& runs, int64_t budget) {
  // Cohorts in the order their first run appears.
  std::vector<std::string> keys;
  std::map<std::string, std::vector<CohortRun>> by_key;
  for (const auto& r : runs) {
    const std::string key = cohort_key(r.config);
    if (!by_key.count(key)) keys.push_back(key);
    by_key[key].push_back(r);
  }
  std::vector<Unit> units;
  for (const auto& key : keys) {
    const auto& members = by_key.at(key);
    std::vector<RunConfig> configs;
    for (const auto& r : members) configs.push_back(r.config);
    const MemoryEstimate estimate = estimate_cohort_memory(configs);
    const auto groups = split_by_memory(estimate, budget);
    for (size_t g = 0; g < groups.size(); ++g) {
      Unit u;
      MemoryEstimate part{estimate.shared, {}};
      for (size_t k : groups[g]) {
        u.runs.push_back(members[k]);
        part.per_member.push_back(estimate.per_member[k]);
      }
      u.estimated_bytes = part.total();
      u.label = fmt::format("[cohort s{}: {} run{}{}]", members.front().config.seed, u.runs.size(),
                            u.runs.size() == 1 ? "" : "s",
                            groups.size() > 1 ? fmt::format(", part {}/{}", g + 1, groups.size()) : "");
      units.push_back(std::move(u));
    }
  }
  return units;
}

}  // namespace cwd::train
