#include "models/shard.h"

#include <torch/csrc/autograd/custom_function.h>

#include <stdexcept>
#include <string>

namespace cwd::models {

namespace {

thread_local BatchShard g_shard;

// The reducer, kept in the autograd context for the backward pass.
struct ReduceHolder : torch::CustomClassHolder {
  explicit ReduceHolder(std::shared_ptr<AllReduce> r) : reduce(std::move(r)) {}
  std::shared_ptr<AllReduce> reduce;
};

struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const std::shared_ptr<AllReduce>& reduce) {
    ctx->saved_data["reduce"] = c10::IValue::make_capsule(c10::make_intrusive<ReduceHolder>(reduce));
    torch::Tensor out = x.clone();
    reduce->sum(out);
    return out;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto holder = ctx->saved_data["reduce"].toCapsule();
    auto* reduce = static_cast<ReduceHolder*>(holder.get())->reduce.get();
    torch::Tensor g = grads[0].contiguous().clone();
    reduce->sum(g);
    return {g, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor all_reduce_sum(const torch::Tensor& x, const std::shared_ptr<AllReduce>& reduce) {
  return AllReduceSum::apply(x, reduce);
}

ShardScope::ShardScope(BatchShard shard) : previous_(g_shard) { g_shard = shard; }
ShardScope::~ShardScope() { g_shard = previous_; }

BatchShard current_shard() { return g_shard; }

torch::Tensor draw_rows(int64_t rows, const std::function<torch::Tensor(int64_t)>& draw) {
  const BatchShard s = g_shard;
  if (s.global == 0) return draw(rows);
  if (s.offset < 0 || s.offset + rows > s.global) {
    throw std::logic_error("draw_rows: rows " + std::to_string(s.offset) + ".." + std::to_string(s.offset + rows) +
                           " are outside the global batch of " + std::to_string(s.global));
  }
  return draw(s.global).narrow(0, s.offset, rows);
}

BatchNorm2dImpl::BatchNorm2dImpl(const torch::nn::BatchNormOptions& options_) : options(options_) { reset(); }

// As torch's BatchNormImplBase::reset and reset_parameters.
void BatchNorm2dImpl::reset() {
  const int64_t n = options.num_features();
  if (options.affine()) {
    weight = register_parameter("weight", torch::ones({n}));
    bias = register_parameter("bias", torch::zeros({n}));
  } else {
    weight = register_parameter("weight", torch::Tensor(), false);
    bias = register_parameter("bias", torch::Tensor(), false);
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({n}));
    running_var = register_buffer("running_var", torch::ones({n}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::dtype(torch::kLong)));
  } else {
    running_mean = register_buffer("running_mean", torch::Tensor());
    running_var = register_buffer("running_var", torch::Tensor());
    num_batches_tracked = register_buffer("num_batches_tracked", torch::Tensor());
  }
}

void BatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  stream << "cwd::models::BatchNorm2d(" << options.num_features() << ", eps=" << options.eps()
         << (reduce_ ? ", synchronised" : "") << ")";
}

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor& x) {
  if (x.dim() != 4) throw std::invalid_argument("BatchNorm2d: expected a 4-d input, got " + std::to_string(x.dim()));
  if (reduce_ && is_training()) return synchronised_forward(x);
  // torch's BatchNormImplBase::forward.
  double factor = options.momentum().value_or(0.0);
  if (is_training() && options.track_running_stats() && num_batches_tracked.defined()) {
    num_batches_tracked += 1;
    factor = options.momentum().has_value() ? *options.momentum() : 1.0 / num_batches_tracked.item<double>();
  }
  return torch::nn::functional::detail::batch_norm(x, running_mean, running_var, weight, bias,
                                                   is_training() || !options.track_running_stats(), factor,
                                                   options.eps());
}

torch::Tensor BatchNorm2dImpl::synchronised_forward(const torch::Tensor& x) {
  const int64_t c = x.size(1);
  const auto per_channel = [c](const torch::Tensor& t) { return t.view({1, c, 1, 1}); };
  // One all-reduce of the per-channel sums of x and x², accumulated in double (so that
  // E[x²] − E[x]² does not cancel in float), and the element count, which carries no gradient.
  const auto local_count = torch::full({1}, static_cast<double>(x.numel() / c), x.options().dtype(torch::kDouble));
  const auto sums = all_reduce_sum(
      torch::cat({x.sum({0, 2, 3}, false, torch::kDouble), x.square().sum({0, 2, 3}, false, torch::kDouble), local_count}),
      reduce_);
  const auto count = sums.narrow(0, 2 * c, 1);
  const auto mean = sums.narrow(0, 0, c) / count;
  const auto var = (sums.narrow(0, c, c) / count - mean.square()).clamp_min(0);
  const auto mean_x = mean.to(x.scalar_type());
  const auto var_x = var.to(x.scalar_type());
  auto y = (x - per_channel(mean_x)) * per_channel(torch::rsqrt(var_x + options.eps()));
  if (options.affine()) y = y * per_channel(weight) + per_channel(bias);
  if (options.track_running_stats()) {
    torch::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
    const double momentum = options.momentum().has_value()
                                ? *options.momentum()
                                : 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
    const double n = count.item<double>();
    running_mean.mul_(1 - momentum).add_(mean_x.detach() * momentum);
    running_var.mul_(1 - momentum).add_(var_x.detach() * (n / std::max(n - 1, 1.0)) * momentum);
  }
  return y;
}

torch::Tensor Dropout2dImpl::forward(torch::Tensor x) {
  const double p = options.p();
  if (current_shard().global == 0 || !is_training() || p == 0 || x.dim() != 4) {
    return torch::nn::Dropout2dImpl::forward(std::move(x));
  }
  // As torch's feature dropout draws it, for the whole batch: one Bernoulli(1 − p) per sample
  // and channel, scaled by 1 / (1 − p).
  auto noise = draw_rows(x.size(0), [&](int64_t n) {
    return torch::empty({n, x.size(1), 1, 1}, x.options()).bernoulli_(1 - p);
  });
  if (p == 1) return x * torch::zeros_like(noise);
  return x * noise.div(1 - p);
}

int set_batch_norm_sync(torch::nn::Module& module, const std::shared_ptr<AllReduce>& reduce) {
  int n = 0;
  for (const auto& m : module.modules()) {
    if (auto bn = std::dynamic_pointer_cast<BatchNorm2dImpl>(m)) {
      bn->set_reducer(reduce);
      ++n;
    }
  }
  return n;
}

}  // namespace cwd::models
