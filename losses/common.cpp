#include "losses/common.h"

#include "src/core/error.h"
#include "src/core/resize.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace cwd::losses {
namespace {

std::string dtype_name(const torch::Tensor& t) { return c10::toString(t.scalar_type()); }

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

void check_map(const std::string& loss, const std::string& role, const torch::Tensor& map) {
  if (!map.defined()) {
    throw Error(fmt::format("{}: {} is missing, expected a N×C×H×W tensor", loss, role));
  }
  if (map.dim() != 4) {
    throw Error(fmt::format("{}: {} is {}-D, expected N×C×H×W", loss, role, map.dim()));
  }
  if (!map.is_floating_point()) {
    throw Error(
        fmt::format("{}: {} is {}, expected a floating-point tensor", loss, role, dtype_name(map)));
  }
  if (map.numel() == 0) {
    throw Error(fmt::format("{}: {} has shape {}, expected no empty dimension", loss, role,
                            fmt::join(map.sizes(), "×")));
  }
}

bool values_on_host(const torch::Tensor& map) { return map.device().is_cpu(); }

namespace {

// 1-element int64: 1 when all of `map`'s values are finite, else 0. min and max propagate NaN, so
// finite extremes mean finite values: one pass, no N×C×H×W temporary, and no host copy yet.
torch::Tensor all_finite(const torch::Tensor& map) {
  torch::NoGradGuard no_grad;
  auto minmax = at::aminmax(map);
  auto finite =
      torch::isfinite(std::get<0>(minmax)).logical_and(torch::isfinite(std::get<1>(minmax)));
  return finite.to(torch::kLong).reshape({1});
}

void throw_unless_finite(const std::string& loss, const std::string& role, int64_t finite) {
  if (finite == 0) {
    throw NonFiniteError(fmt::format("{}: {} holds NaN or Inf, expected finite values", loss, role));
  }
}

// Shapes, dtypes and devices of both maps: what check_pair checks without reading values.
void check_pair_layout(const std::string& loss, const torch::Tensor& student,
                       const torch::Tensor& teacher) {
  check_map(loss, "student map", student);
  check_map(loss, "teacher map", teacher);
  if (student.size(0) != teacher.size(0)) {
    throw Error(fmt::format("{}: batch sizes differ (student {}, teacher {}), expected the same N",
                            loss, student.size(0), teacher.size(0)));
  }
  if (student.scalar_type() != teacher.scalar_type()) {
    throw Error(fmt::format("{}: dtypes differ (student {}, teacher {}), expected the same dtype",
                            loss, dtype_name(student), dtype_name(teacher)));
  }
  if (student.device() != teacher.device()) {
    throw Error(
        fmt::format("{}: devices differ (student {}, teacher {}), expected both on the same device",
                    loss, student.device().str(), teacher.device().str()));
  }
}

}  // namespace

void check_finite(const std::string& loss,
                  const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  std::vector<torch::Tensor> flags;
  for (const auto& item : named) flags.push_back(all_finite(item.second));
  auto host = torch::cat(flags).cpu();  // the one sync
  auto finite = host.accessor<int64_t, 1>();
  for (size_t i = 0; i < named.size(); ++i) throw_unless_finite(loss, named[i].first, finite[i]);
}

void check_pair(const std::string& loss, const torch::Tensor& student,
                const torch::Tensor& teacher) {
  check_pair_layout(loss, student, teacher);
  if (values_on_host(student)) {
    check_finite(loss, {{"student map", student}, {"teacher map", teacher}});
  }
}

void check_class_ids(const std::string& loss, int64_t lo, int64_t hi, int64_t ignore_index) {
  if (lo >= 0 && hi < kIfvdMaxClasses) return;
  throw Error(fmt::format("{}: labels hold class id {}, expected 0..{} or ignore_index {}", loss,
                          lo < 0 ? lo : hi, kIfvdMaxClasses - 1, ignore_index));
}

LabelIds label_ids(const torch::Tensor& labels, const torch::Tensor& teacher,
                   int64_t ignore_index) {
  torch::NoGradGuard no_grad;
  auto lab = resize_labels_nearest(labels.to(teacher.device()), teacher.size(2), teacher.size(3))
                 .reshape({teacher.size(0), teacher.size(2) * teacher.size(3)});
  LabelIds out;
  out.ignored = lab == ignore_index;
  out.ids = lab.masked_fill(out.ignored, 0);
  return out;
}

void check_values(const std::string& loss, const torch::Tensor& student,
                  const torch::Tensor& teacher, const torch::Tensor& labels, int64_t ignore_index) {
  check_pair_layout(loss, student, teacher);
  if (labels.defined()) check_labels(loss, labels, student.size(0));
  // Everything goes into one int64 tensor so that one copy to the host reads it all.
  std::vector<torch::Tensor> parts = {all_finite(student), all_finite(teacher)};
  if (labels.defined()) {
    torch::NoGradGuard no_grad;
    const auto ids = label_ids(labels, teacher, ignore_index).ids;
    parts.push_back(torch::stack({ids.min(), ids.max()}));
  }
  auto host = torch::cat(parts).cpu();  // the one sync
  auto values = host.accessor<int64_t, 1>();
  throw_unless_finite(loss, "student map", values[0]);
  throw_unless_finite(loss, "teacher map", values[1]);
  if (labels.defined()) check_class_ids(loss, values[2], values[3], ignore_index);
}

void check_same_channels(const std::string& loss, const torch::Tensor& student,
                         const torch::Tensor& teacher, bool adapter_hint) {
  if (student.size(1) == teacher.size(1)) return;
  throw Error(fmt::format("{}: channel counts differ (student {}, teacher {}), expected equal{}",
                          loss, student.size(1), teacher.size(1),
                          adapter_hint ? " (set options student_channels and teacher_channels "
                                         "to add a channel adapter)"
                                       : ""));
}

torch::Tensor resize_to_teacher(const torch::Tensor& student, const torch::Tensor& teacher) {
  if (student.size(2) == teacher.size(2) && student.size(3) == teacher.size(3)) return student;
  return resize_bilinear(student, teacher.size(2), teacher.size(3));
}

void check_labels(const std::string& loss, const torch::Tensor& labels, int64_t n) {
  if (!labels.defined()) {
    throw Error(fmt::format(
        "{}: labels are missing, expected int64 N×H0×W0 labels ({} needs labels)", loss, loss));
  }
  if (labels.dim() != 3) {
    throw Error(fmt::format("{}: labels are {}-D, expected N×H0×W0", loss, labels.dim()));
  }
  if (labels.scalar_type() != torch::kLong) {
    throw Error(fmt::format("{}: labels are {}, expected int64 (Long)", loss, dtype_name(labels)));
  }
  if (labels.size(0) != n) {
    throw Error(fmt::format("{}: batch sizes differ (maps {}, labels {}), expected the same N",
                            loss, n, labels.size(0)));
  }
  if (labels.numel() == 0) {
    throw Error(fmt::format("{}: labels have shape {}, expected no empty dimension", loss,
                            fmt::join(labels.sizes(), "×")));
  }
}

torch::Tensor resize_labels_nearest(const torch::Tensor& labels, int64_t h, int64_t w) {
  const int64_t in_h = labels.size(1);
  const int64_t in_w = labels.size(2);
  if (in_h == h && in_w == w) return labels;
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(labels.device());
  auto rows = torch::arange(h, opts).mul_(in_h).div_(h, "floor");
  auto cols = torch::arange(w, opts).mul_(in_w).div_(w, "floor");
  return labels.index_select(1, rows).index_select(2, cols);
}

torch::Tensor unit_channels(const torch::Tensor& map) {
  return map / map.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);
}

