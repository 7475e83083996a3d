#pragma once
// One training step spread over several processes, each holding a shard of the global batch
// (src/train/distributed.h): what the networks need to compute as one process would.
// - BatchNorm2d: torch's BatchNorm2d (same parameters, buffers and eval behaviour) whose training
//   statistics can be summed over the processes (synchronised BN, `train --sync-bn`).
// - Dropout2d and draw_rows(): random draws made for the whole global batch, of which each process
//   keeps its own rows, so a sample gets the same mask whichever process holds it.
// With no shard set and no synchronisation both are exactly torch's modules.

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>

namespace cwd::models {

/// Sums a tensor over the processes of a run, in place; differentiable use goes through
/// all_reduce_sum() below.
class AllReduce {
 public:
  virtual ~AllReduce() = default;
  virtual void sum(torch::Tensor& t) = 0;
};

/// The sum over processes as an autograd op: the forward sums the input over the processes, the
/// backward sums the gradient (so each process receives the gradient of the sum of every
/// process's loss with respect to its own input).
torch::Tensor all_reduce_sum(const torch::Tensor& x, const std::shared_ptr<AllReduce>& reduce);

/// Which rows of the global batch this thread's step holds: [offset, offset + rows) of `global`.
/// global == 0: not sharded (the batch is the whole batch).
struct BatchShard {
  int64_t offset = 0;
  int64_t global = 0;
};

/// Sets the shard for the current thread while it lives (the trainer, around one step).
class ShardScope {
 public:
  explicit ShardScope(BatchShard shard);
  ~ShardScope();
  ShardScope(const ShardScope&) = delete;
  ShardScope& operator=(const ShardScope&) = delete;

 private:
  BatchShard previous_;
};

/// The current thread's shard ({0, 0} when none is set).
BatchShard current_shard();

/// A random draw per sample for a batch of `rows` samples: `draw(n)` is called with n = the
/// global batch and this shard's rows are returned (n = rows when not sharded).
torch::Tensor draw_rows(int64_t rows, const std::function<torch::Tensor(int64_t)>& draw);

/// torch::nn::BatchNorm2d's parameters, buffers (same names, same order) and computation, and,
/// with a reducer set, training statistics over all processes: the per-channel sums of x and x²
/// (in double) summed over the processes, one all-reduce forward and one backward.
class BatchNorm2dImpl : public torch::nn::Cloneable<BatchNorm2dImpl> {
 public:
  explicit BatchNorm2dImpl(int64_t num_features) : BatchNorm2dImpl(torch::nn::BatchNormOptions(num_features)) {}
  explicit BatchNorm2dImpl(const torch::nn::BatchNormOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);
  void set_reducer(std::shared_ptr<AllReduce> reduce) { reduce_ = std::move(reduce); }
  bool synchronised() const { return reduce_ != nullptr; }

  torch::nn::BatchNormOptions options;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  torch::Tensor synchronised_forward(const torch::Tensor& x);
  std::shared_ptr<AllReduce> reduce_;
};
TORCH_MODULE(BatchNorm2d);

/// torch::nn::Dropout2d whose channel mask is drawn for the global batch (draw_rows).
class Dropout2dImpl : public torch::nn::Dropout2dImpl {
 public:
  using torch::nn::Dropout2dImpl::Dropout2dImpl;
  torch::Tensor forward(torch::Tensor x);
};
TORCH_MODULE(Dropout2d);

/// Gives every models::BatchNorm2d under `module` the reducer (null: local statistics again).
/// Returns how many it set.
int set_batch_norm_sync(torch::nn::Module& module, const std::shared_ptr<AllReduce>& reduce);

}  // namespace cwd::models
