#pragma once
// What the report needs from the stored weights (docs/report.md): predictions on a few
// validation images, the channel distributions of the logit map on one of them, and the mean
// channel-wise KL divergence between each student and the teacher over the whole split.

#include "src/report/figures.h"

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace cwd::report {

struct ProbeOptions {
  int64_t images = 4;          ///< validation images in the predictions grid (the first ones)
  int64_t channels = 4;        ///< logit-map channels in the channel figure
  std::string device = "auto";
  /// One line per step ("evaluating cwd-logit-s0 (3 of 22)"); stderr in the CLI.
  std::function<void(const std::string&)> progress;
};

/// Figure 5: rows image, ground truth, teacher, baseline, each method's student (its lowest
/// seed); columns the first validation images. Labels are class ids (uint8 H×W).
struct Predictions {
  std::vector<torch::Tensor> images;  ///< uint8 H×W×3 RGB
  std::vector<torch::Tensor> truth;   ///< uint8 H×W
  std::vector<std::string> rows;      ///< "teacher", "baseline", "CWD (logit)", ...
  std::vector<std::vector<torch::Tensor>> predicted;  ///< [row][image] uint8 H×W
  std::vector<std::string> class_names;
  int64_t ignore_index = 255;
};

/// Figure 6: the spatial softmax (temperature tau) of a few logit-map channels of one image (of
/// the first 16 validation images, the one showing the most classes; its largest classes), for
/// the teacher, the baseline student and the CWD student (when the folder has one).
struct ChannelMaps {
  int64_t image = 0;  ///< validation index
  double tau = 4.0;
  std::vector<int64_t> channels;
  std::vector<std::string> channel_names;
  std::vector<std::string> nets;                  ///< row labels
  std::vector<std::vector<torch::Tensor>> maps;   ///< [net][channel] float h×w, sums to 1
};

/// The mean over seeds of each row's channel-wise KL(teacher ‖ student), in nats per channel.
struct ChannelKl {
  RowKey row;
  train::Stat kl;
};

struct ProbeResult {
  bool available = false;  ///< false: no weights in the folder; `note` says why
  std::string note;
  Predictions predictions;
  ChannelMaps channels;
  std::vector<ChannelKl> kl;  ///< baseline first, then the table's rows
  int64_t networks = 0;       ///< networks evaluated
  int64_t val_images = 0;
};

/// Mean over images and channels of KL(softmax(t/tau) ‖ softmax(s/tau)), each softmax over
/// the h·w positions of one channel; `teacher` and `student` are N×C×h×w logits of one size.
/// Returns the sum over images of the per-image channel mean (divide by N for the mean).
double channel_kl_sum(const torch::Tensor& teacher, const torch::Tensor& student, double tau);

/// Loads the networks from the weights their records name and computes everything above:
/// the students from `dir`, the teacher from its record `teacher_record` (in `dir`, or
/// elsewhere for a comparison run with --teacher). Missing weights are not an error: the
/// result says what could not be drawn.
ProbeResult probe(const std::string& dir, const std::string& teacher_record, const train::Table& table,
                  const std::vector<train::RunRecord>& records, const ProbeOptions& options);

}  // namespace cwd::report