torch::Tensor softmax_kl_sum(const torch::Tensor& student, const torch::Tensor& teacher, double tau,
                             int64_t dim) {
  torch::Tensor p_t;
  torch::Tensor log_p_t;
  {
    torch::NoGradGuard no_grad;
    log_p_t = torch::log_softmax(tau == 1.0 ? teacher : teacher / tau, dim);
    p_t = log_p_t.exp();
  }
  auto log_p_s = torch::log_softmax(tau == 1.0 ? student : student / tau, dim);
  return (p_t * (log_p_t - log_p_s)).sum();
}

// ---- options ---------------------------------------------------------------------------------

OptionReader::OptionReader(std::string loss, const nlohmann::json& options)
    : loss_(std::move(loss)), options_(options.is_null() ? nlohmann::json::object() : options) {
  if (!options_.is_object()) {
    throw Error(fmt::format("{}: options must be a JSON object, got {}", loss_, options_.dump()));
  }
}

const nlohmann::json* OptionReader::find(const std::string& key) {
  known_.insert(key);
  return written(key);
}

const nlohmann::json* OptionReader::written(const std::string& key) const {
  auto it = options_.find(key);
  if (it == options_.end() || it->is_null()) return nullptr;
  return &*it;
}

double OptionReader::number(const std::string& key, double fallback) {
  const auto* value = find(key);
  if (value == nullptr) return fallback;
  if (!value->is_number()) {
    mistyped_.insert(key);
    return fallback;
  }
  return value->get<double>();
}

int64_t OptionReader::integer(const std::string& key, int64_t fallback) {
  auto value = optional_integer(key);
  return value ? *value : fallback;
}

