#include "src/train/distiller.h"

#include "losses/common.h"
#include "losses/registry.h"
#include "src/core/error.h"
#include "src/core/resize.h"

namespace cwd::train {

namespace F = torch::nn::functional;

namespace {

torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                int64_t ignore_index, double valid_pixels) {
  const auto upsampled = resize_bilinear(logits, labels.size(1), labels.size(2));
  if (valid_pixels > 0) {
    return F::cross_entropy(upsampled, labels,
                            F::CrossEntropyFuncOptions().ignore_index(ignore_index).reduction(torch::kSum)) /
           valid_pixels;
  }
  return F::cross_entropy(upsampled, labels, F::CrossEntropyFuncOptions().ignore_index(ignore_index));
}

}  // namespace

torch::Tensor supervised_loss(const torch::Tensor& logits, const torch::Tensor& aux,
                              const torch::Tensor& labels, int64_t ignore_index, double aux_weight,
                              double valid_pixels) {
  return segmentation_loss(logits, labels, ignore_index, valid_pixels) +
         aux_weight * segmentation_loss(aux, labels, ignore_index, valid_pixels);
}

std::shared_ptr<losses::DistillLoss> make_loss(const std::string& key, const nlohmann::json& options,
                                               Placement placement, const models::PSPNet& student,
                                               const models::PSPNet& teacher) {
  const bool feature = placement == Placement::kFeature;
  auto channels = [feature](const models::PSPNet& net) {
    return feature ? net->feature_channels() : net->options().num_classes();
  };
  return losses::create_for_maps(key, options, feature, channels(student), channels(teacher));
}

DistillerImpl::DistillerImpl(models::PSPNet student) : student_(register_module("student", student)) {}

DistillerImpl::DistillerImpl(models::PSPNet student, models::PSPNet teacher,
                             std::shared_ptr<losses::DistillLoss> loss, Placement placement)
    : student_(register_module("student", student)),
      teacher_(std::move(teacher)),
      loss_(register_module("loss", std::move(loss))),
      placement_(placement) {
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
  teacher_->eval();
}

void DistillerImpl::train(bool on) {
  torch::nn::Module::train(on);
  if (!teacher_.is_empty()) teacher_->eval();
}

std::vector<torch::Tensor> DistillerImpl::trainable_parameters() const {
  std::vector<torch::Tensor> params = student_->parameters();
  if (loss_) {
    for (auto& p : loss_->parameters()) params.push_back(p);
  }
  return params;
}

models::SegOutput DistillerImpl::teacher_forward(const torch::Tensor& images) {
  if (teacher_.is_empty()) throw Error("teacher_forward: this Distiller has no teacher");
  torch::NoGradGuard no_grad;
  return teacher_->forward(images);
}

torch::Tensor DistillerImpl::teacher_map(const models::SegOutput& out) const {
  return placement_ == Placement::kLogit ? out.logits : out.features;
}

// The term runs on a detached copy of the student map so that its forward + backward can be
// timed and its memory counted alone; its gradient then goes through the student together with
// the task loss's.
torch::Tensor DistillerImpl::term_apart(const torch::Tensor& student_map,
                                        const torch::Tensor& teacher_map,
                                        const torch::Tensor& labels, const torch::Tensor& task,
                                        TermMeter& meter) {
  auto leaf = student_map.detach().requires_grad_(true);
  torch::Tensor distill;
  meter.time_term([&] {
    distill = loss_->forward(leaf, teacher_map, labels);
    distill.backward();
  });
  torch::autograd::backward({task, student_map}, {torch::ones_like(task), leaf.grad()});
  return distill;
}

StepLosses DistillerImpl::step(const torch::Tensor& images, const torch::Tensor& labels,
                               int64_t ignore_index, double aux_weight, TermMeter* meter,
                               const models::SegOutput* teacher_out, double valid_pixels) {
  auto out = student_->forward(images);
  StepLosses losses;
  losses.task = supervised_loss(out.logits, out.aux, labels, ignore_index, aux_weight, valid_pixels);
  if (!loss_) {
    losses.task.backward();
    return losses;
  }
  torch::Tensor t_map;
  if (teacher_out) {
    t_map = teacher_map(*teacher_out);
  } else {
    auto forward = [&] { return teacher_map(teacher_forward(images)); };
    t_map = meter ? meter->time_teacher(forward) : forward();
  }
  const auto s_map = placement_ == Placement::kLogit ? out.logits : out.features;
  if (!map_shape_) {
    map_shape_ = losses::MapShape{s_map.size(0), s_map.size(1), t_map.size(1),
                                  t_map.size(2), t_map.size(3), out.logits.size(1)};
  }
  losses.student_map = s_map.detach();
  losses.teacher_map = t_map;
  if (meter) {
    losses.distill = term_apart(s_map, t_map, labels, losses.task, *meter);
  } else {
    losses.distill = loss_->forward(s_map, t_map, labels);
    (losses.task + losses.distill).backward();
  }
  return losses;
}

void DistillerImpl::check_values(const StepLosses& step, const torch::Tensor& labels,
                                 int64_t ignore_index) const {
  if (!loss_ || !step.student_map.defined()) return;
  const auto info = loss_->info();
  losses::check_values(info.key, step.student_map, step.teacher_map,
                       info.needs_labels ? labels : torch::Tensor(), ignore_index);
}

}  // namespace cwd::train
