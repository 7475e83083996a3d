#include "losses/common.h"

#include "src/core/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

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

void check_finite(const std::string& loss,
                  const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  // min and max propagate NaN, so finite extremes mean finite values: one pass per tensor, no
  // N×C×H×W temporary, and one device sync for all of them.
  std::vector<torch::Tensor> extremes;
  for (const auto& item : named) {
    torch::NoGradGuard no_grad;
    auto minmax = at::aminmax(item.second);
    extremes.push_back(std::get<0>(minmax).to(torch::kDouble).reshape({1}));
    extremes.push_back(std::get<1>(minmax).to(torch::kDouble).reshape({1}));
  }
  auto host = torch::cat(extremes).cpu();
  auto values = host.accessor<double, 1>();
  for (size_t i = 0; i < named.size(); ++i) {
    if (!std::isfinite(values[2 * i]) || !std::isfinite(values[2 * i + 1])) {
      throw Error(
          fmt::format("{}: {} holds NaN or Inf, expected finite values", loss, named[i].first));
    }
  }
}

void check_pair(const std::string& loss, const torch::Tensor& student,
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
  check_finite(loss, {{"student map", student}, {"teacher map", teacher}});
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
  return at::upsample_bilinear2d(student, {teacher.size(2), teacher.size(3)},
                                 /*align_corners=*/false);
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
  auto it = options_.find(key);
  if (it == options_.end() || it->is_null()) return nullptr;
  return &*it;
}

void OptionReader::bad(const std::string& key, const std::string& rule,
                       const nlohmann::json& got) const {
  throw Error(fmt::format("{}: option '{}' must be {}, got {}", loss_, key, rule, got.dump()));
}

double OptionReader::positive(const std::string& key, double fallback, bool allow_zero) {
  const auto* value = find(key);
  if (value == nullptr) return fallback;
  const std::string rule = allow_zero ? "a number >= 0" : "a number > 0";
  if (!value->is_number()) bad(key, rule, *value);
  const double x = value->get<double>();
  if (!std::isfinite(x) || x < 0.0 || (!allow_zero && x == 0.0)) bad(key, rule, *value);
  return x;
}

int64_t OptionReader::integer(const std::string& key, int64_t fallback, int64_t min) {
  auto value = optional_integer(key, min);
  return value ? *value : fallback;
}

std::optional<int64_t> OptionReader::optional_integer(const std::string& key, int64_t min) {
  const auto* value = find(key);
  if (value == nullptr) return std::nullopt;
  const std::string rule = fmt::format("an integer >= {}", min);
  if (!value->is_number_integer()) bad(key, rule, *value);
  if (value->is_number_unsigned() && value->get<uint64_t>() > uint64_t{1} << 62) {
    bad(key, rule, *value);
  }
  const auto x = value->get<int64_t>();
  if (x < min) bad(key, rule, *value);
  return x;
}

std::string OptionReader::choice(const std::string& key, const std::string& fallback,
                                 const std::vector<std::string>& choices) {
  const auto* value = find(key);
  if (value == nullptr) return fallback;
  const std::string rule = "one of " + join(choices);
  if (!value->is_string()) bad(key, rule, *value);
  const auto x = value->get<std::string>();
  if (std::find(choices.begin(), choices.end(), x) == choices.end()) bad(key, rule, *value);
  return x;
}

void OptionReader::finish() const {
  for (const auto& item : options_.items()) {
    if (known_.count(item.key()) == 0) {
      throw Error(fmt::format("{}: unknown option '{}' (valid: {})", loss_, item.key(),
                              join({known_.begin(), known_.end()})));
    }
  }
}

// ---- adapter ---------------------------------------------------------------------------------

ChannelAdapterImpl::ChannelAdapterImpl(int64_t in_channels, int64_t out_channels) {
  conv = register_module(
      "conv",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, 1).bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(out_channels));
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

void read_adapter_options(OptionReader& reader, const std::string& loss,
                          std::optional<int64_t>& student_channels,
                          std::optional<int64_t>& teacher_channels) {
  student_channels = reader.optional_integer("student_channels", 1);
  teacher_channels = reader.optional_integer("teacher_channels", 1);
  if (student_channels.has_value() != teacher_channels.has_value()) {
    throw Error(fmt::format(
        "{}: options student_channels and teacher_channels must be given together, got only {}",
        loss, student_channels ? "student_channels" : "teacher_channels"));
  }
}

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
  check_finite(loss, {{"student map", student}});
  return adapter->forward(student);
}

}  // namespace cwd::losses