std::optional<int64_t> OptionReader::optional_integer(const std::string& key) {
  const auto* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number_integer() ||
      (value->is_number_unsigned() && value->get<uint64_t>() > uint64_t{1} << 62)) {
    mistyped_.insert(key);
    return std::nullopt;
  }
  return value->get<int64_t>();
}

std::string OptionReader::string(const std::string& key, const std::string& fallback) {
  const auto* value = find(key);
  if (value == nullptr) return fallback;
  if (!value->is_string()) {
    mistyped_.insert(key);
    return fallback;
  }
  return value->get<std::string>();
}

void OptionReader::finish() const {
  for (const auto& item : options_.items()) {
    if (known_.count(item.key()) == 0) {
      throw Error(fmt::format("{}: unknown option '{}' (valid: {})", loss_, item.key(),
                              join({known_.begin(), known_.end()})));
    }
  }
}

OptionRules::OptionRules(std::string loss) : loss_(std::move(loss)) {}

OptionRules::OptionRules(const OptionReader& reader) : loss_(reader.loss()), reader_(&reader) {}

void OptionRules::require(bool ok, const std::string& key, const std::string& rule,
                          const std::string& value) const {
  const bool mistyped = reader_ != nullptr && reader_->mistyped(key);
  if (ok && !mistyped) return;
  // Quote what the user wrote: the JSON value when the options came from JSON.
  const auto* written = reader_ != nullptr ? reader_->written(key) : nullptr;
  throw Error(fmt::format("{}: option '{}' must be {}, got {}", loss_, key, rule,
                          written != nullptr ? written->dump() : value));
}

void OptionRules::positive(const std::string& key, double value, bool allow_zero) const {
  const bool ok = std::isfinite(value) && (allow_zero ? value >= 0.0 : value > 0.0);
  // fmt writes doubles as JSON does where it matters here: -1, 0.5, 1e-05.
  require(ok, key, allow_zero ? "a number >= 0" : "a number > 0", fmt::format("{}", value));
}

void OptionRules::unit_interval(const std::string& key, double value) const {
  require(std::isfinite(value) && value >= 0.0 && value <= 1.0, key, "a number in [0, 1]",
          fmt::format("{}", value));
}

void OptionRules::at_least(const std::string& key, int64_t value, int64_t min) const {
  require(value >= min, key, fmt::format("an integer >= {}", min), fmt::format("{}", value));
}

void OptionRules::one_of(const std::string& key, const std::string& value,
                         const std::vector<std::string>& choices) const {
  const bool ok = std::find(choices.begin(), choices.end(), value) != choices.end();
  require(ok, key, "one of " + join(choices), nlohmann::json(value).dump());
}

void OptionRules::adapter(const std::optional<int64_t>& student_channels,
                          const std::optional<int64_t>& teacher_channels) const {
  // A mistyped count reads as absent; at_least() still reports it.
  at_least("student_channels", student_channels.value_or(1), 1);
  at_least("teacher_channels", teacher_channels.value_or(1), 1);
  if (student_channels.has_value() != teacher_channels.has_value()) {
    throw Error(fmt::format(
        "{}: options student_channels and teacher_channels must be given together, got only {}",
        loss_, student_channels ? "student_channels" : "teacher_channels"));
  }
}

// ---- adapter ---------------------------------------------------------------------------------

ChannelAdapterImpl::ChannelAdapterImpl(int64_t in_channels, int64_t out_channels) {
  conv = register_module(
      "conv",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, 1).bias(false)));
  bn = register_module("bn", models::BatchNorm2d(out_channels));
}

torch::Tensor ChannelAdapterImpl::forward(const torch::Tensor& x) {
  return torch::relu(bn->forward(conv->forward(x)));
}

double adapter_flops(int64_t n, int64_t cin, int64_t cout, int64_t h, int64_t w) {
  const double outputs = static_cast<double>(n) * cout * h * w;
  return outputs * (2.0 * cin + 2.0 + 1.0);
}

}  // namespace cwd::losses

namespace cwd::losses {

torch::Tensor adapt_student(const std::string& loss, ChannelAdapter& adapter,
                            const torch::Tensor& student, const torch::Tensor& teacher) {
  if (adapter.is_empty()) return student;
  check_map(loss, "student map", student);
  check_map(loss, "teacher map", teacher);
  const int64_t cs = adapter->conv->options.in_channels();
  const int64_t ct = adapter->conv->options.out_channels();
  if (student.size(1) != cs) {
    throw Error(fmt::format("{}: student map has {} channels, expected student_channels = {}", loss,
                            student.size(1), cs));
  }
  if (teacher.size(1) != ct) {
    throw Error(fmt::format("{}: teacher map has {} channels, expected teacher_channels = {}", loss,
                            teacher.size(1), ct));
  }
  if (values_on_host(student)) check_finite(loss, {{"student map", student}});
  return adapter->forward(student);
}

}  // namespace cwd::losses
