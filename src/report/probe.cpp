#include "src/report/probe.h"

#include "losses/registry.h"
#include "src/core/error.h"
#include "src/core/resize.h"
#include "src/core/threads.h"
#include "src/data/dataset.h"
#include "src/data/loader.h"
#include "src/train/network.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace cwd::report {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kBatch = 25;

struct Run {
  RowKey row;
  const train::RunRecord* record = nullptr;
  std::string path;  ///< the record's file
};

// The record's weights, relative to the folder of its record file.
bool has_weights(const std::string& dir, const train::RunRecord& r) {
  return !r.weights.empty() && fs::is_regular_file(fs::path(dir) / r.weights);
}

std::string record_path(const std::string& dir, const train::RunRecord& r) {
  return (fs::path(dir) / fs::path(r.file).filename()).string();
}

// Logits of every validation image, N×C×h×w on the CPU, in batches of kBatch.
torch::Tensor all_logits(models::PSPNet& net, const data::SegDataset& dataset, torch::Device device) {
  torch::NoGradGuard no_grad;
  net->eval();
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < dataset.size(); i += kBatch) {
    std::vector<torch::Tensor> images;
    for (int64_t j = i; j < std::min(dataset.size(), i + kBatch); ++j) {
      images.push_back(data::eval_sample(dataset, j).images);
    }
    out.push_back(net->forward(torch::cat(images).to(device)).logits.to(torch::kCPU));
  }
  return torch::cat(out);
}

// Class ids at the label's size: logits upsampled bilinearly, then argmax (as evaluate() does).
torch::Tensor predict(const torch::Tensor& logits, int64_t h, int64_t w) {
  return resize_bilinear(logits.unsqueeze(0), h, w).argmax(1).squeeze(0).to(torch::kUInt8);
}

// The classes present in a label map, most pixels first.
std::vector<int64_t> classes_present(const torch::Tensor& label, int64_t classes) {
  const auto hist = torch::bincount(label.flatten().to(torch::kLong), {}, 256);
  std::vector<std::pair<int64_t, int64_t>> present;  // (pixels, class)
  for (int64_t c = 0; c < classes; ++c) {
    if (hist[c].item<int64_t>() > 0) present.emplace_back(hist[c].item<int64_t>(), c);
  }
  std::stable_sort(present.begin(), present.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<int64_t> out;
  for (const auto& item : present) out.push_back(item.second);
  return out;
}

// Figure 6's image and channels: of the first 16 validation images, the one showing the most
// classes (the first on a tie); its classes with the most pixels, up to `count`, in class order.
void pick_image_and_channels(const data::SegDataset& dataset, int64_t classes, int64_t count, ChannelMaps& maps) {
  size_t best = 0;
  for (int64_t i = 0; i < std::min<int64_t>(16, dataset.size()); ++i) {
    const auto present = classes_present(dataset.get(i).label, classes);
    if (present.size() > best) {
      best = present.size();
      maps.image = i;
      maps.channels = present;
    }
  }
  if (static_cast<int64_t>(maps.channels.size()) > count) maps.channels.resize(static_cast<size_t>(count));
  if (maps.channels.empty()) maps.channels = {0};
  std::sort(maps.channels.begin(), maps.channels.end());
}

double tau_of(const std::vector<train::RunRecord>& records) {
  for (const auto& r : records) {
    if (r.loss && r.loss->key == "cwd" && r.loss->options.contains("tau")) return r.loss->options.at("tau").get<double>();
  }
  return losses::default_options("cwd").value("tau", 4.0);
}

}  // namespace

double channel_kl_sum(const torch::Tensor& teacher, const torch::Tensor& student, double tau) {
  TORCH_CHECK(teacher.sizes() == student.sizes(), "channel_kl_sum: teacher and student logits differ in shape");
  const auto t = (teacher.flatten(2).to(torch::kDouble) / tau);
  const auto s = (student.flatten(2).to(torch::kDouble) / tau);
  const auto log_pt = torch::log_softmax(t, 2), log_ps = torch::log_softmax(s, 2);
  const auto kl = (log_pt.exp() * (log_pt - log_ps)).sum(2);  // N×C
  return kl.mean(1).sum().item<double>();
}

