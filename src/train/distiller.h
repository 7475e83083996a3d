#pragma once
// The training module: a student, and for a distilled run a frozen teacher and the distillation
// loss (with its channel adapter when the loss has one). One step() is one forward and backward:
// the task loss (cross-entropy + auxiliary) and the distillation term, with the gradients of both
// accumulated into the student (and the adapter).

#include "losses/loss.h"
#include "models/pspnet.h"
#include "src/train/config.h"
#include "src/train/meter.h"

#include <torch/torch.h>

#include <memory>
#include <optional>

namespace cwd::train {

/// The supervised part of the training loss: cross-entropy of the logits, bilinearly upsampled
/// to the labels' size, plus aux_weight × that of the auxiliary logits (ignore_index skipped).
/// Each is the mean over the labelled pixels; with valid_pixels > 0 it is the sum over them
/// divided by valid_pixels instead (a batch spread over W processes divides by the whole batch's
/// labelled pixels / W, so the mean over the processes is the whole batch's mean).
torch::Tensor supervised_loss(const torch::Tensor& logits, const torch::Tensor& aux,
                              const torch::Tensor& labels, int64_t ignore_index, double aux_weight,
                              double valid_pixels = 0);

/// What one step computed; `distill` is undefined for a run without distillation.
struct StepLosses {
  torch::Tensor task;
  torch::Tensor distill;
  /// The maps the term saw (detached; undefined without distillation), for check_values().
  torch::Tensor student_map;
  torch::Tensor teacher_map;
};

class DistillerImpl : public torch::nn::Module {
 public:
  /// A network trained alone (a teacher or a baseline student).
  explicit DistillerImpl(models::PSPNet student);
  /// A student distilled from a frozen `teacher` by `loss` on `placement`.
  DistillerImpl(models::PSPNet student, models::PSPNet teacher,
                std::shared_ptr<losses::DistillLoss> loss, Placement placement);

  /// Train or eval mode for the student and the loss; the teacher always stays in eval mode.
  void train(bool on = true) override;

  /// What the optimizer updates: the student's parameters, then the loss's (its adapter).
  std::vector<torch::Tensor> trainable_parameters() const;

  /// One forward and backward (gradients accumulate; the caller zeroes them). With a `meter`
  /// (pass one when its begin() said so), the term's forward + backward runs apart on a detached
  /// copy of the student map under the meter, and its gradient is then sent through the student;
  /// without one, the step is a plain backward() of the sum. `teacher_out`: the teacher's
  /// output on these images when the caller computed it already (a cohort runs the teacher once
  /// for all its students); null = the step runs the teacher itself (timed by the meter).
  /// `valid_pixels`: as supervised_loss's.
  StepLosses step(const torch::Tensor& images, const torch::Tensor& labels, int64_t ignore_index,
                  double aux_weight, TermMeter* meter = nullptr,
                  const models::SegOutput* teacher_out = nullptr, double valid_pixels = 0);

  /// The frozen teacher's output (no gradient, eval mode). Throws cwd::Error without a teacher.
  models::SegOutput teacher_forward(const torch::Tensor& images);
  bool has_teacher() const { return !teacher_.is_empty(); }

  /// The value checks a loss leaves out of its forward on CUDA (NaN/Inf in the maps, class ids
  /// out of range; losses::check_values), with one device sync and the loss's own messages. The
  /// trainer runs it at its log interval. Nothing to check without distillation.
  void check_values(const StepLosses& step, const torch::Tensor& labels, int64_t ignore_index) const;

  models::PSPNet& student() { return student_; }
  const models::PSPNet& student() const { return student_; }
  /// Null for a run without distillation.
  losses::DistillLoss* loss() const { return loss_.get(); }
  /// The maps the loss saw at the first step (for its FLOP count); none before a step.
  const std::optional<losses::MapShape>& map_shape() const { return map_shape_; }

 private:
  torch::Tensor teacher_map(const models::SegOutput& out) const;
  torch::Tensor term_apart(const torch::Tensor& student_map, const torch::Tensor& teacher_map,
                           const torch::Tensor& labels, const torch::Tensor& task, TermMeter& meter);

  models::PSPNet student_{nullptr};
  models::PSPNet teacher_{nullptr};  // not registered: frozen, not trained, not saved
  std::shared_ptr<losses::DistillLoss> loss_;
  Placement placement_ = Placement::kLogit;
  std::optional<losses::MapShape> map_shape_;
};
TORCH_MODULE(Distiller);

/// The loss `key` with `options` for a student/teacher pair at `placement`: a loss that adapts
/// channels (on feature maps) or always needs them (MGD) gets the channel counts of the two maps
/// (unless the options set them; losses::create_for_maps).
std::shared_ptr<losses::DistillLoss> make_loss(const std::string& key, const nlohmann::json& options,
                                               Placement placement, const models::PSPNet& student,
                                               const models::PSPNet& teacher);

}  // namespace cwd::train
