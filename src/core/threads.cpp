#include "src/core/threads.h"

#include "src/core/error.h"

#include <fmt/format.h>

#include <thread>

namespace cwd {

int set_threads(int threads) {
  if (threads < 0) throw Error("--threads must be >= 0 (0 = all cores), got " + std::to_string(threads));
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  return threads;
}

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available()) {
      throw Error(
          "--device cuda: CUDA is not available (this libtorch build or machine has no GPU); "
          "use --device cpu, or build against a CUDA libtorch via CMAKE_PREFIX_PATH");
    }
    return torch::kCUDA;
  }
  if (name == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  // "cuda:N": one GPU of several (each process of a multi-GPU run takes its LOCAL_RANK's).
  if (name.rfind("cuda:", 0) == 0 && name.size() > 5 && name.size() < 9 &&
      name.find_first_not_of("0123456789", 5) == std::string::npos) {
    const int index = std::stoi(name.substr(5));
    const int count = static_cast<int>(torch::cuda::device_count());
    if (count == 0) return resolve_device("cuda");  // says that CUDA is not available
    if (index >= count) {
      throw Error(fmt::format("--device {}: this machine has {} CUDA device{}; use cuda:0..cuda:{}", name, count,
                              count == 1 ? "" : "s", count - 1));
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error("unknown device '" + name + "' (valid: auto, cpu, cuda, cuda:N)");
}

void sync_device(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

}  // namespace cwd
