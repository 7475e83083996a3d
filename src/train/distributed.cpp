#include "src/train/distributed.h"

#include "src/core/error.h"

#include <fmt/format.h>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(USE_C10D_GLOO)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if defined(USE_C10D_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <map>
#include <stdexcept>
#include <utility>

namespace cwd::train {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// A whole non-negative decimal number, or -1.
long parse_count(const std::string& text) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stol(text);
}

int required_number(const char* name, long low, long high) {
  const std::string text = env(name);
  const long v = parse_count(text);
  if (text.empty()) {
    throw Error(fmt::format("WORLD_SIZE is set but {} is not; start the processes with torchrun, srun wrappers that "
                            "set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, or `cwd-bench train --nproc N`",
                            name));
  }
  if (v < low || v > high) {
    throw Error(fmt::format("{}={} is not a whole number in {}..{}; fix the launcher's environment", name, text, low,
                            high));
  }
  return static_cast<int>(v);
}

// The first line of a c10d error (its backtrace follows).
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

World world_from_env() {
  World w;
  const std::string size = env("WORLD_SIZE");
  if (size.empty()) return w;
  const long n = parse_count(size);
  if (n < 1 || n > 65536) {
    throw Error(fmt::format("WORLD_SIZE={} is not a process count in 1..65536; fix the launcher's environment", size));
  }
  w.size = static_cast<int>(n);
  if (w.size == 1) return w;
  w.rank = required_number("RANK", 0, w.size - 1);
  w.local_rank = env("LOCAL_RANK").empty() ? 0 : required_number("LOCAL_RANK", 0, 65535);
  w.master_addr = env("MASTER_ADDR");
  if (w.master_addr.empty()) (void)required_number("MASTER_ADDR", 0, 0);  // throws the missing-variable error
  w.master_port = required_number("MASTER_PORT", 1, 65535);
  return w;
}

// The collectives cwd-bench uses, over one c10d process group type.
class ProcessGroup::Backend {
 public:
  virtual ~Backend() = default;
  /// Sums each bucket over the ranks: every all-reduce is started before the first is waited for.
  virtual void all_reduce(std::vector<std::vector<torch::Tensor>>& buckets) = 0;
  virtual void broadcast(std::vector<std::vector<torch::Tensor>>& buckets, int root) = 0;
};

namespace {

template <class Group>
class GroupBackend : public ProcessGroup::Backend {
 public:
  explicit GroupBackend(c10::intrusive_ptr<Group> group) : group_(std::move(group)) {}

  void all_reduce(std::vector<std::vector<torch::Tensor>>& buckets) override {
    std::vector<decltype(group_->allreduce(buckets.front()))> work;
    for (auto& b : buckets) work.push_back(group_->allreduce(b));
    for (auto& w : work) w->wait();
  }

  void broadcast(std::vector<std::vector<torch::Tensor>>& buckets, int root) override {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    std::vector<decltype(group_->broadcast(buckets.front(), options))> work;
    for (auto& b : buckets) work.push_back(group_->broadcast(b, options));
    for (auto& w : work) w->wait();
  }

 private:
  c10::intrusive_ptr<Group> group_;
};

bool is_loopback(const std::string& host) { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

// Tensors packed into flat buckets of one dtype and device, up to `bytes` each (a tensor larger
// than that is a bucket of its own).
struct Packing {
  std::vector<std::vector<torch::Tensor>> members;  // the tensors of each bucket
  std::vector<std::vector<torch::Tensor>> flat;     // one flat tensor per bucket (a c10d input)
};

Packing pack(const std::vector<torch::Tensor>& tensors, int64_t bytes) {
  Packing p;
  std::map<std::pair<int, std::string>, size_t> open;  // (dtype, device) → bucket being filled
  std::vector<int64_t> filled;
  for (const auto& t : tensors) {
    const auto kind = std::make_pair(static_cast<int>(t.scalar_type()), t.device().str());
    auto it = open.find(kind);
    const int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
    if (it == open.end() || filled[it->second] + size > bytes) {
      p.members.emplace_back();
      filled.push_back(0);
      it = open.insert_or_assign(kind, p.members.size() - 1).first;
    }
    p.members[it->second].push_back(t);
    filled[it->second] += size;
  }
  for (const auto& m : p.members) {
    std::vector<torch::Tensor> views;
    for (const auto& t : m) views.push_back(t.reshape({-1}));
    p.flat.push_back({torch::cat(views)});
  }
  return p;
}

// Copies each bucket's flat values back into its tensors (scaled by `scale` unless 1).
void unpack(Packing& p, double scale) {
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < p.members.size(); ++b) {
    torch::Tensor flat = p.flat[b].front();
    if (scale != 1.0) flat.mul_(scale);
    int64_t offset = 0;
    for (auto& t : p.members[b]) {
      t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
      offset += t.numel();
    }
  }
}

}  // namespace