ProbeResult probe(const std::string& dir, const std::string& teacher_record, const train::Table& table,
                  const std::vector<train::RunRecord>& records, const ProbeOptions& o) {
  ProbeResult result;
  const auto say = [&](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  // The networks: the teacher, then every usable student run that has its weights.
  const train::RunRecord* teacher = nullptr;
  std::vector<Run> students;
  int64_t missing = 0;
  for (const auto& r : records) {
    if (r.role == train::Role::kTeacher) {
      const std::string teacher_dir = fs::path(teacher_record).parent_path().string();
      if (has_weights(teacher_dir.empty() ? "." : teacher_dir, r)) teacher = &r;
      continue;
    }
    if (r.diverged) continue;
    if (!has_weights(dir, r)) {
      ++missing;
      continue;
    }
    students.push_back({row_of(r), &r, record_path(dir, r)});
  }
  if (teacher == nullptr || students.empty()) {
    result.note = fmt::format("the weights of {} are not there (run records are committed without weights); "
                              "run the comparison here to draw the predictions and channel figures",
                              teacher == nullptr ? "the teacher" : "the students");
    return result;
  }
  std::stable_sort(students.begin(), students.end(),
                   [](const Run& a, const Run& b) { return a.record->seed < b.record->seed; });

  const auto device = resolve_device(o.device);
  const std::string& teacher_path = teacher_record;
  auto dataset = data::make_dataset(train::trained_data(teacher_path), data::Split::kVal);
  const int64_t total = 1 + static_cast<int64_t>(students.size());
  result.val_images = dataset->size();
  say(fmt::format("evaluating the teacher (1 of {}) on {} validation images", total, dataset->size()));
  auto teacher_net = train::load_network(teacher_path, device);
  const torch::Tensor teacher_logits = all_logits(teacher_net.net, *dataset, device);
  const int64_t classes = teacher_logits.size(1);
  const double tau = tau_of(records);

  // Rows of the figures, in the table's order.
  std::vector<RowKey> order = {{"", train::Placement::kLogit}};
  for (const auto& row : table.rows) order.push_back({row.method, row.placement});

  const int64_t shown = std::min(o.images, dataset->size());
  Predictions& pred = result.predictions;
  pred.class_names = dataset->class_names();
  pred.ignore_index = dataset->ignore_index();
  for (int64_t i = 0; i < shown; ++i) {
    const auto sample = dataset->get(i);
    pred.images.push_back(sample.image);
    pred.truth.push_back(sample.label);
  }
  const auto predictions_of = [&](const torch::Tensor& logits) {
    std::vector<torch::Tensor> out;
    for (int64_t i = 0; i < shown; ++i) {
      out.push_back(predict(logits[i], pred.truth[static_cast<size_t>(i)].size(0), pred.truth[static_cast<size_t>(i)].size(1)));
    }
    return out;
  };
  pred.rows.push_back("teacher");
  pred.predicted.push_back(predictions_of(teacher_logits));

  ChannelMaps& maps = result.channels;
  maps.tau = tau;
  pick_image_and_channels(*dataset, classes, o.channels, maps);
  for (const int64_t c : maps.channels) {
    maps.channel_names.push_back(c < static_cast<int64_t>(pred.class_names.size()) ? pred.class_names[static_cast<size_t>(c)]
                                                                                   : fmt::format("class {}", c));
  }
  const auto channel_maps = [&](const torch::Tensor& logits) {
    std::vector<torch::Tensor> out;
    const auto& map = logits[maps.image];
    const auto soft = torch::softmax(map.flatten(1).to(torch::kDouble) / tau, 1).view_as(map);
    for (const int64_t c : maps.channels) out.push_back(soft[c].to(torch::kFloat).clone());
    return out;
  };
  maps.nets.push_back("teacher");
  maps.maps.push_back(channel_maps(teacher_logits));

  // Each row's runs, lowest seed first: all of them give the KL, the first one the pictures.
  std::map<size_t, std::vector<double>> kl_by_row;  // index in `order` → per-run KL
  std::vector<std::vector<torch::Tensor>> row_predictions(order.size()), row_maps(order.size());
  int64_t done = 1;
  for (const auto& run : students) {
    ++done;
    say(fmt::format("evaluating {} ({} of {})", run.record->name, done, total));
    const auto it = std::find(order.begin(), order.end(), run.row);
    if (it == order.end()) continue;
    const size_t index = static_cast<size_t>(it - order.begin());
    auto net = train::load_network(run.path, device);
    torch::Tensor logits = all_logits(net.net, *dataset, device);
    if (logits.sizes() != teacher_logits.sizes()) {
      logits = resize_bilinear(logits, teacher_logits.size(2), teacher_logits.size(3));
    }
    kl_by_row[index].push_back(channel_kl_sum(teacher_logits, logits, tau) / static_cast<double>(logits.size(0)));
    if (row_predictions[index].empty()) {
      row_predictions[index] = predictions_of(logits);
      row_maps[index] = channel_maps(logits);
    }
  }
  for (size_t i = 0; i < order.size(); ++i) {
    if (row_predictions[i].empty()) continue;
    pred.rows.push_back(order[i].label());
    pred.predicted.push_back(row_predictions[i]);
    // Figure 6 shows the baseline and the CWD student on the logit map.
    if (order[i].method.empty() || (order[i].method == "cwd" && order[i].placement == train::Placement::kLogit)) {
      maps.nets.push_back(order[i].label());
      maps.maps.push_back(row_maps[i]);
    }
  }

  for (size_t i = 0; i < order.size(); ++i) {
    const auto it = kl_by_row.find(i);
    if (it != kl_by_row.end()) result.kl.push_back({order[i], train::Stat::of(it->second)});
  }
  result.available = true;
  result.networks = total;
  if (missing > 0) {
    result.note = fmt::format("{} run{} without weights in the folder left out of the predictions and the KL column",
                              missing, missing == 1 ? "" : "s");
  }
  return result;
}

}  // namespace cwd::report
