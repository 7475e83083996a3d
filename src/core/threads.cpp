#include "src/core/threads.h"

#include "src/core/error.h"

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
  throw Error("unknown device '" + name + "' (valid: auto, cpu, cuda)");
}

void sync_device(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

}  // namespace cwd