std::string distributed_unavailable(const torch::Device& device) {
#if defined(USE_C10D_NCCL)
  if (device.is_cuda()) return "";
#endif
#if defined(USE_C10D_GLOO)
  (void)device;
  return "";
#else
  return fmt::format("this cwd-bench was built without Gloo{} (install libgloo-dev and rebuild)",
                     device.is_cuda() ? " or NCCL" : "");
#endif
}

ProcessGroup::ProcessGroup(World world, std::string backend, std::unique_ptr<Backend> impl, torch::Device device)
    : world_(std::move(world)), backend_(std::move(backend)), impl_(std::move(impl)), device_(device) {}

ProcessGroup::~ProcessGroup() = default;

std::shared_ptr<ProcessGroup> ProcessGroup::join(const World& world, const torch::Device& device,
                                                 std::chrono::seconds timeout) {
  const std::string why = distributed_unavailable(device);
  if (!why.empty()) throw Error(fmt::format("cannot train on {} processes: {}", world.size, why));
  const std::string where = fmt::format("{}:{}", world.master_addr, world.master_port);
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(world.master_port);
    options.isServer = world.rank == 0;
    options.numWorkers = static_cast<std::size_t>(world.size);
    options.waitWorkers = true;
    options.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(world.master_addr, options);
    std::unique_ptr<Backend> impl;
    std::string name;
#if defined(USE_C10D_NCCL)
    if (device.is_cuda()) {
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = timeout;
      impl = std::make_unique<GroupBackend<c10d::ProcessGroupNCCL>>(
          c10::make_intrusive<c10d::ProcessGroupNCCL>(store, world.rank, world.size, nccl_options));
      name = "nccl";
    }
#endif
#if defined(USE_C10D_GLOO)
    if (!impl) {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
      const std::string ifname = std::getenv("GLOO_SOCKET_IFNAME") ? std::getenv("GLOO_SOCKET_IFNAME") : "";
      if (!ifname.empty()) {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (is_loopback(world.master_addr)) {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      impl = std::make_unique<GroupBackend<c10d::ProcessGroupGloo>>(
          c10::make_intrusive<c10d::ProcessGroupGloo>(store, world.rank, world.size, gloo_options));
      name = "gloo";
    }
#endif
    return std::shared_ptr<ProcessGroup>(new ProcessGroup(world, name, std::move(impl), device));
  } catch (const c10::Error& e) {
    throw Error(fmt::format("rank {} of {} could not join the process group at {}: {}; check MASTER_ADDR and "
                            "MASTER_PORT and that all {} processes start",
                            world.rank, world.size, where, first_line(e.what_without_backtrace()), world.size));
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {} of {} could not join the process group at {}: {}; check MASTER_ADDR and "
                            "MASTER_PORT and that all {} processes start",
                            world.rank, world.size, where, first_line(e.what()), world.size));
  }
}

void ProcessGroup::sum(torch::Tensor& t) {
  torch::NoGradGuard no_grad;
  std::vector<std::vector<torch::Tensor>> one{{t.is_contiguous() ? t : t.contiguous()}};
  impl_->all_reduce(one);
  if (!one.front().front().is_same(t)) t.copy_(one.front().front());
}

void ProcessGroup::broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  if (tensors.empty()) return;
  torch::NoGradGuard no_grad;
  Packing p = pack(tensors, 25 << 20);
  impl_->broadcast(p.flat, root);
  unpack(p, 1.0);
}

void ProcessGroup::average_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return;
  torch::NoGradGuard no_grad;
  Packing p = pack(grads, bucket_bytes);
  impl_->all_reduce(p.flat);
  unpack(p, 1.0 / world_.size);
}

int64_t ProcessGroup::broadcast_value(int64_t value, int root) {
  torch::Tensor t = torch::full({1}, value, torch::TensorOptions().dtype(torch::kInt64).device(device_));
  std::vector<std::vector<torch::Tensor>> one{{t}};
  impl_->broadcast(one, root);
  return one.front().front().item<int64_t>();
}

bool ProcessGroup::any(bool flag) {
  torch::Tensor t = torch::full({1}, flag ? 1.0 : 0.0, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  sum(t);
  return t.item<double>() > 0;
}

std::vector<double> ProcessGroup::mean(const std::vector<double>& values) {
  if (values.empty()) return {};
  torch::Tensor t = torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat64)).to(device_);
  sum(t);
  t = t.cpu();
  std::vector<double> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = t[static_cast<int64_t>(i)].item<double>() / world_.size;
  return out;
}

}  // namespace cwd::train
