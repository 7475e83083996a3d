#pragma once
// One run on several processes, through PyTorch's own distributed runtime (c10d): the processes
// meet at a TCPStore served by rank 0, form a process group (Gloo on the CPU; NCCL for CUDA when
// the libtorch was built with it, Gloo otherwise) and from then on share each global batch: every
// rank trains on its rows, the gradients are averaged with bucketed all-reduces, and rank 0 alone
// writes checkpoints and records. With WORLD_SIZE unset or 1 nothing of this is used: one process
// needs no group.

#include "models/shard.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cwd::train {

/// Where this process stands among the processes of one run: the variables torchrun sets (and
/// `train --nproc`, and srun wrappers): RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT.
struct World {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  std::string master_addr;
  int master_port = 0;
};

/// Reads the variables. WORLD_SIZE unset or 1: one process (nothing else is read). A missing or
/// bad variable otherwise: one cwd::Error naming it.
World world_from_env();

/// Whether this build can form a process group on `device` ("" when it can; otherwise why not).
std::string distributed_unavailable(const torch::Device& device);

/// The processes of one run. Every collective must be called by all ranks in the same order.
class ProcessGroup : public models::AllReduce {
 public:
  /// Joins the group (rank 0 serves the store at MASTER_ADDR:MASTER_PORT). Throws cwd::Error
  /// naming the address when the ranks do not meet within `timeout`, which also bounds every
  /// collective (30 min, PyTorch's default: the other ranks wait that long while rank 0
  /// pretrains a missing backbone under torchrun).
  static std::shared_ptr<ProcessGroup> join(const World& world, const torch::Device& device,
                                            std::chrono::seconds timeout = std::chrono::seconds(1800));
  ~ProcessGroup() override;

  int rank() const { return world_.rank; }
  int size() const { return world_.size; }
  const std::string& backend() const { return backend_; }

  /// Sums `t` over the ranks, in place (models::AllReduce; BatchNorm synchronisation).
  void sum(torch::Tensor& t) override;
  /// Copies rank `root`'s tensors into every rank's, in place (bucketed).
  void broadcast(const std::vector<torch::Tensor>& tensors, int root = 0);
  /// Replaces every defined gradient of `params` by its mean over the ranks: the gradients are
  /// packed into buckets of up to `bucket_bytes`, all buckets' all-reduces are started, then
  /// waited for and unpacked.
  void average_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes = 25 << 20);
  /// Rank `root`'s value on every rank.
  int64_t broadcast_value(int64_t value, int root = 0);
  /// Whether `flag` is true on any rank.
  bool any(bool flag);
  /// The mean over the ranks of each value (e.g. a step's losses), as doubles.
  std::vector<double> mean(const std::vector<double>& values);

  class Backend;

 private:
  ProcessGroup(World world, std::string backend, std::unique_ptr<Backend> impl, torch::Device device);
  World world_;
  std::string backend_;
  std::unique_ptr<Backend> impl_;
  torch::Device device_;
};

}  // namespace cwd::train
